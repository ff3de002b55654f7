"""The worker's Python link (app/worker/link.py, encoding.py) on a real Panel
document in CPython: the same code the browser runs, minus the `js` module."""

from __future__ import annotations

import json

import numpy as np
import panel as pn
import panel.util.parameters
import param
import pytest
from bokeh.core.serialization import Deserializer
from bokeh.document import Document
from bokeh.models import ColumnDataSource
from bokeh.util.warnings import BokehUserWarning
from worker_support import Sent, linked, slider_step

from app.worker import encoding, tuning
from app.worker.link import Link

pytestmark = pytest.mark.usefixtures("patient")


def test_edit_readonly_behaves_like_panels() -> None:
    """Same values, same flags afterwards, instance and class, as Panel's
    own (param copies a parameter onto the instance when it is set, so not
    everything is restored: that quirk is Panel's and kept)."""
    def outcome(edit) -> tuple:
        class P(param.Parameterized):
            a = param.Number(1, readonly=True)
            b = param.Number(2, constant=True)
            c = param.Number(3)
            d = param.Number(4, readonly=True)

        p = P()
        with edit(p):
            p.a, p.b, p.c = 10, 20, 30
        flags = lambda ps: {k: (o.readonly, o.constant) for k, o in ps.items()}  # noqa: E731
        with pytest.raises(TypeError):
            p.d = 5  # never touched inside: still read-only
        return (p.a, p.b, p.c, flags(p.param.objects("existing")), flags(P.param.objects()))

    assert outcome(tuning.edit_readonly) == outcome(panel.util.parameters.edit_readonly)


def test_a_slider_step_is_one_event_one_patch(tuned: None) -> None:
    slider = pn.widgets.FloatSlider(start=-3, end=3, step=0.1, value=-1.0)
    src = ColumnDataSource({"x": [0.0]})
    calls: list[dict] = []
    seen: list[float] = []
    original = slider._process_events

    def counting(events: dict) -> None:
        calls.append(dict(events))
        original(events)

    slider._process_events = counting

    def redraw(event: param.parameterized.Event) -> None:
        seen.append(event.new)
        src.data.update({"x": [event.new * 2]})

    slider.param.watch(redraw, "value")
    doc, root, sent, link = linked(slider, src)
    link.apply(slider_step(root.id, -0.9))
    # Panel processed value and value_throttled together, once.
    assert calls == [{"value": -0.9, "value_throttled": -0.9}]
    assert seen == [-0.9] and slider.value == slider.value_throttled == -0.9
    # Everything the step changed went back as one patch, without echoing
    # the page's own change.
    assert len(sent.patches) == 1
    events = sent.patches[0][0]["events"]
    assert [e["kind"] for e in events] == ["ColumnDataChanged"]
    assert events[0]["data"]["entries"][0][1] == [-1.8]


def test_without_the_link_panel_processes_as_before(tuned: None) -> None:
    """Outside Link.apply (Python-side changes, other documents) the tuned
    `_server_change` hands over to Panel's own."""
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.0)
    doc = Document()
    model = slider.get_root(doc)
    doc.add_root(model)
    model.value = 0.5  # a browser-side change arriving outside any patch
    assert slider.value == 0.5
    slider.value = 0.2  # Python to model
    assert model.value == 0.2


def test_widgets_changed_in_one_patch_process_in_order(tuned: None) -> None:
    a = pn.widgets.FloatSlider(start=0, end=1, value=0.0)
    b = pn.widgets.FloatSlider(start=0, end=1, value=0.0)
    order: list[str] = []
    a.param.watch(lambda e: order.append("a"), "value")
    b.param.watch(lambda e: order.append("b"), "value")
    doc, root, sent, link = linked(pn.Column(b, a))
    ma = a._models[root.ref["id"]][0]
    mb = b._models[root.ref["id"]][0]
    link.apply({"events": [
        {"kind": "ModelChanged", "model": {"id": ma.id}, "attr": "value", "new": 0.3},
        {"kind": "ModelChanged", "model": {"id": mb.id}, "attr": "value", "new": 0.6},
    ]})
    assert order == ["a", "b"] and (a.value, b.value) == (0.3, 0.6)


def test_an_error_in_a_callback_still_flushes_and_frees_the_link(tuned: None) -> None:
    slider = pn.widgets.FloatSlider(start=0, end=1, value=0.0)
    other = ColumnDataSource({"y": [1]})

    def bad(event: param.parameterized.Event) -> None:
        other.data.update({"y": [2]})
        if event.new == 0.5:
            raise ValueError("boom")

    slider.param.watch(bad, "value")
    doc, root, sent, link = linked(slider, other)
    with pytest.raises(ValueError, match="boom"):  # as Panel raises it, with no handler set
        link.apply(slider_step(root.id, 0.5))
    assert not tuning.collecting() and not link.batching
    assert len(sent.patches) == 1  # the change made before the error still went out
    link.apply(slider_step(root.id, 0.7))
    assert slider.value == 0.7


def test_encoding_matches_bokehs_with_buffers_and_new_models() -> None:
    src = ColumnDataSource({"img": [np.arange(12.0).reshape(3, 4)], "s": ["a"]})
    doc = Document()
    doc.add_root(src)
    doc.models.flush_synced()
    sent = Sent()
    link = Link(doc, sent, check=True)  # raises if the two encodings differ
    with link.batch():
        src.data = {"img": [np.ones((2, 2))], "s": ["b"]}
        doc.add_root(ColumnDataSource({"z": [1, 2]}))  # a model the page lacks
    # Lists of plain values take a shortcut; these must not (Bokeh spells
    # them out or warns): NaN, infinities, an int past 2**53, tuples, None.
    odd = {"f": [1.5, float("nan"), float("inf"), -float("inf")], "i": [1, 2, 3, 2**60],
           "t": [("a", "b"), ("c", "d"), (), ("e",)], "n": [None, 1.0, 2.0, 3.0],
           "ok": [0.5, -2, "x", 1e300]}
    with pytest.warns(BokehUserWarning, match="out of range integer"), link.batch():
        doc.add_root(ColumnDataSource(odd))
    odd_patch = sent.patches.pop()[0]
    entries = dict(odd_patch["events"][0]["model"]["attributes"]["data"]["entries"])
    assert entries["f"][1] == {"type": "number", "value": "nan"}
    assert entries["f"][2] == {"type": "number", "value": "+inf"}
    assert entries["i"][3] == float(2**60)
    assert entries["ok"] == [0.5, -2, "x", 1e300]
    assert entries["t"] == [["a", "b"], ["c", "d"], [], ["e"]]
    (patch, buffers), = sent.patches
    text = json.dumps(patch)
    ref_text, ref_buffers = encoding.encode_patch(doc, [], lazy=False)
    assert ref_buffers == {}
    # the image travels as a buffer referenced by id, the new model in full
    [buf_id] = buffers
    assert f'{{"id": "{buf_id}"}}' in text
    assert np.frombuffer(buffers[buf_id], dtype=np.float64).tolist() == [1.0] * 4
    assert '"z"' in text


def test_the_address_bar_follows_in_its_own_patch(tuned: None) -> None:
    """The URL (Panel's Location) goes after what is drawn, marked `later`
    so the page can apply it after the frame."""
    from panel.io.location import Location

    from app.common import after_redraw

    slider = pn.widgets.FloatSlider(start=0, end=1, value=0.0)
    src = ColumnDataSource({"x": [0.0]})
    loc = Location()
    doc = Document()
    root = slider.get_root(doc)
    doc.add_root(root)
    doc.add_root(src)
    doc.add_root(loc.get_root(doc))
    doc.models.flush_synced()

    def moved(event: param.parameterized.Event) -> None:
        # app.main's URL write, waiting for the redraw as it does there
        after_redraw("url", lambda: setattr(loc, "search", f"?v={event.new}"))
        src.data.update({"x": [event.new]})

    slider.param.watch(moved, "value")
    sent = Sent()
    link = Link(doc, sent, check=True)
    link.apply(slider_step(root.id, 0.5))
    assert sent.later == [False, True]
    drawn, address = (p["events"] for p, _ in sent.patches)
    assert [e["kind"] for e in drawn] == ["ColumnDataChanged"]
    assert [(e["attr"], e["new"]) for e in address] == [("search", "?v=0.5")]


def test_work_after_the_redraw_runs_once_after_it_is_sent(tuned: None) -> None:
    """app.common.after_redraw (the URL write): in the worker it runs after
    the redraw's patch is sent, once per key, and what it changes is sent
    after; outside a Link it runs at once."""
    from app.common import after_redraw

    slider = pn.widgets.FloatSlider(start=0, end=1, value=0.0)
    src, late = ColumnDataSource({"x": [0.0]}), ColumnDataSource({"y": [0.0]})
    order: list[str] = []

    def moved(event: param.parameterized.Event) -> None:
        src.data.update({"x": [event.new]})
        for n in range(3):  # asked three times, runs once, with the last
            after_redraw("k", lambda n=n: (order.append(f"after {n}"),
                                           late.data.update({"y": [event.new]})))

    slider.param.watch(moved, "value")
    doc, root, sent, link = linked(slider, src, late)
    link.send = lambda text, buffers, later: (order.append("send"), sent(text, buffers, later))
    link.apply(slider_step(root.id, 0.4))
    assert order == ["send", "after 2", "send"]
    assert sent.later == [False, True]
    first, second = (p["events"][0]["model"]["id"] for p, _ in sent.patches)
    assert (first, second) == (src.id, late.id)
    order.clear()
    after_redraw("k", lambda: order.append("now"))
    assert order == ["now"]


def test_resync_sends_every_data_source() -> None:
    a, b = ColumnDataSource({"x": [1]}), ColumnDataSource({"y": [2]})
    doc = Document()
    doc.add_root(a)
    doc.add_root(b)
    doc.models.flush_synced()
    sent = Sent()
    Link(doc, sent).resync()
    (patch, _), = sent.patches
    assert {e["model"]["id"] for e in patch["events"]} == {a.id, b.id}


def test_patches_in_find_models_in_the_documents_own_index(tuned: None) -> None:
    """Link.apply deserializes with the document's index (DocDeserializer),
    not one Bokeh builds from every model per patch; a patch that creates a
    model and one naming a model the document lacks behave as in Bokeh."""
    from bokeh.core.serialization import UnknownReferenceError
    from bokeh.models import Span

    slider = pn.widgets.FloatSlider(start=-3, end=3, step=0.1, value=-1.0)
    doc, root, sent, link = linked(slider)
    built: list[tuning.DocDeserializer] = []
    init = tuning.DocDeserializer.__init__

    def spy(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        built.append(self)

    tuning.DocDeserializer.__init__ = spy
    try:
        link.apply(slider_step(root.id, 0.5))
        assert slider.value == 0.5
        assert len(built) == 1 and built[0]._references.maps[1] is doc.models._models
        # A model made by the patch: the new Span is its own object, not one
        # of the document's until the document adopts it.
        span = {"type": "object", "name": "Span", "id": "p-new",
                "attributes": {"location": 1.5, "dimension": "width"}}
        link.apply({"events": [{"kind": "ModelChanged", "model": {"id": root.id},
                                "attr": "tags", "new": [span]}]})
        [made] = root.tags
        assert isinstance(made, Span) and made.location == 1.5
        assert doc.models.get_by_id(made.id) is made  # adopted through the root
        with pytest.raises(UnknownReferenceError):
            link.apply(slider_step("p-nowhere", 0.1))
    finally:
        tuning.DocDeserializer.__init__ = init
    import bokeh.document.document as module
    assert module.Deserializer is Deserializer  # Bokeh's own again
