"""Prompts as the lesson reads them: "Michael Jordan plays the sport of" is
answered at its last word, because a second attention step carries what the
MLP wrote at "Jordan" to the words after it. Checked against plain loops over
the embedding vectors, not against toycore's matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

import toycore as tc

PROMPT = "Michael Jordan plays the sport of"


@pytest.fixture(scope="module")
def model() -> tc.ToyModel:
    return tc.ToyModel.default()


def by_hand(model: tc.ToyModel, words: list[str], kinds: list[str]) -> dict[str, np.ndarray]:
    """The forward pass written out position by position, with explicit loops."""
    e, mlp, cfg = model.embedding, model.mlp, model.cfg
    x = [e.vec("(unknown)" if k == "unknown" else w).copy()
         for w, k in zip(words, kinds, strict=True)]
    mid = []
    for i, k in enumerate(kinds):
        v = x[i].copy()
        if k == "last":
            firsts = [j for j in range(i) if kinds[j] == "first"]
            if firsts:
                v = v + cfg.attn_strength * x[firsts[-1]]
        mid.append(v)
    outs, post = [], []
    for v in mid:
        h = [max(float(mlp.W_up[j] @ v + mlp.b_up[j]), 0.0) for j in range(mlp.d_mlp)]
        out = sum(h[j] * mlp.W_down[:, j] for j in range(mlp.d_mlp)) + mlp.b_down
        outs.append(out)
        post.append(v + out)
    final, mlp_final = [], []
    for i, k in enumerate(kinds):
        v, m = post[i].copy(), outs[i].copy()
        if k not in ("first", "last"):
            lasts = [j for j in range(i) if kinds[j] == "last"]
            if lasts:
                v = v + cfg.move_strength * post[lasts[-1]]
                m = m + cfg.move_strength * outs[lasts[-1]]
        final.append(v)
        mlp_final.append(m)
    return {"resid_final": np.array(final), "mlp_final": mlp_final[-1]}


@pytest.mark.parametrize("text", [PROMPT, "The sport of Michael Jordan is",
                                  "Serena Williams plays", "Michael Jordan"])
def test_the_last_word_holds_what_the_mlp_wrote_at_the_name(model, text):
    run = model.run(text)
    want = by_hand(model, run.tokens, run.kinds)
    assert np.allclose(run.cache["resid_final"], want["resid_final"])
    e = model.embedding
    scores = [float(want["mlp_final"] @ e.vec(s)) for s in model.sports]
    assert np.allclose(run.cache["mlp_final_sports"], scores)
    best = max(range(len(scores)), key=scores.__getitem__)
    expected = model.sports[best] if scores[best] >= model.cfg.answer_threshold else None
    assert run.answer == expected


def test_the_prompt_is_answered_and_names_alone_still_are(model):
    assert model.run(PROMPT).answer == "basketball"
    assert model.run("michael jordan plays the sport of?").answer == "basketball"
    assert model.run("Michael Jordan").answer == "basketball"
    assert model.run("Tiger Woods is famous for").answer == "golf"
    run = model.run(PROMPT)
    assert run.subject == 1 and run.tokens[run.subject] == "Jordan"
    assert run.fired == [model.facts.index("Michael Jordan")]
    # The last word reads basketball at 1 (the MLP's write, carried) and no
    # name: "of" itself is the (unknown) direction, which reads nothing here.
    readout = dict(zip(model.embedding.names, run.cache["readout_final"][-1], strict=True))
    assert readout["basketball"] == pytest.approx(1.0)
    assert readout["Jordan"] == pytest.approx(1.0)
    assert readout["Michael"] == pytest.approx(1.0)


def test_with_the_second_head_off_the_fact_stays_at_the_name(model):
    off = model.with_(move_strength=0.0)
    run = off.run(PROMPT)
    assert run.answer is None
    assert run.fired == [off.facts.index("Michael Jordan")]  # the neuron still fires at Jordan
    assert np.allclose(run.cache["move_out"], 0.0)
    half = model.with_(move_strength=0.4)
    assert half.run(PROMPT).answer_score == pytest.approx(0.4)
    assert half.run(PROMPT).answer is None  # under the 0.5 answer threshold
    assert model.with_(move_strength=0.6).run(PROMPT).answer == "basketball"


def test_only_words_after_a_name_attend_and_names_attend_nowhere(model):
    run = model.run("Michael Jordan plays Tiger Woods golf")
    p = run.cache["move_pattern"]
    assert [int(np.argmax(r)) if r.any() else None for r in p] == [None, None, 1, None, None, 4]
    run = model.run("plays the sport of")
    assert not run.cache["move_pattern"].any() and run.answer is None
    assert run.subject == len(run.tokens) - 1


def test_the_softmax_is_read_at_the_last_word(model):
    run = model.run(PROMPT)
    e = model.embedding
    x = run.cache["resid_final"][-1]
    logits = [model.cfg.readout_scale * float(x @ e.vec(s)) for s in model.sports]
    z = sum(math.exp(v) for v in logits)
    i = model.sports.index("basketball")
    assert run.cache["sport_probs"][i] == pytest.approx(math.exp(logits[i]) / z)
    assert run.cache["sport_probs"][i] > 0.9


def test_unknown_words_are_named_in_one_note(model):
    run = model.run(PROMPT)
    assert len(run.notes) == 1
    assert all(repr(w) in run.notes[0] for w in ("plays", "the", "sport", "of"))
    assert model.run("Michael Jordan").notes == []
