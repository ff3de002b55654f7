"""Section 4, the attention steps: the MLP only sees "Michael Jordan" at the
position of "Jordan" because an attention head copied "Michael" there; and
the prompt's last word only knows the sport because a second head copies
the vector at "Jordan", fact included, on to it. Turn either head down and
the fact is stored but unreachable.

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
    GOOD,
    MODEL_KEYS,
    QUIET,
    LiveText,
    Section,
    bokeh,
    esc,
    fig,
    legend_style,
    model_for,
    num,
    side_by_side,
    slider,
    strong,
    update,
)
from app.state import AppState

STRENGTHS = np.linspace(0.0, 2.0, 81)
PROBES = [("Michael", "Jordan"), ("Alexis", "Jordan"), ("Michael", "Phelps")]
COLORS = [FIRE, ACCENT, QUIET]
PROMPT = "Michael Jordan plays the sport of"
STAGES = ("embedding", "after attention", "after the MLP", "at “of”")
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
    """The vector at "Jordan" (the name's end, `run.subject`) read along
    Michael, Jordan and basketball at three stages of one forward pass of
    PROMPT, then the vector at its last word "of" after the second head."""
    e = model.embedding
    D = e.matrix(list(DIRS))
    out: dict[str, list] = {"cell": [], "value": [], "color": []}
    at = run.subject
    for stage, (key, pos), color in zip(
            STAGES, (("resid_pre", at), ("resid_mid", at), ("resid_post", at),
                     ("resid_final", -1)), (QUIET, ACCENT, FIRE, GOOD), strict=True):
        vals = D @ run.cache[key][pos]
        for d, v in zip(DIRS, vals, strict=True):
            out["cell"].append((d, stage))
            out["value"].append(float(v))
            out["color"].append(color)
    return out


class AttentionSection(Section):
    """Two strength sliders, the neuron against strength, and the vector at
    four stages of the prompt's forward pass."""

    key = "attention"
    depends_on = MODEL_KEYS

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        self.strength = slider(state, "attn",
                               "First head: how much of Michael is copied onto Jordan",
                               foreseen=True)
        self.move = slider(
            state, "move",
            "Second head: how much of the vector at Jordan reaches the words after it",
            foreseen=True)
        self.answer = LiveText(state, "wfl-attention-answer")
        self.stages = ColumnDataSource({"cell": [], "value": [], "color": []})

        c = fig(state, height=330, x_range=(0, 2), y_range=(-0.3, 2.2),
                title="The Michael Jordan neuron vs strength",
                x_axis_label="first head's strength", y_axis_label="activation")
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
                title="“Michael Jordan plays the sport of”: the vector at “Jordan” "
                      "by stage, then at “of”",
                y_axis_label="dot product")
        g.vbar(x="cell", top="value", width=0.85, color="color", source=self.stages)
        g.xaxis.major_label_orientation = 0.9
        g.xgrid.grid_line_color = None
        self.stage_fig = g

        w = self.guard
        self.strength.param.watch(w(lambda e: setattr(state, "attn", float(e.new))), "value")
        self.move.param.watch(w(lambda e: setattr(state, "move", float(e.new))), "value")
        state.param.watch(w(self._sync), ["attn", "move"])
        self.watch_refresh()
        self._refresh()

    def _sync(self, *_events) -> None:
        self.strength.value = self.state.attn
        self.move.value = self.state.move

    def _refresh(self, *_events) -> None:
        model = model_for(self.state)
        # The curves span every strength, so moving the strength slider leaves
        # them as they are; only the marker and the bars move.
        curves = neuron_curves(model)
        for i in range(len(PROBES)):
            update(getattr(self, f"_line{i}"), {"x": curves["xs"][i], "y": curves["ys"][i]})
        self.marker.location = self.state.attn
        run = model.run(PROMPT)
        update(self.stages, stage_data(run, model))
        self.answer.html = answer_html(model, run, curves)
        self.say()

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "An MLP works on each position alone. The only reason the vector at “Jordan” "
            "also says “Michael” is that an attention head earlier copied it there. And "
            "the MLP writes basketball at “Jordan”, but a model reads its guess for the next "
            "word at the prompt's last word: a later attention head carries the vector at "
            "“Jordan” on to the words after it. Turn either head down and the fact is still "
            "stored, but the prompt's last word no longer gets it."
        )
        return self.layout(prose, [self.strength, self.move], [
            self.answer,
            side_by_side(bokeh(self.curve_fig), bokeh(self.stage_fig))])


def answer_html(model: tc.ToyModel, run: tc.Run, curves: dict[str, list]) -> str:
    """What the two heads do to PROMPT at the current strengths, every number
    read from the run and the curves the charts show."""
    cfg = model.cfg
    j = model.facts.index("Michael Jordan")
    post = float(run.cache["mlp.hook_post"][run.subject][j])
    zero = curves["ys"][0][0]
    scores = run.cache["mlp_final_sports"]
    ties = [s for s, v in zip(model.sports, scores, strict=True)
            if s != run.answer and v >= run.answer_score - 0.005] if run.answer else []
    said = (strong(run.answer) + (f", tied with {esc(', '.join(ties))}" if ties else "")
            if run.answer else f"{strong('nothing')} (the model doesn't know)")
    first = (
        f"<p>At first-head strength {num(cfg.attn_strength)} the Michael Jordan neuron gives "
        f"{strong(num(post))} at “Jordan”; with the head switched off (strength 0) the MLP "
        f"sees only Jordan and the neuron gives {num(zero)}.")
    # Michael Phelps: its input at "Phelps" is Phelps + strength x Michael, so
    # this neuron's row reads a pre-activation that grows with the strength.
    e, row, b = model.embedding, model.mlp.W_up[j], float(model.mlp.b_up[j])
    on_michael, on_phelps = float(row @ e.vec("Michael")), float(row @ e.vec("Phelps"))
    leak = ""
    if on_michael > 1e-9:
        cross = -(on_phelps + b) / on_michael
        if 0 < cross < STRENGTHS[-1]:
            leak = (
                f" Past strength {num(cross)} its pre-activation for Michael Phelps crosses "
                f"zero too: at “Phelps” the input is Phelps + strength × Michael, which its row "
                f"reads as {num(on_phelps)} + strength × {num(on_michael)}, while the bias "
                f"{num(b)} stays fixed. The threshold is a fixed number, so the bigger the copy "
                "of Michael, the more of a half match gets past it.")
    score = float(scores[model.sports.index("basketball")])
    second = (
        f"</p><p>At second-head strength {num(cfg.move_strength)}, “of”, the last word of "
        f"“{PROMPT}”, gets {strong(num(score))} along basketball from what the MLP wrote, and "
        f"the model answers {said}.")
    if cfg.move_strength == 0:
        second += " With the second head off, the fact stays at “Jordan”, where it was written."
    return first + leak + second + "</p>"
