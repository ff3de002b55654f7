"""Time the built site in chromium against a bare Pyodide + numpy page (the floor).

Not a test: timings depend on the machine. Every run starts chromium with a
fresh profile, measures the floor, then the site cold, a warm reload, the
slider-to-plot latency, and in another fresh profile a return visit once the
service worker has kept the site, then a reload with the network off, and
a first visit to the working tree built with `--snapshot` (which ships a
memory snapshot; `--no-shipped` leaves it out); the
table shows medians over the runs and ratios to the floor measured within
the same invocation. Writes
docs/benchmarks/browser.md and docs/benchmarks/browser.json (generated).

    .venv/bin/python scripts/bench_browser.py [--runs 3] [--steps 60] [--no-write]
        [--cpu-slowdown X]

`--cpu-slowdown X` has chromium run every page's CPU work X times slower
(devtools' CPU throttling, floor and site alike), to see how much room the
slider targets have on a slower or busier machine; it only prints.

The site is served from a temporary snapshot (a copy of site/, or a fresh
build when site/ is missing or older than the sources), so a rebuild of
site/ during the run cannot disturb it and nothing is written into site/.
The floor page lives in its own temporary folder with a symlink to the
snapshot's pyodide/ folder, and is served without a CSP.

Bytes are counted by the local server (bodies it sent, uncompressed: the
server does not compress); "gzip -6" is what each of those files would be
if a host compressed it, computed here from the files on disk.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import gzip
import http.server
import json
import os
import platform
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from build.chromium import CHROMIUM, FLAGS, VIEWPORT  # noqa: E402
from build.serve import Handler, csp_from_page  # noqa: E402
from build.site import read_config  # noqa: E402

OUT_DIR = ROOT / "docs" / "benchmarks"
LIVE_TIMEOUT_S = 180
SOURCES = ("app", "toycore", "build", "index.html")
SLIDER_LABEL = "Bias (threshold)"
TRACE_QUERY = "?show=trace&tr_corrupt=noise"
TRACE_SLIDER = "Noise, in standard deviations"

TARGETS = {
    "live_ratio": 2.0,  # time to live, cold, <= 2 x floor
    "return_ratio": 1.2,  # time to live on a return visit <= 1.2 x floor
    "slider_p95_ms": 33.0,
    "bytes_ratio": 1.5,
    "first_paint_ms": 1000.0,
}

FLOOR_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>floor: Pyodide + numpy</title>
<link rel="icon" href="data:,"></head>
<body><p id="s">Loading Pyodide and numpy...</p>
<script src="pyodide/pyodide.js"></script>
<script src="floor.js"></script>
</body></html>
"""

FLOOR_JS = """(async () => {
  const f = (window.floor = { done: false, error: null, marks: {} });
  try {
    const base = new URL(".", location.href).href;
    f.marks.start = performance.now();
    const py = await loadPyodide({
      indexURL: base + "pyodide/", lockFileURL: base + "pyodide/pyodide-lock.json",
    });
    f.marks.runtime = performance.now();
    await py.loadPackage(["numpy"], { messageCallback: () => {} });
    f.marks.numpy_loaded = performance.now();
    py.runPython("import numpy");
    f.marks.numpy = performance.now();
    document.getElementById("s").textContent = "numpy imported";
    if (location.hash === "#panel") {
      // The bound under the site's cold start: its other packages, and Panel
      // imported and tuned as the site's worker does it, but no app.
      const site = await (await fetch("panel.json")).json();
      const rest = site.packages.filter((p) => p !== "numpy");
      await py.loadPackage(rest, { messageCallback: () => {} });
      f.marks.packages = performance.now();
      py.globals.set("pins", py.toPy(site.pins));
      py.runPython("from app.worker.boot import import_libraries; import_libraries(pins)");
      f.marks.panel = performance.now();
    }
    f.done = true;
  } catch (e) {
    f.error = String(e);
  }
})();
"""

# Installed in the live page: timestamps of key presses and of every patch
# from Python, with the kinds of events each patch carried.
HOOKS_JS = """() => {
  const doc = window.wfl.doc;
  const b = (window.__bench = { keys: [], patches: [] });
  window.addEventListener("keydown", () => b.keys.push(performance.now()), true);
  // A slider's value changed on the page (a key, a drag's move).
  b.moves = [];
  doc.on_change((e) => {
    if (e.attr === "value" && e.model && e.model.type === "Slider") b.moves.push(performance.now());
  }, false);
  // Every figure's paint, by when it ended.
  const view = Bokeh.require("models/plots/plot_canvas").PlotView.prototype;
  const paint = view._actual_paint;
  const ends = (b.paintEnds = []);
  view._actual_paint = function () {
    try {
      return paint.call(this);
    } finally {
      ends.push(performance.now());
    }
  };
  // Figures on screen that were asked to paint and have not yet: a paint
  // can come a frame or more after the one that follows the patch (BokehJS
  // spaces a figure's paints with a timer), and a step is drawn only once
  // they are all done. Until 2026-11-29 "drawn" was read after the first
  // frame, so a step whose paints came later counted as drawn early (a
  // devtools trace of the full page: 5 steps in 60).
  const waiting = (b.waiting = new Set());
  const drained = [];
  const schedule = view.schedule_paint;
  view.schedule_paint = function () {
    if (!this.wflOffScreen && !this.wflFar) waiting.add(this);
    return schedule.call(this);
  };
  const whole = view.paint;
  view.paint = function () {
    try {
      return whole.call(this);
    } finally {
      waiting.delete(this);
      if (waiting.size === 0) drained.splice(0).forEach((f) => f());
    }
  };
  b.stuck = 0;
  const orig = doc.apply_json_patch.bind(doc);
  doc.apply_json_patch = (patch, buffers) => {
    const out = orig(patch, buffers);
    const kinds = (patch.events || []).map((e) => e.kind);
    const rec = { t: performance.now(), data: kinds.some((k) => k.startsWith("Column")) };
    b.patches.push(rec);
    // BokehJS asks for its repaints while and just after applying the patch
    // (some after an await, so after a frame callback registered here), and
    // paints every figure in the next frame's callbacks. A timer set from
    // that frame runs after the frame: "drawn" is then the end of the last
    // figure painted since the patch (the frame's start if none was).
    // Only for patches with data: a frame callback asks for a frame, and
    // one pending when the next key is pressed makes chromium hold the
    // worker's answer to that key until the frame is painted.
    // The frame's start is the timestamp every frame callback is given:
    // BokehJS's own callbacks (its paints) were registered during the patch,
    // before this one, and run first, so this callback's performance.now()
    // came after the paints (until 2026-11-29 it was read as the frame's
    // start, putting most of the paints into the "wait" row).
    // Then, if figures on screen are still to paint, when they have.
    if (rec.data) requestAnimationFrame((start) => {
      setTimeout(() => {
        rec.frame = start;
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          const since = ends.filter((e) => e >= rec.t);
          rec.drawn = since.length ? Math.max(...since) : start;
        };
        if (waiting.size === 0) return finish();
        drained.push(finish);
        setTimeout(() => {
          if (!done) b.stuck += 1;
          finish();
        }, 1000);
      }, 0);
    });
    return out;
  };
  return true;
}"""


# -- serving --------------------------------------------------------------------------

class Recording:
    """Mixin for a request handler: log (path, status, body bytes, file on disk)."""

    log: list[dict] = []

    def send_response(self, code, message=None):  # noqa: D401
        self._wfl_code = code
        super().send_response(code, message)

    def send_head(self):
        f = super().send_head()
        disk = self.translate_path(self.path)
        if os.path.isdir(disk):
            disk = os.path.join(disk, "index.html")
        size = os.fstat(f.fileno()).st_size if f is not None and self.command == "GET" else 0
        self.log.append({"path": self.path.split("?")[0], "status": getattr(self, "_wfl_code", 0),
                         "bytes": size, "disk": disk})
        return f

    def log_message(self, format, *args):  # noqa: A002
        pass


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = Handler.extensions_map


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(folder: Path, base: type, **attrs) -> tuple[Server, str, list[dict]]:
    log: list[dict] = []
    handler = type("BenchHandler", (Recording, base), {"log": log, **attrs})
    server = Server(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/", log


def stale(site: Path) -> bool:
    index = site / "index.html"
    if not index.exists():
        return True
    built = index.stat().st_mtime
    for name in SOURCES:
        p = ROOT / name
        files = [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file()]
        if any(f.stat().st_mtime > built for f in files if "__pycache__" not in f.parts):
            return True
    return False


def prepare_site(site: Path, tmp: Path, force_build: bool = False) -> tuple[Path, str]:
    """A private snapshot of the built site in tmp/site; returns (path, how it was made)."""
    snap = tmp / "site"
    if force_build or stale(site):
        print("building a fresh site snapshot (site/ is missing or older than the sources)...",
              flush=True)
        for attempt in range(4):
            r = subprocess.run([sys.executable, "-m", "build.site", "--out", str(snap)],
                               cwd=ROOT, capture_output=True, text=True)
            if r.returncode == 0:
                return snap, "fresh build of the working tree"
            print(f"build failed (attempt {attempt + 1}), retrying in 30 s:\n{r.stderr[-800:]}",
                  flush=True)
            time.sleep(30)
        raise SystemExit("the site does not build")
    shutil.copytree(site, snap)
    return snap, f"copy of {site.relative_to(ROOT) if site.is_relative_to(ROOT) else site}"


def build_shipped(tmp: Path) -> Path:
    """The working tree built with `--snapshot` (a memory snapshot shipped), in tmp."""
    out = tmp / "site-snapshot"
    print("building the --snapshot site...", flush=True)
    r = subprocess.run([sys.executable, "-m", "build.site", "--out", str(out), "--snapshot"],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"the --snapshot site does not build:\n{r.stderr[-2000:]}")
    return out


def make_floor(tmp: Path, snap: Path) -> Path:
    floor = tmp / "floor"
    floor.mkdir()
    (floor / "index.html").write_text(FLOOR_HTML)
    (floor / "floor.js").write_text(FLOOR_JS)
    (floor / "pyodide").symlink_to(snap / "pyodide", target_is_directory=True)
    config = read_config(snap)
    (floor / "panel.json").write_text(json.dumps({k: config[k] for k in ("packages", "pins")}))
    return floor



_gzip_cache: dict[str, int] = {}


def byte_summary(entries: list[dict]) -> dict:
    """Bytes served (uncompressed) and what gzip -6 of the same files would be."""
    body = gz = n200 = n304 = 0
    for e in entries:
        if e["status"] == 304:
            n304 += 1
        if e["status"] != 200 or not e["bytes"]:
            continue
        n200 += 1
        body += e["bytes"]
        if e["disk"] not in _gzip_cache:
            _gzip_cache[e["disk"]] = len(gzip.compress(Path(e["disk"]).read_bytes(), 6))
        gz += _gzip_cache[e["disk"]]
    return {"bytes": body, "gzip6_bytes": gz, "responses_200": n200, "responses_304": n304,
            "requests": len(entries)}


# -- browser ----------------------------------------------------------------------------

CPU_SLOWDOWN = 1.0  # --cpu-slowdown


def new_page(ctx):
    """A page in `ctx`, its CPU slowed down by CPU_SLOWDOWN (kept across
    navigations)."""
    page = ctx.new_page()
    if CPU_SLOWDOWN != 1.0:
        ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    return page


@contextmanager
def fresh_context(pw) -> Iterator[object]:
    profile = tempfile.mkdtemp(prefix="wfl-bench-profile-")
    ctx = pw.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, args=FLAGS, headless=True, viewport=VIEWPORT)
    try:
        yield ctx
    finally:
        ctx.close()
        shutil.rmtree(profile, ignore_errors=True)


def poll(page, js: str, timeout: float, what: str, interval: float = 0.05):
    """Evaluate `js` (a function) until it returns something truthy (no eval: CSP)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(js)
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def wait_live(page) -> dict:
    st = poll(page, "() => window.wfl && (window.wfl.live || window.wfl.errors.length)"
                    " ? JSON.stringify(window.wfl) : null", LIVE_TIMEOUT_S, "the live page")
    wfl = json.loads(st)
    if wfl["errors"]:
        raise RuntimeError(f"worker failed: {wfl['errors']}")
    return wfl


def fcp(page) -> float | None:
    return page.evaluate("""() => {
      const e = performance.getEntriesByName('first-contentful-paint')[0];
      return e ? e.startTime : null;
    }""")


def measure_floor(pw, url: str, log: list[dict]) -> dict:
    with fresh_context(pw) as ctx:
        page = new_page(ctx)
        start = len(log)
        page.goto(url)
        st = poll(page, "() => window.floor && (window.floor.done || window.floor.error)"
                        " ? JSON.stringify(window.floor) : null", LIVE_TIMEOUT_S, "the floor")
        floor = json.loads(st)
        if floor["error"]:
            raise RuntimeError(f"floor failed: {floor['error']}")
        time.sleep(0.3)  # let the last responses be logged
        return {"marks": floor["marks"], "numpy_ms": floor["marks"]["numpy"], "fcp_ms": fcp(page),
                **byte_summary(log[start:])}


STEP_TIMEOUT_S = 20

# Waiting for a step inside the page: one call that returns when the step is
# done. Asking from here every 10 ms put a devtools round trip (a task on the
# page's main thread) into the middle of the steps being timed (A/B, same
# build, interleaved: drawn p50 25.2 -> 23.2 ms, p95 about the same).
STEP_DONE_JS = """([keys, sent, timeoutMs]) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const check = () => {
    const b = window.__bench, w = window.wfl;
    if (b.keys.length > keys && w.patchesSent > sent && w.busy === false
        && w.foreseeing !== true
        && b.patches.every((p) => !p.data || p.drawn !== undefined)) return resolve(true);
    if (performance.now() - t0 > timeoutMs) return reject(new Error("slider step timed out"));
    setTimeout(check, 5);
  };
  check();
})"""


def slider_steps(page, steps: int, label: str = SLIDER_LABEL, section: str = "neuron"
                 ) -> list[dict]:
    """Press ArrowRight/ArrowLeft on a slider (the bias slider unless told);
    time each press to the plot change."""
    page.evaluate(HOOKS_JS)
    handle = bias_handle(page, label)
    handle.focus()
    # Focusing scrolls; the page reports the sections now on screen and
    # Python redraws any that were stale. Start timing after that settles.
    poll(page, f"() => (window.wfl.onScreen || []).includes('{section}')", 20,
         "on-screen report")
    time.sleep(0.3)
    poll(page, "() => window.wfl.busy === false", 20, "idle after scrolling")
    out = []
    for i in range(steps):
        before = page.evaluate("() => [window.__bench.keys.length, window.wfl.patchesSent]")
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        # Done when Python has answered this change and gone idle again.
        page.evaluate(STEP_DONE_JS, [*before, STEP_TIMEOUT_S * 1000])
        rec = page.evaluate("""(n) => {
          const b = window.__bench; const t0 = b.keys[n];
          const data = b.patches.filter((p) => p.t >= t0 && p.data);
          const last = data[data.length - 1];
          return {t0, first: data.length ? data[0].t - t0 : null,
                  all: data.length ? last.t - t0 : null,
                  drawn: data.length ? last.drawn - t0 : null,
                  frame: data.length ? last.frame - t0 : null,
                  idle: window.wfl.idleAt - t0, patches: data.length};
        }""", before[0])
        out.append(rec)
    return out


# A key held down: keydown events on the handle at the key-repeat rate
# (noUiSlider steps on each), one direction, then the other.
HOLD_JS = """(el, [key, presses, interval]) => new Promise((done) => {
  let n = 0;
  const press = () => {
    el.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, composed: true }));
    if (++n < presses) setTimeout(press, interval); else done();
  };
  press();
})"""

BURST_DONE_JS = """(timeoutMs) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  const check = () => {
    const b = window.__bench, w = window.wfl;
    if (w.busy === false && w.foreseeing !== true && !w.queued
        && b.patches.every((p) => !p.data || p.drawn !== undefined)) return resolve(true);
    if (performance.now() - t0 > timeoutMs) return reject(new Error("burst timed out"));
    setTimeout(check, 20);
  };
  setTimeout(check, 50);
})"""

# Each value change since move n: how long until the plots were drawn with
# data applied at or after it (the next frame that shows the slider's value
# or a later one).
MOVES_JS = """(n) => {
  const b = window.__bench;
  return b.moves.slice(n).map((t0) => {
    const p = b.patches.find((x) => x.data && x.t >= t0 && x.drawn !== undefined);
    return p ? p.drawn - t0 : null;
  });
}"""

HOLD_PRESSES, HOLD_INTERVAL_MS = 24, 33  # about the key repeat of desktop systems
DRAG_MOVES, DRAG_PX, DRAG_INTERVAL_S = 30, 2, 0.016


def held_key(page) -> list[float | None]:
    """Hold ArrowRight, then ArrowLeft, on the bias slider (HOLD_JS)."""
    handle = bias_handle(page)
    out: list[float | None] = []
    for key in ("ArrowRight", "ArrowLeft"):
        n = page.evaluate("() => window.__bench.moves.length")
        handle.evaluate(HOLD_JS, [key, HOLD_PRESSES, HOLD_INTERVAL_MS])
        page.evaluate(BURST_DONE_JS, STEP_TIMEOUT_S * 1000)
        out += page.evaluate(MOVES_JS, n)
    return out


def drag(page) -> list[float | None]:
    """Drag the bias slider's handle right and back with the mouse, a move
    per frame; the handle snaps to the slider's step every few pixels."""
    handle = bias_handle(page)
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    n = page.evaluate("() => window.__bench.moves.length")
    page.mouse.move(x, y)
    page.mouse.down()
    for sign in (1, -1):
        for _ in range(DRAG_MOVES):
            x += sign * DRAG_PX
            page.mouse.move(x, y)
            time.sleep(DRAG_INTERVAL_S)
    page.mouse.up()
    page.evaluate(BURST_DONE_JS, STEP_TIMEOUT_S * 1000)
    return page.evaluate(MOVES_JS, n)


def bias_handle(page, label: str = SLIDER_LABEL):
    group = page.locator("div.bk-input-group",
                         has=page.locator(".bk-slider-title", has_text=label))
    return group.locator(".noUi-handle").first


def measure_shipped(pw, url: str, log: list[dict]) -> dict:
    """A first visit to the `--snapshot` build, which restores the snapshot it ships."""
    with fresh_context(pw) as ctx:
        ctx.add_init_script("window.wflNoOffline = true;")
        page = new_page(ctx)
        start = len(log)
        page.goto(url)
        wfl = wait_live(page)
        if wfl.get("startedFrom") != "shipped snapshot":
            raise RuntimeError(f"the shipped snapshot was not used ({wfl.get('snapshotAtStart')})")
        time.sleep(0.3)
        return {"live_ms": wfl["marks"]["live"], "fcp_ms": fcp(page),
                "prerendered_ms": wfl["marks"].get("prerendered"), **byte_summary(log[start:])}


def measure_return(pw, url: str, log: list[dict]) -> dict:
    """A reader's second visit, once the service worker has kept the site
    (page/offline.js) and the page a memory snapshot (snapshot.js): with
    the site's files kept only, then with the snapshot, then a reload with
    the network off."""
    with fresh_context(pw) as ctx:
        page = new_page(ctx)
        page.goto(url)
        wait_live(page)
        poll(page, "() => !['waiting', 'keeping'].includes(window.wfl.offline)"
             " && !['waiting', 'making'].includes(window.wfl.snapshot)",
             LIVE_TIMEOUT_S * 3, "the site and a snapshot kept")
        kept = page.evaluate(
            "() => [window.wfl.offline, window.wfl.snapshot, window.wfl.snapshotMade]")
        if kept[0] is None:  # a site from before page/offline.js (comparisons with --site)
            return {}
        if kept[0] != "kept":
            raise RuntimeError(f"the site was not kept for offline use: {kept[0]}")
        snapshot = kept[1] is not None  # a site from before snapshot.js has no return from one
        if snapshot and kept[1] != "kept":
            raise RuntimeError(f"no snapshot was kept: {kept[1]}")
        out: dict = {"snapshot_made": kept[2]}
        for key in ("return_cache", "return", "offline"):
            if key == "return_cache" and not snapshot:
                continue
            ctx.set_offline(key == "offline")
            start = len(log)
            if key == "return_cache":  # a page of its own, told to leave the snapshot alone
                visit = new_page(ctx)
                visit.add_init_script("window.wflNoSnapshot = true;")
                visit.goto(url)
            else:
                visit = page
                visit.reload()
            wfl = wait_live(visit)
            out[key] = {"live_ms": wfl["marks"]["live"], "fcp_ms": fcp(visit),
                        "prerendered_ms": wfl["marks"].get("prerendered"),
                        "started_from": wfl.get("startedFrom")}
            if snapshot and key != "return_cache" and wfl.get("startedFrom") != "snapshot":
                why = wfl.get("snapshotAtStart")
                raise RuntimeError(f"{key}: the snapshot was not used ({why})")
            time.sleep(0.3)
            out[key].update(byte_summary(log[start:]))
            if visit is not page:
                visit.close()
        return out


def measure_site(pw, url: str, log: list[dict], steps: int) -> dict:
    with fresh_context(pw) as ctx:
        # The service worker is measured on its own (measure_return): here the
        # warm reload is the browser's HTTP cache, and slider steps do not
        # share the CPU with it keeping the site.
        ctx.add_init_script("window.wflNoOffline = true;")
        page = new_page(ctx)
        offsite: list[str] = []
        ctx.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:"))
               else offsite.append(r.url))
        start = len(log)
        page.goto(url)
        wfl = wait_live(page)
        cold = {"marks": wfl["marks"], "live_ms": wfl["marks"]["live"], "fcp_ms": fcp(page)}
        time.sleep(0.3)
        cold.update(byte_summary(log[start:]))

        start = len(log)
        page.reload()
        wfl = wait_live(page)
        warm = {"marks": wfl["marks"], "live_ms": wfl["marks"]["live"], "fcp_ms": fcp(page)}
        time.sleep(0.3)
        warm.update(byte_summary(log[start:]))

        # The neuron section alone (an embed), then the whole page a reader
        # opens, where the same slider moves figures in five sections.
        # Each twice: as a reader gets them (each press a step Python
        # foresaw), and with foresight off (window.wflNoForesight), i.e. a
        # value Python did not work out ahead, as a drag's or a typed URL's.
        out: dict = {"cold": cold, "warm": warm, "offsite": offsite}
        # Section 10's noise slider too: each step reruns a causal trace of the
        # prompt (TRACE_QUERY); key steps only, half as many.
        for key, query, label, section, n, bursts in (
                ("slider", "?show=neuron", SLIDER_LABEL, "neuron", steps, True),
                ("slider_full", "", SLIDER_LABEL, "neuron", steps, True),
                ("slider_trace", TRACE_QUERY, TRACE_SLIDER, "trace", steps // 2, False)):
            for suffix, foresight in (("", True), ("_unforeseen", False)):
                page.goto(url + query)
                wait_live(page)
                if not foresight:
                    page.evaluate("() => { window.wflNoForesight = true; }")
                time.sleep(0.5)
                out[key + suffix] = slider_steps(page, n, label, section)
                out[key + suffix + "_foreseen"] = page.evaluate("() => window.wfl.foreseenSteps")
                if bursts:
                    out["held_" + key + suffix] = held_key(page)
                    out["drag_" + key + suffix] = drag(page)
                    out[key + suffix + "_stuck"] = page.evaluate("() => window.__bench.stuck")
        return out


# -- report -----------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100)."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def med(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs: list[dict]) -> dict:
    floors = [r["floor"] for r in runs]
    colds = [r["site"]["cold"] for r in runs]
    warms = [r["site"]["warm"] for r in runs]
    steps = [s for r in runs for s in r["site"]["slider"]]
    firsts = [s["first"] for s in steps if s["first"] is not None]
    alls = [s["all"] for s in steps if s["all"] is not None]
    idles = [s["idle"] for s in steps]

    def latency(key: str) -> dict:
        """p50/p95/max of the steps in `key` ("slider", "slider_full"), by phase."""
        st = [s for r in runs for s in r["site"].get(key, [])]
        out: dict = {"steps": len(st)}
        # Where "drawn" goes after the data: the wait for the display's next
        # frame (data applied -> that frame's start) and the figures' paints
        # in it (frame start -> drawn). Steps from runs before "frame" was
        # recorded have neither.
        timed = [x for x in st if x.get("frame") is not None and x.get("all") is not None]
        phases = {phase: [x[phase] for x in st if x.get(phase) is not None]
                  for phase in ("first", "all", "drawn")}
        phases["wait"] = [x["frame"] - x["all"] for x in timed]
        phases["paint"] = [x["drawn"] - x["frame"] for x in timed]
        for phase, xs in phases.items():
            out[phase] = {"p50": pct(xs, 50), "p95": pct(xs, 95), "max": max(xs)} if xs else None
        return out

    def burst(key: str) -> dict | None:
        """Held keys and drags: each value change to the next plots drawn."""
        xs = [x for r in runs for x in r["site"].get(key, [])]
        got = [x for x in xs if x is not None]
        if not got:
            return None
        return {"moves": len(xs), "missing": len(xs) - len(got), "p50": pct(got, 50),
                "p95": pct(got, 95), "max": max(got)}

    live_ratios = [c["live_ms"] / f["numpy_ms"] for c, f in zip(colds, floors, strict=True)]
    byte_ratios = [c["bytes"] / f["bytes"] for c, f in zip(colds, floors, strict=True)]
    gz_ratios = [c["gzip6_bytes"] / f["gzip6_bytes"] for c, f in zip(colds, floors, strict=True)]
    stage_names = ("runtime", "prerendered", "prerenderedAll", "numpy", "app", "live")
    return {
        "floor_numpy_ms": med([f["numpy_ms"] for f in floors]),
        "floor_runtime_ms": med([f["marks"]["runtime"] for f in floors]),
        "panel_floor_ms": med([f["panel"]["panel"] for f in floors if "panel" in f]),
        "panel_floor_packages_ms": med([f["panel"]["packages"] for f in floors if "panel" in f]),
        "panel_floor_ratio": med([f["panel"]["panel"] / f["numpy_ms"] for f in floors
                                  if "panel" in f]),
        "floor_bytes": med([f["bytes"] for f in floors]),
        "floor_gzip6_bytes": med([f["gzip6_bytes"] for f in floors]),
        "site_live_ms": med([c["live_ms"] for c in colds]),
        "site_fcp_ms": med([c["fcp_ms"] for c in colds]),
        "site_prerendered_ms": med([c["marks"].get("prerendered") for c in colds]),
        "site_stage_ms": {k: med([c["marks"].get(k) for c in colds]) for k in stage_names},
        "site_bytes": med([c["bytes"] for c in colds]),
        "site_gzip6_bytes": med([c["gzip6_bytes"] for c in colds]),
        "site_requests": med([c["requests"] for c in colds]),
        "floor_requests": med([f["requests"] for f in floors]),
        "live_ratio": med(live_ratios),
        "live_ratios": live_ratios,
        "bytes_ratio": med(byte_ratios),
        "gzip6_ratio": med(gz_ratios),
        "warm_live_ms": med([w["live_ms"] for w in warms]),
        "warm_fcp_ms": med([w["fcp_ms"] for w in warms]),
        "warm_bytes": med([w["bytes"] for w in warms]),
        "warm_responses_200": med([w["responses_200"] for w in warms]),
        "warm_responses_304": med([w["responses_304"] for w in warms]),
        "warm_requests": med([w["requests"] for w in warms]),
        "warm_live_ratio": med([w["live_ms"] / f["numpy_ms"]
                                for w, f in zip(warms, floors, strict=True)]),
        **{f"{key}_{what}": med([r["site"][key][what] for r in runs if key in r["site"]])
           for key in ("return_cache", "return", "offline", "shipped")
           for what in ("live_ms", "fcp_ms", "prerendered_ms", "bytes", "gzip6_bytes", "requests")},
        **{f"{key}_live_ratio": med([r["site"][key]["live_ms"] / r["floor"]["numpy_ms"]
                                     for r in runs if key in r["site"]])
           for key in ("return_cache", "return", "offline", "shipped")},
        **{f"shipped_{what}_ratio": med([r["site"]["shipped"][what] / r["floor"][what]
                                         for r in runs if "shipped" in r["site"]])
           for what in ("bytes", "gzip6_bytes")},
        "snapshot_made_ms": med([r["site"]["snapshot_made"]["ms"] for r in runs
                                 if (r["site"].get("snapshot_made") or {}).get("ms")]),
        "snapshot_made_bytes": med([r["site"]["snapshot_made"]["bytes"] for r in runs
                                    if (r["site"].get("snapshot_made") or {}).get("bytes")]),
        "slider_steps": len(steps),
        "slider_missing_data": len(steps) - len(firsts),
        "slider_all_p50_ms": pct(alls, 50) if alls else None,
        "slider_all_p95_ms": pct(alls, 95) if alls else None,
        "slider_idle_p50_ms": pct(idles, 50),
        "slider_idle_p95_ms": pct(idles, 95),
        "slider_idle_max_ms": max(idles),
        "offsite_requests": sorted({u for r in runs for u in r["site"]["offsite"]}),
        "latency_neuron": latency("slider"),
        "latency_full": latency("slider_full"),
        "latency_neuron_unforeseen": latency("slider_unforeseen"),
        "latency_full_unforeseen": latency("slider_full_unforeseen"),
        "latency_trace": latency("slider_trace"),
        "latency_trace_unforeseen": latency("slider_trace_unforeseen"),
        "bursts": {f"{kind}_{key}{suffix}": burst(f"{kind}_{key}{suffix}")
                   for kind in ("held", "drag") for key in ("slider", "slider_full")
                   for suffix in ("", "_unforeseen")},
        "stuck": sum(r["site"].get(key + suffix + "_stuck", 0) for r in runs
                     for key in ("slider", "slider_full") for suffix in ("", "_unforeseen")),
        "foreseen_steps": {key: sum(r["site"].get(key + "_foreseen", 0) for r in runs)
                           for key in ("slider", "slider_full", "slider_unforeseen",
                                       "slider_full_unforeseen")},
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(s: dict) -> list[list[str]]:
    mb = lambda b: f"{b / 1e6:.2f} MB"  # noqa: E731
    ms = lambda x: "n/a" if x is None else f"{x:,.0f} ms"  # noqa: E731
    t = TARGETS
    rows = [
        ["time to live, cold (site live / floor numpy imported)", ms(s["floor_numpy_ms"]),
         ms(s["site_live_ms"]), f"{s['live_ratio']:.2f}x", f"<= {t['live_ratio']}x",
         verdict(s["live_ratio"] <= t["live_ratio"])],
        *([["bound under it: the floor page going on to load the site's packages and import "
            "Panel as the site's worker does (`app.worker.boot.import_libraries`), no app",
            ms(s["floor_numpy_ms"]), ms(s["panel_floor_ms"]), f"{s['panel_floor_ratio']:.2f}x",
            "(info)", ""]] if s.get("panel_floor_ms") else []),
        ["first contentful paint", "", ms(s["site_fcp_ms"]), "", f"<= {t['first_paint_ms']:.0f} ms",
         verdict(s["site_fcp_ms"] is not None and s["site_fcp_ms"] <= t["first_paint_ms"])],
        ["prerendered figures on the first screen drawn (wfl.marks.prerendered)", "",
         ms(s["site_prerendered_ms"]), "",
         f"<= {t['first_paint_ms']:.0f} ms",
         verdict(s["site_prerendered_ms"] is not None
                 and s["site_prerendered_ms"] <= t["first_paint_ms"])],
        *latency_rows(s, t),
        ["bytes transferred, cold (uncompressed, as served)", mb(s["floor_bytes"]),
         mb(s["site_bytes"]), f"{s['bytes_ratio']:.2f}x", f"<= {t['bytes_ratio']}x",
         verdict(s["bytes_ratio"] <= t["bytes_ratio"])],
        ["bytes if served gzip -6", mb(s["floor_gzip6_bytes"]), mb(s["site_gzip6_bytes"]),
         f"{s['gzip6_ratio']:.2f}x", f"<= {t['bytes_ratio']}x",
         verdict(s["gzip6_ratio"] <= t["bytes_ratio"])],
        ["warm reload, time to live (same profile, HTTP cache)", "", ms(s["warm_live_ms"]),
         f"{s['warm_live_ratio']:.2f}x", "(info)", ""],
    ]
    if s.get("return_cache_live_ms") is not None:
        rows += [
            ["return visit, files only (service worker, no snapshot)", "",
             ms(s["return_cache_live_ms"]), f"{s['return_cache_live_ratio']:.2f}x", "(info)", ""],
        ]
    if s.get("return_live_ms") is not None:
        snapshot = s.get("return_cache_live_ms") is not None
        rows += [
            ["return visit, time to live (service worker" + (" and snapshot)" if snapshot else ")"),
             "", ms(s["return_live_ms"]), f"{s['return_live_ratio']:.2f}x",
             f"<= {t['return_ratio']}x", verdict(s["return_live_ratio"] <= t["return_ratio"])],
            ["return visit, bytes over the network", "", mb(s["return_bytes"]), "", "0 MB",
             verdict(s["return_bytes"] == 0)],
            ["offline reload, time to live (network off)", "", ms(s["offline_live_ms"]),
             f"{s['offline_live_ratio']:.2f}x", "(info)", ""],
        ]
    if s.get("shipped_live_ms") is not None:
        rows += [
            ["`--snapshot` build, first visit: time to live (its shipped snapshot)",
             ms(s["floor_numpy_ms"]), ms(s["shipped_live_ms"]), f"{s['shipped_live_ratio']:.2f}x",
             "(info)", ""],
            ["`--snapshot` build, first visit: prerendered figures drawn", "",
             ms(s["shipped_prerendered_ms"]), "", "(info)", ""],
            ["`--snapshot` build, first visit: bytes (as served; if served gzip -6)", "",
             f"{mb(s['shipped_bytes'])}; {mb(s['shipped_gzip6_bytes'])}",
             f"{s['shipped_bytes_ratio']:.2f}x; {s['shipped_gzip6_bytes_ratio']:.2f}x",
             "(info)", ""],
        ]
    if s.get("snapshot_made_ms") is not None:
        rows += [
            ["snapshot made in the background after the first visit (time, bytes kept)", "",
             f"{ms(s['snapshot_made_ms'])}, {mb(s['snapshot_made_bytes'])}", "", "(info)", ""],
        ]
    return rows


def latency_rows(s: dict, t: dict) -> list[list[str]]:
    """Slider latency against the target, for the embed and the full page: to
    every plot's data applied (the step's last data patch; Python sends one)
    and to the frame painted after it, which adds the wait for the display's
    next frame (up to 16.7 ms at 60 Hz) and BokehJS's repaint. One decimal:
    whole milliseconds showed 33.3 as "33 ms" next to a MISS."""
    ms = lambda x: "n/a" if x is None else f"{x:.1f} ms"  # noqa: E731
    rows = []
    for key, page in (("latency_neuron", "?show=neuron"), ("latency_full", "full page"),
                      ("latency_neuron_unforeseen", "?show=neuron, not foreseen"),
                      ("latency_full_unforeseen", "full page, not foreseen"),
                      ("latency_trace", "section 10's noise slider"),
                      ("latency_trace_unforeseen", "section 10's noise slider, not foreseen")):
        lat = s.get(key) or {}
        if not lat.get("steps"):
            continue
        for phase, what in (("all", "every plot's data applied"), ("drawn", "plots drawn")):
            got = (lat.get(phase) or {}).get("p95")
            rows.append([f"slider -> {what}, p95, {page} ({lat.get('steps', 0)} steps)", "",
                         ms(got), "", f"<= {t['slider_p95_ms']:.0f} ms",
                         verdict(got is not None and got <= t["slider_p95_ms"])])
    for kind, what in (("held", "key held down (30 presses/s)"), ("drag", "dragged")):
        for key, page in (("slider", "?show=neuron"), ("slider_full", "full page")):
            for suffix, note in (("", ""), ("_unforeseen", ", not foreseen")):
                b = (s.get("bursts") or {}).get(f"{kind}_{key}{suffix}")
                if not b:
                    continue
                rows.append([f"slider {what} -> plots drawn, p95, {page}{note} "
                             f"({b['moves']} value changes)", "", ms(b["p95"]), "",
                             f"<= {t['slider_p95_ms']:.0f} ms",
                             verdict(b["p95"] <= t["slider_p95_ms"] and not b["missing"])])
    return rows


def detail_rows(s: dict) -> list[list[str]]:
    ms = lambda x: "n/a" if x is None else f"{x:,.0f} ms"  # noqa: E731
    st = s["site_stage_ms"]
    return [
        ["floor: Pyodide runtime ready", ms(s["floor_runtime_ms"])],
        ["floor: numpy imported", ms(s["floor_numpy_ms"])],
        *([["Panel bound (the floor page going on): the site's other packages loaded",
            ms(s["panel_floor_packages_ms"])],
           ["Panel bound: Panel imported", ms(s["panel_floor_ms"])]]
          if s.get("panel_floor_ms") else []),
        ["site: status 'runtime' received (worker loaded pyodide.js)*", ms(st["runtime"])],
        ["site: prerendered figures on the first screen drawn", ms(st["prerendered"])],
        ["site: every other section in the prerendered document, views built",
         ms(st["prerenderedAll"])],
        ["site: status 'numpy' received (runtime ready, numpy loading)", ms(st["numpy"])],
        ["site: status 'app' received (numpy loaded; Panel, Bokeh, app loading)",
         ms(st["app"])],
        ["site: live", ms(st["live"])],
        ["slider (?show=neuron) -> worker idle again p50 / p95 / max",
         f"{s['slider_idle_p50_ms']:.0f} / {s['slider_idle_p95_ms']:.0f} / "
         f"{s['slider_idle_max_ms']:.0f} ms"],
        *[[f"slider ({page}) -> {what} p50 / p95 / max",
           " / ".join(f"{v:.0f}" for v in (s[key][phase]["p50"], s[key][phase]["p95"],
                                              s[key][phase]["max"])) + " ms"]
          for key, page in (("latency_neuron", "?show=neuron"), ("latency_full", "full page"),
                            ("latency_neuron_unforeseen", "?show=neuron, not foreseen"),
                            ("latency_full_unforeseen", "full page, not foreseen"))
          for phase, what in (("all", "every plot's data applied"),
                              ("wait", "data applied to the next frame's start"),
                              ("paint", "that frame's start to the figures painted"),
                              ("drawn", "drawn"))
          if s.get(key, {}).get(phase)],
        *[[f"slider ({page}): steps the page answered from Python's foresight",
           f"{s['foreseen_steps'][key]} of {s[lat]['steps']}"]
          for key, lat, page in (
              ("slider", "latency_neuron", "?show=neuron"),
              ("slider_full", "latency_full", "full page"),
              ("slider_unforeseen", "latency_neuron_unforeseen", "?show=neuron, not foreseen"),
              ("slider_full_unforeseen", "latency_full_unforeseen", "full page, not foreseen"))
          if s.get("foreseen_steps") and s.get(lat, {}).get("steps")],
        *[[f"slider {kind} ({key}) -> next plots drawn p50 / p95 / max (value changes, "
           "never drawn)",
           f"{b['p50']:.0f} / {b['p95']:.0f} / {b['max']:.0f} ms ({b['moves']}, {b['missing']})"]
          for key, b in (s.get("bursts") or {}).items() if b
          for kind in [key.split("_")[0]]],
        ["steps and moves whose figures on screen were not all painted 1 s later "
         "(counted as drawn then)", f"{s.get('stuck', 0)}"],
        ["requests, cold: floor / site", f"{s['floor_requests']:.0f} / {s['site_requests']:.0f}"],
        ["warm reload: responses 200 / 304 / bytes re-sent",
         f"{s['warm_responses_200']:.0f} / {s['warm_responses_304']:.0f} / "
         f"{s['warm_bytes'] / 1e6:.2f} MB"],
        ["warm reload: first contentful paint", ms(s["warm_fcp_ms"])],
        *[[f"{what}: requests to the server / prerendered figures drawn",
           f"{s[key + '_requests']:.0f} / {ms(s[key + '_prerendered_ms'])}"]
          for key, what in (("return", "return visit"), ("offline", "offline reload"))
          if s.get(key + "_requests") is not None],
    ]


def fmt_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def source_revision() -> str:
    """HEAD, marked when the sources the site is built from have uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *SOURCES], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + (" + uncommitted changes" if dirty else "")


def chromium_version() -> str:
    r = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


MAIN_HEADER = ["measure", "floor", "site", "ratio", "target", "verdict"]


def bound_note(s: dict) -> str:
    """What the Panel bound leaves of the cold-start target, from this run's figures."""
    left = TARGETS["live_ratio"] - s["panel_floor_ratio"]
    room = (f"that leaves {left:.2f}x ({left * s['floor_numpy_ms']:,.0f} ms)" if left > 0
            else "that leaves nothing")
    return (f"The cold-start target is {TARGETS['live_ratio']}x the floor. A page that does "
            "nothing but load the site's packages and import Panel as the site does, starting "
            f"at navigation, is already at {s['panel_floor_ratio']:.2f}x; {room} for everything "
            "else the site does before it is live: draw the first screen, import the app, build "
            f"it and link it. The site's cold start is "
            f"{s['live_ratio'] - s['panel_floor_ratio']:.2f}x above the bound.")


def write_report(s: dict, runs: list[dict], meta: dict) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    md = [
        "# Browser benchmark: the site against a bare Pyodide + numpy page",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} — do not edit by hand; "
        "rerun the command to refresh.",
        "",
        f"Machine: {meta['nproc']} cores ({meta['platform']}), {meta['chromium']}, "
        f"headless, fresh profile per run; {meta['runs']} runs, medians shown. "
        f"Site: {meta['site_source']}.",
        "",
        "The machine is small and shared (other jobs may run at the same time), so absolute "
        "times are noisy; the ratios compare the site with the floor measured in the same run "
        "and are the figures to watch.",
        "",
        md_table(MAIN_HEADER, table(s)),
        "",
        *([bound_note(s), ""] if s.get("panel_floor_ratio") else []),
        "## Details (medians; times from navigation start)",
        "",
        md_table(["measure", "value"], detail_rows(s)),
        "",
        "\\* Stage marks are taken when the page's main thread handles the worker's status "
        "message; while BokehJS draws the prerendered figures the main thread is busy, so "
        "a mark can lag the worker by up to that long.",
        "",
        "## How each figure is measured",
        "",
        "- **Floor**: a page in its own temporary folder that loads the site's "
        "`pyodide/pyodide.js`, calls `loadPyodide` with `indexURL` and `lockFileURL` pointing "
        "at the same `pyodide/` folder (a symlink), then `loadPackage([\"numpy\"])` and "
        "`import numpy`, on the main thread. Time: `performance.now()` after the import. "
        "**Panel bound**: the same page, opened again in a fresh profile with `#panel`, goes "
        "on to `loadPackage` every other package the site's worker loads and to run "
        "`app.worker.boot.import_libraries` (the tuning units that precede Panel, then "
        "`import panel.io.pyodide`), the first step of the worker's own start.",
        "- **Time to live**: `wfl.marks.live` (the loader received \"live\" from the worker: "
        "the live Bokeh document is rendered and linked to Python).",
        "- **First contentful paint**: the `first-contentful-paint` paint-timing entry. "
        "**Prerendered**: `wfl.marks.prerendered`, after the frame in which BokehJS drew "
        "the figures prerendered at build time for the first screen (the page's children up "
        "to the first section shown; the other sections join the document after it, "
        "`wfl.marks.prerenderedAll`).",
        "- **Slider latency**: on `?show=neuron` (one section, as an embed) and on the full "
        "page a reader opens (the same slider moves figures in five sections; those off "
        "screen wait until scrolled to, and since 2026-11-28 one within 100px of the "
        "screen but not on it is painted a frame later), the \"Bias (threshold)\" "
        "noUiSlider handle is "
        "focused and ArrowRight/ArrowLeft pressed alternately. Start: a capture-phase "
        "`keydown` listener in the page. \"Every plot's data applied\": the step's last "
        "patch from Python carrying a `ColumnDataChanged`/`ColumnsPatched` event has been "
        "applied to the live document (`wfl.doc.apply_json_patch` is wrapped to timestamp "
        "it; Python sends one patch per step, so first and last are the same patch). "
        "\"Drawn\": the end of the last figure paint (BokehJS's `PlotView._actual_paint`, "
        "wrapped to timestamp it) once the first frame after that patch is over and every "
        "figure on screen that had been asked to paint has painted (`schedule_paint` and "
        "`paint` are wrapped to keep that set), i.e. every figure on screen with new data "
        "is on its canvas; the browser then composites that frame. Until 2026-11-29 it was "
        "read after the first frame alone, and a step whose figures painted a frame or two "
        "later (BokehJS's throttle, since replaced by `page/bokeh_tuning.js` `paintInNextFrame`) "
        "counted as drawn before they were; a devtools trace of the full page found 5 such "
        "steps in 60. A step whose figures have still not all painted 1 s later counts as "
        "drawn then (the detail table counts those). It adds "
        "the wait for the display's next frame (0 to 16.7 ms at 60 Hz) and the repaints; "
        "the detail table gives both (data applied -> the start of that frame, a frame "
        "callback's timestamp argument; frame start -> drawn; until 2026-11-29 the start "
        "was read as the time that callback ran, after BokehJS's own paints in the same "
        "frame, which put most of the paints into the wait). The wait is negative when "
        "the frame had begun before the patch's task ended: the frame's callbacks then "
        "run after that task, in the same frame. "
        "(Until 2026-11-28 this was a frame callback registered right after the patch; "
        "BokehJS asks for some repaints only after an `await`, so that callback ran "
        "between figures' paints and the figure read 4-7 ms early on the full page.) "
        "Each step waits for the worker to go idle before "
        "the next press (\"idle\" is `wfl.idleAt`), inside the page in one call, so the "
        "benchmark puts no devtools round trip on the page's main thread during a step. "
        "The frame callback that reads \"drawn\" is registered for patches with data only "
        "(until 2026-11-28 also for the address-bar patch that follows, which asked for a "
        "frame of its own; see the next point). Percentiles are over all steps of all runs.",
        "- **Foreseen and not foreseen steps** (since 2026-11-29; a grid since 2026-11-29 "
        "evening): once the reader is on a slider (its handle focused, the pointer over "
        "it) and after each key step on it, Python works out the patches that bring it to "
        "each value up to 8 presses either way and sends them to the page "
        "(`app/worker/foresight.py`); a press or drag move that lands "
        "on one of those values has its patch applied by the page in its own task, even "
        "while Python is busy with the step before, and Python, which still makes the "
        "step, checks that its state came out as the page shows it (it sends the whole "
        "value of what the grid set if not). The main rows are the steps as a reader gets "
        "them (the detail table counts those answered from foresight); each step also "
        "waits until the worker has finished its foresight (`wfl.foreseeing`). The "
        "\"not foreseen\" rows are the same presses with foresight off in the page "
        "(`window.wflNoForesight`): what a value Python did not work out ahead costs.",
        f"- **Key held down and drag** (since 2026-11-29): after the steps above, on the "
        f"same page, {HOLD_PRESSES} `keydown` events on the handle {HOLD_INTERVAL_MS} ms "
        f"apart (about a desktop's key repeat) one way, then as many the other way; then "
        f"a mouse drag of the handle, {DRAG_MOVES} moves of {DRAG_PX} px, one every "
        f"{DRAG_INTERVAL_S * 1000:.0f} ms, right and back (the slider's value changes "
        "every few moves). Nothing waits for Python between them. Each change of the "
        "slider's value on the page (BokehJS document change) is timed to \"drawn\" (as "
        "above) of the first data patch applied at or after it: the first time the "
        "figures show that value or a later one. A change never drawn that way "
        "(none seen so far) counts as a MISS.",
        "- **What \"drawn\" waits for besides Python**: the display's next frame after the "
        "data is applied (0 to 16.7 ms at 60 Hz) and the paints, the two detail "
        "rows above. A key press also asks for a frame of its own (the slider's handle "
        "moves), and chromium holds messages posted to a page from a key press until that "
        "frame is painted (its `DeferRendererTasksAfterInput` scheduling, on by default): "
        "a devtools trace showed the worker's answer waiting on an idle page until just "
        "after the key's frame, so the figures were painted in the frame after it. Messages "
        "on a BroadcastChannel are not held, so the worker answers on one of the page's own "
        "(since 2026-11-28; `boot.js`, `page/link.js`); a browser without BroadcastChannel "
        "gets postMessage and the wait.",
        "- **Bytes**: bodies sent by the local server during the page load (it does not "
        "compress, so this is what went over the wire); gzip -6 is `gzip.compress(file, 6)` "
        "of each of those files, i.e. what a host that compresses would send.",
        "- **Warm reload**: `page.reload()` in the same profile after the cold load. The "
        "server sends `Last-Modified` but no cache headers, so chromium caches heuristically "
        "and revalidates some files (304s above); this is what was measured, not a promise "
        "about other hosts.",
        "- **Return visits**: a fresh profile opens the page, goes live and waits until the "
        "service worker has kept the site and the page a memory snapshot (made in a worker of "
        "its own, `build/web/snapshot.js`). Then: a new page told to leave the snapshot alone "
        "(`wflNoSnapshot`: files only), a reload that restores the snapshot (checked: "
        "`wfl.startedFrom`), and a reload with the network off. Each start-up lever on its "
        "own: [levers.md](levers.md).",
        "- **`--snapshot` build**: the working tree built with `python -m build.site "
        "--snapshot` in the same run, opened in a fresh profile (a first visit: nothing "
        "cached), which restores the snapshot the site ships (checked: `wfl.startedFrom`). "
        "Its `heap.gz` and `files.gz` are already gzip, so gzip -6 gains little on them; "
        "the local network here is a loopback, so this is the fast-network case it is for.",
        "",
        "Raw numbers for every run: [browser.json](browser.json).",
        "",
    ]
    if s["offsite_requests"]:
        md.append(f"Requests that left 127.0.0.1: {s['offsite_requests']}\n")
    (OUT_DIR / "browser.md").write_text("\n".join(md))
    (OUT_DIR / "browser.json").write_text(json.dumps(
        {"meta": meta, "targets": TARGETS, "summary": s, "runs": runs}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60, help="slider steps per run")
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--build", action="store_true", help="always build a fresh snapshot")
    ap.add_argument("--no-shipped", action="store_true",
                    help="leave out the `--snapshot` build (saves building it)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--cpu-slowdown", type=float, default=1.0, metavar="X",
                    help="run each page's CPU work X times slower (prints only)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite browser.md from the existing browser.json, measure nothing")
    args = ap.parse_args()
    if args.report_only:
        data = json.loads((OUT_DIR / "browser.json").read_text())
        write_report(summarize(data["runs"]), data["runs"], data["meta"])
        print(fmt_table(MAIN_HEADER, table(summarize(data["runs"]))))
        return
    from playwright.sync_api import sync_playwright

    global CPU_SLOWDOWN
    CPU_SLOWDOWN = args.cpu_slowdown
    if CPU_SLOWDOWN != 1.0:
        args.no_write = True  # docs/ holds the machine's own figures
        print(f"CPU slowed down {CPU_SLOWDOWN:g}x (devtools throttling): printing only")
    tmp = Path(tempfile.mkdtemp(prefix="wfl-bench-"))
    try:
        snap, source = prepare_site(args.site, tmp, args.build)
        floor_dir = make_floor(tmp, snap)
        site_server, site_url, site_log = serve(snap, Handler, csp=csp_from_page(snap))
        floor_server, floor_url, floor_log = serve(floor_dir, Quiet)
        shipped_dir = None if args.no_shipped else build_shipped(tmp)
        shipped = shipped_dir and serve(shipped_dir, Handler, csp=csp_from_page(shipped_dir))
        runs = []
        with sync_playwright() as pw:
            for i in range(args.runs):
                t = time.monotonic()
                floor = measure_floor(pw, floor_url, floor_log)
                floor["panel"] = measure_floor(pw, floor_url + "#panel", floor_log)["marks"]
                site = measure_site(pw, site_url, site_log, args.steps)
                site.update(measure_return(pw, site_url, site_log))
                if shipped:
                    site["shipped"] = measure_shipped(pw, shipped[1], shipped[2])
                runs.append({"floor": floor, "site": site})
                sl = sorted(s["all"] for s in site["slider_full"] if s["all"] is not None)
                print(f"run {i + 1}/{args.runs}: floor {floor['numpy_ms']:.0f} ms, "
                      f"site live {site['cold']['live_ms']:.0f} ms, "
                      f"warm {site['warm']['live_ms']:.0f} ms, "
                      f"return {site.get('return', {}).get('live_ms', 0):.0f} ms, "
                      f"--snapshot build {site.get('shipped', {}).get('live_ms', 0):.0f} ms, "
                      f"full-page slider median {statistics.median(sl):.0f} ms "
                      f"({time.monotonic() - t:.0f} s)", flush=True)
        for server in (site_server, floor_server, shipped and shipped[0]):
            if server:
                server.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    s = summarize(runs)
    print()
    print(fmt_table(MAIN_HEADER, table(s)))
    print()
    print(fmt_table(["detail (medians)", "value"], detail_rows(s)))
    if s["offsite_requests"]:
        print("requests that left 127.0.0.1:", s["offsite_requests"])
    if args.no_write:
        return
    argv = " ".join(a for a in sys.argv[1:] if a != "--no-write")
    meta = {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "chromium": chromium_version(),
        "python": platform.python_version(),
        "runs": args.runs,
        "steps_per_run": args.steps,
        "site_source": f"{source} at {source_revision()}",
        "command": f".venv/bin/python scripts/bench_browser.py {argv}".strip(),
    }
    write_report(s, runs, meta)
    print(f"\nwrote {OUT_DIR / 'browser.md'} and browser.json")


if __name__ == "__main__":
    main()
