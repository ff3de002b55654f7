"""All of the explorable's state, declared once, and its URL form.

Like TensorFlow Playground's `state.ts`: one typed list of properties is the
single source of truth. Widgets bind to it, plots read from it, and it
round-trips through the query string so a shared link restores exactly what
the reader saw. Only values that differ from the default are written, so
links stay short. Parsing never raises: a bad value falls back to the default
(or is clamped into range) and yields a short message the page shows.

This module imports param but not Panel, so it is tested in plain CPython.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import param

from toycore.capacity import ANSWERS
from toycore.facts import DEFAULT_FACTS
from toycore.trace import CORRUPTIONS, NOISE_SD


@dataclass(frozen=True)
class SectionEntry:
    """One section of the page: its URL key (`show=`), the module and class
    that build it (imported only when shown), and its heading."""

    key: str
    module: str
    cls: str
    title: str


# Every section, in the order the page shows them; the number in each title
# is its place here (a test holds them together).
REGISTRY: tuple[SectionEntry, ...] = (
    SectionEntry("recall", "app.recall", "RecallSection", "1. Recall a fact"),
    SectionEntry("neuron", "app.neuron", "NeuronSection", "2. Inside one neuron"),
    SectionEntry("embedding", "app.embedding", "EmbeddingSection",
                 "3. How perpendicular are the names?"),
    SectionEntry("attention", "app.attention", "AttentionSection", "4. The attention steps"),
    SectionEntry("capacity", "app.capacity", "CapacitySection",
                 "5. More facts than neurons, by sharing answers"),
    SectionEntry("edit", "app.edit", "EditSection", "6. Edit a fact"),
    SectionEntry("superposition", "app.superposition", "SuperpositionSection",
                 "7. Superposition: more directions than dimensions"),
    SectionEntry("params", "app.params", "ParamsSection", "8. Counting the parameters"),
    SectionEntry("sae", "app.sae", "SAESection",
                 "9. A sparse autoencoder finds the features again"),
    SectionEntry("trace", "app.trace", "TraceSection",
                 "10. Where does the fact live? Causal tracing"),
)
SECTIONS = tuple(e.key for e in REGISTRY)
_BY_KEY = {e.key: e for e in REGISTRY}


def section_entry(key: str) -> SectionEntry:
    """The registry's entry for a section key (KeyError for an unknown one)."""
    return _BY_KEY[key]


MAX_TEXT = 120
# The default fact table's sports, for the "second sport" a neuron may write.
SPORTS = list(dict.fromkeys(row[2] for row in DEFAULT_FACTS))


class AppState(param.Parameterized):
    """What the reader has set. URL keys are the parameter names; a slider's
    bounds and step are its parameter's (app.common.slider)."""

    # Section 1: recall a fact
    person = param.String(default="Michael Jordan", doc="The name typed into the recall box.")
    activation = param.Selector(default="relu", objects=["relu", "gelu", "gelu_tanh"],
                                doc="The MLP's nonlinearity.")
    attn = param.Number(default=1.0, bounds=(0.0, 2.0), step=0.05,
                        doc="Strength of the head that moves the first name into the last.")
    move = param.Number(default=1.0, bounds=(0.0, 2.0), step=0.05,
                        doc="Strength of the later head that carries the name's vector, "
                            "fact included, to the words after it.")
    # Section 2: inside one neuron. The row and column are set by weights on
    # named directions (the fact's own first/last name and sport), which is
    # what survives an embedding change and fits in a link.
    neuron = param.Integer(default=0, bounds=(0, 255), doc="The neuron under the microscope.")
    row_first = param.Number(default=1.0, bounds=(-2.0, 2.0), step=0.05,
                             doc="Its row's weight on the fact's first-name direction.")
    row_last = param.Number(default=1.0, bounds=(-2.0, 2.0), step=0.05,
                            doc="Its row's weight on the fact's last-name direction.")
    row_other = param.Number(default=0.0, bounds=(-2.0, 2.0), step=0.05,
                             doc="Its row's weight on another last name (the half match).")
    bias = param.Number(default=-1.0, bounds=(-3.0, 3.0), step=0.05,
                        doc="That neuron's bias (threshold).")
    col_own = param.Number(default=1.0, bounds=(-2.0, 2.0), step=0.05,
                           doc="Its column's weight on the fact's sport: what it writes.")
    col_alt = param.Number(default=0.0, bounds=(-2.0, 2.0), step=0.05,
                           doc="Its column's weight on a second sport.")
    alt_sport = param.Selector(default="golf", objects=SPORTS, doc="That second sport.")
    # Section 3: angles between directions (90 = perpendicular).
    angle_mj = param.Number(default=90.0, bounds=(0.0, 180.0), step=1.0,
                            doc="Angle Michael–Jordan.")
    angle_jp = param.Number(default=90.0, bounds=(0.0, 180.0), step=1.0,
                            doc="Angle Jordan–Phelps.")
    angle_ma = param.Number(default=90.0, bounds=(0.0, 180.0), step=1.0,
                            doc="Angle Michael–Alexis.")
    # Section 5: more facts than neurons (training itself is not saved).
    cap_facts = param.Integer(default=23, bounds=(2, 60), step=1, doc="Facts to store.")
    cap_sports = param.Selector(default="shared", objects=list(ANSWERS),
                                doc="Facts share the table's 13 sports, or each has its own.")
    cap_neurons = param.Integer(default=10, bounds=(1, 64), step=1, doc="Neurons to store them in.")
    cap_d = param.Integer(default=24, bounds=(2, 64), step=1,
                          doc="Width of the residual stream the names share.")
    cap_fact = param.String(default="",
                            doc="The fact taken apart neuron by neuron (empty: the one "
                                "the most neurons fire for).")
    # Section 6: edit a fact.
    edit_person = param.String(default="Michael Jordan", doc="Whose fact to change.")
    edit_sport = param.String(default="golf", doc="The sport to write instead.")
    edit_model = param.Selector(default="built", objects=["built", "trained"],
                                doc="Which model to edit: the hand-built one, or section 5's.")
    edit_method = param.Selector(default="column", objects=["column", "rank_one"],
                                 doc="How the edit is made (toycore.edit).")
    # Section 7: superposition.
    sp_n = param.Integer(default=400, bounds=(2, 1000), step=1, doc="Vectors to pack.")
    sp_d = param.Integer(default=20, bounds=(2, 200), step=1, doc="Dimensions to pack them in.")
    sp_eps = param.Number(default=5.0, bounds=(0.5, 20.0), step=0.5,
                          doc="The capacity chart's window around 90 degrees (+- degrees).")
    # Section 8: counting parameters (defaults: GPT-3 175B in the lesson's accounting).
    p_preset = param.Selector(default="gpt3-175b",
                              objects=["toy", "gpt2-small", "gpt3-175b", "custom"],
                              doc="The preset the shape came from.")
    p_d_model = param.Integer(default=12288, bounds=(1, 1_000_000), doc="Residual width.")
    p_d_mlp = param.Integer(default=49152, bounds=(1, 10_000_000), doc="MLP neurons per layer.")
    p_layers = param.Integer(default=96, bounds=(1, 10_000), doc="Layers.")
    p_vocab = param.Integer(default=50257, bounds=(1, 10_000_000), doc="Vocabulary size.")
    p_heads = param.Integer(default=96, bounds=(1, 10_000), doc="Attention heads per layer.")
    p_ctx = param.Integer(default=0, bounds=(0, 10_000_000), doc="Learned positions (0: none).")
    p_biases = param.Boolean(default=False, doc="Count biases.")
    p_ln = param.Boolean(default=False, doc="Count layer norms.")
    p_tied = param.Boolean(default=False, doc="Unembedding shares the embedding's weights.")
    p_attn = param.Boolean(default=True,
                           doc="Attention has weights (the toy's steps are fixed rules).")
    # Section 9: a sparse autoencoder on section 5's MLP input (training is not saved).
    sae_size = param.Integer(default=64, bounds=(8, 128), step=1,
                             doc="Features in the sparse autoencoder's dictionary.")
    sae_l1 = param.Number(default=0.3, bounds=(0.0, 2.0), step=0.01,
                          doc="Its sparsity penalty: the L1 coefficient on feature activations.")
    # Section 10: causal tracing of the shared model (sections 1-4's settings).
    tr_text = param.String(default="Michael Jordan plays the sport of",
                           doc="The name or prompt traced.")
    tr_corrupt = param.Selector(default="swap", objects=list(CORRUPTIONS),
                                doc="How the name is corrupted: its first name swapped for one "
                                    "that makes no fact, or noise on its embeddings (ROME's).")
    tr_noise = param.Number(default=NOISE_SD, bounds=(0.0, 10.0), step=0.5,
                            doc="The noise, in standard deviations of the embeddings' entries.")
    tr_sever = param.Boolean(default=False,
                             doc="Hold the MLP's output at its corrupted value while putting "
                                 "back anything else (ROME's severed trace).")
    # Page flags, for presenters and bloggers embedding one figure.
    show = param.ListSelector(default=list(SECTIONS), objects=list(SECTIONS),
                              doc="Sections shown; an embed picks one.")
    controls = param.Boolean(default=True, doc="Show the controls (off for a static embed).")
    prose = param.Boolean(default=True, doc="Show the prose beside each figure.")
    presenter = param.Boolean(default=False, doc="Large type and high contrast for projectors.")
    theme = param.Selector(default="light", objects=["light", "dark"], doc="Colour scheme.")
    embed = param.Boolean(default=False, doc="Hide the page's title and intro (for an iframe).")


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _parse_one(p: param.Parameter, raw: str) -> tuple[object, str | None]:
    """(value, message) for one URL value; message is None when it was fine."""
    if isinstance(p, param.Boolean):
        return _bool(raw), None
    if isinstance(p, param.ListSelector):
        items = [x for x in raw.split(",") if x]
        bad = [x for x in items if x not in p.objects]
        good = [x for x in items if x in p.objects]
        if not good:
            raise ValueError(f"none of {raw!r} is a section")
        return good, (f"ignored unknown section(s) {', '.join(bad)}" if bad else None)
    if isinstance(p, param.Selector):
        if raw not in p.objects:
            raise ValueError(f"{raw!r} is not one of {', '.join(map(str, p.objects))}")
        return raw, None
    if isinstance(p, param.Integer | param.Number):
        x = float(raw)
        if not math.isfinite(x):
            raise ValueError(f"{raw!r} is not a finite number")
        lo, hi = p.bounds
        clamped = min(max(x, lo), hi)
        value = int(round(clamped)) if isinstance(p, param.Integer) else clamped
        msg = None if clamped == x else f"{raw} is outside {lo}..{hi}; used {value}"
        return value, msg
    if isinstance(p, param.String):
        text = " ".join(raw.split())
        if len(text) > MAX_TEXT:
            return text[:MAX_TEXT], f"shortened to {MAX_TEXT} characters"
        return text, None
    raise TypeError(f"no URL form for {type(p).__name__}")  # a developer error


def from_query(query: str) -> tuple[dict[str, object], list[str]]:
    """Parse a query string into AppState values and human-readable warnings."""
    values: dict[str, object] = {}
    warnings: list[str] = []
    keys = state_keys()
    for key, raw in parse_qsl(query.lstrip("?"), keep_blank_values=True):
        if key not in keys:
            warnings.append(f"Unknown link setting '{key[:30]}' was ignored.")
            continue
        try:
            value, msg = _parse_one(AppState.param[key], raw[: 4 * MAX_TEXT])
        except (ValueError, OverflowError) as exc:
            warnings.append(_short(f"Link setting '{key}': {exc}; kept the default."))
            continue
        values[key] = value
        if msg:
            warnings.append(_short(f"Link setting '{key}': {msg}."))
    return values, warnings


def _short(text: str, limit: int = 160) -> str:
    """Messages quote what the reader's link said; a hostile link stays one line."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        # 12 significant digits: exact for slider values (0.1 steps stay 0.1,
        # not 0.30000000000000004) and within 1e-11 of anything else.
        return repr(float(f"{value:.12g}"))
    return str(value)


def to_query(state: AppState) -> str:
    """The query string for `state`, listing only what differs from the default."""
    changed = []
    for key in state_keys():
        value, default = getattr(state, key), AppState.param[key].default
        if value != default:
            changed.append((key, _format(value)))
    return "?" + urlencode(changed) if changed else ""


def state_keys() -> list[str]:
    """The URL keys, in declaration order (param's own `name` is not state)."""
    return [k for k in AppState.param if k != "name"]
