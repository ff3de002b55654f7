import numpy as np
import pytest

import toycore as tc
from toycore.edit import edit_fact
from toycore.learn import Trainer

BASE = tc.ToyModel.default()


@pytest.mark.parametrize("method", ["column", "rank_one"])
def test_michael_jordan_moves_to_golf_and_nobody_else_moves(method):
    new, report = edit_fact(BASE, "Michael Jordan", "golf", method=method)
    assert new.run("Michael Jordan").answer == "golf"
    assert report["success"] and report["old_sport"] == "basketball"
    assert report["target_after"] == pytest.approx(1.0, abs=1e-6)
    assert len(report["others"]) == len(BASE.facts) - 1
    assert report["max_shift_others"] < 1e-6
    assert report["changed_answers"] == []
    for fact in new.facts:
        if fact.name != "Michael Jordan":
            assert new.run(fact.name).answer == fact.sport
    assert BASE.run("Michael Jordan").answer == "basketball"  # original untouched
    assert new.facts.get("Michael Jordan").sport == "golf"


def test_column_edit_on_a_compiled_model_stays_a_recipe():
    new, _ = edit_fact(BASE, "michael jordan", "golf")
    assert new.compiled and new.neuron_labels()[0] == "Michael Jordan → golf"


@pytest.mark.parametrize("method", ["column", "rank_one"])
def test_gelu_edit_moves_others_only_a_little(method):
    g = BASE.with_(activation="gelu")
    new, report = edit_fact(g, "Michael Jordan", "golf", method=method)
    assert report["success"]
    assert report["changed_answers"] == []
    assert report["max_shift_others"] < 0.3
    # recompute one other fact's shift independently from the two models' runs
    old = g.run("Tiger Woods").cache["mlp_out"][-1]
    now = new.run("Tiger Woods").cache["mlp_out"][-1]
    shift = np.sqrt(sum((float((now - old) @ new.embedding.vec(s))) ** 2 for s in new.sports))
    row = next(o for o in report["others"] if o["name"] == "Tiger Woods")
    assert row["shift"] == pytest.approx(shift, abs=1e-9)


def test_edit_to_a_new_sport_adds_a_direction():
    new, report = edit_fact(BASE, "Michael Jordan", "cricket", method="rank_one")
    assert "cricket" in new.sports and new.run("Michael Jordan").answer == "cricket"


def test_rank_one_on_a_learned_model_reports_collateral():
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=len(BASE.facts) + 4, seed=0, lr=0.03)
    t.step(300)
    new, report = edit_fact(t.model(), "Michael Jordan", "golf", method="rank_one")
    assert report["success"]
    assert all(o["shift"] >= 0 for o in report["others"])


def test_impossible_edits_explain_themselves():
    with pytest.raises(ValueError, match="first and last name"):
        edit_fact(BASE, "Jordan", "golf")
    with pytest.raises(ValueError, match="No neuron fires"):
        edit_fact(BASE, "Alexis Jordan", "golf", method="column")
    with pytest.raises(ValueError, match="method"):
        edit_fact(BASE, "Michael Jordan", "golf", method="magic")
    with pytest.raises(ValueError, match="not a sport"):
        edit_fact(BASE, "Michael Jordan", "Tiger")
