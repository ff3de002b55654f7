"""More facts than neurons: the experiment behind section 5, and the
read-outs that show how a trained MLP shares its neurons among facts.

- `capacity_facts(n, answers)`: the facts to store. "shared": the default
  table in order (23 athletes, only 13 different sports), then made-up
  athletes whose sports cycle through the same 13. "distinct": every fact
  has its own answer: the first default athlete of each sport, then made-up
  athletes with made-up sports. Made-up names, never a false fact about a
  real person.
- `capacity_embedding(facts, d)`: the names' directions in d dimensions:
  exactly perpendicular while they fit (as the default model's), otherwise
  a random unit vector each (nearly perpendicular, |cos| about 1/sqrt(d)).
- `capacity_trainer(...)`: the training recipe (seed, learning rate; the
  page trains for `STEPS` steps), and `load_default()`: the page's default
  run, trained once by scripts/make_capacity_data.py.
- `sharing_cache(model)`: what every neuron does for every fact, named in
  the TransformerLens style, so a figure can show who fires for whom and
  how a fact's answer adds up, neuron by neuron.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np

from toycore.config import Config, reaches
from toycore.embedding import Embedding
from toycore.facts import Fact, FactTable, default_facts
from toycore.learn import Trainer
from toycore.model import ToyModel, forward_vectors, vocabulary_for

#: How the facts' answers relate: see `capacity_facts`.
ANSWERS = ("shared", "distinct")

#: The training recipe: Adam's learning rate, the seed of the first weights,
#: and how many steps make a finished run (by then the default problem's
#: recall has long stopped changing; narrow widths such as 8 still creep).
LR = 0.02
SEED = 0
STEPS = 300

#: Neuron counts the page trains for its "facts recalled against neurons" chart.
SWEEP_NEURONS = (1, 2, 4, 8, 16, 32)

#: A neuron "fires" for an input when its activation reaches this: a tenth
#: of a compiled AND gate's 1 (trained neurons fire at 0.3 to 1 and write
#: with columns longer than 1; GELU's quiet neurons sit below 0).
FIRE_AT = 0.1

#: The shipped default run (scripts/make_capacity_data.py).
DEFAULT_FILE = "capacity_default.json"


def made_up(i: int, sport: str) -> Fact:
    """Fact number i (counting from 1) as a made-up athlete."""
    return Fact(f"Player{i}", f"Surname{i}", sport)


def capacity_facts(n: int, answers: str = "shared") -> FactTable:
    """The first n facts of the kind `answers` names (see the module's doc)."""
    if answers not in ANSWERS:
        raise ValueError(f"answers must be one of {', '.join(ANSWERS)}, got {answers!r}")
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    real = list(default_facts())
    sports = list(dict.fromkeys(f.sport for f in real))
    if answers == "distinct":
        # One athlete per sport, the first of each in the default table.
        real = [next(f for f in real if f.sport == s) for s in sports]
        extra = [made_up(i, f"sport {i}") for i in range(len(real) + 1, n + 1)]
    else:
        extra = [made_up(i, sports[(i - len(real) - 1) % len(sports)])
                 for i in range(len(real) + 1, n + 1)]
    return FactTable((real + extra)[:n])


def capacity_embedding(facts: FactTable, d: int, seed: int = 0) -> Embedding:
    """Directions for the facts' vocabulary (`vocabulary_for`: first names
    with Alexis, last names, sports, "(unknown)") in d dimensions.

    While every name fits (names <= d) they are exactly perpendicular, the
    same directions as the default model's at the same width; past that
    every name gets a random unit vector, so no name is luckier than another.
    """
    # Imported here: toycore.superposition loads on first use (toycore/__init__).
    from toycore.superposition import random_unit_vectors

    names, kinds = vocabulary_for(facts)
    if len(names) <= d:
        return Embedding.build(names, kinds, d, seed)
    return Embedding(names, kinds, random_unit_vectors(len(names), d, seed, dtype=float))


def sharing_cache(model: ToyModel) -> dict[str, np.ndarray]:
    """What each neuron does for each fact of `model.facts`.

    Keys (f facts, k neurons, s sports in `model.sports` order):
      "mlp.hook_pre" (f, k), "mlp.hook_post" (f, k): each neuron at each
          fact's last name (the input is last + attn_strength * first);
      "neuron_sports" (s, k): each neuron's column read along each sport
          (what it writes per unit of activation);
      "contrib" (f, k, s): hook_post times neuron_sports: what neuron j adds
          to fact i's read-out along sport s;
      "bias_sports" (s,): b_down read along each sport (added for every input);
      "mlp_out_sports" (f, s): the read-out, contrib summed over neurons
          plus bias_sports: what the model's forward pass reports.
    """
    e, mlp = model.embedding, model.mlp
    sports = e.matrix(model.sports)
    k = model.cfg.d_mlp
    if len(model.facts):
        resid_pre = np.stack([e.matrix([f.first, f.last]) for f in model.facts])
        cache = forward_vectors(resid_pre, ["first", "last"], e, mlp, model.cfg)
        pre, post = cache["mlp.hook_pre"][:, -1], cache["mlp.hook_post"][:, -1]
    else:
        pre = post = np.zeros((0, k))
    neuron_sports = sports @ mlp.W_down
    contrib = post[:, :, None] * neuron_sports.T[None, :, :]
    bias_sports = sports @ mlp.b_down
    return {
        "mlp.hook_pre": pre,
        "mlp.hook_post": post,
        "neuron_sports": neuron_sports,
        "contrib": contrib,
        "bias_sports": bias_sports,
        "mlp_out_sports": contrib.sum(axis=1) + bias_sports,
    }


def capacity_trainer(n: int, answers: str, d: int, neurons: int, activation: str = "relu",
                     attn: float = 1.0) -> Trainer:
    """An untrained Trainer for the first n facts of the kind `answers`, in
    d dimensions with this many neurons; `STEPS` steps finish it. Its model
    counts a neuron as firing from FIRE_AT, so every section says "fires" alike."""
    facts = capacity_facts(n, answers)
    cfg = Config(activation=activation, attn_strength=attn, fire_threshold=FIRE_AT)
    return Trainer(facts, capacity_embedding(facts, d), d_mlp=neurons, seed=SEED, lr=LR,
                   cfg=cfg)


def one_neuron_per_answer(facts: FactTable, neurons: int) -> int:
    """How many facts `neurons` neurons hold if each stores one answer for
    all the facts that share it: the largest groups of facts with the same
    sport, added up. A reference for the trained counts, not a limit (a
    network can do better, e.g. by writing one answer from its bias)."""
    return int(sum(answer_groups(facts)[:max(neurons, 0)]))


def answer_groups(facts: FactTable) -> list[int]:
    """How many facts have each sport, largest first."""
    counts: dict[str, int] = {}
    for f in facts:
        counts[f.sport] = counts.get(f.sport, 0) + 1
    return sorted(counts.values(), reverse=True)


def firing(cache: dict[str, np.ndarray]) -> np.ndarray:
    """(facts, neurons) bools from a `sharing_cache`: which neurons fire for
    which facts (activation at least FIRE_AT)."""
    return reaches(cache["mlp.hook_post"], FIRE_AT)


def most_spread_fact(cache: dict[str, np.ndarray]) -> int:
    """The fact (index) the most neurons fire for; the first of a tie."""
    counts = firing(cache).sum(axis=1)
    return int(np.argmax(counts)) if len(counts) else -1


def rival_sport(cache: dict[str, np.ndarray], i: int, own: int) -> int:
    """For fact i whose sport is `own`: the other sport its neurons write
    along most (largest sum of |contribution|; the first of a tie), or -1
    when there is no other sport."""
    gross = np.abs(cache["contrib"][i]).sum(axis=0)
    if len(gross) < 2:
        return -1
    gross[own] = -np.inf
    return int(np.argmax(gross))


def load_default() -> dict[str, Any]:
    """The page's default run and its sweep, as scripts/make_capacity_data.py
    wrote them (importlib.resources: works from a wheel too)."""
    text = resources.files("toycore").joinpath("data").joinpath(DEFAULT_FILE).read_text("utf-8")
    return json.loads(text)
