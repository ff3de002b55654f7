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
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import param
from bokeh.core.serialization import Buffer, Deserializer, Serializer
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent, ModelChangedEvent
from bokeh.model import Model
from bokeh.models import ColumnDataSource, Slider

# send(JSON text, buffers by id, later): `later` marks a patch the page may
# apply after its next frame (nothing on it is drawn: the address bar).
Send = Callable[[str, dict[str, bytes], bool], None]
# foresee(JSON text, buffers by id, slider model id, value): the patch one
# key press on that slider would bring, worked out ahead (Link.foresee).
Foresee = Callable[[str, dict[str, bytes], str, float], None]
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
    if lazy and record:
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
        # Foresight (see `foresee`): the slider the last patch moved, the
        # values still to work out, and the patches worked out, by value.
        self.slider: Slider | None = None
        self.to_foresee: list[float] = []
        self.foreseen: dict[float, str] = {}
        self.expect: str | None = None  # the page already applied this patch
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
        expect, self.expect = self.expect, None
        if not events:
            return
        if self.check:
            ref_text, ref_buffers = encode_patch(self.doc, events, lazy=False)
        text, buffers = encode_patch(self.doc, events)
        if self.check and comparable(text, buffers) != comparable(ref_text, ref_buffers):
            raise RuntimeError("patch encoding differs from Bokeh's")
        if expect is not None and comparable(text, buffers) == expect:
            return  # the page applied this very patch when the key was pressed
        self.send(text, buffers, later)

    def apply(self, patch: Any, foreseen: float | None = None) -> None:
        """Apply one patch from the page (a `panel.io.pyodide` Serialized
        or a plain dict) and send everything it redrew as one patch; then do
        what waited for that (`app.common.after_redraw`: the URL) and send
        its changes as a patch marked `later`. Writing the address bar cost
        the page about a millisecond of each step, before the plots.

        `foreseen`: the page applied the patch `foresee` worked out for this
        slider value when the key was pressed; if this step's patch is the
        same, it is not sent again."""
        from app.common import hold_after_redraw, run_after_redraw

        self.expect = self.foreseen.get(foreseen) if foreseen is not None else None
        self.foreseen, self.to_foresee = {}, []
        start = time.perf_counter()
        hold_after_redraw()
        try:
            with self.batch(), one_event_per_widget(), deserializing_from(self.doc):
                self.doc.apply_json_patch(patch, setter="js")
        finally:  # the batch's flush has used (and cleared) `expect`
            with self.batch(later=True):
                run_after_redraw()
        self.slider = moved_slider(self.doc, patch)
        # Each value foreseen costs two steps (there and back), and a change
        # the reader makes meanwhile waits for the one under way: a slider
        # whose step is slow (section 7's number of vectors, about 70 ms in
        # Pyodide) is not foreseen.
        took = time.perf_counter() - start
        if self.slider is not None and self.foresee_to is not None and took <= FORESEE_MAX_S:
            self.to_foresee = neighbours(self.slider)

    # -- foresight ----------------------------------------------------------------------
    def foresee(self) -> bool:
        """Work out the patch of one more key press on the slider the last
        patch moved (a step either way), send it to the page with
        `foresee_to`, and undo it here. Returns whether more are left.

        A slider step waits for the worker (Panel, the sections, toycore:
        about 20 ms in Pyodide) and then for the next frame; worked out
        while the reader is still looking, the page applies a foreseen
        step's patch in the key press's own task. The page still sends
        the step, Python still makes it, and the same patch is not sent
        twice (`apply`'s `foreseen`); a step that was not foreseen goes
        the usual way. The worker calls this between messages, one value
        per task, so a change the reader makes is never kept waiting by
        more than one of these."""
        if not self.to_foresee or self.slider is None or self.foresee_to is None:
            return False
        slider, value = self.slider, self.to_foresee.pop(0)
        here = {"value": slider.value, "value_throttled": slider.value_throttled}
        forward = slider_patch(slider, {"value": value, "value_throttled": value})
        try:
            result = self._capture(forward, keep=True)
        finally:
            self._capture(slider_patch(slider, here), keep=False)
        if result is not None:
            text, buffers = result
            self.foreseen[value] = comparable(text, buffers)
            self.foresee_to(text, buffers, slider.id, value)
        return bool(self.to_foresee)

    def _capture(self, patch: dict, keep: bool) -> tuple[str, dict[str, bytes]] | None:
        """Apply a patch from the page here and return the patch it would
        send, without sending it, and without recording that the page has
        any new model (None if the change made one: such a step is not
        foreseen)."""
        from app.common import drop_after_redraw, hold_after_redraw

        hold_after_redraw()
        self.batching = True
        try:
            with one_event_per_widget(), deserializing_from(self.doc):
                self.doc.apply_json_patch(patch, setter="js")
            events, self.pending = self.pending, []
        finally:
            self.batching = False
            self.pending = []
            drop_after_redraw()
        if not keep or not events or self.doc.models._new_models:
            return None
        return encode_patch(self.doc, events, record=False)

    def resync(self) -> None:
        """Send every data source's data: the page kept its prerendered
        snapshot, whose numbers came from the build's numpy, not this one."""
        with self.batch():
            for model in list(self.doc.models):
                if isinstance(model, ColumnDataSource):
                    self.doc.callbacks.trigger_on_change(
                        ModelChangedEvent(self.doc, model, "data", model.data))


def moved_slider(doc: Document, patch: Any) -> Slider | None:
    """The slider a key press moved, if that is all the patch from the page
    did. A key press sets `value` and `value_throttled` together; a drag
    sets only `value` until the mouse is let go, and is not foreseen: its
    next position is anyone's guess, and the foresight would keep it
    waiting."""
    content = getattr(patch, "content", patch)  # panel.io.pyodide's Serialized, or a dict
    events = content.get("events", []) if isinstance(content, dict) else []
    ids = {e.get("model", {}).get("id") for e in events if e.get("kind") == "ModelChanged"}
    attrs = {e.get("attr") for e in events}
    if len(ids) != 1 or attrs != {"value", "value_throttled"} \
            or any(e.get("kind") != "ModelChanged" for e in events):
        return None
    model = doc.get_model_by_id(ids.pop())
    numeric = isinstance(getattr(model, "value", None), (int, float)) \
        and not isinstance(model.value, bool)
    return model if isinstance(model, Slider) and numeric else None


def neighbours(slider: Slider) -> list[float]:
    """The values one key press away (the arrow keys step by `step`), in
    range, rounded to the step's decimals (and two more): the page's slider
    adds in floats (-0.9499999999999997), and on a foreseen press the page
    sends Python the value foreseen here instead."""
    step = float(slider.step)
    if not step > 0:
        return []
    decimals = max(0, -int(np.floor(np.log10(step)))) + 2 if step < 1 else 2
    out = []
    for sign in (1, -1):
        value = round(float(slider.value) + sign * step, decimals)
        if slider.start - 1e-9 <= value <= slider.end + 1e-9:
            out.append(int(value) if isinstance(slider.value, int) and value.is_integer()
                       else value)
    return out


def slider_patch(slider: Slider, attrs: dict[str, Any]) -> dict:
    """A patch as the page sends it when the reader moves this slider."""
    ref = {"id": slider.id}
    return {"events": [{"kind": "ModelChanged", "model": ref, "attr": k, "new": v}
                       for k, v in attrs.items()]}

