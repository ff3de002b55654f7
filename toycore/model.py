"""The toy transformer: embed -> attention -> MLP -> attention -> read out.

Read this file top to bottom: the activations, then `attention_forward`
(the head that moves "Michael" onto "Jordan"), then `mlp_forward` (the part
the explorable is about), then `move_forward` (the later head that carries
what the MLP wrote at "Jordan" on to the prompt's last word), then
`forward`, which strings them together and records every intermediate
vector in a TransformerLens-style cache, and finally `ToyModel`, the
immutable object the app holds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from toycore.config import Config, config_fields, reaches
from toycore.embedding import UNKNOWN, Embedding
from toycore.facts import EXTRA_FIRST_NAMES, FactTable, default_facts
from toycore.tokens import ParseError, tokenize

# ---------------------------------------------------------------------------
# Activations. ReLU makes the AND gate exact; GELU is what GPT-2/3 use and
# softens it (small negative outputs below 0, a bit less than x above 0).

_erf = np.vectorize(math.erf, otypes=[float])  # numpy has no erf; math.erf is exact


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x)."""
    x = np.asarray(x, dtype=float)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GPT-2's tanh approximation of GELU (within ~1e-3 of the exact one)."""
    x = np.asarray(x, dtype=float)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


ACTIVATION_FNS = {"relu": relu, "gelu": gelu, "gelu_tanh": gelu_tanh}


# ---------------------------------------------------------------------------
# Attention: one fixed head. In a trained model some head learns "at a last
# name, look back at the first name and copy it"; here that pattern is set
# by hand so the reader can turn it down with one knob.


def look_back(kinds: Sequence[str], reader: Callable[[str], bool], target: str) -> np.ndarray:
    """A hand-set head's pattern: pattern[i, j] = 1 when position i's kind is
    one the head reads at and j is the nearest position before it of kind
    `target`; every other position attends nowhere (as if to a
    beginning-of-text token whose value is zero)."""
    n = len(kinds)
    pattern = np.zeros((n, n))
    for i in range(n):
        if not reader(kinds[i]):
            continue
        for j in range(i - 1, -1, -1):
            if kinds[j] == target:
                pattern[i, j] = 1.0
                break
    return pattern


def attention_pattern(kinds: Sequence[str]) -> np.ndarray:
    """At a last name, look back at the nearest first name."""
    return look_back(kinds, lambda kind: kind == "last", "first")


def attention_forward(
    resid_pre: np.ndarray, kinds: Sequence[str], strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move the first-name vector into the last-name position.

    The value/output map is the identity times `strength`, so at "Jordan"
    attn_out = strength * (vector at "Michael"). Returns (pattern, attn_out).
    """
    pattern = attention_pattern(kinds)
    attn_out = strength * (pattern @ resid_pre)
    return pattern, attn_out


# ---------------------------------------------------------------------------
# The MLP block: the place where the fact lives.


@dataclass(frozen=True)
class MLP:
    """Weights of one MLP block, in the lesson's orientation.

    W_up (d_mlp, d_model): row j is neuron j's question.
    b_up (d_mlp,):          its threshold.
    W_down (d_model, d_mlp): column j is what neuron j writes when it fires.
    b_down (d_model,):      added whatever fires.
    """

    W_up: np.ndarray
    b_up: np.ndarray
    W_down: np.ndarray
    b_down: np.ndarray

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("W_up", "b_up", "W_down", "b_down"):
            a = np.array(getattr(self, name), dtype=float)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must be finite")
            a.flags.writeable = False
            arrays[name] = a
        d_mlp, d = arrays["W_up"].shape if arrays["W_up"].ndim == 2 else (-1, -1)
        if (
            d_mlp < 1
            or arrays["b_up"].shape != (d_mlp,)
            or arrays["W_down"].shape != (d, d_mlp)
            or arrays["b_down"].shape != (d,)
        ):
            raise ValueError(
                "MLP shapes must be W_up (d_mlp, d), b_up (d_mlp,), W_down (d, d_mlp), b_down (d,)"
            )
        for name, a in arrays.items():
            object.__setattr__(self, name, a)

    @property
    def d_mlp(self) -> int:
        return self.W_up.shape[0]

    @property
    def d_model(self) -> int:
        return self.W_up.shape[1]

    def with_neuron(
        self,
        j: int,
        row: np.ndarray | None = None,
        bias: float | None = None,
        column: np.ndarray | None = None,
    ) -> MLP:
        """Copy with neuron j's row, bias and/or column replaced."""
        W_up, b_up, W_down = self.W_up.copy(), self.b_up.copy(), self.W_down.copy()
        if row is not None:
            W_up[j] = row
        if bias is not None:
            b_up[j] = bias
        if column is not None:
            W_down[:, j] = column
        return MLP(W_up, b_up, W_down, self.b_down)


def mlp_forward(
    x: np.ndarray, mlp: MLP, activation: str = "relu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """THE MLP FORWARD PASS. x is (positions, d_model); every position is
    processed on its own with the same weights (no talk between tokens).

    1. up-projection + bias: each neuron asks its question (row . x) and
       subtracts its threshold;
    2. nonlinearity: ReLU keeps only the neurons whose answer was "yes";
    3. down-projection + bias: each firing neuron adds its column.

    Returns (hook_pre, hook_post, mlp_out).
    """
    hook_pre = x @ mlp.W_up.T + mlp.b_up
    hook_post = ACTIVATION_FNS[activation](hook_pre)
    mlp_out = hook_post @ mlp.W_down.T + mlp.b_down
    return hook_pre, hook_post, mlp_out


# ---------------------------------------------------------------------------
# The second attention step. The MLP writes "basketball" at "Jordan", but a
# model reads its next-word guess at the prompt's last word ("of" in
# "Michael Jordan plays the sport of"). In a trained model a later head
# learns to copy the attribute from the name to there; here it is set by hand.


def move_pattern(kinds: Sequence[str]) -> np.ndarray:
    """At a word that is not part of a name, look back at the nearest last
    name; names attend nowhere."""
    return look_back(kinds, lambda kind: kind not in ("first", "last"), "last")


def move_forward(
    resid_post: np.ndarray, kinds: Sequence[str], strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """Copy the vector at the name's last token (after the MLP) to the words
    after it, times `strength`. Returns (pattern, move_out)."""
    pattern = move_pattern(kinds)
    return pattern, strength * (pattern @ resid_post)


def subject_position(kinds: Sequence[str]) -> int:
    """Index of the position whose MLP output reaches the last word: the name
    the second head reads from, or the last word itself when it reads nothing."""
    row = move_pattern(kinds)[-1] if len(kinds) else np.zeros(0)
    hits = np.flatnonzero(row)
    return int(hits[0]) if hits.size else len(kinds) - 1


# ---------------------------------------------------------------------------
# The whole forward pass.


# The intermediates a hook may replace, in the order the forward pass makes them.
HOOK_POINTS = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post", "move_out",
               "resid_final")
Hooks = Mapping[str, Callable[[np.ndarray], np.ndarray]]


def forward(
    tokens: Sequence[str], kinds: Sequence[str], embedding: Embedding, mlp: MLP, cfg: Config,
    hooks: Hooks | None = None,
) -> dict[str, np.ndarray]:
    """Run the toy on tokens and return every intermediate vector.

    Unknown tokens (kind "unknown") embed as the shared "(unknown)"
    direction, which no neuron asks about.
    """
    rows = [UNKNOWN if k == "unknown" else t for t, k in zip(tokens, kinds, strict=True)]
    return forward_vectors(embedding.matrix(rows), kinds, embedding, mlp, cfg, hooks)


def forward_vectors(
    resid_pre: np.ndarray, kinds: Sequence[str], embedding: Embedding, mlp: MLP, cfg: Config,
    hooks: Hooks | None = None, readouts: bool = True,
) -> dict[str, np.ndarray]:
    """`forward` from the embedded vectors: resid_pre is (positions, d_model),
    or (batch, positions, d_model) for many inputs of the same kinds at once
    (every fact is a first name then a last name, so the fact table runs as
    one batch instead of one call per fact). Every array in the cache then
    has the batch axis first.

    `hooks` maps names in HOOK_POINTS to functions that get that
    intermediate as soon as it is made and return what the rest of the pass
    uses instead, as TransformerLens's `run_with_hooks` does: causal tracing
    (toycore.trace) patches activations this way. readouts=False leaves out
    the read-outs of every position along every named direction (`readout_*`,
    `mlp_out_sports`), for a caller that needs only the answer."""
    hooks = hooks or {}
    unknown = set(hooks) - set(HOOK_POINTS)
    if unknown:
        raise ValueError(f"no hook point named {', '.join(sorted(unknown))}")

    def hook(name: str, value: np.ndarray) -> np.ndarray:
        return hooks[name](value) if name in hooks else value

    resid_pre = hook("resid_pre", resid_pre)
    pattern, attn_out = attention_forward(resid_pre, kinds, cfg.attn_strength)
    attn_out = hook("attn_out", attn_out)
    resid_mid = hook("resid_mid", resid_pre + attn_out)
    hook_pre, hook_post, mlp_out = mlp_forward(resid_mid, mlp, cfg.activation)
    mlp_out = hook("mlp_out", mlp_out)
    resid_post = hook("resid_post", resid_mid + mlp_out)  # the residual connection
    moves, move_out = move_forward(resid_post, kinds, cfg.move_strength)
    move_out = hook("move_out", move_out)
    resid_final = hook("resid_final", resid_post + move_out)

    names_matrix = embedding.vectors  # (n_names, d): one read-out per named direction
    sports_matrix = embedding.matrix(embedding.names_of_kind("sport"))
    # What the MLP wrote that reaches the last word: its own output there plus
    # the MLP's part of what the second head carried (the head is linear).
    mlp_final = mlp_out[..., -1, :] + cfg.move_strength * (moves[-1] @ mlp_out)
    sport_logits = cfg.readout_scale * (resid_final[..., -1, :] @ sports_matrix.T)
    if sport_logits.shape[-1]:
        shifted = np.exp(sport_logits - sport_logits.max(axis=-1, keepdims=True))
        sport_probs = shifted / shifted.sum(axis=-1, keepdims=True)
    else:
        sport_probs = sport_logits
    cache = {
        "resid_pre": resid_pre,
        "attn_pattern": np.broadcast_to(pattern, resid_pre.shape[:-2] + pattern.shape),
        "attn_out": attn_out,
        "resid_mid": resid_mid,
        "mlp.hook_pre": hook_pre,
        "mlp.hook_post": hook_post,
        "mlp_out": mlp_out,
        "resid_post": resid_post,
        "move_pattern": np.broadcast_to(moves, resid_pre.shape[:-2] + moves.shape),
        "move_out": move_out,
        "resid_final": resid_final,
        "mlp_final_sports": mlp_final @ sports_matrix.T,
        "sport_logits": sport_logits,
        "sport_probs": sport_probs,
    }
    if readouts:
        cache.update({
            "readout_mid": resid_mid @ names_matrix.T,
            "readout_post": resid_post @ names_matrix.T,
            "readout_final": resid_final @ names_matrix.T,
            "mlp_out_sports": mlp_out @ sports_matrix.T,
        })
    return cache


def answer_from_cache(cache: Mapping[str, np.ndarray], sports: Sequence[str], threshold: float):
    """The answer rule: the model "knows" sport s when what the MLP *added*
    that reaches the last word has a dot of at least `threshold` with s.

    We read the MLP's writes rather than resid_final so that typing
    "basketball" (whose own vector already points at basketball) does not
    count as the model knowing a fact. Returns (answer or None, best score).
    """
    scores = cache["mlp_final_sports"]
    if len(scores) == 0:
        return None, 0.0
    best = int(np.argmax(scores))
    score = float(scores[best])
    return (sports[best] if reaches(score, threshold) else None), score


@dataclass
class Run:
    """Everything one input did. ok False means `error` says why, cache is {}."""

    text: str
    ok: bool
    error: str | None = None
    tokens: list[str] = field(default_factory=list)
    unknown: list[bool] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    cache: dict[str, np.ndarray] = field(default_factory=dict)
    answer: str | None = None
    answer_score: float = 0.0
    subject: int = -1  # the position whose MLP output reaches the last word
    fired: list[int] = field(default_factory=list)  # neurons firing there
    names: list[str] = field(default_factory=list)
    sports: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Vocabulary for a fact table.


def vocabulary_for(
    facts: FactTable, extra_first: Sequence[str] = EXTRA_FIRST_NAMES
) -> tuple[list[str], list[str]]:
    """Names and kinds, grouped first / last / sport / unknown (stable order)."""
    firsts = list(dict.fromkeys([f.first for f in facts] + list(extra_first)))
    lasts = list(dict.fromkeys(f.last for f in facts))
    sports = list(dict.fromkeys(f.sport for f in facts))
    names = firsts + lasts + sports + [UNKNOWN]
    kinds = ["first"] * len(firsts) + ["last"] * len(lasts) + ["sport"] * len(sports)
    return names, kinds + ["unknown"]


def default_embedding(cfg: Config | None = None) -> Embedding:
    cfg = cfg or Config()
    names, kinds = vocabulary_for(default_facts())
    return Embedding.build(names, kinds, cfg.d_model, cfg.seed, cfg.embed_noise)


def _fact_names_kinds(facts: FactTable) -> tuple[list[str], list[str]]:
    names, kinds = [], []
    for f in facts:
        names += [f.first, f.last, f.sport]
        kinds += ["first", "last", "sport"]
    return names + [UNKNOWN], kinds + ["unknown"]


# ---------------------------------------------------------------------------
# The model object the app holds.


@dataclass(frozen=True, eq=False)
class ToyModel:
    """An immutable toy transformer: config + embedding + facts + MLP weights.

    `compiled` True means the MLP is the hand-built AND-gate MLP for these
    facts (plus the neuron edits in `overrides`), so changing the embedding
    or the facts rebuilds it, and a saved state stores the recipe instead of
    the weights. Learned or rank-one-edited weights set it to False.
    """

    cfg: Config
    embedding: Embedding
    facts: FactTable
    mlp: MLP
    compiled: bool = True
    overrides: tuple[tuple[int, str, object], ...] = ()

    def __repr__(self) -> str:
        kind = "compiled" if self.compiled else "learned/edited"
        return f"ToyModel({self.cfg}, {len(self.facts)} facts, {kind} MLP)"

    # -- construction --------------------------------------------------------
    @classmethod
    def default(cls, cfg: Config | None = None) -> ToyModel:
        """Default vocabulary and facts, MLP compiled by hand."""
        cfg = cfg or Config()
        return cls.compiled_from(cfg, default_embedding(cfg), default_facts())

    @classmethod
    def compiled_from(
        cls,
        cfg: Config,
        embedding: Embedding,
        facts: FactTable,
        overrides: Sequence[tuple[int, str, object]] = (),
    ) -> ToyModel:
        from toycore.compile import compile_mlp

        names, kinds = _fact_names_kinds(facts)
        embedding = embedding.with_names(names, kinds)
        if embedding.d_model != cfg.d_model:
            raise ValueError(
                f"embedding has {embedding.d_model} dimensions but d_model is {cfg.d_model}"
            )
        mlp = compile_mlp(facts, embedding, cfg.d_mlp, cfg.bias)
        kept = tuple(o for o in overrides if o[0] < cfg.d_mlp)
        for j, what, value in kept:
            mlp = _apply_override(mlp, embedding, j, what, value)
        return cls(cfg, embedding, facts, mlp, True, kept)

    @classmethod
    def from_weights(
        cls, cfg: Config, embedding: Embedding, facts: FactTable, mlp: MLP
    ) -> ToyModel:
        """A model whose MLP came from training or editing, not from the recipe."""
        names, kinds = _fact_names_kinds(facts)
        embedding = embedding.with_names(names, kinds)
        if mlp.d_model != embedding.d_model or mlp.d_model != cfg.d_model:
            raise ValueError("MLP, embedding and config disagree on d_model")
        if mlp.d_mlp != cfg.d_mlp:
            cfg = cfg.replace(d_mlp=mlp.d_mlp)
        return cls(cfg, embedding, facts, mlp, False, ())

    # -- knobs ----------------------------------------------------------------
    @property
    def vocab(self) -> Embedding:
        return self.embedding

    @property
    def sports(self) -> list[str]:
        return self.embedding.names_of_kind("sport")

    def with_(self, **changes: object) -> ToyModel:
        """New model with config knobs (activation=, attn_strength=, bias=, ...)
        and/or embedding=, facts=, mlp= replaced.

        A compiled MLP is rebuilt to follow the change; learned weights are
        kept (so the reader sees what the old weights do on the new setup),
        which means d_model/d_mlp cannot change for them.
        """
        unknown = set(changes) - set(config_fields()) - {"embedding", "facts", "mlp"}
        if unknown:
            raise TypeError(f"unknown knob(s): {', '.join(sorted(unknown))}")
        cfg = self.cfg.replace(**{k: v for k, v in changes.items() if k in config_fields()})
        embedding = changes.get("embedding", self.embedding)
        if not isinstance(embedding, Embedding):
            raise TypeError("embedding must be an Embedding")
        rebuild = (cfg.d_model, cfg.seed, cfg.embed_noise) != (
            self.cfg.d_model,
            self.cfg.seed,
            self.cfg.embed_noise,
        )
        if "embedding" not in changes and rebuild:
            angles = embedding.recipe["angles"] if embedding.recipe else []
            embedding = Embedding.build(
                embedding.names, embedding.kinds, cfg.d_model, cfg.seed, cfg.embed_noise, angles
            )
        facts = changes.get("facts", self.facts)
        if not isinstance(facts, FactTable):
            facts = FactTable(facts)  # type: ignore[arg-type]
        if "mlp" in changes:
            mlp = changes["mlp"]
            if not isinstance(mlp, MLP):
                raise TypeError("mlp must be an MLP")
            return ToyModel.from_weights(cfg, embedding, facts, mlp)
        if self.compiled:
            return ToyModel.compiled_from(cfg, embedding, facts, self.overrides)
        if cfg.d_mlp != self.mlp.d_mlp or cfg.d_model != self.mlp.d_model:
            raise ValueError(
                "these weights were learned or edited for another shape; "
                "recompile or retrain to change d_model or d_mlp"
            )
        return ToyModel.from_weights(cfg, embedding, facts, self.mlp)

    def recompile(self) -> ToyModel:
        """Throw away learned weights and neuron edits: back to the AND gates."""
        return ToyModel.compiled_from(self.cfg, self.embedding, self.facts)

    def set_neuron(
        self,
        j: int,
        row: np.ndarray | Mapping[str, float] | None = None,
        bias: float | None = None,
        column: np.ndarray | Mapping[str, float] | None = None,
    ) -> ToyModel:
        """New model with neuron j's row, bias and/or column replaced.

        row/column may be a vector (d_model,) or a mapping from vocabulary
        names to weights, e.g. {"Michael": 1, "Jordan": 0.5}: the mapping form
        is what the app's sliders produce, and it survives embedding changes
        and fits in a URL.
        """
        is_int = isinstance(j, int | np.integer) and not isinstance(j, bool)
        if not is_int or not 0 <= j < self.cfg.d_mlp:
            raise ValueError(f"neuron index must be between 0 and {self.cfg.d_mlp - 1}, got {j}")
        j = int(j)
        new = []
        for what, value in (("row", row), ("bias", bias), ("column", column)):
            if value is not None:
                new.append((j, what, _normalize_override(what, value, self.embedding)))
        mlp = self.mlp
        for jj, what, value in new:
            mlp = _apply_override(mlp, self.embedding, jj, what, value)
        if not self.compiled:
            return dataclasses.replace(self, mlp=mlp)
        replaced = {(jj, what) for jj, what, _ in new}
        kept = tuple(o for o in self.overrides if (o[0], o[1]) not in replaced)
        return dataclasses.replace(self, mlp=mlp, overrides=kept + tuple(new))

    # -- running --------------------------------------------------------------
    def run(self, text: str) -> Run:
        """Run the toy on typed text. Never raises: problems come back as
        ok=False with a message meant for the reader."""
        try:
            tokens, unknown = tokenize(text, self.embedding)
        except ParseError as err:
            return Run(text=text if isinstance(text, str) else "", ok=False, error=str(err))
        try:
            return self.run_tokens(tokens, unknown, text)
        except Exception as err:  # noqa: BLE001 - the page must never crash on input
            return Run(text=text, ok=False, error=f"Something went wrong: {err}")

    def run_tokens(
        self, tokens: Sequence[str], unknown: Sequence[bool] | None = None, text: str = ""
    ) -> Run:
        """Run on already-split tokens (unknown=None: look them up)."""
        if unknown is None:
            unknown = [t not in self.embedding for t in tokens]
        kinds = [
            "unknown" if unk else self.embedding.kind(t)
            for t, unk in zip(tokens, unknown, strict=True)
        ]
        cache = forward(tokens, kinds, self.embedding, self.mlp, self.cfg)
        return self._run_from_cache(tokens, unknown, kinds, cache, text)

    def _run_from_cache(
        self, tokens: Sequence[str], unknown: Sequence[bool], kinds: list[str],
        cache: dict[str, np.ndarray], text: str = "",
    ) -> Run:
        answer, score = answer_from_cache(cache, self.sports, self.cfg.answer_threshold)
        subject = subject_position(kinds)
        post = cache["mlp.hook_post"][subject]
        fired = [int(j) for j in np.flatnonzero(self.cfg.fires(post))]
        others = [t for t, u in zip(tokens, unknown, strict=True) if u]
        notes = [
            f"The toy has no direction for {', '.join(map(repr, others))}: every word it "
            "does not know embeds as its one '(unknown)' direction, which no neuron reads."
        ] if others else []
        return Run(
            text=text or " ".join(tokens),
            ok=True,
            tokens=list(tokens),
            unknown=list(unknown),
            kinds=kinds,
            cache=cache,
            answer=answer,
            answer_score=score,
            subject=subject,
            fired=fired,
            names=list(self.embedding.names),
            sports=self.sports,
            notes=notes,
        )

    @cached_property
    def fact_runs(self) -> list[Run]:
        """One run per fact in the table (cached: the model is immutable).

        Every fact is a known first name then a known last name, so the whole
        table goes through `forward_vectors` as one batch: the same math as
        `run_tokens` per fact (tested), one numpy call per step instead of
        one per fact. The page reruns the table whenever a slider changes the
        model, and in the browser the per-fact loop was a few ms a step."""
        if not self.facts:
            return []
        kinds = ["first", "last"]
        resid_pre = np.stack([self.embedding.matrix([f.first, f.last]) for f in self.facts])
        batch = forward_vectors(resid_pre, kinds, self.embedding, self.mlp, self.cfg)
        return [
            self._run_from_cache([f.first, f.last], [False, False], list(kinds),
                                 {k: v[i] for k, v in batch.items()})
            for i, f in enumerate(self.facts)
        ]

    def answers(self) -> dict[str, str | None]:
        """What the model answers for every fact in its table."""
        return {f.name: r.answer for f, r in zip(self.facts, self.fact_runs, strict=True)}

    def accuracy(self) -> float:
        """Share of facts whose answer is the table's sport."""
        if not len(self.facts):
            return 1.0
        ok = [r.answer == f.sport for f, r in zip(self.facts, self.fact_runs, strict=True)]
        return sum(ok) / len(ok)

    def neuron_labels(self) -> list[str]:
        """One label per neuron, derived from the weights rather than from
        the fact table, so it stays true after the reader drags a slider:
        "Michael Jordan → basketball", "nobody → golf", "(unused)".
        Worked out once per model (it is immutable): a reader nudging a
        slider back and forth meets the same few models again."""
        return list(self._neuron_labels)

    @cached_property
    def _neuron_labels(self) -> tuple[str, ...]:
        sports = self.sports
        d_mlp = self.cfg.d_mlp
        posts = np.array([r.cache["mlp.hook_post"][-1] for r in self.fact_runs]).reshape(
            len(self.facts), d_mlp
        )
        # Whole-matrix steps, then one pass in plain Python: the app relabels
        # every neuron on every slider step.
        unused = (~self.mlp.W_up.any(axis=1) & ~self.mlp.W_down.any(axis=0)).tolist()
        fires = self.cfg.fires(posts).T.tolist()  # [neuron][fact]
        if sports:
            dots = self.embedding.matrix(sports) @ self.mlp.W_down  # [sport, neuron]
            best = np.argmax(dots, axis=0).tolist()
            writes = [sports[b] if dots[b, j] >= 0.5 else "?" for j, b in enumerate(best)]
        else:
            writes = ["?"] * d_mlp
        names = [f.name for f in self.facts]
        labels = []
        for j in range(d_mlp):
            if unused[j]:
                labels.append("(unused)")
                continue
            firing = [name for name, on in zip(names, fires[j], strict=True) if on]
            who = " / ".join(firing) if len(firing) <= 3 else f"{len(firing)} facts"
            labels.append(f"{who or 'nobody'} → {writes[j]}")
        return tuple(labels)

    # -- state ----------------------------------------------------------------
    def to_state(self) -> dict:
        """Small JSON-able description (recipe when possible); see toycore.state."""
        from toycore.state import model_to_state

        return model_to_state(self)

    @classmethod
    def from_state(cls, state: Mapping) -> ToyModel:
        """Rebuild a model; raises toycore.StateError on invalid input."""
        from toycore.state import model_from_state

        return model_from_state(state)


def _normalize_override(what: str, value: object, embedding: Embedding) -> object:
    """JSON-able form of a neuron edit: float, {name: weight} or list of floats."""
    if what == "bias":
        bias = float(value)  # type: ignore[arg-type]
        if not math.isfinite(bias):
            raise ValueError("bias must be finite")
        return bias
    if isinstance(value, Mapping):
        out = {}
        for name, weight in value.items():
            w = float(weight)
            if not math.isfinite(w):
                raise ValueError(f"weight for {name!r} must be finite")
            out[embedding.canonical(name)] = w
        return out
    vec = np.asarray(value, dtype=float)
    if vec.shape != (embedding.d_model,) or not np.all(np.isfinite(vec)):
        raise ValueError(f"{what} must be {embedding.d_model} finite numbers or a name->weight map")
    return [float(x) for x in vec]


def _resolve(value: object, embedding: Embedding) -> np.ndarray:
    if isinstance(value, Mapping):
        vec = np.zeros(embedding.d_model)
        for name, weight in value.items():
            vec = vec + float(weight) * embedding.vec(name)
        return vec
    return np.asarray(value, dtype=float)


def _apply_override(mlp: MLP, embedding: Embedding, j: int, what: str, value: object) -> MLP:
    if what == "bias":
        return mlp.with_neuron(j, bias=float(value))  # type: ignore[arg-type]
    vec = _resolve(value, embedding)
    return mlp.with_neuron(j, row=vec) if what == "row" else mlp.with_neuron(j, column=vec)
