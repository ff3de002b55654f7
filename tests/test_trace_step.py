"""scripts/trace_step.py edits a copy of the worker by finding lines in it:
when worker.js changes under it, this fails here rather than the tool
timing nothing the next time someone needs it."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import trace_step  # noqa: E402


def test_every_anchor_is_in_the_worker_once() -> None:
    src = (ROOT / "build" / "web" / "worker.js").read_text()
    for old, _new in trace_step.worker_edits(pyprof=True):
        assert src.count(old) == 1, old
    out = trace_step.instrumented_worker(ROOT / "build" / "web", pyprof=False)
    assert out.count("wflMark(") == 5
    assert "pyodide.globals.set('wfl_pyprof', false)" in out


def test_timeline_reads_each_stage_after_its_key() -> None:
    steps = [{"t0": 100.0, "all": 20.0, "frame": 25.0, "drawn": 27.0}]
    marks = [["recv", 90.0], ["recv", 102.0], ["apj0", 102.5], ["apj1", 103.0],
             ["enc0", 110.0], ["enc1", 111.0], ["send", 111.5], ["end", 115.0],
             ["recv", 130.0]]
    rows = trace_step.timeline(steps, flush=[50.0, 101.0], starts=[40.0, 117.0], times=marks)
    assert rows == [{"flush": 1.0, "recv": 2.0, "apj0": 2.5, "apj1": 3.0, "enc0": 10.0,
                     "enc1": 11.0, "send": 11.5, "end": 15.0, "apply": 17.0, "applied": 20.0,
                     "frame": 25.0, "drawn": 27.0}]
