"""Section 2, inside one neuron: its row (the question), its bias (the
threshold), its column (what it writes), and the plane of "how much Michael"
× "how much Jordan" where it fires.

Every plot is a ColumnDataSource built once; a slider change computes one
small batch through the MLP and replaces the sources' data.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, LabelSet
from bokeh.palettes import Oranges256
from bokeh.transform import dodge

import toycore as tc
from app.common import (
    ACCENT,
    FIRE,
    MODEL_KEYS,
    QUIET,
    WRAP,
    LiveText,
    Section,
    bokeh,
    esc,
    fig,
    legend_style,
    model_for,
    neuron_fact,
    num,
    other_first,
    other_last,
    page_bg,
    rgba_image,
    rgba_lut,
    side_by_side,
    slider,
    strong,
    text_color,
    update,
)
from app.state import AppState

# The name-by-name chart's legend: the pre-activation, then the activation
# coloured by whether the neuron fires.
BEFORE = "before"
AFTER = {True: "after: fires", False: "after: silent"}

# The plane is drawn for coefficients lo..hi along each axis.
LO, HI, GRID = -0.5, 2.0, 126
ACT_X = np.linspace(-3.25, 3.25, 261)  # the activation-function curve, edge to edge
DEFAULTS = {"row_first": 1.0, "row_last": 1.0, "row_other": 0.0, "bias": -1.0,
            "col_own": 1.0, "col_alt": 0.0}
PALETTE = list(reversed(Oranges256))
PALETTE_RGBA = rgba_lut(PALETTE)
EDGE = "#1d4ed8"  # the decision boundary: deep blue, visible on white and on brown


def probes(model: tc.ToyModel, fact: tc.Fact) -> list[tuple[str, str]]:
    """(first, last) pairs to place on the plane: the fact, its two half
    matches, and an unrelated name."""
    unrelated = next(f for f in model.facts if f.first != fact.first and f.last != fact.last)
    return [
        (fact.first, fact.last),
        (fact.first, other_last(model, fact)),
        (other_first(model, fact), fact.last),
        (unrelated.first, unrelated.last),
    ]


def probe_inputs(model: tc.ToyModel, pairs: list[tuple[str, str]]) -> np.ndarray:
    """The vector the MLP sees at the last name, one row per pair: exactly
    what toycore's forward pass builds (last + attn_strength * first)."""
    e, a = model.embedding, model.cfg.attn_strength
    return np.array([e.vec(last) + a * e.vec(first) for first, last in pairs])


def plane_coords(model: tc.ToyModel, fact: tc.Fact, X: np.ndarray) -> np.ndarray:
    """Coefficients (x, y) of each row's projection on span(first, last)."""
    B = np.stack([model.embedding.vec(fact.first), model.embedding.vec(fact.last)], axis=1)
    coef, *_ = np.linalg.lstsq(B, X.T, rcond=None)
    return coef.T


class NeuronSection(Section):
    """Widgets and figures for section 2."""

    key = "neuron"
    depends_on = MODEL_KEYS

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        model = model_for(state)
        n_facts = len(model.facts)
        note = ""
        if not 0 <= state.neuron < n_facts:
            note = (f"Neuron {state.neuron} stores no fact; showing neuron 0 "
                     f"(neurons 0–{n_facts - 1} each store one).")
            state.neuron = 0
            model = model_for(state)
        options = {f"{j}: {f.name} → {f.sport}": j for j, f in enumerate(model.facts)}
        wide = state.presenter  # projector-size text needs wider menus
        self.neuron_select = pn.widgets.Select(label="Neuron", options=options,
                                               value=state.neuron, width=440 if wide else 320)
        # A step only redraws: the page may work out the next ones ahead.
        self.row_first = slider(state, "row_first", "Row: weight on first name",
                                foreseen=True)
        self.row_last = slider(state, "row_last", "Row: weight on last name", foreseen=True)
        self.row_other = slider(state, "row_other", "Row: weight on another last name",
                                foreseen=True)
        self.bias = slider(state, "bias", "Bias (threshold)", foreseen=True)
        self.col_own = slider(state, "col_own", "Column: weight on its sport", foreseen=True)
        self.alt_sport = pn.widgets.Select(label="Second sport", options=list(
            AppState.param.alt_sport.objects), value=state.alt_sport,
            width=280 if wide else 200)
        self.col_alt = slider(state, "col_alt", "Column: weight on the second sport",
                              foreseen=True)
        self.activation = pn.widgets.RadioButtonGroup(
            label="Nonlinearity", options={"ReLU": "relu", "GELU": "gelu",
                                          "GELU (tanh)": "gelu_tanh"},
            value=state.activation, color="default")
        self.reset = pn.widgets.Button(label="Reset this neuron", color="light")

        # -- sources (filled by _refresh) --
        # The plane's activations (tests and the console read them here) and
        # their colours, which is what the page is sent (common.rgba_image).
        self.plane_values = np.zeros((GRID, GRID))
        self.plane = ColumnDataSource({"image": [np.zeros((GRID, GRID), dtype=np.uint32)]})
        self.edge = ColumnDataSource({"x": [], "y": []})
        self.points = ColumnDataSource({k: [] for k in (
            "name", "x", "y", "pre", "post", "color", "label")})
        self.curve = ColumnDataSource({"x": list(ACT_X), "y": list(ACT_X)})
        self.bars = ColumnDataSource({k: [] for k in ("name", "pre", "post", "color", "kind")})
        self.writes = ColumnDataSource({"sport": list(model.sports),
                                        "value": [0.0] * len(model.sports)})
        self.prose = LiveText(state, "wfl-neuron-table", visible=state.prose)
        self.gelu = LiveText(state, "wfl-neuron-gelu", visible=state.prose)
        self._labels: tuple = ()  # what the slider labels currently name
        self._curve_of = ""  # the activation the curve was drawn for
        self._build_figures(model)
        self._refresh()
        self.say(note)

        w = self.guard
        self.neuron_select.param.watch(w(self._on_neuron), "value")
        for name in DEFAULTS:
            getattr(self, name).param.watch(w(self._on_slider), "value")
        self.alt_sport.param.watch(w(lambda e: setattr(state, "alt_sport", e.new)), "value")
        self.activation.param.watch(w(lambda e: setattr(state, "activation", e.new)), "value")
        self.reset.on_click(w(self._on_reset))
        self.watch_refresh()
        state.param.watch(w(self._sync_widgets), [
            "neuron", *DEFAULTS, "alt_sport", "activation"])

    # -- figures -------------------------------------------------------------------
    def _build_figures(self, model: tc.ToyModel) -> None:
        s = self.state
        p = fig(s, height=430, x_range=(LO, HI), y_range=(LO, HI), match_aspect=True,
                title="Where the neuron fires",
                x_axis_label="amount of first name in the vector",
                y_axis_label="amount of last name in the vector")
        p.image_rgba(image="image", x=LO, y=LO, dw=HI - LO, dh=HI - LO, source=self.plane)
        # The heatmap runs from white to dark brown in both themes, so what is
        # drawn on it must read on both ends: a deep blue edge, and labels on
        # a box in the page's colours.
        p.line("x", "y", source=self.edge, line_width=4 if s.presenter else 3,
               line_dash="dashed", color=EDGE, legend_label="row · x + bias = 0")
        p.scatter("x", "y", source=self.points, size=16 if s.presenter else 12,
                  color="color", line_color=text_color(s), line_width=1.5)
        p.add_layout(LabelSet(x="x", y="y", text="label", source=self.points,
                              text_align="center", text_baseline="bottom",
                              y_offset=10 if s.presenter else 8, text_color=text_color(s),
                              background_fill_color=page_bg(s), background_fill_alpha=0.8,
                              text_font_size="15pt" if s.presenter else "10pt"))
        p.legend.location = "top_right"  # clear of the probe points and of the edge's ends
        legend_style(p, s)
        self.plane_fig = p

        # A little room past ±3 so the end ticks' labels are not cut in half.
        a = fig(s, height=260, x_range=(-3.25, 3.25), title="The nonlinearity",
                x_axis_label="row · x + bias", y_axis_label="activation")
        a.line("x", "y", source=self.curve, line_width=3, color=ACCENT)
        a.scatter("pre", "post", source=self.points, size=12, color="color",
                  line_color=text_color(s))
        self.act_fig = a

        # Before and after side by side, not overlaid: a translucent "after"
        # over the "before" mixed into a third colour no legend explained.
        b = fig(s, height=300, y_range=FactorRange(factors=[]), x_range=(-3.2, 5.2),
                title="This neuron, name by name",
                x_axis_label="row · input + bias,\nthen the activation")
        b.hbar(y=dodge("name", 0.2, range=b.y_range), right="pre", height=0.38, color=ACCENT,
               source=self.bars, legend_label=BEFORE)
        b.hbar(y=dodge("name", -0.2, range=b.y_range), right="post", height=0.38, color="color",
               source=self.bars, legend_field="kind")
        b.ygrid.grid_line_color = None
        # Below the bars: inside, it hid some; beside them, it took the
        # width, and the nonlinearity above (whose frame Bokeh aligns with
        # this one's) shrank to half a phone's width.
        b.add_layout(b.legend[0], "below")
        b.legend.orientation = "horizontal"
        b.legend.location = "center"
        legend_style(b, s)
        self.bar_fig = b

        c = fig(s, height=260, x_range=FactorRange(*model.sports), y_range=(-2.2, 4.2),
                title="What it writes, along each sport",
                y_axis_label="dot with the sport")
        c.vbar(x="sport", top="value", width=0.8, color=FIRE, source=self.writes)
        c.xaxis.major_label_orientation = 0.9
        self.write_fig = c

    # -- callbacks ----------------------------------------------------------------------
    def _on_neuron(self, event) -> None:
        # A new neuron starts from its compiled weights: the state holds one
        # neuron's edits, so switching drops the previous one's.
        self.state.param.update(neuron=int(event.new), **DEFAULTS)

    def _on_slider(self, event) -> None:
        name = next(k for k in DEFAULTS if getattr(self, k) is event.obj)
        setattr(self.state, name, float(event.new))

    def _on_reset(self, _event) -> None:
        self.state.param.update(**DEFAULTS)

    def _sync_widgets(self, *events) -> None:
        """State changed elsewhere (reset, URL): move the widgets to match.
        Only the widgets of the state values that changed, and only if they
        disagree (the usual case is a change that came from that widget)."""
        widgets = {"neuron": self.neuron_select, "alt_sport": self.alt_sport,
                   "activation": self.activation}
        for event in events:
            widget = widgets.get(event.name) or getattr(self, event.name)
            if widget.value != event.new:
                widget.value = event.new

    def _refresh(self, *_events) -> None:
        s = self.state
        model = model_for(s)
        j = s.neuron
        fact = neuron_fact(model, j)
        row, b = model.mlp.W_up[j], float(model.mlp.b_up[j])
        col = model.mlp.W_down[:, j]
        e = model.embedding
        act = tc.model.ACTIVATION_FNS[model.cfg.activation]
        half_last = other_last(model, fact)
        labels = (fact.first, fact.last, half_last, fact.sport, s.alt_sport)
        if labels != self._labels:  # only when the neuron or the second sport changed
            self._labels = labels
            self.row_first.label = f"Row: weight on {fact.first}"
            self.row_last.label = f"Row: weight on {fact.last}"
            self.row_other.label = f"Row: weight on {half_last}"
            self.col_own.label = f"Column: weight on {fact.sport}"
            self.col_alt.label = f"Column: weight on {s.alt_sport}"

        # The plane: input = x·first + y·last, so pre = x (row·first) + y (row·last) + b.
        rf, rl = float(row @ e.vec(fact.first)), float(row @ e.vec(fact.last))
        g = np.linspace(LO, HI, GRID)
        pre_grid = rf * g[None, :] + rl * g[:, None] + b
        img = act(pre_grid)
        self.plane_values = img
        # Colour scale from 0 (or below, for GELU's dip) to 1 or the top value.
        low, high = min(0.0, float(img.min())), max(1.0, float(img.max()))
        self.plane.data = {"image": [rgba_image(img, PALETTE_RGBA, low, high)]}
        update(self.edge, boundary(rf, rl, b))

        pairs = probes(model, fact)
        X = probe_inputs(model, pairs)
        pre, post, _ = tc.mlp_forward(X, model.mlp, model.cfg.activation)
        pre_j, post_j = pre[:, j], post[:, j]
        xy = plane_coords(model, fact, X)
        names = [f"{a} {z}" for a, z in pairs]
        fires = model.cfg.fires(post_j)
        colors = [FIRE if f else QUIET for f in fires]
        update(self.points, {
            "name": names, "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(),
            "pre": pre_j.tolist(), "post": post_j.tolist(), "color": colors,
            # Two lines, centred above the point: on a phone the plane is
            # some 260 px wide, and "Michael Jordan: 1.00" beside the point
            # ran into the next point's label and past the right edge.
            "label": [f"{n}\n{num(v)}" for n, v in zip(names, post_j, strict=True)],
        })
        if model.cfg.activation != self._curve_of:  # the curve depends on nothing else
            self._curve_of = model.cfg.activation
            self.curve.data = {"x": list(ACT_X), "y": act(ACT_X).tolist()}
        factors = list(reversed(names))
        if factors != self.bar_fig.y_range.factors:
            self.bar_fig.y_range.factors = factors
        update(self.bars, {"name": names, "pre": pre_j.tolist(), "post": post_j.tolist(),
                           "color": colors, "kind": [AFTER[bool(f)] for f in fires]})
        sports = model.sports
        update(self.writes, {"sport": list(sports),
                             "value": (post_j[0] * (e.matrix(sports) @ col)).tolist()})
        self.prose.html = self._prose(model, fact, pre_j, post_j, names)
        self.gelu.html = gelu_note(model)
        self.say()

    def _prose(self, model: tc.ToyModel, fact: tc.Fact, pre: np.ndarray, post: np.ndarray,
               names: list[str]) -> str:
        s = self.state
        b = float(model.mlp.b_up[s.neuron])
        act = {"relu": "ReLU", "gelu": "GELU", "gelu_tanh": "GELU"}[model.cfg.activation]
        head = ("<tr><th>name</th><th class='n'>row · x</th><th class='n'>+ bias</th>"
                f"<th class='n'>after {act}</th></tr>")
        rows = "".join(
            f"<tr><td>{esc(n)}</td><td class='n'>{num(p - b)}</td><td class='n'>{num(p)}</td>"
            f"<td class='n'>{strong(num(q))}</td></tr>"
            for n, p, q in zip(names, pre, post, strict=True))
        edge = -float(pre[1] - b)  # the bias at which the half match reaches 0
        top_bias = AppState.param.bias.bounds[1]
        if b > edge + tc.NOISE:
            gate = (f"The bias is above {num(edge)}, so the half match {esc(names[1])} gets a "
                    "positive activation too.")
        elif edge < top_bias - tc.NOISE:
            gate = (f"Drag the bias above {num(edge)} and the half match {esc(names[1])} gets "
                    "a positive activation too.")
        else:
            gate = (f"The half match {esc(names[1])} would need a bias above {num(edge)}, past "
                    "the slider's end.")
        return (
            f"<p>Neuron {s.neuron}'s row asks <em>is this {esc(fact.first)} and "
            f"{esc(fact.last)}?</em> Its dot product with the vector at the last name, plus "
            f"its bias {num(b)}, goes through {act}; it adds its column times its activation, "
            f"and the column {column_reads(model, s.neuron)}. {gate}</p>"
            f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"
        )

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "Each MLP neuron asks one question: the dot product of its **row** with the "
            "vector at the last name. The **bias** sets the threshold, the nonlinearity "
            "keeps only what is above it, and the neuron's **column** is what gets added "
            "to the vector when it fires. Row = first name + last name with bias −1 is "
            "an AND gate."
        )
        controls = [
            # Wraps in a narrow embed (the reset button was cut off at 700 px).
            pn.Row(self.neuron_select, self.activation, self.reset, styles=WRAP),
            side_by_side(pn.Column(self.row_first, self.row_last, self.row_other, self.bias,
                                   sizing_mode="stretch_width"),
                         pn.Column(self.col_own, self.alt_sport, self.col_alt,
                                   sizing_mode="stretch_width"), basis=240),
        ]
        figures = [
            side_by_side(bokeh(self.plane_fig), pn.Column(bokeh(self.act_fig), bokeh(self.bar_fig),
                                                          sizing_mode="stretch_width")),
            self.gelu,
            side_by_side(bokeh(self.write_fig), self.prose),
        ]
        return self.layout(prose, controls, figures)


def boundary(rf: float, rl: float, b: float) -> dict[str, list[float]]:
    """The line rf·x + rl·y + b = 0 clipped to the drawn square (empty when
    the row has no component in the plane)."""
    pts = []
    if abs(rl) > 1e-12:
        for x in (LO, HI):
            y = -(b + rf * x) / rl
            if LO <= y <= HI:
                pts.append((x, y))
    if abs(rf) > 1e-12:
        for y in (LO, HI):
            x = -(b + rl * y) / rf
            if LO <= x <= HI:
                pts.append((x, y))
    pts = sorted(set(pts))
    if len(pts) < 2:
        return {"x": [], "y": []}
    return {"x": [pts[0][0], pts[-1][0]], "y": [pts[0][1], pts[-1][1]]}


def column_reads(model: tc.ToyModel, j: int) -> str:
    """What neuron j's column reads along each sport, as HTML: every sport
    with a dot product of at least 0.005 either way, largest first."""
    dots = model.embedding.matrix(model.sports) @ model.mlp.W_down[:, j]
    shown = sorted(((float(v), sport) for sport, v in zip(model.sports, dots, strict=True)
                    if abs(v) >= 0.005), key=lambda p: -abs(p[0]))
    if not shown:
        return "reads nothing along any sport"
    parts = [f"{num(v)} along {strong(sport)}" for v, sport in shown[:3]]
    more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
    return f"reads {', '.join(parts[:-1]) + ' and ' if len(parts) > 1 else ''}{parts[-1]}{more}"


GELU_NAMES = {"gelu": "GELU", "gelu_tanh": "GELU (tanh)"}


def gelu_note(model: tc.ToyModel) -> str:
    """What GELU does to a firing neuron, a half match and a silent one, and
    which facts it costs the model, with the numbers for one of them."""
    act = model.cfg.activation
    name = GELU_NAMES.get(act, "GELU")
    g = tc.model.ACTIVATION_FNS[act if act in GELU_NAMES else "gelu"]
    g1, g0, gm1 = (float(g(np.array([x]))[0]) for x in (1.0, 0.0, -1.0))
    if act == "relu":
        return (
            "<p>ReLU keeps what is above 0 and zeroes the rest: a neuron at 1 gives 1, a half "
            "match at 0 gives 0 and a silent neuron at −1 gives 0. GELU, the smooth version "
            f"GPT-2 and GPT-3 use, gives {num(g1)}, {num(g0)} and {num(gm1)} for the same "
            "three: a silent neuron is not quite silent.</p>")
    text = (
        f"<p>{name} gives {num(g1)} for a neuron at 1 (ReLU: 1), {num(g0)} for a half match "
        f"at 0 and {num(gm1)} for a silent neuron at −1 (ReLU: 0). So every silent neuron "
        "still adds a little of its column, negatively: a fact whose sport many other "
        "neurons also write loses some of it.")
    runs = model.fact_runs
    lost = [(i, f) for i, (f, r) in enumerate(zip(model.facts, runs, strict=True))
            if r.answer != f.sport]
    if not lost:
        return text + f" With {name} this model still recalls all {len(runs)} facts.</p>"
    i, fact = lost[0]
    k = model.sports.index(fact.sport)
    contrib = runs[i].cache["mlp.hook_post"][-1] * (model.embedding.vec(fact.sport)
                                                     @ model.mlp.W_down)
    own = i if i < model.cfg.d_mlp else int(np.argmax(contrib))
    writers = [j for j in range(model.cfg.d_mlp) if j != own
               and abs(float(model.embedding.vec(fact.sport) @ model.mlp.W_down[:, j])) >= 0.005]
    rest = float(sum(contrib[j] for j in writers))
    names = ", ".join(f.name for _, f in lost[:4]) + (" and more" if len(lost) > 4 else "")
    others = ("the other neuron whose column reads" if len(writers) == 1 else
              f"the other {len(writers)} neurons whose columns read")
    scores = runs[i].cache["mlp_final_sports"]
    total = float(scores[k])
    if not model.cfg.answers(total):
        verdict = f"under the {num(model.cfg.answer_threshold)} it needs"
    else:
        b = int(np.argmax(scores))
        verdict = f"but it writes {esc(model.sports[b])} more ({num(float(scores[b]), 3)})"
    # Three digits: the parts must visibly add up to the total.
    return text + (
        f" With {name} the model no longer recalls {len(lost)} of its {len(runs)} facts "
        f"({esc(names)}). {esc(fact.name)}'s read-out along {esc(fact.sport)} is "
        f"{num(float(contrib[own]), 3)} from neuron {own}, plus {num(rest, 3)} from {others} "
        f"{esc(fact.sport)}: {strong(num(total, 3))} in all, {verdict}.</p>")
