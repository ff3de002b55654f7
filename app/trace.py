"""Section 10, where does the fact live? Causal tracing (toycore.trace) of the
shared hand-built model: corrupt the name, put back one activation at a
time, and see which ones bring the answer back. Every sentence is read from
the same Trace the map shows.
"""

from __future__ import annotations

import numpy as np
import panel as pn
from bokeh.models import ColorBar, ColumnDataSource, FactorRange, FixedTicker, LinearColorMapper
from bokeh.palettes import Blues9

import toycore as tc
from app.common import (
    MODEL_KEYS,
    LiveText,
    Section,
    bokeh,
    esc,
    fig,
    model_for,
    num,
    page_bg,
    pct,
    slider,
    strong,
    text_color,
    typed_text,
    update,
)
from app.state import MAX_TEXT, AppState
from toycore.trace import COMPONENTS, LABELS, Trace, trace

SAMPLES = 16  # noise samples per trace: a prompt stays within a slider step in Pyodide
CORRUPTIONS = {"Swap the first name": "swap", "Noise on the name (ROME's)": "noise"}
PROMPTS = ("Michael Jordan plays the sport of", "The sport of Serena Williams is",
           "Tiger Woods plays")
TRACE_KEYS = ("tr_text", "tr_corrupt", "tr_noise", "tr_sever")
PALETTE = tuple(reversed(Blues9))  # light: little came back; dark: all of it
FULL = 0.9  # a cell "brings the answer back" when it restores this share of what was lost
LITTLE = 0.05  # a corruption that costs less than this has nothing to trace


def position_labels(tokens: list[str]) -> list[str]:
    """The words as x-axis factors, a repeated word numbered ("the (2)")."""
    seen: dict[str, int] = {}
    out = []
    for t in tokens:
        seen[t] = seen.get(t, 0) + 1
        out.append(t if seen[t] == 1 else f"{t} ({seen[t]})")
    return out


def cell_colors(values: np.ndarray) -> list[str]:
    """A probability's colour: the palette split into equal bins over 0..1."""
    idx = np.clip((values * len(PALETTE)).astype(int), 0, len(PALETTE) - 1)
    return [PALETTE[i] for i in idx]


def map_data(t: Trace) -> dict[str, list]:
    """One cell per position x component: what comes back when only it is put back."""
    words = position_labels(t.tokens)
    out: dict[str, list] = {"word": [], "part": [], "value": [], "label": [], "color": [],
                            "text_color": []}
    for c, name in enumerate(COMPONENTS):
        values = t.restored[c]
        out["word"] += words
        out["part"] += [LABELS[name]] * len(words)
        out["value"] += [float(v) for v in values]
        out["label"] += [pct(v) for v in values]
        out["color"] += cell_colors(values)
        out["text_color"] += ["#ffffff" if v >= 0.55 else "#0f172a" for v in values]
    return out


def where(t: Trace, c: int, p: int) -> str:
    return f"the {LABELS[COMPONENTS[c]]} at “{esc(t.tokens[p])}”"


def answer_html(t: Trace, model: tc.ToyModel, state: AppState) -> str:
    """What the trace found, every number read from `t` and its clean run."""
    name = name_of(t)
    last = t.tokens[-1]
    target = strong(t.target)
    first = (f"<p>Clean, the toy gives {target} {strong(pct(t.clean))} at “{esc(last)}”, the "
             "last word.")
    if t.corruption == "swap":
        swapped = list(t.tokens)
        swapped[t.subject[0]] = t.swap_with or ""
        first += (f" With {esc(t.tokens[t.subject[0]])} swapped for {esc(t.swap_with)} "
                  f"(“{esc(' '.join(swapped))}”), {esc(t.target)} gets "
                  f"{strong(pct(t.corrupted))}.")
    else:
        first += (f" With noise of {num(t.noise, 1)} standard deviations on the embeddings of "
                  f"“{esc(name)}”, {esc(t.target)} gets {strong(pct(t.corrupted))} on average "
                  f"over {t.samples} samples.")
    if not t.known:
        probs = t.run.cache["sport_probs"]
        tied = int(np.sum(np.abs(probs - probs.max()) < 1e-9)) > 1
        first += (f" The toy does not know {esc(name)}: no sport reaches its answer threshold, "
                  f"so the map follows {esc(t.target)}, the likeliest"
                  + (" (tied with others)." if tied else "."))
    if t.lost < LITTLE:
        first += (" The corruption " + (f"lowers {esc(t.target)} by only "
                                        f"{num(100 * t.lost, 1)} points" if t.lost > 0 else
                                        f"does not lower {esc(t.target)}")
                  + ", so there is nothing here for putting anything back to find.</p>")
        return first
    first += "</p>"
    shares = t.indirect / t.lost
    strong_cells = [(c, p) for c in range(len(COMPONENTS)) for p in range(len(t.tokens))
                    if shares[c, p] >= FULL]
    # Never empty: the residual after the MLP at the name carries all the last word gets.
    listed = "; ".join(f"{where(t, c, p)} ({pct(shares[c, p])})" for c, p in strong_cells)
    second = (f"<p>Putting back any one of these alone brings back at least "
              f"{pct(FULL)} of what was lost: {listed}.</p>")
    return first + second + mlp_html(t, model, shares, state)


def brings(x: float) -> str:
    """A share of what was lost, as "brings back 35%"; below zero it made things worse."""
    if round(100 * x) > 0:
        return f"brings back {strong(pct(x))}"
    if round(100 * x) < 0:
        return f"brings back nothing (it lowers the answer further, by {pct(-x)} of the loss)"
    return f"brings back {strong('nothing')}"


def mlp_html(t: Trace, model: tc.ToyModel, shares: np.ndarray, state: AppState) -> str:
    """What the MLP's own row says, and severing's, from the same numbers."""
    at, name = t.subject[-1], name_of(t)
    m, rp = COMPONENTS.index("mlp_out"), COMPONENTS.index("resid_post")
    writes = float(t.run.cache["mlp_out_sports"][at][model.sports.index(t.target)])
    out = (f"<p>The MLP's output at “{esc(t.tokens[at])}” alone {brings(shares[m, at])}; "
           f"clean, it writes {num(writes)} along {esc(t.target)} there.")
    if t.corruption == "noise" and shares[m, at] < shares[rp, at] - 0.05:
        out += (f" That is less than the residual after the MLP there brings back "
                f"({pct(shares[rp, at])}): the residual also puts back the name's own "
                "embedding, and noise on the name lands on the very directions the read-out "
                "reads, which putting back the MLP's output does not remove.")
    if t.sever:
        up = [(c, p) for c in (COMPONENTS.index("resid_pre"), COMPONENTS.index("attn_out"))
              for p in range(len(t.tokens))]
        c, p = max(up, key=lambda cp: shares[cp])
        out += " With the MLP's output held at its corrupted value, "
        if round(100 * shares[c, p]) <= 0:
            out += "nothing before the MLP (the embeddings, the first head) brings any of it back"
        else:
            out += (f"the most that anything before the MLP brings back is {pct(shares[c, p])} "
                    f"({where(t, c, p)})")
        out += (": what the embeddings and the first head carry reaches the answer only "
                "through the MLP." if shares[c, p] < 0.1 else ".")
    elif len(t.subject) == 2 and np.all(np.abs(t.indirect[:, t.subject[0]]) < 1e-9):
        out += (f" Nothing put back at “{esc(t.tokens[t.subject[0]])}” changes anything"
                + (": the first head is off, so nothing reads it." if model.cfg.attn_strength
                   == 0 else "."))
    if t.known and model.cfg.answers(writes) and "edit" in state.show:
        out += f" That output is where section 6's edit of {esc(name)} rewrites the fact."
    return out + "</p>"


def name_of(t: Trace) -> str:
    return " ".join(t.tokens[i] for i in t.subject)


class TraceSection(Section):
    """Name, corruption, noise, severing; the map of what comes back."""

    key = "trace"
    depends_on = (*TRACE_KEYS, *MODEL_KEYS)

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        model = model_for(state)
        s = state
        self.text = pn.widgets.AutocompleteInput(
            label="Name or prompt to trace", value=s.tr_text,
            options=[*PROMPTS, *(f.name for f in model.facts)], restrict=False,
            case_sensitive=False, search_strategy="includes", min_characters=1,
            sizing_mode="stretch_width")
        self.corrupt = pn.widgets.RadioButtonGroup(label="How to corrupt the name",
                                                   options=CORRUPTIONS, value=s.tr_corrupt)
        self.noise = slider(s, "tr_noise", "Noise, in standard deviations of the embeddings",
                            foreseen=True, visible=s.tr_corrupt == "noise")
        self.sever = pn.widgets.Checkbox(
            label="Hold the MLP's output at its corrupted value (severed)", value=s.tr_sever)
        # The page brings section 6 into view on a click (build/web/page/fitting.js).
        self.edit = pn.widgets.Button(label="Edit this fact in section 6", color="primary",
                                      visible=False, css_classes=["wfl-goto-edit"])
        self.result = LiveText(state, "wfl-trace-result")

        line = text_color(s)
        self.cells = ColumnDataSource({k: [] for k in ("word", "part", "value", "label",
                                                       "color", "text_color")})
        parts = [LABELS[c] for c in COMPONENTS]
        f = fig(s, height=380, title="How much of the answer comes back, putting back one "
                                     "activation",
                x_range=FactorRange(factors=[]), y_range=FactorRange(*reversed(parts)))
        f.rect("word", "part", 1, 1, source=self.cells, fill_color="color", line_color=line,
               line_alpha=0.15)
        f.text("word", "part", text="label", source=self.cells, text_align="center",
               text_baseline="middle", text_color="text_color",
               text_font_size="15pt" if s.presenter else "10pt")
        f.grid.grid_line_color = None
        f.xaxis.major_label_orientation = 0.6
        mapper = LinearColorMapper(palette=PALETTE, low=0.0, high=1.0)
        f.add_layout(ColorBar(color_mapper=mapper, orientation="horizontal", height=10,
                              title="probability of the answer",
                              title_text_font_size="13pt" if s.presenter else "10pt",
                              major_label_text_font_size="13pt" if s.presenter else "9pt",
                              title_text_color=line, major_label_text_color=line,
                              background_fill_color=page_bg(s), title_text_font_style="normal",
                              ticker=FixedTicker(ticks=[0, 0.5, 1])), "below")
        self.fig = f

        w = self.guard
        self.text.param.watch(w(lambda *es: setattr(s, "tr_text", typed_text(*es)[:MAX_TEXT])),
                              ["value", "value_input"])
        self.corrupt.param.watch(w(lambda e: setattr(s, "tr_corrupt", e.new)), "value")
        self.noise.param.watch(w(lambda e: setattr(s, "tr_noise", float(e.new))), "value")
        self.sever.param.watch(w(lambda e: setattr(s, "tr_sever", bool(e.new))), "value")
        self.edit.on_click(w(self._edit))
        s.param.watch(w(self._sync), ["tr_corrupt", "tr_noise", "tr_sever"])
        self.watch_refresh()
        self.trace: Trace | None = None
        self._refresh()

    def _sync(self, *_events) -> None:
        s = self.state
        self.corrupt.value = s.tr_corrupt
        self.noise.value = s.tr_noise
        self.noise.visible = s.tr_corrupt == "noise"
        self.sever.value = s.tr_sever

    def _edit(self, *_events) -> None:
        """Section 6 edits the traced fact in the model traced."""
        if self.trace is not None and self.trace.ok:
            self.state.param.update(edit_person=name_of(self.trace), edit_model="built")

    def _refresh(self, *_events) -> None:
        s = self.state
        model = model_for(s)
        t = trace(model, s.tr_text, corruption=s.tr_corrupt, noise=s.tr_noise,
                  samples=SAMPLES, sever=s.tr_sever)
        self.trace = t
        if not t.ok:
            self.say(t.error or "That cannot be traced.")
            self.result.html = "<p>Nothing traced.</p>"
            self.cells.data = {k: [] for k in self.cells.data}
            self.fig.x_range.factors = []
            self.edit.visible = False
            return
        self.say()
        words = position_labels(t.tokens)
        if list(self.fig.x_range.factors) != words:
            self.fig.x_range.factors = words
        update(self.cells, map_data(t))
        self.result.html = answer_html(t, model, s)
        name = name_of(t)
        self.edit.visible = ("edit" in s.show and t.known and model.facts.get(name) is not None)
        self.edit.label = f"Edit {name}'s fact in section 6"

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "Where in a model is a fact kept? Meng et al. (2022) answered it for GPT-2 XL by "
            "*causal tracing*: run the model on a prompt, run it again with the subject's "
            "words corrupted so the fact is lost, then put back one activation at a time, "
            "from the clean run, and measure how much of the right answer comes back. In "
            "GPT-2 XL's 48 layers it came back most from the MLPs of the middle layers at "
            "the subject's last word, and from attention at the prompt's last word in late "
            "layers; so ROME edits one middle-layer MLP there. Here is the same experiment "
            "on the toy, run on the model sections 1 to 4 set up. The toy has one layer of "
            "each kind, so it can show which word and which component, not which layer. As "
            "built, it has one path from the name to the answer, so with the first name "
            "swapped each link of that path brings the answer back on its own; holding the "
            "MLP's output at its corrupted value (ROME's *severed* trace) shows which link "
            "writes it. ROME corrupted with noise of three "
            "standard deviations; in the toy, noise on a name also lands on the directions "
            "the read-out reads, so later work (Zhang and Nanda, 2023) prefers swapping a "
            "word for another, as this section does first."
        )
        controls = [self.text, self.corrupt, self.noise, self.sever]
        return self.layout(prose, controls, [self.result, self.edit, bokeh(self.fig)])
