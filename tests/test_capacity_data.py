"""The shipped default run (toycore/data/capacity_default.json) is what a
fresh training gives today: same recipe as the page's defaults, same
weights, the same recall at every step, the same sweep. If this fails,
rerun scripts/make_capacity_data.py."""

from __future__ import annotations

import numpy as np

from app.state import AppState
from scripts.make_capacity_data import KEYS, default_recipe
from toycore import capacity as cap


def test_keys_are_the_sections_training_keys() -> None:
    from app.capacity import TRAINING_KEYS

    assert KEYS == TRAINING_KEYS


def test_the_shipped_recipe_is_the_pages_default() -> None:
    data = cap.load_default()
    assert data["recipe"] == default_recipe()
    assert data["recipe"]["cap_neurons"] == AppState.param.cap_neurons.default


def test_a_fresh_training_gives_the_shipped_run() -> None:
    data = cap.load_default()
    r = data["recipe"]
    t = cap.capacity_trainer(r["cap_facts"], r["cap_sports"], r["cap_d"], r["cap_neurons"],
                             r["activation"], r["attn"])
    t.step(r["steps"])
    for k, v in data["run"]["params"].items():
        np.testing.assert_allclose(t.params[k], np.array(v), rtol=0, atol=1e-9)
    n, n_neg = len(t.facts), t.n_negatives
    assert data["run"]["recalled"] == [round(h["accuracy"] * n) for h in t.history]
    assert data["run"]["false_alarms"] == [round(h["false_alarms"] * n_neg) for h in t.history]
    assert data["run"]["outcome"]["recalled"] == int(t.recalled().sum())


def test_a_fresh_sweep_gives_the_shipped_sweep() -> None:
    data = cap.load_default()
    r = data["recipe"]
    for answers, row in data["sweep"].items():
        assert sorted(map(int, row)) == sorted({*cap.SWEEP_NEURONS, r["cap_neurons"]})
        for k, score in row.items():
            t = cap.capacity_trainer(r["cap_facts"], answers, r["cap_d"], int(k),
                                     r["activation"], r["attn"])
            t.step(r["steps"])
            # Counted here from the read-out, not by the trainer's own rule.
            read = t.interference()
            best = read.argmax(axis=1)
            own = [t.sports.index(f.sport) for f in t.facts]
            ok = (best == own) & (read.max(axis=1) >= 0.5)
            assert score["recalled"] == int(ok.sum()), (answers, k)
            assert score["false_alarms"] == round(t.metrics()["false_alarms"] * t.n_negatives)
            assert abs(score["interference"] - t.metrics()["interference"]) < 1e-9
