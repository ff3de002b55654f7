"""Run the lesson's full packing experiment once and ship its result as JSON.

10,000 unit vectors in 100 dimensions, 250 Adam steps at lr 0.01 with the
pairwise tolerance 0.01: a few minutes of CPU, far too much for a page load,
so the app reads toycore/data/superposition_10000x100.json instead. Rerun this
script (in CPython) whenever toycore.superposition.Packer changes.

The main run is the lesson's code verbatim (Packer(unit="penalty"): a length
penalty instead of rescaling); it reproduces the brief's reference figures
(98.3% of pairs in 89..91, 1.2% within 10 degrees of parallel, RMS 9.8-9.9).
Each snapshot also holds per-vector figures (toycore.superposition.vector_stats):
how many vectors have a near-parallel partner and how many directions are left.
A second run with rescaling after every step (the interactive default) is
summarised under "variants": it collapses fewer pairs, which is itself worth
showing, since the headline picture depends on such details.

    python3 scripts/make_superposition_data.py [--steps 250] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from toycore import superposition as sp  # noqa: E402

CHECKPOINTS = (0, 10, 25, 50, 100, 150, 175, 200, 225, 250)

UNIT_HOW = {
    "renormalise": "every vector rescaled to unit length after each step",
    "penalty": "the lesson's code verbatim: relu(|G - I| - tol) summed over the whole "
    "matrix (diagonal included) plus N * sum_i (|v_i|^2 - 1)^2; no rescaling",
}


def snapshot(vectors: np.ndarray) -> dict:
    """Everything the page plots for one set of vectors: per pair, then per vector."""
    stats = dict(sp.pair_stats(vectors))
    coarse, _ = sp.angle_histogram(vectors, bins=180, range=(0.0, 180.0))
    fine, _ = sp.angle_histogram(vectors, bins=200, range=(80.0, 100.0))
    per_vector = sp.vector_stats(vectors, within=stats["within"])
    nearest, _ = np.histogram(per_vector["nearest_deg"], bins=90, range=(0.0, 90.0))
    return {
        "stats": stats,
        "hist_0_180_1deg": coarse.tolist(),
        "hist_80_100_0p1deg": fine.tolist(),
        "vector_stats": per_vector.figures(),
        "hist_nearest_0_90_1deg": nearest.tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--tol", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--unit",
        choices=sp.UNIT_MODES,
        default="penalty",
        help="main run: 'penalty' is the lesson's code verbatim (the brief's reference figures)",
    )
    ap.add_argument(
        "--variant",
        choices=(*sp.UNIT_MODES, "none"),
        default="renormalise",
        help="second, summarised run with the other way of keeping unit length",
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "toycore" / "data" / sp.REFERENCE_FILE
    )
    args = ap.parse_args(argv)
    started = time.perf_counter()
    checkpoints = sorted({c for c in CHECKPOINTS if c <= args.steps} | {0, args.steps})

    def optimise(unit: str) -> tuple[sp.Packer, dict[int, dict], float]:
        packer = sp.Packer(args.n, args.d, tol=args.tol, lr=args.lr, seed=args.seed, unit=unit)
        snaps: dict[int, dict] = {}
        seconds = 0.0
        for target in checkpoints:
            t0 = time.perf_counter()
            packer.step(target - packer.steps_done)
            seconds += time.perf_counter() - t0
            snaps[target] = snapshot(packer.vectors)
            s, vs = snaps[target]["stats"], snaps[target]["vector_stats"]
            loss = packer.losses[-1] if packer.losses else float("nan")
            print(
                f"{unit:<11} step {target:4d}  loss {loss:14.1f}"
                f"  in 89..91 {s['fraction_in']:.2%}"
                f"  near-parallel {s['near_parallel_fraction']:.2%}"
                f"  vectors with a partner {vs['with_partner_fraction']:.1%}"
                f"  directions {vs['directions']:,}"
                f"  rms dev {s['rms_deviation_deg']:.2f} deg"
                f"  ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        return packer, snaps, seconds

    packer, snaps, optimise_seconds = optimise(args.unit)
    variants = []
    if args.variant not in ("none", args.unit):
        vpacker, vsnaps, vseconds = optimise(args.variant)
        variants.append({
            "unit": args.variant,
            "unit_how": UNIT_HOW[args.variant],
            "after": vsnaps[args.steps],
            "checkpoints": [
                {"step": c, "stats": vsnaps[c]["stats"], "vector_stats": vsnaps[c]["vector_stats"]}
                for c in checkpoints
            ],
            "losses": [round(x, 3) for x in vpacker.losses],
            "seconds_per_step": round(vseconds / max(args.steps, 1), 3),
        })

    before, after = snaps[0], snaps[args.steps]
    data = {
        "what": "Pairwise angles of N unit vectors in d dimensions before and after the "
        "lesson's packing optimisation (generated by scripts/make_superposition_data.py).",
        "recipe": {
            "n": args.n,
            "d": args.d,
            "steps": args.steps,
            "optimizer": "Adam",
            "lr": args.lr,
            "betas": [packer.beta1, packer.beta2],
            "adam_eps": packer.eps,
            "tol": args.tol,
            "loss": "sum over ordered pairs i != j of relu(|v_i . v_j| - tol); see unit_how",
            "unit": args.unit,
            "unit_how": UNIT_HOW[args.unit],
            "init": "normalised standard Gaussians, numpy default_rng(seed)",
            "dtype": str(packer.dtype),
        },
        "seed": args.seed,
        "pairs": before["stats"]["pairs"],
        "bins": {
            "hist_0_180_1deg": {"lo": 0.0, "hi": 180.0, "bins": 180},
            "hist_80_100_0p1deg": {"lo": 80.0, "hi": 100.0, "bins": 200},
            "hist_nearest_0_90_1deg": {"lo": 0.0, "hi": 90.0, "bins": 90},
        },
        "per_vector": "vector_stats: per-vector figures (toycore.superposition.vector_stats): "
        "vectors with a partner within 10 degrees of parallel or antiparallel, and the "
        "directions left after greedy grouping in index order; hist_nearest_0_90_1deg: each "
        "vector's angle to its closest partner's line",
        "before": before,
        "after": after,
        "checkpoints": [
            {"step": c, "stats": snaps[c]["stats"], "vector_stats": snaps[c]["vector_stats"],
             "hist_0_180_1deg": snaps[c]["hist_0_180_1deg"]}
            for c in checkpoints
        ],
        "losses": [round(x, 3) for x in packer.losses],
        "variants": variants,
        "bounds": {
            "welch_rms_cos": sp.welch_bound(args.n, args.d),
            "welch_deviation_deg": sp.welch_deviation_deg(args.n, args.d),
            "max_vectors_within_89_91": sp.max_vectors_within(args.d, 89.0, 91.0),
            "random_fraction_89_91": sp.random_pair_fraction(args.d, 89.0, 91.0),
            "random_fraction_80_100": sp.random_pair_fraction(args.d, 80.0, 100.0),
            "random_rms_deviation_deg": sp.random_rms_deviation_deg(args.d),
            "random_rms_cos": sp.random_rms_cos(args.d),
        },
        "seconds_optimising": round(optimise_seconds, 1),
        "seconds_per_step": round(optimise_seconds / max(args.steps, 1), 3),
        "seconds_total": round(time.perf_counter() - started, 1),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
