import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import toycore as tc

EMB = tc.ToyModel.default().embedding
NAMES = EMB.names


def test_default_directions_are_unit_and_perpendicular():
    v = EMB.vectors
    for i in range(len(NAMES)):
        assert math.sqrt(sum(x * x for x in v[i])) == pytest.approx(1.0)
        for j in range(i):
            assert abs(sum(a * b for a, b in zip(v[i], v[j], strict=True))) < 1e-9
    assert EMB.kind("Michael") == "first" and EMB.kind("jordan") == "last"
    assert EMB.kind("basketball") == "sport" and EMB.kind(tc.UNKNOWN) == "unknown"
    assert set(EMB.kinds) <= set(tc.KINDS)


def test_cosine_matrix_subset():
    c = EMB.cosine_matrix(["Michael", "Jordan"])
    assert c.shape == (2, 2) and np.allclose(c, np.eye(2))
    assert EMB.cosine_matrix().shape == (len(NAMES), len(NAMES))


def test_noise_makes_directions_only_nearly_perpendicular():
    noisy = tc.ToyModel.default(tc.Config(embed_noise=0.3)).embedding
    c = noisy.cosine_matrix() - np.eye(len(noisy.names))
    assert 0.0 < np.abs(c).max() < 0.3


def test_more_names_than_dimensions_still_unit():
    small = tc.ToyModel.default(tc.Config(d_model=8)).embedding
    assert np.allclose(np.linalg.norm(small.vectors, axis=1), 1.0)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(NAMES), st.sampled_from(NAMES), st.floats(0, 180), st.floats(0, 0.5))
def test_with_angle_sets_the_angle_and_keeps_unit_length(a, b, degrees, noise):
    if a == b:
        return
    emb = tc.ToyModel.default(tc.Config(embed_noise=noise)).embedding
    new = emb.with_angle(a, b, degrees)
    va, vb = new.vec(a), new.vec(b)
    cos = sum(x * y for x, y in zip(va, vb, strict=True))
    assert math.degrees(math.acos(max(-1.0, min(1.0, cos)))) == pytest.approx(degrees, abs=1e-4)
    assert np.allclose(np.linalg.norm(new.vectors, axis=1), 1.0)
    moved = [n for n in NAMES if not np.allclose(new.vec(n), emb.vec(n))]
    assert set(moved) <= {b}  # only b moves
    assert new.angle(a, b) == pytest.approx(degrees, abs=1e-4)


def test_with_angle_rejects_nonsense():
    with pytest.raises(ValueError):
        EMB.with_angle("Michael", "Michael", 30)
    with pytest.raises(ValueError):
        EMB.with_angle("Michael", "Jordan", 200)
    with pytest.raises(KeyError):
        EMB.with_angle("Michael", "Nobody", 30)


def test_angle_changes_reach_the_neuron():
    m = tc.ToyModel.default()
    e = m.embedding.with_angle("Michael", "Phelps", 60)  # cos 0.5
    m2 = m.with_(embedding=e)
    j = m.facts.names.index("Michael Jordan")
    # row = M + J; input at "Phelps" = P' + M with P' = 0.5 M + ..., so dot = 1 + 0.5 (+1 bias)
    pre = m2.run("Michael Phelps").cache["mlp.hook_pre"][-1][j]
    assert pre == pytest.approx(0.5, abs=1e-9)
    assert j in m2.run("Michael Phelps").fired or pre < m2.cfg.fire_threshold
