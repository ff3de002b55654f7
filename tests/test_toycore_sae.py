"""toycore.sae against independent calculations: loops over inputs, finite
differences, brute-force matching, and a planted dictionary recovered."""

from __future__ import annotations

import math

import numpy as np
import pytest

import toycore as tc
from toycore import sae as S
from toycore.learn import Trainer
from toycore.model import vocabulary_for
from toycore.superposition import random_unit_vectors

BASE = tc.ToyModel.default()


def narrow_embedding(d: int = 16) -> tc.Embedding:
    names, kinds = vocabulary_for(BASE.facts)
    return tc.Embedding(names, kinds, random_unit_vectors(len(names), d, 0, dtype=float))


# -- the data ---------------------------------------------------------------------------
@pytest.mark.parametrize("attn", [1.0, 0.5])
def test_inputs_are_what_the_mlp_is_trained_on(attn: float) -> None:
    """Every fact and every negative of toycore.learn.Trainer, once each, and
    each row is exactly the mix of name directions it says it is."""
    emb = narrow_embedding()
    data = S.residual_inputs(emb, BASE.facts, attn)
    t = Trainer(BASE.facts, emb, d_mlp=2, attn_strength=attn)
    want = np.vstack([t.X_pos, t.X_neg])
    assert data.x.shape == want.shape == (506, 16)
    key = lambda rows: sorted(map(tuple, np.round(rows, 12)))  # noqa: E731
    assert key(data.x) == key(want)
    np.testing.assert_allclose(data.mix @ data.directions, data.x, atol=1e-12)
    # Rebuilt from the labels alone: "First Last" is last + attn * first.
    for row, label in zip(data.x, data.labels, strict=True):
        parts = label.split(" ") if label != tc.UNKNOWN else [label]
        vec = emb.vec(parts[-1]) + (attn * emb.vec(parts[0]) if len(parts) == 2 else 0)
        np.testing.assert_allclose(row, vec, atol=1e-12)
    assert int(data.is_fact.sum()) == len(BASE.facts)
    assert {lab for lab, f in zip(data.labels, data.is_fact, strict=True) if f} == set(
        BASE.facts.names)
    firsts, lasts = emb.names_of_kind("first"), emb.names_of_kind("last")
    assert list(data.names) == firsts + lasts + [tc.UNKNOWN]
    assert data.contains.sum(axis=0).tolist() == (
        [len(lasts) + 1] * len(firsts) + [len(firsts) + 1] * len(lasts) + [1])


def test_a_long_table_keeps_names_and_facts_and_samples_the_rest() -> None:
    data = S.residual_inputs(BASE.embedding, BASE.facts, 1.0, max_inputs=100, seed=3)
    assert len(data.x) == 100 and data.sampled
    assert not S.residual_inputs(BASE.embedding, BASE.facts, 1.0).sampled
    assert int(data.is_fact.sum()) == len(BASE.facts)
    lone = [lab for lab in data.labels if " " not in lab or lab == tc.UNKNOWN]
    assert len(lone) == len(data.names)
    again = S.residual_inputs(BASE.embedding, BASE.facts, 1.0, max_inputs=100, seed=3)
    assert again.labels == data.labels
    other = S.residual_inputs(BASE.embedding, BASE.facts, 1.0, max_inputs=100, seed=4)
    assert other.labels != data.labels


# -- the forward pass -------------------------------------------------------------------
def random_sae(rng: np.random.Generator, d: int, m: int, lead: tuple = ()) -> S.SAE:
    return S.SAE(rng.standard_normal((*lead, d, m)), rng.standard_normal((*lead, m)),
                 rng.standard_normal((*lead, m, d)), rng.standard_normal((*lead, d)))


def test_forward_matches_a_loop_over_inputs() -> None:
    rng = np.random.default_rng(0)
    sae = random_sae(rng, 5, 7)
    x = rng.standard_normal((4, 5))
    c = S.sae_forward(x, sae)
    assert list(c) == list(S.HOOKS)
    for i, xi in enumerate(x):
        pre = [sum((xi[k] - sae.b_dec[k]) * sae.W_enc[k, j] for k in range(5)) + sae.b_enc[j]
               for j in range(7)]
        post = [max(v, 0.0) for v in pre]
        recons = [sum(post[j] * sae.W_dec[j, k] for j in range(7)) + sae.b_dec[k]
                  for k in range(5)]
        np.testing.assert_allclose(c["hook_sae_input"][i], xi - sae.b_dec, atol=1e-12)
        np.testing.assert_allclose(c["hook_sae_acts_pre"][i], pre, atol=1e-12)
        np.testing.assert_allclose(c["hook_sae_acts_post"][i], post, atol=1e-12)
        np.testing.assert_allclose(c["hook_sae_recons"][i], recons, atol=1e-12)
        np.testing.assert_allclose(c["hook_sae_error"][i], xi - np.array(recons), atol=1e-12)
    # A batch of SAEs: each slice is that SAE on its own.
    batch = random_sae(rng, 5, 7, (3,))
    cb = S.sae_forward(x, batch)
    for b in range(3):
        one = S.sae_forward(x, S.SAE(batch.W_enc[b], batch.b_enc[b], batch.W_dec[b],
                                     batch.b_dec[b]))
        for k in S.HOOKS:
            np.testing.assert_allclose(cb[k][b], one[k], atol=1e-12)


# -- training ---------------------------------------------------------------------------
def test_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 4))
    t = S.SAETrainer(x, 6, [0.0, 0.7], seed=2)
    for v in t.params.values():  # off the starting point, where b_enc is all zero
        v += 0.3 * rng.standard_normal(v.shape)
    loss, grads = t.loss_and_grads()
    assert loss.shape == (2,)
    for name, p in t.params.items():
        for _ in range(4):
            idx = tuple(int(rng.integers(s)) for s in p.shape)
            old = p[idx]
            p[idx] = old + 1e-6
            up = t.loss_and_grads()[0].sum()
            p[idx] = old - 1e-6
            down = t.loss_and_grads()[0].sum()
            p[idx] = old
            assert grads[name][idx] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8), name


def test_loss_is_squared_error_plus_penalty_by_hand() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    t = S.SAETrainer(x, 4, [0.25], seed=0)
    sae = t.sae(0)
    total = 0.0
    for xi in x:
        acts = np.maximum((xi - sae.b_dec) @ sae.W_enc + sae.b_enc, 0)
        recons = acts @ sae.W_dec + sae.b_dec
        total += np.sum((xi - recons) ** 2) + 0.25 * np.sum(acts)
    assert t.loss_and_grads()[0][0] == pytest.approx(total / 5)
    assert t.metrics()["loss"][0] == pytest.approx(total / 5)


def test_steps_are_deterministic_interruptible_and_keep_unit_directions() -> None:
    data = S.residual_inputs(narrow_embedding(), BASE.facts, 1.0)
    a = S.SAETrainer(data.x, 20, [0.1, 0.3], batch_size=64, seed=5)
    b = S.SAETrainer(data.x, 20, [0.1, 0.3], batch_size=64, seed=5)
    seen = []
    b.callback = seen.append
    a.step(5)
    b.step(3)
    b.step(2)
    assert len(seen) == 5 and seen[-1]["step"] == 5.0
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    norms = np.linalg.norm(a.params["W_dec"], axis=2)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)
    c = S.SAETrainer(data.x, 20, [0.1, 0.3], batch_size=64, seed=6)
    c.step(5)
    assert not np.allclose(a.params["W_dec"], c.params["W_dec"])
    # A callback that says False stops step(n) early.
    d = S.SAETrainer(data.x, 20, [0.1], seed=5, callback=lambda m: m["step"] < 3)
    assert d.step(10)["step"] == 3.0 and d.stopped


def test_saes_side_by_side_train_as_each_would_alone() -> None:
    """The sweep trains one SAE per penalty in one batch; each is what it
    would be trained on its own (the same start, the same minibatches)."""
    data = S.residual_inputs(narrow_embedding(), BASE.facts, 1.0)
    both = S.SAETrainer(data.x, 24, [0.05, 0.4], batch_size=100, seed=1)
    alone = S.SAETrainer(data.x, 24, 0.4, batch_size=100, seed=1)
    both.step(30)
    alone.step(30)
    for k in both.params:
        np.testing.assert_allclose(both.params[k][1], alone.params[k][0], atol=1e-10)
    assert both.metrics()["fvu"][1] == pytest.approx(alone.metrics()["fvu"][0], abs=1e-10)


def test_metrics_match_a_brute_force_count() -> None:
    data = S.residual_inputs(narrow_embedding(), BASE.facts, 1.0)
    t = S.SAETrainer(data.x, 30, [0.02, 0.6], batch_size=128, seed=0)
    t.step(60)
    m = t.metrics()
    mean = data.x.mean(axis=0)
    for b in range(2):
        sae = t.sae(b)
        err = var = active = 0.0
        fired = set()
        for xi in data.x:
            acts = np.maximum((xi - sae.b_dec) @ sae.W_enc + sae.b_enc, 0)
            recons = acts @ sae.W_dec + sae.b_dec
            err += float(np.sum((xi - recons) ** 2))
            var += float(np.sum((xi - mean) ** 2))
            active += sum(1 for a in acts if a > 0)
            fired |= {j for j, a in enumerate(acts) if a > 0}
        n = len(data.x)
        assert m["mse"][b] == pytest.approx(err / n)
        assert m["fvu"][b] == pytest.approx(err / var)
        assert S.fraction_of_variance_unexplained(data.x, S.sae_forward(data.x, sae)[
            "hook_sae_recons"]) == pytest.approx(err / var)
        assert m["l0"][b] == pytest.approx(active / n)
        assert m["dead"][b] == 30 - len(fired)
    assert m["l0"][1] < m["l0"][0]  # the larger penalty is the sparser code


@pytest.mark.parametrize("bad", [
    {"x": np.zeros((0, 3))}, {"x": np.full((2, 2), np.nan)}, {"d_sae": 0},
    {"d_sae": 2.5}, {"l1": -0.1}, {"l1": [0.1, math.inf]}, {"batch_size": 0}])
def test_bad_settings_raise_a_clear_error(bad: dict) -> None:
    kw = {"x": np.ones((4, 3)), "d_sae": 3, "l1": 0.1} | bad
    with pytest.raises(ValueError):
        S.SAETrainer(**kw)


# -- what it found ------------------------------------------------------------------------
def test_matching_is_the_best_cosine_by_brute_force() -> None:
    rng = np.random.default_rng(7)
    true = rng.standard_normal((6, 4))
    dec = rng.standard_normal((9, 4)) * rng.uniform(0.5, 2, (9, 1))
    alive = rng.uniform(size=9) > 0.4
    for mask in (None, alive):
        best, idx = S.match_features(true, dec, mask)
        for i, t in enumerate(true):
            cands = [(float(t @ d / math.hypot(*t) / math.hypot(*d)), j)
                     for j, d in enumerate(dec) if mask is None or mask[j]]
            want = max(cands)
            assert best[i] == pytest.approx(want[0]) and idx[i] == want[1]
    best, idx = S.match_features(true, dec, np.zeros(9, bool))
    assert np.isnan(best).all() and (idx == -1).all()
    assert S.recovered_share(best) == 0.0
    assert S.recovered_share(np.array([0.95, 0.9, 0.89, np.nan])) == 0.5


def test_top_name_share_by_hand() -> None:
    acts = np.array([[1.0, 0.0, -0.5], [1.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    contains = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    share, top = S.top_name_share(acts, contains)
    # Unit 0 fires 1 + 1 + 2 = 4: 3 on inputs holding name 0, 3 on name 1.
    assert share[0] == pytest.approx(0.75) and top[0] == 0
    # Unit 1 fires 2 + 1 = 3: 2 on name 1, 1 on name 2.
    assert share[1] == pytest.approx(2 / 3) and top[1] == 1
    # Unit 2 never fires (its negative activation counts as silent).
    assert math.isnan(share[2]) and top[2] == -1


def test_a_planted_dictionary_is_recovered() -> None:
    """Synthetic sparse data: 24 directions in 10 dimensions (superposition),
    each input one or two of them with positive weights. The SAE finds
    nearly all of them; with no penalty it finds almost none."""
    rng = np.random.default_rng(0)
    true = random_unit_vectors(24, 10, 1, dtype=float)
    n = 1500
    coef = np.zeros((n, 24))
    for i in range(n):
        k = 1 + int(rng.integers(2))
        coef[i, rng.choice(24, k, replace=False)] = rng.uniform(0.5, 1.5, k)
    x = coef @ true
    t = S.SAETrainer(x, 48, [0.0, 0.3], lr=0.01, batch_size=128, seed=0)
    t.step(1500)
    c = t.forward()
    alive = c["hook_sae_acts_post"].max(axis=1) > 0
    found = [S.recovered_share(S.match_features(true, t.params["W_dec"][b], alive[b])[0])
             for b in range(2)]
    assert found[1] >= 0.9, found
    assert found[0] <= 0.3, found
