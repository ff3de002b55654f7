"""Patches as text: what one change sends to the page, and how two patches
are compared (the tests' check, and foresight's).

A patch goes out as JSON text plus its binary buffers by id: a string
crosses into JavaScript far faster than a nested dict converts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bokeh.core.serialization import Buffer, Serializer
from bokeh.document import Document
from bokeh.document.events import (
    ColumnDataChangedEvent,
    ColumnsPatchedEvent,
    ColumnsStreamedEvent,
    DocumentPatchedEvent,
    ModelChangedEvent,
)
from bokeh.model import Model
from bokeh.models import ColumnDataSource

from app.worker import tuning

# (model id, attribute): what one event of a patch sets on the page.
Key = tuple[str, str]


def _buffer_ref(obj: Any) -> Any:
    if isinstance(obj, Buffer):
        return obj.ref
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def encode_patch(doc: Document, events: list[DocumentPatchedEvent],
                 lazy: bool = True, record: bool = True) -> tuple[str, dict[str, bytes]]:
    """The JSON text and binary buffers of a patch, as Panel's pyodide link
    makes them. Buffers become `{"id": ...}` in json's C encoder (the
    `default` hook) rather than in a Python walk over the patch.

    `lazy=False` encodes exactly the way Panel and Bokeh do (the tests'
    reference) and leaves the document's record of what the page has
    untouched; `record=False` leaves it untouched too (a foreseen patch the
    page may never apply)."""
    s: Serializer = tuning.serializer(doc) if lazy else Serializer(
        references=doc.models.synced_references)
    patch = {"events": s.encode(events)}
    buffers = {b.id: b.to_bytes() for b in s.buffers}
    if lazy:
        if record:
            doc.models.flush_synced(lambda model: not s.has_ref(model))
    elif (panel_walk := tuning.panel_buffer_walk()) is not None:
        return json.dumps(panel_walk(patch, buffers=buffers), separators=(",", ":")), buffers
    return json.dumps(patch, separators=(",", ":"), default=_buffer_ref), buffers


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


_BUFFER_REF = re.compile(r'\{"id":"([^"]+)"\}')


def per_key(text: str, buffers: dict[str, bytes]) -> dict[Key, str]:
    """Each event of an encoded patch as comparable text, by what it sets."""
    def inline(match: re.Match[str]) -> str:
        data = buffers.get(match[1])
        return match[0] if data is None else '"' + data.hex() + '"'

    out: dict[Key, str] = {}
    for event in json.loads(text)["events"]:
        body = json.dumps(event, sort_keys=True, separators=(",", ":"))
        out[(event["model"]["id"], event["attr"])] = _BUFFER_REF.sub(inline, body)
    return out


def event_key(event: DocumentPatchedEvent) -> Key | None:
    """What a change event sets (None for the kinds that set no one
    attribute: roots, titles, messages)."""
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
