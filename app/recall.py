"""Section 1, recall a fact: type a name or a prompt, see which neurons fire
and the answer.

Figures are built once; every change replaces their ColumnDataSource data
and nothing else, so a keystroke costs one forward pass and one small patch.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, LinearColorMapper, Range1d, Span

import toycore as tc
from app.common import (
    FIRE,
    MODEL_KEYS,
    QUIET,
    LiveText,
    Section,
    bokeh,
    esc,
    fig,
    model_for,
    num,
    side_by_side,
    strong,
    text_color,
    typed_text,
    update,
)
from app.state import AppState

READ_PALETTE = ("#1d4ed8", "#60a5fa", "#f1f5f9", "#fdba74", "#c2410c")
# Pixels per neuron row in the neuron chart (before fig()'s presenter x1.25):
# the rows must be taller than the tick labels (10pt, 15pt in presenter).
ROW_PX = {False: 16, True: 22}
# The read-out heatmap: a row per (position, stage), and room for the title
# and the slanted sport names under it.
READ_ROW_PX = {False: 26, True: 40}
READ_AXIS_PX = {False: 150, True: 200}


def neuron_data(model: tc.ToyModel, run: tc.Run) -> dict[str, list]:
    """One bar per neuron: its activation where the name ends (`run.subject`),
    orange when it fires (at least the model's fire threshold)."""
    labels = model.neuron_labels()
    if run.ok:
        post = run.cache["mlp.hook_post"][run.subject]
    else:
        post = np.zeros(len(labels))
    ids = [f"{j}: {lab}" for j, lab in enumerate(labels)]
    return {
        "neuron": ids,
        "activation": [float(v) for v in post],
        "color": [FIRE if f else QUIET for f in model.cfg.fires(post)],
    }


def sport_data(model: tc.ToyModel, run: tc.Run) -> dict[str, list]:
    n = len(model.sports)
    probs = run.cache["sport_probs"] if run.ok else np.full(n, 1 / n)
    return {"sport": list(model.sports), "prob": [float(p) for p in probs]}


def readout_names(model: tc.ToyModel, run: tc.Run) -> list[str]:
    """Columns of the read-out heatmap: the typed words that are names, then every sport."""
    words = [t for t, u in zip(run.tokens, run.unknown, strict=True) if not u] if run.ok else []
    words = [w for w in dict.fromkeys(words) if model.embedding.kind(w) != "sport"]
    return words + list(model.sports)


# The stages of a position's vector the heatmap reads; the third only where
# the second attention step brings something in (words after a name).
STAGES = ("before MLP", "after MLP", "after 2nd head")
CACHE_KEYS = ("readout_mid", "readout_post", "readout_final")


def stages_at(run: tc.Run) -> list[list[int]]:
    """For each position, which of STAGES the heatmap shows."""
    moved = run.cache["move_pattern"].any(axis=1)
    return [[0, 1, 2] if m else [0, 1] for m in moved]


def readout_data(model: tc.ToyModel, run: tc.Run) -> dict[str, list]:
    """One cell per (position, stage, named direction): the dot product of
    the residual vector with that direction before the MLP ("readout_mid"),
    after it ("readout_post") and, for the words after a name, after the
    second head ("readout_final"). A position's rows sit together, so the
    sport the MLP added shows as one cell lighting up between them."""
    cols = readout_names(model, run)
    out: dict[str, list] = {"row": [], "stage": [], "pos": [], "name": [], "value": [], "text": []}
    if not run.ok:
        return out
    idx = [model.embedding.index(c) for c in cols]
    reads = [run.cache[key][:, idx] for key in CACHE_KEYS]
    for i, (tok, shown) in enumerate(zip(run.tokens, stages_at(run), strict=True)):
        pos = f"{i + 1}: {tok}"
        for stage, values in ((STAGES[k], reads[k][i].tolist()) for k in shown):
            out["row"] += [(pos, stage)] * len(cols)
            out["stage"] += [stage] * len(cols)
            out["pos"] += [pos] * len(cols)
            out["name"] += cols
            out["value"] += values
            out["text"] += [num(v, 1) if abs(v) >= 0.05 else "" for v in values]
    return out


def readout_numbers(data: dict[str, list]) -> dict[str, list]:
    """The cells that show a number (|value| >= 0.05), for the heatmap's
    text glyph. Most cells are blank, and BokehJS lays out and draws a text
    for every cell it is given, blank or not, on every slider step."""
    keep = [i for i, text in enumerate(data["text"]) if text]
    return {k: [data[k][i] for i in keep] for k in ("row", "name", "text")}


def readout_height(run: tc.Run, presenter: bool) -> int:
    """Room for the axis labels plus a row per (position, stage); past 16
    rows they get thinner rather than the chart taller."""
    rows = sum(map(len, stages_at(run))) if run.ok else 2
    return READ_AXIS_PX[presenter] + min(rows, 16) * READ_ROW_PX[presenter]


def quoted(word: str) -> str:
    return f"“{esc(word)}”"


def listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def answer_text(model: tc.ToyModel, run: tc.Run) -> str:
    """The sentence under the name box, as HTML (typed words escaped). Every
    claim in it is read off the run the charts show: which neurons fire
    where the name ends (the neuron chart's orange bars), and what the MLP's
    writes that reach the last word read along each sport (the answer rule)."""
    if not run.ok:
        return f"<p>{strong(run.error)}</p>"
    who = esc(" ".join(run.tokens))
    unknown = [t for t, u in zip(run.tokens, run.unknown, strict=True) if u]
    note = f" (the toy has no direction for {esc(', '.join(unknown))})" if unknown else ""
    subject, last = run.tokens[run.subject], run.tokens[-1]
    moved = run.subject != len(run.tokens) - 1
    cfg = model.cfg
    scores = run.cache["mlp_final_sports"]
    if run.answer is not None:
        # The score is a dot product, not the softmax chart's probability: say so.
        # What reaches the last word is the MLP's write there plus what the
        # second head carried; the first is named when it counts (GELU).
        own = float(run.cache["mlp_out_sports"][-1][model.sports.index(run.answer)])
        itself = f", and {num(own)} written at {quoted(last)} itself" if abs(own) >= 0.005 else ""
        what = (f"what the MLP adds that reaches {quoted(last)} (written at {quoted(subject)} "
                f"and carried there by the second attention step{itself})" if moved
                else "what the MLP adds")
        # The rule answers the strongest sport; a rival past the threshold too is said.
        rivals = sorted(((float(v), s) for s, v in zip(model.sports, scores, strict=True)
                         if cfg.answers(v) and s != run.answer), reverse=True)
        also = (", which " + listed([f"{esc(s)} ({num(v)})" for v, s in rivals])
                + f" reach{'es' if len(rivals) == 1 else ''} too") if rivals else ""
        return (f"<p>{who}{note} → {strong(run.answer)}: {what} reads "
                f"{num(run.answer_score)} along {esc(run.answer)}; the toy needs "
                f"{num(cfg.answer_threshold)} to answer{also}.</p>")
    post = run.cache["mlp.hook_post"][run.subject]
    if run.fired:
        shown = [str(j) for j in run.fired[:4]] + (["more"] if len(run.fired) > 4 else [])
        why = (f"neuron{'s' if len(run.fired) > 1 else ''} {listed(shown)} "
               f"fire{'' if len(run.fired) > 1 else 's'} at {quoted(subject)}")
    elif post.size and post.max() > 0:
        j = int(np.argmax(post))
        why = (f"no neuron reaches the firing threshold {num(cfg.fire_threshold)} at "
               f"{quoted(subject)} (the strongest, neuron {j}, gives {num(float(post[j]))})")
    else:
        why = f"no neuron fires at {quoted(subject)}"
    reaching = f" that reaches {quoted(last)}" if moved else ""
    if moved and cfg.move_strength == 0 and run.fired:
        then = (f", but the second attention step is off, so nothing the MLP wrote there "
                f"reaches {quoted(last)}, where the answer is read")
    elif not scores.size or float(np.max(np.abs(scores))) < 0.005:
        then = f", and the MLP adds nothing{reaching} along any sport"
    elif float(np.max(scores)) < 0.005:
        then = (f"; what the MLP adds{reaching} reads nothing above 0 along any sport, and "
                f"the toy needs {num(cfg.answer_threshold)} to answer")
    else:
        best = int(np.argmax(scores))
        then = (f"; what the MLP adds{reaching} reads at most {num(float(scores[best]))} along "
                f"any sport ({esc(model.sports[best])}), under the "
                f"{num(cfg.answer_threshold)} the toy needs to answer")
    return f"<p>{who}{note}: {why}{then}. The model doesn't know.</p>"


class RecallSection(Section):
    """Widgets and figures for section 1, bound to the shared AppState."""

    key = "recall"
    depends_on = ("person", *MODEL_KEYS)

    def __init__(self, state: AppState, model: tc.ToyModel | None = None) -> None:
        super().__init__(state)
        model = model or model_for(state)
        self.model = model
        names = [f.name for f in model.facts]
        self.name_input = pn.widgets.AutocompleteInput(
            # value_input starts equal to value, so clearing the box is a change
            # Python hears (otherwise '' -> '' fires nothing).
            label="Name", value=state.person, value_input=state.person, options=names,
            restrict=False,
            case_sensitive=False, search_strategy="includes", min_characters=1,
            placeholder="Type a name, e.g. Michael Jordan", sizing_mode="stretch_width",
        )
        self.answer = LiveText(state, "wfl-answer", large=True)
        run = model.run(state.person)
        self.neurons = ColumnDataSource(neuron_data(model, run))
        self.sports = ColumnDataSource(sport_data(model, run))
        self.readout = ColumnDataSource(readout_data(model, run))
        self.readout_text = ColumnDataSource(readout_numbers(self.readout.data))
        self.answer.html = answer_text(model, run)

        ids = self.neurons.data["neuron"]
        nf = fig(
            state, y_range=FactorRange(*reversed(ids)),
            x_range=Range1d(*activation_range(self.neurons.data["activation"])),
            height=max(240, ROW_PX[state.presenter] * len(ids)),
            title="Neurons where the name ends",
            x_axis_label="activation",  # after the nonlinearity; longer ran off a 360 px phone
        )
        nf.hbar(y="neuron", right="activation", height=0.8, color="color", source=self.neurons)
        # The firing threshold: a bar past it is orange, and the sentence calls it firing.
        nf.add_layout(Span(location=model.cfg.fire_threshold, dimension="height",
                           line_color=text_color(state), line_dash="dashed", line_width=1.5))
        nf.ygrid.grid_line_color = None
        # Three ticks (0, 0.5, 1): beside the fact names on a phone the plot
        # area is about 80 px wide, and six ran together ("0.20.40.6").
        nf.xaxis.ticker.desired_num_ticks = 3
        self.neuron_fig = nf

        sf = fig(
            state, x_range=FactorRange(*self.sports.data["sport"]), height=260,
            title="Next-token guess (softmax over sports)", y_range=(0, 1),
        )
        sf.vbar(x="sport", top="prob", width=0.8, source=self.sports, color=FIRE)
        sf.xaxis.major_label_orientation = 0.8
        self.sport_fig = sf

        # Sports across, (position, before/after) down: the cells are twice
        # as wide as with both stages side by side, so the numbers fit in a
        # 700 px column and at presenter size on a 1024 px projector.
        rf = fig(
            state, x_range=FactorRange(*readout_names(model, run)),
            y_range=FactorRange(*self._y_factors(run)),
            title="Vectors read along named directions (dot product)",
        )
        rf.height = readout_height(run, state.presenter)  # presenter sizes are in the table
        self.read_mapper = LinearColorMapper(palette=READ_PALETTE, low=-2.5, high=2.5)
        rf.rect(x="name", y="row", width=1, height=1, source=self.readout,
                fill_color={"field": "value", "transform": self.read_mapper},
                line_color=text_color(state), line_alpha=0.15)
        numbers = rf.text(x="name", y="row", text="text", source=self.readout_text,
                          text_align="center", text_baseline="middle", text_color="#0f172a",
                          text_font_size="14pt" if state.presenter else "9pt")
        # Left out while cells are too narrow (page/bokeh_tuning.js, fitCellText).
        numbers.glyph.tags = ["wfl-fit-cells"]
        rf.xaxis.major_label_orientation = 0.9
        rf.yaxis.group_label_orientation = "horizontal"
        rf.grid.grid_line_color = None
        self.readout_fig = rf

        w = self.guard
        self.name_input.param.watch(w(self._on_name), ["value", "value_input"])
        self.watch_refresh()

    @staticmethod
    def _y_factors(run: tc.Run) -> list:
        """(position, stage) pairs, the first position at the top. With no
        tokens, one empty position: the factors keep two levels, as BokehJS
        cannot map the cells of one level against the other in between."""
        if not run.ok:
            return [("—", stage) for stage in STAGES[:2]][::-1]
        return [(f"{i + 1}: {t}", STAGES[k])
                for i, (t, shown) in enumerate(zip(run.tokens, stages_at(run), strict=True))
                for k in shown][::-1]

    def _on_name(self, *events) -> None:
        self.state.person = typed_text(*events)[:200]

    def _refresh(self, *_events) -> None:
        model = model_for(self.state)
        self.model = model
        run = model.run(self.state.person)
        # The labels run every fact through the model; toycore keeps them
        # per model, so a keystroke in the name box does not redo them.
        neurons = neuron_data(model, run)
        # A neuron's label follows its weights ("Michael Jordan / Michael
        # Phelps → basketball" once the bias lets the half match through), and
        # the bars sit on the labels, so the axis follows too.
        _set_factors(self.neuron_fig.y_range, list(reversed(neurons["neuron"])))
        update(self.neurons, neurons)
        # Python sets the axis with the bars: an auto range would be computed
        # in the browser and sent back, one more message per step.
        lo, hi = activation_range(neurons["activation"])
        self.neuron_fig.x_range.update(start=lo, end=hi)
        update(self.sports, sport_data(self.model, run))
        _set_factors(self.readout_fig.x_range, readout_names(self.model, run))
        _set_factors(self.readout_fig.y_range, self._y_factors(run))
        height = readout_height(run, self.state.presenter)
        if self.readout_fig.height != height:
            self.readout_fig.height = height
        readout = readout_data(self.model, run)
        update(self.readout, readout)
        update(self.readout_text, readout_numbers(readout))
        self.answer.html = answer_text(model, run)
        self.say()

    def panel(self) -> pn.viewable.Viewable:
        fire = num(self.model.cfg.fire_threshold)
        prose = (
            "Type a name, or a prompt such as “Michael Jordan plays the sport of”. An "
            "attention step moves the first name into the last name's position, and the MLP "
            "there checks every stored fact at once. Each neuron is built as an AND gate for "
            "one fact: it fires (orange, past the dashed line at "
            f"{fire}) when both halves of its name are present, and what it writes points at "
            "a sport. A second attention step carries the name's vector on to the words after "
            "it, so the prompt's last word, where a model reads its next-word guess, holds "
            "the sport too. The heatmap reads each position's vector along named directions, "
            "before and after the MLP, and after the second step for the words after a name."
        )
        # On a projector the type is large: each chart gets the full width, so
        # titles, neuron labels and axis labels fit. Elsewhere they share a
        # line if the neuron labels (up to about 250 px) leave room for bars.
        charts = (bokeh(self.neuron_fig), bokeh(self.sport_fig))
        figures = [
            self.answer,
            pn.Column(*charts, sizing_mode="stretch_width") if self.state.presenter
            else side_by_side(*charts, basis=400),
            bokeh(self.readout_fig),
        ]
        return self.layout(prose, [self.name_input], figures)


def activation_range(values: list[float]) -> tuple[float, float]:
    """The neuron chart's x extent: the bars (from 0) plus 5% each side, as
    Bokeh's automatic range would draw it."""
    lo, hi = min(0.0, *values), max(0.0, *values)
    pad = 0.05 * ((hi - lo) or 1.0)
    return lo - pad, hi + pad


def _set_factors(rng: FactorRange, factors: list) -> None:
    """Replace a categorical range's factors only when they differ (each
    assignment is a message to the browser and a re-layout)."""
    if list(rng.factors) != factors:
        rng.factors = factors
