"""Section 8, counting parameters: type a model's shape (or pick GPT-3) and
see where its parameters sit; the MLP share is what the facts live in.

Every count comes from toycore.params.count (exact integers); this module
only parses the reader's text and draws.
"""

from __future__ import annotations

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, NumeralTickFormatter

from app.common import (
    FIRE,
    QUIET,
    WRAP,
    LiveText,
    Section,
    bokeh,
    fig,
    num,
    prose_css,
    strong,
    text_color,
)
from app.state import AppState
from toycore.params import PRESETS, ModelShape, count, lesson_formula

# text box -> (state key, ModelShape field)
FIELDS = {
    "d_model": ("p_d_model", "Residual width d_model"),
    "d_mlp": ("p_d_mlp", "MLP neurons per layer"),
    "n_layers": ("p_layers", "Layers"),
    "vocab": ("p_vocab", "Vocabulary size"),
    "n_heads": ("p_heads", "Attention heads"),
    "n_ctx": ("p_ctx", "Learned positions (0 = none)"),
}
FLAGS = {"biases": ("p_biases", "Count biases"), "layer_norms": ("p_ln", "Count layer norms"),
         "tied_embeddings": ("p_tied", "Unembedding tied to the embedding"),
         "attention_weights": ("p_attn", "Attention has weights")}
PRESET_LABELS = {"Toy (this page)": "toy", "GPT-2 small": "gpt2-small",
                 "GPT-3 175B": "gpt3-175b", "Custom": "custom"}


def parse_int(text: str) -> int:
    """Digits with optional thousands separators ("12,288", "12 288", "12_288")."""
    cleaned = "".join(ch for ch in str(text).strip() if ch not in ", _'")
    if not cleaned:
        raise ValueError("type a whole number")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise ValueError(f"{str(text)[:20]!r} is not a whole number")
    return int(cleaned)


def shape_from_state(state: AppState) -> ModelShape:
    """The ModelShape the state describes (raises ValueError if it is not one)."""
    values = {f: getattr(state, key) for f, (key, _) in FIELDS.items()}
    flags = {f: getattr(state, key) for f, (key, _) in FLAGS.items()}
    return ModelShape(**values, **flags)


def preset_values(name: str) -> dict[str, object]:
    """State values for one of toycore's presets."""
    shape = PRESETS[name]
    out: dict[str, object] = {key: getattr(shape, f) for f, (key, _) in FIELDS.items()}
    out.update({key: getattr(shape, f) for f, (key, _) in FLAGS.items()})
    return out


def gpt3_summary() -> str:
    """The lesson's GPT-3 arithmetic, every number from toycore.params."""
    g = PRESETS["gpt3-175b"]
    nb = count(g)
    wb = count(g.replace(biases=True))
    total = lesson_formula(g.d_model, g.n_layers, g.vocab)
    return (
        f"**GPT-3, counted live:** W_up is {g.d_mlp:,} × {g.d_model:,} = "
        f"{nb.mlp_w_up:,}; W_down the same. One MLP block with biases: "
        f"{wb.mlp_per_layer:,}. All {g.n_layers} MLP blocks: {wb.mlp:,} with biases, "
        f"{nb.mlp:,} without. The whole model, "
        f"{g.n_layers} × (4d² + 8d²) + 2 × {g.vocab:,} × d = **{total:,}**, so the MLPs "
        f"hold **{num(100 * nb.mlp / total, 1)}%** of it."
    )


def short_count(n: int) -> str:
    """A count as a bar's label, in the axis's units past ten thousand
    ("116.0b"): the exact "115,964,116,992" ran off a phone's screen, and
    the sentence above the chart gives every count exactly."""
    for size, unit in ((10**9, "b"), (10**6, "m"), (10**3, "k")):
        if n >= 10_000 and n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:,}"


class ParamsSection(Section):
    """Shape boxes, presets, a breakdown chart and the GPT-3 sums."""

    key = "params"
    depends_on = (*(k for k, _ in FIELDS.values()), *(k for k, _ in FLAGS.values()))

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        self.preset = pn.widgets.RadioButtonGroup(label="Preset", options=PRESET_LABELS,
                                                  value=state.p_preset)
        self.inputs = {
            # 170 px in both modes, set in CSS rather than as Panel widths:
            # Panel adds its children's widths up into each enclosing
            # layout's minimum, so six boxes made the whole page at least
            # 1020 px wide (sideways scrolling on a 1024 px projector or in
            # a blog's iframe). Aligned at the end, the boxes line up when a
            # long label wraps.
            f: pn.widgets.TextInput(label=label, value=f"{getattr(state, key):,}",
                                    width=None, styles={"width": "170px", "flex": "0 0 170px"},
                                    align="end")
            for f, (key, label) in FIELDS.items()}
        self.flags = {f: pn.widgets.Checkbox(label=label, value=getattr(state, key))
                      for f, (key, label) in FLAGS.items()}
        self.total = LiveText(state, "wfl-params-total")
        self.gpt3 = pn.pane.Markdown(gpt3_summary(), sizing_mode="stretch_width",
                                     css_classes=["wfl-params-gpt3"],
                                     stylesheets=prose_css(state))
        self.rows = ColumnDataSource({"part": [], "count": [], "label": [], "color": []})
        parts = [label for label, _ in count(PRESETS["toy"]).rows()]
        f = fig(state, height=320, y_range=FactorRange(*reversed(parts)), x_range=(0, 1),
                title="Where the parameters are", x_axis_label="parameters")
        f.hbar(y="part", right="count", height=0.75, color="color", source=self.rows)
        f.text(x="count", y="part", text="label", source=self.rows, x_offset=6,
               text_baseline="middle", text_color=text_color(state),
               text_font_size="14pt" if state.presenter else "9pt")
        f.xaxis.formatter = NumeralTickFormatter(format="0.[0]a")
        f.xaxis.ticker.desired_num_ticks = 4  # eight ran together on a phone
        f.ygrid.grid_line_color = None
        self.fig = f

        w = self.guard
        self.preset.param.watch(w(self._on_preset), "value")
        for field, box in self.inputs.items():
            box.param.watch(w(lambda e, fl=field: self._on_text(fl, e.new)), "value")
        for field, box in self.flags.items():
            box.param.watch(w(lambda e, fl=field: self._on_flag(fl, e.new)), "value")
        self.watch_refresh()
        state.param.watch(w(self._sync), [*self.depends_on, "p_preset"])
        self._refresh()

    def _on_preset(self, event) -> None:
        if event.new != "custom":
            self.state.param.update(p_preset=event.new, **preset_values(event.new))
        else:
            self.state.p_preset = "custom"

    def _on_text(self, field: str, text: str) -> None:
        key = FIELDS[field][0]
        try:
            value = parse_int(text)
            lo, hi = AppState.param[key].bounds
            if not lo <= value <= hi:
                raise ValueError(f"must be between {lo:,} and {hi:,}")
        except ValueError as err:
            self.say(f"{FIELDS[field][1]}: {err}. Kept {getattr(self.state, key):,}.")
            return
        if value != getattr(self.state, key):
            self.state.param.update(**{key: value, "p_preset": "custom"})
        else:
            self._refresh()  # re-check the whole shape: clears or restates the message

    def _on_flag(self, field: str, value: bool) -> None:
        key = FLAGS[field][0]
        if value != getattr(self.state, key):
            self.state.param.update(**{key: bool(value), "p_preset": "custom"})

    def _sync(self, *_events) -> None:
        s = self.state
        self.preset.value = s.p_preset
        for field, (key, _) in FIELDS.items():
            box = self.inputs[field]
            if _safe_int(box.value) != getattr(s, key):
                box.value = f"{getattr(s, key):,}"
        for field, (key, _) in FLAGS.items():
            self.flags[field].value = getattr(s, key)

    def _refresh(self, *_events) -> None:
        try:
            b = count(shape_from_state(self.state))
        except ValueError as err:
            self.say(f"That shape does not work: {err}.")
            return
        self.say()
        rows = b.rows()
        self.rows.data = {
            "part": [label for label, _ in rows],
            "count": [c for _, c in rows],
            "label": [short_count(c) for _, c in rows],
            "color": [FIRE if label.startswith("MLP") else QUIET for label, _ in rows],
        }
        self.fig.x_range.end = max(c for _, c in rows) * 1.35 or 1
        self.total.html = (
            f"<p>Total: {strong(f'{b.total:,}')} parameters. MLP blocks: "
            f"{strong(f'{b.mlp:,}')} ({num(100 * b.mlp_share, 1)}%), {b.mlp_per_layer:,} per "
            f"layer. Attention: {b.attention:,} ({num(100 * b.attention_share, 1)}%).</p>"
        )

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "A model's size follows from its shape. Each layer's MLP has an up-projection "
            "(neurons × width) and a down-projection (width × neurons); attention has four "
            "width × width matrices. In GPT-3 the MLPs are about two thirds of everything. "
            "The toy preset counts this page's own model: its two attention steps are fixed "
            "rules with no weights, and it reads its answer along the directions it embeds "
            "with."
        )
        # The boxes wrap onto as many lines as the width needs (six at 170 px
        # do not fit one line of the page's ~1000 px column, nor a phone).
        # A Row whose flex container wraps: pn.FlexBox would do the same but
        # is ReactiveHTML, which the page's CSP (no eval) cannot render.
        controls = [self.preset,
                    pn.Row(*self.inputs.values(), styles=WRAP, sizing_mode="stretch_width"),
                    pn.Row(*self.flags.values(), styles=WRAP, sizing_mode="stretch_width")]
        return self.layout(prose, controls, [self.total, bokeh(self.fig), self.gpt3])


def _safe_int(text: str) -> int | None:
    try:
        return parse_int(text)
    except ValueError:
        return None
