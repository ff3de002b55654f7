"""Superposition: how many nearly perpendicular directions fit in d dimensions.

Section 6 of the content brief: in d dimensions only d vectors can be exactly
perpendicular, but if "nearly perpendicular" is good enough far more fit. This
module holds the lesson's packing experiment (random unit vectors nudged apart
by Adam), the statistics the page plots (the angle histogram over *all* pairs
and the whole 0..180 degree range, not just a flattering window), and the
bounds that say what "nearly" costs: the Welch bound, the capacity it implies
for a given angle window, and a Johnson-Lindenstrauss-style estimate.

Everything here is pure numpy and stdlib so the same code runs in CPython and
in Pyodide. The heavy O(N^2) work is done block by block in float32 so that
10,000 x 100 (50 million pairs) stays within a few tens of megabytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "JL_C",
    "REFERENCE_FILE",
    "UNIT_MODES",
    "Packer",
    "PairStats",
    "VectorStats",
    "angle_histogram",
    "capacity_bounds",
    "fraction_in",
    "jl_capacity",
    "jl_min_dimension",
    "jl_min_eps",
    "load_reference",
    "max_vectors_within",
    "near_parallel_fraction",
    "pair_cosines",
    "pair_stats",
    "random_pair_fraction",
    "random_rms_cos",
    "random_rms_deviation_deg",
    "random_unit_vectors",
    "rms_deviation_deg",
    "survey",
    "vector_stats",
    "welch_bound",
    "welch_deviation_deg",
]

#: Constant in the Johnson-Lindenstrauss-style capacity exp(c * eps^2 * d).
#: Two random unit vectors in d dimensions satisfy P(|cos| >= eps) <=
#: 2 exp(-d eps^2 / 2). With n vectors there are fewer than n^2 / 2 pairs, so
#: the expected number of bad pairs is below n^2 exp(-d eps^2 / 2), which is at
#: most 1 when n <= exp(d eps^2 / 4). Some draw then has no bad pair at all, so
#: c = 1/4 is a guaranteed (if pessimistic) lower bound on how many fit.
JL_C = 0.25

#: How Packer keeps vectors at unit length (see Packer).
UNIT_MODES = ("renormalise", "penalty")

#: Name of the shipped result of the lesson's full 10,000 x 100 run.
REFERENCE_FILE = "superposition_10000x100.json"

# Elements per block of the Gram matrix in the O(N^2) passes: a 1,000 x
# 10,000 float32 block is 40 MB, small enough for a browser tab, big enough to
# keep BLAS busy. The statistics turn each block into float64 angles, so they
# use smaller blocks.
_DEFAULT_BLOCK_ELEMENTS = 10_000_000
_STATS_BLOCK_ELEMENTS = 4_000_000

_MAX_VECTORS = 100_000
_MAX_DIM = 100_000


def _check_nd(n: int, d: int) -> None:
    for name, value, top in (("n", n, _MAX_VECTORS), ("d", d, _MAX_DIM)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an int, got {value!r}")
        if not 1 <= value <= top:
            raise ValueError(f"{name} must be between 1 and {top:,}, got {value}")


def random_unit_vectors(n: int, d: int, seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    """Draw n directions uniformly on the unit sphere in d dimensions.

    Normalised Gaussians are exactly uniform on the sphere, which is what
    "random directions" means in the lesson and what the theory below assumes.
    """
    _check_nd(n, d)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, d))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(dtype, copy=False)


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors)
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 1:
        raise ValueError(f"need an (n, d) array with n >= 2, got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(np.float64)
    return v


def _block_rows(n: int, block_elements: int = _DEFAULT_BLOCK_ELEMENTS) -> int:
    return max(1, min(n, block_elements // max(n, 1)))


def pair_cosines(
    vectors: np.ndarray, normalize: bool = True, block_elements: int = _STATS_BLOCK_ELEMENTS
) -> Iterator[np.ndarray]:
    """Yield the cosines of every unordered pair (upper triangle), block by block.

    A generator so callers can reduce 50 million pairs to a histogram without
    ever holding the N x N Gram matrix.
    """
    v = _as_matrix(vectors)
    if normalize:
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
    n = v.shape[0]
    rows = _block_rows(n, block_elements)
    for start in range(0, n - 1, rows):
        stop = min(n, start + rows)
        # Only columns >= start can be above the diagonal for these rows.
        g = v[start:stop] @ v[start:].T
        r = np.arange(stop - start)[:, None]
        c = np.arange(n - start)[None, :]
        yield np.clip(g[c > r], -1.0, 1.0)


def _angles_deg(cos: np.ndarray) -> np.ndarray:
    # Always float64, so the histogram and pair_stats put a pair exactly on
    # a bin edge (89.0 say) on the same side.
    return np.degrees(np.arccos(cos.astype(np.float64)))


def angle_histogram(
    vectors: np.ndarray,
    bins: int = 180,
    range: tuple[float, float] = (0.0, 180.0),  # noqa: A002 - mirrors np.histogram
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of pairwise angles in degrees over all pairs.

    The default is the whole 0..180 range on purpose: the lesson only drew
    80..100, which hides the pairs that the optimiser pushes toward parallel.
    Returns (counts, edges) like np.histogram; counts are int64.
    """
    lo, hi = float(range[0]), float(range[1])
    if not (0.0 <= lo < hi <= 180.0):
        raise ValueError(f"range must satisfy 0 <= lo < hi <= 180, got {range}")
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    edges = np.linspace(lo, hi, int(bins) + 1)
    counts = np.zeros(int(bins), dtype=np.int64)
    for cos in pair_cosines(vectors):
        # int bins + range takes numpy's fast uniform-bin path (no searchsorted).
        c, _ = np.histogram(_angles_deg(cos), bins=int(bins), range=(lo, hi))
        counts += c
    return counts, edges


class PairStats(dict):
    """Summary of all pairwise angles; a dict so it serialises straight to JSON."""


class _PairSums:
    """Running sums behind PairStats, fed one block of pair cosines at a time."""

    def __init__(self, lo: float, hi: float, wide_lo: float, wide_hi: float,
                 within: float) -> None:
        self.lo, self.hi, self.wide_lo, self.wide_hi = lo, hi, wide_lo, wide_hi
        self.within = within
        self.n_pairs = self.n_in = self.n_wide = self.n_par = 0
        self.sq = self.cos_sq = self.max_abs_cos = 0.0

    def add(self, cos: np.ndarray, a: np.ndarray) -> None:
        """Add a block of pairs: their cosines and their angles in degrees."""
        self.n_pairs += a.size
        self.n_in += int(np.count_nonzero((a >= self.lo) & (a <= self.hi)))
        self.n_wide += int(np.count_nonzero((a >= self.wide_lo) & (a <= self.wide_hi)))
        self.n_par += int(np.count_nonzero(_near_line(a, self.within)))
        dev = a - 90.0
        self.sq += float(np.dot(dev, dev))
        c64 = cos.astype(np.float64)
        self.cos_sq += float(np.dot(c64, c64))
        if c64.size:
            self.max_abs_cos = max(self.max_abs_cos, float(np.max(np.abs(c64))))

    def stats(self) -> PairStats:
        n = self.n_pairs
        return PairStats(
            pairs=n,
            lo=self.lo,
            hi=self.hi,
            fraction_in=self.n_in / n,
            wide_lo=self.wide_lo,
            wide_hi=self.wide_hi,
            fraction_in_wide=self.n_wide / n,
            within=self.within,
            near_parallel_fraction=self.n_par / n,
            rms_deviation_deg=math.sqrt(self.sq / n),
            rms_cos=math.sqrt(self.cos_sq / n),
            max_abs_cos=self.max_abs_cos,
        )


def _near_line(a: np.ndarray, within: float) -> np.ndarray:
    # "Near-parallel" everywhere in this module: within `within` degrees of
    # parallel (0) or antiparallel (180), i.e. of the same line.
    return (a < within) | (a > 180.0 - within)


def pair_stats(
    vectors: np.ndarray,
    lo: float = 89.0,
    hi: float = 91.0,
    wide_lo: float = 80.0,
    wide_hi: float = 100.0,
    within: float = 10.0,
) -> PairStats:
    """All the per-pair figures the page quotes, computed in one pass over the pairs.

    One pass matters for 10,000 vectors: each pass over 50 million pairs costs
    about a second, so computing the fractions one by one would multiply that.
    """
    sums = _PairSums(lo, hi, wide_lo, wide_hi, within)
    for cos in pair_cosines(vectors):
        sums.add(cos, _angles_deg(cos))
    return sums.stats()


def fraction_in(vectors: np.ndarray, lo: float = 89.0, hi: float = 91.0) -> float:
    """Share of pairs whose angle lies in [lo, hi] degrees: the lesson's claim, checked."""
    return float(pair_stats(vectors, lo=lo, hi=hi)["fraction_in"])


def rms_deviation_deg(vectors: np.ndarray) -> float:
    """Root-mean-square distance of the pairwise angles from 90 degrees.

    This is the honest summary: the Welch bound keeps it from shrinking, so
    packing most pairs tightly around 90 forces a few far away.
    """
    return float(pair_stats(vectors)["rms_deviation_deg"])


def near_parallel_fraction(vectors: np.ndarray, within: float = 10.0) -> float:
    """Share of pairs within `within` degrees of parallel (0) or antiparallel (180)."""
    return float(pair_stats(vectors, within=within)["near_parallel_fraction"])


class VectorStats(dict):
    """Per-vector summary of a set of directions (see vector_stats); a dict of
    named intermediates (arrays) and figures (plain numbers)."""

    #: The keys holding plain numbers, the part that serialises to JSON.
    FIGURES = ("vectors", "within", "with_partner", "with_partner_fraction", "directions",
               "largest_group")

    def figures(self) -> dict[str, float | int]:
        """The plain numbers only, e.g. for the shipped JSON."""
        return {k: self[k] for k in self.FIGURES}


class _VectorSweep:
    """Per-vector bookkeeping over the upper triangle of the Gram matrix, block by block."""

    def __init__(self, n: int, within: float) -> None:
        self.within = float(within)
        # A pair can only be near-parallel if |cos| is at least about
        # cos(within); only those candidates get the exact angle test, so
        # the flags agree with pair_stats to the last bit at a tiny cost.
        self.candidate = math.cos(math.radians(self.within)) - 1e-6
        self.nearest_cos = np.zeros(n)
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, start: int, g: np.ndarray) -> None:
        """Rows start.. of the Gram matrix, columns start.. (as _upper_blocks gives them).

        Each pair is seen once, above the diagonal, and counts for both of
        its vectors: the row's and the column's."""
        k = g.shape[0]
        ab = np.abs(g)
        ab[:, :k][np.tril_indices(k)] = 0.0  # the diagonal and pairs seen as (j, i)
        top = self.nearest_cos
        top[start:start + k] = np.maximum(top[start:start + k], ab.max(axis=1))
        top[start:] = np.maximum(top[start:], ab.max(axis=0))
        r, c = np.nonzero(ab >= self.candidate)
        if r.size:
            near = _near_line(_angles_deg(np.clip(g[r, c], -1.0, 1.0)), self.within)
            self.pairs.append((r[near] + start, c[near] + start))

    def stats(self) -> VectorStats:
        n = self.nearest_cos.size
        i = np.concatenate([p[0] for p in self.pairs] + [np.zeros(0, dtype=np.intp)])
        j = np.concatenate([p[1] for p in self.pairs] + [np.zeros(0, dtype=np.intp)])
        # Partner lists in CSR form: every pair both ways, sorted by vector.
        rows, cols = np.concatenate((i, j)), np.concatenate((j, i))
        order = np.argsort(rows, kind="stable")
        degree = np.bincount(rows, minlength=n)
        offsets = np.concatenate(([0], np.cumsum(degree)))
        has_partner = degree > 0
        group = _greedy_groups(n, has_partner, offsets, cols[order])
        # Each group's first member leads it (see _greedy_groups).
        centers = _first_members(group)
        return VectorStats(
            nearest_cos=self.nearest_cos,
            nearest_deg=np.degrees(np.arccos(np.clip(self.nearest_cos, 0.0, 1.0))),
            has_partner=has_partner,
            group=group,
            centers=centers,
            vectors=n,
            within=self.within,
            with_partner=int(np.count_nonzero(has_partner)),
            with_partner_fraction=float(np.count_nonzero(has_partner)) / n,
            directions=int(centers.size),
            largest_group=int(np.bincount(group).max()),
        )


def _greedy_groups(n: int, has_partner: np.ndarray, offsets: np.ndarray,
                   partners: np.ndarray) -> np.ndarray:
    """Greedy grouping in index order (see vector_stats); groups numbered by
    their first member's index."""
    leader = np.full(n, -1, dtype=np.intp)
    # A vector with no partner leads its own group of one and joins nobody,
    # so only the others need the Python loop.
    for i in np.flatnonzero(has_partner):
        if leader[i] >= 0:
            continue
        leader[i] = i
        nb = partners[offsets[i]:offsets[i + 1]]
        leader[nb[leader[nb] < 0]] = i
    alone = leader < 0
    leader[alone] = np.flatnonzero(alone)
    _, group = np.unique(leader, return_inverse=True)
    return group.astype(np.intp)


def _first_members(group: np.ndarray) -> np.ndarray:
    _, first = np.unique(group, return_index=True)
    return first.astype(np.intp)


def _upper_blocks(v: np.ndarray, block_elements: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start, rows start.. of the Gram matrix, columns start..), block by block.

    Only columns from `start` on: the rest is the transpose of blocks
    already seen. At least eight blocks even when one would fit, so the
    product skips almost half of the matrix (numpy in Pyodide has no BLAS
    and multiplies element by element)."""
    n = v.shape[0]
    rows = min(_block_rows(n, block_elements), max(32, -(-n // 8)))
    for start in range(0, n, rows):
        yield start, v[start:start + rows] @ v[start:].T


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = _as_matrix(vectors)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def vector_stats(
    vectors: np.ndarray, within: float = 10.0, block_elements: int = _STATS_BLOCK_ELEMENTS
) -> VectorStats:
    """Per-vector figures: who has a near-parallel partner, and how many directions are left.

    A pair is near-parallel when its angle is within `within` degrees of 0 or
    180 (the same test as pair_stats), i.e. the two vectors lie within
    `within` of one line. Returns a VectorStats cache:

    - "nearest_cos": each vector's largest |cos| with any other vector;
    - "nearest_deg": the angle between its line and its closest partner's
      line, 0..90 degrees (arccos of "nearest_cos");
    - "has_partner": whether it has a near-parallel partner;
    - "group": its direction group, by greedy grouping in index order: the
      first vector not yet grouped starts a group and takes every ungrouped
      vector near-parallel to it; repeat. So each vector is within `within`
      of its group's first member's line, and no two first members are;
    - "centers": each group's first member (its index);
    - figures: "vectors", "within", "with_partner" (count),
      "with_partner_fraction", "directions" (the number of groups),
      "largest_group".

    Memory: one block of the Gram matrix at a time plus the list of
    near-parallel pairs (1.2 million ordered pairs for the lesson's run).
    """
    v = _unit_rows(vectors)
    sweep = _VectorSweep(v.shape[0], within)
    for start, g in _upper_blocks(v, block_elements):
        sweep.add(start, g)
    return sweep.stats()


def survey(
    vectors: np.ndarray,
    windows: tuple[tuple[float, float, int], ...] = ((0.0, 180.0, 180), (80.0, 100.0, 80)),
    nearest_bins: int = 90,
    within: float = 10.0,
    block_elements: int = _STATS_BLOCK_ELEMENTS,
) -> dict[str, Any]:
    """Everything the page draws for one set of vectors, from one pass over the Gram matrix.

    The live packing redraws after every tick; pair_stats, two angle
    histograms and vector_stats would each multiply the vectors again.
    Returns a cache dict: "pair_stats" (PairStats with the defaults of
    pair_stats), "vector_stats" (VectorStats), "hist" (one int64 count
    array of pair angles per (lo, hi, bins) window), "nearest_hist" (counts
    of "nearest_deg" in `nearest_bins` equal bins over 0..90).
    """
    v = _unit_rows(vectors)
    n = v.shape[0]
    sums = _PairSums(89.0, 91.0, 80.0, 100.0, within)
    sweep = _VectorSweep(n, within)
    hists = [np.zeros(int(bins), dtype=np.int64) for _, _, bins in windows]
    for start, g in _upper_blocks(v, block_elements):
        # The pairs above the diagonal, once each, as pair_cosines gives them.
        r = np.arange(g.shape[0])[:, None]
        c = np.arange(n - start)[None, :]
        cos = np.clip(g[c > r], -1.0, 1.0)
        sweep.add(start, g)
        a = _angles_deg(cos)
        sums.add(cos, a)
        for h, (lo, hi, bins) in zip(hists, windows, strict=True):
            h += np.histogram(a, bins=int(bins), range=(lo, hi))[0]
    vs = sweep.stats()
    nearest = np.histogram(vs["nearest_deg"], bins=int(nearest_bins), range=(0.0, 90.0))[0]
    return {"pair_stats": sums.stats(), "vector_stats": vs, "hist": hists,
            "nearest_hist": nearest}


def welch_bound(n: int, d: int) -> float:
    """Lower bound on the RMS |cos| over all pairs of n unit vectors in d dimensions.

    Sum_{i,j} <v_i, v_j>^2 >= n^2 / d (the Gram matrix has rank <= d and trace
    n), so the mean of cos^2 over the n(n - 1) off-diagonal entries is at least
    (n - d) / (d (n - 1)). No optimiser can beat it; it is 0 when n <= d.
    """
    _check_nd(n, d)
    if n <= d or n == 1:
        return 0.0
    return math.sqrt((n - d) / (d * (n - 1)))


def welch_deviation_deg(n: int, d: int) -> float:
    """The Welch bound as an angle: how far from 90 degrees |cos| = bound sits.

    About 5.7 degrees for 10,000 vectors in 100 dimensions: the "typical
    deviation" that nearly perpendicular has to cost on average.
    """
    return math.degrees(math.asin(welch_bound(n, d)))


def max_vectors_within(d: int, lo_deg: float = 89.0, hi_deg: float = 91.0) -> float:
    """Most unit vectors in d dimensions that can have every pairwise angle in [lo, hi].

    Derived from the Welch bound: if every |cos| <= eps then the RMS |cos| is
    too, so sqrt((n - d) / (d (n - 1))) <= eps, i.e.
    n <= d (1 - eps^2) / (1 - d eps^2) whenever d eps^2 < 1. For 89..91 in
    100 dimensions that is about 103. When d eps^2 >= 1 this bound says
    nothing and math.inf is returned (other bounds apply; none is claimed).
    The window must contain 90 degrees, otherwise the question is a
    different one (spherical codes), which this function does not answer.
    """
    _check_nd(1, d)
    if not (0.0 <= lo_deg <= 90.0 <= hi_deg <= 180.0):
        raise ValueError(f"need 0 <= lo <= 90 <= hi <= 180, got {lo_deg}..{hi_deg}")
    eps = max(math.cos(math.radians(lo_deg)), -math.cos(math.radians(hi_deg)), 0.0)
    if eps < 1e-12:
        return float(d)
    if d * eps * eps >= 1.0:
        return math.inf
    return float(math.floor(d * (1.0 - eps * eps) / (1.0 - d * eps * eps) + 1e-9))


def jl_capacity(d: int, eps: float, c: float = JL_C) -> float:
    """Johnson-Lindenstrauss-style count of vectors with every |cos| below eps: exp(c eps^2 d).

    With the default c = 1/4 (see JL_C) this is a guaranteed lower bound from
    a random construction; it grows exponentially in d, which is the point of
    section 6, but is useless in small cases (about 1.008 for 89..91 in 100
    dimensions, where the Welch-based max_vectors_within is the sharper tool).
    A float (exp(30) for d = 12,288, eps = 0.1), math.inf past the largest
    float; capacity_bounds gives the logarithm.
    """
    _check_nd(1, d)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    if c <= 0:
        raise ValueError(f"c must be positive, got {c}")
    exponent = c * eps * eps * d
    # Past about exp(709) a float overflows; the count is then "more than
    # any float", and capacity_bounds gives its logarithm instead.
    return math.exp(exponent) if exponent < 709.0 else math.inf


def jl_min_dimension(n: int, eps: float, c: float = JL_C) -> int:
    """Dimensions that jl_capacity says suffice for n vectors with every |cos| < eps.

    The inverse question the reader asks: "how many dimensions to hold a
    million features at 0.1 interference?"
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps}")
    return max(1, math.ceil(math.log(n) / (c * eps * eps)))


def jl_min_eps(n: int, d: int, c: float = JL_C) -> float:
    """The smallest |cos| bound eps at which jl_capacity(d, eps) reaches n.

    The question a reader asks of GPT-3's width: from what window on does
    the random-construction guarantee beat the d exactly perpendicular
    directions? eps = sqrt(ln(n) / (c d)); above 1 no window does.
    """
    _check_nd(1, d)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if c <= 0:
        raise ValueError(f"c must be positive, got {c}")
    return math.sqrt(math.log(n) / (c * d))


def capacity_bounds(dims: Any, eps_deg: float, c: float = JL_C) -> dict[str, np.ndarray]:
    """How many directions in d dimensions can have every pairwise angle in 90 +- eps_deg.

    Vectorised over `dims` for the page's chart. Returns a cache dict:

    - "d": the dimensions (float64);
    - "eps_cos": the |cos| the window allows, sin(eps_deg);
    - "perpendicular": d, the exactly perpendicular basis, which always fits;
    - "log10_jl": log10 of jl_capacity(d, eps_cos): the random-construction
      guarantee exp(c eps^2 d), as a logarithm because it outgrows floats;
    - "log10_lower": log10 of the better of the two guarantees,
      max(d, exp(c eps^2 d)) (the count of vectors is at least its floor);
    - "upper": the Welch-based limit max_vectors_within(d, 90 - eps_deg,
      90 + eps_deg), math.inf where d eps^2 >= 1 and that bound says nothing.
    """
    if not 0.0 < eps_deg < 90.0:
        raise ValueError(f"eps_deg must be in (0, 90), got {eps_deg}")
    if c <= 0:
        raise ValueError(f"c must be positive, got {c}")
    d = np.asarray(dims, dtype=np.float64)
    if d.size and (np.min(d) < 1 or not np.all(np.isfinite(d))):
        raise ValueError("dimensions must be finite and at least 1")
    eps = math.sin(math.radians(eps_deg))
    log10_jl = c * eps * eps * d / math.log(10.0)
    log10_lower = np.maximum(np.log10(d), log10_jl)
    fits = d * eps * eps < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        welch = np.floor(d * (1.0 - eps * eps) / (1.0 - d * eps * eps) + 1e-9)
    return {
        "d": d,
        "eps_cos": np.float64(eps),
        "perpendicular": d.copy(),
        "log10_jl": log10_jl,
        "log10_lower": log10_lower,
        "upper": np.where(fits, welch, np.inf),
    }


def _sphere_angle_density(d: int, grid: np.ndarray) -> np.ndarray:
    # The angle between two random unit vectors in d dims has density
    # proportional to sin(theta)^(d - 2), which peaks at 1 at 90 degrees.
    # Evaluated through logs so d = 12,288 underflows to 0 gracefully.
    if d == 2:
        return np.ones_like(grid)  # sin^0: the angle is uniform in the plane
    s = np.sin(np.radians(grid))
    with np.errstate(divide="ignore"):
        logf = (d - 2) * np.log(np.maximum(s, 0.0))
    return np.exp(logf)


def _integrate(y: np.ndarray, x: np.ndarray) -> float:
    # Trapezoid rule by hand: np.trapz is deprecated in numpy 2 and
    # np.trapezoid does not exist in numpy 1.x.
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


_GRID = 360_001  # 0.0005 degree steps: the density is smooth, this is plenty.


def random_pair_fraction(d: int, lo: float = 89.0, hi: float = 91.0) -> float:
    """Expected share of pairs of random unit vectors whose angle lies in [lo, hi].

    The "before" figures are not luck: this integrates the exact angle density
    sin^(d-2), so the page can put theory next to the sampled histogram.
    """
    _check_nd(2, d)
    if d < 2:
        raise ValueError("in 1 dimension every angle is 0 or 180; need d >= 2")
    if not 0.0 <= lo < hi <= 180.0:
        raise ValueError(f"need 0 <= lo < hi <= 180, got {lo}..{hi}")
    grid = np.linspace(0.0, 180.0, _GRID)
    total = _integrate(_sphere_angle_density(d, grid), grid)
    sub = np.linspace(lo, hi, max(3, int((hi - lo) / 180.0 * _GRID) + 1))
    return _integrate(_sphere_angle_density(d, sub), sub) / total


def random_rms_cos(d: int) -> float:
    """Expected RMS |cos| over pairs of random unit vectors in d dimensions: 1 / sqrt(d).

    E[cos^2] = 1/d exactly (by symmetry the d squared coordinates of a unit
    vector average 1/d). Next to welch_bound: sqrt((n - d) / (d (n - 1))) is
    just below 1 / sqrt(d) when n >> d, so random directions already sit
    almost on the floor.
    """
    _check_nd(1, d)
    return 1.0 / math.sqrt(d)


def random_rms_deviation_deg(d: int) -> float:
    """Expected RMS distance from 90 degrees for random pairs in d dimensions.

    About 5.8 degrees in 100 dimensions: the baseline the optimiser starts from.
    """
    _check_nd(2, d)
    if d < 2:
        raise ValueError("in 1 dimension every angle is 0 or 180; need d >= 2")
    grid = np.linspace(0.0, 180.0, _GRID)
    f = _sphere_angle_density(d, grid)
    return math.sqrt(_integrate(f * (grid - 90.0) ** 2, grid) / _integrate(f, grid))


class Packer:
    """The lesson's packing experiment, run one Adam step at a time.

    N random unit vectors in d dimensions; the loss is the lesson's
    sum over ordered pairs i != j of relu(|v_i . v_j| - tol). How the vectors
    are kept at unit length is a choice:

    - unit="renormalise" (default): every vector is put back on the unit
      sphere after each step, so "unit length" holds exactly and the loss is
      purely about angles.
    - unit="penalty": the lesson's code verbatim. The diagonal of G - I joins
      the relu sum and N * sum_i (|v_i|^2 - 1)^2 is added; lengths drift
      slightly and the statistics normalise before measuring angles.

    It is incremental on purpose: a browser page calls step() from a timer,
    redraws, and simply stops calling to stop.
    """

    def __init__(
        self,
        n: int,
        d: int,
        tol: float = 0.01,
        lr: float = 0.01,
        seed: int = 0,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        dtype: Any = np.float32,
        block_elements: int = _DEFAULT_BLOCK_ELEMENTS,
        unit: str = "renormalise",
        callback: Callable[[int, float], bool | None] | None = None,
    ) -> None:
        _check_nd(n, d)
        if unit not in UNIT_MODES:
            raise ValueError(f"unit must be one of {UNIT_MODES}, got {unit!r}")
        if n < 2:
            raise ValueError("need at least 2 vectors to have a pair")
        if not 0.0 <= tol < 1.0:
            raise ValueError(f"tol must be in [0, 1), got {tol}")
        if not 0.0 < lr <= 10.0:
            raise ValueError(f"lr must be in (0, 10], got {lr}")
        self.n = int(n)
        self.d = int(d)
        self.tol = float(tol)
        self.lr = float(lr)
        self.seed = int(seed)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.dtype = np.dtype(dtype)
        self.unit = unit
        self.callback = callback
        self._v = random_unit_vectors(self.n, self.d, self.seed, dtype=self.dtype)
        self._initial = self._v.copy()
        self._m = np.zeros_like(self._v)
        self._s = np.zeros_like(self._v)
        self._grad = np.zeros_like(self._v)
        self._rows = _block_rows(self.n, block_elements)
        self.steps_done = 0
        self.losses: list[float] = []

    @property
    def vectors(self) -> np.ndarray:
        """Current vectors (a copy, so callers cannot corrupt Adam's state).

        Exactly unit length with unit="renormalise", nearly so with "penalty".
        """
        return self._v.copy()

    @property
    def initial_vectors(self) -> np.ndarray:
        """The random starting point, for before/after comparisons."""
        return self._initial.copy()

    @property
    def max_rows_per_block(self) -> int:
        return self._rows

    def loss_and_grad(self) -> float:
        """Evaluate the loss at the current vectors and fill the gradient buffer.

        Works on row blocks of the Gram matrix so memory is O(block x N), not
        O(N^2). The gradient of the symmetric sum is 2 M V with
        M = sign(D) * [|D| > tol], where D is G with a zero diagonal
        (renormalise) or G - I (penalty, as in the lesson's code).
        """
        penalty = self.unit == "penalty"
        v = self._v
        n = self.n
        tol = self.dtype.type(self.tol)
        loss = 0.0
        for start in range(0, n, self._rows):
            stop = min(n, start + self._rows)
            g = v[start:stop] @ v.T
            diag = g.reshape(-1)[start :: n + 1][: stop - start]
            if penalty:
                diag -= 1.0  # G - I, as in the lesson
            else:
                diag[:] = 0.0  # |v_i|^2 = 1 is not a pair: drop it
            pos = g > tol
            neg = g < -tol
            m = pos.astype(self.dtype)
            m -= neg
            # relu(|g| - tol) summed = sum(m * g) - tol * (#active).
            active = int(np.count_nonzero(pos)) + int(np.count_nonzero(neg))
            loss += float(np.vdot(m, g)) - self.tol * active
            np.matmul(m, v, out=self._grad[start:stop])
        self._grad *= 2.0
        if penalty:
            # + N * sum_i (|v_i|^2 - 1)^2, gradient 4 N (|v_i|^2 - 1) v_i.
            dev = np.einsum("ij,ij->i", v, v) - 1.0
            loss += self.n * float(np.dot(dev, dev))
            self._grad += (4.0 * self.n) * dev[:, None] * v
        return loss

    def step(
        self, k: int = 1, callback: Callable[[int, float], bool | None] | None = None
    ) -> float:
        """Take k Adam steps; return the loss evaluated before the last one.

        The callback (this call's, else the constructor's) gets
        (steps_done, loss) after every step; returning False stops early, which
        is how a progress bar with a Stop button is wired up.
        """
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        cb = callback if callback is not None else self.callback
        loss = self.losses[-1] if self.losses else math.nan
        b1, b2 = self.beta1, self.beta2
        for _ in range(int(k)):
            loss = self.loss_and_grad()
            g = self._grad
            self._m *= b1
            self._m += (1.0 - b1) * g
            self._s *= b2
            self._s += (1.0 - b2) * (g * g)
            t = self.steps_done + 1
            mhat_scale = self.lr / (1.0 - b1**t)
            denom = np.sqrt(self._s / (1.0 - b2**t))
            denom += self.eps
            self._v -= mhat_scale * self._m / denom
            if self.unit == "renormalise":
                self._v /= np.linalg.norm(self._v, axis=1, keepdims=True)
            self.steps_done = t
            self.losses.append(loss)
            if cb is not None and cb(t, loss) is False:
                break
        return loss

    def run(
        self, steps: int, callback: Callable[[int, float], bool | None] | None = None
    ) -> list[float]:
        """Run `steps` more steps (stoppable through the callback); return all losses so far."""
        self.step(steps, callback=callback)
        return list(self.losses)


def load_reference() -> dict[str, Any]:
    """The shipped result of the lesson's full 10,000 x 100 run.

    That run takes minutes of CPU, too much for a page load, so
    scripts/make_superposition_data.py runs it once and the app reads the
    result. importlib.resources makes this work from a wheel too.
    """
    text = resources.files("toycore").joinpath("data").joinpath(REFERENCE_FILE).read_text("utf-8")
    return json.loads(text)
