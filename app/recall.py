"""Section 1, recall a fact: type a name, see which neurons fire and the answer.

Figures are built once; every change replaces their ColumnDataSource data
and nothing else, so a keystroke costs one forward pass and one small patch.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange
from bokeh.plotting import figure

import toycore as tc
from app.state import AppState

FIRE = "#c2410c"
QUIET = "#cbd5e1"


def neuron_data(model: tc.ToyModel, run: tc.Run) -> dict[str, list]:
    """One bar per neuron: its activation at the last-name position."""
    labels = model.neuron_labels()
    if run.ok:
        post = run.cache["mlp.hook_post"][-1]
    else:
        post = np.zeros(len(labels))
    ids = [f"{j}: {lab}" for j, lab in enumerate(labels)]
    return {
        "neuron": ids,
        "activation": [float(v) for v in post],
        "color": [FIRE if v > 1e-6 else QUIET for v in post],
    }


def sport_data(model: tc.ToyModel, run: tc.Run) -> dict[str, list]:
    n = len(model.sports)
    probs = run.cache["sport_probs"] if run.ok else np.full(n, 1 / n)
    return {"sport": list(model.sports), "prob": [float(p) for p in probs]}


def answer_text(run: tc.Run) -> str:
    """The sentence under the name box; every value in it comes from the run."""
    if not run.ok:
        return f"**{run.error}**"
    who = " ".join(run.tokens)
    unknown = [t for t, u in zip(run.tokens, run.unknown, strict=True) if u]
    note = f" (the model has never seen {', '.join(unknown)})" if unknown else ""
    if run.answer is None:
        return f"{who}{note}: no neuron fires, so the MLP adds nothing. The model doesn't know."
    return f"{who}{note} → **{run.answer}**"


class RecallSection:
    """Widgets and figures for section 1, bound to the shared AppState."""

    def __init__(self, state: AppState, model: tc.ToyModel) -> None:
        self.state = state
        self.model = model
        names = [f.name for f in model.facts]
        self.name_input = pn.widgets.AutocompleteInput(
            name="Name", value=state.person, options=names, restrict=False,
            case_sensitive=False, search_strategy="includes", min_characters=1,
            placeholder="Type a name, e.g. Michael Jordan", sizing_mode="stretch_width",
        )
        self.answer = pn.pane.Markdown("", sizing_mode="stretch_width", css_classes=["wfl-answer"])
        run = model.run(state.person)
        self.neurons = ColumnDataSource(neuron_data(model, run))
        self.sports = ColumnDataSource(sport_data(model, run))
        self.answer.object = answer_text(run)

        ids = self.neurons.data["neuron"]
        fig = figure(
            y_range=FactorRange(*reversed(ids)), height=max(240, 16 * len(ids)),
            sizing_mode="stretch_width", title="Neuron activations at the last token",
            toolbar_location=None, x_axis_label="activation after the nonlinearity",
        )
        fig.hbar(y="neuron", right="activation", height=0.8, color="color", source=self.neurons)
        fig.ygrid.grid_line_color = None
        self.neuron_fig = fig

        sf = figure(
            x_range=FactorRange(*self.sports.data["sport"]), height=260,
            sizing_mode="stretch_width", title="Next-token guess (softmax over sports)",
            toolbar_location=None, y_range=(0, 1),
        )
        sf.vbar(x="sport", top="prob", width=0.8, source=self.sports, color=FIRE)
        sf.xaxis.major_label_orientation = 0.8
        self.sport_fig = sf

        self.name_input.param.watch(self._on_name, ["value", "value_input"])
        state.param.watch(self._refresh, ["person"])

    def _on_name(self, event) -> None:
        self.state.person = event.new or ""

    def _refresh(self, *_events) -> None:
        run = self.model.run(self.state.person)
        self.neurons.data = neuron_data(self.model, run)
        self.sports.data = sport_data(self.model, run)
        self.answer.object = answer_text(run)

    def panel(self) -> pn.viewable.Viewable:
        prose = pn.pane.Markdown(
            "### 1. Recall a fact\n"
            "Type a name. The attention step moves the first name into the last name's "
            "position; the MLP then checks every stored fact at once. A neuron fires only "
            "when both halves of its name are present, and what it writes points at a sport.",
            sizing_mode="stretch_width",
        )
        return pn.Column(
            prose, self.name_input, self.answer,
            pn.Row(pn.pane.Bokeh(self.neuron_fig, sizing_mode="stretch_width"),
                   pn.pane.Bokeh(self.sport_fig, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width", css_classes=["wfl-section"], name="recall",
        )
