"""The explorable's entry point: state from the URL, then each section.

`build_app(query)` is called by `panel serve app/serve.py` during development,
by build/site.py to prerender the static page, and by the browser worker.
Sections not listed in `show=` are never built, so an embed of one figure
boots as fast as the page allows.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable

import panel as pn
import param

from app.common import (
    Section,
    after_redraw,
    presenter_controls,
    prose_css,
    wrap_controls,
)
from app.state import SECTIONS, AppState, from_query, section_entry, state_keys, to_query

# The build's prerender and the browser worker both number the page's Bokeh
# models from here (past anything created at import time), so the same state
# yields the same document (numbers aside) and the page can keep its snapshot.
first_model_id = 100_000


def doc_fingerprint(doc: object) -> str:
    """A digest of which models a Bokeh document holds: id and type of each.

    The build records it for the prerendered page; the worker compares its
    own document against it. Equal digests for the same link mean the page
    can keep its snapshot without the worker serialising the whole document
    (about half a second in the browser) just to compare it."""
    digest = hashlib.sha1()
    for model in sorted(doc.models, key=lambda m: m.id):  # type: ignore[attr-defined]
        digest.update(f"{model.id}:{model.__qualified_model__};".encode())
    return digest.hexdigest()


def section_class(key: str) -> Callable[[AppState], Section]:
    """The class that builds section `key`, imported now: a section not shown
    is never imported, so `show=recall` does not even import the others."""
    entry = section_entry(key)
    return getattr(importlib.import_module(entry.module), entry.cls)


def write_url(state: AppState) -> None:
    """Mirror the state into the address bar (the share button copies it)."""
    loc = pn.state.location
    if loc is not None:
        loc.search = to_query(state)


ON_SCREEN_PREFIX = "shown:"


def on_screen_input(sections: dict[str, Section]) -> pn.widgets.TextInput:
    """A hidden box the page writes which sections the reader can see into
    ("shown:recall,neuron", from an IntersectionObserver in
    build/web/page/fitting.js); sections off screen then redraw only when they
    come back into view. Without the page (`panel serve`), every section
    counts as on screen. Not part of the URL: it is where the reader
    scrolled, not what they set."""
    box = pn.widgets.TextInput(value="", visible=False, css_classes=["wfl-on-screen"])

    def seen(event: param.parameterized.Event) -> None:
        value = str(event.new or "")
        if not value.startswith(ON_SCREEN_PREFIX):
            return
        keys = set(value[len(ON_SCREEN_PREFIX):].split(","))
        for key, section in sections.items():
            section.set_on_screen(key in keys)

    box.param.watch(seen, "value")
    return box


def build_app(query: str = "") -> pn.viewable.Viewable:
    """The whole page below the header, with state restored from `query`."""
    values, warnings = from_query(query or "")
    state = AppState(**values)
    # Panel's own widgets and text follow its design theme; figures follow
    # app.common.fig. Set before any component exists.
    pn.config.theme = "dark" if state.theme == "dark" else "default"
    sections = []
    for key in SECTIONS:  # page order, whatever order the link listed them in
        if key not in state.show:
            continue
        try:
            sections.append(section_class(key)(state))
        except Exception as err:  # noqa: BLE001 - one broken section must not take the page
            warnings.append(f"Section '{key}' could not start: {str(err)[:160]}")
    notes = pn.pane.Alert(
        "\n".join(f"- {w}" for w in warnings), alert_type="warning",
        visible=bool(warnings), sizing_mode="stretch_width", css_classes=["wfl-link-notes"],
        stylesheets=prose_css(state),
    )
    # The address bar waits until the plots of a change are on their way
    # (app.common.after_redraw): in the browser it is a message of its own.
    state.param.watch(lambda *_: after_redraw(write_url, lambda: write_url(state)),
                      state_keys())
    on_screen = on_screen_input({s.key: s for s in sections})
    page = pn.Column(notes, on_screen, *[s.panel() for s in sections],
                     sizing_mode="stretch_width",
                     css_classes=["wfl-page", f"wfl-theme-{state.theme}"]
                     + (["wfl-presenter"] if state.presenter else []))
    wrap_controls(page)
    if state.presenter:
        presenter_controls(page)
    page.wfl_state = state  # for tests and the console: the one state object
    page.wfl_sections = {s.key: s for s in sections}
    return page
