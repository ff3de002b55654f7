// The Python side of the page: boots Pyodide from this site's own folder,
// loads exactly the packages in pyodide-lock.json, builds the explorable and
// then relays Bokeh document patches to and from the page (loader.js).
// The message protocol follows Panel's own pyodide-worker template.
importScripts("pyodide/pyodide.js");

const post = (msg) => self.postMessage(msg);
const report = (text) => post({ type: "error", msg: String(text) });
self.addEventListener("error", (e) => report(e.message || e));
self.addEventListener("unhandledrejection", (e) => report(e.reason && (e.reason.message || e.reason)));

function sendPatch(patch, buffers) {
  post({ type: "patch", patch: patch, buffers: buffers });
}

let pyodide = null;

async function boot({ base, search, packages, prerender, verify, checkPatches }) {
  const t0 = performance.now();
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
  pyodide.globals.set("sendPatch", sendPatch);
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
  const doc = await pyodide.runPythonAsync(`
import pyodide.ffi
if not hasattr(pyodide.ffi, "jsnull"):
    # Panel >= 1.8 compares against pyodide.ffi.jsnull, new in Pyodide 0.28;
    # 0.27 already turns a JS null into None, so any fresh sentinel will do.
    pyodide.ffi.jsnull = type("JsNull", (), {})()
from panel.io.pyodide import init_doc, write_doc
from bokeh.settings import settings as bk_settings
from panel.io.state import state
import logging
wfl_mark("import_panel")
# Panel counts "busy" events for a loading indicator this page never shows
# (the loader tracks wfl.busy itself). The bookkeeping rewrites pn.state's
# read-only flags several times per event: about 40% of a slider step's
# Python time, measured. So pn.state.busy stays False in this page.
state._add_busy_event = lambda event_id: None
state._remove_busy_event = lambda event_id, *args: None
# Panel's components log every event at debug level; its handler drops the
# records, but only after each one is built. Nothing here reads them.
logging.getLogger("panel").setLevel(logging.INFO)
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

// Compiled once when the page links, then called directly for every patch:
// no Python source to compile on the slider path.
let applyFn = null;

function applyPatch(patch) {
  if (applyFn === null) {
    pyodide.runPython(`
from panel.io.pyodide import _convert_json_patch
from panel.io.state import state

def wfl_apply(patch):
    wfl_link.batching = True
    try:
        state.curdoc.apply_json_patch(_convert_json_patch(patch), setter="js")
    finally:
        wfl_link.batching = False
        wfl_link.flush()
`);
    applyFn = pyodide.globals.get("wfl_apply");
  }
  applyFn(patch);
}

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "boot") {
      await boot(msg);
    } else if (msg.type === "send_doc") {
      // The page could not keep its snapshot after all: it needs the document.
      postRender(await pyodide.runPythonAsync("await write_doc()"), false, performance.now());
    } else if (msg.type === "rendered") {
      await pyodide.runPythonAsync(`
import functools
import json
import pyodide.ffi, js
from bokeh.core.serialization import Serializer
from bokeh.events import DocumentReady
from bokeh.model import Model
from panel.io.pyodide import _serialize_buffers
from panel.io.state import state


class _Serializer(Serializer):
    """Bokeh's serializer, with references made on demand.

    Panel's _process_document_events hands Bokeh a set of every model the
    page already has, and Bokeh builds a reference for each of them (about
    700 here) on every patch, while a step's patch names a handful: about a
    tenth of a slider step's Python time. Same rule, asked per model: one of
    this document's, not new since the last patch."""

    def __init__(self, doc):
        super().__init__()
        self._doc, self._new = doc, doc.models._new_models

    def get_ref(self, obj):
        ref = self._references.get(id(obj))
        if (ref is None and isinstance(obj, Model) and obj.document is self._doc
                and obj not in self._new):
            ref = self._references[id(obj)] = obj.ref
        return ref

    def has_ref(self, obj):
        return self.get_ref(obj) is not None


def _patch_of(doc, events):
    """What panel.io.pyodide._process_document_events returns, via _Serializer."""
    if wfl_check_patches:  # tests: the same JSON as Bokeh's own way, or an error
        ours = _Serializer(doc).encode(events)
        theirs = Serializer(references=doc.models.synced_references).encode(events)
        if _comparable(ours) != _comparable(theirs):
            raise RuntimeError("patch encoding differs from Bokeh's")
    serializer = _Serializer(doc)
    patch = {"events": serializer.encode(events)}
    doc.models.flush_synced(lambda model: not serializer.has_ref(model))
    buffers = {b.id: pyodide.ffi.to_js(b.to_bytes()).buffer for b in serializer.buffers}
    return _serialize_buffers(patch, buffers=buffers), buffers


def _comparable(encoded):
    # A buffer gets a fresh id each time it is encoded: compare its bytes.
    return json.dumps(encoded, sort_keys=True,
                      default=lambda b: b.to_bytes().hex() if hasattr(b, "to_bytes") else repr(b))

# Panel's _link_docs_worker posts one message per document event, so one
# slider step that refreshes five plots repaints five times. This link queues
# the events a reader's change causes and posts them as one patch.
class _Link:
    def __init__(self, doc):
        self.doc, self.pending, self.batching = doc, [], False

    def on_change(self, event):
        if getattr(event, "setter", None) == "js":
            return
        self.pending.append(event)
        if not self.batching:
            self.flush()

    def flush(self):
        events, self.pending = self.pending, []
        if events:
            patch, buffers = _patch_of(self.doc, events)
            # A JSON string crosses into JS far faster than to_js() converting
            # the nested dict proxy by proxy; the page parses it.
            sendPatch(json.dumps(patch, separators=(",", ":")),
                      js.Map.new(js.Object.entries(pyodide.ffi.to_js(buffers))))

wfl_link = _Link(state.curdoc)
state.curdoc.on_change(wfl_link.on_change)
state.curdoc.unhold()
state.curdoc.on_event("document_ready", functools.partial(state._schedule_on_load, state.curdoc))
state.curdoc.callbacks.trigger_event(DocumentReady())
`);
      if (msg.resync) {
        // The page kept its prerendered document; send the exact numbers.
        await pyodide.runPythonAsync(`
from bokeh.document.events import ModelChangedEvent
from bokeh.models import ColumnDataSource
wfl_link.batching = True
try:
    for model in list(state.curdoc.models):
        if isinstance(model, ColumnDataSource):
            state.curdoc.callbacks.trigger_on_change(
                ModelChangedEvent(state.curdoc, model, "data", model.data))
finally:
    wfl_link.batching = False
    wfl_link.flush()
`);
      }
      post({ type: "live" });
    } else if (msg.type === "patch") {
      applyPatch(msg.patch);
      post({ type: "idle" });
    }
  } catch (e) {
    report(e && e.message ? e.message : e);
    if (msg.type === "patch") post({ type: "idle" });
  }
};
