"""Every change this page makes to Pyodide's Python side (one, so far).

Installed first, before Panel is imported. Unlike the speed units of
app/worker/tuning.py this one is a fill-in Panel needs to work at all, so
turning units off does not touch it: it is on exactly when this Pyodide
lacks the name it provides, and says so once on stderr (the browser console).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

# (name, why, the test that shows it at work): the one unit, for docs/tuning.md.
UNITS = [("jsnull_sentinel",
          "Panel 1.8+ compares values against pyodide.ffi.jsnull, which Pyodide 0.27 lacks; "
          "0.27 already turns a JS null into None, so any fresh sentinel gives Panel its answers",
          "browser/test_stock.py::test_every_tuning_unit_off_and_the_page_still_works")]


def install(pins: Mapping[str, str]) -> dict[str, bool]:
    """Add `pyodide.ffi.jsnull` if this Pyodide lacks it. Returns which
    units are on."""
    try:
        import pyodide
        import pyodide.ffi
    except ImportError:  # CPython: not in a browser
        return {"jsnull_sentinel": False}
    if hasattr(pyodide.ffi, "jsnull"):
        return {"jsnull_sentinel": False}
    pyodide.ffi.jsnull = type("JsNull", (), {})()  # type: ignore[attr-defined]
    version = getattr(pyodide, "__version__", "?")
    if version != pins.get("pyodide"):
        print(f"[tuning] pyodide {version} is not the pinned {pins.get('pyodide')}, and lacks "
              "pyodide.ffi.jsnull: filled in", file=sys.stderr)
    return {"jsnull_sentinel": True}
