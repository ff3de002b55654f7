"""The Python half of the browser worker (build/web/worker.js): how a reader's
change reaches Panel and how everything it redraws goes back as one patch.

Pure Python (no `js` or `pyodide` import), so CPython tests drive it with a
real Panel document; the worker hands in a `send` that moves the JSON text
and buffers to the page.

Why it exists: Panel's own Pyodide link posts one message per document
event and processes each widget attribute as its own event, and a slider
step on the full page moves figures in several sections. Each piece below
was measured on that step (see docs/benchmarks/browser.md).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import param
from bokeh.core.serialization import Buffer, Deserializer, Serializer
from bokeh.document import Document
from bokeh.document.events import (
    ColumnDataChangedEvent,
    ColumnsPatchedEvent,
    ColumnsStreamedEvent,
    DocumentPatchedEvent,
    ModelChangedEvent,
)
from bokeh.model import Model
from bokeh.models import ColumnDataSource, Slider

# send(JSON text, buffers by id, later): `later` marks a patch the page may
# apply after its next frame (nothing on it is drawn: the address bar).
Send = Callable[[str, dict[str, bytes], bool], None]
# foresee(JSON text, buffers by id, slider model id, value, seq, grid id,
# keys "model-id attr"): the patch that would bring that slider to that value,
# worked out ahead (Link.foresee).
Foresee = Callable[[str, dict[str, bytes], str, float, int, int, list[str]], None]
# A step slower than this (seconds, the step's Python in the worker) is not
# foreseen: the bias slider's full-page step takes about 25 ms in Pyodide.
FORESEE_MAX_S = 0.04


# -- Panel, tuned for a page with one reader -------------------------------------------
@contextlib.contextmanager
def edit_readonly(parameterized: param.Parameterized) -> Iterator[None]:
    """Panel's `edit_readonly`, loosening only the parameters that need it.

    Panel's version rewrites `readonly` and `constant` on every parameter of
    the widget (about sixty on a slider), twice, for every change a reader
    makes; each write goes through param's `__setattr__`. Parameters that
    are neither readonly nor constant end up as they were either way."""
    saved = [(p, p.readonly, p.constant)
             for p in parameterized.param.objects("existing").values()
             if p.readonly or p.constant]
    for p, _, _ in saved:
        p.readonly = False
        p.constant = False
    try:
        yield
    finally:
        for p, readonly, constant in saved:
            p.readonly = readonly
            p.constant = constant


_held: dict[int, tuple[Any, Document]] | None = None


def _server_change(self: Any, doc: Document, ref: str, subpath: str | None, attr: str,
                   old: Any, new: Any) -> None:
    """Panel's `Syncable._server_change`, which while a patch is applied only
    collects the change; `Link.apply` then processes each widget once.

    A slider step sets `value` and `value_throttled` together, and Panel
    processed them as two events: the widget's parameters were rewritten
    and its watchers walked twice per key press. Unlike Panel, every change
    in the patch reaches its model before any widget reacts; a widget's
    error is raised after the others have processed theirs."""
    if _held is None:
        _panel_server_change(self, doc, ref, subpath, attr, old, new)
        return
    if subpath:
        attr = f"{subpath}.{attr}"
    if attr in self._changing.get(ref, []):  # Panel's own echo of a Python change
        self._changing[ref].remove(attr)
        return
    self._events.update({attr: new})
    _held.setdefault(id(self), (self, doc))


_panel_server_change: Callable[..., None] = None  # type: ignore[assignment]


def tune_panel() -> None:
    """Install the changes above, before the app is built: Panel binds
    `_server_change` into each model's callbacks when it creates the model."""
    global _panel_server_change
    import panel.reactive
    import panel.util
    import panel.util.parameters
    import panel.widgets.base
    import panel.widgets.slider
    from panel.io.state import state
    from panel.reactive import Syncable

    for module in (panel.util, panel.util.parameters, panel.reactive,
                   panel.widgets.base, panel.widgets.slider):
        module.edit_readonly = edit_readonly  # type: ignore[attr-defined]
    if _panel_server_change is None:
        _panel_server_change = Syncable._server_change
        Syncable._server_change = _server_change  # type: ignore[method-assign]
    # Panel counts "busy" events for a loading indicator this page never
    # shows (the loader tracks wfl.busy itself); the bookkeeping rewrites
    # pn.state's read-only flags several times per event.
    state._add_busy_event = lambda event_id: None
    state._remove_busy_event = lambda event_id, *args: None
    # Panel logs every event at debug level; its handler drops the records,
    # but only after each one is built.
    logging.getLogger("panel").setLevel(logging.INFO)


@contextlib.contextmanager
def one_event_per_widget() -> Iterator[None]:
    """Within this block Panel only collects widget changes (see
    `_server_change`); on leaving, each widget processes them as one event,
    in the order the widgets first changed."""
    global _held
    if _held is not None:  # already collecting
        yield
        return
    _held = {}
    try:
        yield
    finally:
        held, _held = _held, None
        first: Exception | None = None
        for obj, doc in held.values():
            try:
                obj._change_event(doc)
            except Exception as err:  # noqa: BLE001 - one widget's error must not drop the rest
                first = first or err
        if first is not None:
            from panel.io.state import state
            state._handle_exception(first)  # as Panel would: its handler, else raise


# -- patches in ----------------------------------------------------------------------------
class DocDeserializer(Deserializer):
    """Bokeh's deserializer, finding models in the document's own index.

    `Document.apply_json_patch` hands it a list of every model of the
    document (about 700 here), and Bokeh indexes them all by id for each
    patch from the page, though a step's patch names one or two: 0.6 ms of
    the worker's 10 per full-page step. Same lookups, in the index the
    document keeps; a model the patch creates goes into this deserializer's
    own map, as in Bokeh's, and reaches the document only by being used."""

    def __init__(self, doc: Document, references: Any = None, *, setter: Any = None) -> None:
        super().__init__(None, setter=setter)
        self._references = collections.ChainMap({}, doc.models._models)  # type: ignore[assignment]


@contextlib.contextmanager
def deserializing_from(doc: Document) -> Iterator[None]:
    """Within this block `doc.apply_json_patch` uses a `DocDeserializer`."""
    import bokeh.document.document as module

    saved = module.Deserializer

    def make(references: Any = None, *, setter: Any = None) -> Deserializer:
        if references is None:  # not a patch (Document.from_json)
            return saved(references, setter=setter)
        return DocDeserializer(doc, references, setter=setter)

    module.Deserializer = make  # type: ignore[misc]
    try:
        yield
    finally:
        module.Deserializer = saved


# -- patches out ---------------------------------------------------------------------------
class LazySerializer(Serializer):
    """Bokeh's serializer, with references made on demand.

    Panel's `_process_document_events` hands Bokeh a set of every model the
    page already has, and Bokeh builds a reference for each of them (about
    700 here) on every patch, while a step's patch names a handful. Same
    rule, asked per model: one of this document's, not new since the last
    patch."""

    def __init__(self, doc: Document) -> None:
        super().__init__()
        self._doc, self._new = doc, doc.models._new_models

    def get_ref(self, obj: Any) -> Any:
        ref = self._references.get(id(obj))
        if (ref is None and isinstance(obj, Model) and obj.document is self._doc
                and obj not in self._new):
            ref = self._references[id(obj)] = obj.ref
        return ref

    def has_ref(self, obj: Any) -> bool:
        return self.get_ref(obj) is not None

    def _encode_list(self, obj: list[Any]) -> Any:
        """A list of plain strings and finite numbers encodes as itself.

        Bokeh encodes a list item by item through every type check; a
        step's columns are such lists (labels, bar heights), and that walk
        was a third of the patch's encoding. Anything else (NaN, infinity,
        huge ints, nested values, registered encoders) takes Bokeh's way."""
        if self._encoders.keys().isdisjoint(_PLAIN):
            for x in obj:
                kind = type(x)
                if kind is str or (kind is float and x - x == 0.0) or (
                        kind is int and -_MAX_SAFE_INT < x <= _MAX_SAFE_INT):
                    continue
                break
            else:
                return list(obj)
        return super()._encode_list(obj)


_PLAIN = (str, float, int)
_MAX_SAFE_INT = 2**53 - 1


def _buffer_ref(obj: Any) -> Any:
    if isinstance(obj, Buffer):
        return obj.ref
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def encode_patch(doc: Document, events: list[DocumentPatchedEvent],
                 lazy: bool = True, record: bool = True) -> tuple[str, dict[str, bytes]]:
    """The JSON text and binary buffers of a patch, as Panel's
    `_process_document_events` + `_serialize_buffers` + `json.dumps` give
    them. Buffers become `{"id": ...}` in json's C encoder (the `default`
    hook) instead of a Python walk over every list in the patch.

    `lazy=False` encodes the way Panel and Bokeh do (the tests' reference)
    and leaves the document's record of what the page has untouched;
    `record=False` leaves it untouched too (a foreseen patch the page may
    never apply, `Link.foresee`)."""
    if lazy:
        serializer: Serializer = LazySerializer(doc)
    else:
        serializer = Serializer(references=doc.models.synced_references)
    patch = {"events": serializer.encode(events)}
    buffers = {b.id: b.to_bytes() for b in serializer.buffers}
    if lazy:
        if record:
            doc.models.flush_synced(lambda model: not serializer.has_ref(model))
    elif (panel_walk := _panel_serialize_buffers()) is not None:
        return json.dumps(panel_walk(patch, buffers=buffers), separators=(",", ":")), buffers
    return json.dumps(patch, separators=(",", ":"), default=_buffer_ref), buffers


def _panel_serialize_buffers() -> Callable[..., Any] | None:
    try:
        from panel.io.pyodide import _serialize_buffers
    except ImportError:  # CPython: panel.io.pyodide needs the browser's `js`
        return None
    return _serialize_buffers


def comparable(text: str, buffers: dict[str, bytes]) -> str:
    """A patch with each buffer reference replaced by the buffer's bytes: a
    buffer gets a fresh id each time it is encoded."""
    def resolve(obj: Any) -> Any:
        if isinstance(obj, dict):
            if obj.keys() == {"id"} and obj["id"] in buffers:
                return buffers[obj["id"]].hex()
            return {k: resolve(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [resolve(v) for v in obj]
        return obj
    return json.dumps(resolve(json.loads(text)), sort_keys=True)


# -- foresight: a grid of slider values ---------------------------------------------------
# (model id, attribute): what one event of a patch sets on the page.
Key = tuple[str, str]
# How many values a grid works out either side of the slider's value. A key
# press steps one, PageUp five (noUiSlider's page multiplier), and a held
# key runs ahead of Python on the full page (a step there costs about
# 25 ms in Pyodide, a foreseen value two steps).
GRID_REACH = 8
# Grids Python dropped whose keys it still knows, for a page that applied
# some of their patches before it heard (Link.apply's resync).
STALE_KEPT = 16


@dataclasses.dataclass(eq=False)
class Grid:
    """Patches for values of one slider, all worked out from one state (the
    anchor), each giving the full value of every attribute it sets. The
    page applies any of them, in any order, after putting back the anchor's
    value of whatever the previous one set and this one does not: every
    value Python worked out is one task away, however the reader got there
    (a key held down, PageUp, back and forth)."""

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


def event_key(event: DocumentPatchedEvent) -> Key | None:
    """What a change event sets (None for the kinds a grid does not carry:
    roots, titles, messages)."""
    if isinstance(event, (ModelChangedEvent, ColumnDataChangedEvent, ColumnsPatchedEvent,
                          ColumnsStreamedEvent)):
        return (event.model.id, event.attr)
    return None


def full_events(doc: Document, models: dict[Key, Model]) -> list[DocumentPatchedEvent]:
    """Events setting each key to its whole current value. A data source's
    goes as ColumnDataChanged, which BokehJS applies without comparing the
    new columns with the old (a ModelChanged would)."""
    out: list[DocumentPatchedEvent] = []
    for (_, attr), model in models.items():
        if attr == "data" and isinstance(model, ColumnDataSource):
            out.append(ColumnDataChangedEvent(doc, model, "data"))
        else:
            out.append(ModelChangedEvent(doc, model, attr, getattr(model, attr)))
    return out


_BUFFER_REF = re.compile(r'\{"id":"([^"]+)"\}')


def per_key(text: str, buffers: dict[str, bytes]) -> dict[Key, str]:
    """Each event of an encoded patch as comparable text, by what it sets;
    buffer references become the buffers' bytes (a buffer gets a fresh id
    each time it is encoded)."""
    def inline(match: re.Match[str]) -> str:
        data = buffers.get(match[1])
        return match[0] if data is None else '"' + data.hex() + '"'

    out: dict[Key, str] = {}
    for event in json.loads(text)["events"]:
        body = json.dumps(event, sort_keys=True, separators=(",", ":"))
        out[(event["model"]["id"], event["attr"])] = _BUFFER_REF.sub(inline, body)
    return out


class Link:
    """Queues the document events one change of the reader's causes and sends
    them as one patch (Panel's own link posts one message per event, so a
    step that redraws five plots made the page repaint five times).

    `check=True` (the tests' `wflCheckPatches`) also encodes every patch the
    way Panel and Bokeh do and raises if the JSON differs."""

    def __init__(self, doc: Document, send: Send, check: bool = False,
                 foresee: Foresee | None = None) -> None:
        self.doc, self.send, self.check, self.foresee_to = doc, send, check, foresee
        self.pending: list[DocumentPatchedEvent] = []
        self.batching = False
        self.applied = 0  # patches from the page (the worker counts them too)
        self.grids = 0
        # Foresight (see `foresee`): the grid being worked out, the keys of
        # grids dropped, sliders too slow to foresee, and what the flush
        # under way is to do instead of sending its events as they are.
        self.grid: Grid | None = None
        self.stale: dict[int, dict[Key, Model]] = {}
        self.slow: dict[str, int] = {}  # slider id: times a foreseen value was slow
        self._confirm_hit: tuple[Grid, float] | None = None
        self._resync: dict[Key, Model] | None = None
        doc.on_change(self.on_change)

    def on_change(self, event: DocumentPatchedEvent) -> None:
        if getattr(event, "setter", None) == "js":
            return
        self.pending.append(event)
        if not self.batching:
            self.flush()

    @contextlib.contextmanager
    def batch(self, later: bool = False) -> Iterator[None]:
        """Send the events of this block as one patch on leaving it; `later`
        marks it for the page to apply after its next frame."""
        self.batching = True
        try:
            yield
        finally:
            self.batching = False
            self.flush(later)

    def flush(self, later: bool = False) -> None:
        events, self.pending = self.pending, []
        hit, self._confirm_hit = self._confirm_hit, None
        resync, self._resync = self._resync, None
        if hit is not None:
            grid, value = hit
            if self._confirm(grid, value, events):
                return  # the page shows this very state: it applied the grid's patch
            resync = {**grid.models, **{k: e.model for e in events
                                        if (k := event_key(e)) is not None}}
            self._drop_grid()
        if resync:
            events = events + full_events(self.doc, resync)
        if not events:
            return
        if self.check:
            ref_text, ref_buffers = encode_patch(self.doc, events, lazy=False)
        text, buffers = encode_patch(self.doc, events)
        if self.check and comparable(text, buffers) != comparable(ref_text, ref_buffers):
            raise RuntimeError("patch encoding differs from Bokeh's")
        self.send(text, buffers, later)
        if not later:  # the page drops its grid on any patch with figures: so does Python
            self._drop_grid()

    def apply(self, patch: Any, foreseen: float | None = None, grid: int | None = None) -> None:
        """Apply one patch from the page (a `panel.io.pyodide` Serialized
        or a plain dict) and send everything it redrew as one patch; then do
        what waited for that (`app.common.after_redraw`: the URL) and send
        its changes as a patch marked `later`. Writing the address bar cost
        the page about a millisecond of each step, before the plots.

        `grid`: the page has applied patches of the grid with this id since
        its anchor; `foreseen`: this patch moves that grid's slider
        to this value, whose grid patch the page applied when the key was
        pressed. Python checks that its own state now matches what the page
        shows and sends nothing more if so; otherwise, or for any other
        patch from a page that applied grid patches Python no longer
        vouches for, it sends the whole value of everything that grid set."""
        from app.common import hold_after_redraw, run_after_redraw

        self.applied += 1
        current = self.grid
        hit = (grid is not None and foreseen is not None and current is not None
               and current.id == grid and foreseen in current.patches
               and moved_slider(self.doc, patch, drag=True) is current.slider)
        if hit:
            assert current is not None and foreseen is not None
            self._confirm_hit = (current, foreseen)
            came_from = current.here
        else:
            if grid is not None:
                self._resync = self._grid_keys(grid)
            self._drop_grid()
        start = time.perf_counter()
        hold_after_redraw()
        try:
            with self.batch(), one_event_per_widget(), deserializing_from(self.doc):
                self.doc.apply_json_patch(patch, setter="js")
        finally:  # the batch's flush has used (and cleared) the hit and the resync
            self._confirm_hit = self._resync = None
            with self.batch(later=True):
                run_after_redraw()
        took = time.perf_counter() - start
        if hit and self.grid is current:  # checked: go on from here
            assert current is not None and foreseen is not None
            current.direction = int(np.sign(foreseen - came_from))
            self._plan(current)
            return
        # Each value foreseen costs two steps (there and back), and a change
        # the reader makes meanwhile waits for the one under way: a slider
        # whose step is slow (section 7's number of vectors, about 70 ms in
        # Pyodide) is not foreseen.
        slider = moved_slider(self.doc, patch)
        if slider is not None and self.foresee_to is not None and took <= FORESEE_MAX_S:
            self._start_grid(slider)

    def focus(self, model_id: str) -> bool:
        """The reader is on this slider (its handle has focus, or the
        pointer is over it): work out its grid before the first press.
        Returns whether there is anything to foresee."""
        model = self.doc.get_model_by_id(model_id)
        if (self.foresee_to is None or not _foreseeable(model)
                or self.slow.get(model_id, 0) >= 2):
            return False
        assert isinstance(model, Slider)
        if self.grid is None or self.grid.slider is not model:
            self._start_grid(model)
        return self.grid is not None and bool(self.grid.to_foresee)

    # -- foresight ----------------------------------------------------------------------
    def foresee(self) -> bool:
        """Work out one more value of the grid (the patch of a step from
        the anchor to it, as the whole value of everything it sets), send it
        to the page with `foresee_to`, and undo the step here. Returns
        whether more are left.

        A slider step waits for the worker (Panel, the sections, toycore:
        about 20 ms in Pyodide) and then for the next frame; worked out
        while the reader is still looking, the page applies a foreseen
        step's patch in the key press's own task, even while Python is busy
        with the step before (a key held down). The page still sends the
        step, Python still makes it and checks that it came out the same
        (`apply`). The worker calls this between messages, one value per
        task, so a change the reader makes is never kept waiting by more
        than one of these."""
        grid = self.grid
        if grid is None or not grid.to_foresee or self.foresee_to is None:
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
        if time.perf_counter() - start > 2 * FORESEE_MAX_S:
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

    def _confirm(self, grid: Grid, value: float, events: list[DocumentPatchedEvent]) -> bool:
        """Whether Python's state after the step matches what the page shows
        having applied the grid's patch for `value`: that patch's values
        where it set something, the anchor's elsewhere. Compared are the
        keys this step changed, that patch set, and the previous one set."""
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
        self._drop_grid()
        self.grids += 1
        self.grid = Grid(id=self.grids, seq=self.applied, slider=slider, here=slider.value)
        self._plan(self.grid)

    def _drop_grid(self) -> None:
        if self.grid is not None:
            self.stale[self.grid.id] = self.grid.models
            while len(self.stale) > STALE_KEPT:
                del self.stale[next(iter(self.stale))]
        self.grid = None

    def _grid_keys(self, grid_id: int) -> dict[Key, Model]:
        """Everything the grid `grid_id` set, for a page that applied its
        patches; if Python has forgotten that grid, every data source and
        text (what a grid sets)."""
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
        """Apply a patch from the page here, without sending anything, and
        return what it changed (None if it made a model, or changed
        something a grid does not carry: such a step is not foreseen)."""
        from app.common import drop_after_redraw, hold_after_redraw

        hold_after_redraw()
        self.batching = True
        try:
            with one_event_per_widget(), deserializing_from(self.doc):
                self.doc.apply_json_patch(patch, setter="js")
            events = self.pending
        finally:
            self.batching = False
            self.pending = []
            drop_after_redraw()
        return self._changed(events)

    def _changed(self, events: list[DocumentPatchedEvent]) -> dict[Key, Model] | None:
        """What these events set, by key; None if one is of a kind a grid
        does not carry, or the change made a model (the page has not got it)."""
        if self.doc.models._new_models:
            return None
        changed: dict[Key, Model] = {}
        for event in events:
            key = event_key(event)
            if key is None:
                return None
            changed[key] = event.model
        return changed

    def resync(self) -> None:
        """Send every data source's data: the page kept its prerendered
        snapshot, whose numbers came from the build's numpy, not this one."""
        with self.batch():
            for model in list(self.doc.models):
                if isinstance(model, ColumnDataSource):
                    self.doc.callbacks.trigger_on_change(
                        ModelChangedEvent(self.doc, model, "data", model.data))


def _foreseeable(model: Any) -> bool:
    """A slider with a number for its value, not marked NOT_FORESEEN (its
    step does more than redraw)."""
    from app.common import NOT_FORESEEN

    value = getattr(model, "value", None)
    return (isinstance(model, Slider) and isinstance(value, (int, float))
            and not isinstance(value, bool) and NOT_FORESEEN not in model.css_classes)


def moved_slider(doc: Document, patch: Any, drag: bool = False) -> Slider | None:
    """The slider a key press moved, if that is all the patch from the page
    did. A key press sets `value` and `value_throttled` together; a drag
    sets only `value` until the mouse is let go (`drag=True` takes that, or
    the release's `value_throttled`, too). A drag does not start a grid:
    its next position is anyone's guess, and the foresight would keep it
    waiting."""
    content = getattr(patch, "content", patch)  # panel.io.pyodide's Serialized, or a dict
    events = content.get("events", []) if isinstance(content, dict) else []
    ids = {e.get("model", {}).get("id") for e in events if e.get("kind") == "ModelChanged"}
    attrs = {e.get("attr") for e in events}
    allowed = ({"value"}, {"value_throttled"}) if drag else ()
    if len(ids) != 1 or (attrs != {"value", "value_throttled"} and attrs not in allowed) \
            or any(e.get("kind") != "ModelChanged" for e in events):
        return None
    model = doc.get_model_by_id(ids.pop())
    return model if _foreseeable(model) else None


def grid_values(slider: Slider, direction: int = 0) -> list[float]:
    """The values up to GRID_REACH key presses away (the arrow keys step by
    `step`), in range, nearest first and further ahead the way the slider
    last moved; rounded to the step's decimals (and two more): the page's
    slider adds in floats (-0.9499999999999997), and on a foreseen press
    the page sends Python the value foreseen here instead."""
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
