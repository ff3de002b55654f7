"""Section 9, a sparse autoencoder finds the features again: train an SAE
on the vectors section 5's MLP reads and check its dictionary against the
name directions those vectors are made of, which a real model never tells us.

Three figures, all from the same trainers (toycore.sae):
(a) reconstruction error against the average number of active features,
    for a sweep of penalties trained side by side from the same start, with
    the reader's own SAE marked;
(b) each name's best match among the reader's SAE's live features;
(c) how much of each unit's firing is about one name: section 5's neurons
    (`app.capacity.trained_model`) against the SAE's features.

Training runs in short Loop ticks, the reader's SAE first and then the
sweep. It starts by itself when the section comes on screen in the page
(and pauses when it leaves), and again after a setting changes; Train and
Stop work as in sections 5 and 7. Before any step every figure shows the
random starting dictionary (step 0), so no chart is blank. In the page, a
change in another section reaches this one through a tick once the
settings hold still (SETTLE_S): section 5's model may have to be trained
for it, which no slider step should wait for.
"""

from __future__ import annotations

import math
import time

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, FixedTicker, LabelSet, Span

import toycore as tc
from app.capacity import TRAINING_KEYS, trained_model
from app.common import (
    ACCENT,
    FIRE,
    GOOD,
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
    pct,
    side_by_side,
    slider,
    strong,
    text_color,
    update,
)
from app.state import AppState
from toycore import sae as S
from toycore.model import mlp_forward

MAX_STEPS = 1000
SWEEP = (0.03, 0.1, 0.3, 1.0)  # the trade-off curve's penalties
LR = 0.01
BATCH = 64
SEED = 0
TICK_BUDGET_S = 0.025  # steps stop after this long; the redraw follows
PERIOD_MS = 50
CURVE_EVERY_S = 0.5  # while the sweep trains, its dots move at most this often
# In the page, a change elsewhere that may change section 5's model is taken
# up by a tick once the settings have held still this long: getting that
# model can mean training it (`trained_model`), far longer than a slider step.
SETTLE_S = 0.4
KEEP = 4  # trained SAEs kept per kind, so stepping a slider back is instant
OWN = ("sae_size", "sae_l1")
# The match charts' height: the axis and legend, then a row per name at the
# height of its label's type (as the capacity heatmap).
MATCH_AXIS_PX = {False: 120, True: 170}
MATCH_ROW_PX = {False: 16, True: 22}
RECOVERED = f"at least {S.RECOVERED_COS}: found"
MISSED = f"below {S.RECOVERED_COS}"
MISSED_LISTED = 5  # names the status lists as not found, at most
UNIT_ROWS = {"features": 0, "neurons": 1}
UNIT_LABELS = {0: "SAE features", 1: "section 5's\nneurons"}


def match_height(rows: int, presenter: bool) -> int:
    """A match chart's height (px) for this many names."""
    return MATCH_AXIS_PX[presenter] + MATCH_ROW_PX[presenter] * max(rows, 8)


def data_key(model: tc.ToyModel) -> tuple:
    """Everything the SAE's data depends on: the names, their directions,
    the head's strength and the facts."""
    e = model.embedding
    return (tuple(e.names), tuple(e.kinds), e.vectors.tobytes(), model.cfg.attn_strength,
            tuple(f.name for f in model.facts))


def jitter(n: int) -> np.ndarray:
    """Fixed vertical offsets that spread n dots over a row (the same every
    redraw, so a dot moves only when its unit does)."""
    return (np.arange(n) * 0.618034 % 1.0 - 0.5) * 0.6


def median_or_nan(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.median(x)) if len(x) else math.nan


class SAESection(Section):
    """Dictionary size and penalty, Train/Stop, and three figures."""

    key = "sae"
    # What section 5's model follows; its own settings start a fresh SAE
    # (`_on_size`, `_on_l1`), not a redraw.
    depends_on = TRAINING_KEYS

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        # Not foreseen: a step starts a fresh SAE.
        self.size = slider(state, "sae_size", "Dictionary size (features)")
        self.l1 = slider(state, "sae_l1", "Sparsity penalty (L1)")
        self.train = pn.widgets.Button(label="Train", color="primary", width=120)
        self.stop = pn.widgets.Button(label="Stop", color="default", width=120, disabled=True)
        self.answer = LiveText(state, "wfl-sae-answer", large=True)
        self.status = LiveText(state, "wfl-sae-status")
        self.compare = LiveText(state, "wfl-sae-compare")
        self.loop = Loop(self.train, self.stop, self._tick, PERIOD_MS, self.say, "Training")

        self.model: tc.ToyModel | None = None
        self.data: S.ResidualData | None = None
        self._data_key: tuple | None = None
        self.mine: S.SAETrainer | None = None
        self.sweep: S.SAETrainer | None = None
        self._mines: dict[tuple, S.SAETrainer] = {}
        self._sweeps: dict[tuple, S.SAETrainer] = {}
        self._seen_by_page = False  # the page reports what is on screen (app.main)
        self._held = False  # the reader pressed Stop: do not resume by itself
        self.neuron_post = np.zeros((0, 0))  # section 5's neurons on the SAE's inputs
        self.neuron_share = np.zeros(0)
        self.groups: tuple[list[int], list[int]] = ([], [])  # first names; the rest
        self.numbers: dict[str, object] = {}  # what the sentences say (for tests)
        self._curve_drawn = 0.0  # perf_counter() of the sweep's last redraw
        self.curve_step = 0  # the sweep's step its dots show
        self._pending = False  # settings elsewhere changed; a tick takes them up
        self._changed_at = 0.0  # perf_counter() of the latest such change

        self.curve = ColumnDataSource({"l1": [], "l0": [], "fvu": [], "label": []})
        self.point = ColumnDataSource({"l0": [], "fvu": []})
        self.match_first = ColumnDataSource({"name": [], "cos": [], "color": [], "kind": []})
        self.match_last = ColumnDataSource({"name": [], "cos": [], "color": [], "kind": []})
        self.units = ColumnDataSource({"share": [], "y": [], "color": []})
        self._build_figures()

        w = self.guard
        self.size.param.watch(w(lambda e: setattr(state, "sae_size", int(e.new))), "value")
        self.l1.param.watch(w(lambda e: setattr(state, "sae_l1", float(e.new))), "value")
        self.train.on_click(w(self._on_train))
        self.stop.on_click(w(self._on_stop))
        state.param.watch(w(self._on_size), ["sae_size"])
        state.param.watch(w(self._on_l1), ["sae_l1"])
        state.param.watch(w(self._sync), list(OWN))
        self.watch_refresh()
        self._load(trained_model(state))

    # -- figures ------------------------------------------------------------------------
    def _build_figures(self) -> None:
        s = self.state
        big = s.presenter
        a = fig(s, height=320, title="Error against sparsity: one SAE per penalty",
                x_axis_label="features active per input (L0)",
                y_axis_label="reconstruction error\n(share of variance)")
        a.x_range.start = 0
        a.y_range.start = 0
        a.x_range.range_padding = 0.2
        a.y_range.range_padding = 0.15  # room for the top dot's label
        a.line("l0", "fvu", source=self.curve, color=ACCENT, line_width=3,
               legend_label="sweep: penalty by each dot")
        a.scatter("l0", "fvu", source=self.curve, color=ACCENT, size=10 if big else 8)
        a.add_layout(LabelSet(x="l0", y="fvu", text="label", source=self.curve, x_offset=6,
                              y_offset=4, text_color=text_color(s),
                              text_font_size="14pt" if big else "10pt"))
        a.scatter("l0", "fvu", source=self.point, marker="diamond", size=22 if big else 17,
                  color=FIRE, line_color=text_color(s), legend_label="your SAE")
        # Below the plot: inside, it hid dots wherever the sweep put them.
        a.add_layout(a.legend[0], "below")
        a.legend.location = "center"
        a.legend.orientation = "horizontal"
        legend_style(a, s)
        self.tradeoff_fig = a

        self.match_figs = []
        for title, source in (("Best match: first names", self.match_first),
                              ("Best match: last names and (unknown)", self.match_last)):
            f = fig(s, title=title, x_range=(0, 1.0), y_range=FactorRange(factors=[]),
                    x_axis_label="cosine with the closest live feature")
            f.hbar(y="name", right="cos", height=0.75, color="color", source=source,
                   legend_field="kind")
            f.add_layout(Span(location=S.RECOVERED_COS, dimension="height", line_color=FIRE,
                              line_width=2, line_dash="dashed"))
            f.ygrid.grid_line_color = None
            f.add_layout(f.legend[0], "below")
            f.legend.location = "center"
            f.legend.orientation = "horizontal"
            legend_style(f, s)
            self.match_figs.append(f)

        c = fig(s, height=260, title="How much of each unit's firing is about one name",
                x_range=(-0.03, 1.05), y_range=(-0.5, 1.5),
                x_axis_label="share of its firing on inputs\nthat hold its top name")
        c.scatter("share", "y", source=self.units, color="color", size=11 if big else 9,
                  alpha=0.75, line_color=None)
        c.yaxis.ticker = FixedTicker(ticks=list(UNIT_LABELS))
        c.yaxis.major_label_overrides = {k: v for k, v in UNIT_LABELS.items()}
        c.ygrid.grid_line_color = None
        self.units_fig = c

    # -- the data and the trainers ---------------------------------------------------------
    def _load(self, model: tc.ToyModel) -> bool:
        """Section 5's model, as now: new data (and fresh SAEs) when its
        names, head or facts changed, which it returns; the neurons' side of
        figure (c) in any case."""
        self.model = model
        key = data_key(model)
        fresh = key != self._data_key
        if fresh:
            self._data_key = key
            self.data = S.residual_inputs(model.embedding, model.facts,
                                          model.cfg.attn_strength)
            firsts = [i for i, n in enumerate(self.data.names)
                      if model.embedding.kind(n) == "first"]
            self.groups = (firsts, [i for i in range(len(self.data.names)) if i not in firsts])
            self._mines.clear()
            self._sweeps.clear()
            self._pick_trainers(sweep=True)
        _, self.neuron_post, _ = mlp_forward(self.data.x, model.mlp, model.cfg.activation)
        self.neuron_share, _ = S.top_name_share(self.neuron_post, self.data.contains)
        self._draw(sweep=True)
        return fresh

    def _pick_trainers(self, sweep: bool) -> None:
        """The trainers for the current settings: kept ones where they exist
        (a slider stepped back), else fresh ones at step 0."""
        s = self.state
        self.mine = self._kept(self._mines, (s.sae_size, s.sae_l1), s.sae_l1)
        if sweep:
            self.sweep = self._kept(self._sweeps, (s.sae_size,), list(SWEEP))

    def _kept(self, store: dict, key: tuple, l1: float | list[float]) -> S.SAETrainer:
        if key not in store:
            if len(store) >= KEEP:
                store.pop(next(iter(store)))
            store[key] = S.SAETrainer(self.data.x, self.state.sae_size, l1, lr=LR,
                                      batch_size=BATCH, seed=SEED)
        return store[key]

    @property
    def finished(self) -> bool:
        """Both trained to the end, with nothing waiting to be taken up."""
        return (self.mine.steps >= MAX_STEPS and self.sweep.steps >= MAX_STEPS
                and not self._pending)

    def train_steps(self, budget: float = math.inf, max_steps: int | None = None,
                    curve_every: float = 0.0) -> None:
        """Steps until `budget` seconds have passed (at least one), the
        reader's SAE first, then the sweep, each up to `max_steps`; then one
        redraw. What each timer tick does, where the sweep's dots (four
        SAEs' metrics on every input: the costly part of a redraw) move only
        every `curve_every` seconds and when it finishes."""
        start = time.perf_counter()
        max_steps = MAX_STEPS if max_steps is None else max_steps
        moved_sweep = False
        while True:
            if self.mine.steps < max_steps:
                self.mine.update(1)
            elif self.sweep.steps < max_steps:
                self.sweep.update(1)
                moved_sweep = True
            else:
                break
            if time.perf_counter() - start > budget:
                break
        now = time.perf_counter()
        curve = moved_sweep and (now - self._curve_drawn >= curve_every
                                 or self.sweep.steps >= max_steps)
        self._draw(sweep=curve)

    # -- drawing -------------------------------------------------------------------------------
    def _draw(self, sweep: bool) -> None:
        d, t = self.data, self.mine
        cache = t.forward()
        m = t.metrics(cache)
        acts = cache["hook_sae_acts_post"][0]
        alive = acts.max(axis=0) > 0
        best, _ = S.match_features(d.directions, t.params["W_dec"][0], alive)
        f_share, _ = S.top_name_share(acts, d.contains)
        for f, source, rows in zip(self.match_figs, (self.match_first, self.match_last),
                                   self.groups, strict=True):
            names = [d.names[i] for i in rows]
            factors = list(reversed(names))
            if list(f.y_range.factors) != factors:
                f.y_range.factors = factors
                f.height = match_height(len(names), self.state.presenter)
            cos = [float(np.nan_to_num(best[i], nan=0.0)) for i in rows]
            ok = [c >= S.RECOVERED_COS for c in cos]
            update(source, {"name": names, "cos": cos,
                            "color": [GOOD if k else QUIET for k in ok],
                            "kind": [RECOVERED if k else MISSED for k in ok]})
        low = float(np.nanmin(best)) if np.isfinite(best).any() else 0.0
        start = min(0.0, math.floor(low * 10) / 10)
        for f in self.match_figs:
            if f.x_range.start != start:
                f.x_range.start = start
        shares = np.concatenate([f_share[alive], self.neuron_share[~np.isnan(self.neuron_share)]])
        n_f = int(alive.sum())
        rows = [UNIT_ROWS["features"]] * n_f + [UNIT_ROWS["neurons"]] * (len(shares) - n_f)
        y = np.concatenate([jitter(n_f), jitter(len(shares) - n_f)]) + np.array(rows, float)
        update(self.units, {"share": shares.tolist(), "y": y.tolist(),
                            "color": [ACCENT] * n_f + [FIRE] * (len(shares) - n_f)})
        update(self.point, {"l0": [float(m["l0"][0])], "fvu": [float(m["fvu"][0])]})
        if sweep:
            self._curve_drawn = time.perf_counter()
            self.curve_step = self.sweep.steps
            # Both untrained, every SAE of the sweep is your SAE's random start
            # (the same seed and size; the penalty changes no metric drawn here).
            same = self.curve_step == 0 and t.steps == 0
            ms = self.sweep.metrics() if not same else {
                "l0": np.repeat(m["l0"], len(SWEEP)), "fvu": np.repeat(m["fvu"], len(SWEEP))}
            # Untrained, the four dots are one: their labels would overprint.
            update(self.curve, {"l1": list(SWEEP), "l0": ms["l0"].tolist(),
                                "fvu": ms["fvu"].tolist(),
                                "label": [f"{x:g}" if self.curve_step else "" for x in SWEEP]})
        self._describe(m, best, f_share, alive)

    def _describe(self, m: dict, best: np.ndarray, f_share: np.ndarray,
                  alive: np.ndarray) -> None:
        s, d = self.state, self.data
        k = len(d.names)
        found = int(np.sum(np.nan_to_num(best, nan=-1.0) >= S.RECOVERED_COS))
        dims = d.x.shape[1]
        names_per_input = float(d.contains.sum(axis=1).mean())
        cos = np.abs(d.directions @ d.directions.T)[np.triu_indices(k, 1)]
        overlap = float(cos.max()) if len(cos) else 0.0
        n_live = int(alive.sum())
        mine, sweep = self.mine.steps, self.sweep.steps
        if mine == 0:
            when = "Untrained: a random dictionary (step 0)."
        elif mine < MAX_STEPS:
            when = f"Training: step {mine:,} of {MAX_STEPS:,}."
        elif sweep < MAX_STEPS:
            when = (f"Trained ({MAX_STEPS:,} steps); the sweep of penalties is at step "
                    f"{sweep:,} of {MAX_STEPS:,}.")
        else:
            when = f"Trained: {MAX_STEPS:,} Adam steps each."
        self.answer.html = (
            f"<p>{strong(f'{found} of {k}')} name directions ({pct(found / k)}) have a live "
            f"feature within cosine {S.RECOVERED_COS} of them. {esc(when)}</p>")
        room = ("more names than dimensions, so they overlap (superposition; " if k > dims
                else "enough room for them not to overlap (")
        which = ("every lone name, every fact and a sample of the other pairings"
                 if d.sampled else "every pairing and lone name")
        self.status.html = (
            f"<p>Your SAE ({s.sae_size} features, penalty {num(s.sae_l1)}) reads "
            f"{len(d.x):,} inputs: the vector section 5's MLP reads at the last name, for "
            f"{which}. Each is made of name directions, {num(names_per_input)} on average, "
            f"out of {k} in {dims} dimensions: {room}the largest |cos| between two is "
            f"{num(overlap)}).</p><p>Reconstruction error: "
            f"{strong(pct(float(m['fvu'][0]), 1))} of the variance; "
            f"{strong(num(float(m['l0'][0]), 1))} features active per input on average; "
            f"{int(m['dead'][0])} of {s.sae_size} features dead (active on no input)."
            f"{self._missed_text(best)}</p>")
        self.numbers = {"found": found, "names": k, "dims": dims, "overlap": overlap,
                        "names_per_input": names_per_input, "live": n_live,
                        "fvu": float(m["fvu"][0]), "l0": float(m["l0"][0]),
                        "dead": int(m["dead"][0])}
        self.compare.html = self._tradeoff_text() + self._units_text(f_share, alive)

    def _missed_text(self, best: np.ndarray) -> str:
        """The names no live feature matches, with how many inputs hold each
        (the rarest are the hardest to learn)."""
        d = self.data
        missed = [i for i, c in enumerate(best) if not c >= S.RECOVERED_COS]
        if not missed:
            return ""
        counts = d.contains.sum(axis=0)
        shown = [f"{esc(d.names[i])} (in {int(counts[i])} of {len(d.x):,} inputs)"
                 for i in missed[:MISSED_LISTED]]
        more = len(missed) - len(shown)
        return " Not found: " + ", ".join(shown) + (f" and {more} more." if more else ".")

    def _tradeoff_text(self) -> str:
        data = self.curve.data
        l0, fvu = np.array(data["l0"]), np.array(data["fvu"])
        listed = ", ".join(f"{x:g}" for x in SWEEP)
        if self.curve_step == 0:
            return (f"<p>The sweep: one SAE per penalty ({listed}), all from the same random "
                    "start. Untrained, they are that same start: one dot.</p>")
        head = (f"<p>The sweep (step {self.curve_step:,}): one SAE per penalty ({listed}), "
                "all from the same random start. ")
        worse = bool(np.all(np.diff(fvu) > 0))
        sparser = bool(np.all(np.diff(l0) < 0))
        text = (f"Penalty up, dot by dot: the error {'grows' if worse else 'does not always grow'}"
                f" ({pct(fvu[0], 1)} to {pct(fvu[-1], 1)} of the variance) and the active "
                f"features per input {'fall' if sparser else 'do not always fall'} "
                f"({num(l0[0], 1)} to {num(l0[-1], 1)}).")
        if worse and sparser:
            text += " That is the trade-off: a sparser code reconstructs less."
        return head + text + "</p>"

    def _units_text(self, f_share: np.ndarray, alive: np.ndarray) -> str:
        n_share = self.neuron_share
        fired = ~np.isnan(n_share)
        n_neurons = len(n_share)
        med_n, med_f = median_or_nan(n_share), median_or_nan(f_share[alive])
        hi_n = int(np.sum(n_share[fired] >= 0.9))
        live = f_share[alive]
        hi_f = int(np.sum(live >= 0.9))
        parts = [f"<p>On the same inputs, section 5's {n_neurons} neurons: "]
        if not fired.any():
            parts.append("none fires on any of them. ")
        else:
            parts.append(f"the median neuron does {strong(pct(med_n))} of its firing on inputs "
                         f"that hold its top name; {hi_n} of {int(fired.sum())} that fire do "
                         "at least 90%. ")
        if not len(live):
            parts.append("Your SAE has no live feature. ")
        else:
            parts.append(f"The {len(live)} live features of your SAE: median "
                         f"{strong(pct(med_f))}; {hi_f} of {len(live)} at least 90%. ")
        if fired.any() and len(live):
            if med_f > med_n + 0.05:
                parts.append("Here a feature is more about one name than a neuron is.")
            elif med_n > med_f + 0.05:
                parts.append("Here a neuron is more about one name than a feature is.")
            else:
                parts.append("Here features and neurons are about equally tied to one name.")
        mixed = self._most_mixed_neuron()
        if mixed:
            parts.append((" " if parts[-1].endswith(".") else "") + mixed)
        self.numbers.update({"neuron_median": med_n, "feature_median": med_f,
                             "neurons_90": hi_n, "features_90": hi_f})
        return "".join(parts) + "</p>"

    def _most_mixed_neuron(self) -> str:
        """The neuron least about one name, and its (up to) three strongest
        inputs."""
        share = self.neuron_share
        if not np.isfinite(share).any():
            return ""
        j = int(np.nanargmin(share))
        a = self.neuron_post[:, j]
        top = [int(i) for i in np.argsort(-a, kind="stable")[:3] if a[i] > 0]
        labels = [esc(self.data.labels[i]) for i in top]
        listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        acts = ", ".join(num(float(a[i])) for i in top)
        self.numbers["mixed"] = (j, top)
        return (f"The neuron least tied to one name, neuron {j} ({pct(float(share[j]))}), "
                f"fires most for {listed} (activation {acts}).")

    # -- state -------------------------------------------------------------------------------
    def _sync(self, *_events) -> None:
        self.size.value = self.state.sae_size
        self.l1.value = self.state.sae_l1

    def _refresh(self, *_events) -> None:
        """Another section's setting changed (and this section is on screen,
        or has just come back). Without the page, at once; in the page, a
        tick takes it up once the settings hold still (SETTLE_S), so a step
        of a slider elsewhere, or a foreseen one and its undo, costs nothing
        here."""
        if not self._seen_by_page:
            self._take_up(resume=True)
            return
        self._pending = True
        self._changed_at = time.perf_counter()
        if not self.loop.running:
            self.loop.start()

    def _take_up(self, resume: bool) -> bool:
        """Section 5's model for the state as it is now, if it is another;
        returns whether that brought new data (and new SAEs, which train
        if `resume` and the loop ran or the page shows the section)."""
        self._pending = False
        running = self.loop.running
        model = trained_model(self.state)
        fresh = model is not self.model and self._load(model)
        if fresh and resume:
            self._resume(running)
        return fresh

    def _on_size(self, *_events) -> None:
        running = self.loop.running
        self._pick_trainers(sweep=True)
        self._draw(sweep=True)
        self._resume(running)

    def _on_l1(self, *_events) -> None:
        running = self.loop.running
        self._pick_trainers(sweep=False)
        self._draw(sweep=False)
        self._resume(running)

    def _resume(self, running: bool) -> None:
        """After a change of settings: keep training if it was, or start if
        the page shows this section (a new setting asks to see its result)."""
        self._held = False
        if not self.finished and (running or (self._seen_by_page and self.on_screen)):
            if not self.loop.running:
                self.loop.start()
        elif self.finished and self.loop.running:
            self.loop.stop()

    def set_on_screen(self, flag: bool) -> None:
        """Train while the reader can see the section; pause when they cannot."""
        self._seen_by_page = True
        super().set_on_screen(flag)
        if flag and not self._held and not self.finished and not self.loop.running:
            self.loop.start()
        elif not flag and self.loop.running:
            self.loop.stop()

    # -- buttons ------------------------------------------------------------------------------
    def _tick(self) -> bool:
        if self._pending:
            if time.perf_counter() - self._changed_at < SETTLE_S:
                return False
            fresh = self._take_up(resume=True)
            # Nothing new and the reader had stopped: stop again.
            return self.finished or (self._held and not fresh)
        self.train_steps(TICK_BUDGET_S, curve_every=CURVE_EVERY_S)
        return self.finished

    def _on_train(self, _event=None) -> None:
        self.say()
        self._held = False
        if self.finished:  # again from the start, to watch it learn
            self._mines.clear()
            self._sweeps.clear()
            self._pick_trainers(sweep=True)
            self._draw(sweep=True)
        self.loop.start()

    def _on_stop(self, _event=None) -> None:
        self._held = True
        self.loop.stop()
        if self._pending:  # the figures must not stay on the old settings
            self._take_up(resume=False)

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "So far we could read the name directions off the embedding. In a real model "
            "nobody hands them to us: a model seems to represent more features than it has "
            "dimensions, each a direction that mixes many neurons (superposition), and a "
            "single neuron often responds to several unrelated things (it is polysemantic). "
            "A sparse autoencoder (SAE) is one tool researchers use to pull such features "
            "back out of a model's activations. It learns a dictionary of directions, "
            "usually more than there are dimensions, and rewrites each activation as a "
            "sum of a few of them: a penalty on the features' activations (L1) trades "
            "reconstruction error for sparsity.\n\n"
            "Here the SAE reads the vectors section 5's trained MLP reads, and since we "
            "built those vectors out of name directions, we can check what it found. "
            "Anthropic's \"Towards Monosemanticity\" (2023) trained SAEs on the MLP "
            "activations of a one-layer transformer and found thousands of features, most "
            "far easier to interpret than the neurons; later work scaled SAEs to "
            "production models with millions of features. That work also met real limits: "
            "splicing the reconstruction back into the model raises its loss noticeably, "
            "some features die or split into narrower ones, and which features appear "
            "depends on the dictionary size. The toy is the easy case: every input here is "
            "one or two known directions. In a real model nobody knows the true features "
            "to check an SAE against, or even whether such a list exists."
        )
        controls = [pn.Row(self.size, self.l1, sizing_mode="stretch_width"),
                    pn.Row(self.train, self.stop, styles=WRAP)]
        return self.layout(prose, controls, [
            self.answer, self.status,
            side_by_side(bokeh(self.tradeoff_fig), bokeh(self.units_fig)),
            self.compare,
            side_by_side(*(bokeh(f) for f in self.match_figs))])
