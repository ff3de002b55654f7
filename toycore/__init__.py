"""toycore: a toy transformer small enough to read, where one MLP neuron
stores "Michael Jordan plays basketball".

Pure numpy + stdlib, so the same code runs in CPython and in Pyodide.
"""

from toycore import compile, edit, learn, state
from toycore.config import ACTIVATIONS, Config
from toycore.embedding import KINDS, UNKNOWN, Embedding
from toycore.facts import Fact, FactTable, default_facts
from toycore.model import (
    MLP,
    Run,
    ToyModel,
    attention_forward,
    forward,
    gelu,
    gelu_tanh,
    mlp_forward,
    relu,
)
from toycore.state import StateError
from toycore.tokens import ParseError, parse_name, tokenize

__all__ = [
    "ACTIVATIONS",
    "KINDS",
    "MLP",
    "UNKNOWN",
    "Config",
    "Embedding",
    "Fact",
    "FactTable",
    "ParseError",
    "Run",
    "StateError",
    "ToyModel",
    "attention_forward",
    "compile",
    "edit",
    "learn",
    "state",
    "default_facts",
    "forward",
    "gelu",
    "gelu_tanh",
    "mlp_forward",
    "parse_name",
    "relu",
    "tokenize",
]
