"""Every change this page makes to Panel's and Bokeh's Python internals.

Each change is a named `Unit` in `UNITS`, installed in that order by
`install()`. A unit first checks that Panel and Bokeh are the versions the
build pins (build/versions.py, handed in as `pins`) and that what it replaces
still has the shape it expects; if not, it stays off, says why once on
stderr (the browser console), and the page works at Panel's own speed. The
rest of the worker asks `is_on(name)`, or calls the helpers at the end of
this file, and never names a private attribute of Panel or Bokeh itself.

Upgrading Panel or Bokeh: tests/test_worker_tuning.py checks every unit's
shape against the installed release; a unit whose check fails is off until
its code here is brought up to date.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import inspect
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import param
from bokeh.core.serialization import Deserializer, Serializer
from bokeh.model import Model

# Nothing here may import Bokeh's models or Panel at import time: the unit
# no_signatures_at_import must be installed before they are.
if TYPE_CHECKING:
    from bokeh.document import Document


@dataclasses.dataclass
class Unit:
    """One change to a library's internals."""

    name: str
    library: str  # "panel" or "bokeh": whose pinned version it was written for
    why: str
    check: Callable[[], str | None]  # None when the shape is as expected, else what differs
    install: Callable[[], None]
    test: str  # the test (under tests/) that shows the unit at work
    before_import: bool = False  # installed before Panel and Bokeh's models are imported
    on: bool = False


def _params(fn: Any) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def _missing(obj: Any, *names: str) -> str | None:
    for name in names:
        if not callable(getattr(obj, name, None)):
            return f"{getattr(obj, '__name__', type(obj).__name__)}.{name} is gone"
    return None


# -- no_signatures_at_import ------------------------------------------------------------
_MODEL_INIT_SUBCLASS = Model.__dict__.get("__init_subclass__")


def _init_subclass(cls: type[Model]) -> None:
    """Bokeh's `Model.__init_subclass__`, less the `__init__` signature and
    docs example it builds for each class of bokeh.models (about 450, at
    import), which only help() and Sphinx read."""
    if cls.__module__.startswith("bokeh.models"):
        super(Model, cls).__init_subclass__()
    else:
        _MODEL_INIT_SUBCLASS.__func__(cls)  # type: ignore[union-attr]


def _check_signatures() -> str | None:
    if "bokeh.models" in sys.modules:
        return "bokeh.models was imported before the unit could be installed"
    if not isinstance(_MODEL_INIT_SUBCLASS, classmethod):
        return "Model.__init_subclass__ is gone"
    names = _MODEL_INIT_SUBCLASS.__func__.__code__.co_names
    if not {"parameters", "process_example"} <= set(names):
        return "Model.__init_subclass__ no longer builds signatures"
    return None


def _install_signatures() -> None:
    Model.__init_subclass__ = classmethod(_init_subclass)  # type: ignore[assignment,method-assign]


# -- narrow_edit_readonly ---------------------------------------------------------------
_EDIT_READONLY_MODULES = ("panel.util", "panel.util.parameters", "panel.reactive",
                          "panel.widgets.base", "panel.widgets.slider")


@contextlib.contextmanager
def edit_readonly(parameterized: param.Parameterized) -> Iterator[None]:
    """Panel's `edit_readonly`, loosening only the parameters that need it:
    Panel's rewrites the flags of every parameter (about sixty on a slider)
    twice per change a reader makes."""
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


def _modules(names: Iterable[str]) -> list[Any]:
    import importlib
    return [importlib.import_module(n) for n in names]


def _check_edit_readonly() -> str | None:
    for module in _modules(_EDIT_READONLY_MODULES):
        if _params(getattr(module, "edit_readonly", None)) != ["parameterized"]:
            return f"{module.__name__}.edit_readonly is not edit_readonly(parameterized)"
    return None


_panel_edit_readonly: Callable[..., Any] | None = None


def _install_edit_readonly() -> None:
    global _panel_edit_readonly
    modules = _modules(_EDIT_READONLY_MODULES)
    if _panel_edit_readonly is None:  # Panel's own, where the others import it from
        _panel_edit_readonly = _modules(["panel.util.parameters"])[0].edit_readonly
    for module in modules:
        module.edit_readonly = edit_readonly


# -- one_event_per_widget ---------------------------------------------------------------
_held: dict[int, tuple[Any, Document]] | None = None
_panel_server_change: Callable[..., None] | None = None


def _server_change(self: Any, doc: Document, ref: str, subpath: str | None, attr: str,
                   old: Any, new: Any) -> None:
    """Panel's `Syncable._server_change`, which inside `one_event_per_widget`
    only collects the change, so a slider step's `value` and
    `value_throttled` reach the widget as one event, not two."""
    if _held is None:
        assert _panel_server_change is not None
        _panel_server_change(self, doc, ref, subpath, attr, old, new)
        return
    if subpath:
        attr = f"{subpath}.{attr}"
    if attr in self._changing.get(ref, []):  # Panel's own echo of a Python change
        self._changing[ref].remove(attr)
        return
    self._events.update({attr: new})
    _held.setdefault(id(self), (self, doc))


def _check_server_change() -> str | None:
    from panel.io.state import state
    from panel.reactive import Syncable

    want = ["self", "doc", "ref", "subpath", "attr", "old", "new"]
    if _params(Syncable._server_change) != want and Syncable._server_change is not _server_change:
        return "Syncable._server_change(self, doc, ref, subpath, attr, old, new) changed"
    if _params(getattr(Syncable, "_change_event", None)) != ["self", "doc"]:
        return "Syncable._change_event(self, doc) changed"
    # Read from Syncable.__init__'s code: making a widget here would shift
    # Panel's automatic names, and the page's snapshot would no longer match.
    if not {"_changing", "_events"} <= set(Syncable.__init__.__code__.co_names):
        return "Syncable no longer keeps _changing and _events"
    return _missing(state, "_handle_exception")


def _install_server_change() -> None:
    global _panel_server_change
    from panel.reactive import Syncable

    if _panel_server_change is None:
        _panel_server_change = Syncable._server_change
        Syncable._server_change = _server_change  # type: ignore[method-assign]


def _uninstall_server_change() -> None:
    global _panel_server_change
    from panel.reactive import Syncable

    if _panel_server_change is not None:
        Syncable._server_change = _panel_server_change  # type: ignore[method-assign]
        _panel_server_change = None


@contextlib.contextmanager
def one_event_per_widget() -> Iterator[None]:
    """Within this block Panel only collects widget changes; on leaving,
    each widget processes its changes as one event, in the order the
    widgets first changed. With the unit off, Panel's own way."""
    global _held
    if _held is not None or not is_on("one_event_per_widget"):
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


def collecting() -> bool:
    """Whether a `one_event_per_widget` block is collecting changes."""
    return _held is not None


# -- no_busy_bookkeeping ------------------------------------------------------------------
def _check_busy() -> str | None:
    from panel.io.state import state
    return _missing(state, "_add_busy_event", "_remove_busy_event")


def _install_busy() -> None:
    from panel.io.state import state
    state._add_busy_event = lambda event_id: None
    state._remove_busy_event = lambda event_id, *args: None


# -- quiet_debug_records -----------------------------------------------------------------
def _install_quiet() -> None:
    logging.getLogger("panel").setLevel(logging.INFO)


# -- index_deserializer -------------------------------------------------------------------
class DocDeserializer(Deserializer):
    """Bokeh's deserializer, finding models in the document's own index
    rather than one Bokeh builds from every model (about 700) per patch."""

    def __init__(self, doc: Document, references: Any = None, *, setter: Any = None) -> None:
        super().__init__(None, setter=setter)
        self._references = collections.ChainMap({}, doc.models._models)  # type: ignore[assignment]


def _check_deserializer() -> str | None:
    import bokeh.document.document as module
    from bokeh.document import Document

    if getattr(module, "Deserializer", None) is not Deserializer:
        return "bokeh.document.document no longer uses core.serialization.Deserializer"
    if _params(Deserializer.__init__) != ["self", "references", "setter"]:
        return "Deserializer(references, *, setter) changed"
    if not isinstance(Deserializer(None)._references, dict):
        return "Deserializer no longer keeps _references"
    if not isinstance(getattr(Document().models, "_models", None), dict):
        return "DocumentModelManager no longer keeps _models"
    return None


@contextlib.contextmanager
def deserializing_from(doc: Document) -> Iterator[None]:
    """Within this block `doc.apply_json_patch` uses a `DocDeserializer`."""
    if not is_on("index_deserializer"):
        yield
        return
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


# -- lazy_references and plain_lists ------------------------------------------------------
_PLAIN = (str, float, int)
_MAX_SAFE_INT = 2**53 - 1


class LazySerializer(Serializer):
    """Bokeh's serializer with references made per model on demand, not for
    every model of the page (about 700) on every patch; and, with
    `plain_lists` on, a list of plain strings and finite numbers encoded as
    itself rather than item by item."""

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
        if _PLAIN_LISTS.on and self._encoders.keys().isdisjoint(_PLAIN):
            for x in obj:
                kind = type(x)
                if kind is str or (kind is float and x - x == 0.0) or (
                        kind is int and -_MAX_SAFE_INT < x <= _MAX_SAFE_INT):
                    continue
                break
            else:
                return list(obj)
        return super()._encode_list(obj)


def _check_lazy() -> str | None:
    from bokeh.document import Document

    s = Serializer()
    if not isinstance(getattr(s, "_references", None), dict):
        return "Serializer no longer keeps _references"
    if not _params(Serializer.get_ref) == _params(Serializer.has_ref) == ["self", "obj"]:
        return "Serializer.get_ref/has_ref(obj) changed"
    if not isinstance(getattr(Document().models, "_new_models", None), set):
        return "DocumentModelManager no longer keeps _new_models"
    return None


def _check_plain_lists() -> str | None:
    if _params(Serializer._encode_list) != ["self", "obj"]:
        return "Serializer._encode_list(obj) changed"
    if not isinstance(getattr(Serializer(), "_encoders", None), dict):
        return "Serializer no longer keeps _encoders"
    return None


def serializer(doc: Document) -> Serializer:
    """The serializer for a patch of `doc`: lazy when that unit is on, else
    Bokeh's own with every model the page has, as Panel makes it."""
    if is_on("lazy_references"):
        return LazySerializer(doc)
    return Serializer(references=doc.models.synced_references)


def new_models(doc: Document) -> set[Model] | None:
    """Models made since the last patch went out, or None if this Bokeh
    does not say (callers then assume there may be some)."""
    if not is_on("lazy_references"):
        return None
    return doc.models._new_models


# -- the units, in install order ----------------------------------------------------------
UNITS: list[Unit] = [
    Unit("no_signatures_at_import", "bokeh",
         "Bokeh builds an __init__ signature for each of its ~450 model classes at import, "
         "which only help() reads",
         _check_signatures, _install_signatures,
         "test_worker_tuning.py::test_installed_before_import_bokeh_builds_no_signatures",
         before_import=True),
    Unit("narrow_edit_readonly", "panel",
         "Panel's edit_readonly rewrites the flags of every parameter of a widget on each change",
         _check_edit_readonly, _install_edit_readonly,
         "test_worker_link.py::test_edit_readonly_behaves_like_panels"),
    Unit("one_event_per_widget", "panel",
         "a slider step's value and value_throttled reach the widget as one event, not two",
         _check_server_change, _install_server_change,
         "test_worker_link.py::test_a_slider_step_is_one_event_one_patch"),
    Unit("no_busy_bookkeeping", "panel",
         "Panel counts busy events for a loading indicator this page never shows",
         _check_busy, _install_busy,
         "test_worker_tuning.py::test_every_unit_checks_out_on_the_pinned_versions"),
    Unit("quiet_debug_records", "panel",
         "Panel builds a debug log record for every event, which its handler then drops",
         lambda: None, _install_quiet,
         "test_worker_tuning.py::test_every_unit_checks_out_on_the_pinned_versions"),
    Unit("index_deserializer", "bokeh",
         "a patch from the page finds its models in the document's own index",
         _check_deserializer, lambda: None,
         "test_worker_link.py::test_patches_in_find_models_in_the_documents_own_index"),
    Unit("lazy_references", "bokeh",
         "a patch to the page makes references only for the models it names",
         _check_lazy, lambda: None,
         "test_worker_link.py::test_encoding_matches_bokehs_with_buffers_and_new_models"),
    Unit("plain_lists", "bokeh",
         "a list of plain numbers and strings is encoded as itself, not item by item",
         _check_plain_lists, lambda: None,
         "test_worker_link.py::test_encoding_matches_bokehs_with_buffers_and_new_models"),
]
_BY_NAME = {u.name: u for u in UNITS}
_PLAIN_LISTS = _BY_NAME["plain_lists"]
_log = logging.getLogger("app.worker.tuning")


def installed_version(library: str) -> str:
    import importlib
    return importlib.import_module(library).__version__


def install(pins: Mapping[str, str], off: Iterable[str] = (),
            before_import: bool = False) -> dict[str, bool]:
    """Install every unit whose library is at its pinned version, whose
    shape checks out and which is not named in `off` ("all" for every one):
    with `before_import`, those that must precede importing Panel and
    Bokeh's models; else the rest, before the app is built (Panel binds
    `_server_change` into each model it creates). Returns which of those
    units are on."""
    off = set(off)
    units = [u for u in UNITS if u.before_import == before_import]
    for unit in units:
        if unit.on:
            continue
        if "all" in off or unit.name in off:
            reason: str | None = "turned off"
        elif (got := installed_version(unit.library)) != (pin := pins.get(unit.library)):
            reason = f"{unit.library} is {got}, not the pinned {pin}"
        else:
            try:
                reason = unit.check()
            except Exception as err:  # noqa: BLE001 - a check that breaks means the shape changed
                reason = f"its check failed: {err!r}"
        if reason is None:
            unit.install()
            unit.on = True
        else:
            print(f"[tuning] {unit.library} unit {unit.name} is off ({reason}): "
                  "the page runs at the library's own speed there", file=sys.stderr)
    return {u.name: u.on for u in units}


def uninstall() -> None:
    """Turn every unit off again (tests): Panel as it was before `install`."""
    from panel.io.state import state

    global _panel_edit_readonly
    if _panel_edit_readonly is not None:
        for module in _modules(_EDIT_READONLY_MODULES):
            module.edit_readonly = _panel_edit_readonly
        _panel_edit_readonly = None
    if _MODEL_INIT_SUBCLASS is not None:
        Model.__init_subclass__ = _MODEL_INIT_SUBCLASS  # type: ignore[method-assign]
    _uninstall_server_change()
    for name in ("_add_busy_event", "_remove_busy_event"):
        state.__dict__.pop(name, None)
    for unit in UNITS:
        unit.on = False


def is_on(name: str) -> bool:
    return _BY_NAME[name].on


# -- Panel's and Bokeh's private helpers the worker needs, named here once -----------------
def start_ids_at(first: int) -> bool:
    """Number new Bokeh models sequentially from `first` (the build's
    prerender does the same, so the page can keep its snapshot). False if
    this Bokeh numbers them some other way: the page then renders afresh."""
    import bokeh.util.serialization as ser
    from bokeh.settings import settings

    if not isinstance(getattr(ser, "_simple_id", None), int):
        print("[tuning] bokeh has no _simple_id counter: the page renders Python's document "
              "instead of keeping its snapshot", file=sys.stderr)
        return False
    settings.simple_ids.set_value(True)
    ser._simple_id = first - 1
    return True


def end_mock_session(doc: Document) -> bool:
    """What Panel's write_doc() does besides serialising: every model counts
    as sent and the mock session ends. False if this Panel keeps its session
    some other way (the caller then serialises after all)."""
    if not hasattr(doc, "_session_context"):
        return False
    doc.models.flush_synced()
    doc._session_context = None
    return True


def panel_patch(json_patch: Any) -> Any:
    """A patch from the page (a JS object) as Panel's pyodide link reads it."""
    from panel.io.pyodide import _convert_json_patch
    return _convert_json_patch(json_patch)


def on_document_ready(doc: Document) -> None:
    """Run the app's on-load callbacks once the page has the document, as
    Panel's pyodide link does."""
    import functools

    from bokeh.events import DocumentReady
    from panel.io.state import state

    doc.on_event("document_ready", functools.partial(state._schedule_on_load, doc))
    doc.callbacks.trigger_event(DocumentReady())


def panel_buffer_walk() -> Callable[..., Any] | None:
    """Panel's own buffer substitution (browser only), for checking ours."""
    try:
        from panel.io.pyodide import _serialize_buffers
    except ImportError:  # CPython: panel.io.pyodide needs the browser's `js`
        return None
    return _serialize_buffers
