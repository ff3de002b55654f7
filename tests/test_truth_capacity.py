"""Every sentence section 5 writes, checked against the data its figures
show (and the weights behind them), in many states: facts, width and
neurons at their ends, each kind of table, each activation, the attention
head off and doubled, untrained, part-trained, stopped and trained."""

from __future__ import annotations

import re

import numpy as np
import pytest

import toycore as tc
from app.capacity import CapacitySection
from app.common import num
from app.state import AppState
from toycore import capacity as cap

FIRE = 0.1


def figure_facts(sec: CapacitySection) -> dict:
    """What the figures show, regrouped: the read-out and activation per
    fact (rows in the figures' order) and the facts' sports."""
    t = sec.trainer
    rows = [t.facts[i] for i in sec.order]
    sports = list(sec.readout_fig.x_range.factors)
    k = int(sec.fires_fig.x_range.end + 0.5)
    read = np.array(sec.readout_src.data["value"]).reshape(len(rows), len(sports))
    post = np.array(sec.fires_src.data["value"]).reshape(len(rows), k)
    assert sec.readout_src.data["fact"][:: len(sports)] == [f.name for f in rows]
    own = np.array([sports.index(f.sport) for f in rows])
    ok = (read.argmax(axis=1) == own) & (read.max(axis=1) >= 0.5)
    return {"rows": rows, "sports": sports, "k": k, "read": read, "post": post, "own": own,
            "ok": ok}


def negatives_claimed(sec: CapacitySection) -> int:
    """Non-facts given a sport, from the weights: every first/last pairing
    that is not a fact and every name alone, through the MLP."""
    t = sec.trainer
    e, p, s = t.embedding, t.params, t.cfg.attn_strength
    firsts, lasts = e.names_of_kind("first"), e.names_of_kind("last")
    facts = {(f.first, f.last) for f in t.facts}
    xs = [e.vec(n) for n in firsts + lasts + e.names_of_kind("unknown")]
    xs += [e.vec(b) + s * e.vec(a) for a in firsts for b in lasts if (a, b) not in facts]
    X = np.array(xs)
    act = {"relu": tc.relu, "gelu": tc.gelu, "gelu_tanh": tc.gelu_tanh}[t.cfg.activation]
    post = act(X @ p["W_up"].T + p["b_up"])
    read = (post @ p["W_down"].T + p["b_down"]) @ e.matrix(t.sports).T
    return int((read.max(axis=1) >= 0.5).sum()), len(X)


def check_status(sec: CapacitySection, g: dict) -> None:
    t, text = sec.trainer, sec.status.text
    n = len(g["rows"])
    if t.steps == 0:
        assert text.startswith("Untrained (step 0): ")
    elif t.steps >= cap.STEPS:
        assert text.startswith(f"Trained ({cap.STEPS} Adam steps): ")
    elif sec.held or not sec.loop.running:
        assert text.startswith(f"Stopped at step {t.steps} of {cap.STEPS}: ")
    else:
        assert text.startswith(f"Training, step {t.steps} of {cap.STEPS}: ")
    k = g["k"]
    assert f" {g['ok'].sum()} of {n} facts recalled with {k} neuron{'s' if k != 1 else ''}." \
        in text
    claimed, total = negatives_claimed(sec)
    assert f" {claimed} of the {total} non-facts " in text
    leak = np.abs(np.where(np.arange(len(g["sports"]))[None, :] == g["own"][:, None], 0,
                           g["read"])).max()
    assert f"leak of a fact onto a wrong sport is {num(float(leak))}." in text
    v = t.embedding.vectors
    if len(v) <= v.shape[1]:
        np.testing.assert_allclose(v @ v.T, np.eye(len(v)), atol=1e-12)
        assert f"{len(v)} names, exactly perpendicular (d = {v.shape[1]} has room" in text
    else:
        cos = [abs(float(v[a] @ v[b])) for a in range(len(v)) for b in range(a + 1, len(v))]
        assert (f"{len(v)} names in {v.shape[1]} dimensions, random directions: |cos| "
                f"between two names averages {num(np.mean(cos))}, at most {num(max(cos))}.") \
            in text


def check_compare(sec: CapacitySection, g: dict) -> None:
    text = sec.compare.text
    n, answers, k = sec.run_key[0], sec.run_key[1], sec.run_key[3]
    sports = {f.sport for f in g["rows"]}
    assert text.startswith(f"These {n} facts have {len(sports)} different sport")
    kinds = {"shared": "with the table's shared sports", "distinct":
             "with a sport of its own per fact"}
    for a in ("shared", "distinct"):
        pts = dict(zip(sec.sweep_src[a].data["k"], sec.sweep_src[a].data["recalled"],
                       strict=True))
        if k in pts:
            assert f"{kinds[a]}: {pts[k]} of {n}" in text
        else:
            assert f"{kinds[a]}: still to train" in text
    if answers == sec.run_key[1] and sec.trainer.steps >= cap.STEPS:
        pts = dict(zip(sec.sweep_src[answers].data["k"], sec.sweep_src[answers].data["recalled"],
                       strict=True))
        assert pts[k] == g["ok"].sum()  # the run is its own point in the sweep
    for a in ("shared", "distinct"):
        pts = dict(zip(sec.sweep_src[a].data["k"], sec.sweep_src[a].data["recalled"],
                       strict=True))
        more = {j: r for j, r in pts.items() if r > j}
        if not pts:
            assert f"above the dotted line): {kinds[a]}" not in text
            assert f"; {kinds[a]} at" not in text
        elif not more:
            assert f"{kinds[a]} at none of the {len(pts)} neuron counts trained" in text
        else:
            excess = max(r - j for j, r in more.items())
            j = min(j for j, r in more.items() if r - j == excess)
            assert (f"{kinds[a]} at {len(more)} of the {len(pts)} neuron counts trained, by "
                    f"up to {excess} ({more[j]} facts with {j} neuron") in text
    ref = dict(zip(sec.ref_src.data["k"], sec.ref_src.data["per_answer"], strict=True))[k]
    # The dashed line, from the shared table: the largest groups of one sport.
    shared = cap.capacity_facts(n, "shared")
    sizes = sorted((sum(f.sport == s for f in shared) for s in {f.sport for f in shared}),
                   reverse=True)
    assert ref == sum(sizes[:k])
    assert f"would hold {ref} of the {n} shared-sport facts with {k} neuron" in text


def check_neurons(sec: CapacitySection, g: dict) -> None:
    text, post, rows = sec.neurons_text.text, g["post"], g["rows"]
    k = g["k"]
    who = [[rows[r] for r in range(len(rows)) if post[r, j] >= FIRE] for j in range(k)]
    multi = [j for j in range(k) if len(who[j]) > 1]
    poly = [j for j in multi if len({f.sport for f in who[j]}) > 1]
    silent = [j for j in range(k) if not who[j]]
    assert text.startswith(f"{len(multi)} of the {k} neuron{'s' if k != 1 else ''} fire for "
                           "more than one fact")
    said = [int(x) for x in re.findall(r"neuron (\d+)(?: fires for|:)", text)]
    for j in said:
        # Every fact named for neuron j, and no other, fires it.
        part = re.split(rf"neuron {j}\b", text, maxsplit=1)[1].split(";")[0].split(". ")[0]
        named = {f.name for f in rows if f.name in part}
        assert named == {f.name for f in who[j]}, (j, part)
    if poly:
        assert f"{len(poly)} of them for facts with different sports" in text
        assert said and all(j in poly for j in said)
    elif multi:
        assert "each for facts that share a sport" in text and said[0] in multi
        assert len(who[said[0]]) == max(len(who[j]) for j in multi)
    else:
        assert not said
    if silent:
        assert f"{len(silent)} fire{'s' if len(silent) == 1 else ''} for no fact" in text
    else:
        assert "for no fact" not in text
    spread = sum((post[r] >= FIRE).sum() > 1 for r in range(len(rows)))
    if spread:
        assert f" {spread} of the {len(rows)} facts " in text
    else:
        assert "No fact has more than one neuron firing for it." in text


def check_contrib(sec: CapacitySection, g: dict) -> None:
    text, d = sec.contrib_text.text, sec.contrib_src.data
    t = sec.trainer
    name = sec.state.cap_fact
    counts = (g["post"] >= FIRE).sum(axis=1)
    if name and name in t.facts.names:
        r = [f.name for f in g["rows"]].index(name)
        assert text.startswith(f"{name} is ")
    else:
        # The first in the table among those the most neurons fire for.
        firsts = [f for f, c in zip(g["rows"], counts, strict=True) if c == counts.max()]
        chosen = min(firsts, key=lambda f: t.facts.names.index(f.name))
        r = g["rows"].index(chosen)
        c = int(counts.max())
        assert text.startswith(f"{chosen.name}, which {c} neuron"
                               f"{' fires' if c == 1 else 's fire'} for (no fact has more)")
    f = g["rows"][r]
    assert f"is {'recalled' if g['ok'][r] else 'not recalled'} ({f.sport})." in text
    own = float(sum(d["own"]))
    assert own == pytest.approx(g["read"][r, g["own"][r]], abs=1e-9)
    assert f"Along {f.sport} its read-out is {num(own)} = bias " in text
    assert len(d["x"]) == g["k"] + 1
    if "the sport its neurons write most after its own" in text:
        rival = text.split("Along ")[2].split(",")[0]
        s = g["sports"].index(rival)
        assert float(sum(d["rival"])) == pytest.approx(g["read"][r, s], abs=1e-9)
    sentences = text.split(" Along ")[1:]
    for sentence, col in zip(sentences, (d["own"], d["rival"]), strict=False):
        # Each term is a bar of the chart; the rest add up to the bars not named.
        bars = {int(x): v for x, v in zip(d["x"][1:], col[1:], strict=True)}
        sign = "" if num(col[0]).startswith("-") else "+"
        assert f"= bias {sign}{num(col[0])}" in sentence
        named = re.findall(r"neuron (\d+) ([+-]\d+\.\d\d)", sentence)
        for j, val in named:
            assert num(bars[int(j)]) == val.lstrip("+"), j
        rest = re.findall(r"the other (\d+) neurons? ([+-]\d+\.\d\d)", sentence)
        left = [v for j, v in bars.items() if str(j) not in {x for x, _ in named}]
        assert len(left) == (int(rest[0][0]) if rest else 0)
        if rest:
            assert num(float(sum(left))) == rest[0][1].lstrip("+")


def check(sec: CapacitySection) -> None:
    g = figure_facts(sec)
    check_status(sec, g)
    check_compare(sec, g)
    check_neurons(sec, g)
    check_contrib(sec, g)


def finish(sec: CapacitySection, sweep: bool = False) -> None:
    while sec.trainer.steps < cap.STEPS:
        sec.train_steps(budget=1.0)
    if sweep:
        while sec._next_job() is not None:
            sec.train_steps(budget=1.0)


STATES = [
    {},
    {"cap_sports": "distinct"},
    {"cap_facts": 2},
    {"cap_facts": 60, "cap_neurons": 64},
    {"cap_facts": 60, "cap_sports": "distinct", "cap_d": 64},
    {"cap_neurons": 1},
    {"cap_neurons": 64, "cap_d": 64},
    {"cap_d": 2},
    {"cap_d": 64, "cap_neurons": 8},
    {"activation": "gelu", "cap_neurons": 6},
    {"activation": "gelu_tanh", "cap_sports": "distinct", "cap_facts": 13},
    {"attn": 0.0},
    {"attn": 2.0, "cap_d": 12},
    {"cap_fact": "Tom Brady"},
    {"cap_fact": "Nobody at all"},
]


@pytest.mark.parametrize("values", STATES, ids=lambda v: ",".join(f"{k}={x}" for k, x in
                                                                  v.items()) or "default")
def test_every_sentence_matches_the_figures(values: dict) -> None:
    state = AppState(**values)
    sec = CapacitySection(state)
    check(sec)  # as opened: shipped and trained, or untrained
    if sec.trainer.steps == 0:
        sec._live = True
        sec.loop.start()
        sec.train_steps(n=37)  # part-trained, the loop running
        check(sec)
        sec._on_stop()
        check(sec)  # stopped
        sec.loop.stop()
        finish(sec)
        check(sec)
    if values in ({}, {"cap_facts": 2}, {"cap_d": 2}):
        finish(sec, sweep=True)
        check(sec)
    sec.loop.stop()


def test_sentences_follow_a_walk_through_settings() -> None:
    """One section, settings changed one after another, as a reader would."""
    state = AppState()
    sec = CapacitySection(state)
    for change in ({"cap_neurons": 3}, {"cap_d": 40}, {"cap_sports": "distinct"},
                   {"cap_facts": 30}, {"activation": "gelu"}, {"cap_fact": "Usain Bolt"},
                   {"cap_facts": 5}, {"cap_sports": "shared", "cap_facts": 23, "cap_d": 24,
                                      "cap_neurons": 10, "activation": "relu"}):
        state.param.update(**change)
        check(sec)
        finish(sec)
        check(sec)
    sec.loop.stop()
