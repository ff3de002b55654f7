"""Causal tracing (toycore.trace) against a forward pass written out with
loops, position by position, that patches activations by hand; and what
tracing must find in the toy: the MLP's output at the name's last word
brings a stored fact back, nothing brings back what the toy never knew, and
with the first head off the first name's position stops mattering."""

from __future__ import annotations

import math

import numpy as np
import pytest

import toycore as tc
from toycore.trace import COMPONENTS, swap_partner, trace

PROMPT = "Michael Jordan plays the sport of"


@pytest.fixture(scope="module")
def model() -> tc.ToyModel:
    return tc.ToyModel.default()


def by_hand(model: tc.ToyModel, x: list[np.ndarray], kinds: list[str],
            patch: dict[tuple[str, int], np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The toy's forward pass with loops; patch[(component, position)] replaces
    that activation as soon as it is made. Returns every component by position."""
    e, mlp, cfg = model.embedding, model.mlp, model.cfg
    act = tc.model.ACTIVATION_FNS[cfg.activation]
    n = len(kinds)

    def at(name: str, i: int, value: np.ndarray) -> np.ndarray:
        return patch.get((name, i), value)

    pre = [at("resid_pre", i, x[i]) for i in range(n)]
    attn = []
    for i, k in enumerate(kinds):
        firsts = [j for j in range(i) if kinds[j] == "first"] if k == "last" else []
        v = cfg.attn_strength * pre[firsts[-1]] if firsts else np.zeros(e.d_model)
        attn.append(at("attn_out", i, v))
    mid = [pre[i] + attn[i] for i in range(n)]
    out = []
    for v in mid:
        h = [float(act(np.array(mlp.W_up[j] @ v + mlp.b_up[j]))) for j in range(mlp.d_mlp)]
        out.append(sum(h[j] * mlp.W_down[:, j] for j in range(mlp.d_mlp)) + mlp.b_down)
    out = [at("mlp_out", i, out[i]) for i in range(n)]
    post = [at("resid_post", i, mid[i] + out[i]) for i in range(n)]
    move = []
    for i, k in enumerate(kinds):
        lasts = [j for j in range(i) if kinds[j] == "last"] if k not in ("first", "last") else []
        v = cfg.move_strength * post[lasts[-1]] if lasts else np.zeros(e.d_model)
        move.append(at("move_out", i, v))
    final = post[-1] + move[-1]
    logits = [cfg.readout_scale * float(final @ e.vec(s)) for s in model.sports]
    top = max(logits)
    weights = [math.exp(z - top) for z in logits]
    probs = [w / sum(weights) for w in weights]
    return {"resid_pre": pre, "attn_out": attn, "mlp_out": out, "resid_post": post,
            "move_out": move, "probs": probs}


def embedded(model: tc.ToyModel, run: tc.Run) -> list[np.ndarray]:
    return [model.embedding.vec("(unknown)" if k == "unknown" else t).copy()
            for t, k in zip(run.tokens, run.kinds, strict=True)]


def traced_by_hand(model: tc.ToyModel, text: str, corrupt: list[list[np.ndarray]],
                   target: str) -> tuple[float, float, np.ndarray]:
    """(clean, corrupted, restored) for the target, averaged over the given
    corrupted inputs, every cell patched by hand."""
    run = model.run(text)
    x = embedded(model, run)
    t = model.sports.index(target)
    clean = by_hand(model, x, run.kinds, {})
    corrupted = np.mean([by_hand(model, xs, run.kinds, {})["probs"][t] for xs in corrupt])
    restored = np.zeros((len(COMPONENTS), len(x)))
    for c, name in enumerate(COMPONENTS):
        for p in range(len(x)):
            patch = {(name, p): clean[name][p]}
            restored[c, p] = np.mean([by_hand(model, xs, run.kinds, patch)["probs"][t]
                                      for xs in corrupt])
    return clean["probs"][t], float(corrupted), restored


@pytest.mark.parametrize("text", ["Michael Jordan", PROMPT, "Alexis Jordan"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_noise_trace_equals_patching_by_hand(model, text, activation):
    m = model.with_(activation=activation)
    got = trace(m, text, noise=3.0, samples=4, seed=7)
    rng = np.random.default_rng(7)
    sd = 3.0 * float(np.std(m.embedding.vectors))
    run = m.run(text)
    draws = sd * rng.standard_normal((4, len(got.subject), m.cfg.d_model))
    corrupt = []
    for s in range(4):
        xs = embedded(m, run)
        for k, p in enumerate(got.subject):
            xs[p] = xs[p] + draws[s, k]
        corrupt.append(xs)
    clean, corrupted, restored = traced_by_hand(m, text, corrupt, got.target)
    assert got.ok and got.samples == 4
    assert got.clean == pytest.approx(clean, abs=1e-12)
    assert got.corrupted == pytest.approx(corrupted, abs=1e-12)
    np.testing.assert_allclose(got.restored, restored, atol=1e-12)
    np.testing.assert_allclose(got.indirect, restored - corrupted, atol=1e-12)


def test_swap_trace_equals_patching_by_hand(model):
    got = trace(model, PROMPT, corruption="swap")
    assert got.swap_with == "Alexis" and got.samples == 1
    run = model.run(PROMPT)
    xs = embedded(model, run)
    xs[0] = model.embedding.vec("Alexis")
    clean, corrupted, restored = traced_by_hand(model, PROMPT, [xs], "basketball")
    assert (got.clean, got.corrupted) == pytest.approx((clean, corrupted), abs=1e-12)
    np.testing.assert_allclose(got.restored, restored, atol=1e-12)


def test_the_mlp_output_at_the_names_last_word_brings_a_stored_fact_back(model):
    for text in ("Michael Jordan", PROMPT, "Serena Williams plays", "Tiger Woods"):
        swap = trace(model, text, corruption="swap")
        at = swap.subject[-1]
        assert swap.known and swap.corrupted < 0.1 < 0.9 < swap.clean
        assert swap.cell("mlp_out", at) == pytest.approx(swap.clean, abs=1e-12)
        mlp_row = swap.indirect[COMPONENTS.index("mlp_out")]
        assert np.all(np.abs(np.delete(mlp_row, at)) < 1e-12)  # nowhere else
        # Under noise the residual after the MLP at the name holds all the
        # last word gets, noise included; the MLP's output is only a part.
        noise = trace(model, text, samples=200)
        assert noise.lost > 0.3
        assert noise.cell("resid_post", at) == pytest.approx(noise.clean, abs=1e-12)
        assert noise.indirect[COMPONENTS.index("mlp_out"), at] < noise.lost / 2
    noise = trace(model, "Michael Jordan", samples=200)
    assert noise.indirect[COMPONENTS.index("mlp_out"), 1] > 0.03


def test_with_the_mlp_held_only_the_mlp_and_what_carries_its_output_bring_it_back(model):
    t = trace(model, PROMPT, corruption="swap", sever=True)
    strong = {(COMPONENTS[c], t.tokens[p]) for c, p in zip(*np.nonzero(t.indirect > 0.5),
                                                          strict=True)}
    assert strong == {("mlp_out", "Jordan"), ("resid_post", "Jordan"), ("move_out", "of")}
    unsevered = trace(model, PROMPT, corruption="swap")
    assert unsevered.cell("resid_pre", 0) == pytest.approx(unsevered.clean)
    assert t.cell("resid_pre", 0) == pytest.approx(t.corrupted)


def test_nothing_brings_back_a_fact_the_toy_never_knew(model):
    for text in ("Alexis Jordan", "Michael Ruth", "Tom Woods plays the sport of"):
        run = model.run(text)
        assert run.answer is None
        swap = trace(model, text, corruption="swap")
        assert not swap.known and swap.clean < 0.1
        np.testing.assert_allclose(swap.restored, swap.corrupted, atol=0.02)
        noise = trace(model, text, samples=100)
        assert noise.lost <= 0  # the noise takes away nothing it could give back


def test_with_the_first_head_off_the_first_name_stops_mattering(model):
    for m in (model.with_(attn_strength=0.0), model.with_(attn_strength=0.0, bias=-0.5)):
        for kind in ("noise", "swap"):
            t = trace(m, PROMPT, corruption=kind)
            assert t.tokens[0] == "Michael" and t.subject == [0, 1]
            assert np.all(np.abs(t.indirect[:, 0]) < 1e-12)
    # With bias -0.5, "Jordan" alone fires the neuron: the fact is still
    # there, and swapping the first name takes none of it away.
    t = trace(model.with_(attn_strength=0.0, bias=-0.5), PROMPT, corruption="swap")
    assert t.known and abs(t.lost) < 1e-12


def test_untouched_cells_cost_nothing_and_change_nothing(model):
    t = trace(model, PROMPT)
    words = slice(2, None)  # plays the sport of: not corrupted
    for name in ("resid_pre", "attn_out", "mlp_out", "resid_post"):
        assert np.all(t.indirect[COMPONENTS.index(name), words] == 0.0)


def test_noise_zero_and_the_seed(model):
    zero = trace(model, PROMPT, noise=0.0)
    assert abs(zero.lost) < 1e-12 and np.all(np.abs(zero.indirect) < 1e-12)
    a, b = trace(model, PROMPT, seed=1), trace(model, PROMPT, seed=1)
    np.testing.assert_array_equal(a.restored, b.restored)
    assert trace(model, PROMPT, seed=2).corrupted != a.corrupted


@pytest.mark.parametrize("text,words", [
    ("", None), ("basketball", "no name"), ("Jordan plays the sport of", "first name"),
    ("Zaphod Beeblebrox", "no name"), ("x" * 500, None),
])
def test_bad_input_comes_back_as_a_message(model, text, words):
    for kind in ("noise", "swap"):
        t = trace(model, text, corruption=kind)
        if kind == "noise" and words == "first name":
            assert t.ok  # noise needs no first name: "Jordan" alone is corrupted
            assert t.subject == [0]
            continue
        assert not t.ok and t.error and t.restored.size == 0
        if words:
            assert words in t.error


def test_bad_arguments_raise(model):
    for kwargs in ({"corruption": "blur"}, {"noise": math.nan}, {"noise": -1},
                   {"samples": 0}, {"samples": True}):
        with pytest.raises(ValueError):
            trace(model, PROMPT, **kwargs)


def test_the_swap_partner_makes_no_fact(model):
    assert swap_partner(model, "Michael", "Jordan") == "Alexis"
    assert swap_partner(model, "Alexis", "Jordan") not in ("Alexis", "Michael")
    t = trace(model, "Michael Jordan", corruption="swap", swap_with="serena")
    assert t.swap_with == "Serena" and t.corrupted < 0.1
    assert not trace(model, "Michael Jordan", corruption="swap", swap_with="Woods").ok


def test_unknown_hook_points_are_refused(model):
    run = model.run("Michael Jordan")
    with pytest.raises(ValueError, match="no hook point"):
        tc.model.forward_vectors(run.cache["resid_pre"], run.kinds, model.embedding,
                                 model.mlp, model.cfg, {"mlp_in": lambda v: v})
