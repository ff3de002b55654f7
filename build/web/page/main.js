// Start-up and status, the page's entry point. Shows the prerendered
// snapshot at once, then links it (or, for any other link, a freshly
// rendered document) to the Python worker that boot.js already started.
// The rooms: prerender.js (the build's document, first screen first),
// link.js (messages and patches), foresight.js (slider steps
// worked out ahead), fitting.js (names, screen, sections), bokeh_tuning.js
// (changes to BokehJS), offline.js (the site kept for offline use).
// window.wfl holds stages, timings and flags, so tests and benchmarks wait
// on facts rather than on spinners.
import { installBokehTuning } from "./bokeh_tuning.js";
import { createFitting } from "./fitting.js";
import { createForesight } from "./foresight.js";
import { createLink } from "./link.js";
import { keepForOffline, keepSnapshot } from "./offline.js";
import { drawPrerender } from "./prerender.js";

const boot = window.wflBoot;
const config = boot.config;
const wfl = (window.wfl = {
  stage: "prerender", live: false, busy: false, patchesSent: 0, patchesReceived: 0,
  addressPatches: 0, errors: [], marks: {},
});
wfl.marks.workerStarted = boot.startedAt;
keepOneHistoryEntry();
installBokehTuning(wfl, config.pins.bokeh, boot.tuningOff);

const statusEl = document.getElementById("wfl-status");
const STAGES = { runtime: 1, numpy: 2, app: 3 };
function setStatus(stage, text) {
  wfl.stage = stage;
  wfl.marks[stage] = performance.now();
  statusEl.dataset.stage = stage;
  const n = STAGES[stage];
  statusEl.textContent = n ? `Step ${n} of 3: ${text}` : text;
}

function fail(text) {
  wfl.errors.push(text);
  console.error("[python worker]", text);
  if (!wfl.live) {
    setStatus("failed", "The live version could not start; the figures below stay as they were prerendered.");
  }
}

// Panel's Location writes every state change with history.pushState, so each
// slider step became a history entry and Back walked through old values
// while the page stayed put. A change replaces the current entry instead.
function keepOneHistoryEntry() {
  const replace = history.replaceState;
  history.pushState = function (state, title, url) {
    return replace.call(history, state, title, url);
  };
  wfl.oneHistoryEntry = true;
}

// Page-level flags from the link (Python parses the same keys in app/state.py).
const params = new URLSearchParams(location.search);
const yes = (k) => ["1", "true", "yes", "on"].includes((params.get(k) || "").toLowerCase());
document.body.classList.toggle("wfl-presenter", yes("presenter"));
document.body.classList.toggle("wfl-dark", params.get("theme") === "dark");
document.body.classList.toggle("wfl-embed", yes("embed"));
const shown = params.has("show") ? params.get("show").split(",") : null;

let link = null;
const ahead = createForesight(wfl, () => link);
const fitting = createFitting(wfl, { onSliderFound: ahead.sliderFound });
link = createLink(wfl, boot, {
  ahead,
  onError: fail,
  afterPatch: (patch) => { if (fitting.mayRelabel(patch)) fitting.labelSoon(); },
  handlers: {
    ...ahead.handlers,
    status(msg) { setStatus(msg.stage, msg.msg); },
    mark(msg) {
      wfl.worker = wfl.worker || {};
      wfl.worker[msg.name] = msg.t; // ms since the worker started booting
    },
    built(msg) {
      wfl.modules = msg.modules;
      wfl.workerTuning = msg.tuned;
      wfl.workerHandles = msg.handles;
      // "restored" (kept by a visit before), "shipped" (a `--snapshot` site's),
      // "none" (nothing kept yet), "off", or "off: " or "ignored: " and why.
      wfl.startedFrom = { restored: "snapshot", shipped: "shipped snapshot" }[msg.snapshot] || "packages";
      wfl.snapshotAtStart = msg.snapshot;
    },
    snapshotted(msg) {
      wfl.snapshot = msg.state;
      if (msg.bytes) wfl.snapshotMade = { ms: msg.ms, bytes: msg.bytes };
    },
    render: (msg) => render(msg),
    live() {
      fitting.labelSoon();
      link.flush(); // what the reader did before Python was up
      wfl.live = true;
      fitting.skipOffScreenSections();
      setStatus("live", "Live: every control below now runs the toy model in your browser.");
      document.body.classList.add("wfl-live");
      keepForOffline(wfl);
      keepSnapshot(wfl, (msg) => link.post(msg));
    },
  },
});
Object.defineProperty(wfl, "queued", { get: () => link.queued });

// The address bar always holds the current state (Python writes it), so the
// share button copies it; without clipboard access it offers a copy.
document.getElementById("wfl-share").addEventListener("click", async () => {
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    statusEl.textContent = "Link copied: " + url;
  } catch (e) {
    window.prompt("Copy this link:", url);
  }
});

let prerenderedDoc = null;
const docsText = document.getElementById("wfl-docs").textContent;

// Python's runtime starts once the first screen of figures is drawn
// (compiling Pyodide takes the cores BokehJS needs), or the prerender failed;
// a second message changes nothing.
const letRuntimeStart = () => link.post({ type: "figures_drawn" });

function prerender() {
  return drawPrerender(wfl, docsText, shown, (doc) => {
    letRuntimeStart();
    // A snapshot with sections hidden is not what Python builds.
    if (!shown) doc.on_change(link.earlyChange, false);
  }).then((doc) => {
    fitting.labelSoon();
    if (!shown) prerenderedDoc = doc;
  });
}

// For the default link the worker says whether its document is the one the
// snapshot was made from (msg.keep). With wflVerify (tests) it also sends
// the document, and this checks the claim: same models, same text, numbers
// aside (numpy in wasm vs the build's).
function sameShape(a, b) {
  if (typeof a === "number" && typeof b === "number") return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a.type === "ndarray" && b.type === "ndarray") {
    return a.dtype === b.dtype && JSON.stringify(a.shape) === JSON.stringify(b.shape);
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => k in b && sameShape(a[k], b[k]));
}

function sameAsPrerender(msg) {
  if (!prerenderedDoc) return false;
  // Stylesheet URLs differ in form only: the build appends Panel's version.
  const norm = (text) => text.split("?v=" + config.pins.panel).join("");
  const live = Object.values(JSON.parse(norm(msg.docs_json)))[0];
  const pre = Object.values(JSON.parse(norm(docsText)).docs_json)[0];
  return sameShape(live.roots, pre.roots);
}

async function render(msg) {
  await prerendered.catch(() => {});
  if (msg.keep) {
    if (!prerenderedDoc) {
      link.post({ type: "send_doc" });
      return;
    }
    // The page keeps what is on screen, scroll and focus included; Python
    // resends every data source once (exact numbers).
    if (msg.docs_json) wfl.verified = sameAsPrerender(msg);
    wfl.hydrated = true;
    adopt(prerenderedDoc, true);
    return;
  }
  // Any other link (settings, sections) is rendered afresh.
  wfl.hydrated = false;
  link.forget();
  const docs_json = JSON.parse(msg.docs_json);
  const render_items = JSON.parse(msg.render_items);
  const root_ids = JSON.parse(msg.root_ids);
  const data_roots = [];
  for (const el of document.querySelectorAll("[data-root-id]")) {
    data_roots.push([el.getAttribute("data-root-id"), el.id]);
  }
  data_roots.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const roots = {};
  for (let i = 0; i < data_roots.length; i++) roots[root_ids[i]] = data_roots[i][1];
  render_items[0].roots = roots;
  render_items[0].root_ids = root_ids;
  for (const el of document.querySelectorAll("[data-root-id]")) el.innerHTML = "";
  Bokeh.index.roots.map((v) => v.remove());
  document.body.classList.add("wfl-fresh"); // no longer the snapshot (page.css)
  const [views] = await Bokeh.embed.embed_items(docs_json, render_items);
  adopt([...views.roots.values()][0].model.document, false);
}

function adopt(jsdoc, resync) {
  // Not enumerable, so JSON.stringify(window.wfl) stays cheap and acyclic.
  Object.defineProperty(wfl, "doc", { value: jsdoc, enumerable: false, configurable: true });
  link.adopt(jsdoc, resync, prerenderedDoc);
  fitting.findSections();
  fitting.watchScreen(jsdoc);
}

// The worker boot.js started loads its scripts meanwhile; its runtime waits
// for the first screen (letRuntimeStart).
setStatus("runtime", "Loading the Python runtime…");
const prerendered = prerender();
prerendered.catch((e) => {
  letRuntimeStart();
  wfl.errors.push(String(e));
  console.error("prerender failed", e);
});
link.listen(); // and what the worker said meanwhile
