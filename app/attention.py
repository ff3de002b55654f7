"""Section 4, the attention step: the MLP only sees "Michael Jordan" at the
position of "Jordan" because an attention head copied "Michael" there.
Turn that head down and the AND gate has only half its input.

The curves over the strength are straight lines (the MLP's input is
last + strength · first, and the neuron's pre-activation is linear in it),
so they are computed from two dot products, not from a pass per point.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, Span

import toycore as tc
from app.common import (
    ACCENT,
    BAD,
    FIRE,
    QUIET,
    LiveText,
    Section,
    bokeh,
    fig,
    legend_style,
    model_for,
    num,
    side_by_side,
    strong,
    update,
)
from app.state import AppState

STRENGTHS = np.linspace(0.0, 2.0, 81)
PROBES = [("Michael", "Jordan"), ("Alexis", "Jordan"), ("Michael", "Phelps")]
COLORS = [FIRE, ACCENT, QUIET]
STAGES = ("embedding", "after attention", "after the MLP")
DIRS = ("Michael", "Jordan", "basketball")


def neuron_curves(model: tc.ToyModel) -> dict[str, list]:
    """Activation of the Michael Jordan neuron at the last name, for each probe,
    as the head's strength goes from 0 to 2."""
    e, mlp = model.embedding, model.mlp
    j = model.facts.index("Michael Jordan")
    act = tc.model.ACTIVATION_FNS[model.cfg.activation]
    row, b = mlp.W_up[j], float(mlp.b_up[j])
    out: dict[str, list] = {"xs": [], "ys": [], "color": [], "name": []}
    for (first, last), color in zip(PROBES, COLORS, strict=True):
        pre = row @ e.vec(last) + STRENGTHS * (row @ e.vec(first)) + b
        out["xs"].append(STRENGTHS.tolist())
        out["ys"].append(act(pre).tolist())
        out["color"].append(color)
        out["name"].append(f"{first} {last}")
    return out


def stage_data(run: tc.Run, model: tc.ToyModel) -> dict[str, list]:
    """The vector at the last position, read along Michael, Jordan and
    basketball, at three stages of one forward pass."""
    e = model.embedding
    D = e.matrix(list(DIRS))
    out: dict[str, list] = {"cell": [], "value": [], "color": []}
    for stage, key, color in zip(STAGES, ("resid_pre", "resid_mid", "resid_post"),
                                 (QUIET, ACCENT, FIRE), strict=True):
        vals = D @ run.cache[key][-1]
        for d, v in zip(DIRS, vals, strict=True):
            out["cell"].append((d, stage))
            out["value"].append(float(v))
            out["color"].append(color)
    return out


class AttentionSection(Section):
    """A strength slider, the neuron against strength, and the three stages."""

    title = "4. The attention step"
    key = "attention"

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        self.strength = pn.widgets.FloatSlider(
            label="Attention strength (how much of Michael is copied onto Jordan)",
            start=0, end=2, step=0.05, value=state.attn, sizing_mode="stretch_width")
        self.answer = LiveText(state, "wfl-attention-answer")
        self.stages = ColumnDataSource({"cell": [], "value": [], "color": []})

        c = fig(state, height=330, x_range=(0, 2), y_range=(-0.3, 2.2),
                title="The Michael Jordan neuron vs strength",
                x_axis_label="attention strength", y_axis_label="activation")
        for i, (first, last) in enumerate(PROBES):
            # One line glyph per probe keeps a legend entry per name.
            src = ColumnDataSource({"x": [], "y": []})
            c.line("x", "y", source=src, color=COLORS[i], line_width=4 if i == 0 else 3,
                   legend_label=f"{first} {last}")
            setattr(self, f"_line{i}", src)
        self.marker = Span(location=state.attn, dimension="height", line_color=BAD,
                           line_width=2, line_dash="dashed")
        c.add_layout(self.marker)
        c.legend.location = "top_left"
        legend_style(c, state)
        self.curve_fig = c

        cells = [(d, s) for d in DIRS for s in STAGES]
        g = fig(state, height=330, x_range=FactorRange(*cells), y_range=(-0.3, 2.3),
                title="The vector at “Jordan”, read along three directions",
                y_axis_label="dot product")
        g.vbar(x="cell", top="value", width=0.85, color="color", source=self.stages)
        g.xaxis.major_label_orientation = 0.9
        g.xgrid.grid_line_color = None
        self.stage_fig = g

        w = self.guard
        self.strength.param.watch(w(lambda e: setattr(state, "attn", float(e.new))), "value")
        state.param.watch(w(self._sync), ["attn"])
        self.watch_refresh([
            "attn", "activation", "angle_mj", "angle_jp", "angle_ma", "neuron", "row_first",
            "row_last", "row_other", "bias", "col_own", "col_alt", "alt_sport"])
        self._refresh()

    def _sync(self, *_events) -> None:
        self.strength.value = self.state.attn

    def _refresh(self, *_events) -> None:
        model = model_for(self.state)
        # The curves span every strength, so moving the strength slider leaves
        # them as they are; only the marker and the bars move.
        curves = neuron_curves(model)
        for i in range(len(PROBES)):
            update(getattr(self, f"_line{i}"), {"x": curves["xs"][i], "y": curves["ys"][i]})
        self.marker.location = self.state.attn
        run = model.run("Michael Jordan")
        update(self.stages, stage_data(run, model))
        j = model.facts.index("Michael Jordan")
        post = float(run.cache["mlp.hook_post"][-1][j])
        zero = curves["ys"][0][0]
        said = strong(run.answer) if run.answer else f"{strong('nothing')} (the model doesn't know)"
        self.answer.html = (
            f"<p>At strength {num(self.state.attn)} the Michael Jordan neuron gives "
            f"{strong(num(post))} and the model answers {said}. With the head switched off "
            f"(strength 0) the MLP sees only Jordan and the neuron gives {num(zero)}.</p>"
        )
        self.say()

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "An MLP works on each position alone. The only reason the vector at “Jordan” "
            "also says “Michael” is that an attention head earlier copied it there. Turn "
            "the head down and the Michael Jordan neuron no longer sees both names, so "
            "the fact stays stored but unreachable."
        )
        return self.layout(prose, [self.strength], [
            self.answer,
            side_by_side(bokeh(self.curve_fig), bokeh(self.stage_fig))])
