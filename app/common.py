"""Shared pieces every section uses: the model the state describes, figure
style, and the safety net that turns an exception into a message.

Why one module: a newcomer changing a plot should find the look (colours,
fonts, presenter/dark variants) in one place, and every section should fail
the same way, with a short sentence in the page and never a traceback.
"""

from __future__ import annotations

import functools
import html
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import panel as pn
import param
from bokeh.core.property.validation import validate
from bokeh.models import ColumnDataSource, GlyphRenderer, InlineStyleSheet, Title
from bokeh.plotting import figure
from panel.models.markup import HTML as HTMLModel

import toycore as tc
from app.state import AppState, section_entry

# -- colours (light, dark) -------------------------------------------------------
FIRE = "#c2410c"  # a neuron that fires, the answer
QUIET = "#94a3b8"  # a neuron that stays silent
ACCENT = "#2563eb"  # a second series (e.g. "before" next to "after")
GOOD = "#15803d"
BAD = "#b91c1c"

# Angle sliders in section 3, in the order they are applied to the embedding.
# Each moves only the second name (toycore's `with_angle` contract).
ANGLE_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("angle_mj", "Michael", "Jordan"),
    ("angle_jp", "Jordan", "Phelps"),
    ("angle_ma", "Michael", "Alexis"),
)


# -- the model ---------------------------------------------------------------------
# The state keys the shared toy model depends on (`model_for`). A section that
# draws from that model names them in its `depends_on`, so a new model
# setting is added here once.
MODEL_KEYS: tuple[str, ...] = (
    "activation", "attn", "move", *(key for key, _, _ in ANGLE_PAIRS),
    "neuron", "row_first", "row_last", "row_other", "bias", "col_own", "col_alt", "alt_sport",
)


def model_key(state: AppState) -> tuple:
    """Everything in the state that changes the shared toy model."""
    return tuple(getattr(state, key) for key in MODEL_KEYS)


@functools.lru_cache(maxsize=1)
def _plain() -> tc.ToyModel:
    """The default model (building its embedding is the slow part, so once)."""
    return tc.ToyModel.default()


@functools.lru_cache(maxsize=8)
def _base(activation: str, attn: float, move: float, angles: tuple) -> tc.ToyModel:
    """The model before any neuron edit: config knobs and tilted names. A
    neuron slider leaves this key alone, so a drag reuses it."""
    model = _plain().with_(activation=activation, attn_strength=attn, move_strength=move)
    emb = model.embedding
    for (_, a, b), degrees in zip(ANGLE_PAIRS, angles, strict=True):
        if abs(degrees - 90.0) > 1e-9:
            emb = emb.with_angle(a, b, degrees)
    if emb is not model.embedding:
        model = model.with_(embedding=emb)
    return model


@functools.lru_cache(maxsize=16)
def _model(key: tuple) -> tc.ToyModel:
    v = dict(zip(MODEL_KEYS, key, strict=True))
    angles = tuple(v[k] for k, _, _ in ANGLE_PAIRS)
    model = _base(v["activation"], v["attn"], v["move"], angles)
    j = v["neuron"]
    if not 0 <= j < model.cfg.d_mlp:
        return model
    fact = neuron_fact(model, j)
    row: dict[str, float] = {fact.first: v["row_first"], fact.last: v["row_last"]}
    if v["row_other"]:
        row[other_last(model, fact)] = v["row_other"]
    column = {fact.sport: v["col_own"]}
    alt = v["alt_sport"]
    if v["col_alt"] and alt in model.embedding and alt != fact.sport:
        column[alt] = column.get(alt, 0.0) + v["col_alt"]
    return model.set_neuron(j, row=row, bias=v["bias"], column=column)


def model_for(state: AppState) -> tc.ToyModel:
    """The toy model the state describes (cached: every section asking after
    one change gets the same object, so a change costs one build)."""
    return _model(model_key(state))


def neuron_fact(model: tc.ToyModel, j: int) -> tc.Fact:
    """The fact neuron j was compiled for; spare neurons borrow fact j mod n
    so their sliders still have names to ask about."""
    return model.facts[j % len(model.facts)]


def other_last(model: tc.ToyModel, fact: tc.Fact) -> str:
    """A last name that shares the fact's first name (Phelps for Michael
    Jordan), else the next fact's last name: the half match to show."""
    for f in model.facts:
        if f.first == fact.first and f.last != fact.last:
            return f.last
    lasts = model.embedding.names_of_kind("last")
    return next(n for n in lasts if n != fact.last)


def other_first(model: tc.ToyModel, fact: tc.Fact) -> str:
    """A first name that is not the fact's (Alexis when it exists)."""
    if "Alexis" in model.embedding and fact.first != "Alexis":
        return "Alexis"
    return next(n for n in model.embedding.names_of_kind("first") if n != fact.first)


# -- work that can wait for the redraw --------------------------------------------
# The browser worker (app/worker/link.py) sends what a change redraws first and
# runs these after that patch has gone; elsewhere (panel serve, tests) they
# run at once. For things no plot shows, such as the address bar.
_after_redraw: dict[object, Callable[[], None]] | None = None


# A slider with this CSS class is foreseen: the page works out its neighbouring
# values ahead, making and undoing each step, so only a slider whose step only
# redraws may say so.
FORESEEN = "wfl-foreseen"


def after_redraw(key: object, fn: Callable[[], None]) -> None:
    """Run `fn` once the current change's redraw has been sent; one call per
    `key` per change (the latest wins)."""
    if _after_redraw is None:
        fn()
    else:
        _after_redraw[key] = fn


def hold_after_redraw() -> None:
    """Collect `after_redraw` calls until `run_after_redraw()`."""
    global _after_redraw
    if _after_redraw is None:
        _after_redraw = {}


def drop_after_redraw() -> None:
    """Forget (and stop collecting) what `after_redraw` held: a foreseen
    step (app/worker/foresight.py) is undone before anything waits on it."""
    global _after_redraw
    _after_redraw = None


def run_after_redraw() -> None:
    """Run (and stop collecting) what `after_redraw` held, in order."""
    global _after_redraw
    held, _after_redraw = _after_redraw, None
    for fn in (held or {}).values():
        fn()


# -- figures ------------------------------------------------------------------------
# The page around the figures (build/web/page.css): figures sit on the same
# background so they read as part of the page, not as cards.
PAGE_BG = {"light": "#ffffff", "dark": "#111318"}
PAGE_FG = {"light": "#1e293b", "dark": "#e5e7eb"}


def page_bg(state: AppState) -> str:
    return PAGE_BG["dark" if state.theme == "dark" else "light"]


def text_color(state: AppState) -> str:
    if state.theme == "dark":
        return PAGE_FG["dark"]
    return "#000000" if state.presenter else PAGE_FG["light"]


def fig(state: AppState, **kwargs: Any) -> figure:
    """A Bokeh figure in the page's style. Presenter mode enlarges type and
    thickens lines; the dark theme uses the page's near-black background.
    Every section builds its figures through here, so the look changes in
    one place."""
    # No tools: with the toolbar hidden a drag would pan a chart with no way
    # back, and each default tool is another model for the page to build.
    kwargs.setdefault("tools", "")
    kwargs.setdefault("toolbar_location", None)
    kwargs.setdefault("sizing_mode", "stretch_width")
    if state.presenter and "height" in kwargs:
        kwargs["height"] = int(kwargs["height"] * 1.25)
    f = figure(**kwargs)
    big = state.presenter
    dark = state.theme == "dark"
    fg = text_color(state)
    bg = page_bg(state)
    grid = "#2f3440" if dark else "#e2e8f0"
    f.background_fill_color = bg
    f.border_fill_color = bg
    f.outline_line_color = None
    f.title.text_color = fg
    f.title.text_font_size = "20pt" if big else "13pt"
    for axis in (*f.xaxis, *f.yaxis):
        axis.axis_label_text_color = fg
        axis.major_label_text_color = fg
        axis.axis_line_color = fg
        axis.major_tick_line_color = fg
        axis.minor_tick_line_color = None
        axis.axis_label_text_font_size = "17pt" if big else "11pt"
        axis.major_label_text_font_size = "15pt" if big else "10pt"
        axis.axis_label_text_font_style = "normal"
        if hasattr(axis, "group_text_font_size"):  # categorical axes: group labels
            axis.group_text_font_size = "15pt" if big else "10pt"
            axis.group_text_color = fg
            axis.subgroup_text_font_size = "15pt" if big else "10pt"
            axis.subgroup_text_color = fg
    for g in (*f.xgrid, *f.ygrid):
        g.grid_line_color = grid
    return f


def legend_style(f: figure, state: AppState) -> None:
    """Legends readable on a projector and in the dark theme: the page's
    colours on a nearly opaque box, so a legend over bars stays legible."""
    for leg in f.legend:
        leg.label_text_font_size = "15pt" if state.presenter else "10pt"
        leg.label_text_color = text_color(state)
        leg.background_fill_color = page_bg(state)
        leg.background_fill_alpha = 0.88
        leg.border_line_color = "#4b5563" if state.theme == "dark" else "#cbd5e1"
        leg.border_line_alpha = 0.8
        # Tighter than Bokeh's 10 px padding and 20 px swatches: section 2's
        # three entries in a row were 265 px wide, past a 360 px phone's edge.
        leg.padding = 6
        leg.glyph_width = 16
        leg.label_standoff = 4


# Prose size (px): a comfortable reading size next to the page's 17px
# introduction (Panel's Markdown pane alone gives about 12px), and projector
# size in presenter mode. Live text uses the same sizes.
PROSE_PX = {False: 16, True: 20}
ANSWER_PX = {False: 20, True: 26}  # a section's answer line, the first thing a reader looks for


# Presenter mode: every control's text and label at projector size: text
# boxes and menus, slider titles, buttons and checkboxes (a label longer than
# its box wraps rather than running into the next one). Each rule only
# matches inside the widgets that have such parts.
PRESENTER_CONTROLS = (
    ".bk-input { font-size: 24px; height: auto; padding: 8px 12px; } "
    "label { font-size: 22px; white-space: normal; line-height: 1.2; } "
    ".bk-slider-title { font-size: 22px; } "
    ".bk-btn { font-size: 22px; padding: 8px 14px; } "
    "input[type='checkbox'] { width: 22px; height: 22px; } "
    "input[type='checkbox'] ~ div { font-size: 22px; }"
)


def presenter_controls(page: pn.viewable.Viewable) -> None:
    """Give every widget on the page projector-size text (presenter mode).

    One pass over the built page, so a control added to any section later
    gets it too; the sections only had it where someone remembered to ask
    (text boxes and menus), and sliders, buttons and checkboxes stayed at
    Panel's 12-13px."""
    for widget in page.select(pn.widgets.Widget):
        if PRESENTER_CONTROLS not in widget.stylesheets:
            widget.stylesheets = [*widget.stylesheets, PRESENTER_CONTROLS]


# A group of buttons and a slider's title wrap onto a second line on a narrow
# screen instead of running off it (Bokeh keeps each on one line).
WRAP_BUTTON_GROUPS = ".bk-btn-group { flex-wrap: wrap; }"
WRAP_SLIDER_TITLES = ".bk-slider-title { white-space: normal; }"
WRAP = {"flex-wrap": "wrap"}  # styles for a Row of controls, for the same reason


def wrap_controls(page: pn.viewable.Viewable) -> None:
    """Let every group of buttons and every slider title on the page wrap
    (one pass, as for presenter mode, so a control added later wraps too)."""
    for widget in page.select(pn.widgets.Widget):
        if isinstance(widget, (pn.widgets.RadioButtonGroup, pn.widgets.CheckButtonGroup)):
            rule = WRAP_BUTTON_GROUPS
        elif isinstance(widget, (pn.widgets.IntSlider, pn.widgets.FloatSlider)):
            rule = WRAP_SLIDER_TITLES
        else:
            continue
        if rule not in widget.stylesheets:
            widget.stylesheets = [*widget.stylesheets, rule]


def slider(state: AppState, name: str, label: str, foreseen: bool = False,
           **kwargs: Any) -> pn.widgets.IntSlider | pn.widgets.FloatSlider:
    """A slider for the state's `name`, across the section's width: its
    bounds and step are the parameter's, its value the state's, and it is
    `foreseen` (FORESEEN) only when asked. The section links it to the state
    both ways itself, as it does its other widgets."""
    p = AppState.param[name]
    if p.step is None:
        raise ValueError(f"AppState.{name} states no step for its slider")
    kind = pn.widgets.IntSlider if isinstance(p, param.Integer) else pn.widgets.FloatSlider
    start, end = p.bounds
    kwargs.setdefault("sizing_mode", "stretch_width")
    if foreseen:
        kwargs["css_classes"] = [*kwargs.get("css_classes", []), FORESEEN]
    return kind(label=label, start=start, end=end, step=p.step, value=getattr(state, name),
                **kwargs)


def prose_css(state: AppState) -> list[str]:
    """Stylesheets for a Markdown pane of prose: the page's reading size."""
    px = PROSE_PX[state.presenter]
    return [f":host {{ font-size: {px}px; }} p, li, td, th {{ font-size: {px}px; }}"]


# -- text that changes on every step ----------------------------------------------------
# What Panel's Markdown pane's stylesheet does to the few tags live text uses
# (bold, italics, a table), so a LiveText reads like the prose around it.
LIVE_CSS = (
    ":host { overflow-wrap: break-word; } "
    "p { margin: 1em 0; } strong { font-weight: 600; } "
    "table { border-collapse: collapse; margin: 1em 0; } "
    "th, td { border: 1px solid; padding: 5px; } th.n, td.n { text-align: right; }"
)


class LiveText:
    """A line (or table) of text Python rewrites on a slider step or a keystroke.

    One of Panel's own HTML models, used bare (no pane around the text) and
    wrapped once in a Bokeh pane, for two reasons:

    - in Python, setting `.html` changes one string property: one small
      message. A Markdown or HTML *pane* re-derives its theme's stylesheet
      models on every update;
    - in the browser, Panel's HTML view swaps its inner HTML in place. Bokeh's
      Div re-renders and invalidates the layout of the whole page, so every
      figure re-measured its axes on every slider step.

    The model decodes its text as HTML entities before showing it (Panel's
    HTML pane escapes for it), so the HTML is escaped once more here: what a
    reader typed, escaped by `esc`/`strong`, still arrives as text.
    Static prose stays Markdown.
    """

    def __init__(self, state: AppState, css_class: str, visible: bool = True,
                 large: bool = False) -> None:
        # `large` is for a section's answer, the line a reader looks for first.
        size = (ANSWER_PX if large else PROSE_PX)[state.presenter]
        css = LIVE_CSS + f" :host, p, li, td, th {{ font-size: {size}px; }}"
        self._html = ""
        self.div = HTMLModel(text="", css_classes=[css_class], sizing_mode="stretch_width",
                             margin=(5, 10), disable_math=True, visible=visible,
                             stylesheets=[InlineStyleSheet(css=css)])
        self.pane = pn.pane.Bokeh(self.div, sizing_mode="stretch_width")

    @property
    def html(self) -> str:
        return self._html

    @html.setter
    def html(self, text: str) -> None:
        if text != self._html:  # many steps leave the sentence as it was
            self._html = text
            self.div.text = html.escape(text, quote=False)

    @property
    def text(self) -> str:
        """The text without its tags (for tests and the console)."""
        return html.unescape(_TAG.sub("", self._html))

    def __panel__(self) -> pn.pane.Bokeh:
        return self.pane


_TAG = re.compile(r"<[^>]+>")


def typed_text(*events: Any) -> str:
    """The text a name box holds after one change. A suggestion picked from
    the list sets `value` and `value_input` in the same step, and param then
    calls the watcher with both events; `value` is the one the reader chose."""
    new = {e.name: e.new for e in events}
    return str(new.get("value", new.get("value_input")) or "")


def esc(text: object) -> str:
    """Text for LiveText HTML: anything the reader typed goes through here."""
    return html.escape(str(text), quote=False)


def strong(text: object) -> str:
    return f"<strong>{esc(text)}</strong>"


def update(source: ColumnDataSource, data: dict[str, list]) -> None:
    """Give a source this data, sending only the columns that changed.

    Many slider steps leave a plot as it was, and most of the rest move a
    few numbers while its labels, colours and factors stay put. Assigning
    the whole dict would run Bokeh's validation over every column here and
    send every column to the browser again (strings cost the most to
    encode); updating the changed columns sends one small event. When the
    set of columns changes, the data is replaced whole. Lists of plain
    values only (they are compared with ==).

    Bokeh's property validation is off here: it walked every column of the
    source on each change, an eighth of a CPython slider step's Python.
    What the sections put in their sources is validated by the tests
    (tests/test_app_sections.py) instead."""
    old = source.data
    with validate(False):
        if old.keys() != data.keys():
            source.data = data
            return
        changed = {k: v for k, v in data.items() if old[k] != v}
        if changed:
            source.data.update(changed)


NAN_RGBA = 0xFF808080  # grey, as Bokeh's default nan_color


def rgba_lut(palette: list[str]) -> np.ndarray:
    """A palette of "#rrggbb" colours as packed RGBA words for `rgba_image`."""
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in palette], dtype=np.uint32)
    return rgb[:, 0] | (rgb[:, 1] << 8) | (rgb[:, 2] << 16) | np.uint32(0xFF000000)


def rgba_image(values: np.ndarray, lut: np.ndarray, low: float, high: float) -> np.ndarray:
    """Colour a grid of numbers here, as Bokeh's LinearColorMapper would in
    the browser, and send the colours (`image_rgba`).

    A colour-mapped image costs the page more on every slider step than the
    numbers do: BokehJS maps all of its pixels again when the data changes,
    again when the mapper's scan of the data does, and again for each of
    `low` and `high` that moved. Mapped here it is one lookup in numpy and
    half the bytes (4 per pixel, not 8). Same rule as BokehJS: the palette
    split into equal bins from `low` to `high`, values outside clipped to
    the end colours, `high` itself in the last bin; not finite: grey."""
    n = len(lut)
    span = high - low
    finite = np.isfinite(values)
    safe = np.where(finite, values, low)
    # BokehJS's arithmetic step for step, so bin edges fall the same way.
    scaled = (safe - low) * (1 / span) / (1 / n) if span > 0 else np.zeros_like(safe)
    idx = np.where(safe == high, n - 1, np.clip(np.floor(scaled), 0, n - 1)).astype(np.intp)
    return np.where(finite, lut[idx], np.uint32(NAN_RGBA)).astype(np.uint32)


def bokeh(f: figure) -> pn.viewable.Viewable:
    """The figure as a pane under its title, without the glyph copies no
    reader can see.

    Bokeh's glyph methods give every renderer a dimmed copy for unselected
    points and another for a muted legend entry. These figures have no
    selection tools and no muting, so the copies only add models for the
    browser to boot and draw; "auto" derives them if ever needed.

    The title is page text above the canvas (a heading, in the figure's
    title type), not Bokeh's: Bokeh draws its title from the left edge of
    the plot area, after the axis labels, and cuts it at the canvas's right
    edge, so on a phone and at presenter size on a 1024 px projector long
    titles lost their ends. Page text wraps, and a screen reader reads it.
    The figure keeps its title model, hidden, so it is still found by it."""
    for r in f.renderers:
        if isinstance(r, GlyphRenderer):
            r.nonselection_glyph = "auto"
            r.muted_glyph = "auto"
    pane = pn.pane.Bokeh(f, sizing_mode="stretch_width")
    title = f.title.text if isinstance(f.title, Title) else ""
    if not title:
        return pane
    f.title.visible = False
    css = (f":host {{ font-size: {f.title.text_font_size}; font-weight: bold; "
           f"color: {f.title.text_color}; line-height: 1.25; }}")
    markup = f'<div role="heading" aria-level="3">{html.escape(title)}</div>'
    # Escaped once more: the model decodes entities before showing (LiveText).
    head = HTMLModel(text=html.escape(markup, quote=False), css_classes=["wfl-figure-title"],
                     sizing_mode="stretch_width", margin=(5, 10, 0, 10), disable_math=True,
                     stylesheets=[InlineStyleSheet(css=css)])
    return pn.Column(pn.pane.Bokeh(head, sizing_mode="stretch_width"), pane,
                     sizing_mode="stretch_width")


def side_by_side(*items: Any, basis: int = 300) -> pn.Row:
    """Items in a row while each can have `basis` px, else stacked: on a
    phone two figures side by side were each too narrow for their axis
    labels. The sizes are CSS, not Panel widths: Panel adds a child's fixed
    width to every enclosing layout's minimum, and the whole page would
    then scroll sideways on a narrow screen."""
    items = tuple(item.__panel__() if hasattr(item, "__panel__") else item for item in items)
    flex = {"flex": f"1 1 {basis}px", "min-width": "0"}
    for item in items:
        # A Bokeh pane shows its model itself: the style goes on the model.
        target = item.object if isinstance(item, pn.pane.Bokeh) else item
        target.styles = {**target.styles, **flex}
    return pn.Row(*items, sizing_mode="stretch_width", styles=WRAP)


# -- numbers in prose ------------------------------------------------------------------
def num(x: float, digits: int = 2) -> str:
    """A number for prose: fixed digits, no '-0.00'."""
    if not math.isfinite(x):
        return "—"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def pct(x: float, digits: int = 0) -> str:
    """A share for prose as a percentage: "35%", "—" when it is not a number."""
    return "—" if not math.isfinite(x) else f"{num(100 * x, digits)}%"


def unit_vec(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-12 else np.zeros_like(v)


# -- loops -----------------------------------------------------------------------------------
class Loop:
    """A stoppable loop on Panel's periodic callback, with its Start/Stop buttons.

    Training (section 5) and packing (section 7) run a few steps per tick so
    the page stays responsive between ticks. `step()` does one tick's work and
    returns True when the loop is finished; an exception stops the loop and
    becomes a message via `say`, never a traceback.
    """

    def __init__(self, start: pn.widgets.Button, stop: pn.widgets.Button,
                 step: Callable[[], bool], period_ms: int, say: Callable[[str], None],
                 what: str) -> None:
        self.start_button, self.stop_button = start, stop
        self.step, self.period_ms, self.say, self.what = step, period_ms, say, what
        self._cb: Any = None

    @property
    def running(self) -> bool:
        return self._cb is not None

    def start(self) -> None:
        self.start_button.disabled = True
        self.stop_button.disabled = False
        self._cb = pn.state.add_periodic_callback(self.tick, period=self.period_ms)

    def stop(self) -> None:
        if self._cb is not None:
            self._cb.stop()
            self._cb = None
        self.start_button.disabled = False
        self.stop_button.disabled = True

    def tick(self) -> None:
        try:
            finished = self.step()
        except Exception as err:  # noqa: BLE001 - stop, say why, keep the page
            self.stop()
            self.say(f"{self.what} stopped: {str(err)[:160]}")
            return
        if finished:
            self.stop()


# -- sections ------------------------------------------------------------------------------
class Section:
    """Base for a section: a message box and a guard for callbacks.

    `guard(fn)` wraps a callback so any exception becomes a one-line message
    in this section (the plot keeps its last good data) instead of a crash.
    """

    key = ""  # the section's key in app.state.REGISTRY
    # The state keys the section's figures are drawn from, declared once:
    # `watch_refresh` redraws on a change to any of them.
    depends_on: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """The section's heading, as the registry states it."""
        return section_entry(self.key).title

    def __init__(self, state: AppState) -> None:
        self.state = state
        # Whether the reader can see this section (the page reports it; see
        # app.main). Off screen, a redraw waits until the section is back.
        self.on_screen = True
        self._stale = False
        self.message = pn.pane.Alert("", alert_type="warning", visible=False,
                                     sizing_mode="stretch_width",
                                     css_classes=["wfl-message"], stylesheets=prose_css(state))

    def say(self, text: str = "", kind: str = "warning") -> None:
        """Show (or with no text, hide) a short message in the section."""
        if not text and not self.message.visible:
            return  # the common case on every slider step: nothing to hide
        self.message.object = text
        self.message.alert_type = kind
        self.message.visible = bool(text)

    def watch_refresh(self) -> None:
        """Redraw (`self._refresh`) when any of the state's `depends_on` changes:
        at once while the section is on the reader's screen, else when it
        next comes into view: a step of a slider in one section moves the
        figures of several, and repainting those nobody can see was most of
        the page's work. A section calls it in its
        __init__ where the redraw is to come among its own watchers: param
        calls watchers in the order they were added."""
        # Once per key: a key listed twice would redraw twice per change.
        names = list(dict.fromkeys(self.depends_on))
        self.state.param.watch(self.guard(self._refresh_if_seen), names)

    def _refresh_if_seen(self, *_events: Any) -> None:
        if self.on_screen:
            self._refresh()
        else:
            self._stale = True

    def set_on_screen(self, flag: bool) -> None:
        self.on_screen = flag
        if flag and self._stale:
            self._stale = False
            self.guard(self._refresh)()

    def _refresh(self, *_events: Any) -> None:
        """Bring the figures up to date with the state (sections override)."""

    def guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - the page must never show a traceback
                text = str(err) or type(err).__name__
                self.say(f"That did not work: {text[:200]}")
                return None
        return wrapped

    def layout(self, prose: str, controls: list, figures: list) -> pn.Column:
        """Prose, controls and figures, honouring the `prose`/`controls` flags."""
        # The section title is the largest text in the section: larger than
        # the figure titles (13pt, 20pt in presenter mode) inside it.
        size = "36px" if self.state.presenter else "26px"
        head = pn.pane.Markdown(f"## {self.title}", sizing_mode="stretch_width",
                                css_classes=["wfl-title"],
                                stylesheets=[f"h2 {{ font-size: {size}; font-weight: 700; "
                                             "margin: 0.6em 0 0.2em; }"])
        text = pn.pane.Markdown(prose, sizing_mode="stretch_width", visible=self.state.prose,
                                css_classes=["wfl-prose"], stylesheets=prose_css(self.state))
        ctrl = pn.Column(*controls, visible=self.state.controls, sizing_mode="stretch_width",
                         css_classes=["wfl-controls"])
        return pn.Column(head, text, ctrl, self.message, *figures, sizing_mode="stretch_width",
                         css_classes=["wfl-section", f"wfl-{self.key}"], name=self.key)
