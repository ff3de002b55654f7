"""Every change this page makes to Pyodide's Python side (one, so far).

Installed first, before Panel is imported. Like app/worker/tuning.py: a
named unit, on only at the pinned Pyodide version with the shape it
expects, otherwise off with one line on stderr (the browser console).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

# (name, why, the test that shows it at work): the one unit, for docs/tuning.md.
UNITS = [("jsnull_sentinel",
          "Panel 1.8+ compares values against pyodide.ffi.jsnull, which Pyodide 0.27 lacks",
          "browser/test_startup.py::test_prerendered_before_live_then_live")]


def install(pins: Mapping[str, str], off: Iterable[str] = ()) -> dict[str, bool]:
    """`jsnull_sentinel`: Panel 1.8+ compares values against
    `pyodide.ffi.jsnull`, new in Pyodide 0.28; 0.27 already turns a JS null
    into None, so any fresh sentinel gives Panel the answers it expects.
    Returns which units are on."""
    off = set(off)
    try:
        import pyodide
        import pyodide.ffi
    except ImportError:  # CPython: not in a browser
        return {"jsnull_sentinel": False}
    reason = None
    if "all" in off or "jsnull_sentinel" in off:
        reason = "turned off"
    elif (got := getattr(pyodide, "__version__", None)) != (pin := pins.get("pyodide")):
        reason = f"pyodide is {got}, not the pinned {pin}"
    elif hasattr(pyodide.ffi, "jsnull"):
        reason = "pyodide.ffi already has jsnull"
    if reason is not None:
        print(f"[tuning] pyodide unit jsnull_sentinel is off ({reason})", file=sys.stderr)
        return {"jsnull_sentinel": False}
    pyodide.ffi.jsnull = type("JsNull", (), {})()  # type: ignore[attr-defined]
    return {"jsnull_sentinel": True}
