"""Time the toy's hot paths against the targets the page needs to feel live.

Not a test: timings depend on the machine. Prints a table and writes
docs/benchmarks/toycore.md (generated; rerun to refresh).

    python3 scripts/bench_toycore.py [--quick] [--no-write]

Targets: one forward pass with all intermediates <= 200 us (a slider drag
redraws on every tick), the whole fact table <= 5 ms (the table view reruns
every name), one Adam step of the packer at 1,000 x 100 <= 20 ms (the packing
demo animates step by step), and the redraw after a packing tick (survey: every
statistic the section shows, in one pass) at 1,000 x 100 <= 20 ms. 10,000 x 100
is timed for information: that is the lesson's full run, precomputed by
scripts/make_superposition_data.py.
Section 5's trainer: one Adam step at the default settings <= 1 ms (a page
tick takes a few dozen, and Pyodide is about 4x slower), a whole default
training <= 300 ms (what trained_model costs for a setting not yet trained);
the largest setting (60 facts, 64 neurons) is timed for information.
Section 9: one step of its sparse autoencoders on the default data <= 5 ms
(the reader's SAE and the sweep of four penalties, one minibatch each: what a
training tick repeats; Pyodide is several times slower).
Section 10: a full causal trace of the default fact (every position and
component, 10 noise samples) <= 20 ms; so is the section's heaviest default
setting, a prompt under GELU with its 16 samples (a slider step reruns it).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import toycore  # noqa: E402
from toycore import capacity as cap  # noqa: E402
from toycore import sae  # noqa: E402
from toycore import superposition as sp  # noqa: E402
from toycore import trace as tr  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "toycore.md"


def median_time(fn: Callable[[], object], repeat: int, min_seconds: float = 0.2) -> float:
    """Median seconds per call over `repeat` timeit batches (batch size auto-chosen).

    Medians rather than minima: the page cares about a typical call, and the
    median shrugs off a stray GC pause or a busy neighbour.
    """
    timer = timeit.Timer(fn)
    number, elapsed = 1, 0.0
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_seconds / 5 or number >= 1_000_000:
            break
        number *= 10 if elapsed < min_seconds / 50 else 2
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip 10,000 x 100")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    repeat = 5 if args.quick else 15

    rows: list[tuple[str, float, float | None, str]] = []
    # Other work on the machine skews timings; record how busy it was.
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        load = "unknown"

    model = toycore.ToyModel.default()
    run = model.run("Michael Jordan")
    assert run.ok and run.answer == "basketball", (run.ok, run.answer, run.error)
    rows.append((
        'forward pass, all intermediates: `ToyModel.default().run("Michael Jordan")`',
        median_time(lambda: model.run("Michael Jordan"), repeat),
        200e-6,
        f"{len(run.cache)} cached arrays, answer {run.answer}",
    ))

    names = list(model.facts.names)
    rows.append((
        f"fact table: `run()` on all {len(names)} names of `model.facts`",
        median_time(lambda: [model.run(n) for n in names], repeat),
        5e-3,
        f"d_model {model.cfg.d_model}, d_mlp {model.cfg.d_mlp}",
    ))

    traced = tr.trace(model, "Michael Jordan")
    rows.append((
        f'causal trace: `trace(model, "Michael Jordan")`, {traced.samples} noise samples',
        median_time(lambda: tr.trace(model, "Michael Jordan"), repeat),
        20e-3,
        f"{len(tr.COMPONENTS)} components x {len(traced.tokens)} positions, one batched pass",
    ))
    prompt = "Michael Jordan plays the sport of"
    gelu = model.with_(activation="gelu")
    rows.append((
        f'causal trace of a prompt: "{prompt}", 16 noise samples, GELU',
        median_time(lambda: tr.trace(gelu, prompt, samples=16), repeat),
        20e-3,
        "section 10 at its heaviest default-sized prompt",
    ))

    trainer = cap.capacity_trainer(23, "shared", 24, 10)
    trainer.step(5)
    rows.append((
        "trainer: one Adam step, section 5's default (23 facts, 24 dims, 10 neurons)",
        median_time(lambda: trainer.step(1, report=False), repeat),
        1e-3,
        f"{len(trainer.facts) + trainer.n_negatives} inputs; `step(1, report=False)`, as a "
        "page tick takes them",
    ))

    def whole_training() -> None:
        cap.capacity_trainer(23, "shared", 24, 10).step(cap.STEPS)

    rows.append((
        f"trainer: a whole default training ({cap.STEPS} steps, from a fresh Trainer)",
        median_time(whole_training, max(3, repeat // 3)),
        300e-3,
        "what trained_model costs for a setting not yet trained",
    ))
    big_run = cap.capacity_trainer(60, "shared", 24, 64)
    big_run.step(2)
    rows.append((
        "trainer: one Adam step, 60 facts, 64 neurons (the sliders' far end)",
        median_time(lambda: big_run.step(1, report=False), max(3, repeat // 3)),
        None,
        f"{len(big_run.facts) + big_run.n_negatives} inputs",
    ))

    packer = sp.Packer(1000, 100, seed=0)
    packer.step()  # warm up buffers and BLAS threads
    rows.append((
        "packer: one Adam step, 1,000 x 100",
        median_time(lambda: packer.step(), repeat),
        20e-3,
        "float32, Gram matrix in one block",
    ))

    packed = packer.vectors
    sv = sp.survey(packed)
    rows.append((
        "survey after a packing tick, 1,000 x 100: `sp.survey(vectors)`",
        median_time(lambda: sp.survey(packed), repeat),
        20e-3,
        f"pair stats, two histograms, per-vector stats in one pass "
        f"({sv['vector_stats']['directions']:,} directions)",
    ))

    # Section 9's settings (app/sae.py): the vectors section 5's default MLP
    # reads (23 facts, names in 24 dimensions) for every pairing and lone
    # name, a 64-feature dictionary.
    facts = cap.capacity_facts(23, "shared")
    data = sae.residual_inputs(cap.capacity_embedding(facts, 24), facts, 1.0)
    mine = sae.SAETrainer(data.x, 64, 0.3, lr=0.01, batch_size=64, seed=0)
    sweep = sae.SAETrainer(data.x, 64, [0.03, 0.1, 0.3, 1.0], lr=0.01, batch_size=64, seed=0)
    mine.update(5)
    sweep.update(5)
    rows.append((
        "sparse autoencoders: one Adam step of yours and of the sweep of four",
        median_time(lambda: (mine.update(), sweep.update()), repeat),
        5e-3,
        f"{len(data.x)} x {data.x.shape[1]} inputs, minibatch 64, 64 features",
    ))
    rows.append((
        "sparse autoencoder: its metrics on every input (a redraw)",
        median_time(lambda: mine.metrics(), repeat),
        None,
        f"{len(data.x)} inputs; the sweep's four cost about four times this",
    ))

    if not args.quick:
        big = sp.Packer(10_000, 100, seed=0)
        big.step()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            big.step()
            times.append(time.perf_counter() - t0)
        rows.append((
            "packer: one Adam step, 10,000 x 100",
            statistics.median(times),
            None,
            f"{big.max_rows_per_block:,} rows per block; 250 steps = the lesson's run",
        ))
        v = big.vectors
        t0 = time.perf_counter()
        sp.pair_stats(v)
        rows.append((
            "pair statistics over all 49,995,000 pairs (10,000 x 100)",
            time.perf_counter() - t0,
            None,
            "one pass, blocks of the Gram matrix",
        ))

    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}"
    )
    lines = [
        "<!-- Generated by scripts/bench_toycore.py; do not edit by hand. -->",
        "# toycore benchmarks",
        "",
        "Generated by `python3 scripts/bench_toycore.py`; rerun it to refresh. "
        "Timings are medians over repeated timeit batches and depend on the machine.",
        "",
        f"- date: {when}",
        f"- machine: {machine}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"numpy {np.__version__}",
        f"- load average before the run: {load}",
        "",
        "| what | median | target | result | notes |",
        "| --- | ---: | ---: | :---: | --- |",
    ]
    print(f"{'what':<78} {'median':>10} {'target':>10}  result")
    for what, secs, target, note in rows:
        verdict = "-" if target is None else ("PASS" if secs <= target else "MISS")
        tgt = "-" if target is None else f"<= {fmt(target)}"
        plain = what.replace("`", "")
        print(f"{plain:<78} {fmt(secs):>10} {tgt:>10}  {verdict}")
        lines.append(f"| {what} | {fmt(secs)} | {tgt} | {verdict} | {note} |")
    lines.append("")

    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text("\n".join(lines), encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
