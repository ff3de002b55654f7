"""Saving a model as a small JSON-able dict, for URLs and "reset" buttons.

Policy (documented in docs/toycore-api.md): invalid input is REJECTED, never
silently clamped. `model_from_state`, `apply_diff` and `decode` raise
`StateError` (a ValueError) whose message is written for the reader of the
page, e.g. "config.d_model must be a whole number between 2 and 1024". The
app catches it and falls back to the default model.

A state stores the recipe when it can (config, vocabulary, angle edits,
fact table, neuron slider edits) and raw weights only when the MLP was
learned or rank-one edited. `diff_from_default` shrinks that further to the
parts that differ from `ToyModel.default()`, which is what goes in a URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping

import numpy as np

from toycore.config import Config, config_fields
from toycore.embedding import KINDS, Embedding
from toycore.facts import MAX_FACTS, MAX_NAME_CHARS, FactTable
from toycore.model import MLP, ToyModel

VERSION = 1
MAX_NAMES = 400
MAX_ANGLES = 200
MAX_OVERRIDES = 2000
MAX_ABS = 1000.0  # no weight, bias or coefficient in a sane toy is this large
MAX_ENCODED = 200_000
DIGITS = 6  # stored weights are rounded: plenty for plots, half the JSON


class StateError(ValueError):
    """A saved state that cannot be loaded; the message is for the reader."""


# ---------------------------------------------------------------------------
# model -> state


def _r(x: float) -> float:
    return round(float(x), DIGITS)


def _rounded(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=float), DIGITS).tolist()


def model_to_state(model: ToyModel) -> dict:
    """Full state of a model (see module docstring)."""
    emb = model.embedding
    cfg = model.cfg
    embedding: dict = {"names": list(emb.names), "kinds": list(emb.kinds)}
    recipe = emb.recipe
    if (
        recipe is not None
        and recipe["seed"] == cfg.seed
        and recipe["noise"] == cfg.embed_noise
        and emb.d_model == cfg.d_model
    ):
        embedding["angles"] = [[a, b, float(d)] for a, b, d in recipe["angles"]]
    else:
        embedding["vectors"] = _rounded(emb.vectors)
    state: dict = {
        "version": VERSION,
        "config": cfg.to_dict(),
        "embedding": embedding,
        "facts": model.facts.to_list(),
    }
    if model.compiled:
        state["mlp"] = "compiled"
        state["neurons"] = [[j, what, _override_json(v)] for j, what, v in model.overrides]
    else:
        m = model.mlp
        state["mlp"] = {
            "W_up": _rounded(m.W_up),
            "b_up": _rounded(m.b_up),
            "W_down": _rounded(m.W_down),
            "b_down": _rounded(m.b_down),
        }
        state["neurons"] = []
    return state


def _override_json(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _r(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_r(v) for v in value]
    return _r(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# validation helpers: each raises StateError with a readable path


def _fail(path: str, what: str, got: object) -> StateError:
    text = repr(got)
    if len(text) > 40:
        text = text[:37] + "..."
    return StateError(f"In the saved state, {path} must be {what} (got {text}).")


def _dict(x: object, path: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
    if not isinstance(x, Mapping):
        raise _fail(path, "an object", x)
    for k in x:
        if not isinstance(k, str) or k not in allowed:
            raise StateError(
                f"In the saved state, {path} has an unknown key {str(k)[:40]!r}; "
                f"allowed: {', '.join(sorted(allowed))}."
            )
    missing = required - set(x)
    if missing:
        raise StateError(f"In the saved state, {path} is missing {', '.join(sorted(missing))}.")
    return dict(x)


def _list(x: object, path: str, max_len: int) -> list:
    if not isinstance(x, list | tuple):
        raise _fail(path, "a list", x)
    if len(x) > max_len:
        raise StateError(f"In the saved state, {path} has {len(x)} entries; at most {max_len}.")
    return list(x)


def _num(x: object, path: str, lo: float = -MAX_ABS, hi: float = MAX_ABS) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _fail(path, "a number", x)
    if not math.isfinite(x) or not lo <= x <= hi:
        raise _fail(path, f"a finite number between {lo:g} and {hi:g}", x)
    return float(x)


def _str(x: object, path: str, max_len: int = MAX_NAME_CHARS) -> str:
    if not isinstance(x, str) or not x.strip() or len(x) > max_len:
        raise _fail(path, f"non-empty text of at most {max_len} characters", x)
    return x


def _matrix(x: object, path: str, shape: tuple[int, ...]) -> np.ndarray:
    """Numbers of an exact shape, checked element by element (NaN, inf,
    strings and huge values all rejected) before numpy sees them."""
    if len(shape) == 1:
        rows = _list(x, path, shape[0])
        if len(rows) != shape[0]:
            raise _fail(path, f"a list of {shape[0]} numbers", f"{len(rows)} entries")
        return np.array([_num(v, f"{path}[{i}]") for i, v in enumerate(rows)], dtype=float)
    rows = _list(x, path, shape[0])
    if len(rows) != shape[0]:
        raise _fail(path, f"a {shape[0]} x {shape[1]} table", f"{len(rows)} rows")
    return np.array([_matrix(r, f"{path}[{i}]", shape[1:]) for i, r in enumerate(rows)])


# ---------------------------------------------------------------------------
# state -> model


def _config(x: object) -> Config:
    fields = set(config_fields())
    raw = _dict(x, "config", fields)
    ints = {"d_model", "d_mlp", "seed"}
    values: dict = {}
    for k, v in raw.items():
        if k == "activation":
            if not isinstance(v, str):
                raise _fail("config.activation", "text", v)
            values[k] = v
        elif k in ints:
            if isinstance(v, bool) or not isinstance(v, int):
                raise _fail(f"config.{k}", "a whole number", v)
            values[k] = v
        else:
            values[k] = _num(v, f"config.{k}")
    try:
        return Config(**values)
    except ValueError as err:
        raise StateError(f"In the saved state, config is invalid: {err}.") from None


def _facts(x: object) -> FactTable:
    rows = _list(x, "facts", MAX_FACTS)
    parsed = []
    for i, row in enumerate(rows):
        row = _list(row, f"facts[{i}]", 3)
        if len(row) != 3:
            raise _fail(f"facts[{i}]", "[first, last, sport]", row)
        parsed.append(tuple(_str(v, f"facts[{i}][{k}]") for k, v in enumerate(row)))
    try:
        return FactTable(parsed)  # type: ignore[arg-type]
    except ValueError as err:
        raise StateError(f"In the saved state, the fact table is invalid: {err}.") from None


def _embedding(x: object, cfg: Config) -> Embedding:
    raw = _dict(x, "embedding", {"names", "kinds", "angles", "vectors"}, {"names", "kinds"})
    names = [
        _str(n, f"embedding.names[{i}]")
        for i, n in enumerate(_list(raw["names"], "embedding.names", MAX_NAMES))
    ]
    kinds = _list(raw["kinds"], "embedding.kinds", MAX_NAMES)
    if len(kinds) != len(names):
        raise StateError(
            "In the saved state, embedding.names and embedding.kinds differ in length."
        )
    for i, k in enumerate(kinds):
        if k not in KINDS:
            raise _fail(f"embedding.kinds[{i}]", f"one of {', '.join(KINDS)}", k)
    if "vectors" in raw and "angles" in raw:
        raise StateError("In the saved state, embedding has both vectors and angles; keep one.")
    try:
        if "vectors" in raw:
            vectors = _matrix(raw["vectors"], "embedding.vectors", (len(names), cfg.d_model))
            if np.any(np.linalg.norm(vectors, axis=1) < 1e-9):
                raise StateError("In the saved state, an embedding vector is all zeros.")
            return Embedding(names, kinds, vectors, None)
        angles = []
        for i, a in enumerate(_list(raw.get("angles", []), "embedding.angles", MAX_ANGLES)):
            a = _list(a, f"embedding.angles[{i}]", 3)
            if len(a) != 3:
                raise _fail(f"embedding.angles[{i}]", "[name, name, degrees]", a)
            angles.append(
                (
                    _str(a[0], f"embedding.angles[{i}][0]"),
                    _str(a[1], f"embedding.angles[{i}][1]"),
                    _num(a[2], f"embedding.angles[{i}][2]", 0.0, 180.0),
                )
            )
        return Embedding.build(names, kinds, cfg.d_model, cfg.seed, cfg.embed_noise, angles)
    except (ValueError, KeyError) as err:
        if isinstance(err, StateError):
            raise
        raise StateError(f"In the saved state, the embedding is invalid: {err}.") from None


def _overrides(x: object, cfg: Config, emb: Embedding) -> list[tuple[int, str, object]]:
    out = []
    for i, item in enumerate(_list(x, "neurons", MAX_OVERRIDES)):
        path = f"neurons[{i}]"
        item = _list(item, path, 3)
        if len(item) != 3:
            raise _fail(path, "[neuron, 'row' | 'bias' | 'column', value]", item)
        j, what, value = item
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < cfg.d_mlp:
            raise _fail(f"{path}[0]", f"a neuron number from 0 to {cfg.d_mlp - 1}", j)
        if what not in ("row", "bias", "column"):
            raise _fail(f"{path}[1]", "'row', 'bias' or 'column'", what)
        if what == "bias":
            out.append((j, what, _num(value, f"{path}[2]")))
        elif isinstance(value, Mapping):
            weights = {}
            for name, w in value.items():
                if name not in emb:
                    raise _fail(f"{path}[2]", "weights on known names", name)
                weights[emb.canonical(name)] = _num(w, f"{path}[2][{name!r}]")
            out.append((j, what, weights))
        else:
            vec = _matrix(value, f"{path}[2]", (cfg.d_model,))
            out.append((j, what, [float(v) for v in vec]))
    return out


def model_from_state(state: object) -> ToyModel:
    """Rebuild a model from `model_to_state` output; raises StateError."""
    raw = _dict(
        state,
        "the state",
        {"version", "config", "embedding", "facts", "mlp", "neurons"},
        {"version", "config", "embedding", "facts", "mlp"},
    )
    if raw["version"] != VERSION or isinstance(raw["version"], bool):
        raise StateError(
            f"This saved state is version {raw['version']!r}; this page reads version {VERSION}."
        )
    cfg = _config(raw["config"])
    facts = _facts(raw["facts"])
    emb = _embedding(raw["embedding"], cfg)
    overrides = _overrides(raw.get("neurons", []), cfg, emb)
    mlp_raw = raw["mlp"]
    try:
        if mlp_raw == "compiled":
            return ToyModel.compiled_from(cfg, emb, facts, overrides)
        m = _dict(
            mlp_raw,
            "mlp",
            {"W_up", "b_up", "W_down", "b_down"},
            {"W_up", "b_up", "W_down", "b_down"},
        )
        if overrides:
            raise StateError("In the saved state, neuron edits go with a compiled MLP only.")
        d, h = cfg.d_model, cfg.d_mlp
        mlp = MLP(
            _matrix(m["W_up"], "mlp.W_up", (h, d)),
            _matrix(m["b_up"], "mlp.b_up", (h,)),
            _matrix(m["W_down"], "mlp.W_down", (d, h)),
            _matrix(m["b_down"], "mlp.b_down", (d,)),
        )
        return ToyModel.from_weights(cfg, emb, facts, mlp)
    except StateError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise StateError(f"The saved state does not make a working model: {err}.") from None


# ---------------------------------------------------------------------------
# compact diffs for URLs

DIFF_KEYS = {
    "v",
    "config",
    "facts",
    "facts_add",
    "facts_remove",
    "facts_set",
    "names_add",
    "embedding",
    "angles",
    "mlp",
    "neurons",
}


def default_state() -> dict:
    return model_to_state(ToyModel.default())


def diff_from_default(state: Mapping) -> dict:
    """The parts of a (valid) state that differ from the default model.

    Returns {} for the default model. Facts are described as removals,
    sport changes and additions when that reproduces the exact table (order
    matters: neuron j holds fact j), otherwise the whole table is stored.
    """
    model_from_state(state)  # validate first: never encode garbage
    base = default_state()
    diff: dict = {}
    cfg = {k: v for k, v in state["config"].items() if base["config"].get(k) != v}
    if cfg:
        diff["config"] = cfg
    diff.update(_facts_diff(base["facts"], [list(f) for f in state["facts"]]))
    emb, base_emb = state["embedding"], base["embedding"]
    names = list(zip(emb["names"], emb["kinds"], strict=True))
    base_names = list(zip(base_emb["names"], base_emb["kinds"], strict=True))
    if "vectors" in emb or names[: len(base_names)] != base_names:
        diff["embedding"] = emb
    else:
        if len(names) > len(base_names):
            diff["names_add"] = [list(p) for p in names[len(base_names) :]]
        if emb.get("angles"):
            diff["angles"] = emb["angles"]
    if state["mlp"] != "compiled":
        diff["mlp"] = state["mlp"]
    if state.get("neurons"):
        diff["neurons"] = state["neurons"]
    if diff:
        diff = {"v": VERSION, **diff}
    if _canon(apply_diff(diff)) != _canon(state):
        # The compact form could not express it exactly: store it whole.
        diff = {"v": VERSION, **{k: v for k, v in state.items() if k != "version"}}
        diff["facts"] = [list(f) for f in state["facts"]]
    return diff


def _facts_diff(base: list, facts: list) -> dict:
    by_name = {f"{f[0]} {f[1]}": f for f in facts}
    remove = [f"{f[0]} {f[1]}" for f in base if f"{f[0]} {f[1]}" not in by_name]
    kept_names = [f"{f[0]} {f[1]}" for f in base if f"{f[0]} {f[1]}" in by_name]
    changed = {
        n: by_name[n][2]
        for n in kept_names
        if by_name[n][2] != next(f[2] for f in base if f"{f[0]} {f[1]}" == n)
    }
    add = [f for f in facts if f"{f[0]} {f[1]}" not in set(kept_names)]
    out: dict = {}
    if remove:
        out["facts_remove"] = remove
    if changed:
        out["facts_set"] = changed
    if add:
        out["facts_add"] = add
    rebuilt = _apply_facts(base, out)
    if rebuilt != facts:
        return {"facts": facts}
    return out


def _apply_facts(base: list, diff: Mapping) -> list:
    if "facts" in diff:
        return [list(f) for f in diff["facts"]]
    remove = set(diff.get("facts_remove", []))
    changed = dict(diff.get("facts_set", {}))
    out = []
    for f in base:
        name = f"{f[0]} {f[1]}"
        if name in remove:
            continue
        out.append([f[0], f[1], changed.get(name, f[2])])
    return out + [list(f) for f in diff.get("facts_add", [])]


def apply_diff(diff: object) -> dict:
    """Full state from a compact diff (inverse of diff_from_default).

    Raises StateError for malformed diffs; the result still has to pass
    `ToyModel.from_state`, which checks every value.
    """
    raw = _dict(diff, "the link", DIFF_KEYS)
    if raw.get("v", VERSION) != VERSION:
        raise StateError(
            f"This link is version {raw.get('v')!r}; this page reads version {VERSION}."
        )
    state = default_state()
    if "config" in raw:
        cfg = _dict(raw["config"], "config", set(config_fields()))
        state["config"] = {**state["config"], **cfg}
    for key in ("facts", "facts_add", "facts_remove"):
        if key in raw:
            _list(raw[key], key, MAX_FACTS)
    if "facts_set" in raw:
        _dict(
            raw["facts_set"],
            "facts_set",
            set(raw["facts_set"]) if isinstance(raw["facts_set"], Mapping) else set(),
        )
    try:
        state["facts"] = _apply_facts(state["facts"], raw)
    except (TypeError, IndexError, KeyError):
        raise StateError("In the link, the fact changes are malformed.") from None
    if "embedding" in raw:
        state["embedding"] = raw["embedding"]
    else:
        if "names_add" in raw:
            pairs = _list(raw["names_add"], "names_add", MAX_NAMES)
            for i, p in enumerate(pairs):
                if not isinstance(p, list | tuple) or len(p) != 2:
                    raise _fail(f"names_add[{i}]", "[name, kind]", p)
            state["embedding"]["names"] += [p[0] for p in pairs]
            state["embedding"]["kinds"] += [p[1] for p in pairs]
        if "angles" in raw:
            state["embedding"]["angles"] = raw["angles"]
    if "mlp" in raw:
        state["mlp"] = raw["mlp"]
    if "neurons" in raw:
        state["neurons"] = raw["neurons"]
    return state


def _canon(state: Mapping) -> str:
    return json.dumps(state, sort_keys=True, default=str)


def encode(diff: Mapping) -> str:
    """URL-safe text for a diff (compact JSON in base64url, no padding)."""
    text = json.dumps(diff, separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(text: str) -> dict:
    """Inverse of `encode`; raises StateError for anything unreadable."""
    if not isinstance(text, str) or len(text) > MAX_ENCODED:
        raise StateError("This link is too long or not text.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise StateError("This link is damaged: it does not decode to a saved state.") from None
    if not isinstance(value, dict):
        raise StateError("This link is damaged: it does not decode to a saved state.")
    return value


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not allowed")
