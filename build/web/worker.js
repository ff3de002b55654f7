// The Python worker: boots Pyodide from this site's own folder, loads
// exactly the packages in pyodide-lock.json, then relays messages between
// the page (page/link.js) and the app's Python (app/worker/boot.py). The
// messages are declared in protocol.js.
importScripts("protocol.js", "snapshot.js", "pyodide/pyodide.asm.js", "pyodide/pyodide.js");
const PROTOCOL = self.WFL_PROTOCOL;
const SNAPSHOT = self.WFL_SNAPSHOT;

// Everything after "boot" goes to the page on the page's BroadcastChannel
// when it has one (page/link.js says why); before that, or without one, by
// postMessage, which moves buffers rather than copying them.
let outbox = null;
function post(msg, transfer) {
  const wrong = PROTOCOL.checkMessage("toPage", msg);
  if (wrong) msg = { type: "error", msg: wrong };
  if (outbox) outbox.postMessage(msg);
  else self.postMessage(msg, transfer || []);
}
const report = (e) => post({ type: "error", msg: String(e && e.message ? e.message : e) });
self.addEventListener("error", (e) => report(e.message || e));
self.addEventListener("unhandledrejection", (e) => report(e.reason));

// Python's {id: bytes} as a Map of ArrayBuffers.
function buffersOut(buffers) {
  const map = new Map();
  for (const [id, bytes] of buffers.toJs()) map.set(id, bytes.buffer);
  buffers.destroy();
  return map;
}

// Python sends one patch per change as JSON text (a string crosses into JS
// far faster than a nested dict converts) and its buffers by id; `later`
// marks one the page applies after its next frame (the address bar). The
// buffers are ours alone: by postMessage they move rather than being copied.
function sendPatch(text, buffers, later) {
  const map = buffersOut(buffers);
  post({ type: "patch", patch: text, buffers: map, later: Boolean(later) }, [...map.values()]);
}

// A foreseen slider value (app/worker/foresight.py): the patch that brings
// the slider there, tagged with its grid and with how many of the page's
// patches Python had applied when the grid began; `keys` is what it sets.
function sendForesight(text, buffers, model, value, seq, grid, keys) {
  const map = buffersOut(buffers);
  const names = keys.toJs();
  keys.destroy();
  post({ type: "foresight", seq, grid, model, value, keys: names, patch: text, buffers: map },
       [...map.values()]);
}

// The page's first screen of figures is drawn (page/main.js): a first
// visit's runtime waits for it, since compiling Pyodide takes the cores
// BokehJS needs. Restoring a snapshot does not wait.
let figuresDrawn = null;
const figuresOnScreen = new Promise((resolve) => (figuresDrawn = resolve));

let pyodide = null;
let py = null; // app.worker.boot
// Its functions a slider step calls, looked up once when the page links.
let pyApply = null;
let pyFocus = null;
let pyForesee = null;
let settings = null; // the boot message
let loadOptions = null; // loadPyodide's, for this runtime and a snapshot's

function postRender(doc, keep, t) {
  const msg = { type: "render", keep, t };
  if (doc) [msg.docs_json, msg.render_items, msg.root_ids] = doc.toJs();
  if (doc && doc.destroy) doc.destroy();
  post(msg);
}

// Foresight runs one value per task after a step, and only while no
// message waits: a change the reader makes comes first.
let foresightTimer = null;
function foreseeSoon() {
  if (foresightTimer === null) foresightTimer = setTimeout(foreseeNext, 0);
}
function foreseeNext() {
  foresightTimer = null;
  if (waiting.length || draining || !pyForesee) return;
  let more = false;
  try {
    more = pyForesee();
  } catch (e) {
    report(e);
  }
  if (more) foreseeSoon();
  else post({ type: "foresaw" });
}

const handlers = {
  async boot(msg) {
    settings = msg;
    const t0 = performance.now();
    if (msg.channel && typeof BroadcastChannel === "function") outbox = new BroadcastChannel(msg.channel);
    const stage = (name, text) => post({ type: "status", stage: name, msg: text, t: performance.now() - t0 });
    stage("runtime", "Loading the Python runtime…");
    const mark = (name) => post({ type: "mark", name, t: performance.now() - t0 });
    loadOptions = {
      indexURL: msg.base + "pyodide/",
      lockFileURL: msg.base + "pyodide/pyodide-lock.json",
      // Relative, as in the prerender: the page resolves Panel's stylesheet
      // links against its own address, so nothing Python holds names the
      // address and a snapshot made at one serves any other (snapshot.js).
      env: { PANEL_CDN_ROOT: "static/panel/", HOME: "/home/pyodide" },
    };
    // A return visit restores the snapshot the first one made, if it can;
    // otherwise the one a `--snapshot` site ships (msg.shipped, its folder),
    // which needs no Cache Storage.
    const unusable = SNAPSHOT.unusable(msg.pins, !msg.shipped);
    let snapshot = !msg.snapshot ? "off" : unusable ? "off: " + unusable : null;
    if (!snapshot) {
      const want = { search: msg.prerender.search, tuningOff: msg.tuningOff || [] };
      let from = "kept";
      try {
        let found = await SNAPSHOT.load(msg.base, msg.runtime, want);
        if (!found && msg.shipped) {
          from = "shipped";
          stage("runtime", "Loading the Python runtime and its snapshot…");
          found = await SNAPSHOT.fetchShipped(msg.base, msg.shipped, msg.runtime, want);
        }
        if (found) {
          mark("snapshot_read");
          pyodide = await SNAPSHOT.restore(found, loadOptions);
          snapshot = from === "kept" ? "restored" : "shipped";
          mark("restored");
        } else {
          snapshot = "none";
        }
      } catch (e) {
        snapshot = "ignored: " + String(e && e.message ? e.message : e);
        console.info(`The ${from} snapshot is ignored:`, snapshot);
        if (from === "kept") SNAPSHOT.forget().catch(() => {});
        pyodide = null;
      }
    }
    let started;
    const query = msg.search.replace(/^\?/, "");
    // The prerender was made for one link (the default): only a page opened
    // with that link may keep it.
    const fingerprint = msg.prerender && query === msg.prerender.search ? msg.prerender.fingerprint : null;
    if (pyodide) {
      py = pyodide.pyimport("app.worker.boot");
      started = await py.finish(msg.search, fingerprint, Boolean(msg.verify), mark);
    } else {
      await figuresOnScreen;
      mark("figures_drawn");
      pyodide = await loadPyodide(loadOptions);
      stage("numpy", "Loading numpy…");
      const quiet = { messageCallback: () => {}, errorCallback: report };
      await pyodide.loadPackage(["numpy"], quiet);
      stage("app", "Loading Panel, Bokeh and the toy model…");
      await pyodide.loadPackage(msg.packages.filter((p) => p !== "numpy"), quiet);
      mark("packages");
      py = pyodide.pyimport("app.worker.boot");
      started = await py.start(msg.search, fingerprint, Boolean(msg.verify),
                               pyodide.toPy(msg.pins), pyodide.toPy(msg.tuningOff || []), mark);
    }
    const [keep, doc, modules, tuned] = started.toJs({ depth: 1 });
    started.destroy();
    // Which top-level modules Python imported (tests check nothing unshipped
    // is), which tuning units are on, and which messages this side handles.
    post({ type: "built", modules: modules.toJs(), tuned: tuned.toJs({ dict_converter: Object.fromEntries }),
           handles: Object.keys(handlers), snapshot });
    modules.destroy();
    tuned.destroy();
    postRender(doc, keep, performance.now() - t0);
  },
  figures_drawn() {
    figuresDrawn();
  },
  async send_doc() {
    postRender(await py.send_doc(), false, performance.now());
  },
  rendered(msg) {
    py.link(sendPatch, sendForesight, Boolean(settings.checkPatches), settings.foreseeMaxS || null,
            Boolean(msg.resync));
    [pyApply, pyFocus, pyForesee] = [py.apply, py.focus, py.foresee];
    post({ type: "live" });
  },
  patch(msg) {
    try {
      pyApply(msg.patch, msg.foreseen == null ? null : msg.foreseen, msg.grid == null ? null : msg.grid);
    } catch (e) {
      report(e);
    }
    post({ type: "idle" });
    if (msg.foresee === false) post({ type: "foresaw" }); // the page keeps none (benchmarks)
    else foreseeSoon();
  },
  // The page is live and the reader idle: make the snapshot the next visit
  // restores, in a worker of its own (snapshot_worker.js). Not awaited, so
  // the reader's changes are not held up meanwhile.
  snapshot() {
    makeSnapshot().then((made) => post({ type: "snapshotted", ...made }));
  },
  // The reader is on a slider (focus, or the pointer over it): Python works
  // out its grid before the first press.
  focus(msg) {
    let more = false;
    try {
      more = pyFocus(msg.model);
    } catch (e) {
      report(e);
    }
    if (more) foreseeSoon();
    else post({ type: "foresaw" });
  },
};
async function makeSnapshot() {
  try {
    const why = SNAPSHOT.unusable(settings.pins, true);
    if (why) return { state: "off: " + why };
    const gathered = SNAPSHOT.gather(pyodide);
    const maker = new Worker("snapshot_worker.js");
    const answer = new Promise((resolve) => {
      maker.onmessage = (event) => resolve(event.data);
      maker.onerror = (event) => resolve({ ok: false, why: event.message || "the worker failed" });
      setTimeout(() => resolve({ ok: false, why: "not done in 5 minutes" }), 300000);
    });
    maker.postMessage({ gathered, loadOptions, base: settings.base, key: settings.runtime, pins: settings.pins,
                        tuningOff: settings.tuningOff || [], search: settings.prerender.search },
                      [gathered.files.buffer]);
    const made = await answer;
    maker.terminate();
    return made.ok ? { state: "kept", ms: made.ms, bytes: made.bytes } : { state: "failed: " + made.why };
  } catch (e) {
    return { state: "failed: " + String(e && e.message ? e.message : e) };
  }
}

{
  const wrong = PROTOCOL.checkHandlers("toWorker", handlers);
  if (wrong) report(wrong);
}

// One message at a time, in the order the page sent them: Python awaits
// while booting, and a patch that arrived meanwhile must wait for the link.
// A patch on its own is still handled in the task that brought it.
const waiting = [];
let draining = false;
self.onmessage = (event) => {
  // The boot below awaits this one, so it cannot wait its turn.
  if (event.data && event.data.type === "figures_drawn") {
    handlers.figures_drawn();
    return;
  }
  waiting.push(event.data);
  if (!draining) drain();
};
// The boot message, given as this worker's name (boot.js says why).
if (self.name) {
  waiting.unshift(JSON.parse(self.name));
  if (!draining) drain();
}

async function drain() {
  draining = true;
  try {
    while (waiting.length) {
      const msg = waiting.shift();
      const wrong = PROTOCOL.checkMessage("toWorker", msg);
      if (wrong) {
        report(wrong);
        continue;
      }
      try {
        const done = handlers[msg.type](msg);
        if (done && typeof done.then === "function") await done;
      } catch (e) {
        report(e);
      }
    }
  } finally {
    draining = false;
  }
}
