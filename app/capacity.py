"""Section 5, more facts than neurons: train a small MLP in the page on the
first N facts, in a residual stream of the reader's width, with fewer
neurons than facts, and see what it keeps and how.

What it shows, all measured on the network trained here:
- how many facts K neurons recall when facts share answers (the table's
  sports) and when each has its own, against the number of neurons;
- the run itself: recall while training, who fires for whom, what each
  fact gets written along every sport, and one fact's answer taken apart
  neuron by neuron.

The default settings' results are shipped (toycore/data/capacity_default.json,
scripts/make_capacity_data.py), so the page opens on a trained network
without training. Any other setting trains in the page, a few dozen Adam
steps per timer tick (common.Loop), and starts by itself a moment after the
setting last changed; Stop holds it until the next change or Train.
Finished runs are kept (`trained_model`), so going back to a setting is free.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict

import numpy as np
import panel as pn
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    FactorRange,
    FixedTicker,
    Label,
    LinearColorMapper,
    Node,
    NoOverlap,
)
from bokeh.palettes import OrRd9
from bokeh.transform import dodge

import toycore as tc
from app.common import (
    ACCENT,
    FIRE,
    QUIET,
    WRAP,
    LiveText,
    Loop,
    Section,
    bokeh,
    esc,
    fig,
    legend_style,
    num,
    page_bg,
    prose_css,
    side_by_side,
    slider,
    strong,
    text_color,
    update,
)
from app.state import AppState
from toycore import capacity as cap
from toycore.learn import Trainer

# The state keys the trained network depends on, in the order of a
# training key (see `training_key`). Section 3's tilted names do not
# apply here: this section gives the names directions of its own.
TRAINING_KEYS = ("cap_facts", "cap_sports", "cap_d", "cap_neurons", "activation", "attn")

TICK_BUDGET_S = 0.03  # a tick stops stepping after this long, so clicks get through
PERIOD_MS = 60
SETTLE_S = 0.3  # training waits until the settings have been still this long
FINISHED_KEPT = 24  # finished runs kept (weights and all)
UNFINISHED_KEPT = 4  # runs left part-trained, to go on with when their setting is back
OUTCOMES_KEPT = 2000  # finished runs' scores kept for the sweep chart
# Colours for an activation or a read-out from 0 to 1: the first tenth is
# blank (the page's background in the dark theme), so a coloured cell is a
# neuron that fires (cap.FIRE_AT = 0.1).
BLANK = "#f8fafc"


def heat_palette(state: AppState) -> tuple[str, ...]:
    blank = page_bg(state) if state.theme == "dark" else BLANK
    return (blank, *reversed(OrRd9))
# A heatmap's height: its x axis, then a row per fact at the height of its
# label's type (at a fixed 420 px, 23 facts in presenter type and 60 in any
# type overlapped their names). The read-out map's axis has slanted sports.
HEAT_AXIS_PX = {False: 140, True: 190}
FIRES_AXIS_PX = {False: 130, True: 170}  # and the colour bar
HEAT_ROW_PX = {False: 16, True: 22}
MAX_TICKS = 10  # neuron numbers on an axis, at most (16 ran together on a 360 px phone)

Key = tuple  # the values of TRAINING_KEYS


def heat_height(facts: int, presenter: bool) -> int:
    """The read-out heatmap's height (px) for this many facts."""
    return HEAT_AXIS_PX[presenter] + HEAT_ROW_PX[presenter] * max(facts, 10)


def fires_height(facts: int, presenter: bool) -> int:
    """The who-fires heatmap's height (px): a shorter, numeric x axis."""
    return FIRES_AXIS_PX[presenter] + HEAT_ROW_PX[presenter] * max(facts, 10)


def training_key(state: AppState) -> Key:
    """What the trained network depends on (TRAINING_KEYS' values)."""
    return tuple(getattr(state, k) for k in TRAINING_KEYS)


def new_trainer(key: Key) -> Trainer:
    """An untrained run for a training key (toycore.capacity's recipe)."""
    facts, answers, d, neurons, activation, attn = key
    return cap.capacity_trainer(facts, answers, d, neurons, activation, attn)


def advance(t: Trainer, end: float, upto: int) -> None:
    """Step t towards `upto` steps (at most STEPS) until time.perf_counter()
    passes `end`: one step at a time, since at the sliders' far end (60 facts
    with a sport each, 64 neurons) one step is tens of ms in the page."""
    upto = min(upto, cap.STEPS)
    while t.steps < upto:
        t.step(1, report=False)  # the redraw measures the weights
        if time.perf_counter() > end:
            return


def with_neurons(key: Key, answers: str, neurons: int) -> Key:
    facts, _, d, _, activation, attn = key
    return (facts, answers, d, neurons, activation, attn)


# -- finished runs, shared by the section and trained_model ------------------------------
# key -> [finished Trainer, its ToyModel once asked for]; most recent last.
_finished: OrderedDict[Key, list] = OrderedDict()
# key -> {"recalled", "false_alarms" (counts), "interference"}: every
# finished run's score, for the sweep chart (weights not needed).
_outcomes: OrderedDict[Key, dict] = OrderedDict()


def outcome(t: Trainer) -> dict:
    """A finished run's score: facts recalled and non-facts given a sport
    (counts), and the largest leak of a fact onto a wrong sport."""
    m = t.metrics()
    return {"recalled": int(t.recalled().sum()),
            "false_alarms": round(m["false_alarms"] * t.n_negatives),
            "interference": m["interference"]}


def _keep(store: OrderedDict, key: Key, value: object, limit: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > limit:
        store.popitem(last=False)


def remember(key: Key, t: Trainer) -> None:
    """Keep a finished run (and its score)."""
    _keep(_finished, key, [t, None], FINISHED_KEPT)
    _keep(_outcomes, key, outcome(t), OUTCOMES_KEPT)


@functools.lru_cache(maxsize=1)
def shipped() -> dict | None:
    """The shipped default run (None if the file is missing or unreadable:
    then the default trains like any other setting)."""
    try:
        data = cap.load_default()
        r = data["recipe"]
        key = tuple(r[k] for k in TRAINING_KEYS)
        for answers, row in data["sweep"].items():
            for k, score in row.items():
                _keep(_outcomes, with_neurons(key, answers, int(k)), score, OUTCOMES_KEPT)
        return {"key": key, "steps": r["steps"], "run": data["run"]}
    except Exception:  # noqa: BLE001 - without the file the page trains instead
        return None


def _restore_shipped(key: Key) -> Trainer | None:
    ship = shipped()
    if ship is None or key != ship["key"] or ship["steps"] != cap.STEPS:
        return None
    t = new_trainer(key)
    run = ship["run"]
    n, n_neg = len(t.facts), t.n_negatives
    history = [{"step": float(i), "accuracy": a / n, "false_alarms": f / n_neg}
               for i, (a, f) in enumerate(zip(run["recalled"], run["false_alarms"],
                                              strict=True))]
    t.restore({k: np.array(v) for k, v in run["params"].items()}, history)
    remember(key, t)
    return t


def finished(key: Key) -> Trainer | None:
    """The finished run for this key, if one is kept or shipped."""
    entry = _finished.get(key)
    if entry is not None:
        _finished.move_to_end(key)
        return entry[0]
    return _restore_shipped(key)


def score(key: Key) -> dict | None:
    """A finished run's score (see `outcome`), if known."""
    shipped()
    return _outcomes.get(key)


def trained_model(state: AppState) -> tc.ToyModel:
    """The MLP section 5 trains for the state's settings, trained to the end
    (toycore.capacity.STEPS Adam steps), as a ToyModel; sections 6 and 9 use it.

    It depends on the state keys in TRAINING_KEYS and on nothing else:
    cap_facts, cap_sports, cap_d, cap_neurons, activation and attn (not on
    section 3's angles: the names' directions come from cap_d). Cached, and
    shared with the section's own runs: the default is shipped, a setting
    the section has finished is free, any other trains here and now (about
    0.15 s in the page at the default size, but seconds with many facts and
    neurons: a step grows with every first/last pairing times the neurons).
    Deterministic: the same settings give the same weights."""
    key = training_key(state)
    t = finished(key)
    if t is None:
        t = new_trainer(key)
        t.step(cap.STEPS)
        remember(key, t)
    entry = _finished[key]
    if entry[1] is None:
        entry[1] = t.model()
    return entry[1]


# -- what the figures show ----------------------------------------------------------------
def sport_order(facts: tc.FactTable) -> list[int]:
    """The facts' indices grouped by sport (in the table's order of sports),
    so that facts sharing an answer sit together in the heatmaps."""
    sports = facts.sports
    return sorted(range(len(facts)), key=lambda i: (sports.index(facts[i].sport), i))


def neuron_ticks(k: int, extra: tuple = ()) -> list[float]:
    """Tick positions for neurons 0..k-1: every one, or every 2nd, 4th or
    8th. After `extra` (the bias, left of neuron 0) the first is neuron
    `step`, not 0, when they are thinned: "bias" and "0" ran together."""
    step = next(s for s in (1, 2, 4, 8, 16) if k <= MAX_TICKS * s)
    first = step if extra and step > 1 else 0
    return [*extra, *range(first, k, step)]


def fires_data(c: dict, facts: tc.FactTable, order: list[int]) -> dict[str, list]:
    """Who fires for whom: one cell per (fact, neuron), its activation."""
    post = c["mlp.hook_post"]
    k = post.shape[1]
    return {"fact": [facts[i].name for i in order for _ in range(k)],
            "neuron": [j for _ in order for j in range(k)],
            "value": post[order].ravel().tolist()}


def readout_data(c: dict, facts: tc.FactTable, sports: list[str],
                 order: list[int]) -> dict[str, list]:
    """What each fact gets written along each sport; `own` marks its sport."""
    r = c["mlp_out_sports"]
    return {"fact": [facts[i].name for i in order for _ in sports],
            "sport": [s for _ in order for s in sports],
            "value": r[order].ravel().tolist(),
            "own": [facts[i].sport == s for i in order for s in sports]}


def contrib_data(c: dict, i: int, own: int, rival: int) -> dict[str, list]:
    """Fact i's read-out along its sport and along its rival, taken apart:
    x = -1.5 is b_down, x = j neuron j. Each column adds up to the read-out."""
    k = c["contrib"].shape[1]
    own_part = [float(c["bias_sports"][own]), *c["contrib"][i, :, own].tolist()]
    rival_part = ([float(c["bias_sports"][rival]), *c["contrib"][i, :, rival].tolist()]
                  if rival >= 0 else [0.0] * (k + 1))
    return {"x": [-1.5, *range(k)], "own": own_part, "rival": rival_part}


def names_note(e: tc.Embedding) -> str:
    """How the names sit in the residual stream, for the status sentence."""
    v = e.vectors
    n, d = v.shape
    if n <= d:
        return f"{n} names, exactly perpendicular (d = {d} has room for all)"
    cos = np.abs(v @ v.T)[np.triu_indices(n, 1)]
    return (f"{n} names in {d} dimensions, random directions: |cos| between two names "
            f"averages {num(float(cos.mean()))}, at most {num(float(cos.max()))}")


def listing(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    names = [esc(x) for x in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def fact_group(facts: tc.FactTable, idx: list[int]) -> str:
    """The facts at idx, grouped by sport: 'A and B (tennis) and for C (golf)'."""
    by_sport: dict[str, list[str]] = {}
    for i in idx:
        by_sport.setdefault(facts[i].sport, []).append(facts[i].name)
    groups = [f"{listing(names)} ({esc(s)})" for s, names in by_sport.items()]
    return groups[0] if len(groups) == 1 else ", for ".join(groups[:-1]) + " and for " + groups[-1]


def signed(x: float) -> str:
    text = num(x)
    return text if text.startswith("-") else "+" + text


class CapacitySection(Section):
    """Facts, answers, width and neurons; a live training loop; five figures."""

    key = "capacity"
    depends_on = (*TRAINING_KEYS, "cap_fact")

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        # Not foreseen: a step starts a fresh run.
        self.sliders = {"cap_facts": slider(state, "cap_facts", "Facts to store"),
                        "cap_d": slider(state, "cap_d", "Residual stream width d"),
                        "cap_neurons": slider(state, "cap_neurons", "Neurons")}
        self.answers = pn.widgets.RadioButtonGroup(
            label="Their answers", value=state.cap_sports,
            options={"Shared: the table's sports": "shared",
                     "A sport of its own per fact": "distinct"})
        self.train = pn.widgets.Button(label="Train", color="primary", width=120)
        self.stop = pn.widgets.Button(label="Stop", color="default", width=120, disabled=True)
        self.fact = pn.widgets.Select(label="Fact to take apart", options={},
                                      sizing_mode="stretch_width")
        self.status = LiveText(state, "wfl-capacity-status")
        self.compare = LiveText(state, "wfl-capacity-compare")
        self.neurons_text = LiveText(state, "wfl-capacity-neurons")
        self.contrib_text = LiveText(state, "wfl-capacity-contrib")
        self.loop = Loop(self.train, self.stop, self._tick, PERIOD_MS, self.say, "Training")

        self.run_key: Key | None = None
        self.trainer: Trainer | None = None
        self.cache: dict | None = None  # sharing_cache of the weights shown
        self.job: tuple[Key, Trainer] | None = None  # a sweep run under way
        self.unfinished: OrderedDict[Key, Trainer] = OrderedDict()
        self.held = False  # Stop was pressed: wait for Train or a new setting
        self.changed_at = -math.inf
        self.recalled = np.zeros(0, dtype=bool)  # per fact, for the weights shown
        self._quiet = False  # the menu is being set from the state
        self._live = False
        self.names_text = ""

        self._build_figures()
        w = self.guard
        for name, s in self.sliders.items():
            s.param.watch(w(lambda e, n=name: setattr(state, n, int(e.new))), "value")
        self.answers.param.watch(w(lambda e: setattr(state, "cap_sports", e.new)), "value")
        self.fact.param.watch(w(self._on_fact), "value")
        self.train.on_click(w(self._on_train))
        self.stop.on_click(w(self._on_stop))
        state.param.watch(w(self._sync), [*self.sliders, "cap_sports", "cap_fact"])
        self.watch_refresh()
        self._refresh()
        # From here on a new setting starts the loop. Not while the page is
        # being built: the first loop starts when the page says the section
        # is on screen (set_on_screen).
        self._live = True

    # -- figures ---------------------------------------------------------------------------
    def _build_figures(self) -> None:
        s = self.state
        big = s.presenter
        self.sweep_src = {a: ColumnDataSource({"k": [], "recalled": []}) for a in cap.ANSWERS}
        self.ref_src = ColumnDataSource({"k": [], "per_answer": [], "per_fact": []})
        self.here_src = ColumnDataSource({"k": [], "recalled": []})
        # Taller than its neighbour: its five-line legend sits below the plot.
        f = fig(s, height=450, title="Facts recalled against neurons", x_axis_type="log",
                x_range=(0.8, 80), y_range=(0, s.cap_facts + 1),
                x_axis_label="neurons", y_axis_label="facts recalled")
        f.xaxis.ticker = FixedTicker(ticks=[1, 2, 4, 8, 16, 32, 64])
        f.line("k", "per_fact", source=self.ref_src, color=QUIET, line_width=2,
               line_dash="dotted", legend_label="one fact per neuron")
        f.line("k", "per_answer", source=self.ref_src, color=QUIET, line_width=2,
               line_dash="dashed", legend_label="one neuron per sport, shared sports")
        for answers, color, label in (("shared", FIRE, "trained: shared sports"),
                                      ("distinct", ACCENT, "trained: a sport each")):
            f.line("k", "recalled", source=self.sweep_src[answers], color=color, line_width=3,
                   legend_label=label)
            f.scatter("k", "recalled", source=self.sweep_src[answers], color=color, size=7,
                      legend_label=label)
        f.scatter("k", "recalled", source=self.here_src, marker="circle", size=16,
                  fill_alpha=0, line_color=text_color(s), line_width=2, legend_label="this run")
        # Below the plot, one entry a line: two columns ran past a phone's edge.
        f.add_layout(f.legend[0], "below")
        legend_style(f, s)
        self.sweep_fig = f

        self.history = ColumnDataSource({"step": [], "accuracy": [], "false_alarms": []})
        c = fig(s, height=380, x_range=(0, cap.STEPS), y_range=(0, 1.02),
                title="Recall while training", x_axis_label="Adam step", y_axis_label="share")
        c.line("step", "accuracy", source=self.history, color=FIRE, line_width=3,
               legend_label="facts recalled")
        c.line("step", "false_alarms", source=self.history, color=ACCENT, line_width=3,
               line_dash="dashed", legend_label="non-facts given a sport")
        # Below: inside, some recall curve would run under it.
        c.add_layout(c.legend[0], "below")
        legend_style(c, s)
        self.curve_fig = c

        self.mapper = LinearColorMapper(palette=heat_palette(s), low=0.0, high=1.0)
        line = text_color(s)
        self.fires_src = ColumnDataSource({"fact": [], "neuron": [], "value": []})
        h = fig(s, title="Who fires for whom (activation after training)",
                x_range=(-0.5, 0.5), y_range=FactorRange(factors=[]), x_axis_label="neuron")
        h.rect("neuron", "fact", 1, 1, source=self.fires_src, line_color=line, line_alpha=0.1,
               fill_color={"field": "value", "transform": self.mapper})
        h.grid.grid_line_color = None
        h.xaxis.ticker = FixedTicker(ticks=[])
        # One colour scale for both maps (they share the mapper).
        bar = ColorBar(color_mapper=self.mapper, orientation="horizontal", height=10,
                       title="colour scale of both maps",
                       title_text_font_size="13pt" if big else "10pt",
                       major_label_text_font_size="13pt" if big else "9pt",
                       title_text_color=line, major_label_text_color=line,
                       background_fill_color=page_bg(s), title_text_font_style="normal",
                       ticker=FixedTicker(ticks=[0, 0.1, 0.5, 1]))
        h.add_layout(bar, "below")
        self.fires_fig = h

        self.readout_src = ColumnDataSource({"fact": [], "sport": [], "value": [], "own": []})
        self.own_src = ColumnDataSource({"fact": [], "sport": []})
        g = fig(s, title="What each fact gets written, by sport (outlined: its own)",
                x_range=FactorRange(factors=[]), y_range=FactorRange(factors=[]))
        g.rect("sport", "fact", 1, 1, source=self.readout_src, line_color=line,
               line_alpha=0.1, fill_color={"field": "value", "transform": self.mapper})
        g.rect("sport", "fact", 0.86, 0.78, source=self.own_src, fill_alpha=0,
               line_color=line, line_width=2)
        g.xaxis.major_label_orientation = 0.9
        # Sixty sports do not fit a phone's width: leave out labels that
        # would overlap (the outlines still mark each fact's own sport).
        g.xaxis.major_label_policy = NoOverlap()
        g.grid.grid_line_color = None
        self.untrained = Label(
            x=Node(target="frame", symbol="left", offset=8),
            y=Node(target="frame", symbol="top", offset=8), anchor="top_left",
            text="Untrained\n(step 0)", text_color=line,
            text_font_size="14pt" if big else "10pt",
            background_fill_color=page_bg(s), background_fill_alpha=0.9, padding=6,
            border_line_color=QUIET)
        g.add_layout(self.untrained)
        self.readout_fig = g

        self.contrib_src = ColumnDataSource({"x": [], "own": [], "rival": []})
        b = fig(s, height=320, title="One fact's answer, neuron by neuron",
                x_range=(-2.5, 0.5), x_axis_label="neuron (and the bias b_down)",
                y_axis_label="added to the read-out")
        b.vbar(x=dodge("x", -0.2), top="own", width=0.4, source=self.contrib_src, color=FIRE,
               legend_label="along its own sport")
        b.vbar(x=dodge("x", 0.2), top="rival", width=0.4, source=self.contrib_src,
               color=ACCENT, legend_label="along the sport it writes most after that")
        b.xgrid.grid_line_color = None
        b.xaxis.ticker = FixedTicker(ticks=[])
        leg = b.legend[0]
        leg.orientation = "vertical"
        b.add_layout(leg, "below")
        legend_style(b, s)
        self.contrib_fig = b

    # -- state -------------------------------------------------------------------------------
    def _sync(self, *_events) -> None:
        for name, s in self.sliders.items():
            s.value = getattr(self.state, name)
        self.answers.value = self.state.cap_sports
        self._set_fact_widget(self.fact.options)

    def _set_fact_widget(self, options: dict) -> None:
        """Show the state's fact in the menu (or the automatic choice when
        the fact is not in the table) without writing back to the state:
        a fact missing from a smaller table is still the reader's choice."""
        want = self.state.cap_fact if self.state.cap_fact in options.values() else ""
        self._quiet = True
        try:
            if self.fact.options != options:
                self.fact.param.update(options=options, value=want)
            elif self.fact.value != want:
                self.fact.value = want
        finally:
            self._quiet = False

    def _on_fact(self, event) -> None:
        if not self._quiet:
            self.state.cap_fact = event.new or ""

    def _refresh(self, *_events) -> None:
        key = training_key(self.state)
        if key != self.run_key:
            self._show(key)
        else:
            self._draw_contrib()

    def _show(self, key: Key) -> None:
        """Show the run for `key`: kept or shipped if finished, else the one
        left part-trained for it, else a fresh one at step 0; the loop goes
        on with it after SETTLE_S."""
        if self.trainer is not None and self.trainer.steps < cap.STEPS:
            # A slider dragged away and back (or a step the page foresaw and
            # undid) finds its run where it was.
            _keep(self.unfinished, self.run_key, self.trainer, UNFINISHED_KEPT)
        self.run_key = key
        done = finished(key)
        self.trainer = (done if done is not None else self.unfinished.pop(key, None)
                        or new_trainer(key))
        self.job = None
        self.held = False
        self.changed_at = time.perf_counter()
        t = self.trainer
        n = len(t.facts)
        self.order = sport_order(t.facts)
        names = [t.facts[i].name for i in self.order]
        rows = list(reversed(names))  # the first fact at the top
        pres = self.state.presenter
        if list(self.fires_fig.y_range.factors) != rows:
            self.fires_fig.y_range.factors = rows
            self.readout_fig.y_range.factors = rows
            self.fires_fig.height = fires_height(n, pres)
            self.readout_fig.height = heat_height(n, pres)
        if list(self.readout_fig.x_range.factors) != t.sports:
            self.readout_fig.x_range.factors = list(t.sports)
        k = t.cfg.d_mlp
        self.fires_fig.x_range.start, self.fires_fig.x_range.end = -0.5, k - 0.5
        self.fires_fig.xaxis.ticker.ticks = neuron_ticks(k)
        self.contrib_fig.x_range.start, self.contrib_fig.x_range.end = -2.5, k - 0.5
        self.contrib_fig.xaxis.ticker.ticks = neuron_ticks(k, (-1.5,))
        self.contrib_fig.xaxis.major_label_overrides = {-1.5: "bias"}
        self.sweep_fig.y_range.end = n + 1
        self._set_fact_widget({"The fact the most neurons fire for": ""}
                              | {x: x for x in names})
        self.names_text = names_note(t.embedding)
        self._draw_run()
        self._draw_sweep()
        if not self._work_left():
            self.loop.stop()
        elif self._live and self.on_screen and not self.loop.running:
            self.loop.start()

    def _work_left(self) -> bool:
        return self.trainer.steps < cap.STEPS or self._next_job() is not None

    # -- drawing -------------------------------------------------------------------------------
    def _draw_run(self) -> None:
        """The curve, the heatmaps, the chosen fact and the sentences, from
        the run's current weights."""
        t = self.trainer
        m = t.metrics()
        self.recalled = t.recalled()
        # Each step's weights, then the weights shown now.
        h = [*t.history, m]
        update(self.history, {k: [e[k] for e in h] for k in ("step", "accuracy", "false_alarms")})
        self.untrained.visible = t.steps == 0
        self.cache = cap.sharing_cache(t.model())
        update(self.fires_src, fires_data(self.cache, t.facts, self.order))
        update(self.readout_src, readout_data(self.cache, t.facts, t.sports, self.order))
        update(self.own_src, {"fact": [t.facts[i].name for i in self.order],
                              "sport": [t.facts[i].sport for i in self.order]})
        update(self.here_src, {"k": [t.cfg.d_mlp], "recalled": [int(self.recalled.sum())]})
        self._describe_run(m)
        self._describe_neurons()
        self._draw_contrib()

    def _describe_run(self, m: dict) -> None:
        t = self.trainer
        n, k = len(t.facts), t.cfg.d_mlp
        if t.steps == 0:
            phase = "Untrained (step 0)"
        elif t.steps >= cap.STEPS:
            phase = f"Trained ({cap.STEPS} Adam steps)"
        elif self.loop.running and not self.held:
            phase = f"Training, step {t.steps} of {cap.STEPS}"
        else:
            phase = f"Stopped at step {t.steps} of {cap.STEPS}"
        recalled = int(self.recalled.sum())
        fa = round(m["false_alarms"] * t.n_negatives)
        self.status.html = (
            f"<p>{phase}: {strong(f'{recalled} of {n} facts')} recalled with "
            f"{strong(f'{k} neuron' + ('s' if k != 1 else ''))}. "
            f"{fa} of the {t.n_negatives} non-facts (other pairings of these names, and "
            f"names alone) get a sport; the largest leak of a fact onto a wrong sport is "
            f"{num(m['interference'])}. {self.names_text}.</p>"
        )

    def _describe_neurons(self) -> None:
        t = self.trainer
        fires = cap.firing(self.cache)
        k = fires.shape[1]
        sports = np.array([f.sport for f in t.facts])
        who = [np.flatnonzero(fires[:, j]) for j in range(k)]
        multi = [j for j in range(k) if len(who[j]) > 1]
        poly = [j for j in multi if len(set(sports[who[j]])) > 1]
        silent = [j for j in range(k) if len(who[j]) == 0]
        spread = int((fires.sum(axis=1) > 1).sum())
        parts = [f"{len(multi)} of the {k} neuron{'s' if k != 1 else ''} fire for more than "
                 f"one fact (fire: activation at least {num(cap.FIRE_AT, 1)})"]
        if poly:
            eg = sorted(poly, key=lambda j: (-len(set(sports[who[j]])), j))[:2]
            parts.append(
                f"{len(poly)} of them for facts with different sports: "
                + "; ".join(f"neuron {j} fires for {fact_group(t.facts, list(who[j]))}"
                            for j in eg))
        elif multi:
            j = max(multi, key=lambda j: (len(who[j]), -j))
            parts.append(f"each for facts that share a sport, such as neuron {j}: "
                         f"{fact_group(t.facts, list(who[j]))}")
        if silent:
            parts.append(f"{len(silent)} fire{'s' if len(silent) == 1 else ''} for no fact")
        text = "; ".join(parts[:2]) + "."
        if len(parts) > 2:
            text += f" {parts[2][0].upper()}{parts[2][1:]}."
        if spread == 0:
            text += " No fact has more than one neuron firing for it."
        else:
            text += (f" {spread} of the {len(t.facts)} facts "
                     f"{'has' if spread == 1 else 'have'} more than one neuron firing for "
                     f"{'it' if spread == 1 else 'them'}.")
        self.neurons_text.html = f"<p>{text}</p>"

    def _chosen(self) -> tuple[int, bool]:
        """The fact taken apart (index into the table) and whether it is
        the one the reader named (else the one the most neurons fire for)."""
        name = self.state.cap_fact
        facts = self.trainer.facts
        if name:
            try:
                i = facts.index(name)
            except KeyError:
                self.say(f"“{esc(name[:60])}” is not among these facts; showing the fact "
                         "the most neurons fire for.")
                return cap.most_spread_fact(self.cache), False
            self.say()
            return i, True
        self.say()
        return cap.most_spread_fact(self.cache), False

    def _draw_contrib(self) -> None:
        if self.cache is None:
            return
        t, c = self.trainer, self.cache
        i, named = self._chosen()
        f = t.facts[i]
        own = t.sports.index(f.sport)
        rival = cap.rival_sport(c, i, own)
        update(self.contrib_src, contrib_data(c, i, own, rival))
        self.contrib_text.html = "<p>" + self._contrib_sentence(i, own, rival, named) + "</p>"

    def _contrib_sentence(self, i: int, own: int, rival: int, named: bool) -> str:
        t, c = self.trainer, self.cache
        f = t.facts[i]
        count = int(cap.firing(c)[i].sum())
        who = "" if named else (
            f", which {count} neuron{' fires' if count == 1 else 's fire'} for (no fact has "
            "more),")
        ok = bool(self.recalled[i])
        head = (f"{strong(f.name)}{who} is {'recalled' if ok else 'not recalled'} "
                f"({esc(f.sport)}).")

        def parts(s: int) -> str:
            col = c["contrib"][i, :, s]
            total = float(c["mlp_out_sports"][i, s])
            big = [j for j in np.argsort(-np.abs(col), kind="stable") if abs(col[j]) >= 0.005]
            shown = big[:4]
            rest = float(col.sum() - col[shown].sum())
            terms = [f"bias {signed(float(c['bias_sports'][s]))}"]
            terms += [f"neuron {j} {signed(float(col[j]))}" for j in shown]
            others = len(col) - len(shown)
            if others:
                terms.append(f"the other {others} neuron{'s' if others != 1 else ''} "
                             f"{signed(rest)}")
            return f"{num(total)} = " + ", ".join(terms)

        text = f"{head} Along {esc(f.sport)} its read-out is {parts(own)}."
        if rival >= 0:
            text += (f" Along {esc(t.sports[rival])}, the sport its neurons write most after "
                     f"its own: {parts(rival)}.")
        return text

    def _draw_sweep(self) -> None:
        """The sweep chart and the comparison sentence, from the scores known."""
        key = self.run_key
        n = key[0]
        ks = sorted({*cap.SWEEP_NEURONS, key[3]})
        points = {}
        for answers in cap.ANSWERS:
            pts = {k: sc["recalled"] for k in ks
                   if (sc := score(with_neurons(key, answers, k))) is not None}
            points[answers] = pts
            update(self.sweep_src[answers], {"k": list(pts), "recalled": list(pts.values())})
        shared = cap.capacity_facts(n, "shared")
        top = AppState.param.cap_neurons.bounds[1]
        held = np.cumsum(cap.answer_groups(shared) + [0] * top)[:top].tolist()
        update(self.ref_src, {"k": list(range(1, top + 1)), "per_answer": held,
                              "per_fact": [min(k, n) for k in range(1, top + 1)]})
        self._describe_compare(shared, points)

    def _describe_compare(self, shared: tc.FactTable, points: dict[str, dict]) -> None:
        key, t = self.run_key, self.trainer
        n, answers, k = key[0], key[1], key[3]
        kinds = {"shared": "with the table's shared sports",
                 "distinct": "with a sport of its own per fact"}
        facts = t.facts
        lead = (f"These {n} facts have {len(facts.sports)} different "
                f"sport{'s' if len(facts.sports) != 1 else ''}")
        real = len(tc.default_facts())
        if answers == "shared":
            lead += (f" (the table's {real}, then made-up athletes with its sports)."
                     if n > real else ".")
        else:
            lead += (" (the first athlete of each of the table's sports, then made-up "
                     "athletes with made-up sports)." if n > len(tc.default_facts().sports) else
                     " (the first athlete of each of the table's sports).")
        scores = {a: score(with_neurons(key, a, k)) for a in cap.ANSWERS}
        neurons = f"{k} neuron{'s' if k != 1 else ''}"
        said = []
        for a in (answers, *(x for x in cap.ANSWERS if x != answers)):
            sc = scores[a]
            if sc is None:
                said.append(f"{kinds[a]}: still to train")
            else:
                said.append(f"{kinds[a]}: {strong(sc['recalled'])} of {n}")
        above = []
        for a in cap.ANSWERS:
            pts = points[a]
            if not pts:
                continue
            more = {j: r for j, r in pts.items() if r > j}
            if more:
                j = max(more, key=lambda j: (more[j] - j, -j))
                above.append(f"{kinds[a]} at {len(more)} of the {len(pts)} neuron counts "
                             f"trained, by up to {more[j] - j} ({more[j]} facts with {j} "
                             f"neuron{'s' if j != 1 else ''})")
            else:
                above.append(f"{kinds[a]} at none of the {len(pts)} neuron counts trained")
        ref = cap.one_neuron_per_answer(shared, k)
        self.compare.html = (
            f"<p>{lead} Facts recalled after training with {neurons}, "
            + "; ".join(said) + ". "
            + (f"More facts than neurons (above the dotted line): {'; '.join(above)}. "
               if above else "")
            + f"One neuron per sport, firing for all its athletes, would hold {ref} of the "
            f"{n} shared-sport facts with {neurons} (dashed line).</p>"
        )

    # -- the loop ---------------------------------------------------------------------------
    def _next_job(self) -> Key | None:
        """The next sweep run to train: first the other kind of table at the
        reader's neuron count, then every count of the chart, small first."""
        key = self.run_key
        ks = [key[3], *sorted(set(cap.SWEEP_NEURONS) - {key[3]})]
        others = [a for a in cap.ANSWERS if a != key[1]]
        order = [with_neurons(key, a, k) for k in ks for a in (key[1], *others)]
        return next((x for x in order if x != key and score(x) is None), None)

    def train_steps(self, budget: float = math.inf, n: int | None = None) -> None:
        """One tick's work: step the reader's run (at most n steps, or until
        `budget` seconds run out), or when it is finished, the sweep."""
        end = time.perf_counter() + budget
        t = self.trainer
        if t.steps < cap.STEPS:
            advance(t, end, cap.STEPS if n is None else t.steps + n)
            if t.steps >= cap.STEPS:
                remember(self.run_key, t)
                self._draw_sweep()
            self._draw_run()
            return
        while time.perf_counter() < end:
            if self.job is None:
                nxt = self._next_job()
                if nxt is None:
                    return
                self.job = (nxt, finished(nxt) or new_trainer(nxt))
            key, job = self.job
            advance(job, end, cap.STEPS if n is None else job.steps + n)
            if job.steps >= cap.STEPS:
                remember(key, job)
                self.job = None
                self._draw_sweep()
            if n is not None:
                return

    def _tick(self) -> bool:
        if self.held:
            return True
        if time.perf_counter() - self.changed_at < SETTLE_S:
            return False
        self.train_steps(TICK_BUDGET_S)
        return not self._work_left()

    def set_on_screen(self, flag: bool) -> None:
        """Off screen the loop pauses (its ticks would slow the sections the
        reader is using); back on screen it goes on."""
        super().set_on_screen(flag)
        if not flag and self.loop.running:
            self.loop.stop()
        elif flag and not self.held and not self.loop.running and self._work_left():
            self.loop.start()

    def _on_train(self, _event=None) -> None:
        self.say()
        self.held = False
        if self.trainer.steps >= cap.STEPS and self._next_job() is None:
            # Finished: train it again from the start, to watch it learn.
            self.trainer = new_trainer(self.run_key)
            self._draw_run()
        self.changed_at = -math.inf
        if not self.loop.running:
            self.loop.start()

    def _on_stop(self, _event=None) -> None:
        self.held = True
        self.loop.stop()
        self._describe_run(self.trainer.metrics())

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "Compiled by hand (section 2), the MLP spends one neuron per fact. Here a small "
            "MLP learns the facts instead, with Adam: any setting you pick trains in your "
            "browser, a moment after you let go (the default one was trained ahead of time "
            "the same way). Give it fewer neurons than facts and see what it keeps, and how. "
            "The names get directions of their own here, in a residual stream as wide as you "
            "choose: while they all fit they are exactly perpendicular; narrower, each gets a "
            "random direction and pairs overlap (the first line below says by how much; "
            "superposition, section 7). Section 3's angles do not apply here; section 2's "
            "activation function and section 4's attention strength do."
        )
        after = pn.pane.Markdown(
            "**What this toy does and does not show.** Where a trained line rises above the "
            "dotted one, the network recalls more facts than it has neurons; the map of who "
            "fires for whom shows which neurons serve more than one fact, and whether those "
            "facts share a sport. Real models are "
            "thought to be messier. DeepMind's *Fact Finding* (2023) traced how a language "
            "model recalls athletes' sports and found the look-up spread over many neurons "
            "of several MLP layers, not one clean neuron per fact. Anthropic's *Toy Models "
            "of Superposition* (2022) showed small ReLU networks representing more sparse "
            "features than they have neurons. This toy has one layer, a loss chosen by hand "
            "and at most a few thousand inputs; it shows one way neurons can be shared, not "
            "how a real model stores facts.",
            sizing_mode="stretch_width", css_classes=["wfl-capacity-after"],
            stylesheets=prose_css(self.state))
        # side_by_side: in a row while each control has room, else stacked
        # (on a phone the facts slider was squeezed to nothing beside the buttons).
        controls = [side_by_side(self.sliders["cap_facts"], self.answers, basis=280),
                    side_by_side(self.sliders["cap_d"], self.sliders["cap_neurons"], basis=200),
                    pn.Row(self.train, self.stop, styles=WRAP)]
        return self.layout(prose, controls, [
            self.status,
            self.compare,
            side_by_side(bokeh(self.sweep_fig), bokeh(self.curve_fig)),
            self.neurons_text,
            side_by_side(bokeh(self.fires_fig), bokeh(self.readout_fig)),
            self.fact,
            self.contrib_text,
            bokeh(self.contrib_fig),
            after])
