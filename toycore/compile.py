"""Writing facts into an MLP by hand: one AND-gate neuron per fact.

This is the lesson's construction, done literally, so every number the page
shows can be traced to a sentence:

* row j of W_up    = first-name direction + last-name direction
  (the neuron's question: "is this Michael AND Jordan?"),
* b_up[j]          = bias, -1 by default (the threshold: the dot product is
  2 for the full name, 1 for a half match, 0 otherwise),
* column j of W_down = the sport direction (what gets written when it fires),
* b_down           = 0, and spare neurons (j >= number of facts) are all zero.
"""

from __future__ import annotations

import numpy as np

from toycore.embedding import Embedding
from toycore.facts import FactTable
from toycore.model import MLP


def compile_mlp(facts: FactTable, embedding: Embedding, d_mlp: int, bias: float = -1.0) -> MLP:
    """Hand-built MLP: neuron j stores fact j; facts beyond d_mlp are dropped.

    Dropping (rather than refusing) lets the reader shrink d_mlp with a
    slider and watch facts fall out; `stored_facts` says which survived.
    """
    d = embedding.d_model
    W_up = np.zeros((d_mlp, d))
    b_up = np.zeros(d_mlp)
    W_down = np.zeros((d, d_mlp))
    b_down = np.zeros(d)
    for j, fact in enumerate(stored_facts(facts, d_mlp)):
        W_up[j] = embedding.vec(fact.first) + embedding.vec(fact.last)
        b_up[j] = bias
        W_down[:, j] = embedding.vec(fact.sport)
    return MLP(W_up, b_up, W_down, b_down)


def stored_facts(facts: FactTable, d_mlp: int) -> list:
    """The facts a compiled MLP of this width holds (the first d_mlp)."""
    return list(facts)[:d_mlp]
