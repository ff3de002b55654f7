"""Learning the facts instead of compiling them: plain numpy + Adam.

The page trains this live, one step per animation frame, so a step must be
cheap (the whole data set is a few hundred vectors) and the trainer must be
incremental: call `step()` as often as you like, read metrics in between,
stop whenever.

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
    if name == "relu":
        return (pre > 0).astype(float)
    if name == "gelu":
        cdf = 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(pre / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * pre**2) / math.sqrt(2.0 * math.pi)
        return cdf + pre * pdf
    if name == "gelu_tanh":
        k = math.sqrt(2.0 / math.pi)
        inner = k * (pre + 0.044715 * pre**3)
        t = np.tanh(inner)
        return 0.5 * (1.0 + t) + 0.5 * pre * (1.0 - t**2) * k * (1.0 + 3 * 0.044715 * pre**2)
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

        e, s = self.embedding, self.cfg.attn_strength
        self.sports = e.names_of_kind("sport")
        self.S = e.matrix(self.sports)  # (n_sports, d): the read-out directions
        self.X_pos = np.array([e.vec(f.last) + s * e.vec(f.first) for f in facts]).reshape(
            len(facts), e.d_model
        )
        self.Y_pos = np.zeros((len(facts), len(self.sports)))
        for i, f in enumerate(facts):
            self.Y_pos[i, self.sports.index(f.sport)] = 1.0
        self.X_neg = self._negatives()

        rng = np.random.default_rng([seed, 7])
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

    def _negatives(self) -> np.ndarray:
        """Inputs that must produce no answer: lone names at any position and
        every first/last pairing that is not a fact."""
        e, s = self.embedding, self.cfg.attn_strength
        facts = {(f.first.casefold(), f.last.casefold()) for f in self.facts}
        firsts, lasts = e.names_of_kind("first"), e.names_of_kind("last")
        rows = [e.vec(n) for n in firsts + lasts + e.names_of_kind("unknown")]
        for a in firsts:
            for b in lasts:
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
        p = self.params
        X = np.vstack([self.X_pos, self.X_neg])
        Y = np.vstack([self.Y_pos, np.zeros((len(self.X_neg), len(self.sports)))])
        w = np.concatenate(
            [
                np.full(len(self.X_pos), 1.0 / max(len(self.X_pos), 1)),
                np.full(len(self.X_neg), self.negative_weight / max(len(self.X_neg), 1)),
            ]
        )
        pre, post, r = self._forward(X)
        err = r - Y
        loss = float(np.sum(w[:, None] * err**2))
        d_r = 2.0 * w[:, None] * err  # (n, n_sports)
        d_out = d_r @ self.S  # (n, d)
        d_post = d_out @ p["W_down"]  # (n, d_mlp)
        d_pre = d_post * activation_grad(self.cfg.activation, pre)
        grads = {
            "W_down": d_out.T @ post,
            "b_down": d_out.sum(axis=0),
            "W_up": d_pre.T @ X,
            "b_up": d_pre.sum(axis=0),
        }
        return loss, grads, r

    # -- driving it ------------------------------------------------------------
    def step(self, n: int = 1) -> Metrics:
        """Take up to n Adam steps; returns fresh metrics after the last one.

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
        return self.metrics()

    def stop(self) -> None:
        """Ask a running `step(n)` (e.g. from inside the callback) to stop."""
        self.stopped = True

    def metrics(self) -> Metrics:
        """step, loss, accuracy, false_alarms, interference for the current weights."""
        loss, _, r = self._loss_grads_readout()
        return self._metrics_from(loss, r)

    def _metrics_from(self, loss: float, r: np.ndarray) -> Metrics:
        n = len(self.X_pos)
        return {
            "step": float(self.steps),
            "loss": loss,
            "accuracy": self._accuracy(r[:n]),
            "false_alarms": self._false_alarms(r[n:]),
            "interference": self._max_interference(r[:n]),
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
        best = np.argmax(r, axis=1)
        ok = (best == np.argmax(self.Y_pos, axis=1)) & (
            r[np.arange(len(r)), best] >= self.cfg.answer_threshold
        )
        return float(np.mean(ok))

    def false_alarms(self) -> float:
        """Share of non-fact inputs for which the model would claim a sport."""
        return self._false_alarms(self._forward(self.X_neg)[2])

    def _false_alarms(self, r: np.ndarray) -> float:
        if len(r) == 0:
            return 0.0
        return float(np.mean(r.max(axis=1) >= self.cfg.answer_threshold))

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
