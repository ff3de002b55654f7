"""Section 7's sentences, checked in many states against the figures' data and
against an independent recomputation from the vectors (numpy in float64 and
plain loops, not toycore's code).

Each sentence is matched by a pattern; whatever a pattern does not match is
an unchecked sentence and fails the test. The states: the sliders at their
ends, N < d, N = d, N > d, before and after some packing, packing to the end,
and the capacity window at its ends and where its sentences change form."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from app.state import AppState
from app.superposition import GPT3_D, MAX_STEPS, SuperpositionSection
from toycore import superposition as sp

NUM = r"([\d,]+(?:\.\d+)?)"


def value(text: str) -> float:
    return float(text.replace(",", ""))


class Claims:
    """Match sentence patterns against a text; every character must be claimed."""

    def __init__(self, text: str) -> None:
        self.text = " ".join(text.split())
        self.left = self.text

    def take(self, pattern: str) -> re.Match | None:
        m = re.search(pattern, self.left)
        if m:
            self.left = self.left[:m.start()] + " " + self.left[m.end():]
        return m

    def must(self, pattern: str) -> re.Match:
        m = self.take(pattern)
        assert m, f"no sentence matches {pattern!r} in {self.text!r}"
        return m

    def done(self) -> None:
        assert not self.left.strip(), f"unchecked text: {self.left.strip()!r}"


# -- the truth, recomputed from the vectors -------------------------------------------
class Truth:
    """Per-pair and per-vector facts of a set of vectors, from scratch."""

    def __init__(self, vectors: np.ndarray, within: float = 10.0) -> None:
        u = np.asarray(vectors, dtype=np.float64)
        u = u / np.linalg.norm(u, axis=1, keepdims=True)
        n = len(u)
        cos = np.clip(u @ u.T, -1.0, 1.0)
        ang = np.degrees(np.arccos(cos))
        iu = np.triu_indices(n, 1)
        a = ang[iu]
        self.n, self.pairs = n, a.size
        self.fraction_in = float(np.mean((a >= 89) & (a <= 91)))
        self.fraction_wide = float(np.mean((a >= 80) & (a <= 100)))
        self.near_pairs = float(np.mean((a < within) | (a > 180 - within)))
        self.rms_cos = float(np.sqrt(np.mean(cos[iu] ** 2)))
        near = (ang < within) | (ang > 180 - within)
        np.fill_diagonal(near, False)
        self.with_partner = float(np.mean(near.any(axis=1)))
        line = np.degrees(np.arccos(np.abs(cos)))
        np.fill_diagonal(line, 180.0)
        self.nearest_deg = line.min(axis=1)
        # Greedy in index order, one vector at a time.
        leader = [-1] * n
        for i in range(n):
            if leader[i] < 0:
                leader[i] = i
                for j in np.flatnonzero(near[i]):
                    if leader[j] < 0:
                        leader[j] = i
        self.leader = np.array(leader)
        self.directions = len(set(leader))
        self.largest = int(np.bincount(self.leader).max())
        self.line = line


def share(src, lo: float, hi: float) -> float:
    """Share a histogram source puts in bins wholly inside [lo, hi]."""
    d = src.data
    return sum(s for left, right, s in zip(d["left"], d["right"], d["share"], strict=True)
               if left >= lo - 1e-9 and right <= hi + 1e-9)


def close_pct(shown: str, x: float, digits: int) -> None:
    assert abs(value(shown) - 100 * x) <= 0.5 * 10 ** -digits + 1e-9, (shown, 100 * x)


# -- the live packing: status and floor sentences ------------------------------------------
def check_status(sec: SuperpositionSection, t: Truth, t0: Truth) -> None:
    s, step = sec.state, sec.packer.steps_done
    n, d = s.sp_n, s.sp_d
    c = Claims(sec.status.text)
    if step == 0:
        m = c.must(r"Random start, ([\d,]+) directions in (\d+) dimensions\.")
        assert (value(m[1]), value(m[2])) == (n, d)
    else:
        m = c.must(r"Step (\d+) of packing ([\d,]+) directions in (\d+) dimensions\.")
        assert (value(m[1]), value(m[2]), value(m[3])) == (step, n, d)
    start = r"(?: \(at the start ([\d.]+)%\))?"
    m = c.must(rf"Per pair: {NUM}% of the {NUM} pairs lie in 89–91°{start} and {NUM}% in "
               rf"80–100°; {NUM}% lie within 10° of parallel or antiparallel{start}\.")
    assert value(m[2]) == n * (n - 1) // 2 == t.pairs
    close_pct(m[1], t.fraction_in, 1)
    close_pct(m[4], t.fraction_wide, 1)
    close_pct(m[5], t.near_pairs, 2)
    # ... and the figures say the same: the window's bins, the full range's.
    assert share(sec.window, 89, 91) == pytest.approx(t.fraction_in, abs=2 / t.pairs) \
        or step == 0
    assert share(sec.window_before, 89, 91) == pytest.approx(t0.fraction_in, abs=2 / t.pairs)
    src = sec.full_before if step == 0 else sec.full
    near_share = share(src, 0, 10) + share(src, 170, 180)
    assert near_share == pytest.approx(t.near_pairs, abs=2 / t.pairs)
    assert (m[3] is None) == (m[6] is None) == (step == 0)
    if step:
        close_pct(m[3], t0.fraction_in, 1)
        close_pct(m[6], t0.near_pairs, 2)

    m = c.must(rf"Per vector: {NUM}% of the {NUM} vectors have a near-copy, a partner within "
               rf"10° of their line{start}, and grouping near-copies leaves {NUM} distinct "
               rf"directions(?: \(at the start {NUM}\))?(?:; the largest group holds {NUM})?\.")
    assert value(m[2]) == n
    close_pct(m[1], t.with_partner, 1)
    assert value(m[4]) == t.directions
    assert (m[6] is None) == (t.directions == n)
    if m[6]:
        assert value(m[6]) == t.largest
    # The per-vector chart: its bins below 10 degrees hold the vectors with a
    # near-copy (up to one vector sitting exactly on the edge).
    src = sec.nearest_before if step == 0 else sec.nearest
    assert share(src, 0, 10) == pytest.approx(t.with_partner, abs=1.01 / n)
    assert sum(src.data["share"]) == pytest.approx(1.0)
    assert np.histogram(t.nearest_deg, bins=90, range=(0, 90))[0] / n == pytest.approx(
        src.data["share"], abs=1.01 / n)
    if step:
        close_pct(m[3], t0.with_partner, 1)
        assert value(m[5]) == t0.directions
    m = c.take(r"([\d,]+) of the ([\d,]+) vectors add no direction of their own: they lie "
               r"within 10° of an earlier vector's line\.")
    assert (m is not None) == (step > 0 and t.directions < n)
    if m:
        assert value(m[1]) == n - t.directions and value(m[2]) == n
        for i in np.flatnonzero(t.leader != np.arange(n)):
            assert t.line[i, :i].min() < 10.0  # an earlier vector's line, within 10°

    if n <= d:
        m = c.must(r"With N ≤ d, all ([\d,]+) can be exactly perpendicular\.")
        assert value(m[1]) == n
    else:
        m = c.must(r"The Welch bound allows at most ([\d,]+) vectors in (\d+) dimensions with "
                   r"every pair in 89–91°, so (?:it does not rule out ([\d,]+)|([\d,]+) cannot "
                   r"all be: some pairs must fall outside)\.")
        eps = math.cos(math.radians(89))
        cap = math.floor(d * (1 - eps**2) / (1 - d * eps**2) + 1e-9)
        assert value(m[1]) == cap and value(m[2]) == d
        if m[4]:
            assert value(m[4]) == n and n > cap
            assert t.fraction_in < 1.0  # and indeed some pairs are outside
        else:
            assert value(m[3]) == n <= cap
    c.done()


def check_floor(sec: SuperpositionSection, t: Truth, t0: Truth) -> None:
    s, step = sec.state, sec.packer.steps_done
    n, d = s.sp_n, s.sp_d
    c = Claims(sec.floor_text.text)
    lines = sec.rms_lines.data
    rms = sec.rms.data
    assert lines["random"] == [pytest.approx(1 / math.sqrt(d))] * 2
    assert rms["step"][0] == 0 and rms["step"][-1] == step
    assert rms["rms"][0] == pytest.approx(t0.rms_cos, rel=1e-5)
    assert rms["rms"][-1] == pytest.approx(t.rms_cos, rel=1e-5)
    floor = math.sqrt((n - d) / (d * (n - 1))) if n > d else 0.0
    assert lines["floor"] == [pytest.approx(floor)] * 2
    # The floor holds in the data: no point of the curve is below it.
    assert min(rms["rms"]) >= floor * (1 - 1e-5)
    assert sec.rms_fig.y_range.start == 0
    assert sec.rms_fig.y_range.end >= max(rms["rms"] + lines["random"])
    m = c.must(r"Random directions average 1/√d = ([\d.]+) \(this draw ([\d.]+)\)")
    assert value(m[1]) == pytest.approx(1 / math.sqrt(d), abs=5e-5)
    assert value(m[2]) == pytest.approx(t0.rms_cos, abs=5e-5)
    m = c.must(r"At step (\d+) the RMS \|cos\| is ([\d.]+)\.")
    assert value(m[1]) == step and value(m[2]) == pytest.approx(t.rms_cos, abs=5e-5)
    if n <= d:
        m = c.must(r"With N ≤ d the Welch floor is 0: ([\d,]+) directions can be exactly "
                   r"perpendicular, so nothing stops packing from bringing every pair close "
                   r"to 90°\.")
        assert value(m[1]) == n
        c.must(r"^\s*\.")  # the full stop after "(this draw ...)"
    else:
        m = c.must(r"The dashed line is the Welch bound, a floor under the average and not a "
                   r"limit on any one pair: however ([\d,]+) unit vectors sit in (\d+) "
                   r"dimensions, the root-mean-square \|cos\| over all their pairs is at least "
                   r"√\(\(N−d\)/\(d\(N−1\)\)\) = ([\d.]+)\.")
        assert (value(m[1]), value(m[2])) == (n, d)
        assert floor - 1e-4 < value(m[3]) <= floor  # rounded down: still "at least"
        room = 1 - floor / t0.rms_cos
        m = c.take(r"^\s*: already within ([\d.]+)% of it, so packing can lower the average by "
                   r"that much at most\. Whatever it gains beyond that on most pairs, it must "
                   r"lose on others\.")
        if m is None:
            m = c.must(r"^\s*: packing can lower the average by up to ([\d.]+)%, no further\.")
            assert room >= 0.05 - 1e-3
        else:
            assert room < 0.05 + 1e-3
        assert room * 100 <= value(m[1]) < room * 100 + 0.1 + 1e-6  # rounded up
    c.done()


# -- the capacity chart and its sentence --------------------------------------------------
def html_text(html: str) -> str:
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<sup>(\d+)</sup>", r"^\1", html)))


def count(text: str) -> float:
    """log10 of '4,400' or '1.3 × 10^10'."""
    m = re.fullmatch(r"([\d.]+) × 10\^(\d+)", text)
    if m:
        return math.log10(float(m[1])) + int(m[2])
    return math.log10(value(text))


def check_capacity(sec: SuperpositionSection) -> None:
    eps_deg = sec.state.sp_eps
    e = math.sin(math.radians(eps_deg))
    c = Claims(html_text(sec.cap_text.html))
    m = c.must(r"Window 90° ± ([\d.]+)°, every \|cos\| at most ([\d.]+)\.")
    assert value(m[1]) == pytest.approx(eps_deg, abs=0.05)
    assert e <= value(m[2]) < e + 1e-4  # rounded up: the window allows no more

    def jl(d: float) -> float:  # log10 exp(e^2 d / 4), by hand
        return e * e * d / 4 / math.log(10)

    lower = max(math.log10(GPT3_D), jl(GPT3_D))
    m = c.take(r"In GPT-3's 12,288 dimensions at least (.+?) directions fit, guaranteed by a "
               r"random choice, against 12,288 exactly perpendicular ones\.")
    if m:
        assert jl(GPT3_D) > math.log10(GPT3_D)
        shown = count(m[1])
        assert lower - 0.05 <= shown <= lower  # rounded down: still "at least"
    else:
        c.must(r"In GPT-3's 12,288 dimensions at least 12,288 directions fit: the "
               r"perpendicular ones\.")
        m = c.must(r"A random choice guarantees only ([\d,]+) in so narrow a window; it passes "
                   r"12,288 from about ± ([\d.]+)° up\.")
        assert jl(GPT3_D) <= math.log10(GPT3_D)
        assert value(m[1]) == math.floor(10 ** jl(GPT3_D))
        # From the stated angle (give or take its rounding) up, it does pass 12,288.
        turn = value(m[2])
        for deg, passes in ((turn - 0.05, False), (turn + 0.05, True)):
            s = math.sin(math.radians(deg))
            assert (math.exp(s * s * GPT3_D / 4) > GPT3_D) == passes
    # The chart's GPT-3 point is the same count.
    point = sec.cap_gpt3.data
    assert point["d"] == [GPT3_D]
    assert math.log10(point["lower"][0]) == pytest.approx(lower)
    assert sec.cap_fig.y_range.start <= point["lower"][0] <= sec.cap_fig.y_range.end

    def welch(d: int) -> float:
        return math.floor(d * (1 - e * e) / (1 - d * e * e) + 1e-9) if d * e * e < 1 else math.inf

    m = c.take(r"At most ([\d,]+) fit there \(the Welch bound, since d·ε² = ([\d.]+) < 1\)\.")
    if m:
        assert value(m[1]) == welch(GPT3_D)
        assert value(m[2]) <= GPT3_D * e * e < 1
        w = sec.cap_welch.data
        assert GPT3_D in w["d"] and w["upper"][w["d"].index(GPT3_D)] == welch(GPT3_D)
    else:
        m = c.must(r"The Welch bound sets no upper limit there \(d·ε² = ([\d.]+) ≥ 1\)\.")
        assert 1 <= value(m[1]) <= GPT3_D * e * e
        assert all(d < GPT3_D for d in sec.cap_welch.data["d"])
    m = c.must(r"In the lesson's 100 dimensions: at least ([\d,]+)(?:, at most ([\d,]+)\.|; the "
               r"Welch bound sets no upper limit\.)")
    assert value(m[1]) == math.floor(max(100, 10 ** jl(100)))
    assert (value(m[2]) if m[2] else math.inf) == welch(100)
    c.done()
    # The chart's lines, by hand.
    lines = sec.cap_lines.data
    for d, y, p in zip(lines["d"], lines["jl"], lines["perpendicular"], strict=True):
        assert y == pytest.approx(math.exp(e * e * d / 4), rel=1e-9) and p == d
    assert max(lines["d"]) == 16_384 and GPT3_D < max(lines["d"])
    for d, y in zip(sec.cap_welch.data["d"], sec.cap_welch.data["upper"], strict=True):
        assert y == welch(int(d)) and d * e * e < 1


# -- the shipped reference ----------------------------------------------------------------
def check_reference(sec: SuperpositionSection) -> None:
    ref = sp.load_reference()
    b, a = ref["before"], ref["after"]
    n, d, pairs = ref["recipe"]["n"], ref["recipe"]["d"], ref["pairs"]
    c = Claims(re.sub(r"\*\*", "", sec.reference_text.object))
    m = c.must(rf"The lesson's run, {NUM} directions in {NUM} dimensions, computed once offline "
               rf"\({NUM} Adam steps at lr {NUM}, every pair with \|cos\| above {NUM} "
               r"penalised, the lesson's code\)\.")
    assert [value(x) for x in m.groups()] == [n, d, ref["recipe"]["steps"], 0.01, 0.01]
    m = c.must(rf"Per pair it looks like a success: pairs in 89–91° went from {NUM}% to "
               rf"{NUM}%\.")
    close_pct(m[1], b["stats"]["fraction_in"], 1)
    close_pct(m[2], a["stats"]["fraction_in"], 1)
    close_pct(m[2], share(sec.ref_after, 89, 91), 1)  # the figure's bins
    m = c.must(rf"Per vector it is a collapse: the {NUM}% of pairs that ended within 10° of "
               rf"parallel or antiparallel come to {NUM} near-copies per vector on average, and "
               rf"{NUM}% of the vectors have at least one \(at the start {NUM}%\)\.")
    near = a["stats"]["near_parallel_fraction"]
    close_pct(m[1], near, 1)
    close_pct(m[1], share(sec.ref_after, 0, 10) + share(sec.ref_after, 170, 180), 1)
    assert abs(value(m[2]) - 2 * near * pairs / n) <= 0.5
    close_pct(m[3], a["vector_stats"]["with_partner_fraction"], 1)
    close_pct(m[3], share(sec.ref_near_after, 0, 10), 1)  # the per-vector figure
    close_pct(m[4], b["vector_stats"]["with_partner_fraction"], 1)
    m = c.must(rf"Grouping near-copies leaves {NUM} distinct directions of the {NUM} \(at the "
               rf"start {NUM}\); the largest group holds {NUM} vectors\.")
    av = a["vector_stats"]
    assert [value(x) for x in m.groups()] == [av["directions"], n,
                                              b["vector_stats"]["directions"],
                                              av["largest_group"]]
    m = c.must(rf"The RMS \|cos\| over all pairs went from {NUM}, {NUM}% above the Welch floor "
               rf"of {NUM}, to {NUM}; the RMS distance from 90° from {NUM}° to {NUM}°\.")
    floor = math.sqrt((n - d) / (d * (n - 1)))
    assert value(m[1]) == pytest.approx(b["stats"]["rms_cos"], abs=5e-5)
    close_pct(m[2], b["stats"]["rms_cos"] / floor - 1, 1)
    assert value(m[3]) == pytest.approx(floor, abs=5e-5)
    assert value(m[4]) == pytest.approx(a["stats"]["rms_cos"], abs=5e-5)
    assert value(m[5]) == pytest.approx(b["stats"]["rms_deviation_deg"], abs=0.05)
    assert value(m[6]) == pytest.approx(a["stats"]["rms_deviation_deg"], abs=0.05)
    (var,) = ref["variants"]
    m = c.must(rf"Rescaled to unit length after every step instead \(as the live packing "
               rf"above\), the same run ends with {NUM}% of pairs in 89–91°, {NUM}% of vectors "
               rf"with a near-copy and {NUM} directions\.")
    close_pct(m[1], var["after"]["stats"]["fraction_in"], 1)
    close_pct(m[2], var["after"]["vector_stats"]["with_partner_fraction"], 1)
    assert value(m[3]) == var["after"]["vector_stats"]["directions"]
    c.done()


# -- the walk -----------------------------------------------------------------------------
STATES = [
    # (N, d, Adam steps): sliders at their ends, N < d, N = d, N > d, the default.
    (400, 20, 0), (400, 20, 60), (2, 2, 0), (2, 2, 30), (2, 200, 0), (2, 200, 20),
    (1000, 2, 0), (1000, 2, 40), (1000, 200, 0), (1000, 200, 3), (200, 200, 0),
    (200, 200, 40), (210, 200, 10), (30, 20, 150), (21, 20, 100), (150, 10, 120), (40, 120, 60),
]


@pytest.fixture(scope="module")
def section() -> SuperpositionSection:
    return SuperpositionSection(AppState())


@pytest.mark.parametrize(("n", "d", "steps"), STATES)
def test_every_sentence_in_state(section, n: int, d: int, steps: int) -> None:
    state = section.state
    state.param.update(sp_n=n, sp_d=d)
    assert section.packer.steps_done == 0 and section.packer.n == n
    t0 = Truth(section.packer.initial_vectors)
    if steps:
        section.pack_steps(steps)
    t = Truth(section.packer.vectors)
    check_status(section, t, t0)
    check_floor(section, t, t0)
    assert not section.message.visible, section.message.object


def test_packing_to_the_end_at_the_default(section) -> None:
    """The default state, packed as far as the Pack button goes: the issue's
    figures (97.5% of the 400 vectors with a near-copy, 30 directions left)."""
    state = section.state
    state.param.update(sp_n=AppState.param.sp_n.default, sp_d=AppState.param.sp_d.default)
    t0 = Truth(section.packer.initial_vectors)
    while not section._step():  # the Pack loop's ticks, to the end
        pass
    assert section.packer.steps_done == MAX_STEPS
    t = Truth(section.packer.vectors)
    check_status(section, t, t0)
    check_floor(section, t, t0)
    assert t.directions == 30 and t.with_partner == pytest.approx(0.975)
    # Pressing Pack again starts afresh rather than doing nothing.
    section._on_pack()
    section._on_stop()
    assert section.packer.steps_done == 0


@pytest.mark.parametrize("eps", [0.5, 1.0, 3.0, 3.5, 5.0, 20.0, 0.517, 0.516])
def test_capacity_sentence_and_chart(section, eps: float) -> None:
    # 0.516 and 0.517 degrees sit either side of d eps^2 = 1 at 12,288 dims.
    section.state.sp_eps = eps
    assert section.eps.value == eps
    check_capacity(section)


def test_reference_sentences() -> None:
    check_reference(SuperpositionSection(AppState()))


@pytest.mark.parametrize("query", ["sp_n=1&sp_d=999", "sp_eps=0", "sp_eps=90", "sp_n=abc"])
def test_odd_links_give_a_safe_state(query: str) -> None:
    from app.main import build_app

    page = build_app("show=superposition&" + query)
    sec = page.wfl_sections["superposition"]
    s = sec.state
    lo_n, hi_n = AppState.param.sp_n.bounds
    lo_e, hi_e = AppState.param.sp_eps.bounds
    assert lo_n <= s.sp_n <= hi_n and lo_e <= s.sp_eps <= hi_e
    assert page[0].visible  # the link's note says what was changed
    t0 = Truth(sec.packer.initial_vectors)
    check_status(sec, t0, t0)
    check_capacity(sec)
