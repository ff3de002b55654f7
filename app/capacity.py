"""Section 5, more facts than neurons: train a small MLP in the page and
watch recall and interference as facts outnumber neurons.

Training runs in small batches of steps from a periodic callback, so the
page stays responsive and the Stop button works between batches. Nothing
trains until the reader presses Train.
"""

from __future__ import annotations

import math
import time

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, LinearColorMapper

import toycore as tc
from app.common import ACCENT, FIRE, Section, bokeh, fig, legend_style, model_for, num, text_color
from app.state import AppState
from toycore.learn import Trainer

STEPS_PER_TICK = 10
TICK_BUDGET_S = 0.05  # a tick stops stepping after this long, so clicks get through
MAX_STEPS = 800
PERIOD_MS = 60
HEAT = ("#f8fafc", "#fde68a", "#fb923c", "#c2410c", "#7c2d12")


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
        self.n_facts = pn.widgets.IntSlider(label="Facts to store", start=2, end=60,
                                            value=state.cap_facts, sizing_mode="stretch_width")
        self.n_neurons = pn.widgets.IntSlider(label="Neurons", start=1, end=64,
                                              value=state.cap_neurons,
                                              sizing_mode="stretch_width")
        self.train = pn.widgets.Button(label="Train", button_type="primary", width=120)
        self.stop = pn.widgets.Button(label="Stop", button_type="default", width=120,
                                      disabled=True)
        self.status = pn.pane.Markdown("", sizing_mode="stretch_width",
                                       css_classes=["wfl-capacity-status"])
        self.trainer: Trainer | None = None
        self._cb = None
        self.history = ColumnDataSource({"step": [], "accuracy": [], "false_alarms": []})
        self.heat = ColumnDataSource({"fact": [], "sport": [], "value": []})

        c = fig(state, height=300, x_range=(0, MAX_STEPS), y_range=(0, 1.02),
                title="Recall while training", x_axis_label="Adam step",
                y_axis_label="share")
        c.line("step", "accuracy", source=self.history, color=FIRE, line_width=3,
               legend_label="facts recalled")
        c.line("step", "false_alarms", source=self.history, color=ACCENT, line_width=3,
               line_dash="dashed", legend_label="non-facts given a sport")
        c.legend.location = "center_right"
        legend_style(c, state)
        self.curve_fig = c

        self.heat_mapper = LinearColorMapper(palette=HEAT, low=0.0, high=1.0)
        h = fig(state, height=420, title="What the MLP writes for each fact, along each sport",
                x_range=FactorRange(*self._sports()), y_range=FactorRange(factors=[]))
        h.rect("sport", "fact", 1, 1, source=self.heat, line_color=text_color(state),
               line_alpha=0.1, fill_color={"field": "value", "transform": self.heat_mapper})
        h.xaxis.major_label_orientation = 0.9
        h.grid.grid_line_color = None
        self.heat_fig = h

        w = self.guard
        self.n_facts.param.watch(w(lambda e: setattr(state, "cap_facts", int(e.new))), "value")
        self.n_neurons.param.watch(w(lambda e: setattr(state, "cap_neurons", int(e.new))),
                                   "value")
        self.train.on_click(w(self._on_train))
        self.stop.on_click(w(self._on_stop))
        state.param.watch(w(self._reset), ["cap_facts", "cap_neurons", "activation", "attn"])
        state.param.watch(w(self._sync), ["cap_facts", "cap_neurons"])
        self._describe()

    def _sports(self) -> list[str]:
        return list(dict.fromkeys(f.sport for f in tc.default_facts()))

    def _sync(self, *_events) -> None:
        self.n_facts.value = self.state.cap_facts
        self.n_neurons.value = self.state.cap_neurons

    def _describe(self) -> None:
        s = self.state
        self.status.object = (
            f"{s.cap_facts} facts, {s.cap_neurons} neurons. Press **Train** to learn them "
            f"(up to {MAX_STEPS} steps of Adam)."
        )

    def _reset(self, *_events) -> None:
        """New sizes: drop the old run (it learned another problem)."""
        self._on_stop()
        self.trainer = None
        self.history.data = {"step": [], "accuracy": [], "false_alarms": []}
        self.heat.data = {"fact": [], "sport": [], "value": []}
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
        self.history.stream({"step": [m["step"]], "accuracy": [m["accuracy"]],
                             "false_alarms": [m["false_alarms"]]})
        r = t.interference()
        facts = [f.name for f in t.facts]
        sports = t.sports
        self.heat_fig.y_range.factors = list(reversed(facts))
        self.heat.data = {
            "fact": [f for f in facts for _ in sports],
            "sport": [sp for _ in facts for sp in sports],
            "value": np.clip(r, 0, None).ravel().tolist(),
        }
        s = self.state
        self.status.object = (
            f"Step {int(m['step'])}: **{num(100 * m['accuracy'], 0)}%** of {len(facts)} facts "
            f"recalled with {s.cap_neurons} neurons; {num(100 * m['false_alarms'], 0)}% of "
            f"non-facts get a sport; largest leak onto a wrong sport "
            f"{num(m['interference'])}."
        )
        return m

    def _tick(self) -> None:
        try:
            m = self.train_steps(STEPS_PER_TICK, TICK_BUDGET_S)
        except Exception as err:  # noqa: BLE001 - stop, say why, keep the page
            self._on_stop()
            self.say(f"Training stopped: {str(err)[:160]}")
            return
        if m["step"] >= MAX_STEPS:
            self._on_stop()

    def _on_train(self, _event=None) -> None:
        self.say()
        if self.trainer is not None and self.trainer.steps >= MAX_STEPS:
            self._reset()
        self.train.disabled = True
        self.stop.disabled = False
        self._cb = pn.state.add_periodic_callback(self._tick, period=PERIOD_MS)

    def _on_stop(self, _event=None) -> None:
        if self._cb is not None:
            self._cb.stop()
            self._cb = None
        self.train.disabled = False
        self.stop.disabled = True

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "Compiled by hand, the MLP spends one neuron per fact. Training finds its own "
            "solution. Give it fewer neurons than facts and it has to share: with nearly "
            "perpendicular directions it can still store more facts than neurons, at the "
            "price of leaks between them (off-diagonal colour below)."
        )
        controls = [pn.Row(self.n_facts, self.n_neurons, sizing_mode="stretch_width"),
                    pn.Row(self.train, self.stop)]
        return self.layout(prose, controls, [
            self.status,
            pn.Row(bokeh(self.curve_fig), bokeh(self.heat_fig), sizing_mode="stretch_width")])
