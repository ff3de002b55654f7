"""Train section 5's default run once and ship its result as JSON.

The page opens on a trained network: the default settings' run (weights
and the recall at every step) and the "facts recalled against neurons"
chart for those settings, i.e. both kinds of fact table trained at every
neuron count of toycore.capacity.SWEEP_NEURONS. That is about 4,000 Adam
steps, seconds in Pyodide: too much for a page load, so the app reads
toycore/data/capacity_default.json instead. Rerun this script (in CPython)
whenever the trainer, the recipe in toycore.capacity or section 5's
defaults in app/state.py change; tests/test_capacity_data.py says when.

    python3 scripts/make_capacity_data.py [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.state import AppState  # noqa: E402
from toycore import capacity as cap  # noqa: E402
from toycore.learn import Trainer  # noqa: E402

# The AppState keys of the recipe, in the order of app.capacity.TRAINING_KEYS.
KEYS = ("cap_facts", "cap_sports", "cap_d", "cap_neurons", "activation", "attn")


def default_recipe() -> dict:
    """Section 5's default settings and the training recipe."""
    p = AppState.param
    return {**{k: p[k].default for k in KEYS}, "seed": cap.SEED, "lr": cap.LR,
            "steps": cap.STEPS, "sweep_neurons": list(cap.SWEEP_NEURONS)}


def outcome(t: Trainer) -> dict:
    """What a finished run scored: facts recalled and non-facts given a
    sport (counts), and the largest leak onto a wrong sport."""
    m = t.metrics()
    return {"recalled": int(t.recalled().sum()),
            "false_alarms": round(m["false_alarms"] * t.n_negatives),
            "interference": m["interference"]}


def make(recipe: dict) -> dict:
    """Train the run and the sweep the recipe describes."""
    n, answers, d = recipe["cap_facts"], recipe["cap_sports"], recipe["cap_d"]
    act, attn = recipe["activation"], recipe["attn"]
    run = cap.capacity_trainer(n, answers, d, recipe["cap_neurons"], act, attn)
    run.step(recipe["steps"])
    sweep: dict[str, dict[str, dict]] = {}
    for kind in cap.ANSWERS:
        sweep[kind] = {}
        for k in sorted({*recipe["sweep_neurons"], recipe["cap_neurons"]}):
            t = cap.capacity_trainer(n, kind, d, k, act, attn)
            t.step(recipe["steps"])
            sweep[kind][str(k)] = outcome(t)
    return {
        "about": "Section 5's default run and sweep: scripts/make_capacity_data.py",
        "recipe": recipe,
        "run": {
            "params": {k: v.tolist() for k, v in run.params.items()},
            # Per step, for the weights that step started from (Trainer.history).
            "recalled": [round(h["accuracy"] * len(run.facts)) for h in run.history],
            "false_alarms": [round(h["false_alarms"] * run.n_negatives) for h in run.history],
            "outcome": outcome(run),
        },
        "sweep": sweep,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "toycore" / "data" / cap.DEFAULT_FILE)
    args = ap.parse_args(argv)
    data = make(default_recipe())
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    out = data["run"]["outcome"]
    print(f"wrote {args.out}: {out['recalled']} of {data['recipe']['cap_facts']} facts recalled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
