"""Section 9's sentences, checked against the data its figures show, across
the states a reader can reach: the dictionary size and the penalty at their
ends, section 5's settings and the head that change what the SAE reads,
and every phase of training (untrained, training, the sweep still going,
finished)."""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest

import app.sae as A
import toycore as tc
from app.capacity import trained_model
from app.state import AppState
from toycore.learn import Trainer
from toycore.model import vocabulary_for
from toycore.superposition import random_unit_vectors

STATES = [
    {}, {"sae_l1": 0.0}, {"sae_l1": 2.0}, {"sae_size": 8}, {"sae_size": 128},
    {"sae_size": 8, "sae_l1": 2.0}, {"attn": 0.0}, {"attn": 2.0}, {"activation": "gelu"},
    {"cap_neurons": 1}, {"cap_neurons": 64}, {"cap_facts": 2, "cap_neurons": 2},
    {"angle_mj": 0.0, "sae_l1": 0.05}, {"cap_facts": 40},
]
SHORT = 90  # MAX_STEPS during these tests, so "trained" is reached quickly


def pct(x: float, digits: int = 0) -> str:
    text = f"{100 * x:.{digits}f}"
    return ("0" if float(text) == 0 and digits == 0 else text) + "%"


def fmt(x: float, digits: int) -> str:
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def check(sec: A.SAESection, state: AppState) -> None:
    model = trained_model(state)
    e = model.embedding
    names = e.names_of_kind("first") + e.names_of_kind("last") + e.names_of_kind("unknown")
    bars = sec.match_first.data["cos"] + sec.match_last.data["cos"]
    bar_names = sec.match_first.data["name"] + sec.match_last.data["name"]
    assert sorted(bar_names) == sorted(names)
    k = len(names)
    found = sum(c >= 0.9 for c in bars)

    # The answer: how many name directions were found, and the phase.
    answer = sec.answer.text
    assert f"{found} of {k} name directions ({pct(found / k)})" in answer, answer
    mine, sweep = sec.mine.steps, sec.sweep.steps
    if mine == 0:
        assert "Untrained: a random dictionary (step 0)." in answer
    elif mine < A.MAX_STEPS:
        assert f"Training: step {mine:,} of {A.MAX_STEPS:,}." in answer
    elif sweep < A.MAX_STEPS:
        assert f"the sweep of penalties is at step {sweep:,} of {A.MAX_STEPS:,}" in answer
    else:
        assert f"Trained: {A.MAX_STEPS:,} Adam steps each." in answer

    # The status: what the SAE reads and how well it does (the diamond).
    status = sec.status.text
    u = sec.units.data
    features = [s for s, y in zip(u["share"], u["y"], strict=True) if y < 0.5]
    neurons = [s for s, y in zip(u["share"], u["y"], strict=True) if y > 0.5]
    assert f"Your SAE ({state.sae_size} features, penalty {state.sae_l1:.2f})" in status
    first, last = e.names_of_kind("first"), e.names_of_kind("last")
    n_inputs = min(len(names) + len(first) * len(last), 600)
    assert f"reads {n_inputs:,} inputs" in status
    every = n_inputs == len(names) + len(first) * len(last)
    assert ("for every pairing and lone name." in status) == every
    assert ("every fact and a sample of the other pairings." in status) == (not every)
    d = e.d_model
    assert f"out of {k} in {d} dimensions: " in status
    assert ("more names than dimensions, so they overlap" in status) == (k > d)
    assert ("enough room for them not to overlap" in status) == (k <= d)
    v = e.matrix(names)
    overlap = np.abs(v @ v.T)[np.triu_indices(k, 1)].max()
    assert f"the largest |cos| between two is {fmt(overlap, 2)})" in status
    s = model.cfg.attn_strength
    per_input = (len(names) + len(first) * len(last) * (2 if s else 1)) / (
        len(names) + len(first) * len(last))
    if every:
        assert f"Each is made of name directions, {fmt(per_input, 2)} on average, " \
               f"out of {k} in {d} dimensions" in status
    assert f"Reconstruction error: {pct(sec.point.data['fvu'][0], 1)} of the variance" in status
    assert f"{fmt(sec.point.data['l0'][0], 1)} features active per input" in status
    assert f"{state.sae_size - len(features)} of {state.sae_size} features dead" in status
    missed = [n for n, c in zip(bar_names, bars, strict=True) if c < 0.9]
    if not missed:
        assert "Not found" not in status
    else:
        order = {n: i for i, n in enumerate(names)}  # listed in the names' order
        missed.sort(key=order.get)
        holding = {n: 1 + ((len(last) if s else 0) if n in first
                           else len(first) if n in last else 0) for n in names}
        listed = ", ".join(f"{n} (in {holding[n]} of {n_inputs:,} inputs)" for n in missed[:5])
        if every:
            assert f"Not found: {listed}" in status, status
        more = len(missed) - 5
        assert (f" and {more} more." in status) == (more > 0)

    # The trade-off sentence: the sweep's dots as drawn.
    compare = sec.compare.text
    l0, fvu = np.array(sec.curve.data["l0"]), np.array(sec.curve.data["fvu"])
    if sec.curve_step == 0:
        assert "they are that same start: one dot" in compare
        assert np.allclose(l0, l0[0]) and np.allclose(fvu, fvu[0])
    else:
        assert f"The sweep (step {sec.curve_step:,})" in compare
        grows = bool(np.all(np.diff(fvu) > 0))
        falls = bool(np.all(np.diff(l0) < 0))
        assert f"the error {'grows' if grows else 'does not always grow'} " in compare
        assert f"({pct(fvu[0], 1)} to {pct(fvu[-1], 1)} of the variance)" in compare
        assert f"features per input {'fall' if falls else 'do not always fall'} " in compare
        assert f"({fmt(l0[0], 1)} to {fmt(l0[-1], 1)})" in compare
        assert ("That is the trade-off" in compare) == (grows and falls)

    # Neurons against features: the dots of figure (c).
    assert f"section 5's {state.cap_neurons} neurons" in compare
    if neurons:
        med = float(np.median(neurons))
        hi = sum(x >= 0.9 for x in neurons)
        assert f"the median neuron does {pct(med)} of its firing" in compare
        assert f"{hi} of {len(neurons)} that fire do at least 90%" in compare
    else:
        assert "none fires on any of them" in compare
    if features:
        medf = float(np.median(features))
        hif = sum(x >= 0.9 for x in features)
        assert f"The {len(features)} live features of your SAE: median {pct(medf)}; " \
               f"{hif} of {len(features)} at least 90%." in compare
    else:
        assert "Your SAE has no live feature." in compare
    if neurons and features:
        med, medf = float(np.median(neurons)), float(np.median(features))
        if medf > med + 0.05:
            assert "a feature is more about one name than a neuron is" in compare
        elif med > medf + 0.05:
            assert "a neuron is more about one name than a feature is" in compare
        else:
            assert "about equally tied to one name" in compare

    # The neuron least tied to one name, and its strongest inputs, from the
    # trained MLP and the embedding alone.
    if neurons:
        m = re.search(r"neuron (\d+) \((\d+)%\), fires most for (.+) \(activation ([^)]*)\)\.",
                      compare)
        assert m, compare
        j = int(m.group(1))
        assert m.group(2) + "%" == pct(min(neurons))
        labels, xs = [], []
        for n in names:
            labels.append(n)
            xs.append(e.vec(n))
        for a in first:
            for b in last:
                labels.append(f"{a} {b}")
                xs.append(e.vec(b) + s * e.vec(a))
        mlp = model.mlp
        pre = np.array(xs) @ mlp.W_up[j] + mlp.b_up[j]
        post = np.maximum(pre, 0) if model.cfg.activation == "relu" else np.array(
            [0.5 * p * (1 + math.erf(p / math.sqrt(2))) for p in pre])
        acts = [float(x) for x in m.group(4).split(", ")]
        assert acts == sorted(acts, reverse=True)
        if n_inputs < 600:  # every input is there: the top ones are the top ones
            assert acts[0] == pytest.approx(float(post.max()), abs=0.006)
        for name in re.split(r", | and ", m.group(3)):
            assert name in labels


@pytest.fixture()
def short(monkeypatch):
    monkeypatch.setattr(A, "MAX_STEPS", SHORT)


@pytest.mark.parametrize("kw", STATES, ids=[str(s) or "default" for s in STATES])
def test_every_sentence_matches_the_figures(kw: dict, short) -> None:
    state = AppState(**kw)
    sec = A.SAESection(state)
    check(sec, state)  # untrained
    sec.train_steps(max_steps=25)
    check(sec, state)  # training
    sec.mine.step(SHORT - sec.mine.steps)  # your SAE done; the sweep goes on
    sec.train_steps(budget=0.0)  # one sweep step, then the redraw
    assert sec.mine.steps == SHORT and 0 < sec.sweep.steps < SHORT
    check(sec, state)
    sec.train_steps()
    assert sec.finished
    check(sec, state)


def test_sentences_follow_a_walk_through_changes(short) -> None:
    """One section, many changes in a row, as a reader makes them."""
    state = AppState()
    sec = A.SAESection(state)
    for change in ({"sae_l1": 1.2}, {"sae_size": 16}, {"attn": 0.5}, {"sae_l1": 0.0},
                   {"cap_neurons": 3}, {"sae_size": 128, "sae_l1": 0.3}, {"bias": 2.0},
                   {"attn": 1.0, "activation": "gelu_tanh"}):
        state.param.update(**change)
        check(sec, state)
        sec.train_steps(max_steps=30)
        check(sec, state)


@functools.lru_cache(maxsize=8)
def narrow_model(d: int, neurons: int, attn: float, activation: str) -> tc.ToyModel:
    """Section 5's model as it will be with a narrow residual stream: every
    name a random unit vector in d dimensions (superposition when d < 57)."""
    facts = tc.default_facts()
    names, kinds = vocabulary_for(facts)
    emb = tc.Embedding(names, kinds, random_unit_vectors(len(names), d, 0, dtype=float))
    trainer = Trainer(facts, emb, d_mlp=neurons, seed=0, lr=0.02, activation=activation,
                      attn_strength=attn)
    trainer.step(200)
    return trainer.model()


@pytest.mark.parametrize("kw", [{}, {"sae_l1": 0.0}, {"sae_size": 8}, {"attn": 0.0},
                                {"cap_neurons": 1}], ids=str)
@pytest.mark.parametrize("d", [8, 16])
def test_sentences_hold_with_names_in_superposition(kw: dict, d: int, short,
                                                    monkeypatch) -> None:
    def model_for_state(state: AppState) -> tc.ToyModel:
        return narrow_model(d, state.cap_neurons, state.attn, state.activation)

    monkeypatch.setattr(A, "trained_model", model_for_state)
    monkeypatch.setitem(globals(), "trained_model", model_for_state)
    state = AppState(**kw)
    sec = A.SAESection(state)
    assert sec.data.x.shape[1] == d
    check(sec, state)
    sec.train_steps(max_steps=40)
    check(sec, state)
    sec.train_steps()
    check(sec, state)
    assert "more names than dimensions, so they overlap (superposition" in sec.status.text
