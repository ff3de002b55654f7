// The Python side of the page: boots Pyodide from this site's own folder,
// loads exactly the packages in pyodide-lock.json, builds the explorable and
// then relays Bokeh document patches to and from the page (loader.js).
// The message protocol follows Panel's own pyodide-worker template.
importScripts("pyodide/pyodide.js");

// Everything after "boot" goes to the page on the page's BroadcastChannel
// when it has one, in order (loader.js says why); before that, or without
// one, by postMessage (buffers then move rather than being copied).
let outbox = null;
const post = (msg, transfer) => {
  if (outbox) outbox.postMessage(msg);
  else self.postMessage(msg, transfer || []);
};
const report = (text) => post({ type: "error", msg: String(text) });
self.addEventListener("error", (e) => report(e.message || e));
self.addEventListener("unhandledrejection", (e) => report(e.reason && (e.reason.message || e.reason)));

// Python (app/worker_link.py) sends one patch per change: JSON text (a
// string crosses into JS far faster than a nested dict converts) and its
// binary buffers by id; then what waited for the redraw (the URL) in a patch
// marked `later` (the page applies it after its next frame).
function sendPatch(text, buffers, later) {
  const map = buffersOut(buffers);
  // Ours alone, so by postMessage they move to the page rather than being
  // copied again (a BroadcastChannel copies them: about 15 kB a step).
  post({ type: "patch", patch: text, buffers: map, later: Boolean(later) }, [...map.values()]);
}

// Python's {id: bytes} as a Map of ArrayBuffers (fresh Uint8Array copies).
function buffersOut(buffers) {
  const map = new Map();
  for (const [id, bytes] of buffers.toJs()) map.set(id, bytes.buffer);
  buffers.destroy();
  return map;
}

// A foreseen slider value (app/worker_link.py, Link.foresee): the patch that
// brings the slider there, tagged with its grid and with how many of the
// page's patches Python had applied when the grid began, so the page can
// tell it still fits what it shows; `keys` ("model-id attr") is what it sets.
function sendForesight(text, buffers, model, value, seq, grid, keys) {
  const map = buffersOut(buffers);
  const names = keys.toJs();
  keys.destroy();
  post({ type: "foresight", seq, grid, model, value, keys: names, patch: text, buffers: map },
       [...map.values()]);
}

let pyodide = null;

async function boot({ base, search, packages, prerender, verify, checkPatches, foreseeMaxS,
                      channel }) {
  const t0 = performance.now();
  if (channel && typeof BroadcastChannel === "function") outbox = new BroadcastChannel(channel);
  const stage = (name, text) => post({ type: "status", stage: name, msg: text, t: performance.now() - t0 });
  stage("runtime", "Loading the Python runtime…");
  pyodide = await loadPyodide({
    indexURL: base + "pyodide/",
    lockFileURL: base + "pyodide/pyodide-lock.json",
    env: { PANEL_CDN_ROOT: base + "static/panel/", HOME: "/home/pyodide" },
  });
  stage("numpy", "Loading numpy…");
  const quiet = { messageCallback: () => {}, errorCallback: report };
  await pyodide.loadPackage(["numpy"], quiet);
  stage("app", "Loading Panel, Bokeh and the toy model…");
  await pyodide.loadPackage(packages.filter((p) => p !== "numpy"), quiet);
  pyodide.globals.set("wfl_send", sendPatch);
  pyodide.globals.set("wfl_foresee", sendForesight);
  pyodide.globals.set("wfl_search", search);
  const mark = (name) => post({ type: "mark", name, t: performance.now() - t0 });
  mark("packages");
  pyodide.globals.set("wfl_mark", mark);
  // The page's snapshot was built for one link (the default); only a page
  // opened with that link may keep it.
  const query = search.replace(/^\?/, "");
  const mayKeep = Boolean(prerender) && query === prerender.search;
  pyodide.globals.set("wfl_prerender", mayKeep ? prerender.fingerprint : null);
  pyodide.globals.set("wfl_verify", Boolean(verify));
  pyodide.globals.set("wfl_check_patches", Boolean(checkPatches));
  pyodide.globals.set("wfl_foresee_max_s", foreseeMaxS || null);
  const doc = await pyodide.runPythonAsync(`
import pyodide.ffi
if not hasattr(pyodide.ffi, "jsnull"):
    # Panel >= 1.8 compares against pyodide.ffi.jsnull, new in Pyodide 0.28;
    # 0.27 already turns a JS null into None, so any fresh sentinel will do.
    pyodide.ffi.jsnull = type("JsNull", (), {})()
from panel.io.pyodide import init_doc, write_doc
from bokeh.settings import settings as bk_settings
from panel.io.state import state
wfl_mark("import_panel")
# Panel tuned for this page (busy bookkeeping and debug records off, one
# event per widget per patch): app/worker_link.py says why. Before the app
# is built, as Panel binds its change handler into each model it creates.
from app.worker_link import Link, tune_panel
tune_panel()
init_doc()
# Same sequential ids as the build's prerender, so an identical document can
# be adopted by the page instead of rendered a second time (see loader.js).
bk_settings.simple_ids.set_value(True)
from app.main import build_app, first_model_id
import bokeh.util.serialization
bokeh.util.serialization._simple_id = first_model_id - 1
wfl_mark("import_app")
build_app(wfl_search).servable()
wfl_mark("build_app")
from app.main import doc_fingerprint
wfl_keep = wfl_prerender is not None and doc_fingerprint(state.curdoc) == wfl_prerender
if wfl_keep and not wfl_verify:
    # The page keeps its snapshot of this very document, so there is nothing
    # to serialise. What write_doc() does besides: every model counts as
    # already sent, and the mock session ends.
    state.curdoc.models.flush_synced()
    state.curdoc._session_context = None
    wfl_doc = None
else:
    wfl_doc = await write_doc()
wfl_mark("write_doc")
import sys
wfl_modules = sorted({m.split(".")[0] for m in sys.modules})
wfl_doc
`);
  // Which top-level modules Python imported: tests check nothing unshipped is.
  post({ type: "modules", names: pyodide.globals.get("wfl_modules").toJs() });
  const keep = pyodide.globals.get("wfl_keep");
  postRender(doc, keep, t0);
}

function postRender(doc, keep, t0) {
  const msg = { type: "render", keep: keep, t: performance.now() - t0 };
  if (doc) {
    [msg.docs_json, msg.render_items, msg.root_ids] = doc.toJs();
    doc.destroy();
  }
  post(msg);
}

// Looked up once when the page links, then called directly for every patch:
// no Python source to compile on the slider path.
let applyFn = null;
let foreseeFn = null;
let focusFn = null;

function linkFunctions() {
  if (applyFn !== null) return;
  applyFn = pyodide.runPython(`
from panel.io.pyodide import _convert_json_patch
lambda patch, foreseen, grid: wfl_link.apply(_convert_json_patch(patch), foreseen, grid)
`);
  foreseeFn = pyodide.runPython("wfl_link.foresee");
  focusFn = pyodide.runPython("wfl_link.focus");
}

function applyPatch(patch, foreseen, grid) {
  linkFunctions();
  applyFn(patch, foreseen == null ? null : foreseen, grid == null ? null : grid);
}

// Foresight runs one value per task after a step, and only while no
// message waits: a change the reader makes comes first.
let foresightTimer = null;
function foreseeSoon() {
  if (foresightTimer === null) foresightTimer = setTimeout(foreseeNext, 0);
}
function foreseeNext() {
  foresightTimer = null;
  if (waiting.length || draining || foreseeFn === null) return;
  let more = false;
  try {
    more = foreseeFn();
  } catch (e) {
    report(e && e.message ? e.message : e);
  }
  if (more) foreseeSoon();
  else post({ type: "foresaw" });
}

// One message at a time, in the order the page sent them. Python awaits
// while linking ("rendered": Pyodide's event loop runs on tasks of its own),
// and the page may send a patch right after it (a fresh document reports at
// once what is on screen): handled in between, that patch met no `wfl_link`,
// a NameError CI caught once. A patch on its own is still handled in the
// task that brought it: the loop below only awaits for the other messages.
const waiting = [];
let draining = false;
self.onmessage = (event) => {
  waiting.push(event.data);
  if (!draining) drain();
};

async function drain() {
  draining = true;
  try {
    while (waiting.length) {
      const msg = waiting.shift();
      if (msg.type === "patch") handlePatch(msg);
      else if (msg.type === "focus") handleFocus(msg);
      else await handle(msg);
    }
  } finally {
    draining = false;
  }
}

function handlePatch(msg) {
  try {
    applyPatch(msg.patch, msg.foreseen, msg.grid);
  } catch (e) {
    report(e && e.message ? e.message : e);
  }
  post({ type: "idle" });
  if (msg.foresee === false) post({ type: "foresaw" }); // the page keeps none (benchmarks)
  else foreseeSoon();
}

// The reader is on a slider (focus, or the pointer over it): Python works
// out its grid before the first press.
function handleFocus(msg) {
  let more = false;
  try {
    linkFunctions();
    more = focusFn(msg.model);
  } catch (e) {
    report(e && e.message ? e.message : e);
  }
  if (more) foreseeSoon();
  else post({ type: "foresaw" });
}

async function handle(msg) {
  try {
    if (msg.type === "boot") {
      await boot(msg);
    } else if (msg.type === "send_doc") {
      // The page could not keep its snapshot after all: it needs the document.
      postRender(await pyodide.runPythonAsync("await write_doc()"), false, performance.now());
    } else if (msg.type === "rendered") {
      await pyodide.runPythonAsync(`
import functools
from bokeh.events import DocumentReady
from panel.io.state import state
import app.worker_link
if wfl_foresee_max_s:
    app.worker_link.FORESEE_MAX_S = wfl_foresee_max_s
wfl_link = Link(state.curdoc, wfl_send, check=wfl_check_patches, foresee=wfl_foresee)
state.curdoc.unhold()
state.curdoc.on_event("document_ready", functools.partial(state._schedule_on_load, state.curdoc))
state.curdoc.callbacks.trigger_event(DocumentReady())
`);
      // The page kept its prerendered document; send the exact numbers.
      if (msg.resync) pyodide.runPython("wfl_link.resync()");
      post({ type: "live" });
    }
  } catch (e) {
    report(e && e.message ? e.message : e);
  }
}
