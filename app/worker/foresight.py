"""Foresight, Python's half: while the reader is on a slider, work out the
patches that bring it to the values around it, so the page can apply one in
the key press's own task instead of waiting for Python.

A slider is foreseen only if its section says so (`app.common.FORESEEN`):
each value is made and undone here, so only a step that does nothing but
redraw may be. All patches of a grid are worked out from one state (the
anchor), each giving the whole value of what it sets; the page applies any
of them after putting back the anchor's value of whatever the last one set
and this one does not. The page still sends the step; Python makes it and
checks that its state came out as the page shows it, else resends the
grid's keys whole. The page's half is build/web/page/foresight.js.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent
from bokeh.model import Model
from bokeh.models import ColumnDataSource, Slider

from app.worker import tuning
from app.worker.encoding import Key, encode_patch, event_key, full_events, per_key
from app.worker.link import Confirm, Link

# foresee(JSON text, buffers by id, slider model id, value, seq, grid id,
# keys "model-id attr"): the patch that would bring that slider to that value.
Foresee = Callable[[str, dict[str, bytes], str, float, int, int, list[str]], None]
# A step slower than this (seconds of the worker's Python) is not foreseen:
# each value costs two steps, and a change the reader makes waits for them.
MAX_S = 0.04
# How many values a grid works out either side of the slider's value: a key
# press steps one, PageUp five, and a held key runs ahead of Python.
GRID_REACH = 8
# Grids dropped whose keys are still known, for a page that applied some of
# their patches before it heard.
STALE_KEPT = 16


@dataclasses.dataclass(eq=False)
class Grid:
    """Patches for values of one slider, all worked out from one state."""

    id: int  # the page names the grid it applied patches of by this
    seq: int  # the page's patches Python had applied at the anchor
    slider: Slider
    here: float  # the slider's value in Python's state (and on the page, once checked)
    here_keys: frozenset[Key] = frozenset()  # what the page's grid patch for `here` set
    patches: dict[float, dict[Key, str]] = dataclasses.field(default_factory=dict)
    models: dict[Key, Model] = dataclasses.field(default_factory=dict)
    base: dict[Key, str] = dataclasses.field(default_factory=dict)  # the anchor's values
    to_foresee: list[float] = dataclasses.field(default_factory=list)
    direction: int = 0  # the way the slider last moved


class Foresight:
    """The grid being worked out for a `Link`, and the grids dropped."""

    def __init__(self, link: Link, foresee_to: Foresee) -> None:
        self.link, self.doc, self.foresee_to = link, link.doc, foresee_to
        link.foresight = self
        self.grid: Grid | None = None
        self.grids = 0
        self.stale: dict[int, dict[Key, Model]] = {}
        self.slow: dict[str, int] = {}  # slider id: times a foreseen value was slow
        self._hit: tuple[Grid, float] | None = None  # a confirmed grid, and where it came from

    # -- around a step from the page (Link.apply) ------------------------------------------
    def before_step(self, patch: Any, foreseen: float | None, grid: int | None
                    ) -> tuple[Confirm | None, dict[Key, Model] | None]:
        """What the link's flush is to do: confirm a foreseen value the page
        applied, or resend whole what a grid the page used had set."""
        current = self.grid
        self._hit = None
        if (grid is not None and foreseen is not None and current is not None
                and current.id == grid and foreseen in current.patches
                and moved_slider(self.doc, patch, drag=True) is current.slider):
            self._hit = (current, current.here)
            value = foreseen

            def confirm(events: list[DocumentPatchedEvent]) -> dict[Key, Model] | None:
                if self._confirm(current, value, events):
                    return None
                resync = {**current.models, **{k: e.model for e in events
                                               if (k := event_key(e)) is not None}}
                self.drop()
                return resync
            return confirm, None
        resync = self._grid_keys(grid) if grid is not None else None
        self.drop()
        return None, resync

    def after_step(self, patch: Any, took: float) -> None:
        """Go on from a confirmed value, or start a grid after a key press."""
        hit, self._hit = self._hit, None
        if hit is not None and self.grid is hit[0]:  # confirmed: go on from here
            current, came_from = hit
            current.direction = int(np.sign(current.here - came_from))
            self._plan(current)
            return
        slider = moved_slider(self.doc, patch)
        if slider is not None and took <= MAX_S:
            self._start_grid(slider)

    def focus(self, model_id: str) -> bool:
        """The reader is on this slider: work out its grid before the first
        press. Returns whether there is anything to foresee."""
        model = self.doc.get_model_by_id(model_id)
        if not foreseeable(model) or self.slow.get(model_id, 0) >= 2:
            return False
        assert isinstance(model, Slider)
        if self.grid is None or self.grid.slider is not model:
            self._start_grid(model)
        return self.grid is not None and bool(self.grid.to_foresee)

    def foresee(self) -> bool:
        """Work out one more value of the grid (make the step, send its
        patch with `foresee_to`, undo it). The worker calls this between
        messages, one value per task. Returns whether more are left."""
        grid = self.grid
        if grid is None or not grid.to_foresee:
            return False
        slider, value = grid.slider, grid.to_foresee.pop(0)
        here = {"value": slider.value, "value_throttled": slider.value_throttled}
        start = time.perf_counter()
        found: tuple[dict[Key, Model], str, dict[str, bytes]] | None = None
        try:
            there = self._capture(slider_patch(slider, {"value": value, "value_throttled": value}))
            if there is not None:
                # What the page's patch for `here` set, and what this step set.
                models = {**{k: grid.models[k] for k in grid.here_keys}, **there}
                text, buffers = encode_patch(self.doc, full_events(self.doc, models),
                                             record=False)
                found = models, text, buffers
        finally:
            back = self._capture(slider_patch(slider, here))
        if time.perf_counter() - start > 2 * MAX_S:
            self.slow[slider.id] = self.slow.get(slider.id, 0) + 1
            grid.to_foresee = []  # and twice: not even when the reader is on it
        if found is None or back is None:
            return bool(grid.to_foresee)
        models, text, buffers = found
        # The anchor's value of a key first set here: Python's state is
        # `here`, which the anchor and the page share outside here_keys.
        new = {k: m for k, m in back.items() if k not in grid.base and k not in grid.here_keys}
        if new:
            grid.base.update(self._values(new))
        if any(k not in grid.base for k in models):
            return bool(grid.to_foresee)  # not a step that undoes (never seen so far)
        grid.patches[value] = per_key(text, buffers)
        grid.models.update(models)
        self.foresee_to(text, buffers, slider.id, value, grid.seq, grid.id,
                        [f"{mid} {attr}" for mid, attr in models])
        return bool(grid.to_foresee)

    def drop(self) -> None:
        if self.grid is not None:
            self.stale[self.grid.id] = self.grid.models
            while len(self.stale) > STALE_KEPT:
                del self.stale[next(iter(self.stale))]
        self.grid = None

    # -- inside ------------------------------------------------------------------------------
    def _confirm(self, grid: Grid, value: float, events: list[DocumentPatchedEvent]) -> bool:
        """Whether Python's state after the step matches what the page shows
        having applied the grid's patch for `value`: that patch's values
        where it set something, the anchor's elsewhere."""
        changed = self._changed(events)
        if changed is None:
            return False
        want = grid.patches[value]
        keys = {**changed, **{k: grid.models[k] for k in (*want, *grid.here_keys)}}
        got = self._values(keys)
        for key in keys:
            expect = want.get(key, grid.base.get(key))
            if expect is None or got.get(key) != expect:
                return False
        grid.here, grid.here_keys = value, frozenset(want)
        return True

    def _values(self, models: dict[Key, Model]) -> dict[Key, str]:
        text, buffers = encode_patch(self.doc, full_events(self.doc, models), record=False)
        return per_key(text, buffers)

    def _start_grid(self, slider: Slider) -> None:
        self.drop()
        self.grids += 1
        self.grid = Grid(id=self.grids, seq=self.link.applied, slider=slider, here=slider.value)
        self._plan(self.grid)

    def _grid_keys(self, grid_id: int) -> dict[Key, Model]:
        """Everything grid `grid_id` set; if it is forgotten, every data
        source and text (what a grid sets)."""
        if self.grid is not None and self.grid.id == grid_id:
            return self.grid.models
        if grid_id in self.stale:
            return self.stale[grid_id]
        out: dict[Key, Model] = {}
        for model in self.doc.models:
            if isinstance(model, ColumnDataSource):
                out[(model.id, "data")] = model
            elif isinstance(getattr(model, "text", None), str):
                out[(model.id, "text")] = model
        return out

    def _plan(self, grid: Grid) -> None:
        grid.to_foresee = [v for v in grid_values(grid.slider, grid.direction)
                           if v not in grid.patches]

    def _capture(self, patch: dict) -> dict[Key, Model] | None:
        return self._changed(self.link.capture(patch))

    def _changed(self, events: list[DocumentPatchedEvent]) -> dict[Key, Model] | None:
        """What these events set, by key; None if one is of a kind a grid
        does not carry, or the change made a model the page has not got."""
        made = tuning.new_models(self.doc)
        if made is None or made:
            return None
        changed: dict[Key, Model] = {}
        for event in events:
            key = event_key(event)
            if key is None:
                return None
            changed[key] = event.model
        return changed


def foreseeable(model: Any) -> bool:
    """A slider with a number for its value whose section marked it FORESEEN."""
    from app.common import FORESEEN

    value = getattr(model, "value", None)
    return (isinstance(model, Slider) and isinstance(value, (int, float))
            and not isinstance(value, bool) and FORESEEN in model.css_classes)


def moved_slider(doc: Document, patch: Any, drag: bool = False) -> Slider | None:
    """The foreseeable slider a key press moved, if that is all the patch
    did. A key press sets `value` and `value_throttled` together; a drag
    sets only `value` until released (`drag=True` accepts that too). A drag
    does not start a grid: its next position is anyone's guess."""
    content = getattr(patch, "content", patch)  # panel.io.pyodide's Serialized, or a dict
    events = content.get("events", []) if isinstance(content, dict) else []
    ids = {e.get("model", {}).get("id") for e in events if e.get("kind") == "ModelChanged"}
    attrs = {e.get("attr") for e in events}
    allowed = ({"value"}, {"value_throttled"}) if drag else ()
    if len(ids) != 1 or (attrs != {"value", "value_throttled"} and attrs not in allowed) \
            or any(e.get("kind") != "ModelChanged" for e in events):
        return None
    model = doc.get_model_by_id(ids.pop())
    return model if foreseeable(model) else None


def grid_values(slider: Slider, direction: int = 0) -> list[float]:
    """The values up to GRID_REACH key presses away, in range, nearest
    first and further ahead the way the slider last moved; rounded to the
    step's decimals (and two more), since the page's slider adds in floats
    and a foreseen press sends Python the value foreseen here."""
    step = float(slider.step)
    if not step > 0:
        return []
    decimals = max(0, -int(np.floor(np.log10(step)))) + 2 if step < 1 else 2
    ahead = direction or 1
    ranked = []
    for n in range(1, GRID_REACH + 1):
        for sign in (ahead, -ahead):
            value = round(float(slider.value) + sign * n * step, decimals)
            if slider.start - 1e-9 <= value <= slider.end + 1e-9:
                if isinstance(slider.value, int) and value.is_integer():
                    value = int(value)
                # Ahead: n; behind: 2n - 0.5 once the slider has moved that way.
                rank = n if sign == ahead or not direction else 2 * n - 0.5
                ranked.append((rank, sign != ahead, value))
    return [value for *_, value in sorted(ranked)]


def slider_patch(slider: Slider, attrs: dict[str, Any]) -> dict:
    """A patch as the page sends it when the reader moves this slider."""
    ref = {"id": slider.id}
    return {"events": [{"kind": "ModelChanged", "model": ref, "attr": k, "new": v}
                       for k, v in attrs.items()]}
