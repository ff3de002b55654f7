"""Foresight's Python half (app/worker/foresight.py): grids of slider values
worked out ahead, checked when the page applies them, on real Panel documents."""

from __future__ import annotations

import json

import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Slider
from worker_support import Sent, linked, slider_step

from app.common import FORESEEN
from app.worker import foresight
from app.worker.link import Link

pytestmark = pytest.mark.usefixtures("patient")


class Foreseen:
    def __init__(self) -> None:
        self.steps: list[tuple[float, dict, dict[str, bytes], str, int, list[str]]] = []

    def __call__(self, text: str, buffers: dict[str, bytes], model: str, value: float,
                 seq: int, grid: int, keys: list[str]) -> None:
        self.steps.append((value, json.loads(text), buffers, model, grid, keys))

    def values(self) -> list[float]:
        return [v for v, *_ in self.steps]


def foresee_all(link: Link) -> int:
    n = 0
    while link.foresight.foresee():
        n += 1
    return n


def data_of(event: dict) -> dict:
    """A ColumnDataChanged event's columns (Bokeh encodes a dict as a map)."""
    return dict(event["data"]["entries"])


def bias_like() -> tuple[pn.widgets.FloatSlider, ColumnDataSource]:
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.5, css_classes=[FORESEEN])
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
        assert model == root.id and grid == link.foresight.grid.id and keys == [f"{src.id} data"]
        [event] = patch["events"]  # the whole data, not only what changed
        assert event["kind"] == "ColumnDataChanged" and event["cols"] is None
        assert data_of(event) == {"x": [round(value * 2, 9)], "label": [f"{value:.1f}"]}
    assert (dict(src.data), slider.value, root.value, root.value_throttled) == before
    assert urls == [0.6] and len(sent.patches) == 1  # nothing sent, no URL written
    assert link.foresight.foresee() is False  # done until the next step


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
    grid = link.foresight.grid
    sent.patches.clear()
    for value in (0.7, 0.3, 0.4, 1.0):
        link.apply(slider_step(root.id, value), foreseen=value, grid=grid.id)
        assert sent.patches == [] and src.data["x"] == [round(value * 2, 9)]
        assert link.foresight.grid is grid and grid.here == value
        foresee_all(link)
    assert 0.6 in grid.patches  # the anchor itself, for coming back to it
    link.apply(slider_step(root.id, 0.6), foreseen=0.6, grid=grid.id)
    assert sent.patches == [] and link.foresight.grid is grid
    # A value the grid never had goes the usual way, and starts a new grid.
    link.apply(slider_step(root.id, 0.65))
    [(patch, _)] = sent.patches
    assert patch["events"][0]["model"]["id"] == src.id and link.foresight.grid is not grid


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
    old = link.foresight.grid
    sent.patches.clear()
    sent.later.clear()
    link.apply(slider_step(root.id, 0.7), foreseen=0.7, grid=old.id)
    [(patch, _)] = [p for p, later in zip(sent.patches, sent.later, strict=True) if not later]
    full = {e["model"]["id"]: e for e in patch["events"] if e.get("cols", 0) is None}
    assert data_of(full[src.id])["x"] == [1.4]
    assert data_of(full[calls.id])["n"] == [calls.data["n"][0]]
    assert link.foresight.grid is not old  # a fresh grid from here (a key step)
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
    assert link.foresight.grid is not None and link.foresight.foresee()
    src.data.update({"x": [9.0]})  # not from the page
    assert sent.later[-1] is False and link.foresight.grid is None
    assert link.foresight.foresee() is False


def test_only_a_slider_step_or_focus_starts_a_grid(tuned: None) -> None:
    """A patch that does more than move one slider's value, moves
    something else, or is a drag (`value` alone) starts no grid; a key
    step does, and so does the reader reaching a slider (`focus`), once."""
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.5, css_classes=[FORESEEN])
    text = pn.widgets.TextInput(value="a")
    doc, root, sent, link = linked(pn.Column(slider, text), foresee=Foreseen())
    s_model, t_model = (m for m in root.children)
    link.apply({"events": [{"kind": "ModelChanged", "model": {"id": t_model.id},
                            "attr": "value", "new": "b"}]})
    assert link.foresight.grid is None and link.foresight.foresee() is False
    both = slider_step(s_model.id, 0.6)
    both["events"].append({"kind": "ModelChanged", "model": {"id": t_model.id},
                           "attr": "value", "new": "c"})
    link.apply(both)
    assert link.foresight.grid is None
    drag = slider_step(s_model.id, 0.65)
    drag["events"].pop()  # a drag moves `value` alone until the mouse is let go
    link.apply(drag)
    assert link.foresight.grid is None and slider.value == 0.65
    assert link.foresight.focus(t_model.id) is False and link.foresight.grid is None
    assert link.foresight.focus(s_model.id) is True
    grid = link.foresight.grid
    assert grid.seq == link.applied == 3 and grid.to_foresee[:2] == [0.75, 0.55]
    assert link.foresight.focus(s_model.id) is True and link.foresight.grid is grid  # already on it
    link.apply(slider_step(s_model.id, 0.7))
    assert link.foresight.grid is not None and link.foresight.grid.to_foresee[:2] == [0.8, 0.6]


def test_only_a_slider_its_section_marks_foreseen_is_foreseen(tuned: None) -> None:
    """Foresight makes a step and undoes it: section 5's sliders would start
    a fresh trainer, section 7's fresh vectors, just because the pointer
    passed over them. So a slider is foreseen only when its section says so."""
    from app.capacity import CapacitySection
    from app.state import AppState
    from app.superposition import SuperpositionSection

    cap, sup = CapacitySection(AppState()), SuperpositionSection(AppState())
    for widget in (*cap.sliders.values(), sup.n, sup.d):
        assert FORESEEN not in widget.css_classes, widget.name
    assert FORESEEN in sup.eps.css_classes
    plain = pn.widgets.IntSlider(start=1, end=9, value=3)
    marked = pn.widgets.IntSlider(start=1, end=9, value=3, css_classes=[FORESEEN])
    doc, root, sent, link = linked(pn.Column(plain, marked), foresee=Foreseen())
    plain_id, marked_id = (w._models[root.ref["id"]][0].id for w in (plain, marked))
    assert link.foresight.focus(plain_id) is False
    link.apply(slider_step(plain_id, 4))
    assert link.foresight.grid is None and plain.value == 4
    assert link.foresight.focus(marked_id) is True
    assert link.foresight.grid is not None and link.foresight.grid.slider.id == marked_id


def test_grid_values_run_ahead_the_way_the_slider_moves() -> None:
    slider = Slider(start=0, end=2, step=0.1, value=1.0)
    assert foresight.grid_values(slider)[:4] == [1.1, 0.9, 1.2, 0.8]
    assert foresight.grid_values(slider, direction=-1)[:6] == [0.9, 1.1, 0.8, 0.7, 1.2, 0.6]
    assert len(foresight.grid_values(slider)) == 2 * foresight.GRID_REACH
    ints = Slider(start=0, end=3, step=1, value=0)
    assert foresight.grid_values(ints) == [1, 2, 3]
    assert all(type(v) is int for v in foresight.grid_values(ints))


class PageCopy:
    """A copy of the document standing in for the page: applies a grid's
    patches as page/foresight.js's show does (keeps the anchor's value of
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


def built_app() -> tuple[Document, object, Sent, Foreseen, Link]:
    from app.main import build_app

    doc = Document()
    page = build_app("")
    root = page.get_root(doc)
    doc.add_root(root)
    sent, seen = Sent(), Foreseen()
    link = Link(doc, sent)
    foresight.Foresight(link, seen)
    doc.models.flush_synced()
    return doc, page, sent, seen, link


def grid_patches(seen: Foreseen, grid: foresight.Grid) -> dict[float, tuple[dict, dict, list[str]]]:
    return {v: (p, b, keys) for v, p, b, _, g, keys in seen.steps if g == grid.id}


def test_the_apps_grid_applied_as_the_page_does_is_the_step_itself(tuned: None) -> None:
    """On the explorable (sections 1 and 2 on screen): a copy of the
    document standing in for the page applies the bias grid's patches as
    page/foresight.js does, along a path of presses back and forth and a jump;
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
        grid = link.foresight.grid
        assert len(grid_patches(seen, grid)) == 2 * foresight.GRID_REACH
        sent.patches.clear()
        sent.later.clear()
        for value in (-0.9, -0.85, -1.0, -1.1, -0.75, -0.8):
            foresee_all(link)
            shown.apply(*grid_patches(seen, grid)[value])
            link.apply(slider_step(model.id, value), foreseen=value, grid=grid.id)
            assert all(sent.later), value  # only the address bar
            assert link.foresight.grid is grid and bias.value == value
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
        sliders = [m for m in doc.models if foresight.foreseeable(m)]
        assert len(sliders) >= 8, [m.title for m in sliders]
        for slider in sliders:
            shown = PageCopy(doc)
            anchor = slider.value
            assert link.foresight.focus(slider.id), slider.title
            foresee_all(link)
            grid = link.foresight.grid
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
                assert all(sent.later) and link.foresight.grid is grid, (slider.title, value)
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
    slider = pn.widgets.FloatSlider(start=0, end=1, step=0.1, value=0.5, css_classes=[FORESEEN])
    _, root, _, link = linked(slider, foresee=Foreseen())
    link.apply(slider_step(root.id, 0.6))
    assert link.foresight.grid is not None and link.foresight.grid.to_foresee[:2] == [0.7, 0.5]
    monkeypatch.setattr(foresight, "MAX_S", 0.0)
    link.apply(slider_step(root.id, 0.7))
    assert link.foresight.grid is None and link.foresight.foresee() is False
    for _ in range(2):
        assert link.foresight.focus(root.id) is True
        link.foresight.foresee()
        assert link.foresight.grid.to_foresee == []
        link.foresight.grid = None
    assert link.foresight.focus(root.id) is False
