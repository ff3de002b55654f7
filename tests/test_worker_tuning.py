"""The worker's changes to Panel's and Bokeh's internals (app/worker/tuning.py):
each unit is on at the pinned versions and does what it is for; each stays
off, saying so once, when the version or the shape of what it replaces
differs; and the link works the same with every unit off."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import panel as pn
import panel.reactive
import pytest
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.models import ColumnDataSource
from panel.io.state import state
from worker_support import PINS, linked, slider_step

from app.worker import pyodide_tuning, tuning


@pytest.fixture()
def clean() -> Iterator[None]:
    """Every unit off before and after the test."""
    level = logging.getLogger("panel").level
    tuning.uninstall()
    try:
        yield
    finally:
        tuning.uninstall()
        logging.getLogger("panel").setLevel(level)


def counted_step(check: bool = True) -> tuple[list[dict], list, object]:
    """A slider step through a link: what Panel processed per event, and
    what was sent."""
    slider = pn.widgets.FloatSlider(start=-3, end=3, step=0.1, value=-1.0)
    src = ColumnDataSource({"x": [0.0]})
    calls: list[dict] = []
    original = slider._process_events
    slider._process_events = lambda events: (calls.append(dict(events)), original(events))
    slider.param.watch(lambda e: src.data.update({"x": [e.new * 2]}), "value")
    doc, root, sent, link = linked(slider, src, check=check)
    link.apply(slider_step(root.id, -0.9))
    assert slider.value == -0.9 and src.data["x"] == [-1.8]
    return calls, sent.patches, link


def test_every_unit_checks_out_on_the_pinned_versions(clean: None,
                                                      capsys: pytest.CaptureFixture) -> None:
    on = tuning.install(PINS)
    assert on == {u.name: True for u in tuning.UNITS if not u.before_import}
    assert capsys.readouterr().err == ""
    # Each one is what it says.
    import panel.util.parameters
    assert panel.util.parameters.edit_readonly is tuning.edit_readonly
    assert panel.reactive.Syncable._server_change is tuning._server_change
    assert state._add_busy_event("x") is None
    assert logging.getLogger("panel").level == logging.INFO
    calls, patches, _ = counted_step()
    assert calls == [{"value": -0.9, "value_throttled": -0.9}] and len(patches) == 1


def test_a_version_other_than_the_pinned_one_leaves_its_units_off(
        clean: None, capsys: pytest.CaptureFixture) -> None:
    on = tuning.install({**PINS, "bokeh": "0.0.1"})
    bokeh_units = [u.name for u in tuning.UNITS if u.library == "bokeh" and not u.before_import]
    assert bokeh_units and not any(on[n] for n in bokeh_units)
    assert all(on[u.name] for u in tuning.UNITS if u.library == "panel")
    err = capsys.readouterr().err
    for name in bokeh_units:  # once each, naming why
        assert err.count(f"unit {name} is off (bokeh is ") == 1
    calls, patches, _ = counted_step()  # check=True: the patch still equals Bokeh's
    assert len(patches) == 1


def test_a_changed_shape_leaves_its_unit_off_and_panel_does_it_its_own_way(
        clean: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def server_change(self, doc, ref, subpath, attr, old, new, extra=None):  # a new signature
        return original(self, doc, ref, subpath, attr, old, new)

    original = panel.reactive.Syncable._server_change
    monkeypatch.setattr(panel.reactive.Syncable, "_server_change", server_change)
    on = tuning.install(PINS)
    assert on["one_event_per_widget"] is False
    assert "unit one_event_per_widget is off (Syncable._server_change" in capsys.readouterr().err
    calls, patches, _ = counted_step()
    # Panel's own way: value and value_throttled as two events; one patch still.
    assert calls == [{"value": -0.9}, {"value_throttled": -0.9}] and len(patches) == 1


def test_with_every_unit_off_the_link_sends_what_bokeh_would(clean: None) -> None:
    on = tuning.install(PINS, off=["all"])
    assert not any(on.values())
    doc = Document()
    assert tuning.new_models(doc) is None and type(tuning.serializer(doc)) is Serializer
    calls, patches, _ = counted_step(check=True)
    assert calls == [{"value": -0.9}, {"value_throttled": -0.9}] and len(patches) == 1


def test_the_whole_app_steps_with_every_unit_off(clean: None) -> None:
    """The explorable on a link with stock Panel and Bokeh: a bias step
    redraws and the patch equals Bokeh's own encoding."""
    from bokeh.models import Slider

    from app.main import build_app
    from app.worker.link import Link

    tuning.install(PINS, off=["all"])
    sent: list = []
    doc = Document()
    page = build_app("")
    doc.add_root(page.get_root(doc))
    doc.models.flush_synced()
    link = Link(doc, lambda text, buffers, later: sent.append((text, later)), check=True)
    bias = next(m for m in doc.models if isinstance(m, Slider) and m.title.startswith("Bias"))
    link.apply(slider_step(bias.id, -0.5))
    assert page.wfl_state.bias == -0.5
    assert any(not later for _, later in sent)


def test_one_named_unit_can_be_left_off(clean: None) -> None:
    on = tuning.install(PINS, off=["plain_lists"])
    assert on["plain_lists"] is False and on["lazy_references"] is True
    _, patches, _ = counted_step(check=True)
    assert len(patches) == 1


def test_the_pyodide_unit_stays_off_outside_pyodide() -> None:
    assert pyodide_tuning.install({"pyodide": "0.27.7"}) == {"jsnull_sentinel": False}
    assert [name for name, _, _ in pyodide_tuning.UNITS] == ["jsnull_sentinel"]


def test_installing_makes_no_panel_object(clean: None) -> None:
    """Panel names objects from one counter (Column00475); a check that made
    a widget would shift every name, and the page could not keep its
    snapshot (the build prerenders without the tuning)."""
    import param.parameterized

    before = param.parameterized.object_count
    tuning.install(PINS)
    assert param.parameterized.object_count == before


ROOT = Path(__file__).resolve().parents[1]


def built_in_a_fresh_python(tuned: bool) -> dict:
    """In a new interpreter, as the worker does: install every unit (or
    none), those that precede Panel's import first, then build the
    explorable's document."""
    code = textwrap.dedent(f"""
        import hashlib, inspect, json, sys
        import app.worker.boot  # what worker.js imports first
        early = sorted({{"panel", "bokeh.models"}} & set(sys.modules))
        from app.worker import tuning
        from build import versions
        pins = {{"panel": versions.PANEL_VERSION, "bokeh": versions.BOKEH_VERSION}}
        off = [] if {tuned} else ["all"]
        on = tuning.install(pins, off, before_import=True)
        from bokeh.document import Document
        from bokeh.models import Slider
        from panel.io.state import set_curdoc
        from app.main import build_app, doc_fingerprint, first_model_id
        on.update(tuning.install(pins, off))
        doc = Document()
        tuning.start_ids_at(first_model_id)
        with set_curdoc(doc):
            build_app("").server_doc(doc)
        # Its roots with every property, buffers as their bytes (the document's
        # own config model is made before the ids are reset, as in the worker).
        text = json.dumps(doc.to_json().content["roots"], sort_keys=True,
                          default=lambda buffer: bytes(buffer.data).hex())
        print(json.dumps({{"on": on, "early": early, "fingerprint": doc_fingerprint(doc),
                          "json": hashlib.sha256(text.encode()).hexdigest(),
                          "slider": list(inspect.signature(Slider.__init__).parameters)}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def fresh_builds() -> tuple[dict, dict]:
    return built_in_a_fresh_python(True), built_in_a_fresh_python(False)


def test_installed_before_import_bokeh_builds_no_signatures(fresh_builds) -> None:
    tuned, stock = fresh_builds
    assert tuned["early"] == []  # the worker's boot module leaves them for start() to import
    assert tuned["on"]["no_signatures_at_import"] and not stock["on"]["no_signatures_at_import"]
    # Stock Bokeh names every property in Slider's signature; tuned, help() sees *args.
    assert "start" in stock["slider"] and tuned["slider"] == ["self", "args", "kwargs"]


def test_the_units_build_the_same_document_as_stock_bokeh(fresh_builds) -> None:
    tuned, stock = fresh_builds
    assert all(tuned["on"].values()) and not any(stock["on"].values())
    # Model for model, and every property of each as Bokeh serialises it.
    assert tuned["fingerprint"] == stock["fingerprint"]
    assert tuned["json"] == stock["json"]


def test_after_bokehs_models_are_imported_the_signature_unit_stays_off(
        clean: None, capsys: pytest.CaptureFixture) -> None:
    assert tuning.install(PINS, before_import=True) == {"no_signatures_at_import": False}
    assert "unit no_signatures_at_import is off (bokeh.models was imported" in (
        capsys.readouterr().err)
    from bokeh.models import Slider
    assert "start" in inspect.signature(Slider.__init__).parameters
