"""Causal tracing: where in the toy does a fact live?

The experiment of Meng et al., "Locating and Editing Factual Associations in
GPT" (ROME, 2022), run on the toy:

1. the clean run: the name (or a prompt) as typed; note the probability of
   the answer at the last word;
2. the corrupted run: the subject's token embeddings get Gaussian noise
   (`noise` times the embeddings' standard deviation, several samples), or
   the first name is swapped for one that makes no fact, so the fact is lost;
3. for every position and every component in COMPONENTS, the corrupted run
   again with only that one activation put back to its clean value: how much
   of the answer's probability comes back?

Patching goes through the forward pass's hooks (`forward_vectors(...,
hooks=)`), as TransformerLens does, so there is no second copy of the
model's maths here. Every corrupted sample and every restored cell is one
row of a single batched pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from toycore.facts import EXTRA_FIRST_NAMES
from toycore.model import Run, ToyModel, forward_vectors

# What can be put back, in the order the forward pass makes it.
COMPONENTS = ("resid_pre", "attn_out", "mlp_out", "resid_post", "move_out")
LABELS = {
    "resid_pre": "embedding",
    "attn_out": "1st head's output",
    "mlp_out": "MLP's output",
    "resid_post": "residual after the MLP",
    "move_out": "2nd head's output",
}
CORRUPTIONS = ("noise", "swap")
NOISE_SD = 3.0  # ROME's level: 3 times the embeddings' standard deviation
SAMPLES = 10
MAX_SAMPLES = 1000


@dataclass(frozen=True)
class Trace:
    """One trace. ok False means `error` says why (for the reader) and the
    arrays are empty.

    restored[c, p]: mean probability of `target` at the last word when only
    component COMPONENTS[c] at position p is put back; `corrupted` and
    `clean` are the same probability with nothing and everything put back.
    """

    text: str
    ok: bool
    error: str | None = None
    tokens: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    subject: list[int] = field(default_factory=list)  # the corrupted positions
    corruption: str = "noise"
    noise: float = NOISE_SD
    samples: int = 0
    swap_with: str | None = None
    sever: bool = False  # the MLP's output held at its corrupted value
    target: str | None = None  # the sport whose probability is traced
    known: bool = False  # the clean run answers `target` (toycore's answer rule)
    clean: float = math.nan
    corrupted: float = math.nan
    restored: np.ndarray = field(default_factory=lambda: np.zeros((len(COMPONENTS), 0)))
    run: Run | None = None  # the clean run, every intermediate included

    @property
    def indirect(self) -> np.ndarray:
        """Restored minus corrupted: what putting back one activation is worth."""
        return self.restored - self.corrupted

    @property
    def lost(self) -> float:
        """How much of the target's probability the corruption took."""
        return self.clean - self.corrupted

    def cell(self, component: str, position: int) -> float:
        return float(self.restored[COMPONENTS.index(component), position])


def swap_partner(model: ToyModel, first: str, last: str) -> str | None:
    """The first name a swap puts in: one that makes no fact with `last`,
    preferring names no fact uses (Alexis, the lesson's half match)."""
    known = {(f.first, f.last) for f in model.facts}
    firsts = model.embedding.names_of_kind("first")
    spare = [n for n in EXTRA_FIRST_NAMES if n in firsts]
    for name in spare + firsts:
        if name != first and (name, last) not in known:
            return name
    return None


def trace(
    model: ToyModel,
    text: str,
    corruption: str = "noise",
    noise: float = NOISE_SD,
    samples: int = SAMPLES,
    seed: int = 0,
    swap_with: str | None = None,
    sever: bool = False,
) -> Trace:
    """Trace `text` (a name, or a prompt containing one) through `model`.

    corruption "noise": the subject's embeddings get N(0, (noise * sd)^2)
    noise in every coordinate, `samples` times (sd: the standard deviation
    of the embedding's entries); "swap": the first name is replaced by
    `swap_with` (default `swap_partner`), one deterministic sample.
    sever True holds the MLP's output at its corrupted value everywhere
    unless the cell put back is the MLP's own (ROME's severed trace): what
    comes back then comes back without the MLP's help.
    Never raises for text: a problem comes back as ok=False with a message.
    """
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {', '.join(CORRUPTIONS)}")
    if not (isinstance(noise, int | float) and math.isfinite(noise) and 0 <= noise <= 100):
        raise ValueError("noise must be a number from 0 to 100")
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be an integer from 1 to {MAX_SAMPLES}")
    run = model.run(text)
    if not run.ok:
        return Trace(text=run.text, ok=False, error=run.error)
    tokens, kinds, at = run.tokens, run.kinds, run.subject
    if kinds[at] != "last":
        return Trace(text=run.text, ok=False, tokens=tokens, kinds=kinds,
                     error="There is no name to corrupt: the trace needs a first and last "
                           "name the toy has words for, such as Michael Jordan.")
    subject = [at - 1, at] if at > 0 and kinds[at - 1] == "first" else [at]
    emb = model.embedding
    clean_pre = run.cache["resid_pre"]
    probs = run.cache["sport_probs"]
    target = answer_to_trace(model, run.answer, [tokens[i] for i in subject], probs)
    target_i = model.sports.index(target)

    if corruption == "swap":
        if len(subject) < 2:
            return Trace(text=run.text, ok=False, tokens=tokens, kinds=kinds,
                         error=f"Swapping needs a first name; “{tokens[at]}” comes without one.")
        first, last = tokens[subject[0]], tokens[at]
        swap_with = swap_with or swap_partner(model, first, last)
        if swap_with is None or swap_with not in emb or emb.kind(swap_with) != "first":
            return Trace(text=run.text, ok=False, tokens=tokens, kinds=kinds,
                         error="There is no other first name to swap in.")
        swap_with = emb.canonical(swap_with)
        corrupt = clean_pre.copy()[None]
        corrupt[0, subject[0]] = emb.vec(swap_with)
        samples, noise = 1, 0.0
    else:
        swap_with = None
        rng = np.random.default_rng(seed)
        sd = noise * float(np.std(emb.vectors))
        corrupt = np.repeat(clean_pre[None], samples, axis=0)
        corrupt[:, subject] += sd * rng.standard_normal((samples, len(subject), emb.d_model))

    def target_prob(cache: dict[str, np.ndarray]) -> np.ndarray:
        """Mean over samples of the target's probability, per block of rows."""
        return cache["sport_probs"][:, target_i].reshape(-1, samples).mean(axis=1)

    # Put back only what the corruption changed: anything else is the same
    # number in both runs, and putting it back would change nothing.
    broken = forward_vectors(corrupt, kinds, emb, model.mlp, model.cfg, readouts=False)
    corrupted = float(target_prob(broken)[0])
    restored = np.full((len(COMPONENTS), len(tokens)), corrupted)
    cells = [(c, p) for c, name in enumerate(COMPONENTS) for p in range(len(tokens))
             if not np.array_equal(broken[name][:, p], np.broadcast_to(
                 run.cache[name][p], broken[name][:, p].shape))]
    if cells:
        # Row block k of the batch is cell k, one row per sample.
        rows = np.arange(len(cells) * samples).reshape(len(cells), samples)
        batch = np.tile(corrupt, (len(cells), 1, 1))
        mlp_c = COMPONENTS.index("mlp_out")
        held = np.tile(broken["mlp_out"], (len(cells), 1, 1)) if sever else None
        hooks = {name: _put_back([(rows[k], p) for k, (cc, p) in enumerate(cells) if cc == c],
                                 run.cache[name], held if c == mlp_c else None)
                 for c, name in enumerate(COMPONENTS)
                 if any(cc == c for cc, _ in cells) or (sever and c == mlp_c)}
        cache = forward_vectors(batch, kinds, emb, model.mlp, model.cfg, hooks, readouts=False)
        for (c, p), prob in zip(cells, target_prob(cache), strict=True):
            restored[c, p] = prob
    return Trace(
        text=run.text, ok=True, tokens=tokens, kinds=kinds, subject=subject,
        corruption=corruption, noise=float(noise), samples=samples, swap_with=swap_with,
        target=target, known=run.answer == target, clean=float(probs[target_i]),
        corrupted=corrupted, restored=restored, sever=sever, run=run,
    )


def answer_to_trace(model: ToyModel, answer: str | None, name: list[str],
                    probs: np.ndarray) -> str:
    """The sport whose probability the trace follows: the model's answer;
    without one, the table's sport for the name; else its likeliest sport."""
    if answer:
        return answer
    fact = model.facts.get(" ".join(name))
    if fact is not None and fact.sport in model.sports:
        return fact.sport
    # Rounded, so sports tied but for the last bits go to the table's first.
    return model.sports[int(np.argmax(np.round(probs, 9)))]


def _put_back(cells: list[tuple[np.ndarray, int]], clean: np.ndarray,
              held: np.ndarray | None = None):
    """A hook that writes the clean value of one component back at position p
    in the given rows, for each (rows, p); with `held`, every other value is
    first replaced by the corrupted run's."""
    rows = np.concatenate([r for r, _ in cells] or [np.zeros(0, int)])
    positions = np.concatenate([np.full(len(r), p) for r, p in cells] or [np.zeros(0, int)])

    def hook(value: np.ndarray) -> np.ndarray:
        # In place: each value is the batch `trace` built or an array the pass made.
        if held is not None:
            value[...] = held
        value[rows, positions] = clean[positions]
        return value
    return hook
