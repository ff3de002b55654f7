"""Sparse autoencoders: find the name directions again in the MLP's input.

The toy's MLP reads one vector per input, at the last name's position:
x = last-name vector + attn_strength * first-name vector (a lone name is just
its own vector). When the residual stream is narrower than the number of
names, those name directions overlap (superposition), and nothing in x says
which direction is which name. A sparse autoencoder (SAE) is one tool
researchers use to pull such directions back out of a model's activations
(Anthropic, "Towards Monosemanticity", 2023): it rewrites each x as a sum of
a few directions from a learned dictionary, more directions than x has
dimensions, most of them silent on any one input.

Read top to bottom:

1. `residual_inputs`: the data the SAE reads and the true features behind it
   (every x is an exact sum of name directions, so we know the answer).
2. `SAE` and `sae_forward`: the weights and the forward pass, which returns a
   cache named as SAELens / TransformerLens name an SAE's hooks.
3. `SAETrainer`: numpy Adam on reconstruction error + an L1 penalty, for
   several penalties at once (one SAE per penalty, trained side by side from
   the same start), live and interruptible like `toycore.learn.Trainer`.
4. What came out: `fraction_of_variance_unexplained`, `match_features` (each
   true feature's best cosine among the decoder's directions) and
   `top_name_share` (how much of a unit's firing is about one name).

Choices, each as in the papers where they agree:
- ReLU encoder, linear decoder whose directions (rows of W_dec) are kept at
  unit length, so the L1 penalty cannot be dodged by shrinking activations
  and growing directions ("Towards Monosemanticity").
- The decoder bias b_dec is subtracted before encoding and added back after.
- Reconstruction error is reported as the fraction of variance unexplained:
  squared error summed over inputs over the data's squared distance from its
  mean (0 = perfect, 1 = no better than always answering the mean).
- No resampling of dead features: how many die is one of the things shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from toycore.embedding import Embedding
from toycore.facts import FactTable
from toycore.learn import Adam

Metrics = dict[str, np.ndarray]

#: The forward pass's cache keys, in the order the computation makes them.
HOOKS = ("hook_sae_input", "hook_sae_acts_pre", "hook_sae_acts_post", "hook_sae_recons",
         "hook_sae_error")

#: A true feature counts as recovered when some learned direction is at
#: least this close to it (cosine).
RECOVERED_COS = 0.9


# ---------------------------------------------------------------------------
# 1. The data.


@dataclass(frozen=True)
class ResidualData:
    """What the SAE reads, and the true features it is made of.

    x (n, d): the MLP's input at the last name, one row per input.
    labels (n,): what each input was ("Michael Jordan", or a lone "Jordan").
    is_fact (n,): whether the input is a fact of the table.
    names (k,): the true features: every name direction some input contains.
    directions (k, d): those directions (unit rows of the embedding).
    mix (n, k): how much of each direction each input holds, so that
        x == mix @ directions exactly.
    sampled: whether the pairings that are not facts are a sample (a long
        fact table), not all of them.
    """

    x: np.ndarray
    labels: tuple[str, ...]
    is_fact: np.ndarray
    names: tuple[str, ...]
    directions: np.ndarray
    mix: np.ndarray
    sampled: bool = False

    @property
    def contains(self) -> np.ndarray:
        """(n, k) booleans: which names each input holds."""
        return self.mix != 0


def residual_inputs(embedding: Embedding, facts: FactTable, attn_strength: float,
                    max_inputs: int = 600, seed: int = 0) -> ResidualData:
    """Every input the toy's MLP is trained on (toycore.learn.Trainer's facts
    and negatives), as the vector the MLP reads.

    That is: each first, last and unknown name alone, and every first/last
    pairing (the facts and all the pairings that are not facts). When that
    is more than `max_inputs` rows (long fact tables: 60 facts make about
    3,500), the lone names and the facts are all kept and the other pairings
    are a seeded sample, so the SAE's steps stay cheap.
    """
    e, s = embedding, float(attn_strength)
    firsts, lasts = e.names_of_kind("first"), e.names_of_kind("last")
    lone = firsts + lasts + e.names_of_kind("unknown")
    names = tuple(lone)
    col = {n: i for i, n in enumerate(names)}
    fact_pairs = {(f.first.casefold(), f.last.casefold()) for f in facts}
    pairs = [(a, b) for a in firsts for b in lasts]
    is_fact_pair = [(a.casefold(), b.casefold()) in fact_pairs for a, b in pairs]
    kept = [p for p, f in zip(pairs, is_fact_pair, strict=True) if f]
    others = [p for p, f in zip(pairs, is_fact_pair, strict=True) if not f]
    room = max(0, max_inputs - len(lone) - len(kept))
    sampled = len(others) > room
    if sampled:
        pick = np.sort(np.random.default_rng([seed, 11]).choice(len(others), room,
                                                                 replace=False))
        others = [others[i] for i in pick]
    chosen = set(kept) | set(others)
    pairs = [p for p in pairs if p in chosen]  # table order: firsts, then lasts
    mix = np.zeros((len(lone) + len(pairs), len(names)))
    labels = list(lone)
    for i, n in enumerate(lone):
        mix[i, col[n]] = 1.0
    for i, (a, b) in enumerate(pairs, start=len(lone)):
        mix[i, col[b]] = 1.0
        mix[i, col[a]] += s
        labels.append(f"{a} {b}")
    is_fact = np.array([False] * len(lone)
                       + [(a.casefold(), b.casefold()) in fact_pairs for a, b in pairs])
    directions = e.matrix(list(names))
    return ResidualData(mix @ directions, tuple(labels), is_fact, names, directions, mix,
                        sampled)


# ---------------------------------------------------------------------------
# 2. The SAE and its forward pass.


@dataclass(frozen=True)
class SAE:
    """Weights of one SAE, in SAELens's orientation.

    W_enc (d_in, d_sae): column i reads feature i off the (centred) input.
    b_enc (d_sae,):      each feature's threshold (negative: stays silent).
    W_dec (d_sae, d_in): row i is feature i's direction (unit length).
    b_dec (d_in,):       subtracted before encoding, added after decoding.

    A leading axis on every array (B SAEs side by side) is allowed too:
    `sae_forward` broadcasts over it.
    """

    W_enc: np.ndarray
    b_enc: np.ndarray
    W_dec: np.ndarray
    b_dec: np.ndarray

    @property
    def d_sae(self) -> int:
        return self.W_dec.shape[-2]

    @property
    def d_in(self) -> int:
        return self.W_dec.shape[-1]


def sae_forward(x: np.ndarray, sae: SAE) -> dict[str, np.ndarray]:
    """Encode x (n, d_in) into features and decode it back.

    hook_sae_input     = x - b_dec                       (what the encoder reads)
    hook_sae_acts_pre  = hook_sae_input @ W_enc + b_enc
    hook_sae_acts_post = relu(hook_sae_acts_pre)          (the features' activations)
    hook_sae_recons    = hook_sae_acts_post @ W_dec + b_dec
    hook_sae_error     = x - hook_sae_recons              (so x = recons + error)

    With a batch of SAEs (leading axis B) every entry gets that axis first.
    """
    sae_in = x - sae.b_dec[..., None, :]
    pre = sae_in @ sae.W_enc + sae.b_enc[..., None, :]
    post = np.maximum(pre, 0.0)
    recons = post @ sae.W_dec + sae.b_dec[..., None, :]
    return dict(zip(HOOKS, (sae_in, pre, post, recons, x - recons), strict=True))


# ---------------------------------------------------------------------------
# 3. Training.


class SAETrainer:
    """Trains one SAE per L1 penalty in `l1`, all at once, on `x`.

    Every SAE starts from the same weights (drawn from `seed`), so they
    differ only by their penalty. The loss of each, per input, is
        ||x - recons||^2 + l1 * sum(acts)
    averaged over a minibatch of `batch_size` inputs (a fresh seeded shuffle
    every pass through the data; None: every input every step). After each
    Adam step the decoder's rows are put back at unit length; the part of
    their gradient along themselves is dropped first, since it could only
    change their length.

    Interruptible and deterministic per seed, like toycore.learn.Trainer:
    call `step(n)` as often as you like, read `metrics()` in between.
    `callback` gets the metrics after each step; False stops `step(n)`.
    """

    def __init__(self, x: np.ndarray, d_sae: int, l1: float | Sequence[float],
                 lr: float = 0.01, batch_size: int | None = None, seed: int = 0,
                 callback: Callable[[Metrics], bool | None] | None = None) -> None:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x must be (inputs, dimensions), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x must be finite")
        if isinstance(d_sae, bool) or not isinstance(d_sae, int | np.integer) or d_sae < 1:
            raise ValueError(f"d_sae must be a positive integer, got {d_sae!r}")
        l1s = np.atleast_1d(np.asarray(l1, dtype=float))
        if l1s.ndim != 1 or not np.all(np.isfinite(l1s)) or np.any(l1s < 0):
            raise ValueError("l1 must be one or more finite penalties >= 0")
        if batch_size is not None and batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.x = x
        self.l1 = l1s
        self.lr = lr
        self.batch_size = None if batch_size is None or batch_size >= len(x) else batch_size
        self.callback = callback
        self.steps = 0
        self.stopped = False
        self._rng = np.random.default_rng([seed, 3])
        self._order = np.arange(0)
        self._at = 0

        b, n, d = len(l1s), int(d_sae), x.shape[1]
        rng = np.random.default_rng([seed, 1])
        w = rng.standard_normal((n, d))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        # Encoder starts as the decoder's transpose, b_dec at the data's mean.
        self.params = {
            "W_enc": np.broadcast_to(w.T, (b, d, n)).copy(),
            "b_enc": np.zeros((b, n)),
            "W_dec": np.broadcast_to(w, (b, n, d)).copy(),
            "b_dec": np.broadcast_to(x.mean(axis=0), (b, d)).copy(),
        }
        self.opt = Adam(self.params, lr)
        centred = x - x.mean(axis=0)
        self._total_var = float(np.sum(centred**2))

    @property
    def n_saes(self) -> int:
        return len(self.l1)

    def sae(self, i: int | None = None) -> SAE:
        """A copy of the weights: SAE number i, or all of them (leading axis)."""
        p = self.params
        pick = (lambda a: a.copy()) if i is None else (lambda a: a[i].copy())
        return SAE(pick(p["W_enc"]), pick(p["b_enc"]), pick(p["W_dec"]), pick(p["b_dec"]))

    # -- the maths ---------------------------------------------------------------
    def loss_and_grads(self, x: np.ndarray | None = None
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Each SAE's loss on x (default: all the data), shape (B,), and the
        gradients of their sum (the SAEs share nothing, so each SAE's slice
        is the gradient of its own loss)."""
        x = self.x if x is None else x
        c, grads = self._grads(x)
        sq = np.sum(c["hook_sae_error"] ** 2, axis=(1, 2))
        loss = (sq + self.l1 * np.sum(c["hook_sae_acts_post"], axis=(1, 2))) / len(x)
        return loss, grads

    def _grads(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        p = self.params
        c = sae_forward(x, SAE(p["W_enc"], p["b_enc"], p["W_dec"], p["b_dec"]))
        n = len(x)
        d_recons = -2.0 / n * c["hook_sae_error"]  # d loss / d recons, (B, n, d)
        d_post = d_recons @ p["W_dec"].transpose(0, 2, 1) + self.l1[:, None, None] / n
        d_pre = np.where(c["hook_sae_acts_pre"] > 0, d_post, 0.0)  # (B, n, m)
        g_benc = d_pre.sum(axis=1)
        grads = {
            "W_enc": c["hook_sae_input"].transpose(0, 2, 1) @ d_pre,
            "b_enc": g_benc,
            "W_dec": c["hook_sae_acts_post"].transpose(0, 2, 1) @ d_recons,
            # b_dec is added to the reconstruction and subtracted from the input.
            "b_dec": d_recons.sum(axis=1) - (g_benc[:, None, :] @ p["W_enc"].transpose(0, 2, 1)
                                             )[:, 0, :],
        }
        return c, grads

    def _batch(self) -> np.ndarray:
        if self.batch_size is None:
            return self.x
        if self._at + self.batch_size > len(self._order):
            self._order = self._rng.permutation(len(self.x))
            self._at = 0
        rows = self._order[self._at:self._at + self.batch_size]
        self._at += self.batch_size
        return self.x[rows]

    def update(self, n: int = 1) -> None:
        """Take n Adam steps and measure nothing: the cheap path for a live
        loop, which reads `metrics()` when it redraws."""
        p = self.params
        for _ in range(n):
            _, grads = self._grads(self._batch())
            w = p["W_dec"]
            g = grads["W_dec"]
            grads["W_dec"] = g - np.sum(g * w, axis=2, keepdims=True) * w
            self.opt.update(p, grads)
            p["W_dec"] /= np.linalg.norm(p["W_dec"], axis=2, keepdims=True)
            self.steps += 1

    def step(self, n: int = 1) -> Metrics:
        """Take up to n Adam steps; returns the metrics after the last one
        (and gives them to the callback after each step, if there is one)."""
        self.stopped = False
        for _ in range(n):
            self.update(1)
            if self.callback is not None and self.callback(self.metrics()) is False:
                self.stopped = True
            if self.stopped:
                break
        return self.metrics()

    def stop(self) -> None:
        """Ask a running `step(n)` (e.g. from inside the callback) to stop."""
        self.stopped = True

    def forward(self) -> dict[str, np.ndarray]:
        """`sae_forward` of every SAE on all the data (leading axis: the SAE)."""
        p = self.params
        return sae_forward(self.x, SAE(p["W_enc"], p["b_enc"], p["W_dec"], p["b_dec"]))

    def metrics(self, cache: dict[str, np.ndarray] | None = None) -> Metrics:
        """Per SAE, on all the data: "loss", "fvu" (fraction of variance
        unexplained), "mse" (mean squared error per input), "l0" (average
        number of active features per input), "dead" (features active on no
        input), and "step" (a plain float). `cache`: this step's `forward()`,
        if the caller already has it."""
        c = self.forward() if cache is None else cache
        n = len(self.x)
        post = c["hook_sae_acts_post"]
        sq = np.sum(c["hook_sae_error"] ** 2, axis=(1, 2))
        active = post > 0
        return {
            "step": float(self.steps),
            "loss": (sq + self.l1 * np.sum(post, axis=(1, 2))) / n,
            "mse": sq / n,
            "fvu": sq / self._total_var if self._total_var > 0 else np.zeros_like(sq),
            "l0": active.sum(axis=2).mean(axis=1),
            "dead": (~active.any(axis=1)).sum(axis=1).astype(float),
        }


# ---------------------------------------------------------------------------
# 4. What the SAE found.


def fraction_of_variance_unexplained(x: np.ndarray, recons: np.ndarray) -> float:
    """sum ||x - recons||^2 / sum ||x - mean(x)||^2 over the inputs (rows)."""
    total = float(np.sum((x - x.mean(axis=0)) ** 2))
    return float(np.sum((x - recons) ** 2)) / total if total > 0 else 0.0


def match_features(true_directions: np.ndarray, decoder: np.ndarray,
                   alive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each true direction (rows, k x d), the best cosine among the
    decoder's directions (rows, m x d) and which row gave it.

    Only rows marked in `alive` compete (default: all): a feature that never
    fires stands for nothing, wherever its direction points. A direction
    pointing the opposite way scores its (negative) cosine: a ReLU feature
    fires one way only. With no row to compete: NaN and -1."""
    t = true_directions / np.linalg.norm(true_directions, axis=1, keepdims=True)
    norms = np.linalg.norm(decoder, axis=1, keepdims=True)
    dec = decoder / np.where(norms > 0, norms, 1.0)
    rows = np.arange(len(dec)) if alive is None else np.flatnonzero(alive)
    if len(rows) == 0:
        return np.full(len(t), math.nan), np.full(len(t), -1)
    cos = t @ dec[rows].T
    best = np.argmax(cos, axis=1)
    return cos[np.arange(len(t)), best], rows[best]


def recovered_share(best_cos: np.ndarray, threshold: float = RECOVERED_COS) -> float:
    """Share of true features whose best cosine is at least `threshold`
    (NaN, no feature at all, counts as not recovered)."""
    return float(np.mean(np.nan_to_num(best_cos, nan=-1.0) >= threshold)) if len(best_cos) else 0.0


def top_name_share(acts: np.ndarray, contains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How much of each unit's firing is about a single name.

    acts (n, u): each unit's activation on each input (negative parts, as
    GELU's, count as silent); contains (n, k): which names each input holds.
    For unit j and name c, the share is the unit's total activation over the
    inputs holding c, over its total activation over all inputs. Returns the
    largest share per unit (NaN for a unit that never fires) and the name
    index that gave it (-1 then). A unit that fires only when "Jordan" is in
    the input scores 1; one that fires as much for three unrelated people
    scores about 1/3.
    """
    a = np.maximum(np.asarray(acts, dtype=float), 0.0)
    total = a.sum(axis=0)  # (u,)
    by_name = a.T @ contains.astype(float)  # (u, k)
    best = np.argmax(by_name, axis=1) if by_name.shape[1] else np.zeros(len(total), int)
    fired = total > 0
    share = np.full(len(total), math.nan)
    if by_name.shape[1]:
        share[fired] = by_name[fired, best[fired]] / total[fired]
    return share, np.where(fired, best, -1)
