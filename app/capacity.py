"""Section 5, more facts than neurons: train a small MLP in the page and
watch recall and interference as facts outnumber neurons.

Before any training the figures show the untrained network (step 0): the
random weights' recall and what they write, so the charts are never blank.

Training runs in small batches of steps from a periodic callback, so the
page stays responsive and the Stop button works between batches. Nothing
trains until the reader presses Train.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, Label, LinearColorMapper, Node

import toycore as tc
from app.common import (
    ACCENT,
    FIRE,
    NOT_FORESEEN,
    QUIET,
    WRAP,
    LiveText,
    Loop,
    Section,
    bokeh,
    fig,
    legend_style,
    model_for,
    num,
    page_bg,
    side_by_side,
    strong,
    text_color,
)
from app.state import AppState
from toycore.learn import Trainer

STEPS_PER_TICK = 10
TICK_BUDGET_S = 0.05  # a tick stops stepping after this long, so clicks get through
MAX_STEPS = 800
PERIOD_MS = 60
HEAT = ("#f8fafc", "#fde68a", "#fb923c", "#c2410c", "#7c2d12")
# The heatmap's height: its slanted sport names, then a row per fact at the
# height of its label's type (at a fixed 420 px, 23 facts in presenter type
# and 60 in any type overlapped their names).
HEAT_AXIS_PX = {False: 140, True: 190}
HEAT_ROW_PX = {False: 16, True: 22}


def heat_height(facts: int, presenter: bool) -> int:
    """The heatmap's height (px) for this many facts."""
    return HEAT_AXIS_PX[presenter] + HEAT_ROW_PX[presenter] * max(facts, 10)


def trained_model(state: AppState) -> tc.ToyModel:
    """The MLP section 5 trains for the state's settings, trained to the end
    (cached: sections 6 and 9 ask for the same model)."""
    return _trained(state.cap_facts, state.cap_neurons, state.activation, state.attn,
                    tuple(getattr(state, k) for k in ("angle_mj", "angle_jp", "angle_ma")))


@functools.lru_cache(maxsize=4)
def _trained(facts: int, neurons: int, activation: str, attn: float,
             angles: tuple) -> tc.ToyModel:
    state = AppState(cap_facts=facts, cap_neurons=neurons, activation=activation, attn=attn,
                     **dict(zip(("angle_mj", "angle_jp", "angle_ma"), angles, strict=True)))
    trainer = Trainer(fact_table(facts), model_for(state).embedding, d_mlp=neurons, seed=0,
                      lr=0.02, activation=activation, attn_strength=attn)
    trainer.step(MAX_STEPS)
    return trainer.model()


def fact_table(n: int) -> tc.FactTable:
    """The first n default facts; past the 23 real ones, made-up athletes
    (one word per name, sports cycling through the known ones)."""
    base = list(tc.default_facts())
    sports = list(dict.fromkeys(f.sport for f in base))
    extra = [tc.Fact(f"Player{i}", f"Surname{i}", sports[i % len(sports)])
             for i in range(max(0, n - len(base)))]
    return tc.FactTable((base + extra)[:n])


class CapacitySection(Section):
    """Fact and neuron sliders, Train/Stop, learning curves, interference."""

    title = "5. More facts than neurons"
    key = "capacity"

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        # A step starts a fresh trainer: not foreseen (see NOT_FORESEEN).
        self.n_facts = pn.widgets.IntSlider(label="Facts to store", start=2, end=60,
                                            value=state.cap_facts, sizing_mode="stretch_width",
                                            css_classes=[NOT_FORESEEN])
        self.n_neurons = pn.widgets.IntSlider(label="Neurons", start=1, end=64,
                                              value=state.cap_neurons,
                                              sizing_mode="stretch_width",
                                              css_classes=[NOT_FORESEEN])
        self.train = pn.widgets.Button(label="Train", color="primary", width=120)
        self.stop = pn.widgets.Button(label="Stop", color="default", width=120,
                                      disabled=True)
        self.status = LiveText(state, "wfl-capacity-status")
        self.trainer: Trainer | None = None
        self.loop = Loop(self.train, self.stop, self._step, PERIOD_MS, self.say, "Training")
        self.history = ColumnDataSource({"step": [], "accuracy": [], "false_alarms": []})
        self.heat = ColumnDataSource({"fact": [], "sport": [], "value": []})

        c = fig(state, height=300, x_range=(0, MAX_STEPS), y_range=(0, 1.02),
                title="Recall while training", x_axis_label="Adam step",
                y_axis_label="share")
        c.line("step", "accuracy", source=self.history, color=FIRE, line_width=3,
               legend_label="facts recalled")
        c.line("step", "false_alarms", source=self.history, color=ACCENT, line_width=3,
               line_dash="dashed", legend_label="non-facts given a sport")
        # Dots as well as lines: at step 0 there is one point, and a line
        # through one point draws nothing.
        c.scatter("step", "accuracy", source=self.history, color=FIRE, size=7)
        c.scatter("step", "false_alarms", source=self.history, color=ACCENT, size=7)
        c.legend.location = "center_right"
        legend_style(c, state)
        self.curve_fig = c

        self.heat_mapper = LinearColorMapper(palette=HEAT, low=0.0, high=1.0)
        # No height here: _draw gives it (heat_height) with the facts' rows.
        h = fig(state, title="What each fact gets written, by sport",
                x_range=FactorRange(*self._sports()), y_range=FactorRange(factors=[]))
        h.rect("sport", "fact", 1, 1, source=self.heat, line_color=text_color(state),
               line_alpha=0.1, fill_color={"field": "value", "transform": self.heat_mapper})
        h.xaxis.major_label_orientation = 0.9
        h.grid.grid_line_color = None
        # Untrained, the random weights write almost nothing: say so in the
        # picture, or it reads as an empty chart.
        self.untrained = Label(
            x=Node(target="frame", symbol="left", offset=8),
            y=Node(target="frame", symbol="top", offset=8), anchor="top_left",
            # Short lines: the box fits the plot area beside the fact names
            # on a phone and at presenter size on a 1024 px projector.
            text="Untrained (step 0):\nrandom weights write\nalmost nothing.\nPress Train.",
            text_color=text_color(state), text_font_size="14pt" if state.presenter else "10pt",
            background_fill_color=page_bg(state), background_fill_alpha=0.9, padding=6,
            border_line_color=QUIET)
        h.add_layout(self.untrained)
        self.heat_fig = h

        w = self.guard
        self.n_facts.param.watch(w(lambda e: setattr(state, "cap_facts", int(e.new))), "value")
        self.n_neurons.param.watch(w(lambda e: setattr(state, "cap_neurons", int(e.new))),
                                   "value")
        self.train.on_click(w(self._on_train))
        self.stop.on_click(w(self._on_stop))
        # Everything the training problem depends on: the sizes, the
        # nonlinearity, the head, and the (possibly tilted) name directions.
        state.param.watch(w(self._reset), ["cap_facts", "cap_neurons", "activation", "attn",
                                           "angle_mj", "angle_jp", "angle_ma"])
        state.param.watch(w(self._sync), ["cap_facts", "cap_neurons"])
        self._reset()

    def _sports(self) -> list[str]:
        return list(dict.fromkeys(f.sport for f in tc.default_facts()))

    def _sync(self, *_events) -> None:
        self.n_facts.value = self.state.cap_facts
        self.n_neurons.value = self.state.cap_neurons

    def _describe(self) -> None:
        s = self.state
        self.status.html = (
            f"<p>{s.cap_facts} facts, {s.cap_neurons} neurons, untrained (random weights: "
            f"step 0 below). Press {strong('Train')} to learn them (up to {MAX_STEPS} steps "
            "of Adam).</p>"
        )

    def _reset(self, *_events) -> None:
        """New sizes: drop the old run (it learned another problem) and show
        the new network untrained, at step 0."""
        self._on_stop()
        self.trainer = self.make_trainer()
        self.history.data = {"step": [], "accuracy": [], "false_alarms": []}
        self._draw(self.trainer.metrics())
        self._describe()

    def make_trainer(self) -> Trainer:
        s = self.state
        model = model_for(s)
        return Trainer(fact_table(s.cap_facts), model.embedding, d_mlp=s.cap_neurons, seed=0,
                       lr=0.02, activation=s.activation, attn_strength=s.attn)

    def train_steps(self, n: int = STEPS_PER_TICK, budget: float = math.inf) -> dict[str, float]:
        """Up to n steps (fewer if `budget` seconds run out), then one redraw:
        what each timer tick does."""
        if self.trainer is None:
            self.trainer = self.make_trainer()
        t = self.trainer
        start = time.perf_counter()
        m = t.step(1)
        for _ in range(n - 1):
            if time.perf_counter() - start > budget or t.steps >= MAX_STEPS:
                break
            m = t.step(1)
        self._draw(m)
        s = self.state
        self.status.html = (
            f"<p>Step {int(m['step'])}: {strong(num(100 * m['accuracy'], 0) + '%')} of "
            f"{len(t.facts)} facts recalled with {s.cap_neurons} neurons; "
            f"{num(100 * m['false_alarms'], 0)}% of non-facts get a sport; largest leak onto "
            f"a wrong sport {num(m['interference'])}.</p>"
        )
        return m

    def _draw(self, m: dict[str, float]) -> None:
        """Add the metrics `m` to the curves and redraw the heatmap from the
        trainer's current weights."""
        t = self.trainer
        self.history.stream({"step": [m["step"]], "accuracy": [m["accuracy"]],
                             "false_alarms": [m["false_alarms"]]})
        self.untrained.visible = t.steps == 0
        r = t.interference()
        facts = [f.name for f in t.facts]
        sports = t.sports
        factors = list(reversed(facts))
        if list(self.heat_fig.y_range.factors) != factors:
            self.heat_fig.y_range.factors = factors
            self.heat_fig.height = heat_height(len(facts), self.state.presenter)
        self.heat.data = {
            "fact": [f for f in facts for _ in sports],
            "sport": [sp for _ in facts for sp in sports],
            "value": np.clip(r, 0, None).ravel().tolist(),
        }

    def _step(self) -> bool:
        return self.train_steps(STEPS_PER_TICK, TICK_BUDGET_S)["step"] >= MAX_STEPS

    def _on_train(self, _event=None) -> None:
        self.say()
        if self.trainer is None or self.trainer.steps >= MAX_STEPS:
            self._reset()
        self.loop.start()

    def _on_stop(self, _event=None) -> None:
        self.loop.stop()

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "Compiled by hand, the MLP spends one neuron per fact. Training finds its own "
            "solution. Give it fewer neurons than facts and it has to share: with nearly "
            "perpendicular directions it can still store more facts than neurons, at the "
            "price of leaks between them (off-diagonal colour below)."
        )
        controls = [pn.Row(self.n_facts, self.n_neurons, sizing_mode="stretch_width"),
                    pn.Row(self.train, self.stop, styles=WRAP)]
        return self.layout(prose, controls, [
            self.status,
            side_by_side(bokeh(self.curve_fig), bokeh(self.heat_fig))])
