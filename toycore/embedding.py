"""Named directions in the residual stream: the toy's vocabulary.

Every word the toy knows (first names, last names, sports) gets one unit
vector. The lesson's assumption is that these are nearly perpendicular, so a
dot product of ~1 means "this feature is present" and ~0 means "absent".

Directions are built one at a time (Gram-Schmidt over seeded random
vectors) so that adding a name later appends a direction without moving the
old ones: plots of existing names stay put when the reader adds a fact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KINDS = ("first", "last", "sport", "team", "unknown")
UNKNOWN = "(unknown)"


def _seeded_gaussian(seed: int, index: int, d: int, stream: int) -> np.ndarray:
    # One generator per (seed, index, stream): a direction depends only on its
    # own position in the list, never on how many names come after it.
    rng = np.random.default_rng([seed, index, stream])
    return rng.standard_normal(d)


def build_vectors(n: int, d: int, seed: int, noise: float = 0.0) -> np.ndarray:
    """Unit rows, exactly perpendicular while there is room (n <= d).

    Past d directions there is no room left: extra names get plain random
    unit vectors, which are only nearly perpendicular (|cos| ~ 1/sqrt(d)).
    `noise` mixes a random vector of that relative size into every row, to
    make even the first d directions only nearly perpendicular.
    """
    vectors = np.zeros((n, d))
    for i in range(n):
        g = _seeded_gaussian(seed, i, d, 0)
        if i < d:
            for j in range(i):  # Gram-Schmidt against everything before
                g = g - (g @ vectors[j]) * vectors[j]
            g = g - vectors[:i].T @ (vectors[:i] @ g)  # second pass for accuracy
        vectors[i] = g / np.linalg.norm(g)
    if noise > 0:
        for i in range(n):
            r = _seeded_gaussian(seed, i, d, 1)
            v = vectors[i] + noise * r / np.linalg.norm(r)
            vectors[i] = v / np.linalg.norm(v)
    return vectors


class Embedding:
    """Names, their kind, and one unit vector per name.

    Immutable: every change returns a new Embedding. `recipe` remembers how
    the vectors were made (seed, noise, angle edits) so a saved state can
    store the recipe instead of hundreds of floats; it is None when the
    vectors came from elsewhere and must be stored as numbers.
    """

    def __init__(
        self,
        names: Sequence[str],
        kinds: Sequence[str],
        vectors: np.ndarray,
        recipe: dict | None = None,
    ) -> None:
        vectors = np.array(vectors, dtype=float)
        if vectors.ndim != 2 or vectors.shape[0] != len(names) or len(kinds) != len(names):
            raise ValueError("names, kinds and vector rows must line up")
        if not np.all(np.isfinite(vectors)):
            raise ValueError("embedding vectors must be finite")
        norms = np.linalg.norm(vectors, axis=1)
        if np.any(norms < 1e-9):
            raise ValueError("embedding vectors must be non-zero")
        lowered = [n.casefold() for n in names]
        if len(set(lowered)) != len(lowered):
            raise ValueError("each word has one direction: names must be unique")
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.names: list[str] = list(names)
        self.kinds: list[str] = list(kinds)
        self.vectors: np.ndarray = vectors / norms[:, None]
        self.vectors.flags.writeable = False
        self.recipe = recipe
        self._index = {n.casefold(): i for i, n in enumerate(self.names)}

    # -- construction ---------------------------------------------------
    @classmethod
    def build(
        cls,
        names: Sequence[str],
        kinds: Sequence[str],
        d_model: int,
        seed: int = 0,
        noise: float = 0.0,
        angles: Sequence[Sequence] = (),
    ) -> Embedding:
        """Seeded directions for these names, then replay any angle edits."""
        vectors = build_vectors(len(names), d_model, seed, noise)
        recipe = {"seed": seed, "noise": noise, "angles": []}
        emb = cls(names, kinds, vectors, recipe)
        for a, b, degrees in angles:
            emb = emb.with_angle(a, b, degrees)
        return emb

    # -- look-ups -------------------------------------------------------
    @property
    def d_model(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() in self._index

    def index(self, name: str) -> int:
        try:
            return self._index[name.casefold()]
        except KeyError:
            raise KeyError(f"{name!r} is not in the vocabulary") from None

    def canonical(self, name: str) -> str:
        """The vocabulary's own spelling of a name typed in any case."""
        return self.names[self.index(name)]

    def kind(self, name: str) -> str:
        return self.kinds[self.index(name)]

    def vec(self, name: str) -> np.ndarray:
        return self.vectors[self.index(name)]

    def names_of_kind(self, kind: str) -> list[str]:
        return [n for n, k in zip(self.names, self.kinds, strict=True) if k == kind]

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """Rows for these names, shape (len(names), d_model)."""
        return np.array([self.vec(n) for n in names]).reshape(len(names), self.d_model)

    def cosine_matrix(self, names: Sequence[str] | None = None) -> np.ndarray:
        """Pairwise cosines; rows are unit length so this is just V V^T."""
        v = self.vectors if names is None else self.matrix(names)
        return np.clip(v @ v.T, -1.0, 1.0)

    def angle(self, a: str, b: str) -> float:
        """Angle between two directions in degrees."""
        cos = float(np.clip(self.vec(a) @ self.vec(b), -1.0, 1.0))
        return math.degrees(math.acos(cos))

    # -- edits ------------------------------------------------------------
    def with_angle(self, a: str, b: str, degrees: float) -> Embedding:
        """New embedding where angle(a, b) == degrees.

        What moves: only b. It is rotated inside the plane spanned by a and b
        (b' = cos(t) a + sin(t) u, u = b's part perpendicular to a), so b stays
        unit length, a and every other direction are untouched, and b keeps
        as much of its own identity as the new angle allows. Side effect: b's
        cosines with third directions change too, unless they were 0 against
        both a and b (the default perpendicular case).
        """
        degrees = float(degrees)
        if not math.isfinite(degrees) or not 0.0 <= degrees <= 180.0:
            raise ValueError(f"angle must be between 0 and 180 degrees, got {degrees}")
        ia, ib = self.index(a), self.index(b)
        if ia == ib:
            raise ValueError("pick two different names to set an angle between")
        va, vb = self.vectors[ia], self.vectors[ib]
        u = vb - (vb @ va) * va
        if np.linalg.norm(u) < 1e-9:
            # b is parallel to a: any perpendicular will do; take the axis a
            # is least aligned with so the choice is deterministic.
            axis = np.zeros(self.d_model)
            axis[int(np.argmin(np.abs(va)))] = 1.0
            u = axis - (axis @ va) * va
        u = u / np.linalg.norm(u)
        t = math.radians(degrees)
        vectors = self.vectors.copy()
        vectors[ib] = math.cos(t) * va + math.sin(t) * u
        recipe = None
        if self.recipe is not None:
            recipe = dict(self.recipe)
            recipe["angles"] = [*self.recipe["angles"], [self.names[ia], self.names[ib], degrees]]
        return Embedding(self.names, self.kinds, vectors, recipe)

    def with_names(self, names: Sequence[str], kinds: Sequence[str]) -> Embedding:
        """Append any missing names (existing directions do not move).

        Raises if a word is already known with another kind: in this toy a
        word has one role, because the attention head routes by role.
        """
        new_names, new_kinds = list(self.names), list(self.kinds)
        for name, kind in zip(names, kinds, strict=True):
            if name in self:
                if self.kind(name) != kind:
                    raise ValueError(
                        f"{self.canonical(name)!r} is already a {self.kind(name)} name; "
                        "in this toy each word has one role"
                    )
                continue
            new_names.append(name)
            new_kinds.append(kind)
        if len(new_names) == len(self.names):
            return self
        if self.recipe is not None:
            # Rebuild from the recipe: old rows come out identical because
            # each row depends only on its own index, then replay angle edits.
            return Embedding.build(
                new_names,
                new_kinds,
                self.d_model,
                self.recipe["seed"],
                self.recipe["noise"],
                self.recipe["angles"],
            )
        extra = build_vectors(len(new_names), self.d_model, seed=len(new_names))[len(self.names) :]
        return Embedding(new_names, new_kinds, np.vstack([self.vectors, extra]), None)
