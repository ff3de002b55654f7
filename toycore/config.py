"""One small frozen config: every knob the explorable can turn lives here.

Keeping the knobs in a single immutable object means a model is fully
described by (config, embedding, facts, weights), which is what makes the
URL state and the "what changed?" comparisons in the app cheap and honest.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

ACTIVATIONS = ("relu", "gelu", "gelu_tanh")
# A read-out that equals a threshold in exact arithmetic (cos 60 degrees is
# 0.5) can land a hair under it in floats, and must still count as reaching it.
NOISE = 1e-9


def reaches(value, threshold: float):  # noqa: ANN001, ANN201 - a float or an array of them
    """value >= threshold, forgiving float noise (elementwise on arrays)."""
    return value >= threshold - NOISE


@dataclass(frozen=True)
class Config:
    """Knobs of the toy transformer.

    d_model: width of the residual stream. 64 is enough room for every name
        and sport of the default table to get an exactly perpendicular
        direction, so the lesson's clean numbers (2, 1, 0) come out exactly;
        smaller widths force overlap (see `embed_noise` and superposition).
    d_mlp: number of MLP neurons. Compiled models use one per fact; spare
        neurons stay at zero.
    seed: seeds the random directions, so the same config gives the same model.
    activation: "relu" (the clean AND gate), "gelu" (exact, with erf) or
        "gelu_tanh" (GPT-2's tanh approximation).
    attn_strength: how much of the first-name vector the attention head adds
        at the last-name position. 0 means the MLP only sees "Jordan".
    move_strength: how much of the name's last-token vector (after the MLP) the
        second attention head copies to each later word of a prompt, so "Michael
        Jordan plays the sport of" carries basketball to "of". 0 leaves the fact
        at "Jordan", where the read-out at the prompt's end cannot see it.
    bias: b_up given to every compiled AND-gate neuron. -1 is the lesson's
        threshold: row . (first + last) = 2 becomes 1, a half match becomes 0.
    readout_scale: inverse temperature of the final sport softmax,
        logit = readout_scale * (resid_final . sport direction) at the last
        token. A dot of 1 against 0 then means odds of e**readout_scale (5 ->
        about 148 to 1).
    answer_threshold: the model "knows" a sport only when what the MLP wrote
        that reaches the last token has a dot of at least this with that sport.
    fire_threshold: a neuron counts as "firing" when its activation reaches this.
    embed_noise: 0 gives exactly perpendicular directions; larger values mix
        in a random vector of that relative size, so directions become only
        nearly perpendicular and the AND gates start to leak.
    """

    d_model: int = 64
    d_mlp: int = 32
    seed: int = 0
    activation: str = "relu"
    attn_strength: float = 1.0
    move_strength: float = 1.0
    bias: float = -1.0
    readout_scale: float = 5.0
    answer_threshold: float = 0.5
    fire_threshold: float = 0.5
    embed_noise: float = 0.0

    def __post_init__(self) -> None:
        # Validate eagerly: a bad knob should fail where it was set, with a
        # message a reader of the app can act on, not deep inside a matmul.
        for name in ("d_model", "d_mlp", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if not 2 <= self.d_model <= 1024:
            raise ValueError(f"d_model must be between 2 and 1024, got {self.d_model}")
        if not 1 <= self.d_mlp <= 1024:
            raise ValueError(f"d_mlp must be between 1 and 1024, got {self.d_mlp}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be between 0 and 2**32 - 1, got {self.seed}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )
        for name in (
            "attn_strength",
            "move_strength",
            "bias",
            "readout_scale",
            "answer_threshold",
            "fire_threshold",
            "embed_noise",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or abs(value) > 1000:
                raise ValueError(f"{name} must be a finite number below 1000, got {value!r}")
        if self.readout_scale < 0:
            raise ValueError("readout_scale must not be negative")
        if self.embed_noise < 0:
            raise ValueError("embed_noise must not be negative")

    def answers(self, score):  # noqa: ANN001, ANN201 - a float or an array of them
        """Whether a sport read-out is enough for the model to answer it."""
        return reaches(score, self.answer_threshold)

    def fires(self, activation):  # noqa: ANN001, ANN201 - a float or an array of them
        """Whether a neuron's activation counts as firing."""
        return reaches(activation, self.fire_threshold)

    def replace(self, **changes: object) -> Config:
        """Return a copy with some knobs changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """Plain dict of every field, for JSON state."""
        return dataclasses.asdict(self)


def config_fields() -> tuple[str, ...]:
    """Names of all config fields, so callers can tell knobs from other keywords."""
    return tuple(f.name for f in dataclasses.fields(Config))
