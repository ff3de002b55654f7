"""toycore.capacity: section 5's fact tables, names, and the read-outs that
take a trained MLP apart neuron by neuron, each against a plain loop."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import toycore as tc
from toycore import capacity as cap
from toycore.learn import Trainer

REAL = {f.name: f.sport for f in tc.default_facts()}


@pytest.mark.parametrize("answers", cap.ANSWERS)
@pytest.mark.parametrize("n", [2, 13, 14, 23, 24, 60])
def test_fact_tables_never_teach_a_false_fact_about_a_real_person(answers: str, n: int) -> None:
    facts = cap.capacity_facts(n, answers)
    assert len(facts) == n
    for i, f in enumerate(facts):
        if f.name in REAL:
            assert f.sport == REAL[f.name]
        else:  # made up: numbered by its place in the table
            assert (f.first, f.last) == (f"Player{i + 1}", f"Surname{i + 1}")
    sports = [f.sport for f in facts]
    if answers == "distinct":
        assert len(set(sports)) == n  # an answer each
        real = [f for f in facts if f.name in REAL]
        assert [f.sport for f in real] == list(dict.fromkeys(REAL.values()))[:len(real)]
        assert all(f.sport == f"sport {i + 1}" for i, f in enumerate(facts) if f.name not in REAL)
    else:
        assert list(facts)[:min(n, 23)] == list(tc.default_facts())[:n]
        assert set(sports) <= set(REAL.values())


def test_fact_tables_reject_what_they_cannot_make() -> None:
    with pytest.raises(ValueError, match="answers"):
        cap.capacity_facts(5, "some")
    with pytest.raises(ValueError, match="negative"):
        cap.capacity_facts(-1)


def test_names_are_exactly_perpendicular_while_they_fit_and_random_after() -> None:
    facts = cap.capacity_facts(23)
    wide = cap.capacity_embedding(facts, 64)
    default = tc.ToyModel.default().embedding
    assert wide.names == default.names
    np.testing.assert_allclose(wide.vectors, default.vectors, atol=1e-12)
    narrow = cap.capacity_embedding(facts, 16)
    assert narrow.names == default.names and narrow.d_model == 16
    np.testing.assert_allclose(np.linalg.norm(narrow.vectors, axis=1), 1.0, atol=1e-12)
    rng = np.random.default_rng(0)  # what "random unit vector each" means
    g = rng.standard_normal((len(default.names), 16))
    np.testing.assert_allclose(narrow.vectors, g / np.linalg.norm(g, axis=1, keepdims=True),
                               atol=1e-6)
    cos = np.abs(narrow.vectors @ narrow.vectors.T)[np.triu_indices(len(default.names), 1)]
    assert 0.1 < cos.mean() < 0.3 and cos.max() < 1  # nearly, not exactly, perpendicular


def trained(n: int = 23, answers: str = "shared", d: int = 24, k: int = 6,
            activation: str = "relu", attn: float = 1.0, steps: int = 120) -> tc.ToyModel:
    t = cap.capacity_trainer(n, answers, d, k, activation, attn)
    t.step(steps)
    return t.model()


@pytest.mark.parametrize(("activation", "attn"), [("relu", 1.0), ("gelu", 0.6)])
def test_sharing_cache_against_a_loop_over_facts_and_neurons(activation: str,
                                                              attn: float) -> None:
    model = trained(activation=activation, attn=attn)
    c = cap.sharing_cache(model)
    e, mlp = model.embedding, model.mlp
    act = {"relu": tc.relu, "gelu": tc.gelu}[activation]
    sports = model.sports
    for i, f in enumerate(model.facts):
        x = e.vec(f.last) + attn * e.vec(f.first)
        run = model.run(f.name)  # the page's own forward pass, token by token
        for j in range(model.cfg.d_mlp):
            pre = float(mlp.W_up[j] @ x + mlp.b_up[j])
            assert c["mlp.hook_pre"][i, j] == pytest.approx(pre, abs=1e-12)
            post = float(act(np.array([pre]))[0])
            assert c["mlp.hook_post"][i, j] == pytest.approx(post, abs=1e-12)
            for s, sport in enumerate(sports):
                w = float(e.vec(sport) @ mlp.W_down[:, j])
                assert c["neuron_sports"][s, j] == pytest.approx(w, abs=1e-12)
                assert c["contrib"][i, j, s] == pytest.approx(post * w, abs=1e-12)
        for s, sport in enumerate(sports):
            total = sum(c["contrib"][i, :, s]) + float(e.vec(sport) @ mlp.b_down)
            assert c["mlp_out_sports"][i, s] == pytest.approx(total, abs=1e-12)
            assert c["mlp_out_sports"][i, s] == pytest.approx(run.cache["mlp_out_sports"][-1, s],
                                                              abs=1e-12)


def test_one_neuron_per_answer_is_the_largest_sport_groups() -> None:
    facts = cap.capacity_facts(23)
    assert cap.answer_groups(facts) == [4, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    for k in range(0, 15):
        # Brute force: the best set of k sports, each stored for all its athletes.
        best = max(sum(f.sport in chosen for f in facts)
                   for chosen in itertools.combinations(facts.sports, min(k, 13)))
        assert cap.one_neuron_per_answer(facts, k) == best
    assert [cap.one_neuron_per_answer(facts, k) for k in (1, 4, 8, 13, 64)] == [4, 11, 18, 23, 23]
    distinct = cap.capacity_facts(30, "distinct")
    assert all(cap.one_neuron_per_answer(distinct, k) == min(k, 30) for k in range(0, 65))


def test_firing_spread_and_rival_against_loops() -> None:
    model = trained(k=10, steps=300)
    c = cap.sharing_cache(model)
    post = c["mlp.hook_post"]
    fires = cap.firing(c)
    for i, j in itertools.product(range(len(model.facts)), range(10)):
        assert fires[i, j] == (post[i, j] >= cap.FIRE_AT - 1e-9)  # forgiving float noise
    counts = [sum(post[i, j] >= 0.1 for j in range(10)) for i in range(len(model.facts))]
    assert cap.most_spread_fact(c) == counts.index(max(counts))
    for i, f in enumerate(model.facts):
        own = model.sports.index(f.sport)
        gross = [sum(abs(c["contrib"][i, j, s]) for j in range(10)) if s != own else -math.inf
                 for s in range(len(model.sports))]
        assert cap.rival_sport(c, i, own) == gross.index(max(gross))


def test_a_single_sport_has_no_rival() -> None:
    t = Trainer(tc.FactTable([tc.Fact("Serena", "Williams", "tennis")]),
                cap.capacity_embedding(cap.capacity_facts(4), 64), d_mlp=2)
    c = cap.sharing_cache(t.model())
    assert len(t.sports) == 4 and cap.rival_sport(c, 0, 0) >= 0  # the vocabulary's other sports
    solo = {"contrib": np.ones((1, 2, 1))}
    assert cap.rival_sport(solo, 0, 0) == -1


def test_the_recipe_trains_what_it_says() -> None:
    t = cap.capacity_trainer(23, "shared", 24, 10, "gelu", 0.5)
    assert (t.lr, t.cfg.seed, t.cfg.d_mlp, t.cfg.d_model) == (cap.LR, cap.SEED, 10, 24)
    assert (t.cfg.activation, t.cfg.attn_strength) == ("gelu", 0.5)
    assert t.facts == cap.capacity_facts(23) and len(t.embedding) == 57
