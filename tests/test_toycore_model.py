"""The lesson's numbers (the-idea.md section 4) and the AND-gate truth table.

Expected values are computed here with plain loops over coordinates, from
the embedding's vectors, not by calling the model's own forward pass.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toycore as tc


@pytest.fixture(scope="module")
def model():
    return tc.ToyModel.default()


def dot(u, v):
    return sum(float(a) * float(b) for a, b in zip(u, v, strict=True))


def plus(u, v):
    return [float(a) + float(b) for a, b in zip(u, v, strict=True)]


def neuron_of(model, name):
    return model.facts.names.index(name)


def test_row_dot_products_match_the_lesson(model):
    e = model.embedding
    j = neuron_of(model, "Michael Jordan")
    row = model.mlp.W_up[j]
    assert dot(row, plus(e.vec("Michael"), e.vec("Jordan"))) == pytest.approx(2.0, abs=1e-9)
    assert dot(row, plus(e.vec("Michael"), e.vec("Phelps"))) == pytest.approx(1.0, abs=1e-9)
    assert dot(row, plus(e.vec("Alexis"), e.vec("Jordan"))) == pytest.approx(1.0, abs=1e-9)
    assert dot(row, plus(e.vec("Tiger"), e.vec("Woods"))) == pytest.approx(0.0, abs=1e-9)


def test_bias_turns_two_one_zero_into_one_zero_negative(model):
    j = neuron_of(model, "Michael Jordan")
    pre = {
        n: float(model.run(n).cache["mlp.hook_pre"][-1][j])
        for n in ("Michael Jordan", "Michael Phelps", "Alexis Jordan", "Tiger Woods")
    }
    assert model.mlp.b_up[j] == -1.0
    assert pre["Michael Jordan"] == pytest.approx(1.0, abs=1e-9)
    assert pre["Michael Phelps"] == pytest.approx(0.0, abs=1e-9)
    assert pre["Alexis Jordan"] == pytest.approx(0.0, abs=1e-9)
    assert pre["Tiger Woods"] < -0.5


def test_hook_values_follow_the_documented_formulas(model):
    run = model.run("Michael Jordan")
    c = run.cache
    W_up, b_up, W_down, b_down = model.mlp.W_up, model.mlp.b_up, model.mlp.W_down, model.mlp.b_down
    for p in range(len(run.tokens)):
        x = c["resid_mid"][p]
        for j in range(model.cfg.d_mlp):
            pre = dot(W_up[j], x) + b_up[j]
            assert c["mlp.hook_pre"][p][j] == pytest.approx(pre, abs=1e-9)
            assert c["mlp.hook_post"][p][j] == pytest.approx(max(pre, 0.0), abs=1e-9)
        for i in range(model.cfg.d_model):
            out = sum(W_down[i][j] * c["mlp.hook_post"][p][j] for j in range(model.cfg.d_mlp))
            assert c["mlp_out"][p][i] == pytest.approx(out + b_down[i], abs=1e-9)
            assert c["resid_post"][p][i] == pytest.approx(x[i] + c["mlp_out"][p][i], abs=1e-9)


def test_attention_moves_michael_into_jordan(model):
    e = model.embedding
    c = model.run("Michael Jordan").cache
    expected = plus(e.vec("Jordan"), e.vec("Michael"))
    assert np.allclose(c["resid_mid"][1], expected)
    assert np.allclose(c["attn_out"][0], 0.0)  # nothing comes into "Michael"
    assert np.allclose(c["resid_mid"][0], e.vec("Michael"))


def test_truth_table_over_the_whole_default_table(model):
    """Each fact fires exactly its own neuron and answers its own sport."""
    for j, fact in enumerate(model.facts):
        run = model.run(fact.name)
        assert run.ok
        assert run.fired == [j], fact.name
        assert run.answer == fact.sport, fact.name
        post = run.cache["mlp.hook_post"][-1]
        for k in range(model.cfg.d_mlp):
            assert post[k] == pytest.approx(1.0 if k == j else 0.0, abs=1e-9)


def test_every_known_pair_that_is_not_a_fact_fires_nothing(model):
    e = model.embedding
    facts = set(model.facts.names)
    for first in e.names_of_kind("first"):
        for last in e.names_of_kind("last"):
            name = f"{first} {last}"
            if name in facts:
                continue
            run = model.run(name)
            assert run.fired == [], name
            assert run.answer is None, name
            assert np.all(run.cache["mlp.hook_post"] <= 1e-9), name


def test_single_names_and_sports_do_not_count_as_knowing(model):
    for text in ("Michael", "Jordan", "basketball", "Michael basketball"):
        assert model.run(text).answer is None, text


def test_attention_strength_zero_silences_michael_jordan(model):
    m0 = model.with_(attn_strength=0.0)
    run = m0.run("Michael Jordan")
    assert run.answer is None
    assert run.fired == []
    j = neuron_of(model, "Michael Jordan")
    assert run.cache["mlp.hook_pre"][-1][j] == pytest.approx(0.0, abs=1e-9)
    assert model.with_(attn_strength=0.4).run("Michael Jordan").answer is None
    # order matters: the head only looks back from a last name to a first name
    assert model.run("Jordan Michael").answer is None


def exact_gelu(x):
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_gelu_softens_the_gate(model):
    g = model.with_(activation="gelu")
    j = neuron_of(model, "Michael Jordan")
    full = g.run("Michael Jordan").cache["mlp.hook_post"][-1]
    assert full[j] == pytest.approx(exact_gelu(1.0), abs=1e-12)  # 0.841, not 1
    # the gate still picks the right sport, but weaker than with ReLU
    assert g.run("Michael Jordan").answer == "basketball"
    # neurons that ReLU silences (pre = -1) leak a small negative value
    other = neuron_of(model, "Tiger Woods")
    assert full[other] == pytest.approx(exact_gelu(-1.0), abs=1e-12)
    assert -0.2 < full[other] < -0.1
    # with nearly perpendicular directions, a half match leaks a little
    noisy = tc.ToyModel.default(tc.Config(embed_noise=0.3, activation="gelu"))
    half = noisy.run("Michael Phelps").cache["mlp.hook_post"][-1][j]
    assert half != 0.0 and abs(half) < 0.2
    relu_half = noisy.with_(activation="relu").run("Michael Phelps").cache["mlp.hook_post"][-1][j]
    assert relu_half >= 0.0


@given(st.floats(-6, 6, allow_nan=False))
def test_gelu_tanh_is_close_to_exact(x):
    assert float(tc.gelu(np.array([x]))[0]) == pytest.approx(exact_gelu(x), abs=1e-12)
    assert abs(float(tc.gelu_tanh(np.array([x]))[0]) - exact_gelu(x)) < 1e-3


def test_unknown_words_are_flagged_and_harmless(model):
    run = model.run("Zorg Jordan")
    assert run.ok and run.unknown == [True, False] and run.tokens == ["Zorg", "Jordan"]
    assert run.answer is None
    assert run.cache["readout_mid"][0][model.embedding.index(tc.UNKNOWN)] == pytest.approx(1.0)
    run = model.run("Michael Jeffrey Jordan")  # the head skips the unknown middle name
    assert run.unknown == [False, True, False] and run.answer == "basketball"


def test_empty_and_bad_text(model):
    for text in ("", "   ", "\n\t", "?!"):
        run = model.run(text)
        assert not run.ok and run.error == "Type a name, for example Michael Jordan."
        assert run.cache == {} and run.answer is None
    assert not model.run("x" * 201).ok
    assert "8 words" in model.run("a " * 9).error


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_run_never_raises(text):
    run = tc.ToyModel.default().run(text)
    assert isinstance(run.ok, bool)
    assert run.ok or isinstance(run.error, str)


WORDS = ["Michael", "Jordan", "Phelps", "Serena", "Williams", "golf", "zzz", "Tom", "Jordan?"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), st.integers(2, 80), st.integers(1, 40)
)
def test_cache_shapes_for_any_token_count(words, d_model, d_mlp):
    model = tc.ToyModel.default(tc.Config(d_model=d_model, d_mlp=d_mlp))
    run = model.run(" ".join(words))
    assert run.ok
    n, d = len(run.tokens), d_model
    n_names, n_sports = len(model.embedding.names), len(model.sports)
    shapes = {
        "resid_pre": (n, d),
        "attn_out": (n, d),
        "resid_mid": (n, d),
        "mlp.hook_pre": (n, d_mlp),
        "mlp.hook_post": (n, d_mlp),
        "mlp_out": (n, d),
        "resid_post": (n, d),
        "readout_mid": (n, n_names),
        "readout_post": (n, n_names),
        "move_pattern": (n, n),
        "move_out": (n, d),
        "resid_final": (n, d),
        "readout_final": (n, n_names),
        "mlp_final_sports": (n_sports,),
        "sport_logits": (n_sports,),
        "sport_probs": (n_sports,),
        "attn_pattern": (n, n),
    }
    for key, shape in shapes.items():
        assert run.cache[key].shape == shape, key
        assert np.all(np.isfinite(run.cache[key]))
    assert run.cache["sport_probs"].sum() == pytest.approx(1.0)


def test_sport_softmax_uses_the_scale_knob(model):
    run = model.run("Michael Jordan")
    e = model.embedding
    x = run.cache["resid_final"][-1]
    logits = [5.0 * dot(x, e.vec(s)) for s in model.sports]
    z = sum(math.exp(v) for v in logits)
    i = model.sports.index("basketball")
    assert run.cache["sport_probs"][i] == pytest.approx(math.exp(logits[i]) / z)
    hot = model.with_(readout_scale=1.0).run("Michael Jordan").cache["sport_probs"][i]
    assert hot < run.cache["sport_probs"][i]


def test_neuron_labels(model):
    labels = model.neuron_labels()
    assert labels[0] == "Michael Jordan → basketball"
    assert labels[len(model.facts) :] == ["(unused)"] * (model.cfg.d_mlp - len(model.facts))
    golf = model.set_neuron(0, column={"golf": 1.0})
    assert golf.neuron_labels()[0] == "Michael Jordan → golf"
    assert golf.run("Michael Jordan").answer == "golf"


def labels_by_hand(model):
    """Each neuron's label from a plain loop: which facts make it fire (each
    fact run through the model on its own) and which sport its column
    points at most (>= 0.5), per the docstring of ToyModel.neuron_labels."""
    out = []
    for j in range(model.cfg.d_mlp):
        up, down = model.mlp.W_up[j], model.mlp.W_down[:, j]
        if not any(float(x) for x in up) and not any(float(x) for x in down):
            out.append("(unused)")
            continue
        firing = [f.name for f in model.facts
                  if model.run(f.name).cache["mlp.hook_post"][-1][j] >= model.cfg.fire_threshold]
        who = " / ".join(firing) if len(firing) <= 3 else f"{len(firing)} facts"
        scores = [dot(model.embedding.vec(sp), down) for sp in model.sports]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else -1
        what = model.sports[best] if best >= 0 and scores[best] >= 0.5 else "?"
        out.append(f"{who or 'nobody'} → {what}")
    return out


@pytest.mark.parametrize("edit", ["none", "loose", "silent", "unused", "two_sports", "gelu"])
def test_neuron_labels_match_a_plain_loop(model, edit):
    m = {
        "none": model,
        "loose": model.set_neuron(0, bias=0.0),  # half matches fire: several names
        "silent": model.set_neuron(1, column={"golf": 0.2}),  # writes too little: "?"
        "unused": model.set_neuron(2, row={}, bias=0.0, column={}),
        "two_sports": model.set_neuron(3, column={"golf": 0.6, "tennis": 0.9}),
        "gelu": model.with_(activation="gelu").set_neuron(0, bias=-0.2),
    }[edit]
    assert m.neuron_labels() == labels_by_hand(m)


def test_set_neuron_sliders(model):
    j = neuron_of(model, "Michael Jordan")
    loose = model.set_neuron(j, bias=0.0)  # threshold removed: half matches now fire
    assert loose.run("Michael Phelps").cache["mlp.hook_post"][-1][j] == pytest.approx(1.0)
    only_jordan = model.set_neuron(j, row={"Jordan": 2.0})
    assert only_jordan.run("Alexis Jordan").answer == "basketball"
    assert model.run("Alexis Jordan").answer is None  # the original is unchanged
    vec = np.zeros(model.cfg.d_model)
    assert model.set_neuron(j, row=vec).run("Michael Jordan").answer is None
    with pytest.raises(ValueError):
        model.set_neuron(99, bias=0.0)
    with pytest.raises(ValueError):
        model.set_neuron(j, row=np.zeros(3))


def test_small_mlp_drops_facts_beyond_its_width():
    m = tc.ToyModel.default(tc.Config(d_mlp=5))
    assert m.run("Michael Jordan").answer == "basketball"
    assert m.run("Katie Ledecky").answer is None
    assert m.accuracy() == pytest.approx(5 / len(m.facts))


def test_adding_a_fact_extends_the_vocabulary_and_compiles_it(model):
    facts = model.facts.add("Shohei", "Ohtani", "baseball")
    m = model.with_(facts=facts)
    assert m.run("shohei ohtani").answer == "baseball"
    assert np.allclose(m.embedding.vec("Michael"), model.embedding.vec("Michael"))
    assert m.run("Michael Jordan").answer == "basketball"
    with pytest.raises(ValueError):
        model.with_(facts=model.facts.add("Jordan", "Spieth", "golf"))  # Jordan is a last name


def test_gelu_leaks_add_up_along_shared_sports(model):
    """Silent neurons leak gelu(-1) each; four tennis neurons sink Federer."""
    g = model.with_(activation="gelu")
    tennis = [f.name for f in model.facts if f.sport == "tennis"]
    assert tennis == ["Serena Williams", "Venus Williams", "Roger Federer", "Rafael Nadal"]
    score = g.run("Roger Federer").cache["mlp_out_sports"][-1][g.sports.index("tennis")]
    assert score == pytest.approx(exact_gelu(1.0) + 3 * exact_gelu(-1.0), abs=1e-9)
    # Serena: Venus's neuron is a half match (pre 0, gelu 0), so only two leak
    serena = g.run("Serena Williams").cache["mlp_out_sports"][-1][g.sports.index("tennis")]
    assert serena == pytest.approx(exact_gelu(1.0) + 2 * exact_gelu(-1.0), abs=1e-9)
    forgotten = [name for name, answer in g.answers().items() if answer is None]
    assert forgotten == ["Roger Federer", "Rafael Nadal"]
    assert model.accuracy() == 1.0


def test_sibling_modules_are_reachable_from_the_package():
    import importlib.util

    assert tc.learn.Trainer and tc.edit.edit_fact and tc.state.StateError is tc.StateError
    for name in ("params", "superposition"):
        if importlib.util.find_spec(f"toycore.{name}") is not None:
            assert getattr(tc, name).__name__ == f"toycore.{name}"
    with pytest.raises(AttributeError):
        tc.no_such_thing  # noqa: B018


@pytest.mark.parametrize("cfg", [tc.Config(), tc.Config(activation="gelu"),
                                 tc.Config(attn_strength=0.4), tc.Config(embed_noise=0.2)])
def test_fact_table_batch_equals_one_run_per_fact(cfg) -> None:
    """fact_runs runs the table as one batch; it must be exactly run_tokens
    per fact (every intermediate, the answer, which neurons fire)."""
    model = tc.ToyModel.default(cfg).set_neuron(0, bias=-0.4)  # a half match fires too
    runs = model.fact_runs
    assert len(runs) == len(model.facts)
    for fact, run in zip(model.facts, runs, strict=True):
        one = model.run_tokens([fact.first, fact.last], [False, False])
        assert (run.answer, run.fired, run.tokens, run.kinds) == (
            one.answer, one.fired, one.tokens, one.kinds)
        assert run.answer_score == pytest.approx(one.answer_score, abs=1e-12)
        assert set(run.cache) == set(one.cache)
        for key, value in one.cache.items():
            np.testing.assert_allclose(run.cache[key], value, atol=1e-12, err_msg=key)
