"""The page with every change to a library's internals turned off (the state an
upgrade of Bokeh, Panel or Pyodide leaves it in): it still starts, keeps its
snapshot, answers the keyboard and writes the URL, at the libraries' own speed;
and page and worker agree on the messages of build/web/protocol.js."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from helpers import slider_handle, step_right

ROOT = Path(__file__).resolve().parents[2]


def kinds(direction: str) -> set[str]:
    """The message kinds protocol.js declares for one direction, read as text."""
    text = (ROOT / "build" / "web" / "protocol.js").read_text()
    block = text.split(f"  {direction}: {{", 1)[1].split("\n  },", 1)[0]
    return set(re.findall(r"^    (\w+): \{", block, flags=re.M))


def test_every_tuning_unit_off_and_the_page_still_works(watched) -> None:
    w = watched
    warnings: list[str] = []
    w.page.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
    w.page.add_init_script('window.wflTuningOff = ["all"];')
    w.page.goto(w.base + "?show=neuron")
    state = w.wait_live()
    page_units = state["tuning"]
    worker_units = w.wait_for("return window.wfl.workerTuning")
    assert page_units and not any(page_units.values()), page_units
    # All off but the fill-in Panel needs to run on this Pyodide at all.
    assert worker_units.pop("jsnull_sentinel") is True
    assert worker_units and not any(worker_units.values()), worker_units
    # Each BokehJS unit said once why it is off.
    for name in page_units:
        assert sum(f"unit {name} is off (turned off)" in t for t in warnings) == 1, name
    # A reader's step still moves the plots and the address bar.
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    step_right(w, handle, 2)
    w.wait_idle()
    bias = float(parse_qs(urlparse(w.wait_for(
        "return location.search.includes('bias=') && location.href")).query)["bias"][0])
    assert abs(bias - (-1.0 + 2 * 0.05)) < 1e-9
    # With perpendicular unit directions the row Michael + Jordan scores 2.
    deadline = time.monotonic() + 20
    while True:
        pts = w.source("pre") or {}
        got = dict(zip(pts.get("name", []), pts.get("pre", []), strict=True))
        if abs(got.get("Michael Jordan", 99) - (2 + bias)) < 1e-9:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.1)


def test_every_unit_is_on_at_the_pinned_versions_and_both_sides_agree_on_messages(
        watched) -> None:
    w = watched
    w.page.goto(w.base)
    state = w.wait_live()
    assert state["tuning"] and all(state["tuning"].values()), state["tuning"]
    worker_units = w.wait_for("return window.wfl.workerTuning")
    assert all(worker_units.values()), worker_units
    # Each side handles exactly the kinds the protocol addresses to it.
    assert set(state["handled"]) == kinds("toPage")
    assert set(w.wait_for("return window.wfl.workerHandles")) == kinds("toWorker")
    assert kinds("toPage") >= {"patch", "idle", "render", "live"}
