"""Where one slider step's time goes, stage by stage, in the built site.

The browser benchmark (bench_browser.py) says how long a step takes; this
says where: it serves site/ with an instrumented copy of worker.js (the
file on disk is untouched) and times, per key press, on the page's clock:

    flush     the page posts the change to the worker
    recv      the worker starts handling it
    apj0/1    Python applies the page's patch (Bokeh's apply_json_patch)
    enc0/1    Python encodes its answer (app.worker.encoding.encode_patch):
              from apj1 to enc0 is the app's own work (Panel, param, the
              section's refresh and toycore)
    send      the answer is posted
    apply     the page starts applying it (after its main thread is free)
    applied   the page has applied it (bench_browser's hook)
    frame     the next frame starts (its timestamp); drawn: its figure paints end
    end       the worker is done (the address bar's patch included)

    .venv/bin/python scripts/trace_step.py [--query ?show=neuron] [--steps 40] [--pyprof]

`--pyprof` also runs cProfile around each step's Python and prints the top
of its table (cProfile slows call-heavy code several times over: read it
for shares, not for times). Not a test, and nothing is written to docs/:
a tool for finding the next thing to make faster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_browser as bb  # noqa: E402

from build.serve import Handler, csp_from_page  # noqa: E402

# (what to find in worker.js, what to put in its place). Each must match once,
# so a changed worker fails loudly here rather than timing nothing.
WORKER_EDITS = [
    ('const PROTOCOL = self.WFL_PROTOCOL;',
     '''const PROTOCOL = self.WFL_PROTOCOL;
self.wflTimes = [];
self.wflMark = (n) => self.wflTimes.push([n, performance.timeOrigin + performance.now()]);
self.addEventListener("message", (e) => {
  if (!e.data || e.data.type !== "dump") return;
  e.stopImmediatePropagation(); // not a message of the page's protocol
  self.postMessage({type: "dumped", times: self.wflTimes.splice(0),
    prof: pyodide.runPython("wfl_prof_text() if 'wfl_prof_text' in globals() else ''")});
});'''),
    ("function sendPatch(text, buffers, later) {",
     "function sendPatch(text, buffers, later) {\n  self.wflMark(later ? 'send_later' : 'send');"),
    ("  patch(msg) {\n", "  patch(msg) {\n    self.wflMark('recv');\n"),
    ('    post({ type: "idle" });', '    self.wflMark("end");\n    post({ type: "idle" });'),
]

PY_INSTRUMENT = """
import js
from panel.io.state import state
from app.worker import boot, link as _link_module
def _timed(fn, a, b):
    def run(*args, **kwargs):
        js.wflMark(a)
        try:
            return fn(*args, **kwargs)
        finally:
            js.wflMark(b)
    return run
_link_module.encode_patch = _timed(_link_module.encode_patch, "enc0", "enc1")
state.curdoc.apply_json_patch = _timed(state.curdoc.apply_json_patch, "apj0", "apj1")
if wfl_pyprof:
    import cProfile, io, pstats
    wfl_prof = cProfile.Profile()
    _apply = boot._link.apply
    def _profiled(*args):
        wfl_prof.enable()
        try:
            return _apply(*args)
        finally:
            wfl_prof.disable()
    boot._link.apply = _profiled
    def wfl_prof_text():
        out = io.StringIO()
        stats = pstats.Stats(wfl_prof, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(20)
        return out.getvalue()
"""

# On the page: when each change was posted to the worker, and the worker's
# marks (moved onto the page's clock) once asked for.
PAGE_HOOKS = """() => {
  const w = window.wflBoot.worker, origin = performance.timeOrigin;
  const t = (window.__trace = { flush: [], starts: [], times: null, prof: "" });
  const doc = window.wfl.doc, apply = doc.apply_json_patch.bind(doc);
  doc.apply_json_patch = (patch, buffers) => {
    const data = (patch.events || []).some((e) => e.kind.startsWith("Column"));
    if (data) t.starts.push(performance.now());
    return apply(patch, buffers);
  };
  const post = w.postMessage.bind(w);
  w.postMessage = (m, x) => {
    if (m && m.type === "patch") t.flush.push(performance.now());
    return post(m, x);
  };
  w.addEventListener("message", (e) => {
    if (e.data.type !== "dumped") return;
    t.times = e.data.times.map(([n, at]) => [n, at - origin]);
    t.prof = e.data.prof;
  });
}"""

STAGES = ["flush", "recv", "apj0", "apj1", "enc0", "enc1", "send", "apply", "applied",
          "frame", "drawn", "end"]


def worker_edits(pyprof: bool) -> list[tuple[str, str]]:
    """WORKER_EDITS, and Python's instrumentation once it has linked."""
    anchor = '    post({ type: "live" });'
    setup = (f"    pyodide.globals.set('wfl_pyprof', {str(pyprof).lower()});\n"
             f"    pyodide.runPython({PY_INSTRUMENT!r});\n")
    return [*WORKER_EDITS, (anchor, setup + anchor)]


def instrumented_worker(site: Path, pyprof: bool) -> str:
    src = (site / "worker.js").read_text()
    for old, new in worker_edits(pyprof):
        if src.count(old) != 1:
            raise SystemExit(f"worker.js changed: {old!r} is not there exactly once")
        src = src.replace(old, new)
    return src


def timeline(steps: list[dict], flush: list[float], starts: list[float],
             times: list[list]) -> list[dict]:
    """Each step's stages in ms after its key press: the first mark of each
    kind at or after the change was posted."""
    rows = []
    for s in steps:
        t0 = s["t0"]
        posted = min((x for x in flush if x >= t0), default=None)
        if posted is None or s["all"] is None:
            continue
        marks: dict[str, float] = {}
        for name, at in times:
            if at >= posted - 0.5 and name not in marks:
                marks[name] = at - t0
        apply = min((x for x in starts if x >= posted), default=None)
        if apply is None:
            continue
        row = {"flush": posted - t0, **marks, "apply": apply - t0, "applied": s["all"],
               "frame": s["frame"], "drawn": s["drawn"]}
        if all(k in row for k in STAGES):
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--query", default="?show=neuron", help="'' for the full page")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--pyprof", action="store_true")
    ap.add_argument("--worst", type=int, default=0,
                    help="also print the stages of the N steps drawn last")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    worker = instrumented_worker(args.site, args.pyprof)
    server, url, _log = bb.serve(args.site, Handler, csp=csp_from_page(args.site))
    try:
        with sync_playwright() as pw, bb.fresh_context(pw) as ctx:
            page = ctx.new_page()
            page.route("**/worker.js",
                       lambda r: r.fulfill(body=worker, content_type="text/javascript"))
            page.goto(url + args.query)
            bb.wait_live(page)
            # Every step the Python way: a step the page answers from
            # Python's foresight (app/worker/foresight.py) has no stages to time.
            page.evaluate("() => { window.wflNoForesight = true; }")
            time.sleep(0.5)
            page.evaluate(PAGE_HOOKS)
            steps = bb.slider_steps(page, args.steps)
            page.evaluate("() => window.wflBoot.worker.postMessage({type: 'dump'})")
            trace = bb.poll(page, "() => window.__trace.times && window.__trace", 20, "the marks")
    finally:
        server.shutdown()
    rows = timeline(steps, trace["flush"], trace["starts"], trace["times"])
    print(f"{args.query or 'full page'}: {len(rows)} of {len(steps)} steps, ms after the key press")
    print(f"{'stage':8s} {'p50':>6s} {'p95':>6s} {'max':>6s}")
    for key in STAGES:
        xs = [r[key] for r in rows]
        print(f"{key:8s} {bb.pct(xs, 50):6.1f} {bb.pct(xs, 95):6.1f} {max(xs):6.1f}")
    spans = {"python: apply the page's patch": ("apj0", "apj1"),
             "python: the app's work": ("apj1", "enc0"), "python: encode": ("enc0", "enc1"),
             "send -> the page starts applying": ("send", "apply"),
             "the page applies": ("apply", "applied"),
             "applied -> frame start": ("applied", "frame"),
             "frame start -> drawn (paints)": ("frame", "drawn")}
    print()
    for label, (a, b) in spans.items():
        xs = [r[b] - r[a] for r in rows]
        print(f"{label:32s} p50 {bb.pct(xs, 50):5.1f}  p95 {bb.pct(xs, 95):5.1f}")
    if args.worst:
        print(f"\nthe {args.worst} slowest steps, ms spent in each stage (drawn last):")
        print(" ".join(f"{k:>7s}" for k in STAGES))
        for r in sorted(rows, key=lambda r: r["drawn"])[-args.worst:]:
            print(" ".join(f"{r[k] - (r[STAGES[i - 1]] if i else 0):7.1f}"
                           for i, k in enumerate(STAGES)))
    if args.pyprof:
        print("\n" + trace["prof"])


if __name__ == "__main__":
    main()
