"""Section 6, edit a fact: make Michael Jordan play golf and see what else moved.

The edit is recomputed whenever its inputs change (no "apply" step), so the
URL's edit_person / edit_sport / edit_method / edit_model fully describe what
is shown. It edits either the shared hand-built model (tilting the names in
section 3 makes the edit spill onto the half matches) or the model section 5
trained, whose neurons are shared between facts.
"""

from __future__ import annotations

import math

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange

import toycore as tc
from app.capacity import TRAINING_KEYS, trained_model
from app.common import (
    ACCENT,
    BAD,
    FIRE,
    MODEL_KEYS,
    QUIET,
    LiveText,
    Section,
    bokeh,
    esc,
    fig,
    legend_style,
    model_for,
    num,
    strong,
    text_color,
    typed_text,
    update,
)
from app.state import MAX_TEXT, AppState
from toycore.edit import edit_fact

METHODS = {"Swap the sport in the neuron's column": "column",
           "Rank-one update of W_down (ROME-style)": "rank_one"}
MODELS = {"Hand-built: a neuron per fact": "built",
          "Trained in section 5: shared neurons": "trained"}
# A row per fact at least as tall as its label's type, and the legend's four
# lines below them; presenter sizes are in the tables (not fig()'s x1.25).
ROW_PX = {False: 22, True: 28}
LEGEND_PX = {False: 110, True: 150}


def chart_height(facts: int, presenter: bool) -> int:
    return max(14 * ROW_PX[presenter], ROW_PX[presenter] * facts) + LEGEND_PX[presenter]


def not_recalled(model: tc.ToyModel, person: str) -> str:
    """A hint when the person is in the model's table but the model does not
    recall them (a trained model rarely recalls every fact): whom it does."""
    fact = model.facts.get(person)
    answers = model.answers()
    if fact is None or answers[fact.name] == fact.sport:
        return ""
    known = [f.name for f in model.facts if answers[f.name] == f.sport]
    if not known:
        return f" This model recalls none of its {len(model.facts)} facts."
    return (f" This model does not recall {fact.name}; it does recall, for example, "
            f"{', '.join(known[:3])}.")


def model_to_edit(state: AppState) -> tc.ToyModel:
    """The hand-built model, or the one section 5 trained (app.capacity)."""
    return trained_model(state) if state.edit_model == "trained" else model_for(state)


# The "after" bar's colour says what happened to the fact; the legend has
# one entry per kind present (legend_field), so every colour is explained.
KINDS = {"target": ("after: the edited fact, old sport", FIRE),
         "changed": ("after: answer changed", BAD),
         "same": ("after: answer unchanged", QUIET)}


def report_data(report: dict) -> dict[str, list]:
    """One row per fact: own-sport read-out before/after and how far its whole
    sport read-out moved (toycore.edit's report, unchanged)."""
    rows = [report["target"], *report["others"]] if report["target"] else report["others"]
    kinds = ["target" if r["name"] == report["fact"] else
             ("changed" if r["answer_before"] != r["answer_after"] else "same") for r in rows]
    return {
        "name": [r["name"] for r in rows],
        "before": [r["before"] for r in rows],
        "after": [r["after"] for r in rows],
        "shift": [r["shift"] for r in rows],
        "color": [KINDS[k][1] for k in kinds],
        "kind": [KINDS[k][0] for k in kinds],
    }


# The chart's x range: this, widened in steps of 0.2 to whatever the bars and
# the diamond reach (a column slider at 2, or a rank-one edit, goes past it),
# so that it moves only when it must.
X_RANGE = (-0.6, 1.6)


def x_range_for(*columns: list[float]) -> tuple[float, float]:
    """The smallest range of steps of 0.2, from at most X_RANGE[0] to at least
    X_RANGE[1], that shows every value with 0.1 to spare."""
    values = [v for col in columns for v in col if math.isfinite(v)]
    lo = min([X_RANGE[0], *(math.floor((v - 0.1) * 5) / 5 for v in values)])
    hi = max([X_RANGE[1], *(math.ceil((v + 0.1) * 5) / 5 for v in values)])
    return round(lo, 1), round(hi, 1)


def target_data(report: dict) -> dict[str, list]:
    """The edited fact's read-out along its new sport (empty when the name is
    not a fact of the table, so it has no row to sit on)."""
    if not report["target"]:
        return {"name": [], "x": [], "label": []}
    return {"name": [report["fact"]], "x": [report["target_after"]],
            "label": [f"after: the edited fact, along {report['new_sport']}"]}


class EditSection(Section):
    """Name, new sport, method; the collateral damage chart."""

    key = "edit"
    depends_on = ("edit_person", "edit_sport", "edit_method", "edit_model",
                  *MODEL_KEYS, *TRAINING_KEYS)

    def __init__(self, state: AppState) -> None:
        super().__init__(state)
        model = model_to_edit(state)
        self.person = pn.widgets.AutocompleteInput(
            label="Person whose sport to change", value=state.edit_person,
            options=[f.name for f in model.facts], restrict=False, case_sensitive=False,
            search_strategy="includes", min_characters=1, sizing_mode="stretch_width")
        self.sport = pn.widgets.AutocompleteInput(
            label="New sport (any word)", value=state.edit_sport, options=list(model.sports),
            restrict=False, case_sensitive=False, min_characters=1, sizing_mode="stretch_width")
        self.method = pn.widgets.RadioButtonGroup(label="How to edit", options=METHODS,
                                                  value=state.edit_method)
        self.which = pn.widgets.RadioButtonGroup(label="Model to edit", options=MODELS,
                                                 value=state.edit_model)
        self.result = LiveText(state, "wfl-edit-result")
        names = [f.name for f in model.facts]
        self.facts = ColumnDataSource({k: [] for k in ("name", "before", "after", "shift",
                                                       "color", "kind")})
        f = fig(state, y_range=FactorRange(*reversed(names)),
                x_range=X_RANGE, title="Each fact's own sport, before and after the edit",
                x_axis_label="what the MLP writes\nalong the fact's sport")
        f.hbar(y="name", right="before", height=0.8, color=ACCENT, alpha=0.35,
               source=self.facts, legend_label="before")
        f.hbar(y="name", right="after", height=0.4, color="color", source=self.facts,
               legend_field="kind")
        # The edited fact's own bar falls to zero along its old sport; the
        # diamond shows where it went: its read-out along the new sport.
        self.target = ColumnDataSource({"name": [], "x": [], "label": []})
        f.scatter(x="x", y="name", source=self.target, marker="diamond",
                  size=20 if state.presenter else 15, color=FIRE, line_color=text_color(state),
                  legend_field="label")
        f.ygrid.grid_line_color = None
        # Below the chart: inside, the box hid the ends of the bars under it,
        # most of them on a phone.
        f.add_layout(f.legend[0], "below")
        f.legend.location = "center"
        legend_style(f, state)
        f.height = chart_height(len(names), state.presenter)
        self.fig = f

        w = self.guard
        for widget, key in ((self.person, "edit_person"), (self.sport, "edit_sport")):
            widget.param.watch(
                w(lambda *es, k=key: setattr(state, k, typed_text(*es)[:MAX_TEXT])),
                ["value", "value_input"])
        self.method.param.watch(w(lambda e: setattr(state, "edit_method", e.new)), "value")
        self.which.param.watch(w(lambda e: setattr(state, "edit_model", e.new)), "value")
        state.param.watch(w(self._sync), ["edit_method", "edit_model"])
        self.watch_refresh()
        self._refresh()

    def _sync(self, *_events) -> None:
        self.method.value = self.state.edit_method
        self.which.value = self.state.edit_model

    def _refresh(self, *_events) -> None:
        s = self.state
        model = model_to_edit(s)
        names = [f.name for f in model.facts]
        if self.person.options != names:  # section 5's table differs from the hand-built one
            self.person.options = names
            self.sport.options = list(model.sports)
        try:
            _, report = edit_fact(model, s.edit_person, s.edit_sport, s.edit_method)
        except (ValueError, KeyError) as err:
            text = str(err.args[0]) if err.args else "That edit is not possible."
            self.say(text + not_recalled(model, s.edit_person))
            self.result.html = "<p>No edit made.</p>"
            self.facts.data = {k: [] for k in self.facts.data}
            self.target.data = {k: [] for k in self.target.data}
            return
        self.say()
        rows = [r["name"] for r in [report["target"], *report["others"]] if r]
        self.fig.y_range.factors = list(reversed(rows))
        height = chart_height(len(rows), self.state.presenter)
        if self.fig.height != height:
            self.fig.height = height
        facts, target = report_data(report), target_data(report)
        lo, hi = x_range_for(facts["before"], facts["after"], target["x"])
        if (self.fig.x_range.start, self.fig.x_range.end) != (lo, hi):
            self.fig.x_range.update(start=lo, end=hi)
        update(self.facts, facts)
        update(self.target, target)
        moved = [o for o in report["others"] if o["shift"] > 1e-6]
        changed = report["changed_answers"]
        how = {"column": "the column of", "rank_one": "a rank-one change to"}[report["method"]]
        neurons = ", ".join(map(str, report["neurons"])) or "none"
        verdict = "now answers" if report["success"] else "still does not answer"
        self.result.html = (
            f"<p>{esc(report['fact'])} was {strong(report['old_sport'] or 'unknown')}; after "
            f"{how} neuron(s) {neurons} the model {verdict} {strong(report['new_sport'])} "
            f"(read-out {num(report['target_after'])}). Other facts that moved: "
            f"{strong(len(moved))} of {len(report['others'])} (largest shift "
            f"{num(report['max_shift_others'], 3)}); answers changed: "
            f"{strong(', '.join(changed) if changed else 'none')}.</p>"
        )

    def panel(self) -> pn.viewable.Viewable:
        prose = (
            "If a fact lives in a neuron's column, rewriting that column rewrites the fact. "
            "The hand-built model gives each fact a neuron of its own, so with ReLU, "
            "perpendicular names and its neurons as built, nothing else moves; tilt the names "
            "in section 3 (or retune a neuron in section 2) and the edit spills over. The "
            "model section 5 trained shares its neurons between facts, so an edit there "
            "moves every fact that shares them: the collateral damage an edit in a real "
            "model risks. *Swap the sport* rewrites "
            "the columns of every neuron that fires for the name. The *rank-one* update, "
            "after ROME (Meng et al., 2022), treats W_down as a memory from keys (the "
            "neurons' activations for a name) to values (what gets written): it adds the "
            "smallest change to W_down, a single outer product (so of rank one), that makes "
            "this name's key write the new sport, measured against the other facts' keys, so "
            "they move only as far as their keys overlap this one."
        )
        controls = [pn.Row(self.person, self.sport, sizing_mode="stretch_width"),
                    self.which, self.method]
        return self.layout(prose, controls, [self.result, bokeh(self.fig)])
