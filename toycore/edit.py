"""Editing one fact after the fact: make the model believe Michael Jordan
played golf, and measure what else moved.

Two methods, both aimed at the MLP's down-projection (where the lesson says
the "what to write" half of a fact lives):

* "column": find the neurons that fire for the name and, in their W_down
  columns, swap the old sport's component for the new sport. Exact for a
  compiled model (one clean neuron per fact); with learned, shared neurons
  every other fact using those neurons moves too.
* "rank_one": a ROME-style rank-one update of W_down. The key k is the
  neuron activation for the name; W_down gets the smallest change (measured
  against the other facts' keys, C = K^T K / n + lam I) that makes W_down k
  write the new sport instead of the old read-out. Other facts move only as
  much as their keys overlap with k.
"""

from __future__ import annotations

import numpy as np

from toycore.facts import Fact
from toycore.model import MLP, ToyModel
from toycore.tokens import tokenize

METHODS = ("column", "rank_one")


def _sport_readouts(model: ToyModel) -> np.ndarray:
    """(facts x sports): what the MLP writes for each fact, as the answer rule reads it."""
    return np.array([r.cache["mlp_final_sports"] for r in model.fact_runs]).reshape(
        len(model.facts), len(model.sports)
    )


def edit_fact(
    model: ToyModel, name: str, sport: str, method: str = "column", lam: float = 1e-3
) -> tuple[ToyModel, dict]:
    """Return (edited model, report). The report lists, for every other fact,
    its own-sport read-out before and after and how far its whole sport
    read-out moved, so the page can show the edit's collateral damage.

    Raises ValueError when the edit is impossible (unknown name, nothing
    fires for it, unknown method) with a message meant for the reader.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    tokens, unknown = tokenize(name, model.embedding)
    kinds = [
        "unknown" if u else model.embedding.kind(t) for t, u in zip(tokens, unknown, strict=True)
    ]
    if kinds != ["first", "last"]:
        raise ValueError(
            f"Type a known first and last name to edit, for example Michael Jordan; got {name!r}"
        )
    sport = " ".join(sport.split())
    if not sport:
        raise ValueError("Type a sport to move the fact to, for example golf.")
    if sport in model.embedding:
        if model.embedding.kind(sport) != "sport":
            raise ValueError(f"{sport!r} is a name, not a sport")
        sport = model.embedding.canonical(sport)

    fact = Fact(tokens[0], tokens[1], sport)
    before = model.with_(embedding=model.embedding.with_names([sport], ["sport"]))
    e = before.embedding
    run = before.run_tokens(tokens, [False, False])
    old = run.answer
    existing = before.facts.get(fact.name)
    if old is None and existing is not None:
        old = existing.sport
    new_facts = (
        before.facts.replace(fact.name, sport)
        if existing is not None
        else before.facts.add(fact.first, fact.last, sport)
    )
    s_new = e.vec(sport)

    if method == "column":
        firing = list(run.fired)
        if not firing:
            responds = np.any(np.abs(run.cache["mlp.hook_post"][-1]) > 1e-12)
            raise ValueError(
                f"No neuron fires for {fact.name}, so there is no column to edit; "
                + ("try the rank-one edit." if responds else
                   "no neuron responds to the name at all, so no edit has anything to change.")
            )
        if old is None:
            raise ValueError(
                f"The model does not know a sport for {fact.name} yet; try the rank-one edit."
            )
        s_old = e.vec(old)
        own = existing is not None and before.facts.index(fact.name)
        if before.compiled and firing == [own] and not any(o[0] == own for o in before.overrides):
            # The compiled recipe already says "column = the fact's sport", so
            # changing the table *is* the column edit (and keeps state small).
            after = before.with_(facts=new_facts)
        else:
            after = before
            for j in firing:
                col = before.mlp.W_down[:, j]
                after = after.set_neuron(j, column=col + (col @ s_old) * (s_new - s_old))
            after = after.with_(facts=new_facts)
        changed = firing
    else:
        k = run.cache["mlp.hook_post"][-1]
        if not np.any(np.abs(k) > 1e-12):
            raise ValueError(f"No neuron responds to {fact.name}, so a rank-one edit has no key.")
        S = e.matrix(before.sports)
        current = run.cache["mlp_out"][-1] - before.mlp.b_down
        # desired output: drop every sport component the MLP wrote, write the new sport
        target = current - S.T @ (S @ current) + s_new
        keys = np.array([r.cache["mlp.hook_post"][-1] for r in before.fact_runs]).reshape(
            len(before.facts), before.cfg.d_mlp
        )
        C = keys.T @ keys / max(len(keys), 1) + lam * np.eye(before.cfg.d_mlp)
        c_inv_k = np.linalg.solve(C, k)
        delta = np.outer(target - before.mlp.W_down @ k, c_inv_k) / float(k @ c_inv_k)
        mlp = MLP(before.mlp.W_up, before.mlp.b_up, before.mlp.W_down + delta, before.mlp.b_down)
        after = ToyModel.from_weights(before.cfg, e, new_facts, mlp)
        changed = [int(j) for j in np.flatnonzero(np.abs(delta).sum(axis=0) > 1e-12)]

    return after, _report(before, after, fact, old, method, changed)


def _report(
    before: ToyModel, after: ToyModel, fact: Fact, old: str | None, method: str, neurons: list
) -> dict:
    r0, r1 = _sport_readouts(before), _sport_readouts(after)
    sports = before.sports
    others = []
    target_row = None
    for i, f in enumerate(before.facts):
        own = sports.index(f.sport)
        row = {
            "name": f.name,
            "sport": f.sport,
            "before": float(r0[i, own]),
            "after": float(r1[i, own]),
            "shift": float(np.linalg.norm(r1[i] - r0[i])),
            "answer_before": before.fact_runs[i].answer,
            "answer_after": after.fact_runs[i].answer,
        }
        if f.name == fact.name:
            target_row = row
        else:
            others.append(row)
    after_run = after.run_tokens([fact.first, fact.last], [False, False])
    new_i = sports.index(fact.sport) if fact.sport in sports else None
    return {
        "fact": fact.name,
        "method": method,
        "old_sport": old,
        "new_sport": fact.sport,
        "neurons": neurons,
        "success": after_run.answer == fact.sport,
        "target_after": float(after_run.cache["mlp_final_sports"][new_i])
        if new_i is not None
        else 0.0,
        "target": target_row,
        "others": others,
        "max_shift_others": max((o["shift"] for o in others), default=0.0),
        "changed_answers": [o["name"] for o in others if o["answer_before"] != o["answer_after"]],
    }
