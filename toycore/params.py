"""Count a transformer's parameters from its shape.

Section 5 of the content brief: the reader should be able to see where GPT-3's
175 billion parameters sit, and that roughly two thirds of them are MLP
weights, the place facts are thought to live. The counts are exact integer
arithmetic (Python ints, no overflow) over a GPT-2-style decoder:

- token embedding vocab x d, optional learned positions n_ctx x d;
- per layer, attention W_Q, W_K, W_V (d x n_heads d_head each), W_O
  (n_heads d_head x d), biases 3 n_heads d_head + d;
- per layer, MLP W_up (d_mlp x d), b_up (d_mlp), W_down (d x d_mlp),
  b_down (d);
- per layer two layer norms (gain and bias, 2 d each) and one final one;
- unembedding d x vocab unless tied to the embedding (the unembedding bias is
  left out, as in GPT-2 and in the lesson's arithmetic).

The flags exist because published totals use different accountings: GPT-2
small's 124,439,808 counts biases and layer norms with tied embeddings, while
the lesson's 175,181,291,520 for GPT-3 leaves biases, layer norms and
positions out and counts embedding and unembedding separately.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = [
    "PRESETS",
    "Breakdown",
    "ModelShape",
    "count",
    "lesson_formula",
]

# Sanity caps: far above any real model, low enough to catch typos like an
# extra three zeros, and to keep a slider-driven page from asking for nonsense.
_MAX = {
    "d_model": 1_000_000,
    "d_mlp": 10_000_000,
    "n_layers": 10_000,
    "vocab": 10_000_000,
    "n_heads": 10_000,
    "n_ctx": 10_000_000,
    "d_head": 1_000_000,
}


def _check_int(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    top = _MAX[name]
    if not lo <= value <= top:
        raise ValueError(f"{name} must be between {lo} and {top:,}, got {value:,}")
    return value


@dataclass(frozen=True)
class ModelShape:
    """The handful of numbers that fix a decoder-only transformer's size.

    d_head defaults to d_model // n_heads (which must then divide evenly),
    the usual choice that makes attention cost 4 d^2 per layer. n_ctx = 0
    means no learned position embedding (rotary or sinusoidal positions, or
    simply not counted). attention_weights = False counts no attention
    weights at all: the toy's two attention steps are fixed rules.
    """

    d_model: int
    d_mlp: int
    n_layers: int
    vocab: int
    n_heads: int = 1
    n_ctx: int = 0
    biases: bool = True
    layer_norms: bool = True
    tied_embeddings: bool = True
    attention_weights: bool = True
    d_head: int | None = None

    def __post_init__(self) -> None:
        _check_int("d_model", self.d_model, 1)
        _check_int("d_mlp", self.d_mlp, 1)
        _check_int("n_layers", self.n_layers, 1)
        _check_int("vocab", self.vocab, 1)
        _check_int("n_heads", self.n_heads, 1)
        _check_int("n_ctx", self.n_ctx, 0)
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(
                    f"d_model ({self.d_model}) is not divisible by n_heads ({self.n_heads}); "
                    "pass d_head explicitly"
                )
        else:
            _check_int("d_head", self.d_head, 1)
        for flag in ("biases", "layer_norms", "tied_embeddings", "attention_weights"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")

    @property
    def head_dim(self) -> int:
        return self.d_head if self.d_head is not None else self.d_model // self.n_heads

    def replace(self, **changes: object) -> ModelShape:
        """A copy with some fields changed (validated again), for toggling flags in the UI."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Breakdown:
    """Where the parameters are. All counts are exact Python ints."""

    shape: ModelShape
    embedding: int
    position: int
    attention_per_layer: int
    attention: int
    mlp_w_up: int
    mlp_b_up: int
    mlp_w_down: int
    mlp_b_down: int
    mlp_per_layer: int
    mlp: int
    layer_norms_per_layer: int
    layer_norms: int
    unembedding: int
    total: int

    @property
    def mlp_share(self) -> float:
        """Fraction of all parameters in MLP blocks: about two thirds for GPT-3."""
        return self.mlp / self.total

    @property
    def attention_share(self) -> float:
        return self.attention / self.total

    @property
    def embedding_share(self) -> float:
        """Embedding, positions and unembedding together."""
        return (self.embedding + self.position + self.unembedding) / self.total

    def rows(self) -> list[tuple[str, int]]:
        """(label, count) pairs in reading order, ready for a table or a bar chart."""
        return [
            ("token embedding", self.embedding),
            ("position embedding", self.position),
            ("attention (all layers)", self.attention),
            ("MLP (all layers)", self.mlp),
            ("layer norms", self.layer_norms),
            ("unembedding", self.unembedding),
        ]

    def as_dict(self) -> dict[str, object]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "shape"}
        d["shape"] = dataclasses.asdict(self.shape)
        d["mlp_share"] = self.mlp_share
        return d


def count(shape: ModelShape) -> Breakdown:
    """Count every parameter of `shape`, block by block."""
    if not isinstance(shape, ModelShape):
        raise ValueError(f"expected a ModelShape, got {type(shape).__name__}")
    d, h, n_layers, vocab = shape.d_model, shape.d_mlp, shape.n_layers, shape.vocab
    inner = shape.n_heads * shape.head_dim
    b = 1 if shape.biases else 0

    embedding = vocab * d
    position = shape.n_ctx * d
    attention_per_layer = 3 * d * inner + inner * d + b * (3 * inner + d)
    if not shape.attention_weights:
        attention_per_layer = 0
    w_up, b_up = h * d, b * h
    w_down, b_down = d * h, b * d
    mlp_per_layer = w_up + b_up + w_down + b_down
    ln_per_layer = 2 * 2 * d if shape.layer_norms else 0
    layer_norms = n_layers * ln_per_layer + (2 * d if shape.layer_norms else 0)
    unembedding = 0 if shape.tied_embeddings else d * vocab

    attention = n_layers * attention_per_layer
    mlp = n_layers * mlp_per_layer
    total = embedding + position + attention + mlp + layer_norms + unembedding
    return Breakdown(
        shape=shape,
        embedding=embedding,
        position=position,
        attention_per_layer=attention_per_layer,
        attention=attention,
        mlp_w_up=w_up,
        mlp_b_up=b_up,
        mlp_w_down=w_down,
        mlp_b_down=b_down,
        mlp_per_layer=mlp_per_layer,
        mlp=mlp,
        layer_norms_per_layer=ln_per_layer,
        layer_norms=layer_norms,
        unembedding=unembedding,
        total=total,
    )


def lesson_formula(d_model: int, n_layers: int, vocab: int) -> int:
    """The lesson's back-of-envelope total: n_layers (4 d^2 + 8 d^2) + 2 vocab d.

    Kept as its own one-line formula (rather than only a preset) so the page
    can show it next to count()'s itemised total and the two can be checked
    against each other.
    """
    d = _check_int("d_model", d_model, 1)
    _check_int("n_layers", n_layers, 1)
    _check_int("vocab", vocab, 1)
    return n_layers * (4 * d * d + 8 * d * d) + 2 * vocab * d


PRESETS: dict[str, ModelShape] = {
    # The shape of toycore's default model (Config: d_model 64, d_mlp 32,
    # one MLP block, 57 words). Its attention steps are fixed rules with no
    # weights, and it reads its answer along the same directions it embeds
    # with; a test counts the default model's own arrays against this.
    "toy": ModelShape(
        d_model=64,
        d_mlp=32,
        n_layers=1,
        vocab=57,
        n_heads=1,
        n_ctx=0,
        biases=True,
        layer_norms=False,
        tied_embeddings=True,
        attention_weights=False,
    ),
    # GPT-2 small as released: learned positions, biases, layer norms, tied
    # embeddings. Its published count is 124,439,808.
    "gpt2-small": ModelShape(
        d_model=768,
        d_mlp=3072,
        n_layers=12,
        vocab=50257,
        n_heads=12,
        n_ctx=1024,
        biases=True,
        layer_norms=True,
        tied_embeddings=True,
    ),
    # GPT-3 175B in the lesson's accounting: no biases, no layer norms, no
    # positions, separate embedding and unembedding, so count() gives exactly
    # 96 (4 d^2 + 8 d^2) + 2 x 50,257 x d = 175,181,291,520. Toggle flags with
    # .replace(biases=True, ...) to see how little they add.
    "gpt3-175b": ModelShape(
        d_model=12288,
        d_mlp=49152,
        n_layers=96,
        vocab=50257,
        n_heads=96,
        n_ctx=0,
        biases=False,
        layer_norms=False,
        tied_embeddings=False,
    ),
}
