"""Every sentence the page writes is true in every state: a walk over states.

One page is built, then the state is moved the way a reader moves it
(names and prompts, the nonlinearity, both attention strengths, a neuron's
sliders at their ends, tilted names), and after each move every answer
sentence is read back and checked against the data of the figures beside
it: a neuron said to fire is drawn orange past the threshold, a sport said
to be written is what the heatmap's cells add up to, and so on. Where a
figure does not show a number, it is recomputed here by hand from the
model's weights (loops over the embedding vectors, not toycore's code).
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

import toycore as tc
from app.common import model_for
from app.main import build_app
from app.state import AppState

TEXTS = [
    "Michael Jordan", "Michael Phelps", "Alexis Jordan", "Tiger Woods", "Roger Federer",
    "Serena Williams", "Michael Jordan plays the sport of", "The sport of Serena Williams is",
    "hello world", "Jordan", "basketball", "Michael Jordan basketball", "Kobe Bryant plays",
    "<b>Tom</b> Daley", "", "a b c d e f g h i",
]
SETTINGS: dict[str, list] = {
    "activation": ["relu", "gelu", "gelu_tanh"],
    "attn": [0.0, 0.2, 1.0, 1.6, 2.0],
    "move": [0.0, 0.4, 1.0, 2.0],
    "bias": [-3.0, -1.0, -0.5, 0.5, 3.0],
    "row_first": [-2.0, 0.0, 1.0, 2.0],
    "row_last": [-2.0, 1.0, 2.0],
    "row_other": [0.0, 1.0, -2.0],
    "col_own": [-2.0, 0.0, 0.3, 1.0, 2.0],
    "col_alt": [0.0, 0.5, -1.0, 2.0],
    "neuron": [0, 3, 22, 31],
    "angle_mj": [90.0, 0.0, 60.0],
    "angle_jp": [90.0, 0.0, 60.0, 180.0],
    "angle_ma": [90.0, 45.0],
}
NUM = r"(-?\d+\.\d+)"


def states() -> list[dict]:
    """Every setting at each of its values alone, then random mixes."""
    out: list[dict] = [{}]
    for key, values in SETTINGS.items():
        out += [{key: v} for v in values]
    rng = random.Random(0)
    for _ in range(90):
        combo = {k: rng.choice(v) for k, v in SETTINGS.items() if rng.random() < 0.6}
        out.append(combo)
    return out


@pytest.fixture(scope="module")
def page():
    return build_app("show=recall,neuron,embedding,attention")


def close(text: str, value: float, digits: int = 2) -> bool:
    """A number printed with `digits` decimals is `value` rounded."""
    return abs(float(text) - value) <= 0.5 * 10**-digits + 1e-9


def act_fn(name: str):
    if name == "relu":
        return lambda x: max(x, 0.0)
    if name == "gelu":
        return lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2)))
    k = math.sqrt(2 / math.pi)
    return lambda x: 0.5 * x * (1 + math.tanh(k * (x + 0.044715 * x**3)))


def mlp_by_hand(model: tc.ToyModel, x: np.ndarray) -> tuple[list[float], np.ndarray]:
    """(neuron activations, MLP output) for one input vector, neuron by neuron."""
    f, m = act_fn(model.cfg.activation), model.mlp
    h = [f(float(sum(m.W_up[j][i] * x[i] for i in range(len(x)))) + float(m.b_up[j]))
         for j in range(m.d_mlp)]
    out = np.array(m.b_down, dtype=float)
    for j, hj in enumerate(h):
        out = out + hj * m.W_down[:, j]
    return h, out


def fact_readout(model: tc.ToyModel, first: str, last: str) -> dict[str, float]:
    """What the MLP writes for first + last, along each sport, by hand."""
    e = model.embedding
    _, out = mlp_by_hand(model, e.vec(last) + model.cfg.attn_strength * e.vec(first))
    return {s: float(out @ e.vec(s)) for s in model.sports}


# -- section 1 --------------------------------------------------------------------
ANSWER = re.compile(
    r"^(?P<who>.*?)(?: \(the toy has no direction for (?P<unk>.*)\))? → (?P<ans>[^,;:]+?): "
    r"what the MLP adds(?: that reaches “(?P<last>.*)” \(written at “(?P<subj>.*)” and carried "
    r"there by the second attention step(?:, and (?P<own>-?\d+\.\d+) written at “(?P=last)” "
    r"itself)?\))? reads (?P<score>-?\d+\.\d+) along (?P<along>.*?); "
    r"the toy needs (?P<threshold>-?\d+\.\d+) to answer"
    r"(?:, which (?P<also>.*) reach(?:es)? too)?\.$")
NO_ANSWER = re.compile(
    r"^(?P<who>.*?)(?: \(the toy has no direction for (?P<unk>.*)\))?: (?P<why>.*?)"
    r"(?P<then>, but the second attention step is off, .*|, and the MLP adds nothing.*"
    r"|; what the MLP adds.*)\. The model doesn't know\.$")


def check_recall(page, text: str) -> None:
    sec = page.wfl_sections["recall"]
    state = page.wfl_state
    model = model_for(state)
    sentence = sec.answer.text
    run = model.run(text)
    if not run.ok:
        assert sentence == run.error
        return
    bars = sec.neurons.data
    fire = model.cfg.fire_threshold
    orange = [j for j, (v, c) in enumerate(zip(bars["activation"], bars["color"], strict=True))
              if c == "#c2410c"]
    # A neuron on the threshold in exact arithmetic fires, float noise or not.
    assert orange == [j for j, v in enumerate(bars["activation"]) if v >= fire - 1e-9]
    # Where the name ends: the nearest last name before the last word, unless
    # the last word is itself part of a name (then it is the last word).
    kinds = ["unknown" if t not in model.embedding else model.embedding.kind(t)
             for t in run.tokens]
    subject = len(kinds) - 1
    if kinds[-1] not in ("first", "last"):
        lasts = [i for i in range(len(kinds) - 1) if kinds[i] == "last"]
        if lasts:
            subject = lasts[-1]
    moved = subject != len(kinds) - 1
    # The neuron bars are the activations there, recomputed by hand.
    e = model.embedding
    x = e.vec(run.tokens[subject] if not run.unknown[subject] else "(unknown)").copy()
    if kinds[subject] == "last":
        firsts = [i for i in range(subject) if kinds[i] == "first"]
        if firsts:
            x = x + model.cfg.attn_strength * e.vec(run.tokens[firsts[-1]])
    h, _ = mlp_by_hand(model, x)
    assert np.allclose(bars["activation"], h, atol=1e-9)
    # What the MLP adds that reaches the last word, along each sport, read off
    # the heatmap: after minus before the MLP, and the carried share.
    cells = {(row[0], row[1], name): v for row, name, v in zip(
        sec.readout.data["row"], sec.readout.data["name"], sec.readout.data["value"],
        strict=True)}
    pos = [f"{i + 1}: {t}" for i, t in enumerate(run.tokens)]

    def added(i: int, s: str) -> float:
        return cells[(pos[i], "after MLP", s)] - cells[(pos[i], "before MLP", s)]

    reach = {s: added(len(pos) - 1, s) + (state.move * added(subject, s) if moved else 0.0)
             for s in model.sports}
    assert any(k[1] == "after 2nd head" for k in cells) == any(
        kinds[i] not in ("first", "last") and "last" in kinds[:i] for i in range(len(kinds)))
    best = max(reach, key=reach.get)
    threshold = model.cfg.answer_threshold
    subject_word = run.tokens[subject]
    m = ANSWER.match(sentence)
    if m:
        assert reach[m["ans"]] >= reach[best] - 1e-9 and reach[best] >= threshold - 1e-9, sentence
        # The number is labelled as the MLP's write along the answer, not a probability.
        assert m["along"] == m["ans"] and close(m["threshold"], threshold)
        assert close(m["score"], reach[m["ans"]])
        # Rivals past the threshold (a value on it, give or take float noise, may go either way).
        said = re.findall(r"(.+?) \(" + NUM + r"\)(?:, | and |$)", m["also"] or "")
        named = {s for s, _ in said}
        assert named <= {s for s in reach if reach[s] >= threshold - 1e-9} - {m["ans"]}
        assert {s for s in reach if reach[s] >= threshold + 1e-9} - {m["ans"]} <= named
        assert all(close(v, reach[s]) for s, v in said)
        pairs = zip(said, said[1:], strict=False)
        assert all(reach[a] >= reach[b] - 1e-9 for (a, _), (b, _) in pairs)
        assert bool(m["subj"]) == moved
        # The MLP's own write at the last word, named when it shows at two digits.
        own = added(len(pos) - 1, m["ans"])
        if m["own"]:
            assert close(m["own"], own) and abs(own) >= 0.005 - 1e-9
        else:
            assert not moved or abs(own) < 0.005 + 1e-9
        if moved:
            assert (m["subj"], m["last"]) == (subject_word, run.tokens[-1])
        return
    m = NO_ANSWER.match(sentence)
    assert m, sentence
    assert reach[best] < threshold + 1e-9, (sentence, reach[best])
    why, then = m["why"], m["then"]
    if orange:
        n = re.fullmatch(r"neurons? (.*) fires? at “(.*)”", why)
        assert n, why
        listed = re.split(r", | and ", n[1])
        assert [int(j) for j in listed if j != "more"] == orange[:4]
        assert n[2] == subject_word
    elif max(bars["activation"]) > 0:
        n = re.fullmatch(r"no neuron reaches the firing threshold " + NUM + r" at “(.*)” "
                         r"\(the strongest, neuron (\d+), gives " + NUM + r"\)", why)
        assert n, why
        j = int(n[3])
        assert close(n[1], fire) and n[2] == subject_word
        assert bars["activation"][j] == max(bars["activation"]) and close(n[4], h[j])
    else:
        assert why == f"no neuron fires at “{subject_word}”", why
    if then.startswith(", but the second attention step is off"):
        assert state.move == 0 and moved and orange
    elif then.startswith(", and the MLP adds nothing"):
        assert max(abs(v) for v in reach.values()) < 0.005
    elif "reads nothing above 0 along any sport" in then:
        assert reach[best] < 0.005 and min(reach.values()) <= -0.005
    else:
        n = re.fullmatch(r"; what the MLP adds(?: that reaches “.*”)? reads at most " + NUM +
                         r" along any sport \((.*)\), under the " + NUM +
                         r" the toy needs to answer", then)
        assert n, then
        assert close(n[1], reach[best]) and reach[n[2]] >= reach[best] - 1e-9
        assert reach[best] >= 0.005 and close(n[3], threshold)


# -- section 2 --------------------------------------------------------------------
def check_neuron(page) -> None:
    sec = page.wfl_sections["neuron"]
    state = page.wfl_state
    model = model_for(state)
    j = state.neuron
    text = sec.prose.text
    pts = sec.points.data
    # The column, as the sentence reads it, against the weights by hand.
    e = model.embedding
    col = model.mlp.W_down[:, j]
    dots = {s: float(sum(col[i] * e.vec(s)[i] for i in range(len(col)))) for s in model.sports}
    m = re.search(r"and the column reads (.*?)\. ", text)
    assert m, text
    if m[1] == "nothing along any sport":
        assert all(abs(v) < 0.005 for v in dots.values())
    else:
        said = re.findall(NUM + r" along (.+?)(?:, | and |$)", m[1].replace(" and 1 more", ""))
        big = [s for s in dots if abs(dots[s]) >= 0.005]
        sizes = [abs(dots[s]) for _, s in said]
        assert all(a >= b - 1e-9 for a, b in zip(sizes, sizes[1:], strict=False))
        assert len(said) == min(3, len(big))
        assert all(abs(dots[s]) <= sizes[-1] + 1e-9 for s in big if s not in dict(said).values())
        assert all(close(v, dots[s]) for v, s in said)
        # The chart beside it draws the same column times the fact's activation.
        writes = dict(zip(sec.writes.data["sport"], sec.writes.data["value"], strict=True))
        assert all(math.isclose(writes[s], pts["post"][0] * dots[s], abs_tol=1e-9)
                   for s in model.sports)
    # The half match: what the sentence says about its pre-activation.
    half, pre_half = pts["name"][1], pts["pre"][1]
    b = float(model.mlp.b_up[j])
    if "gets a positive activation too." in text and text.count("The bias is above"):
        assert pre_half > 0 and pts["post"][1] > 0, (text, pre_half)
    elif "Drag the bias above" in text:
        edge = float(re.search(r"Drag the bias above " + NUM, text)[1])
        assert pre_half <= 1e-9 and close(str(edge), b - pre_half)
        assert edge < AppState.param.bias.bounds[1]
    else:
        assert "past the slider's end" in text and pre_half <= 0
        assert b - pre_half >= AppState.param.bias.bounds[1] - 0.005
    assert half in text
    check_gelu(sec.gelu.text, model)


def check_gelu(text: str, model: tc.ToyModel) -> None:
    f = act_fn("gelu" if model.cfg.activation == "relu" else model.cfg.activation)
    values = [float(v) for v in re.findall(NUM, text)[:3]]
    if model.cfg.activation == "relu":
        assert text.startswith("ReLU keeps what is above 0")
    assert [round(v, 2) for v in values] == [round(f(1.0), 2), round(f(0.0), 2),
                                               round(f(-1.0), 2)]
    if model.cfg.activation == "relu":
        return
    truth = {fact.name: fact_readout(model, fact.first, fact.last) for fact in model.facts}

    def is_lost(fact: tc.Fact, slack: float) -> bool:
        r = truth[fact.name]
        own = r[fact.sport]
        return max(r.values()) > own + slack or own < model.cfg.answer_threshold - slack

    # A tie within float noise may fall either way; anything clearer may not.
    sure = [f.name for f in model.facts if is_lost(f, 1e-9)]
    maybe = [f.name for f in model.facts if is_lost(f, -1e-9)]
    if f"still recalls all {len(model.facts)} facts" in text:
        assert not sure
        return
    m = re.search(r"no longer recalls (\d+) of its (\d+) facts \((.*?)\)\. (.*?)'s read-out "
                  r"along (.*?) is " + NUM + " from neuron (\\d+), plus " + NUM +
                  r" from the other .*?: " + NUM + r" in all, (?:under the " + NUM +
                  r" it needs|but it writes (.*) more \(" + NUM + r"\))\.", text)
    assert m, text
    assert len(sure) <= int(m[1]) <= len(maybe) and int(m[2]) == len(model.facts)
    named = m[3].replace(" and more", "").split(", ")
    assert set(named) <= set(maybe) and set(sure[:4]) - set(named) <= set(maybe) - set(sure)
    name, sport = m[4], m[5]
    assert name == named[0] and sport == model.facts.get(name).sport
    own, rest, total = float(m[6]), float(m[8]), float(m[9])
    assert close(m[9], truth[name][sport], 3)
    if m[10]:
        assert total < float(m[10]) and close(m[10], model.cfg.answer_threshold)
    else:
        rival = max(truth[name], key=truth[name].get)
        assert truth[name][m[11]] >= truth[name][rival] - 1e-9
        assert close(m[12], truth[name][rival], 3)
    assert abs(own + rest - total) <= 0.0015


# -- section 3 --------------------------------------------------------------------
def check_embedding(page) -> None:
    sec = page.wfl_sections["embedding"]
    cos = {(x, y): v for x, y, v in zip(sec.cos.data["x"], sec.cos.data["y"],
                                        sec.cos.data["cos"], strict=True)}
    leak = dict(zip(sec.leak.data["cell"], sec.leak.data["value"], strict=True))
    m = re.fullmatch(r"cos\(Jordan, Phelps\) = " + NUM + r", so the Michael Jordan neuron gives "
                     r"Michael Phelps " + NUM + r" \(it writes " + NUM + r" along basketball\)\. "
                     r"cos\(Michael, Alexis\) = " + NUM + r": Alexis Jordan gets " + NUM +
                     r"\. Michael Jordan himself: " + NUM + r"\.", sec.summary.text)
    assert m, sec.summary.text
    assert close(m[1], cos[("Phelps", "Jordan")]) and close(m[4], cos[("Alexis", "Michael")])
    assert close(m[2], leak[("Michael\nPhelps", "neuron fires")])
    assert close(m[3], leak[("Michael\nPhelps", "basketball written")])
    assert close(m[5], leak[("Alexis\nJordan", "neuron fires")])
    assert close(m[6], leak[("Michael\nJordan", "neuron fires")])


# -- section 4 --------------------------------------------------------------------
def check_attention(page) -> None:
    sec = page.wfl_sections["attention"]
    state = page.wfl_state
    model = model_for(state)
    text = sec.answer.text
    xs, mj, phelps = (sec._line0.data["x"], sec._line0.data["y"], sec._line2.data["y"])
    m = re.search(r"At first-head strength " + NUM + r" the Michael Jordan neuron gives " + NUM +
                  r" at “Jordan”; with the head switched off \(strength 0\) the MLP sees only "
                  r"Jordan and the neuron gives " + NUM, text)
    assert m, text
    assert close(m[1], state.attn) and close(m[2], float(np.interp(state.attn, xs, mj)))
    assert close(m[3], mj[0])
    # Michael Phelps crosses zero where the sentence says, on the curve drawn.
    m = re.search(r"Past strength " + NUM + r" its pre-activation for Michael Phelps crosses "
                  r"zero", text)
    signs = [y > 1e-12 for y in phelps]
    crossings = [x for x, a, b in zip(xs[1:], signs, signs[1:], strict=False) if b and not a]
    if m:
        c = float(m[1])
        assert all(not s for x, s in zip(xs, signs, strict=True) if x < c - 0.03)
        assert all(s for x, s in zip(xs, signs, strict=True) if x > c + 0.03)
    else:
        assert not [x for x in crossings if 0.03 < x < xs[-1] - 0.03], crossings
    # The prompt's last word: the stage chart's bar, and the answer by hand.
    bars = dict(zip(sec.stages.data["cell"], sec.stages.data["value"], strict=True))
    m = re.search(r"At second-head strength " + NUM + r", “of”, the last word of “Michael Jordan "
                  r"plays the sport of”, gets " + NUM + r" along basketball from what the MLP "
                  r"wrote, and the model answers (.*?)\.", text)
    assert m, text
    assert close(m[1], state.move) and close(m[2], bars[("basketball", "at “of”")])
    reads = fact_readout(model, "Michael", "Jordan")
    _, at_of = mlp_by_hand(model, model.embedding.vec("(unknown)"))  # "of" is an unknown word
    reach = {s: state.move * v + float(at_of @ model.embedding.vec(s)) for s, v in reads.items()}
    best = max(reach, key=reach.get)
    if reach[best] < model.cfg.answer_threshold - 1e-9:
        assert m[3] == "nothing (the model doesn't know)"
    else:
        answer, _, tied = m[3].partition(", tied with ")
        near = {s for s in reach if reach[s] >= reach[best] - 0.005 + 1e-9}
        assert answer in near and set(tied.split(", ")) - {""} <= near - {answer}
        assert {s for s in reach if reach[s] >= reach[best] - 0.005 - 1e-9} - {answer} <= set(
            tied.split(", "))
    assert ("With the second head off" in text) == (state.move == 0)


@pytest.mark.parametrize("values", states(), ids=lambda v: ",".join(f"{k}={x}" for k, x in
                                                                     v.items()) or "default")
def test_every_answer_sentence_matches_its_figures(page, values: dict) -> None:
    state = page.wfl_state
    defaults = {k: AppState.param[k].default for k in SETTINGS}
    state.param.update(**{**defaults, **values})
    for text in TEXTS:
        state.person = text
        check_recall(page, text)
    check_neuron(page)
    check_embedding(page)
    check_attention(page)
    for section in page.wfl_sections.values():
        assert not section.message.visible, (section.key, section.message.object)


# -- section 6 --------------------------------------------------------------------
RESULT = re.compile(
    r"^(?P<fact>.+?) was (?P<old>.+?); after (?P<how>the column of|a rank-one change to) "
    r"neuron\(s\) (?P<neurons>.+?) the model (?P<verdict>now answers|still does not answer) "
    r"(?P<new>.+?) \(read-out (?P<r>-?\d+\.\d+)\)\. Other facts that moved: (?P<moved>\d+) of "
    r"(?P<others>\d+) \(largest shift (?P<shift>\d+\.\d+)\); answers changed: (?P<changed>.+)\.$")


def check_edit(page) -> None:
    sec = page.wfl_sections["edit"]
    state = page.wfl_state
    text = sec.result.text
    if sec.message.visible:
        assert text == "No edit made."
        assert not sec.facts.data["name"] and not sec.target.data["x"]
        return
    m = RESULT.match(text)
    assert m, text
    d = sec.facts.data
    rows = dict(zip(d["name"], zip(d["shift"], d["kind"], strict=True), strict=True))
    others = {n: v for n, v in rows.items() if n != m["fact"]}
    assert int(m["others"]) == len(others)
    assert int(m["moved"]) == sum(s > 1e-6 for s, _ in others.values())
    assert close(m["shift"], max((s for s, _ in others.values()), default=0.0), 3)
    changed = [n for n, (_, k) in others.items() if k == "after: answer changed"]
    assert (m["changed"] == "none") == (not changed)
    if changed:
        assert m["changed"].split(", ") == changed
    assert m["how"] == {"column": "the column of", "rank_one": "a rank-one change to"}[
        state.edit_method]
    if sec.target.data["x"]:
        assert close(m["r"], sec.target.data["x"][0])
    if m["verdict"] == "now answers":
        assert float(m["r"]) >= 0.5 - 0.005
    assert m["new"].casefold() == " ".join(state.edit_sport.split()).casefold()


EDITS = [
    {"edit_person": p, "edit_sport": s, "edit_method": meth, "edit_model": which}
    for p in ("Michael Jordan", "Kobe Bryant", "Tiger Woods", "Nobody Atall", "Michael", "")
    for s in ("golf", "cricket", "", "Jordan")
    for meth in ("column", "rank_one")
    for which in ("built", "trained")
]


@pytest.mark.parametrize("more", [{}, {"angle_jp": 60.0}, {"activation": "gelu"},
                                  {"cap_neurons": 32}, {"cap_d": 8, "cap_sports": "distinct"}],
                         ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "default")
def test_every_edit_sentence_matches_its_chart(more: dict) -> None:
    page = build_app("show=edit&" + "&".join(f"{k}={v}" for k, v in more.items()))
    for values in EDITS:
        page.wfl_state.param.update(**values)
        check_edit(page)
