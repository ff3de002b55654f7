"""The worker's Python link (app/worker_link.py) on a real Panel document in
CPython: the same code the browser runs, minus the `js` module."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import numpy as np
import panel as pn
import panel.reactive
import panel.util
import panel.util.parameters
import panel.widgets.base
import panel.widgets.slider
import param
import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Slider
from bokeh.util.warnings import BokehUserWarning
from panel.io.state import state

from app import worker_link as wl

PATCHED_MODULES = (panel.util, panel.util.parameters, panel.reactive,
                   panel.widgets.base, panel.widgets.slider)


@pytest.fixture(autouse=True)
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps are checked here, not their speed: on a loaded machine (CI) a
    step of the app's embedding-angle slider took over FORESEE_MAX_S, which
    rightly stops its grid. test_a_slow_step_is_not_foreseen sets it back."""
    monkeypatch.setattr(wl, "FORESEE_MAX_S", 60.0)


@pytest.fixture()
def tuned() -> Iterator[None]:
    """tune_panel() for one test; Panel as it was afterwards."""
    saved = [(m, m.edit_readonly) for m in PATCHED_MODULES]
    server_change = panel.reactive.Syncable._server_change
    level = logging.getLogger("panel").level
    wl.tune_panel()
    try:
        yield
    finally:
        for m, fn in saved:
            m.edit_readonly = fn
        panel.reactive.Syncable._server_change = server_change
        wl._panel_server_change = None
        for name in ("_add_busy_event", "_remove_busy_event"):
            state.__dict__.pop(name, None)
        logging.getLogger("panel").setLevel(level)


class Sent:
    def __init__(self) -> None:
        self.patches: list[tuple[dict, dict[str, bytes]]] = []
        self.later: list[bool] = []

    def __call__(self, text: str, buffers: dict[str, bytes], later: bool) -> None:
        self.patches.append((json.loads(text), buffers))
        self.later.append(later)


def linked(obj: pn.viewable.Viewable, *extra: object, check: bool = True,
           foresee: wl.Foresee | None = None) -> tuple[Document, object, Sent, wl.Link]:
    doc = Document()
    root = obj.get_root(doc)
    doc.add_root(root)
    for model in extra:
        doc.add_root(model)
    sent = Sent()
    link = wl.Link(doc, sent, check=check, foresee=foresee)
    doc.models.flush_synced()  # the page has the document already
    return doc, root, sent, link


def slider_step(model_id: str, value: float) -> dict:
    """What the page sends for one key press on a slider."""
    ref = {"id": model_id}
    return {"events": [
        {"kind": "ModelChanged", "model": ref, "attr": "value", "new": value},
        {"kind": "ModelChanged", "model": ref, "attr": "value_throttled", "new": value},
    ]}


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

    assert outcome(wl.edit_readonly) == outcome(panel.util.parameters.edit_readonly)


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
    assert wl._held is None and not link.batching
    assert len(sent.patches) == 1  # the change made before the error still went out
    link.apply(slider_step(root.id, 0.7))
    assert slider.value == 0.7


def test_encoding_matches_bokehs_with_buffers_and_new_models() -> None:
    src = ColumnDataSource({"img": [np.arange(12.0).reshape(3, 4)], "s": ["a"]})
    doc = Document()
    doc.add_root(src)
    doc.models.flush_synced()
    sent = Sent()
    link = wl.Link(doc, sent, check=True)  # raises if the two encodings differ
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
    ref_text, ref_buffers = wl.encode_patch(doc, [], lazy=False)
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
    link = wl.Link(doc, sent, check=True)
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
    wl.Link(doc, sent).resync()
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
    built: list[wl.DocDeserializer] = []
    init = wl.DocDeserializer.__init__

    def spy(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        built.append(self)

    wl.DocDeserializer.__init__ = spy
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
        wl.DocDeserializer.__init__ = init
    import bokeh.document.document as module
    assert module.Deserializer is wl.Deserializer  # Bokeh's own again


# -- foresight -------------------------------------------------------------------------------
class Foreseen:
    def __init__(self) -> None:
        self.steps: list[tuple[float, dict, dict[str, bytes], str, int, list[str]]] = []

    def __call__(self, text: str, buffers: dict[str, bytes], model: str, value: float,
                 seq: int, grid: int, keys: list[str]) -> None:
        self.steps.append((value, json.loads(text), buffers, model, grid, keys))

    def values(self) -> list[float]:
        return [v for v, *_ in self.steps]


def foresee_all(link: wl.Link) -> int:
    n = 0
    while link.foresee():
        n += 1
    return n


def data_of(event: dict) -> dict:
    """A ColumnDataChanged event's columns (Bokeh encodes a dict as a map)."""
    return dict(event["data"]["entries"])


def bias_like() -> tuple[pn.widgets.FloatSlider, ColumnDataSource]:
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.5)
    src = ColumnDataSource({"x": [1.0], "label": ["0.5"]})
    slider.param.watch(lambda e: src.data.update(
        {"x": [round(e.new * 2, 9)], "label": [f"{e.new:.1f}"]}), "value")
    return slider, src


def test_a_grid_works_out_the_values_around_the_slider_and_undoes_them(tuned: None) -> None:
    """After a slider step, `foresee` works out the patch of every value up
    to GRID_REACH presses away, nearest first, at the values the page will
    send (the step's decimals), each the whole value of what it sets; and
    leaves the document, the widget and what waits for the redraw as they
    were; nothing is sent the usual way meanwhile."""
    from app.common import after_redraw

    slider, src = bias_like()
    urls: list[float] = []
    slider.param.watch(lambda e: after_redraw("url", lambda: urls.append(e.new)), "value")
    seen = Foreseen()
    doc, root, sent, link = linked(slider, src, foresee=seen)
    link.apply(slider_step(root.id, 0.6))
    assert urls == [0.6] and len(sent.patches) == 1
    before = (dict(src.data), slider.value, root.value, root.value_throttled)
    foresee_all(link)
    assert seen.values() == [0.7, 0.5, 0.8, 0.4, 0.9, 0.3, 1.0, 0.2, 0.1, 0.0]
    for value, patch, _, model, grid, keys in seen.steps:
        assert model == root.id and grid == link.grid.id and keys == [f"{src.id} data"]
        [event] = patch["events"]  # the whole data, not only what changed
        assert event["kind"] == "ColumnDataChanged" and event["cols"] is None
        assert data_of(event) == {"x": [round(value * 2, 9)], "label": [f"{value:.1f}"]}
    assert (dict(src.data), slider.value, root.value, root.value_throttled) == before
    assert urls == [0.6] and len(sent.patches) == 1  # nothing sent, no URL written
    assert link.foresee() is False  # done until the next step


def test_a_press_on_a_foreseen_value_is_checked_not_sent(tuned: None) -> None:
    """The page applied the grid's patch when the key was pressed, from
    wherever it was on the grid (one step, a jump, back to the anchor):
    Python makes the step, finds its state as the page shows it, and sends
    only the address bar. The grid lives on, and only what it lacks around
    the new value is worked out."""
    slider, src = bias_like()
    seen = Foreseen()
    doc, root, sent, link = linked(slider, src, foresee=seen)
    link.apply(slider_step(root.id, 0.6))
    foresee_all(link)
    grid = link.grid
    sent.patches.clear()
    for value in (0.7, 0.3, 0.4, 1.0):
        link.apply(slider_step(root.id, value), foreseen=value, grid=grid.id)
        assert sent.patches == [] and src.data["x"] == [round(value * 2, 9)]
        assert link.grid is grid and grid.here == value
        foresee_all(link)
    assert 0.6 in grid.patches  # the anchor itself, for coming back to it
    link.apply(slider_step(root.id, 0.6), foreseen=0.6, grid=grid.id)
    assert sent.patches == [] and link.grid is grid
    # A value the grid never had goes the usual way, and starts a new grid.
    link.apply(slider_step(root.id, 0.65))
    [(patch, _)] = sent.patches
    assert patch["events"][0]["model"]["id"] == src.id and link.grid is not grid


def test_a_step_that_came_out_different_resends_what_the_grid_set(tuned: None) -> None:
    """A watcher that remembers (here, a count of calls) makes Python's
    step differ from what it foresaw: the page gets the whole value of
    everything the grid set, and the grid is dropped. So does a press the
    page made from a grid Python has since dropped."""
    slider, src = bias_like()
    calls = ColumnDataSource({"n": [0]})
    slider.param.watch(lambda e: calls.data.update({"n": [calls.data["n"][0] + 1]}), "value")
    seen = Foreseen()
    doc, root, sent, link = linked(slider, src, calls, foresee=seen)
    link.apply(slider_step(root.id, 0.6))
    foresee_all(link)
    old = link.grid
    sent.patches.clear()
    sent.later.clear()
    link.apply(slider_step(root.id, 0.7), foreseen=0.7, grid=old.id)
    [(patch, _)] = [p for p, later in zip(sent.patches, sent.later, strict=True) if not later]
    full = {e["model"]["id"]: e for e in patch["events"] if e.get("cols", 0) is None}
    assert data_of(full[src.id])["x"] == [1.4]
    assert data_of(full[calls.id])["n"] == [calls.data["n"][0]]
    assert link.grid is not old  # a fresh grid from here (a key step)
    sent.patches.clear()
    sent.later.clear()
    link.apply(slider_step(root.id, 0.8), foreseen=0.8, grid=old.id)  # the page had not heard
    [(patch, _)] = [p for p, later in zip(sent.patches, sent.later, strict=True) if not later]
    assert {e["model"]["id"] for e in patch["events"] if e.get("cols", 0) is None} \
        == {src.id, calls.id}
    assert src.data["x"] == [1.6]


def test_a_change_python_makes_on_its_own_ends_the_grid(tuned: None) -> None:
    """The page drops its grid on any patch from Python that is not the
    address bar (a training's progress, say): Python drops it too, so the
    rest of it never reaches a page that no longer has its anchor."""
    slider, src = bias_like()
    seen = Foreseen()
    doc, root, sent, link = linked(slider, src, foresee=seen)
    link.apply(slider_step(root.id, 0.6))
    assert link.grid is not None and link.foresee()
    src.data.update({"x": [9.0]})  # not from the page
    assert sent.later[-1] is False and link.grid is None
    assert link.foresee() is False


def test_only_a_slider_step_or_focus_starts_a_grid(tuned: None) -> None:
    """A patch that does more than move one slider's value, moves
    something else, or is a drag (`value` alone) starts no grid; a key
    step does, and so does the reader reaching a slider (`focus`), once."""
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.5)
    text = pn.widgets.TextInput(value="a")
    doc, root, sent, link = linked(pn.Column(slider, text), foresee=Foreseen())
    s_model, t_model = (m for m in root.children)
    link.apply({"events": [{"kind": "ModelChanged", "model": {"id": t_model.id},
                            "attr": "value", "new": "b"}]})
    assert link.grid is None and link.foresee() is False
    both = slider_step(s_model.id, 0.6)
    both["events"].append({"kind": "ModelChanged", "model": {"id": t_model.id},
                           "attr": "value", "new": "c"})
    link.apply(both)
    assert link.grid is None
    drag = slider_step(s_model.id, 0.65)
    drag["events"].pop()  # a drag moves `value` alone until the mouse is let go
    link.apply(drag)
    assert link.grid is None and slider.value == 0.65
    assert link.focus(t_model.id) is False and link.grid is None
    assert link.focus(s_model.id) is True
    grid = link.grid
    assert grid.seq == link.applied == 3 and grid.to_foresee[:2] == [0.75, 0.55]
    assert link.focus(s_model.id) is True and link.grid is grid  # already on it
    link.apply(slider_step(s_model.id, 0.7))
    assert link.grid is not None and link.grid.to_foresee[:2] == [0.8, 0.6]
    link.foresee_to = None
    assert link.foresee() is False  # no page to send it to


def test_a_slider_whose_step_does_more_than_redraw_is_not_foreseen(tuned: None) -> None:
    """Section 5's sliders start a fresh trainer, section 7's fresh
    vectors: foresight would make such a step and undo it, losing the
    training, because the reader's pointer passed over the slider."""
    from app.capacity import CapacitySection
    from app.common import NOT_FORESEEN
    from app.state import AppState
    from app.superposition import SuperpositionSection

    cap, sup = CapacitySection(AppState()), SuperpositionSection(AppState())
    for widget in (*cap.sliders.values(), sup.n, sup.d):
        assert NOT_FORESEEN in widget.css_classes, widget.name
    slider = pn.widgets.IntSlider(start=1, end=9, value=3, css_classes=[NOT_FORESEEN])
    doc, root, sent, link = linked(slider, foresee=Foreseen())
    assert link.focus(root.id) is False
    link.apply(slider_step(root.id, 4))
    assert link.grid is None and slider.value == 4


def test_grid_values_run_ahead_the_way_the_slider_moves() -> None:
    slider = Slider(start=0, end=2, step=0.1, value=1.0)
    assert wl.grid_values(slider)[:4] == [1.1, 0.9, 1.2, 0.8]
    assert wl.grid_values(slider, direction=-1)[:6] == [0.9, 1.1, 0.8, 0.7, 1.2, 0.6]
    assert len(wl.grid_values(slider)) == 2 * wl.GRID_REACH
    ints = Slider(start=0, end=3, step=1, value=0)
    assert wl.grid_values(ints) == [1, 2, 3] and all(type(v) is int for v in wl.grid_values(ints))


class PageCopy:
    """A copy of the document standing in for the page: applies a grid's
    patches as loader.js's applyGrid does (keeps the anchor's value of
    each key before its first change, and puts it back for what the last
    patch set and this one does not)."""

    def __init__(self, doc: Document) -> None:
        self.doc = Document.from_json(doc.to_json())
        self.snapshot: dict[str, object] = {}
        self.last: list[str] = []

    def apply(self, patch: dict, buffers: dict[str, bytes], keys: list[str]) -> None:
        for key in keys:
            mid, attr = key.split(" ")
            if key not in self.snapshot:
                value = getattr(self.doc.get_model_by_id(mid), attr)
                self.snapshot[key] = dict(value) if isinstance(value, dict) else value
        for key in self.last:
            if key not in keys:
                mid, attr = key.split(" ")
                value = self.snapshot[key]
                setattr(self.doc.get_model_by_id(mid), attr,
                        dict(value) if isinstance(value, dict) else value)
        self.doc.apply_json_patch(_serialized(patch, buffers), setter="test")
        self.last = keys

    def assert_shows(self, doc: Document, where: object) -> None:
        """Every data source and text (prose) as in `doc`."""
        for m in doc.models:
            copy = self.doc.get_model_by_id(m.id)
            if isinstance(m, ColumnDataSource):
                assert json.dumps(dict(copy.data), default=repr) == \
                    json.dumps(dict(m.data), default=repr), (where, m.id)
            elif isinstance(text := getattr(copy, "text", None), str):
                assert text == m.text, (where, m.id)  # prose (a LabelSet's is a field)


def built_app() -> tuple[Document, object, Sent, Foreseen, wl.Link]:
    from app.main import build_app

    doc = Document()
    page = build_app("")
    root = page.get_root(doc)
    doc.add_root(root)
    sent, seen = Sent(), Foreseen()
    link = wl.Link(doc, sent, foresee=seen)
    doc.models.flush_synced()
    return doc, page, sent, seen, link


def grid_patches(seen: Foreseen, grid: wl.Grid) -> dict[float, tuple[dict, dict, list[str]]]:
    return {v: (p, b, keys) for v, p, b, _, g, keys in seen.steps if g == grid.id}


def test_the_apps_grid_applied_as_the_page_does_is_the_step_itself(tuned: None) -> None:
    """On the explorable (sections 1 and 2 on screen): a copy of the
    document standing in for the page applies the bias grid's patches as
    loader.js does, along a path of presses back and forth and a jump;
    after each, every data source and text of the copy equals Python's
    after the real step, Python sends nothing but the address bar, and
    working out the grid left the state as it was."""
    from panel.io.state import set_curdoc

    from app.state import AppState

    with set_curdoc(Document()):
        doc, page, sent, seen, link = built_app()
        for key, section in page.wfl_sections.items():
            section.set_on_screen(key in ("recall", "neuron"))
        bias = page.wfl_sections["neuron"].bias
        model = bias._models[doc.roots[0].ref["id"]][0]
        link.apply(slider_step(model.id, -0.95))
        shown = PageCopy(doc)  # the page, after that step
        state: AppState = page.wfl_state
        state_before = state.param.values()
        data_before = {m.id: json.dumps(dict(m.data), default=repr)
                       for m in doc.models if isinstance(m, ColumnDataSource)}
        foresee_all(link)
        assert {m.id: json.dumps(dict(m.data), default=repr) for m in doc.models
                if isinstance(m, ColumnDataSource)} == data_before
        assert state.param.values() == state_before and bias.value == -0.95
        grid = link.grid
        assert len(grid_patches(seen, grid)) == 2 * wl.GRID_REACH
        sent.patches.clear()
        sent.later.clear()
        for value in (-0.9, -0.85, -1.0, -1.1, -0.75, -0.8):
            foresee_all(link)
            shown.apply(*grid_patches(seen, grid)[value])
            link.apply(slider_step(model.id, value), foreseen=value, grid=grid.id)
            assert all(sent.later), value  # only the address bar
            assert link.grid is grid and bias.value == value
            shown.assert_shows(doc, value)


def test_every_foreseen_slider_of_the_app_is_its_own_step(tuned: None) -> None:
    """Every slider of the explorable that foresight works for, with every
    section on screen: reached (focus), its grid applied as the page does
    along a path (a press, a jump, back past where it began) matches the
    real steps, so Python sends nothing back."""
    from panel.io.state import set_curdoc

    with set_curdoc(Document()):
        doc, page, sent, seen, link = built_app()
        for section in page.wfl_sections.values():
            section.set_on_screen(True)
        sliders = [m for m in doc.models if wl._foreseeable(m)]
        assert len(sliders) >= 8, [m.title for m in sliders]
        for slider in sliders:
            shown = PageCopy(doc)
            anchor = slider.value
            assert link.focus(slider.id), slider.title
            foresee_all(link)
            grid = link.grid
            values = sorted(grid_patches(seen, grid))
            ups = [v for v in values if v > anchor]
            downs = [v for v in reversed(values) if v < anchor]
            path = [v for v in (*ups[:1], *ups[2:3], *downs[1:2], *downs[:1], *ups[:1])]
            assert len(path) >= 3, (slider.title, values)
            sent.patches.clear()
            sent.later.clear()
            for value in path:
                foresee_all(link)
                shown.apply(*grid_patches(seen, grid)[value])
                link.apply(slider_step(slider.id, value), foreseen=value, grid=grid.id)
                assert all(sent.later) and link.grid is grid, (slider.title, value)
                shown.assert_shows(doc, (slider.title, value))
            # Back where it was, the usual way, for the next slider.
            link.apply(slider_step(slider.id, anchor))


def _serialized(patch: dict, buffers: dict[str, bytes]) -> object:
    from bokeh.core.serialization import Buffer, Serialized
    return Serialized(content=patch, buffers=[Buffer(k, v) for k, v in buffers.items()])


def test_a_slow_step_is_not_foreseen(tuned: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each value foreseen costs two steps, and a change the reader makes
    meanwhile waits for the one under way: after a step that took longer
    than FORESEE_MAX_S no grid starts, and a slider whose foreseen values
    were slow twice is not foreseen even when the reader reaches it."""
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.5)
    _, root, _, link = linked(slider, foresee=Foreseen())
    link.apply(slider_step(root.id, 0.6))
    assert link.grid is not None and link.grid.to_foresee[:2] == [0.7, 0.5]
    monkeypatch.setattr(wl, "FORESEE_MAX_S", 0.0)
    link.apply(slider_step(root.id, 0.7))
    assert link.grid is None and link.foresee() is False
    for _ in range(2):
        assert link.focus(root.id) is True
        link.foresee()
        assert link.grid.to_foresee == []
        link.grid = None
    assert link.focus(root.id) is False
