import math

import numpy as np
import pytest

import toycore as tc
from toycore.learn import Adam, Trainer, activation_grad

BASE = tc.ToyModel.default()


def test_gradients_match_finite_differences():
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=6, seed=1, activation="gelu_tanh")
    _, grads = t.loss_and_grads()
    rng = np.random.default_rng(0)
    for name in ("W_up", "b_up", "W_down", "b_down"):
        p = t.params[name]
        for _ in range(3):
            idx = tuple(int(rng.integers(s)) for s in p.shape)
            old = p[idx]
            p[idx] = old + 1e-6
            up = t.loss_and_grads()[0]
            p[idx] = old - 1e-6
            down = t.loss_and_grads()[0]
            p[idx] = old
            assert grads[name][idx] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_tanh"])
def test_activation_grads(name):
    fn = {"relu": tc.relu, "gelu": tc.gelu, "gelu_tanh": tc.gelu_tanh}[name]
    for x in (-2.0, -0.3, 0.4, 1.7):
        numeric = (fn(np.array([x + 1e-6]))[0] - fn(np.array([x - 1e-6]))[0]) / 2e-6
        assert activation_grad(name, np.array([x]))[0] == pytest.approx(numeric, rel=1e-5)


def test_adam_matches_the_textbook_first_step():
    params = {"w": np.array([1.0, -2.0])}
    Adam(params, lr=0.1).update(params, {"w": np.array([0.5, -3.0])})
    # after one step Adam moves each coordinate by lr * sign(grad) (up to eps)
    assert params["w"] == pytest.approx([0.9, -1.9], abs=1e-6)


def test_learned_model_reaches_good_accuracy_with_enough_neurons():
    seen = []
    t = Trainer(
        BASE.facts, BASE.embedding, d_mlp=len(BASE.facts) + 4, seed=0, lr=0.03, callback=seen.append
    )
    metrics = t.step(300)
    assert len(seen) == 300 and seen[-1]["step"] == 299
    assert metrics == t.metrics() and metrics["step"] == 300
    assert metrics["accuracy"] == 1.0
    assert metrics["false_alarms"] < 0.05
    model = t.model()
    assert not model.compiled
    assert model.accuracy() == 1.0  # the page's answer rule agrees with the trainer
    assert model.run("Michael Jordan").answer == "basketball"
    assert model.run("Michael Phelps").answer == "swimming"
    assert model.run("Alexis Jordan").answer is None


def test_fewer_neurons_than_facts_costs_accuracy_or_interference():
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=6, seed=0, lr=0.03)
    m = t.step(300)
    assert m["accuracy"] < 1.0 or m["interference"] > 0.1
    r = t.interference()
    assert r.shape == (len(BASE.facts), len(t.sports))
    overlap = t.neuron_overlap()
    assert overlap.shape == (len(BASE.facts), len(BASE.facts))
    assert np.max(overlap - np.eye(len(BASE.facts))) > 0.5  # facts share neurons


def test_training_is_incremental_and_stoppable():
    a = Trainer(BASE.facts, BASE.embedding, d_mlp=8, seed=3)
    b = Trainer(BASE.facts, BASE.embedding, d_mlp=8, seed=3)
    a.step(10)
    for _ in range(10):
        b.step()
    assert np.allclose(a.params["W_up"], b.params["W_up"])
    calls = []

    def cb(metrics):
        calls.append(metrics["step"])
        return len(calls) < 5

    c = Trainer(BASE.facts, BASE.embedding, d_mlp=8, seed=3, callback=cb)
    c.step(100)
    assert c.steps == 5 and c.stopped


def test_loss_is_the_documented_weighted_mse():
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=4, seed=2)
    S = [BASE.embedding.vec(s) for s in t.sports]
    p = t.params

    def readout(x):
        pre = [sum(p["W_up"][j][i] * x[i] for i in range(len(x))) + p["b_up"][j] for j in range(4)]
        post = [max(v, 0.0) for v in pre]
        out = [
            sum(p["W_down"][i][j] * post[j] for j in range(4)) + p["b_down"][i]
            for i in range(len(x))
        ]
        return [sum(a * b for a, b in zip(out, s, strict=True)) for s in S]

    pos = sum(
        sum((r - (1.0 if t.sports[k] == f.sport else 0.0)) ** 2 for k, r in enumerate(readout(x)))
        for f, x in zip(BASE.facts, t.X_pos, strict=True)
    ) / len(BASE.facts)
    neg = sum(sum(r * r for r in readout(x)) for x in t.X_neg) / len(t.X_neg)
    assert t.loss_and_grads()[0] == pytest.approx(pos + neg, rel=1e-9)
    assert math.isfinite(t.step()["loss"])


def dense_loss_and_grads(t: Trainer) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and its gradients with every input vector multiplied
    through the MLP (what the trainer gathers per name instead)."""
    p, act = t.params, t.cfg.activation
    X = np.vstack([t.X_pos, t.X_neg])
    Y = np.vstack([t.Y_pos, np.zeros((len(t.X_neg), len(t.sports)))])
    w = np.r_[np.full(len(t.X_pos), 1 / len(t.X_pos)), np.full(len(t.X_neg), 1 / len(t.X_neg))]
    pre = X @ p["W_up"].T + p["b_up"]
    fn = {"relu": tc.relu, "gelu": tc.gelu, "gelu_tanh": tc.gelu_tanh}[act]
    post = fn(pre)
    r = (post @ p["W_down"].T + p["b_down"]) @ t.S.T
    err = r - Y
    d_out = (2 * w[:, None] * err) @ t.S
    d_pre = (d_out @ p["W_down"]) * activation_grad(act, pre)
    grads = {"W_down": d_out.T @ post, "b_down": d_out.sum(0), "W_up": d_pre.T @ X,
             "b_up": d_pre.sum(0)}
    return float(np.sum(w[:, None] * err**2)), grads


@pytest.mark.parametrize(("activation", "attn", "d"), [("relu", 1.0, 64), ("gelu", 0.5, 16),
                                                       ("gelu_tanh", 2.0, 8)])
def test_gathered_gradients_equal_the_dense_calculation(activation, attn, d):
    """Inputs are last + attn * first, so the trainer projects each name once
    and gathers W_up's gradient per name: the same numbers as the dense way,
    also when names overlap (d below the 57 names)."""
    from toycore.superposition import random_unit_vectors

    names, kinds = BASE.embedding.names, BASE.embedding.kinds
    emb = BASE.embedding if d == 64 else tc.Embedding(
        names, kinds, random_unit_vectors(len(names), d, 3, dtype=float))
    t = Trainer(BASE.facts, emb, d_mlp=5, seed=2, activation=activation, attn_strength=attn)
    t.step(20)  # away from the start, so biases and every weight matter
    loss, grads = t.loss_and_grads()
    ref_loss, ref = dense_loss_and_grads(t)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-9, atol=1e-13)
    assert t.n_negatives == len(t.X_neg) == 21 * 22 - 23 + 21 + 22 + 1


def test_recalled_is_the_answer_rule_fact_by_fact():
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=6, seed=0)
    t.step(150)
    r = t.interference()
    want = [t.sports[int(np.argmax(row))] == f.sport and row.max() >= 0.5
            for row, f in zip(r, BASE.facts, strict=True)]
    assert t.recalled().tolist() == want and 0 < sum(want) < len(want)
    assert t.accuracy() == pytest.approx(sum(want) / len(want))
    p = t.params
    neg = (tc.relu(t.X_neg @ p["W_up"].T + p["b_up"]) @ p["W_down"].T + p["b_down"]) @ t.S.T
    claims = neg.max(axis=1) >= 0.5
    assert 0 < claims.sum() and t.metrics()["false_alarms"] == claims.sum() / len(t.X_neg)


def test_restore_takes_up_saved_weights_and_history():
    a = Trainer(BASE.facts, BASE.embedding, d_mlp=4, seed=1)
    a.step(30)
    b = Trainer(BASE.facts, BASE.embedding, d_mlp=4, seed=1)
    b.restore({k: v.tolist() for k, v in a.params.items()}, a.history)
    assert b.steps == 30 and b.metrics() == a.metrics()
    with pytest.raises(ValueError, match="shape"):
        b.restore({"b_up": np.zeros(3)}, [])


def test_first_weights_are_not_tied_to_a_name():
    """The first weights come from their own random stream: no neuron starts
    at right angles to every name after one of them (as neuron 0 did when
    it shared name 7's stream)."""
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=8, seed=0)
    dots = t.params["W_up"] @ BASE.embedding.vectors.T
    assert np.min(np.abs(dots)) > 1e-6


def test_step_without_report_trains_the_same():
    a = Trainer(BASE.facts, BASE.embedding, d_mlp=4, seed=5)
    b = Trainer(BASE.facts, BASE.embedding, d_mlp=4, seed=5)
    assert a.step(3, report=False) is None
    b.step(3)
    assert a.steps == b.steps == 3 and a.history == b.history
    np.testing.assert_array_equal(a.params["W_up"], b.params["W_up"])
