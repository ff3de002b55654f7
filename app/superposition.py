"""Section 7, superposition: pack N nearly perpendicular directions into d
dimensions, live, and look at the whole angle histogram, not only the
flattering 80–100° window.

Packing runs a few Adam steps per timer tick (toycore.superposition.Packer),
so it is stoppable and the page stays responsive. The lesson's full
10,000 × 100 run is far too slow for a page, so its shipped result
(`load_reference()`) is drawn next to the live one.
"""

from __future__ import annotations

import math
import time

import numpy as np
import panel as pn
from bokeh.models import BoxAnnotation, ColumnDataSource, Span

from app.common import (
    ACCENT,
    BAD,
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
    num,
    prose_css,
    side_by_side,
    strong,
)
from app.state import AppState
from toycore import superposition as sp

MAX_STEPS = 400
TICK_BUDGET_S = 0.08
PERIOD_MS = 80
FLOOR = 1e-7  # log axes cannot show 0: empty bins sit on this floor
FULL_EDGES = np.linspace(0.0, 180.0, 181)
WINDOW_EDGES = np.linspace(80.0, 100.0, 81)


def no_bars() -> dict[str, list]:
    """The "after packing" bars before any packing: one empty bar (zero width
    and height, off the drawn window), so the legend still shows its swatch."""
    return {"left": [0.0], "right": [0.0], "top": [FLOOR], "share": [0.0]}


def hist_data(counts: np.ndarray, edges: np.ndarray, pairs: int) -> dict[str, list]:
    """Share of all pairs per bin, floored for the log axis."""
    share = np.asarray(counts, dtype=float) / max(pairs, 1)
    return {"left": edges[:-1].tolist(), "right": edges[1:].tolist(),
            "top": np.maximum(share, FLOOR).tolist(), "share": share.tolist()}


def window_data(vectors: np.ndarray) -> dict[str, list]:
    counts, edges = sp.angle_histogram(vectors, bins=len(WINDOW_EDGES) - 1, range=(80.0, 100.0))
    n = vectors.shape[0]
    return hist_data(counts, edges, n * (n - 1) // 2)


def full_data(vectors: np.ndarray) -> dict[str, list]:
    counts, edges = sp.angle_histogram(vectors, bins=180, range=(0.0, 180.0))
    n = vectors.shape[0]
    return hist_data(counts, edges, n * (n - 1) // 2)


class SuperpositionSection(Section):
    """N and d sliders, Pack/Stop, live histograms and the shipped reference."""

    title = "7. Superposition: more directions than dimensions"
    key = "superposition"

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        # A step draws fresh vectors and stops packing: not foreseen (NOT_FORESEEN).
        self.n = pn.widgets.IntSlider(label="Vectors N", start=2, end=1000, step=1,
                                      value=state.sp_n, sizing_mode="stretch_width",
                                      css_classes=[NOT_FORESEEN])
        self.d = pn.widgets.IntSlider(label="Dimensions d", start=2, end=200, step=1,
                                      value=state.sp_d, sizing_mode="stretch_width",
                                      css_classes=[NOT_FORESEEN])
        self.pack = pn.widgets.Button(label="Pack", color="primary", width=120)
        self.stop = pn.widgets.Button(label="Stop", width=120, disabled=True)
        self.reset = pn.widgets.Button(label="New random vectors", color="light",
                                       width=180)
        self.status = LiveText(state, "wfl-superposition-status")
        self.reference_text = pn.pane.Markdown("", sizing_mode="stretch_width",
                                               css_classes=["wfl-superposition-reference"],
                                               stylesheets=prose_css(state))
        self.packer: sp.Packer | None = None
        self.loop = Loop(self.pack, self.stop, self._step, PERIOD_MS, self.say, "Packing")
        empty = {"left": [], "right": [], "top": [], "share": []}
        self.full = ColumnDataSource(dict(empty))
        self.full_before = ColumnDataSource(dict(empty))
        self.window = ColumnDataSource(dict(empty))
        self.window_before = ColumnDataSource(dict(empty))
        self.ref_before = ColumnDataSource(dict(empty))
        self.ref_after = ColumnDataSource(dict(empty))
        self.welch_lo = Span(location=90, dimension="height", line_color=BAD, line_width=2,
                             line_dash="dashed")
        self.welch_hi = Span(location=90, dimension="height", line_color=BAD, line_width=2,
                             line_dash="dashed")
        self._build_figures()
        self._new_packer()
        self._load_reference()

        w = self.guard
        self.n.param.watch(w(lambda e: setattr(state, "sp_n", int(e.new))), "value")
        self.d.param.watch(w(lambda e: setattr(state, "sp_d", int(e.new))), "value")
        self.pack.on_click(w(self._on_pack))
        self.stop.on_click(w(self._on_stop))
        self.reset.on_click(w(lambda _e: self._new_packer()))
        state.param.watch(w(self._new_packer), ["sp_n", "sp_d"])
        state.param.watch(w(self._sync), ["sp_n", "sp_d"])

    # -- figures ---------------------------------------------------------------------
    def _hist(self, title: str, x_range: tuple[float, float], log: bool,
              after: ColumnDataSource, before: ColumnDataSource, wl: Span | None = None,
              wh: Span | None = None):
        s = self.state
        kw = {"y_axis_type": "log", "y_range": (FLOOR * 5, 1.5)} if log else {}
        f = fig(s, height=300, x_range=x_range, title=title,
                x_axis_label="angle between a pair (degrees)",
                y_axis_label="share of all pairs" + (" (log)" if log else ""), **kw)
        f.add_layout(BoxAnnotation(left=89, right=91, fill_color=FIRE, fill_alpha=0.15))
        f.quad(left="left", right="right", top="top", bottom=FLOOR if log else 0,
               source=before, fill_color=QUIET, fill_alpha=0.45, line_color=None,
               legend_label="random start")
        f.quad(left="left", right="right", top="top", bottom=FLOOR if log else 0,
               source=after, fill_color=ACCENT, fill_alpha=0.7, line_color=None,
               legend_label="after packing")
        for span in (wl, wh):
            if span is not None:
                f.add_layout(span)
        # Bars fill the whole window plot, so the legend goes under the axis.
        leg = f.legend[0]
        leg.orientation = "horizontal"
        leg.location = "center"
        f.add_layout(leg, "below")
        legend_style(f, s)
        return f

    def _build_figures(self) -> None:
        self.full_fig = self._hist("All pairs, 0–180° (band: 89–91°, dashed: Welch bound)",
                                   (0, 180), True, self.full, self.full_before,
                                   self.welch_lo, self.welch_hi)
        self.window_fig = self._hist("The lesson's window, 80–100°", (80, 100), False,
                                     self.window, self.window_before)
        self.ref_fig = self._hist("The lesson's run: 10,000 vectors in 100 dimensions",
                                  (0, 180), True, self.ref_after, self.ref_before)

    # -- state ---------------------------------------------------------------------------
    def _sync(self, *_events) -> None:
        self.n.value = self.state.sp_n
        self.d.value = self.state.sp_d

    def _new_packer(self, *_events) -> None:
        self._on_stop()
        s = self.state
        self.packer = sp.Packer(s.sp_n, s.sp_d, tol=0.01, lr=0.01, seed=0)
        v0 = self.packer.initial_vectors
        self.full_before.data = full_data(v0)
        self.window_before.data = window_data(v0)
        self.full.data = no_bars()
        self.window.data = no_bars()
        dev = sp.welch_deviation_deg(s.sp_n, s.sp_d)
        self.welch_lo.location = 90 - dev
        self.welch_hi.location = 90 + dev
        self._describe(v0)
        self.say()

    def pack_steps(self, k: int = 50, budget: float = math.inf) -> None:
        """Up to k Adam steps (fewer if `budget` seconds run out), then redraw."""
        p = self.packer
        start = time.perf_counter()
        for _ in range(k):
            p.step(1)
            if time.perf_counter() - start > budget or p.steps_done >= MAX_STEPS:
                break
        v = p.vectors
        self.full.data = full_data(v)
        self.window.data = window_data(v)
        self._describe(v)

    def _describe(self, v: np.ndarray) -> None:
        s = self.state
        st = sp.pair_stats(v)
        wb = sp.welch_bound(s.sp_n, s.sp_d)
        cap = sp.max_vectors_within(s.sp_d, 89.0, 91.0)
        cap_text = "no limit from this bound" if math.isinf(cap) else f"at most {cap:,.0f}"
        steps = self.packer.steps_done if self.packer else 0
        self.status.html = (
            f"<p>Step {steps}: {strong(num(100 * st['fraction_in'], 1) + '%')} of the "
            f"{st['pairs']:,} pairs lie in 89–91°, {num(100 * st['fraction_in_wide'], 1)}% in "
            f"80–100°, {num(100 * st['near_parallel_fraction'], 2)}% within 10° of parallel. "
            f"RMS distance from 90°: {strong(num(st['rms_deviation_deg'], 1) + '°')}; RMS "
            f"|cos| {num(st['rms_cos'], 3)}, which the Welch bound says cannot go below "
            f"{strong(num(wb, 3))} for {s.sp_n:,} vectors in {s.sp_d} dimensions. All pairs "
            f"in 89–91° fit {cap_text} vectors in {s.sp_d} dimensions.</p>"
        )

    def _load_reference(self) -> None:
        try:
            ref = sp.load_reference()
        except Exception as err:  # noqa: BLE001 - a missing data file costs one figure only
            self.reference_text.object = f"The reference run could not be loaded ({err})."
            return
        pairs = int(ref["pairs"])
        self.ref_before.data = hist_data(np.array(ref["before"]["hist_0_180_1deg"]),
                                         FULL_EDGES, pairs)
        self.ref_after.data = hist_data(np.array(ref["after"]["hist_0_180_1deg"]),
                                        FULL_EDGES, pairs)
        b, a = ref["before"]["stats"], ref["after"]["stats"]
        n, d = ref["recipe"]["n"], ref["recipe"]["d"]
        self.reference_text.object = (
            f"The lesson's experiment, run once offline ({n:,} vectors, {d} dimensions, "
            f"{ref['recipe']['steps']} Adam steps): pairs in 89–91° went from "
            f"{num(100 * b['fraction_in'], 1)}% to **{num(100 * a['fraction_in'], 1)}%**, "
            f"but {num(100 * a['near_parallel_fraction'], 1)}% of pairs collapsed to within "
            f"10° of parallel and the RMS distance from 90° grew from "
            f"{num(b['rms_deviation_deg'], 1)}° to **{num(a['rms_deviation_deg'], 1)}°**. "
            f"The Welch bound, {num(sp.welch_bound(n, d), 4)} "
            f"({num(sp.welch_deviation_deg(n, d), 1)}°), is why: the average cannot shrink, "
            f"so squeezing most pairs toward 90° pushes a few far away."
        )

    # -- buttons ---------------------------------------------------------------------------
    def _step(self) -> bool:
        self.pack_steps(50, TICK_BUDGET_S)
        return self.packer.steps_done >= MAX_STEPS

    def _on_pack(self, _event=None) -> None:
        self.say()
        self.loop.start()

    def _on_stop(self, _event=None) -> None:
        self.loop.stop()

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "In d dimensions only d directions can be exactly perpendicular, but many more "
            "can be *nearly* perpendicular. Press Pack to nudge N random directions apart "
            "with gradient descent. The shaded band is 89–91°. The left plot shows every "
            "pair on a log scale, including the few the optimiser pushes toward 0° or 180°; "
            "the right plot is the 80–100° window the lesson showed."
        )
        controls = [pn.Row(self.n, self.d, sizing_mode="stretch_width"),
                    pn.Row(self.pack, self.stop, self.reset, styles=WRAP)]
        return self.layout(prose, controls, [
            self.status,
            side_by_side(bokeh(self.full_fig), bokeh(self.window_fig)),
            self.reference_text, bokeh(self.ref_fig)])
