"""The explorable's entry point: state from the URL, then each section.

`build_app(query)` is called by `panel serve app/serve.py` during development,
by build/site.py to prerender the static page, and by the browser worker.
"""

from __future__ import annotations

import panel as pn

import toycore as tc
from app.recall import RecallSection
from app.state import AppState, from_query


def build_app(query: str = "") -> pn.viewable.Viewable:
    """The whole page below the header, with state restored from `query`."""
    values, warnings = from_query(query or "")
    state = AppState(**values)
    model = tc.ToyModel.default(tc.Config(activation=state.activation))
    recall = RecallSection(state, model)
    notes = pn.pane.Alert(
        "\n".join(f"- {w}" for w in warnings), alert_type="warning",
        visible=bool(warnings), sizing_mode="stretch_width",
    )
    return pn.Column(notes, recall.panel(), sizing_mode="stretch_width")
