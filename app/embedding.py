"""Section 3, embedding directions: tilt "Jordan" toward "Phelps" (or
"Michael" toward "Alexis") and watch a half match leak through the AND gate.

The angles live in AppState, so the same tilted embedding feeds every other
section through `model_for(state)`; this section shows the cosines and what
the Michael Jordan neuron does with them.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, LinearColorMapper

import toycore as tc
from app.common import (
    ACCENT,
    ANGLE_PAIRS,
    FIRE,
    MODEL_KEYS,
    LiveText,
    Section,
    bokeh,
    fig,
    model_for,
    num,
    side_by_side,
    slider,
    strong,
    text_color,
    update,
)
from app.state import AppState

NAMES = ["Michael", "Alexis", "Jordan", "Phelps", "basketball", "swimming"]
PROBES = [("Michael", "Jordan"), ("Michael", "Phelps"), ("Alexis", "Jordan"),
          ("Michael", "Schumacher")]
COS_PALETTE = ("#1d4ed8", "#60a5fa", "#bfdbfe", "#f8fafc", "#fed7aa", "#fb923c", "#c2410c")
PARTS = ("neuron fires", "basketball written")


def cosine_data(model: tc.ToyModel) -> dict[str, list]:
    """Every pair of the shown directions: their cosine (toycore's cosine_matrix)."""
    c = model.embedding.cosine_matrix(NAMES)
    out: dict[str, list] = {"x": [], "y": [], "cos": [], "text": []}
    for i, a in enumerate(NAMES):
        for k, b in enumerate(NAMES):
            out["x"].append(b)
            out["y"].append(a)
            out["cos"].append(float(c[i, k]))
            out["text"].append(num(float(c[i, k])))
    return out


def probe_label(first: str, last: str) -> str:
    """A probe name as the leak chart's group label: first and last name on
    two lines, so that each fits under its own two bars."""
    return f"{first}\n{last}"


def leak_data(model: tc.ToyModel) -> tuple[dict[str, list], np.ndarray, np.ndarray]:
    """For each probe name: the Michael Jordan neuron's activation and how much
    the whole MLP writes along basketball. One batched pass through the MLP."""
    e = model.embedding
    j = model.facts.index("Michael Jordan")
    X = np.array([e.vec(last) + model.cfg.attn_strength * e.vec(first) for first, last in PROBES])
    _, post, out = tc.mlp_forward(X, model.mlp, model.cfg.activation)
    neuron = post[:, j]
    written = out @ e.vec("basketball")
    data: dict[str, list] = {"cell": [], "value": [], "color": [], "label": []}
    for (first, last), n, w in zip(PROBES, neuron, written, strict=True):
        for part, v, color in ((PARTS[0], n, FIRE), (PARTS[1], w, ACCENT)):
            data["cell"].append((probe_label(first, last), part))
            data["value"].append(float(v))
            data["color"].append(color)
            data["label"].append(num(float(v)))
    return data, neuron, written


class EmbeddingSection(Section):
    """Angle sliders, a cosine heatmap and the AND gate's leak."""

    key = "embedding"
    depends_on = MODEL_KEYS

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        self.sliders = {}
        for key, a, b in ANGLE_PAIRS:
            self.sliders[key] = slider(state, key, f"Angle between {a} and {b} (degrees)",
                                       foreseen=True)
        self.reset = pn.widgets.Button(label="All perpendicular again", color="light")
        model = model_for(state)
        self.cos = ColumnDataSource(cosine_data(model))
        data, _, _ = leak_data(model)
        self.leak = ColumnDataSource(data)
        self.summary = LiveText(state, "wfl-embedding-summary")

        h = fig(state, height=380, x_range=FactorRange(*NAMES), y_range=FactorRange(
            *reversed(NAMES)), title="Cosine between directions")
        self.cos_mapper = LinearColorMapper(palette=COS_PALETTE, low=-1, high=1)
        h.rect("x", "y", 1, 1, source=self.cos, line_color=text_color(state), line_alpha=0.2,
               fill_color={"field": "cos", "transform": self.cos_mapper})
        h.text("x", "y", text="text", source=self.cos, text_align="center",
               text_baseline="middle", text_color="#0f172a",
               text_font_size="15pt" if state.presenter else "10pt")
        h.grid.grid_line_color = None
        h.xaxis.major_label_orientation = 0.7
        self.cos_fig = h

        cells = [(probe_label(a, b), p) for a, b in PROBES for p in PARTS]
        g = fig(state, height=380, x_range=FactorRange(*cells), y_range=(-0.5, 3.5),
                title="Michael Jordan neuron: the leak")
        g.vbar(x="cell", top="value", width=0.85, color="color", source=self.leak)
        values = g.text(x="cell", y="value", text="label", source=self.leak,
                        text_align="center", y_offset=-4, text_color=text_color(state),
                        text_font_size="13pt" if state.presenter else "9pt")
        # Left out while a bar is narrower than its number ("1.001.00" ran
        # together at presenter size on a 1024 px projector); the sentence
        # above the charts gives the same numbers.
        values.glyph.tags = ["wfl-fit-cells"]
        # Upright labels stay inside their group; slanted ones crossed the
        # separator into the next name's group.
        g.xaxis.major_label_orientation = "vertical"
        g.xaxis.group_label_orientation = 0.0
        g.xgrid.grid_line_color = None
        self.leak_fig = g

        w = self.guard
        for key, widget in self.sliders.items():
            widget.param.watch(w(lambda e, k=key: setattr(state, k, float(e.new))), "value")
        self.reset.on_click(w(lambda _e: state.param.update(
            **{k: 90.0 for k, _, _ in ANGLE_PAIRS})))
        keys = [k for k, _, _ in ANGLE_PAIRS]
        state.param.watch(w(self._sync), keys)
        self.watch_refresh()
        self._refresh()

    def _sync(self, *_events) -> None:
        for key, widget in self.sliders.items():
            widget.value = getattr(self.state, key)

    def _refresh(self, *_events) -> None:
        model = model_for(self.state)
        update(self.cos, cosine_data(model))  # changes only with the angles
        data, neuron, written = leak_data(model)
        update(self.leak, data)
        e = model.embedding
        c_jp = float(e.vec("Jordan") @ e.vec("Phelps"))
        c_ma = float(e.vec("Michael") @ e.vec("Alexis"))
        self.summary.html = (
            f"<p>cos(Jordan, Phelps) = {strong(num(c_jp))}, so the Michael Jordan neuron gives "
            f"Michael Phelps {strong(num(float(neuron[1])))} "
            f"(it writes {num(float(written[1]))} along basketball). "
            f"cos(Michael, Alexis) = {strong(num(c_ma))}: Alexis Jordan gets "
            f"{strong(num(float(neuron[2])))}. Michael Jordan himself: "
            f"{num(float(neuron[0]))}.</p>"
        )
        self.say()

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "The AND gate, as built, relies on the names being perpendicular: then a half "
            "match (Michael Phelps against the Michael + Jordan row) scores exactly 1 and "
            "the bias of −1 cancels it. Tilt Phelps toward Jordan and the half match scores "
            "1 + cos: the excess leaks through the gate, and the MLP writes a little "
            "basketball into Michael Phelps. Only the second name of each pair moves; the "
            "sentence below reads the neuron as it is now, section 2's sliders included."
        )
        controls = [*self.sliders.values(), self.reset]
        figures = [self.summary,
                   side_by_side(bokeh(self.cos_fig), bokeh(self.leak_fig))]
        return self.layout(prose, controls, figures)
