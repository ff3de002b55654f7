"""Section 10's sentences, checked against the map they sit above and against
runs of the model made here (the clean run, the corrupted runs rebuilt from
the same noise), across names and prompts, both corruptions, noise at its
ends, severing, and sections 1-4's settings that change the model."""

from __future__ import annotations

import html
import random
import re

import numpy as np
import pytest

import app.trace as T
import toycore as tc
from app.common import model_for
from app.main import build_app
from app.state import AppState
from toycore.trace import COMPONENTS, LABELS, swap_partner

TEXTS = ["Michael Jordan plays the sport of", "Michael Jordan", "Alexis Jordan", "Tiger Woods",
         "Serena Williams plays", "The sport of Roger Federer is", "Jordan plays", "basketball",
         "hello world", "", "<b>Tom</b> Daley"]
TRACES = [{"tr_corrupt": "swap"}, {"tr_corrupt": "swap", "tr_sever": True},
          {"tr_corrupt": "noise", "tr_noise": 0.0}, {"tr_corrupt": "noise", "tr_noise": 0.5},
          {"tr_corrupt": "noise"}, {"tr_corrupt": "noise", "tr_noise": 10.0},
          {"tr_corrupt": "noise", "tr_sever": True}]
SETTINGS: dict[str, list] = {
    "activation": ["gelu", "gelu_tanh"], "attn": [0.0, 0.4, 2.0], "move": [0.0, 0.5, 2.0],
    "bias": [-3.0, -0.5, 0.5], "row_first": [0.0, 2.0], "col_own": [-1.0, 0.0, 0.3],
    "col_alt": [2.0], "angle_mj": [0.0, 60.0], "angle_jp": [0.0],
}


def states() -> list[dict]:
    out: list[dict] = [{}]
    for key, values in SETTINGS.items():
        out += [{key: v} for v in values]
    rng = random.Random(1)
    for _ in range(12):
        out.append({k: rng.choice(v) for k, v in SETTINGS.items() if rng.random() < 0.5})
    return out


@pytest.fixture(scope="module")
def page():
    return build_app("show=trace,edit")


def paragraphs(markup: str) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", p)) for p in
            re.findall(r"<p>(.*?)</p>", markup, flags=re.S)]


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def corrupted_by_hand(model: tc.ToyModel, run: tc.Run, subject: list[int], state: AppState,
                      target: int) -> float:
    """The corrupted runs, built here: the same noise draws (seed 0), or the swap."""
    e = model.embedding
    x = run.cache["resid_pre"]
    if state.tr_corrupt == "swap":
        batch = x.copy()[None]
        batch[0, subject[0]] = e.vec(swap_partner(model, run.tokens[subject[0]],
                                                  run.tokens[subject[-1]]))
    else:
        rng = np.random.default_rng(0)
        sd = state.tr_noise * float(np.std(e.vectors))
        draws = sd * rng.standard_normal((T.SAMPLES, len(subject), e.d_model))
        batch = np.repeat(x[None], T.SAMPLES, axis=0)
        for k, p in enumerate(subject):
            batch[:, p] += draws[:, k]
    probs = tc.model.forward_vectors(batch, run.kinds, e, model.mlp, model.cfg)["sport_probs"]
    return float(np.mean(probs[:, target]))


def check(page, text: str) -> None:
    state = page.wfl_state
    sec = page.wfl_sections["trace"]
    model = model_for(state)
    run = model.run(text)
    kinds = run.kinds
    named = run.ok and kinds[run.subject] == "last"
    needs_first = state.tr_corrupt == "swap" and named and (
        run.subject == 0 or kinds[run.subject - 1] != "first")
    if not named or needs_first:
        assert sec.message.visible and sec.result.text == "Nothing traced."
        assert sec.cells.data["value"] == [] and not sec.edit.visible
        return
    assert not sec.message.visible, sec.message.object
    at = run.subject
    subject = [at - 1, at] if kinds[at - 1 if at else 0] == "first" and at else [at]
    probs = run.cache["sport_probs"]
    fact = model.facts.get(" ".join(run.tokens[i] for i in subject))
    paras = paragraphs(sec.result.html)
    first = paras[0]
    m = re.match(r"Clean, the toy gives (?P<target>.+?) (?P<clean>\d+)% at “(?P<last>.+?)”, "
                 r"the last word\. ", first)
    assert m, first
    target = m["target"]
    ti = model.sports.index(target)
    if run.answer:
        assert target == run.answer
    elif fact is not None:
        assert target == fact.sport
    else:
        assert probs[ti] >= probs.max() - 1e-9
    clean = float(probs[ti])
    assert m["clean"] == f"{100 * clean:.0f}" and m["last"] == run.tokens[-1]
    corr = corrupted_by_hand(model, run, subject, state, ti)
    lost = clean - corr
    rest = first[m.end():]
    name = " ".join(run.tokens[i] for i in subject)
    if state.tr_corrupt == "swap":
        partner = swap_partner(model, run.tokens[subject[0]], run.tokens[at])
        swapped = list(run.tokens)
        swapped[subject[0]] = partner
        said = (f"With {run.tokens[subject[0]]} swapped for {partner} (“{' '.join(swapped)}”), "
                f"{target} gets {pct(corr)}.")
    else:
        said = (f"With noise of {state.tr_noise:.1f} standard deviations on the embeddings of "
                f"“{name}”, {target} gets {pct(corr)} on average over {T.SAMPLES} samples.")
    assert rest.startswith(said), (rest, said)
    rest = rest[len(said):]
    if run.answer != target:
        tied = int(np.sum(np.abs(probs - probs.max()) < 1e-9)) > 1
        unknown = (f" The toy does not know {name}: no sport reaches its answer threshold, so "
                   f"the map follows {target}, the likeliest"
                   + (" (tied with others)." if tied else "."))
        assert rest.startswith(unknown), rest
        rest = rest[len(unknown):]
    assert run.answer is None or run.answer == target

    # The map: every cell's label and colour is its own value.
    d = sec.cells.data
    words = T.position_labels(run.tokens)
    assert list(sec.fig.x_range.factors) == words
    cells = {(w, p): v for w, p, v in zip(d["word"], d["part"], d["value"], strict=True)}
    assert len(cells) == len(words) * len(COMPONENTS)
    for v, label, color in zip(d["value"], d["label"], d["color"], strict=True):
        assert label == pct(v)
        assert color == T.PALETTE[min(int(v * len(T.PALETTE)), len(T.PALETTE) - 1)]
    # Putting back the residual after the MLP at the name gives the clean run back.
    assert cells[(words[at], LABELS["resid_post"])] == pytest.approx(clean, abs=1e-9)

    def value(c: str, p: int) -> float:
        return cells[(words[p], LABELS[c])]

    if lost < T.LITTLE:
        tail = (" The corruption " + (f"lowers {target} by only {100 * lost:.1f} points"
                                      if lost > 0 else f"does not lower {target}")
                + ", so there is nothing here for putting anything back to find.")
        assert rest == tail and len(paras) == 1, rest
        return
    assert rest == ""
    share = {(c, p): (value(c, p) - corr) / lost for c in COMPONENTS
             for p in range(len(words))}
    full = [k for k, s in share.items() if s >= T.FULL]
    listed = "; ".join(f"the {LABELS[c]} at “{run.tokens[p]}” ({pct(share[c, p])})"
                       for c, p in full)
    assert paras[1] == (f"Putting back any one of these alone brings back at least 90% of "
                        f"what was lost: {listed}."), paras[1]

    third = paras[2]
    s = share["mlp_out", at]
    writes = float(run.cache["mlp_out_sports"][at][ti])
    brought = (f"brings back {pct(s)}" if round(100 * s) > 0 else "brings back nothing" +
               (f" (it lowers the answer further, by {pct(-s)} of the loss)"
                if round(100 * s) < 0 else ""))
    said = (f"The MLP's output at “{run.tokens[at]}” alone {brought}; clean, it writes "
            f"{writes:.2f} along {target} there.".replace("-0.00", "0.00"))
    assert third.startswith(said), (third, said)
    rest = third[len(said):]
    noisy = (state.tr_corrupt == "noise" and s < share["resid_post", at] - 0.05)
    if noisy:
        said = (f" That is less than the residual after the MLP there brings back "
                f"({pct(share['resid_post', at])}): the residual also puts back the name's own "
                "embedding, and noise on the name lands on the very directions the read-out "
                "reads, which putting back the MLP's output does not remove.")
        assert rest.startswith(said), rest
        rest = rest[len(said):]
    if state.tr_sever:
        up = max(share[c, p] for c in ("resid_pre", "attn_out") for p in range(len(words)))
        assert rest.startswith(" With the MLP's output held at its corrupted value, "), rest
        if round(100 * up) <= 0:
            assert "nothing before the MLP (the embeddings, the first head) brings" in rest
        else:
            assert f"the most that anything before the MLP brings back is {pct(up)} (" in rest
        assert ("reaches the answer only through the MLP." in rest) == (up < 0.1)
    else:
        moot = len(subject) == 2 and all(
            abs(value(c, subject[0]) - corr) < 1e-9 for c in COMPONENTS)
        assert (f" Nothing put back at “{run.tokens[subject[0]]}” changes anything" in rest) \
            == moot, rest
        assert ("the first head is off, so nothing reads it" in rest) == (
            moot and state.attn == 0)
    # The answer rule forgives float noise (toycore.config.NOISE) at the threshold.
    edit = run.answer == target and writes >= model.cfg.answer_threshold - 1e-9
    assert rest.endswith(f" That output is where section 6's edit of {name} rewrites the "
                         "fact.") == edit, rest
    assert sec.edit.visible == (run.answer == target and fact is not None)
    assert len(paras) == 3


@pytest.mark.parametrize("values", states(), ids=lambda v: ",".join(f"{k}={x}" for k, x in
                                                                     v.items()) or "default")
def test_every_trace_sentence_matches_its_map(page, values: dict) -> None:
    state = page.wfl_state
    defaults = {k: AppState.param[k].default for k in SETTINGS}
    state.param.update(**{**defaults, **values})
    rng = random.Random(str(values))
    configs = TRACES if not values else rng.sample(TRACES, 3)
    for config in configs:
        state.param.update(**{"tr_corrupt": "swap", "tr_noise": 3.0, "tr_sever": False,
                              **config})
        for text in TEXTS:
            state.tr_text = text
            check(page, text)


def test_the_button_hands_the_fact_to_section_6_and_only_when_it_is_shown() -> None:
    page = build_app("show=trace,edit&tr_text=Tiger+Woods+plays")
    sec, state = page.wfl_sections["trace"], page.wfl_state
    assert sec.edit.visible and sec.edit.label == "Edit Tiger Woods's fact in section 6"
    state.edit_model = "trained"
    sec.edit.clicks += 1
    assert (state.edit_person, state.edit_model) == ("Tiger Woods", "built")
    assert "golf" in page.wfl_sections["edit"].result.text
    alone = build_app("show=trace&tr_text=Tiger+Woods+plays").wfl_sections["trace"]
    assert not alone.edit.visible
    assert "section 6" not in alone.result.text
