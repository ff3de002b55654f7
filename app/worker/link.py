"""The link between the page's Bokeh document and Python's.

A reader's change arrives as one patch from the page; `Link.apply` applies
it and sends everything it redrew back as one patch (Panel's own pyodide
link posts one message per document event, so a step that redraws five
plots made the page repaint five times). Then it runs what waited for the
redraw (`app.common.after_redraw`: the address bar) and sends that in a
patch marked `later`, which the page applies after its next frame.

Pure Python (no `js` or `pyodide` import): CPython tests drive it with a
real Panel document, and the worker hands in a `send` that moves the text
and buffers to the page.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent, ModelChangedEvent
from bokeh.model import Model
from bokeh.models import ColumnDataSource

from app.worker import tuning
from app.worker.encoding import Key, comparable, encode_patch, full_events

if TYPE_CHECKING:
    from app.worker.foresight import Foresight

# What a flush does with a step's events instead of sending them: None if the
# page already shows that state (a confirmed foreseen value), else what to
# resend whole (app/worker/foresight.py).
Confirm = Callable[[list[DocumentPatchedEvent]], "dict[Key, Model] | None"]
# send(JSON text, buffers by id, later): `later` marks a patch the page may
# apply after its next frame (nothing on it is drawn: the address bar).
Send = Callable[[str, dict[str, bytes], bool], None]


class Link:
    """Queues the document events one change of the reader's causes and
    sends them as one patch.

    `check=True` (the tests' `wflCheckPatches`) also encodes every patch the
    way Panel and Bokeh do and raises if the JSON differs. `foresight`, if
    given, works out slider steps ahead (app/worker/foresight.py)."""

    def __init__(self, doc: Document, send: Send, check: bool = False) -> None:
        self.doc, self.send, self.check = doc, send, check
        self.pending: list[DocumentPatchedEvent] = []
        self.batching = False
        self.applied = 0  # patches from the page (the page counts them too)
        self.foresight: Foresight | None = None
        # What the flush under way does instead of sending its events as
        # they are: the foresight's confirmation, or keys to send whole.
        self._confirm: Confirm | None = None
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
        confirm, self._confirm = self._confirm, None
        resync, self._resync = self._resync, None
        if confirm is not None:
            differs = confirm(events)
            if differs is None:
                return  # the page already shows this very state
            resync = differs
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
        if not later and self.foresight is not None:
            self.foresight.drop()  # the page drops its grid on any patch with figures

    def apply(self, patch: Any, foreseen: float | None = None, grid: int | None = None) -> None:
        """Apply one patch from the page (a `panel.io.pyodide` Serialized or
        a plain dict) and send what it redrew as one patch, then what waited
        for the redraw as a patch marked `later`.

        `grid` and `foreseen` say the page applied foreseen patches of that
        grid, the last one for this value (app/worker/foresight.py)."""
        from app.common import hold_after_redraw, run_after_redraw

        self.applied += 1
        ahead = self.foresight
        if ahead is not None:
            self._confirm, self._resync = ahead.before_step(patch, foreseen, grid)
        start = time.perf_counter()
        hold_after_redraw()
        try:
            with self.batch(), tuning.one_event_per_widget(), tuning.deserializing_from(self.doc):
                self.doc.apply_json_patch(patch, setter="js")
        finally:  # the batch's flush has used (and cleared) these
            self._confirm = self._resync = None
            with self.batch(later=True):
                run_after_redraw()
        if ahead is not None:
            ahead.after_step(patch, time.perf_counter() - start)

    def capture(self, patch: dict) -> list[DocumentPatchedEvent]:
        """Apply a patch from the page here without sending anything, and
        return the events it caused (foresight's trial steps)."""
        from app.common import drop_after_redraw, hold_after_redraw

        hold_after_redraw()
        self.batching = True
        try:
            with tuning.one_event_per_widget(), tuning.deserializing_from(self.doc):
                self.doc.apply_json_patch(patch, setter="js")
            return self.pending
        finally:
            self.batching = False
            self.pending = []
            drop_after_redraw()

    def resync(self) -> None:
        """Send every data source's data: the page kept its prerendered
        snapshot, whose numbers came from the build's numpy, not this one."""
        with self.batch():
            for model in list(self.doc.models):
                if isinstance(model, ColumnDataSource):
                    self.doc.callbacks.trigger_on_change(
                        ModelChangedEvent(self.doc, model, "data", model.data))
