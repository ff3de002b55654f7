"""Section 7, superposition: pack N nearly perpendicular directions into d
dimensions, live, and read the result two ways: per pair (the whole angle
histogram, not only the flattering 80–100° window) and per vector (how many
vectors have a near-copy, and how many distinct directions are left).

Then the two bounds that frame it: the Welch bound, a floor under the RMS
|cos| over all pairs that random directions already sit on, and the positive
half, how many directions fit with every pair within 90° ± ε (exponentially
many in d; GPT-3's 12,288 dimensions marked).

Packing runs a few Adam steps per timer tick (toycore.superposition.Packer),
so it is stoppable and the page stays responsive; each tick redraws from one
pass over the Gram matrix (toycore.superposition.survey). The lesson's full
10,000 × 100 run is far too slow for a page, so its shipped result
(`load_reference()`) is drawn next to the live one.
"""

from __future__ import annotations

import math
import time

import numpy as np
import panel as pn
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    Label,
    NumeralTickFormatter,
    Range1d,
    Span,
)

from app.common import (
    ACCENT,
    BAD,
    FIRE,
    QUIET,
    WRAP,
    LiveText,
    Loop,
    Section,
    bokeh,
    fig,
    legend_style,
    num,
    page_bg,
    pct,
    prose_css,
    side_by_side,
    slider,
    strong,
    text_color,
    update,
)
from app.state import AppState
from toycore import superposition as sp

MAX_STEPS = 400
TICK_BUDGET_S = 0.08
PERIOD_MS = 80
FLOOR = 1e-7  # log axes cannot show 0: empty bins sit on this floor
TOL, LR = 0.01, 0.01  # the lesson's loss threshold and learning rate
WITHIN = 10.0  # degrees from one line (parallel or antiparallel) that make a near-copy
FULL = (0.0, 180.0, 180)
WINDOW = (80.0, 100.0, 80)
NEAREST_BINS = 90  # 1° bins over 0..90
GPT3_D = 12_288  # GPT-3's residual stream
LESSON_D = 100
CAP_D_END = 16_384
CAP_POINTS = 64


def edges(lo: float, hi: float, bins: int) -> np.ndarray:
    return np.linspace(lo, hi, bins + 1)


def no_bars() -> dict[str, list]:
    """The "after packing" bars before any packing: one empty bar (zero width
    and height, off the drawn window), so the legend still shows its swatch."""
    return {"left": [0.0], "right": [0.0], "top": [FLOOR], "share": [0.0]}


def hist_data(counts: np.ndarray, bin_edges: np.ndarray, total: int) -> dict[str, list]:
    """Share of all pairs (or vectors) per bin, floored for the log axis."""
    share = np.asarray(counts, dtype=float) / max(total, 1)
    return {"left": bin_edges[:-1].tolist(), "right": bin_edges[1:].tolist(),
            "top": np.maximum(share, FLOOR).tolist(), "share": share.tolist()}


def big_count(log10: float) -> tuple[str, str]:
    """A count known as a lower bound, from its log10, rounded down: text and HTML.

    '4,400' below a million, else '1.3 × 10^10' (HTML: a superscript).
    Rounded down so the page never claims more than is guaranteed."""
    if not math.isfinite(log10):
        raise ValueError(f"need a finite log10, got {log10}")
    if log10 < 6:
        n = math.floor(10.0 ** log10 * (1 + 1e-12))  # 10**log10(d) may land just below d
        return f"{n:,}", f"{n:,}"
    exp = math.floor(log10)
    mant = math.floor(10.0 ** (log10 - exp) * 10 + 1e-9) / 10
    return f"{mant:.1f} × 10^{exp}", f"{mant:.1f} × 10<sup>{exp}</sup>"


def down(x: float, digits: int) -> str:
    """x rounded down, so "0.999 < 1" and "1.0 ≥ 1" stay true next to a bound."""
    scale = 10 ** digits
    return f"{math.floor(x * scale) / scale:.{digits}f}"


def up(x: float, digits: int) -> str:
    """x rounded up, for "at most" and "within" (a limit is never understated)."""
    scale = 10 ** digits
    return f"{math.ceil(x * scale - 1e-9) / scale:.{digits}f}"


def capacity_data(eps_deg: float) -> dict[str, dict[str, list]]:
    """The capacity chart's lines for a window of 90° ± eps_deg (from toycore)."""
    dims = np.unique(np.round(np.geomspace(1, CAP_D_END, CAP_POINTS)))
    # The two dimensions the sentences quote are points of the lines too.
    dims = np.union1d(dims, np.linspace(1, CAP_D_END, CAP_POINTS).round())
    dims = np.union1d(dims, [LESSON_D, GPT3_D])
    b = sp.capacity_bounds(dims, eps_deg)
    lines = {"d": b["d"].tolist(), "jl": (10.0 ** b["log10_jl"]).tolist(),
             "perpendicular": b["perpendicular"].tolist()}
    # The Welch limit holds only while d eps^2 < 1; drawn up to there, with
    # the last dimension where it holds so the line runs to its asymptote.
    last = math.floor((1.0 - 1e-12) / float(b["eps_cos"]) ** 2)
    wd = np.union1d(dims[dims <= last], [min(last, CAP_D_END)])
    if GPT3_D <= last:
        wd = np.union1d(wd, [GPT3_D])  # the sentence quotes this point
    w = sp.capacity_bounds(wd, eps_deg)["upper"]
    welch = {"d": wd[np.isfinite(w)].tolist(), "upper": w[np.isfinite(w)].tolist()}
    g = sp.capacity_bounds([GPT3_D], eps_deg)
    gpt3 = {"d": [float(GPT3_D)], "lower": [10.0 ** float(g["log10_lower"][0])]}
    return {"lines": lines, "welch": welch, "gpt3": gpt3}


class SuperpositionSection(Section):
    """N and d sliders, Pack/Stop, live histograms per pair and per vector, the
    RMS |cos| against the Welch floor, the shipped reference, the capacity chart."""

    key = "superposition"
    # N and d draw fresh vectors (`_new_packer`), not a redraw.
    depends_on = ("sp_eps",)

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        # Not foreseen: a step of N or d draws fresh vectors and stops packing.
        self.n = slider(state, "sp_n", "Vectors N")
        self.d = slider(state, "sp_d", "Dimensions d")
        self.eps = slider(state, "sp_eps", "Window around 90° (± degrees)", foreseen=True)
        self.pack = pn.widgets.Button(label="Pack", color="primary", width=120)
        self.stop = pn.widgets.Button(label="Stop", width=120, disabled=True)
        self.reset = pn.widgets.Button(label="New random vectors", color="light",
                                       width=180)
        self.status = LiveText(state, "wfl-superposition-status")
        self.floor_text = LiveText(state, "wfl-superposition-floor")
        self.cap_text = LiveText(state, "wfl-superposition-capacity")
        self.reference_text = pn.pane.Markdown("", sizing_mode="stretch_width",
                                               css_classes=["wfl-superposition-reference"],
                                               stylesheets=prose_css(state))
        self.packer: sp.Packer | None = None
        self.start: dict | None = None  # the survey of the random start
        self.current: dict | None = None  # the survey the figures show
        self.loop = Loop(self.pack, self.stop, self._step, PERIOD_MS, self.say, "Packing")

        def quads() -> ColumnDataSource:
            return ColumnDataSource({"left": [], "right": [], "top": [], "share": []})

        self.full, self.full_before = quads(), quads()
        self.window, self.window_before = quads(), quads()
        self.nearest, self.nearest_before = quads(), quads()
        self.ref_before, self.ref_after = quads(), quads()
        self.ref_near_before, self.ref_near_after = quads(), quads()
        self.rms = ColumnDataSource({"step": [], "rms": []})
        self.rms_lines = ColumnDataSource({"step": [], "floor": [], "random": []})
        self.cap_lines = ColumnDataSource({"d": [], "jl": [], "perpendicular": []})
        self.cap_welch = ColumnDataSource({"d": [], "upper": []})
        self.cap_gpt3 = ColumnDataSource({"d": [], "lower": []})
        self._build_figures()
        self._new_packer()
        self._load_reference()
        self._draw_capacity()

        w = self.guard
        self.n.param.watch(w(lambda e: setattr(state, "sp_n", int(e.new))), "value")
        self.d.param.watch(w(lambda e: setattr(state, "sp_d", int(e.new))), "value")
        self.eps.param.watch(w(lambda e: setattr(state, "sp_eps", float(e.new))), "value")
        self.pack.on_click(w(self._on_pack))
        self.stop.on_click(w(self._on_stop))
        self.reset.on_click(w(lambda _e: self._new_packer()))
        state.param.watch(w(self._new_packer), ["sp_n", "sp_d"])
        state.param.watch(w(self._sync), ["sp_n", "sp_d", "sp_eps"])
        self.watch_refresh()

    # -- figures ---------------------------------------------------------------------
    def _hist(self, title: str, x_range: tuple[float, float], log: bool,
              after: ColumnDataSource, before: ColumnDataSource, x_label: str,
              y_label: str, bands: tuple[tuple[float, float, str], ...]):
        s = self.state
        kw = {"y_axis_type": "log", "y_range": (FLOOR * 5, 1.5)} if log else {}
        f = fig(s, height=300, x_range=x_range, title=title, x_axis_label=x_label,
                y_axis_label=y_label + (" (log)" if log else ""), **kw)
        for left, right, color in bands:
            f.add_layout(BoxAnnotation(left=left, right=right, fill_color=color,
                                       fill_alpha=0.15))
        f.quad(left="left", right="right", top="top", bottom=FLOOR if log else 0,
               source=before, fill_color=QUIET, fill_alpha=0.45, line_color=None,
               legend_label="random start")
        f.quad(left="left", right="right", top="top", bottom=FLOOR if log else 0,
               source=after, fill_color=ACCENT, fill_alpha=0.7, line_color=None,
               legend_label="after packing")
        self._legend_below(f)
        return f

    def _legend_below(self, f) -> None:
        # Bars and lines fill the plots, so legends go under the axis.
        leg = f.legend[0]
        leg.orientation = "horizontal"
        leg.location = "center"
        f.add_layout(leg, "below")
        legend_style(f, self.state)

    def _build_figures(self) -> None:
        pair_axis, share_pairs = "angle between a pair (degrees)", "share of all pairs"
        near = ((0.0, WITHIN, BAD), (180.0 - WITHIN, 180.0, BAD))
        band = ((89.0, 91.0, FIRE),)
        self.full_fig = self._hist("Every pair, 0–180° (band 89–91°; red: within 10° of "
                                   "parallel or antiparallel)", (0, 180), True, self.full,
                                   self.full_before, pair_axis, share_pairs, band + near)
        self.window_fig = self._hist("The lesson's window, 80–100°", (80, 100), False,
                                     self.window, self.window_before, pair_axis,
                                     share_pairs, band)
        # Two lines: on one, a 1024 px projector in presenter mode cut it off.
        vec_axis = "angle to its closest\npartner's line (degrees)"
        self.nearest_fig = self._hist("Each vector's closest partner (red: a near-copy, "
                                      "within 10°)", (0, 90), False, self.nearest,
                                      self.nearest_before, vec_axis, "share of vectors",
                                      ((0.0, WITHIN, BAD),))
        self.ref_fig = self._hist("The lesson's run, every pair: 10,000 vectors in 100 "
                                  "dimensions", (0, 180), True, self.ref_after,
                                  self.ref_before, pair_axis, share_pairs, band + near)
        self.ref_near_fig = self._hist("The lesson's run, each vector's closest partner",
                                       (0, 90), False, self.ref_near_after,
                                       self.ref_near_before, vec_axis, "share of vectors",
                                       ((0.0, WITHIN, BAD),))
        self.rms_fig = self._rms_figure()
        self.cap_fig = self._capacity_figure()

    def _rms_figure(self):
        s = self.state
        f = fig(s, height=300, x_range=(0, MAX_STEPS), y_range=Range1d(0, 1),
                title="RMS |cos| over all pairs while packing",
                x_axis_label="Adam step", y_axis_label="RMS |cos|")
        f.line("step", "random", source=self.rms_lines, color=QUIET, line_width=3,
               line_dash="dotted", legend_label="random directions: 1/√d")
        f.line("step", "floor", source=self.rms_lines, color=BAD, line_width=3,
               line_dash="dashed", legend_label="Welch floor")
        f.line("step", "rms", source=self.rms, color=ACCENT, line_width=3,
               legend_label="these vectors")
        # Dots as well: before packing there is one point, and a line
        # through one point draws nothing.
        f.scatter("step", "rms", source=self.rms, color=ACCENT, size=5)
        self._legend_below(f)
        f.legend[0].orientation = "vertical"  # in a row, a phone cut the third entry off
        return f

    def _capacity_figure(self):
        s = self.state
        f = fig(s, height=340, x_range=(0, CAP_D_END), y_range=Range1d(1, 1e6),
                y_axis_type="log", title="How many directions fit with every pair in "
                "90° ± ε", x_axis_label="dimensions d",
                y_axis_label="directions (log)")
        f.line("d", "perpendicular", source=self.cap_lines, color=QUIET, line_width=3,
               line_dash="dashed", legend_label="d: exactly perpendicular")
        f.line("d", "jl", source=self.cap_lines, color=FIRE, line_width=3,
               legend_label="at least exp(ε²d/4): a random choice")
        f.line("d", "upper", source=self.cap_welch, color=ACCENT, line_width=3,
               legend_label="at most (Welch, where d·ε² < 1)")
        f.add_layout(Span(location=GPT3_D, dimension="height", line_color=text_color(s),
                          line_width=1, line_dash="dotted"))
        f.scatter("d", "lower", source=self.cap_gpt3, color=FIRE, size=10)
        f.add_layout(Label(x=GPT3_D, y=0, x_units="data", y_units="screen",
                           text="GPT-3: 12,288", text_align="right", x_offset=-4,
                           y_offset=4, text_color=text_color(s),
                           text_font_size="15pt" if s.presenter else "10pt",
                           background_fill_color=page_bg(s), background_fill_alpha=0.8))
        f.xaxis.ticker = [0, 4096, 8192, GPT3_D, CAP_D_END]
        f.xaxis.formatter = NumeralTickFormatter(format="0,0")
        self._legend_below(f)
        f.legend[0].orientation = "vertical"
        return f

    # -- state ---------------------------------------------------------------------------
    def _sync(self, *_events) -> None:
        self.n.value = self.state.sp_n
        self.d.value = self.state.sp_d
        self.eps.value = self.state.sp_eps

    def _refresh(self, *_events) -> None:
        self._draw_capacity()

    def _new_packer(self, *_events) -> None:
        self._on_stop()
        s = self.state
        self.packer = sp.Packer(s.sp_n, s.sp_d, tol=TOL, lr=LR, seed=0)
        self.start = self._survey(self.packer.initial_vectors)
        update(self.full_before, self._pairs_hist(self.start, 0, FULL))
        update(self.window_before, self._pairs_hist(self.start, 1, WINDOW))
        update(self.nearest_before, self._nearest_hist(self.start))
        for src in (self.full, self.window, self.nearest):
            update(src, no_bars())
        self.rms.data = {"step": [], "rms": []}
        self._draw(self.start)
        self.say()

    def _survey(self, v: np.ndarray) -> dict:
        return sp.survey(v, windows=(FULL, WINDOW), nearest_bins=NEAREST_BINS, within=WITHIN)

    @staticmethod
    def _pairs_hist(sv: dict, i: int, window: tuple[float, float, int]) -> dict[str, list]:
        return hist_data(sv["hist"][i], edges(*window), sv["pair_stats"]["pairs"])

    @staticmethod
    def _nearest_hist(sv: dict) -> dict[str, list]:
        return hist_data(sv["nearest_hist"], edges(0.0, 90.0, NEAREST_BINS),
                         sv["vector_stats"]["vectors"])

    def pack_steps(self, k: int = 50, budget: float = math.inf) -> None:
        """Up to k Adam steps (fewer if `budget` seconds run out), then redraw."""
        p = self.packer
        start = time.perf_counter()
        for _ in range(k):
            p.step(1)
            if time.perf_counter() - start > budget or p.steps_done >= MAX_STEPS:
                break
        sv = self._survey(p.vectors)
        update(self.full, self._pairs_hist(sv, 0, FULL))
        update(self.window, self._pairs_hist(sv, 1, WINDOW))
        update(self.nearest, self._nearest_hist(sv))
        self._draw(sv)

    def _draw(self, sv: dict) -> None:
        """The RMS chart and the sentences for the survey `sv` at the packer's step."""
        s = self.state
        self.current = sv
        step = self.packer.steps_done
        rms = sv["pair_stats"]["rms_cos"]
        self.rms.stream({"step": [step], "rms": [rms]})
        floor, random = sp.welch_bound(s.sp_n, s.sp_d), sp.random_rms_cos(s.sp_d)
        update(self.rms_lines, {"step": [0, MAX_STEPS], "floor": [floor, floor],
                                "random": [random, random]})
        top = max([random, *self.rms.data["rms"]])
        self.rms_fig.y_range.end = 1.15 * top
        self.status.html = self.status_html(sv)
        self.floor_text.html = self.floor_html(sv)

    # -- sentences ---------------------------------------------------------------------------
    def status_html(self, sv: dict) -> str:
        """What the live figures show, per pair and per vector."""
        s, st, vs = self.state, sv["pair_stats"], sv["vector_stats"]
        n, d, step = s.sp_n, s.sp_d, self.packer.steps_done
        k = vs["directions"]
        if step == 0:
            head = f"Random start, {n:,} directions in {d} dimensions."
            was = {}
        else:
            head = f"Step {step} of packing {n:,} directions in {d} dimensions."
            a, b = self.start["pair_stats"], self.start["vector_stats"]
            was = {"in": pct(a["fraction_in"], 1), "par": pct(a["near_parallel_fraction"], 2),
                   "vec": pct(b["with_partner_fraction"], 1), "k": f"{b['directions']:,}"}

        def then(key: str) -> str:
            return f" (at the start {was[key]})" if was else ""

        pairs = (
            f"<strong>Per pair:</strong> {strong(pct(st['fraction_in'], 1))} of the "
            f"{st['pairs']:,} pairs lie in 89–91°{then('in')} and "
            f"{pct(st['fraction_in_wide'], 1)} in 80–100°; "
            f"{pct(st['near_parallel_fraction'], 2)} lie within 10° of parallel or "
            f"antiparallel{then('par')}."
        )
        copies = n - k
        vectors = (
            f"<strong>Per vector:</strong> {strong(pct(vs['with_partner_fraction'], 1))} of the "
            f"{n:,} vectors have a near-copy, a partner within 10° of their line"
            f"{then('vec')}, and grouping near-copies leaves {strong(f'{k:,}')} distinct "
            f"directions{then('k')}"
            + (f"; the largest group holds {vs['largest_group']:,}." if copies else ".")
        )
        if step and copies:
            vectors += (f" {copies:,} of the {n:,} vectors add no direction of their own: "
                        "they lie within 10° of an earlier vector's line.")
        cap = sp.max_vectors_within(d, 89.0, 91.0)
        if n <= d:
            limit = f"With N ≤ d, all {n:,} can be exactly perpendicular."
        else:
            limit = (f"The Welch bound allows at most {cap:,.0f} vectors in {d} dimensions "
                     "with every pair in 89–91°, ")
            limit += ("so it does not rule out " + f"{n:,}." if n <= cap
                      else f"so {n:,} cannot all be: some pairs must fall outside.")
        return f"<p>{head} {pairs}</p><p>{vectors} {limit}</p>"

    def floor_html(self, sv: dict) -> str:
        """The Welch bound as what it is: a floor under the RMS |cos|."""
        s = self.state
        n, d, step = s.sp_n, s.sp_d, self.packer.steps_done
        floor, random = sp.welch_bound(n, d), sp.random_rms_cos(d)
        rms0 = self.start["pair_stats"]["rms_cos"]
        rms = sv["pair_stats"]["rms_cos"]
        now = f"At step {step} the RMS |cos| is {strong(num(rms, 4))}."
        start = (f"Random directions average 1/√d = {num(random, 4)} (this draw "
                 f"{num(rms0, 4)})")
        if n <= d:
            return (f"<p>With N ≤ d the Welch floor is 0: {n:,} directions can be exactly "
                    f"perpendicular, so nothing stops packing from bringing every pair close "
                    f"to 90°. {start}. {now}</p>")
        room = max(0.0, 1.0 - floor / rms0)
        text = (f"<p>The dashed line is the Welch bound, a floor under the average and not a "
                f"limit on any one pair: however {n:,} unit vectors sit in {d} dimensions, the "
                f"root-mean-square |cos| over all their pairs is at least "
                f"√((N−d)/(d(N−1))) = {strong(down(floor, 4))}. ")
        if room < 0.05:
            text += (f"{start}: already within {up(100 * room, 1)}% of it, so packing can "
                     "lower the average by that much at most. Whatever it gains beyond that on "
                     "most pairs, it must lose on others. ")
        else:
            text += (f"{start}: packing can lower the average by up to {up(100 * room, 1)}%, "
                     "no further. ")
        return text + now + "</p>"

    def capacity_html(self) -> str:
        """The capacity chart in words, for the state's window."""
        eps_deg = self.state.sp_eps
        at = sp.capacity_bounds([LESSON_D, GPT3_D], eps_deg)
        eps = float(at["eps_cos"])
        lo100, lo = (big_count(float(x))[1] for x in at["log10_lower"])
        jl = float(at["log10_jl"][1])
        text = (f"<p>Window 90° ± {num(eps_deg, 1)}°, every |cos| at most {up(eps, 4)}. "
                f"In GPT-3's {GPT3_D:,} dimensions at least <strong>{lo}</strong> directions "
                "fit")
        if jl > math.log10(GPT3_D):
            text += (", guaranteed by a random choice, against "
                     f"{GPT3_D:,} exactly perpendicular ones.")
        else:
            emin = math.degrees(math.asin(min(1.0, sp.jl_min_eps(GPT3_D, GPT3_D))))
            text += (f": the perpendicular ones. A random choice guarantees only "
                     f"{big_count(jl)[1]} in so narrow a window; it passes {GPT3_D:,} from "
                     f"about ± {num(emin, 1)}° up.")
        most = at["upper"]
        if math.isfinite(most[1]):
            text += (f" At most {most[1]:,.0f} fit there (the Welch bound, since "
                     f"d·ε² = {down(GPT3_D * eps * eps, 3)} &lt; 1).")
        else:
            text += (f" The Welch bound sets no upper limit there (d·ε² = "
                     f"{down(GPT3_D * eps * eps, 1)} ≥ 1).")
        text += f" In the lesson's {LESSON_D} dimensions: at least {lo100}"
        text += (f", at most {most[0]:,.0f}." if math.isfinite(most[0])
                 else "; the Welch bound sets no upper limit.")
        return text + "</p>"

    def _draw_capacity(self) -> None:
        data = capacity_data(self.state.sp_eps)
        update(self.cap_lines, data["lines"])
        update(self.cap_welch, data["welch"])
        update(self.cap_gpt3, data["gpt3"])
        top = max(math.log10(max(data["lines"]["jl"])), math.log10(CAP_D_END))
        self.cap_fig.y_range.end = 10.0 ** max(6, math.ceil(top) + 1)
        self.cap_text.html = self.capacity_html()

    def _load_reference(self) -> None:
        try:
            self._draw_reference(sp.load_reference())
        except Exception as err:  # noqa: BLE001 - a missing or old data file costs one row only
            self.reference_text.object = f"The reference run could not be loaded ({err!r})."

    def _draw_reference(self, ref: dict) -> None:
        pairs, n = int(ref["pairs"]), int(ref["recipe"]["n"])
        full = edges(*FULL)
        near = edges(0.0, 90.0, NEAREST_BINS)
        b, a = ref["before"], ref["after"]
        text = reference_markdown(ref)  # first: it reads every figure the text needs
        update(self.ref_before, hist_data(np.array(b["hist_0_180_1deg"]), full, pairs))
        update(self.ref_after, hist_data(np.array(a["hist_0_180_1deg"]), full, pairs))
        update(self.ref_near_before, hist_data(np.array(b["hist_nearest_0_90_1deg"]), near, n))
        update(self.ref_near_after, hist_data(np.array(a["hist_nearest_0_90_1deg"]), near, n))
        self.reference_text.object = text

    # -- buttons ---------------------------------------------------------------------------
    def _step(self) -> bool:
        self.pack_steps(50, TICK_BUDGET_S)
        return self.packer.steps_done >= MAX_STEPS

    def _on_pack(self, _event=None) -> None:
        self.say()
        if self.packer.steps_done >= MAX_STEPS:
            self._new_packer()
        self.loop.start()

    def _on_stop(self, _event=None) -> None:
        self.loop.stop()

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "In d dimensions at most d directions can be exactly perpendicular, but many "
            "more can be *nearly* perpendicular. Press Pack to nudge N random directions "
            f"apart with gradient descent (Adam on the lesson's loss: every pair with |cos| "
            f"above {TOL} is pushed apart; up to {MAX_STEPS} steps). Then read the result two "
            "ways. **Per pair**: how many pairs lie near 90° (shaded band 89–91°), over every "
            "angle on a log scale and in the 80–100° window the lesson showed. **Per "
            "vector**: how close each vector's nearest partner comes to its own line. A "
            "partner within 10° of it, pointing either way, is a *near-copy*; grouping "
            "near-copies counts the distinct directions left (greedy, in order: the first "
            "vector not yet grouped takes every ungrouped vector within 10° of its line)."
        )
        cap_prose = pn.pane.Markdown(
            "**The other half: room grows exponentially.** Ask how many directions fit with "
            "*every* pair within 90° ± ε. Exactly perpendicular, d. Nearly perpendicular, "
            "exponentially many in d (the Johnson–Lindenstrauss phenomenon). The chart draws "
            "a count that is guaranteed, exp(ε²d/4), with ε the |cos| the window allows: "
            "that many random directions have on average fewer than one pair outside the "
            "window, so some choice of them has none. It is a pessimistic lower bound (its "
            "1/4 comes from a crude count over all pairs), not the most that fit. Where "
            "d·ε² < 1 the Welch bound also caps the count from above.\n\n"
            "What this means for real models, with care: GPT-3's residual stream has 12,288 "
            "dimensions, and for a window of a few degrees geometry leaves room for far more "
            "than 12,288 nearly perpendicular directions. That room is what lets a model "
            "represent more features than it has dimensions (superposition). Room is not "
            "use: geometry does not say how many features a model stores or how cleanly. "
            "Anthropic's toy models (2022) put features in superposition when they are "
            "sparse, at the price of interference between them; the packing above shows "
            "how badly that price can be paid when directions are forced.",
            sizing_mode="stretch_width", css_classes=["wfl-superposition-capacity-prose"],
            stylesheets=prose_css(self.state), visible=self.state.prose)
        controls = [pn.Row(self.n, self.d, sizing_mode="stretch_width"),
                    pn.Row(self.pack, self.stop, self.reset, styles=WRAP)]
        eps_row = pn.Row(self.eps, sizing_mode="stretch_width", visible=self.state.controls,
                         css_classes=["wfl-controls"])
        return self.layout(prose, controls, [
            self.status,
            side_by_side(bokeh(self.full_fig), bokeh(self.window_fig)),
            side_by_side(bokeh(self.nearest_fig), bokeh(self.rms_fig)),
            self.floor_text,
            self.reference_text,
            side_by_side(bokeh(self.ref_fig), bokeh(self.ref_near_fig)),
            cap_prose, eps_row, self.cap_text, bokeh(self.cap_fig)])


def reference_markdown(ref: dict) -> str:
    """The shipped 10,000 × 100 run in words, every number from the data file."""
    r = ref["recipe"]
    n, d = int(r["n"]), int(r["d"])
    b, a = ref["before"], ref["after"]
    bs, as_ = b["stats"], a["stats"]
    bv, av = b["vector_stats"], a["vector_stats"]
    floor = sp.welch_bound(n, d)
    per_vector = 2 * as_["near_parallel_fraction"] * ref["pairs"] / n
    start_gap = bs["rms_cos"] / floor - 1
    text = (
        f"**The lesson's run, {n:,} directions in {d} dimensions**, computed once offline "
        f"({r['steps']} Adam steps at lr {r['lr']}, every pair with |cos| above {r['tol']} "
        f"penalised, the lesson's code). Per pair it looks like a success: pairs in 89–91° "
        f"went from {pct(bs['fraction_in'], 1)} to **{pct(as_['fraction_in'], 1)}**. Per vector "
        f"it is a collapse: the {pct(as_['near_parallel_fraction'], 1)} of pairs that ended "
        f"within 10° of parallel or antiparallel come to {per_vector:,.0f} near-copies per "
        f"vector on average, and **{pct(av['with_partner_fraction'], 1)}** of the vectors have "
        f"at least one (at the start {pct(bv['with_partner_fraction'], 1)}). Grouping "
        f"near-copies leaves **{av['directions']:,}** distinct directions of the {n:,} "
        f"(at the start {bv['directions']:,}); the largest group holds "
        f"{av['largest_group']:,} vectors. The RMS |cos| over all pairs went from "
        f"{num(bs['rms_cos'], 4)}, {pct(start_gap, 1)} above the Welch floor of "
        f"{num(floor, 4)}, to {num(as_['rms_cos'], 4)}; the RMS distance from 90° from "
        f"{num(bs['rms_deviation_deg'], 1)}° to **{num(as_['rms_deviation_deg'], 1)}°**."
    )
    for var in ref.get("variants", []):
        if var.get("unit") == "renormalise":
            vv = var["after"]["vector_stats"]
            text += (
                f" Rescaled to unit length after every step instead (as the live packing "
                f"above), the same run ends with {pct(var['after']['stats']['fraction_in'], 1)} "
                f"of pairs in 89–91°, {pct(vv['with_partner_fraction'], 1)} of vectors with a "
                f"near-copy and {vv['directions']:,} directions."
            )
    return text
