"""Learning the facts instead of compiling them: plain numpy + Adam.

The page trains this live, a few dozen steps per timer tick, so a step must
be cheap (the whole data set is a few hundred inputs, each made of one or
two names) and the trainer must be incremental: call `step()` as often as
you like, read metrics in between, stop whenever.

What the network sees is exactly what the compiled MLP sees at the last
position: x = last-name vector + attn_strength * first-name vector. It is
trained so that what the MLP *writes* (mlp_out), read along each sport
direction, is 1 for the fact's sport and 0 for every other sport, and 0
everywhere for inputs that are not facts (half matches such as "Michael
Phelps"-rows-for-Jordan, other first/last pairings, lone names). Without
those negatives the cheapest solution would be "Jordan -> basketball",
which is not an AND gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from toycore.config import Config
from toycore.embedding import Embedding
from toycore.facts import FactTable
from toycore.model import ACTIVATION_FNS, MLP, ToyModel, _fact_names_kinds

Metrics = dict[str, float]


def activation_grad(name: str, pre: np.ndarray) -> np.ndarray:
    """d act / d pre, for backprop through the nonlinearity."""
    return activation_and_grad(name, pre)[1]


def activation_and_grad(name: str, pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """act(pre) and d act / d pre together: GELU's erf, one Python call per
    element, is then worked out once per step instead of twice."""
    if name == "relu":
        return np.maximum(pre, 0.0), (pre > 0).astype(float)
    if name == "gelu":
        cdf = 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(pre / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * pre**2) / math.sqrt(2.0 * math.pi)
        return pre * cdf, cdf + pre * pdf
    if name == "gelu_tanh":
        k = math.sqrt(2.0 / math.pi)
        inner = k * (pre + 0.044715 * pre**3)
        t = np.tanh(inner)
        grad = 0.5 * (1.0 + t) + 0.5 * pre * (1.0 - t**2) * k * (1.0 + 3 * 0.044715 * pre**2)
        return 0.5 * pre * (1.0 + t), grad
    raise ValueError(f"unknown activation {name!r}")


class Adam:
    """Textbook Adam (Kingma & Ba), one moment pair per parameter array."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        for k in params:
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * grads[k]
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * grads[k] ** 2
            m_hat = self.m[k] / (1 - self.b1**self.t)
            v_hat = self.v[k] / (1 - self.b2**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class Trainer:
    """Trains an MLP to store `facts`; interruptible, deterministic per seed.

    facts, embedding: what to store and the directions to use (names missing
        from the embedding are added).
    d_mlp: number of neurons; may be smaller than the number of facts, which
        forces the network to share neurons and produces interference.
    seed, lr: initialisation seed and Adam learning rate.
    activation, attn_strength: as in Config (taken from `cfg` when given).
    negative_weight: how much the "say nothing for non-facts" part of the
        loss counts relative to the facts themselves.
    callback: called with the metrics dict after every step; returning
        False stops the current `step(n)` call early.
    """

    def __init__(
        self,
        facts: FactTable,
        embedding: Embedding,
        d_mlp: int = 32,
        seed: int = 0,
        lr: float = 0.02,
        activation: str = "relu",
        attn_strength: float = 1.0,
        negative_weight: float = 1.0,
        callback: Callable[[Metrics], bool | None] | None = None,
        cfg: Config | None = None,
    ) -> None:
        names, kinds = _fact_names_kinds(facts)
        self.embedding = embedding.with_names(names, kinds)
        self.facts = facts
        self.cfg = (cfg or Config()).replace(
            d_model=self.embedding.d_model,
            d_mlp=d_mlp,
            seed=seed,
            activation=activation if cfg is None else cfg.activation,
            attn_strength=attn_strength if cfg is None else cfg.attn_strength,
        )
        self.lr = lr
        self.negative_weight = negative_weight
        self.callback = callback
        self.steps = 0
        self.stopped = False
        self.history: list[Metrics] = []

        e = self.embedding
        self.sports = e.names_of_kind("sport")
        self.S = e.matrix(self.sports)  # (n_sports, d): the read-out directions
        self._structure(facts)

        # Stream 2, which no name uses: Embedding draws name i's direction
        # from [seed, i, 0] and its noise from [seed, i, 1], and numpy's
        # seeds ignore trailing zeros ([seed, 7] is [seed, 7, 0]: neuron 0
        # would start along name 7, at right angles to every later name).
        rng = np.random.default_rng([seed, 0, 2])
        d = e.d_model
        # Small random init; a positive up-bias would make every neuron fire
        # for everything, so biases start at zero and learn their threshold.
        self.params = {
            "W_up": rng.standard_normal((d_mlp, d)) / math.sqrt(d),
            "b_up": np.zeros(d_mlp),
            "W_down": rng.standard_normal((d, d_mlp)) / math.sqrt(d_mlp) * 0.1,
            "b_down": np.zeros(d),
        }
        self.opt = Adam(self.params, lr)

    def _structure(self, facts: FactTable) -> None:
        """Every input as names: a row per (first, last) pairing, then a row
        per lone first, last and unknown name.

        Every input is last + strength * first (or one name alone), so the
        up-projection is done once per name and added up per pairing, and
        the gradient of W_up is gathered back per name: the same loss as
        multiplying every input vector through, with a ninth of the work.
        """
        e = self.embedding
        self._firsts, self._lasts = e.names_of_kind("first"), e.names_of_kind("last")
        self._E = e.matrix(self._firsts + self._lasts + e.names_of_kind("unknown"))
        F, L = len(self._firsts), len(self._lasts)
        first_at = {n.casefold(): i for i, n in enumerate(self._firsts)}
        last_at = {n.casefold(): i for i, n in enumerate(self._lasts)}
        self._fact_rows = np.array(
            [first_at[f.first.casefold()] * L + last_at[f.last.casefold()] for f in facts],
            dtype=np.intp)
        self._fact_sports = np.array([self.sports.index(f.sport) for f in facts], dtype=np.intp)
        rows = F * L + len(self._E)
        is_fact = np.zeros(rows, dtype=bool)
        is_fact[self._fact_rows] = True
        self._neg_rows = np.flatnonzero(~is_fact)
        # Loss weight per row: the facts' mean plus negative_weight times the
        # negatives' mean.
        self._w = np.where(is_fact, 1.0 / max(len(facts), 1),
                           self.negative_weight / max(len(self._neg_rows), 1))[:, None]
        self.Y_pos = np.zeros((len(facts), len(self.sports)))
        self.Y_pos[np.arange(len(facts)), self._fact_sports] = 1.0
        s = self.cfg.attn_strength
        self._X_pos = np.array([e.vec(f.last) + s * e.vec(f.first) for f in facts]).reshape(
            len(facts), e.d_model)

    @property
    def X_pos(self) -> np.ndarray:
        """The facts' input vectors (n_facts, d): last + strength * first."""
        return self._X_pos

    @property
    def X_neg(self) -> np.ndarray:
        """Inputs that must produce no answer: lone names at any position and
        every first/last pairing that is not a fact."""
        e, s = self.embedding, self.cfg.attn_strength
        facts = {(f.first.casefold(), f.last.casefold()) for f in self.facts}
        rows = [e.vec(n) for n in self._firsts + self._lasts + e.names_of_kind("unknown")]
        for a in self._firsts:
            for b in self._lasts:
                if (a.casefold(), b.casefold()) not in facts:
                    rows.append(e.vec(b) + s * e.vec(a))
        return np.array(rows).reshape(len(rows), e.d_model)

    # -- the maths ---------------------------------------------------------------
    def _forward(self, X: np.ndarray):
        p = self.params
        pre = X @ p["W_up"].T + p["b_up"]
        post = ACTIVATION_FNS[self.cfg.activation](pre)
        out = post @ p["W_down"].T + p["b_down"]
        return pre, post, out @ self.S.T  # read-out along each sport

    def loss_and_grads(self) -> tuple[float, dict[str, np.ndarray]]:
        """Mean squared error of the sport read-out, facts + weighted negatives."""
        loss, grads, _ = self._loss_grads_readout()
        return loss, grads

    def _loss_grads_readout(self):
        p, s = self.params, self.cfg.attn_strength
        F, L = len(self._firsts), len(self._lasts)
        A = self._E @ p["W_up"].T  # (names, d_mlp): each neuron's question, name by name
        pairs = A[F:F + L][None, :, :] + s * A[:F][:, None, :]  # (F, L, d_mlp)
        pre = np.concatenate([pairs.reshape(F * L, -1), A]) + p["b_up"]
        post, act_grad = activation_and_grad(self.cfg.activation, pre)
        M = self.S @ p["W_down"]  # (n_sports, d_mlp): what each neuron writes, by sport
        r = post @ M.T + self.S @ p["b_down"]  # read-out of every input along every sport
        err = r.copy()
        err[self._fact_rows, self._fact_sports] -= 1.0
        loss = float(np.sum(self._w * err**2))
        d_r = 2.0 * self._w * err  # (rows, n_sports)
        d_pre = (d_r @ M) * act_grad  # (rows, d_mlp)
        # Back to the names: a pairing's row reaches its last name with
        # weight 1 and its first name with weight s.
        d_pairs = d_pre[:F * L].reshape(F, L, -1)
        d_A = d_pre[F * L:].copy()
        d_A[:F] += s * d_pairs.sum(axis=1)
        d_A[F:F + L] += d_pairs.sum(axis=0)
        grads = {
            "W_down": self.S.T @ (d_r.T @ post),
            "b_down": self.S.T @ d_r.sum(axis=0),
            "W_up": d_A.T @ self._E,
            "b_up": d_pre.sum(axis=0),
        }
        return loss, grads, r

    # -- driving it ------------------------------------------------------------
    def step(self, n: int = 1, report: bool = True) -> Metrics | None:
        """Take up to n Adam steps; returns fresh metrics after the last one
        (report=False: returns None and skips that extra pass through every
        input, which doubles the cost of stepping one at a time; a live loop
        measures the weights when it redraws instead).

        The callback gets, for each step, the metrics of the weights that
        step started from (they come free with the gradient pass, which keeps
        a live step cheap); "step" says how many updates those weights had.
        """
        self.stopped = False
        for _ in range(n):
            loss, grads, r = self._loss_grads_readout()
            metrics = self._metrics_from(loss, r)
            self.history.append(metrics)
            self.opt.update(self.params, grads)
            self.steps += 1
            if self.callback is not None and self.callback(metrics) is False:
                self.stopped = True
            if self.stopped:
                break
        return self.metrics() if report else None

    def stop(self) -> None:
        """Ask a running `step(n)` (e.g. from inside the callback) to stop."""
        self.stopped = True

    def restore(self, params: dict[str, np.ndarray], history: list[Metrics]) -> None:
        """Take up saved weights and the history that led to them (so `steps`
        is len(history)). Adam's moments start afresh: stepping on from here
        is not the run that never stopped."""
        for k, v in params.items():
            if np.shape(v) != self.params[k].shape:
                raise ValueError(f"{k} must have shape {self.params[k].shape}")
            self.params[k] = np.array(v, dtype=float)
        self.opt = Adam(self.params, self.lr)
        self.history = list(history)
        self.steps = len(self.history)

    def metrics(self) -> Metrics:
        """step, loss, accuracy, false_alarms, interference for the current weights."""
        loss, _, r = self._loss_grads_readout()
        return self._metrics_from(loss, r)

    def _metrics_from(self, loss: float, r: np.ndarray) -> Metrics:
        facts = r[self._fact_rows]
        # Which inputs claim a sport, all at once; the negatives' share is
        # then a count (cheaper than gathering their rows every step).
        claims = self.cfg.answers(r.max(axis=1, initial=-np.inf))
        n_neg = len(self._neg_rows)
        false = int(claims.sum()) - int(claims[self._fact_rows].sum())
        return {
            "step": float(self.steps),
            "loss": loss,
            "accuracy": self._accuracy(facts),
            "false_alarms": false / n_neg if n_neg else 0.0,
            "interference": self._max_interference(facts),
        }

    # -- what it learned ---------------------------------------------------------
    def interference(self) -> np.ndarray:
        """Matrix (facts x sports): what the MLP writes for fact f, read along
        sport s. Perfect storage is the one-hot of f's sport; everything off
        that one-hot is interference from other facts sharing the neurons."""
        return self._forward(self.X_pos)[2]

    def max_interference(self) -> float:
        """Largest |off-target| entry of `interference()` (the fact's own
        sport is excluded: missing it is an accuracy problem, not leakage)."""
        return self._max_interference(self.interference())

    def _max_interference(self, r: np.ndarray) -> float:
        if r.size == 0:
            return 0.0
        return float(np.max(np.abs(np.where(self.Y_pos > 0, 0.0, r))))

    def neuron_overlap(self) -> np.ndarray:
        """Matrix (facts x facts): cosine between the neuron activation
        patterns of two facts; off-diagonal entries near 1 mean two facts are
        stored in the same neurons (where interference comes from)."""
        post = self._forward(self.X_pos)[1]
        norms = np.linalg.norm(post, axis=1, keepdims=True)
        unit = post / np.where(norms > 0, norms, 1.0)
        return unit @ unit.T

    def accuracy(self) -> float:
        """Share of facts answered correctly under the page's answer rule
        (best sport read-out of mlp_out, and at least answer_threshold)."""
        return self._accuracy(self.interference())

    def _accuracy(self, r: np.ndarray) -> float:
        if len(self.facts) == 0:
            return 1.0
        return float(np.mean(self._recalled(r)))

    def recalled(self) -> np.ndarray:
        """One bool per fact: answered correctly under the page's answer rule."""
        return self._recalled(self.interference())

    def _recalled(self, r: np.ndarray) -> np.ndarray:
        best = np.argmax(r, axis=1)
        return (best == self._fact_sports) & self.cfg.answers(r[np.arange(len(r)), best])

    @property
    def n_negatives(self) -> int:
        """How many inputs must produce no answer (see X_neg)."""
        return len(self._neg_rows)

    def false_alarms(self) -> float:
        """Share of non-fact inputs for which the model would claim a sport."""
        return self._false_alarms(self._forward(self.X_neg)[2])

    def _false_alarms(self, r: np.ndarray) -> float:
        if len(r) == 0:
            return 0.0
        return float(np.mean(self.cfg.answers(r.max(axis=1))))

    def mlp(self) -> MLP:
        return MLP(**{k: v.copy() for k, v in self.params.items()})

    def model(self) -> ToyModel:
        """Snapshot as a ToyModel the rest of the app can run and plot."""
        return ToyModel.from_weights(self.cfg, self.embedding, self.facts, self.mlp())


def train(
    facts: FactTable,
    embedding: Embedding,
    d_mlp: int = 32,
    steps: int = 500,
    seed: int = 0,
    **kwargs: object,
) -> Trainer:
    """Convenience: build a Trainer and run it for `steps` steps."""
    trainer = Trainer(facts, embedding, d_mlp=d_mlp, seed=seed, **kwargs)  # type: ignore[arg-type]
    trainer.step(steps)
    return trainer
