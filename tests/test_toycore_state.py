import copy
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toycore as tc
from toycore import state as S
from toycore.edit import edit_fact
from toycore.learn import Trainer

BASE = tc.ToyModel.default()


def same_behaviour(a, b, atol=1e-9):
    for text in ("Michael Jordan", "Michael Phelps", "Alexis Jordan", "Venus Williams", "Zorg"):
        ra, rb = a.run(text), b.run(text)
        assert ra.answer == rb.answer, text
        for key, value in ra.cache.items():
            assert np.allclose(value, rb.cache[key], atol=atol), (text, key)


def variants():
    emb = BASE.embedding.with_angle("Michael", "Jordan", 70)
    yield BASE
    yield BASE.with_(activation="gelu", attn_strength=0.7, embedding=emb)
    yield BASE.set_neuron(3, bias=-0.5, row={"Serena": 1, "Venus": 1}).set_neuron(
        30, column=np.linspace(-1, 1, BASE.cfg.d_model)
    )
    yield BASE.with_(facts=BASE.facts.add("Shohei", "Ohtani", "baseball").remove("Tom Brady"))
    yield edit_fact(BASE, "Michael Jordan", "cricket")[0]
    yield edit_fact(BASE, "Michael Jordan", "golf", method="rank_one")[0]
    yield tc.ToyModel.default(tc.Config(d_model=16, d_mlp=8, seed=5, embed_noise=0.2))


@pytest.mark.parametrize("model", list(variants()))
def test_round_trip(model):
    state = model.to_state()
    text = json.dumps(state, allow_nan=False)  # JSON-able, no NaN
    back = tc.ToyModel.from_state(json.loads(text))
    same_behaviour(model, back, atol=1e-5)
    assert back.to_state() == state
    diff = S.diff_from_default(state)
    assert S.apply_diff(S.decode(S.encode(diff))) == state


def test_default_state_is_small_and_its_diff_empty():
    state = BASE.to_state()
    assert state["mlp"] == "compiled"  # recipe, not weights
    assert len(json.dumps(state)) < 4000
    assert S.diff_from_default(state) == {}


def test_knob_diffs_are_compact():
    m = BASE.with_(activation="gelu").set_neuron(0, bias=-0.25)
    diff = S.diff_from_default(m.to_state())
    assert diff == {"v": 1, "config": {"activation": "gelu"}, "neurons": [[0, "bias", -0.25]]}
    assert len(S.encode(diff)) < 120


def test_learned_weights_are_stored():
    t = Trainer(BASE.facts, BASE.embedding, d_mlp=8, seed=0)
    t.step(20)
    model = t.model()
    back = tc.ToyModel.from_state(model.to_state())
    assert not back.compiled
    same_behaviour(model, back, atol=1e-4)


def broken(path, value):
    state = copy.deepcopy(BASE.to_state())
    target = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return state


BAD = [
    broken(("config", "d_model"), "64"),
    broken(("config", "d_model"), 10**9),
    broken(("config", "attn_strength"), math.nan),
    broken(("config", "attn_strength"), math.inf),
    broken(("config", "bias"), 1e300),
    broken(("config", "activation"), "sigmoid"),
    broken(("config", "wings"), 2),
    broken(("version",), 99),
    broken(("facts",), "Michael Jordan"),
    broken(("facts", 0), ["Michael", "Jordan"]),
    broken(("facts", 0), ["Michael", "Jordan", 7]),
    broken(("embedding", "kinds", 0), "wizard"),
    broken(("embedding", "angles"), [["Michael", "Jordan", 500]]),
    broken(("embedding", "angles"), [["Michael", "Nobody", 30]]),
    broken(("embedding", "vectors"), [[1.0, 2.0]]),
    broken(("mlp",), {"W_up": [[1.0]], "b_up": [0.0], "W_down": [[1.0]], "b_down": [0.0]}),
    broken(("mlp",), "learned"),
    broken(("neurons",), [[99, "bias", 0.0]]),
    broken(("neurons",), [[0, "bias", math.nan]]),
    broken(("neurons",), [[0, "row", [1.0, 2.0]]]),
    broken(("neurons",), [[0, "row", {"Nobody": 1.0}]]),
    broken(("neurons",), [[0, "color", 1.0]]),
    {**BASE.to_state(), "extra": 1},
    [],
    None,
    "state",
]


@pytest.mark.parametrize("state", BAD)
def test_bad_state_is_rejected_with_a_message(state):
    with pytest.raises(tc.StateError) as err:
        tc.ToyModel.from_state(state)
    assert "state" in str(err.value) or "saved" in str(err.value)


def test_weights_with_nan_or_wrong_shape_are_rejected():
    state = edit_fact(BASE, "Michael Jordan", "golf", method="rank_one")[0].to_state()
    bad = copy.deepcopy(state)
    bad["mlp"]["b_up"][0] = math.nan
    with pytest.raises(tc.StateError, match="finite"):
        tc.ToyModel.from_state(bad)
    bad = copy.deepcopy(state)
    bad["mlp"]["W_down"] = bad["mlp"]["W_down"][:-1]
    with pytest.raises(tc.StateError):
        tc.ToyModel.from_state(bad)
    bad = copy.deepcopy(state)
    bad["mlp"]["W_up"][0][0] = 1e9
    with pytest.raises(tc.StateError):
        tc.ToyModel.from_state(bad)


@pytest.mark.parametrize("text", ["", "!!!", S.encode({"v": 9}), S.encode([1, 2]), "a" * 300_000])
def test_bad_links_are_rejected(text):
    with pytest.raises(tc.StateError):
        S.apply_diff(S.decode(text))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.sampled_from(sorted(S.DIFF_KEYS) + ["version", "x"])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=4))
def test_random_diffs_fail_only_with_state_error(diff):
    try:
        tc.ToyModel.from_state(S.apply_diff(diff))
    except tc.StateError as err:
        assert str(err)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, (*prefix, i))


RICH = BASE.set_neuron(2, row={"Michael": 1.0}, bias=-0.5).with_(
    embedding=BASE.embedding.with_angle("Michael", "Phelps", 40)
)
RICH_STATES = [RICH.to_state(), edit_fact(BASE, "Tiger Woods", "chess", "rank_one")[0].to_state()]
PATHS = [(i, p) for i, s in enumerate(RICH_STATES) for p in _paths(s) if p]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), json_values)
def test_mutated_states_load_or_fail_with_state_error(where, value):
    i, path = where
    state = copy.deepcopy(RICH_STATES[i])
    target = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        model = tc.ToyModel.from_state(state)
    except tc.StateError as err:
        assert str(err)
    else:
        assert model.run("Michael Jordan").ok
