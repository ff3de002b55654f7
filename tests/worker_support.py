"""Shared by the worker's CPython tests: a link on a real Panel document."""

from __future__ import annotations

import json

import panel as pn
from bokeh.document import Document

from app.worker import foresight
from app.worker.link import Link
from build import versions

PINS = {"panel": versions.PANEL_VERSION, "bokeh": versions.BOKEH_VERSION}


class Sent:
    def __init__(self) -> None:
        self.patches: list[tuple[dict, dict[str, bytes]]] = []
        self.later: list[bool] = []

    def __call__(self, text: str, buffers: dict[str, bytes], later: bool) -> None:
        self.patches.append((json.loads(text), buffers))
        self.later.append(later)


def linked(obj: pn.viewable.Viewable, *extra: object, check: bool = True,
           foresee: foresight.Foresee | None = None) -> tuple[Document, object, Sent, Link]:
    doc = Document()
    root = obj.get_root(doc)
    doc.add_root(root)
    for model in extra:
        doc.add_root(model)
    sent = Sent()
    link = Link(doc, sent, check=check)
    if foresee is not None:
        foresight.Foresight(link, foresee)
    doc.models.flush_synced()  # the page has the document already
    return doc, root, sent, link


def slider_step(model_id: str, value: float) -> dict:
    """What the page sends for one key press on a slider."""
    ref = {"id": model_id}
    return {"events": [
        {"kind": "ModelChanged", "model": ref, "attr": "value", "new": value},
        {"kind": "ModelChanged", "model": ref, "attr": "value_throttled", "new": value},
    ]}
