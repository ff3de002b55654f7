"""toycore: a toy transformer small enough to read, where one MLP neuron
stores "Michael Jordan plays basketball".

Pure numpy + stdlib, so the same code runs in CPython and in Pyodide.
"""

from toycore import compile, edit, learn, state
from toycore.config import ACTIVATIONS, NOISE, Config
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
    move_forward,
    relu,
)
from toycore.state import StateError
from toycore.tokens import ParseError, parse_name, tokenize

__all__ = [
    "ACTIVATIONS",
    "KINDS",
    "MLP",
    "NOISE",
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
    "move_forward",
    "parse_name",
    "relu",
    "tokenize",
]


# The modules the forward pass does not need (section 5's problem, parameter
# counting, the superposition demo, sparse autoencoders, causal tracing) are loaded on first
# use (PEP 562): `tc.capacity`, `tc.params`, `tc.superposition`, `tc.sae`.
# Lazy so that importing toycore stays cheap in Pyodide and never fails
# because of a module the forward pass does not need.
_LAZY_SUBMODULES = ("capacity", "params", "sae", "superposition", "trace")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"toycore.{name}")
    raise AttributeError(f"module 'toycore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
