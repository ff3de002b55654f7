// The page side: shows the prerendered explorable at once, then links it (or,
// if it differs, a freshly rendered live document) to the Python worker and
// relays patches both ways. boot.js has already started the worker.
// window.wfl exposes the stage and timings so tests and benchmarks can wait
// on facts rather than on spinners.
(function () {
  "use strict";
  const wfl = (window.wfl = {
    stage: "prerender", live: false, busy: false, patchesSent: 0, patchesReceived: 0,
    addressPatches: 0,
    errors: [], marks: {},
  });
  keepOneHistoryEntry();
  tuneBokeh();
  keepLegends();
  cacheFontSize();
  paintInNextFrame();
  paintOnlyNearScreen();
  hideEmptyOverlays();
  mainGlyphOnly();
  cacheAxes();
  fitCellText();
  const statusEl = document.getElementById("wfl-status");
  const config = window.wflBoot.config;
  const STAGES = { runtime: 1, numpy: 2, app: 3 };

  function setStatus(stage, text) {
    wfl.stage = stage;
    wfl.marks[stage] = performance.now();
    statusEl.dataset.stage = stage;
    const n = STAGES[stage];
    statusEl.textContent = n ? `Step ${n} of 3: ${text}` : text;
  }

  // Page-level flags from the link (the Python side parses the same keys,
  // with the same spellings, in app/state.py and reports bad values).
  const params = new URLSearchParams(location.search);
  const yes = (k) => ["1", "true", "yes", "on"].includes((params.get(k) || "").toLowerCase());
  document.body.classList.toggle("wfl-presenter", yes("presenter"));
  document.body.classList.toggle("wfl-dark", params.get("theme") === "dark");
  document.body.classList.toggle("wfl-embed", yes("embed"));
  const shown = params.has("show") ? params.get("show").split(",") : null;

  let prerenderedDoc = null;
  const docsText = document.getElementById("wfl-docs").textContent;
  const READER_ATTRS = new Set(["value", "value_input", "value_throttled", "active", "checked"]);

  function earlyChange(event) {
    if (!READER_ATTRS.has(event.attr)) return;
    worker.queue = worker.queue.filter((e) => !(e.model === event.model && e.attr === event.attr));
    worker.queue.push(event);
  }

  function prerender() {
    const payload = JSON.parse(docsText);
    // The snapshot holds every section; an embed that shows one hides the rest
    // so the iframe does not jump when the live page replaces it.
    if (shown) {
      for (const doc of Object.values(payload.docs_json)) {
        for (const root of doc.roots || []) hideUnshown(root);
      }
    }
    return Bokeh.embed.embed_items(payload.docs_json, payload.render_items).then((all) => {
      wfl.marks.prerendered = performance.now();
      labelSoon();
      // A snapshot with sections hidden for an embed is not what Python builds.
      if (shown) return;
      prerenderedDoc = [...all[0].roots.values()][0].model.document;
      // A reader who moves a control before Python is up is not ignored: the
      // change waits in the queue and goes to Python once the snapshot is
      // linked. (Only widget values count; views set ranges themselves.)
      prerenderedDoc.on_change(earlyChange, false);
    });
  }

  // A section's key ("neuron") from its classes ["wfl-section", "wfl-neuron"].
  function sectionKey(classes) {
    if (!classes.includes("wfl-section")) return null;
    const cls = classes.find((c) => c.startsWith("wfl-") && c !== "wfl-section");
    return cls ? cls.slice(4) : null;
  }

  function hideUnshown(node) {
    if (!node || typeof node !== "object") return;
    const attrs = node.attributes;
    const key = attrs && Array.isArray(attrs.css_classes) ? sectionKey(attrs.css_classes) : null;
    if (key && !shown.includes(key)) attrs.visible = false;
    for (const v of Object.values(node)) {
      if (v && typeof v === "object") hideUnshown(v);
    }
  }

  // Panel's sliders (noUiSlider handles) and checkboxes render without an
  // accessible name: the visible label sits beside them, unlinked, inside a
  // shadow root. Name each control after the label a reader sees; labels
  // can change (a neuron's sliders are named after its names), so this runs
  // again, when the page is idle, after every patch from Python.
  function* shadowRoots(root) {
    yield root;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) yield* shadowRoots(el.shadowRoot);
    }
  }

  function labelControls() {
    for (const root of shadowRoots(document)) {
      for (const handle of root.querySelectorAll(".noUi-handle[role=slider]")) {
        const group = handle.closest(".bk-input-group");
        const title = group && group.querySelector(".bk-slider-title");
        const text = title && title.firstChild && title.firstChild.textContent.replace(/:\s*$/, "");
        if (text && handle.getAttribute("aria-label") !== text) handle.setAttribute("aria-label", text);
        // Focus and pointer events within the page's shadow roots reach the
        // document only when they come from outside it, so each slider gets
        // its own listeners (see onSlider).
        const target = handle.closest(".noUi-target");
        if (target && !target.wflAim) {
          target.wflAim = true;
          handle.addEventListener("focus", onSlider);
          target.addEventListener("pointerenter", onSlider, { passive: true });
        }
      }
      for (const box of root.querySelectorAll("input[type=checkbox]")) {
        const label = box.nextElementSibling;
        const text = label && label.classList.contains("bk-label") && label.textContent.trim();
        if (text && box.getAttribute("aria-label") !== text) box.setAttribute("aria-label", text);
      }
    }
    wfl.labelledAt = performance.now();
  }

  // Naming controls walks every shadow root of the page, so it runs after a
  // patch that can change a label or add controls, not after every slider
  // step's new numbers and sentences.
  const DATA_EVENTS = new Set(["ColumnDataChanged", "ColumnsPatched", "ColumnsStreamed"]);
  const QUIET_ATTRS = new Set(["text", "start", "end", "search", "high", "low", "location",
    "value", "value_input", "value_throttled", "factors"]);
  function mayRelabel(patch) {
    return (patch.events || []).some((e) => !DATA_EVENTS.has(e.kind)
      && !(e.kind === "ModelChanged" && QUIET_ATTRS.has(e.attr)));
  }

  let labelQueued = false;
  function labelSoon() {
    if (labelQueued) return;
    labelQueued = true;
    const run = () => { labelQueued = false; labelControls(); };
    if (window.requestIdleCallback) requestIdleCallback(run, { timeout: 500 });
    else setTimeout(run, 50);
  }

  // The address bar always holds the current state (Python writes it), so
  // the share button copies it; without clipboard access it selects a copy.
  document.getElementById("wfl-share").addEventListener("click", async () => {
    const url = location.href;
    try {
      await navigator.clipboard.writeText(url);
      statusEl.textContent = "Link copied: " + url;
    } catch (e) {
      window.prompt("Copy this link:", url);
    }
  });

  const worker = window.wflBoot.worker; // started by boot.js
  wfl.marks.workerStarted = window.wflBoot.startedAt;
  worker.busy = false;
  worker.queue = [];
  let patching = 0;

  // Changes go to Python in batches: everything one browser task changes
  // (a slider step sets `value` and `value_throttled` together) travels as
  // one patch, and while Python is busy only the newest value of each
  // attribute waits, so a dragged slider never queues stale positions.
  let flushQueued = false;

  function sendChange(event) {
    if ((event.setter_id != null && event.setter_id === "py") || patching > 0) return;
    if (event.model && event.attr) {
      worker.queue = worker.queue.filter((e) => !(e.model === event.model && e.attr === event.attr));
    }
    worker.queue.push(event);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flushChanges);
    }
  }

  function flushChanges() {
    flushQueued = false;
    if (!worker.queue.length) return;
    // A slider value Python foresaw: its patch is applied now, in the key
    // press's own task, even while Python is still busy with the step
    // before (a key held down). The step still goes to Python, which makes
    // it and checks that its state came out as the page shows it.
    const hit = gridStep(worker.queue);
    if (hit) {
      // The slider's own arithmetic leaves float noise (-0.9499999999999997
      // for -0.95); Python worked out the step for the value it foresaw, so
      // it is sent that value, and its numbers agree to the last bit.
      for (const e of worker.queue) e.value = hit.value;
      if (grid.at !== hit.value) applyGrid(hit);
    }
    if (worker.busy) return;
    if (hit) {
      send(worker.queue.splice(0), hit.value, grid.id);
      return;
    }
    let owed = gridOwed;
    if (grid && grid.at !== grid.sent) {
      // Other changes came after a foreseen value not yet sent: the value
      // goes first, on its own, and the rest once Python has made it.
      const mine = worker.queue.filter((e) => e.model && e.model.id === grid.model
        && VALUE_ATTRS.has(e.attr) && e.value === grid.at);
      if (mine.length) {
        worker.queue = worker.queue.filter((e) => !mine.includes(e));
        send(mine, grid.at, grid.id);
        return;
      }
      owed = grid.id; // its value was replaced in the queue: Python resends what the grid set
    }
    dropGrid();
    gridOwed = null;
    send(worker.queue.splice(0), null, owed);
    // Still on a slider (this change may have been the page's own, such as
    // which sections are on screen): its grid again, from the new state.
    const id = focusedSlider();
    if (id) aimAt(id);
  }

  function send(events, foreseen, gridId) {
    const patch = worker.jsdoc.create_json_patch(events);
    if (foreseen !== null) grid.sent = foreseen;
    worker.busy = wfl.busy = true;
    const foresee = !window.wflNoForesight;
    wfl.foreseeing = foresee;
    wfl.patchesSent += 1;
    worker.postMessage({ type: "patch", patch, foreseen, grid: gridId, foresee });
  }

  // Foresight (app/worker_link.py, Grid and Link.foresee): after a slider
  // step, or as soon as the reader is on a slider, Python works out the
  // patches that bring that slider to the values around it, all from one
  // state of the page (the grid's anchor), each giving the whole value of
  // what it sets. The page applies any of them for a press that lands on
  // its value, having put back the anchor's value of whatever the last one
  // set and this one does not (the snapshot). A grid begins only when Python
  // has made every change the page sent (`seq`); any other change, the
  // page's or Python's, ends it.
  const VALUE_ATTRS = new Set(["value", "value_throttled"]);
  let grid = null;
  let gridOwed = null; // a grid the page applied patches of that Python never made
  wfl.foreseenSteps = 0;
  wfl.foreseeing = false;
  Object.defineProperty(wfl, "foresight", { get: () => (grid ? grid.patches : []) });
  Object.defineProperty(wfl, "grid", { get: () => grid });
  Object.defineProperty(wfl, "queued", { get: () => worker.queue.length });

  // window.wflNoForesight (benchmarks, traces) sends every step the usual way.
  function keepForesight(msg) {
    if (window.wflNoForesight) return;
    if (grid && msg.grid === grid.id) {
      grid.patches.push(msg);
    } else if (msg.seq === wfl.patchesSent && !worker.busy && !worker.queue.length
        && (!grid || grid.at === grid.sent)) {
      dropGrid();
      grid = { id: msg.grid, model: msg.model, patches: [msg], snapshot: new Map(),
        set: [], at: null, sent: null };
    }
  }

  function dropGrid() {
    if (grid && grid.at !== grid.sent) gridOwed = grid.id;
    grid = null;
    focusSent = null;
  }

  // The grid's patch for these queued changes, if they are its slider's
  // value moved to a value Python foresaw (or to where the page already is:
  // a drag's release).
  function gridStep(queue) {
    if (!grid || window.wflNoForesight || !queue.every((e) => e.model && e.model.id === grid.model
        && VALUE_ATTRS.has(e.attr))) return null;
    const last = queue.find((e) => e.attr === "value") || queue[queue.length - 1];
    const value = last.value;
    if (typeof value !== "number") return null;
    const near = (v) => Math.abs(v - value) <= 1e-9 * Math.max(1, Math.abs(value));
    return grid.patches.find((f) => near(f.value)) || null;
  }

  function applyGrid(msg) {
    const doc = worker.jsdoc;
    const keys = new Set(msg.keys);
    const model = (key) => {
      const [id, attr] = key.split(" ");
      return [doc.get_model_by_id(id), attr];
    };
    patching += 1;
    try {
      for (const key of msg.keys) {
        if (grid.snapshot.has(key)) continue;
        const [m, attr] = model(key);
        if (m) grid.snapshot.set(key, m.property(attr).get_value());
      }
      for (const key of grid.set) {
        if (keys.has(key)) continue;
        const [m, attr] = model(key);
        if (m) m.setv({ [attr]: grid.snapshot.get(key) }, { sync: false, check_eq: false });
      }
    } finally {
      patching -= 1;
    }
    applyPatch(msg);
    grid.set = msg.keys;
    grid.at = msg.value;
    wfl.foreseenSteps += 1;
  }

  // The reader is on a slider: its handle has focus, or the pointer is over
  // it. Python works out its grid before the first press.
  let focusSent = null;
  let sliderEls = null; // a slider view's element -> its model's id
  function sliderAt(path) {
    for (let fresh = 0; fresh < 2; fresh++) {
      if (!sliderEls || fresh) {
        sliderEls = new WeakMap();
        for (const view of Bokeh.index.query((v) => v.model.type === "Slider")) {
          sliderEls.set(view.el, view.model.id);
        }
      }
      for (const el of path) {
        const id = sliderEls.get(el);
        if (id) return id;
      }
      if (!path.some((el) => el.classList && el.classList.contains("noUi-target"))) return null;
    }
    return null;
  }

  function focusedSlider() {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    const path = [];
    for (; el; el = el.parentNode || el.host) path.push(el);
    return path.length > 1 ? sliderAt(path) : null;
  }

  function aimAt(id) {
    if (!wfl.live || window.wflNoForesight || id === focusSent || (grid && grid.model === id)) return;
    focusSent = id;
    wfl.foreseeing = true;
    worker.postMessage({ type: "focus", model: id });
  }

  function onSlider(event) {
    const id = wfl.live ? sliderAt(event.composedPath()) : null;
    if (id) aimAt(id);
  }

  // For the default link the worker tells whether its document is the one
  // the snapshot was made from (render(), msg.keep). With wflVerify set
  // (tests) it also sends the document, and this checks the claim in full:
  // same models, same text, numbers aside (numpy in wasm vs the build's).
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
    // Stylesheet URLs differ in form only: absolute in the worker, relative
    // in the build, which also appends Panel's version.
    const base = new URL(".", location.href).href;
    const norm = (text) => text.split(base).join("").split("?v=" + config.panel).join("");
    const live = Object.values(JSON.parse(norm(msg.docs_json)))[0];
    const pre = Object.values(JSON.parse(norm(docsText)).docs_json)[0];
    return sameShape(live.roots, pre.roots);
  }

  async function render(msg) {
    await prerendered.catch(() => {});
    if (msg.keep) {
      // Python built the document this snapshot was made from (same link,
      // same models by id and type), so it did not serialise it.
      if (!prerenderedDoc) {
        worker.postMessage({ type: "send_doc" });
        return;
      }
      // The page keeps what is on screen, scroll position and focus
      // included; Python resends every data source once (exact numbers).
      if (msg.docs_json) wfl.verified = sameAsPrerender(msg);
      wfl.hydrated = true;
      adopt(prerenderedDoc, true);
      return;
    }
    // Any other link (settings, sections) is rendered afresh.
    wfl.hydrated = false;
    worker.queue = []; // changes made to a snapshot we are about to replace
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
    if (prerenderedDoc) prerenderedDoc.remove_on_change(earlyChange);
    worker.jsdoc = jsdoc;
    // Not enumerable, so JSON.stringify(window.wfl) stays cheap and acyclic.
    Object.defineProperty(wfl, "doc", { value: jsdoc, enumerable: false });
    jsdoc.on_change(sendChange, false);
    worker.postMessage({ type: "rendered", resync });
    sections = sectionElements();
    watchScreen(jsdoc);
  }

  // The page's sections (Panel puts them in shadow roots), found once the
  // live document is rendered: watchScreen and skipOffScreenSections use them.
  let sections = [];
  function sectionElements() {
    const found = [];
    for (const root of shadowRoots(document)) found.push(...root.querySelectorAll(".wfl-section"));
    return found;
  }

  // A control with the class "wfl-goto-KEY" (section 10's button to section
  // 6) also brings section KEY into view: Bokeh's CustomJS would need eval,
  // which the page's CSP forbids.
  document.addEventListener("click", (ev) => {
    for (const el of ev.composedPath()) {
      const cls = el.classList ? [...el.classList].find((c) => c.startsWith("wfl-goto-")) : null;
      if (!cls) continue;
      const key = cls.slice("wfl-goto-".length);
      const target = sections.find((s) => s.wflKey === key);
      if (target) target.scrollIntoView({ block: "start" });
      return;
    }
  });

  // Python redraws only the sections a reader can see (app/main.py,
  // on_screen_input): a slider step moves figures in five sections, and
  // repainting those off screen cost most of the page's time per step.
  // The margin lets a section catch up just before it scrolls into view.
  function watchScreen(jsdoc) {
    const box = [...jsdoc.all_models].find(
      (m) => Array.isArray(m.css_classes) && m.css_classes.includes("wfl-on-screen"));
    if (!box || !window.IntersectionObserver) return;
    const seen = new Map();
    let timer = null;
    const report = () => {
      timer = null;
      const keys = [...seen].filter(([, on]) => on).map(([key]) => key).sort();
      wfl.onScreen = keys;
      const value = "shown:" + keys.join(",");
      if (box.value !== value) box.value = value;
    };
    const observer = new IntersectionObserver((entries) => {
      for (const e of entries) seen.set(e.target.wflKey, e.isIntersecting);
      if (timer === null) timer = setTimeout(report, 30);
    }, { rootMargin: "400px 0px" });
    for (const el of sections) {
      el.wflKey = sectionKey([...el.classList]);
      if (el.wflKey) observer.observe(el);
    }
  }

  // Once live, the browser skips the rendering (style, layout, paint and
  // compositing) of sections far from the screen: `content-visibility:
  // auto`. Every frame of a slider step paid for the whole page: chromium
  // copied each figure's canvas into a new compositor resource on every
  // frame, changed or not (29 canvases a frame on the full page), and a key
  // press's own frame repainted the page. That frame often still held the
  // main thread when Python's answer came (a devtools trace). Measured on
  // the full page, interleaved, 4 x 50 bias steps: the main thread's frame
  // work 40 -> 35 ms a step, 18 canvases a frame; drawn p50 35.6 -> 33.1,
  // p95 54.9 -> 45.7 ms. A skipped section keeps its height (the one it has
  // now, then the last one drawn), so the scroll bar and links do not jump;
  // what is in it stays in the page for find, focus and screen readers.
  // Applied once every section has been laid out (the prerendered page),
  // so each height is known. Printing renders every section (a full-page
  // screenshot showed the skipped ones blank); so does
  // wfl.skipOffScreen(false), for scripts/screenshots.py and tests, and
  // wfl.skipsOffScreen says whether sections are being skipped.
  function skipOffScreenSections() {
    wfl.skipsOffScreen = false;
    if (!window.CSS || !CSS.supports("content-visibility", "auto")) return;
    // One section (an embed) has nothing far from the screen to skip, and
    // would only pay for the browser's checks of whether it is.
    if (sections.length < 2) return;
    const heights = sections.map((el) => Math.round(el.getBoundingClientRect().height));
    sections.forEach((el, i) => { el.style.containIntrinsicHeight = `auto ${heights[i]}px`; });
    const skip = (on) => {
      for (const el of sections) el.style.contentVisibility = on ? "auto" : "visible";
      wfl.skipsOffScreen = on;
    };
    skip(true);
    window.addEventListener("beforeprint", () => skip(false));
    window.addEventListener("afterprint", () => skip(true));
    wfl.skipOffScreen = skip;
  }

  // Three changes to how BokehJS (pinned in build/versions.py) repaints, for
  // the slider path. Each figure's paint rewrote the CSS position of every
  // renderer, even when unchanged, and then read computed styles (colours
  // from CSS variables, the base font size): each read after a write made
  // the browser recalculate the page's styles, about 46 times per full-page
  // slider step (a devtools trace). Now an unchanged stylesheet is left
  // alone, and glyph renderers, whose boxes hold nothing visible, get their
  // new position once the frame is painted; about 4 recalculations remain.
  // And BokehJS no longer asks computed styles for a --bk-<visual> variable
  // per colour, width and font on every paint (thousands of lookups a step):
  // nothing this page loads defines one, which the build checks
  // (build/site.py, check_no_css_visual_variables).
  // If a BokehJS upgrade moves these, the page works as before, and
  // wfl.tunedBokeh (checked by the tests) says so.
  function tuneBokeh() {
    wfl.tunedBokeh = false;
    const sheet = bokehProto("core/dom", "InlineStyleSheet");
    const view = bokehProto("models/renderers/glyph_renderer", "GlyphRendererView");
    const visuals = bokehProto("core/visuals/visual", "VisualProperties");
    if (!sheet || typeof sheet._update !== "function" || !view
        || typeof view.update_position !== "function" || !visuals
        || typeof visuals._get_css_value !== "function") return;
    visuals._get_css_value = () => "";
    const write = sheet._update;
    sheet._update = function (css) {
      if (this.el.textContent !== css) write.call(this, css);
    };
    deferPositions(view, holdsSomething);
    wfl.tunedBokeh = true;
  }

  // Panel's Location writes every state change into the address bar with
  // history.pushState, so each slider step became a history entry: Back
  // walked the address bar through old slider values while the page stayed
  // as it was (nothing listens for popstate), leaving a URL that no longer
  // matched the view, and leaving the page took a Back per step. The page
  // has no other use for entries: a change replaces the current one, and
  // Back leaves the page. wfl.oneHistoryEntry says whether this is on.
  function keepOneHistoryEntry() {
    const replace = history.replaceState;
    history.pushState = function (state, title, url) {
      return replace.call(history, state, title, url);
    };
    wfl.oneHistoryEntry = true;
  }

  // A BokehJS class's prototype, or null if this BokehJS has no such module
  // or class (the tuning below then stays off and its wfl flag says so).
  function bokehProto(module, name) {
    try {
      const mod = Bokeh.require(module);
      return (mod && mod[name] && mod[name].prototype) || null;
    } catch (e) {
      return null;
    }
  }

  // A view's update_position (a CSS write, then reads that force layout)
  // runs once the frame is painted, once per view however often it was asked.
  // With `movable`, a view that was placed once is placed again only while
  // movable(view) says its box matters.
  function deferPositions(proto, movable) {
    const place = proto.update_position;
    const waiting = new Set();
    const placeAll = () => {
      const views = [...waiting];
      waiting.clear();
      for (const v of views) {
        if (movable && v.wflPlaced && !movable(v)) continue;
        v.wflPlaced = true;
        place.call(v);
      }
    };
    proto.update_position = function () {
      if (!waiting.size) setTimeout(placeAll, 0);
      waiting.add(this);
    };
  }

  // A glyph renderer's element is an empty box over its figure's canvas
  // (its shadow root holds only stylesheets; the glyphs are drawn on the
  // canvas), which BokehJS moves to its data's extent on every data change.
  // Moving it drew nothing, yet it rewrote five stylesheets and restyled
  // the page after every full-page slider step (a trace: 2 ms of the main
  // thread's frame work a step; the step's latency did not change). Such a
  // box now stays where it was first placed, and moves again if it ever
  // holds an element.
  function holdsSomething(view) {
    const root = view.shadow_el || view.el.shadowRoot;
    const inside = (node) => [...node.children].some((c) => c.tagName !== "STYLE");
    return inside(view.el) || Boolean(root && inside(root));
  }

  // Legends, two more costs on the slider path. BokehJS rebuilds a legend's
  // entries (a new canvas and three elements per entry) whenever anything
  // behind its renderers changes, data included, though only the entries'
  // labels and visibility feed them: now they are rebuilt when those change
  // or when the legend itself is rendered (anew or restyled). And a legend
  // reads its own and the canvas's boxes on every paint (forcing layout):
  // now after the frame, as for glyph renderers. Legends here are not
  // clickable. Rebuilt entries were also blank until their figure's next
  // paint, which an off-screen figure (paintOnlyNearScreen) may not get.
  // wfl.keptLegends says whether this is on (tests).
  function keepLegends() {
    wfl.keptLegends = false;
    const view = bokehProto("models/annotations/legend", "LegendView");
    if (!view || typeof view._render_items !== "function"
        || typeof view.update_position !== "function" || typeof view._toggle_inactive !== "function"
        || typeof view.render !== "function"
        || !("_should_rerender_items" in view)) return;
    const shown = (v) => v.entries.map((e) => e.item.visible).join();
    const build = view._render_items;
    const render = view.render;
    view.render = function () {
      this.wflRendering = true;
      try {
        return render.call(this);
      } finally {
        this.wflRendering = false;
      }
    };
    view._render_items = function () {
      // Entries stay in the legend's grid until rebuilt, and wflShown is
      // unset until the first build (always from render()).
      const same = !this.wflRendering && this.wflShown === shown(this)
        && !this._should_rerender_items;
      if (same) {
        for (const e of this.entries) this._toggle_inactive(e);
        return;
      }
      build.call(this);
      this.wflShown = shown(this);
    };
    deferPositions(view);
    wfl.keptLegends = true;
  }

  // Each axis asks its figure's base font size on every paint, and BokehJS
  // answers with getComputedStyle(), a style recalculation when anything
  // changed since. It is the page's font size, fixed once the figure is on
  // the page (presenter and theme links render the page afresh): asked once
  // per figure, once it has an answer. wfl.cachedFontSize says so (tests).
  function cacheFontSize() {
    wfl.cachedFontSize = false;
    const view = bokehProto("models/plots/plot_canvas", "PlotView");
    const font = view && Object.getOwnPropertyDescriptor(view, "base_font_size");
    if (!font || typeof font.get !== "function" || !font.configurable) return;
    Object.defineProperty(view, "base_font_size", {
      configurable: true,
      get() {
        if (this.wflFontSize == null) this.wflFontSize = font.get.call(this);
        return this.wflFontSize;
      },
    });
    wfl.cachedFontSize = true;
  }

  // A figure asked to paint is painted in the coming frame. BokehJS spaces
  // a figure's paints at least 1000/60 ms apart with a timer
  // (core/util/throttle) on top of waiting for a frame, so a slider step
  // that came within 16.7 ms of the figure's last paint waited out the
  // timer and was drawn a frame or two late (a devtools trace of the full
  // page: 5 steps in 60, every figure on screen painted about 17 ms after
  // the frame that should have shown it). A frame callback already paints
  // a figure at most once per frame, which is all the spacing needed.
  // wfl.paintNextFrame says whether this is on (tests).
  function paintInNextFrame() {
    wfl.paintNextFrame = false;
    const view = bokehProto("models/plots/plot_canvas", "PlotView");
    if (!view || typeof view.schedule_paint !== "function" || typeof view.repaint !== "function"
        || typeof view._await_ready !== "function") return;
    view.schedule_paint = function () {
      if (this.is_paused) return;
      if (!this.wflFrame) {
        this.wflFrame = new Promise((done, fail) => requestAnimationFrame(() => {
          this.wflFrame = null;
          try {
            if (!this.is_destroyed) this.repaint();
            done();
          } catch (e) {
            fail(e);
          }
        }));
      }
      this._await_ready(this.wflFrame);
    };
    wfl.paintNextFrame = true;
  }

  // A figure off the reader's screen keeps its new data but is painted only
  // when it comes within 100px of it: Python redraws whole sections once any
  // part is near (400px margin, watchScreen above), and a slider step's
  // frame waited for figures of those sections nobody could see (full page,
  // bias slider in view: 3 of 7 figures; A/B drawn p50 about 2 ms less).
  // One within those 100px but not on screen is painted a frame later, so
  // that it is ready before a scroll brings it in, without the frame that
  // shows the figures on screen waiting for it.
  // A figure's first paint always happens (the snapshot, a fresh page),
  // and so does any paint BokehJS waits on to call the figure finished.
  // wfl.paintNear says whether this is on (tests); wfl.paintsDeferred counts
  // the paints put off by a frame.
  function paintOnlyNearScreen() {
    wfl.paintNear = false;
    const view = bokehProto("models/plots/plot_canvas", "PlotView");
    if (!view || typeof view.schedule_paint !== "function" || typeof view.remove !== "function"
        || typeof view.has_finished !== "function" || !window.IntersectionObserver) return;
    const schedule = view.schedule_paint;
    const remove = view.remove;
    const near = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const v = e.target.wflPlotView;
        if (!v) continue;
        v.wflFar = !e.isIntersecting;
        if (!v.wflFar && v.wflOwed) {
          v.wflOwed = false;
          schedule.call(v);
        }
      }
    }, { rootMargin: "100px 0px" });
    const seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const v = e.target.wflPlotView;
        if (v) v.wflOffScreen = !e.isIntersecting;
      }
    });
    view.schedule_paint = function () {
      if (!this.wflWatched) {
        this.wflWatched = true;
        this.el.wflPlotView = this;
        near.observe(this.el);
        seen.observe(this.el);
      }
      // Only a figure already drawn and finished may wait: until then the
      // document is not idle, and Panel's address bar (Location) waits for
      // an idle document before it writes the URL.
      const finished = this.has_finished() && !this._needs_notify;
      if (this.wflFar && finished) {
        this.wflOwed = true; // what changed stays invalidated until then
        return;
      }
      if (this.wflOffScreen && finished) {
        if (!this.wflSoon) {
          this.wflSoon = true;
          wfl.paintsDeferred += 1;
          // After the coming frame: a frame callback registered now would
          // run in that very frame.
          requestAnimationFrame(() => setTimeout(() => {
            this.wflSoon = false;
            if (!this.is_destroyed) schedule.call(this);
          }, 0));
        }
        return;
      }
      schedule.call(this);
    };
    view.remove = function () {
      near.unobserve(this.el);
      seen.unobserve(this.el);
      return remove.call(this);
    };
    wfl.paintsDeferred = 0;
    wfl.paintNear = true;
  }

  // Every figure stacks a second canvas on its first, for renderers at the
  // "overlay" level (tool overlays such as a zoom box). No figure here has
  // any, so it stays blank; yet chromium copies every canvas in the page
  // into a new compositor resource on every frame, changed or not (a
  // devtools trace of the full page: 40 canvases, about 120 copies and
  // 8 ms of the page's main thread per slider step, each step being three
  // frames). A figure's overlay canvas is now out of the page's rendering
  // (display: none) while nothing paints into it, and back when something
  // does. wfl.hidOverlays says whether this is on (tests).
  function hideEmptyOverlays() {
    wfl.hidOverlays = false;
    const view = bokehProto("models/plots/plot_canvas", "PlotView");
    if (!view || typeof view._paint_overlays !== "function") return;
    const paint = view._paint_overlays;
    view._paint_overlays = function (ctx) {
      const layer = this.canvas_view && this.canvas_view.overlays;
      if (layer && layer.el && layer.el.style) {
        const used = this.computed_renderer_views.some((v) => v.model.level === "overlay");
        const display = used ? "" : "none";
        if (layer.el.style.display !== display) layer.el.style.display = display;
      }
      return paint.call(this, ctx);
    };
    wfl.hidOverlays = true;
  }

  // Numbers written in the cells of a heatmap (a text glyph tagged
  // "wfl-fit-cells" in Python, on a categorical x axis) are left out while
  // a cell is narrower than the widest number: on a phone they ran together
  // into one unreadable line. The colours still carry the values, and the
  // numbers come back when the cells are wide enough (a wider screen, a
  // rotated phone). The view's wflCellsFit says which it did (tests).
  function fitCellText() {
    const proto = bokehProto("models/glyphs/text", "TextView");
    if (!proto || typeof proto._paint !== "function") return;
    const paint = proto._paint;
    proto._paint = function (ctx, indices, data) {
      if (this.model.tags.includes("wfl-fit-cells")) {
        const xs = this.renderer.xscale;
        const cell = Math.abs(xs.compute(1) - xs.compute(0));
        let widest = 0;
        for (const i of indices) widest = Math.max(widest, this.swidth[i] || 0);
        this.wflCellsFit = widest + 4 <= cell;
        if (!this.wflCellsFit) return;
      }
      paint.call(this, ctx, indices, data);
    };
  }

  // Every glyph renderer keeps four spare views of its glyph besides the
  // one it draws: for selected points, for the unselected ones, for a muted
  // legend entry and for the coarse copy drawn while a tool drags the plot.
  // BokehJS brings all five up to date on every data change and maps all
  // five to the screen on every paint. No figure here has tools, a
  // selection or a muting legend, so the spares are never drawn; in the
  // page, their upkeep was 1.6 ms of each full-page slider step, before
  // the paint. Now a spare rests while its renderer cannot need it, and
  // is brought up to date the moment it can (a selection, muting). wfl.
  // mainGlyphOnly says whether this is on (tests).
  function mainGlyphOnly() {
    wfl.mainGlyphOnly = false;
    const renderer = bokehProto("models/renderers/glyph_renderer", "GlyphRendererView");
    const glyph = bokehProto("models/glyphs/glyph", "GlyphView");
    const upkeep = ["set_data", "set_visuals", "after_visuals", "after_lazy_visuals", "map_data"];
    if (!renderer || !glyph || upkeep.some((name) => typeof glyph[name] !== "function")
        || typeof renderer.set_data !== "function"
        || typeof renderer.connect_signals !== "function") return;
    const spares = ["decimated_glyph", "selection_glyph", "nonselection_glyph", "muted_glyph"];
    // On the view itself, over whatever its glyph class defines (a text
    // glyph has its own after_visuals, for instance).
    const restable = (view) => {
      if (view.wflRestable) return;
      view.wflRestable = true;
      for (const name of upkeep) {
        const work = view[name];
        const async = name === "set_data" || name === "after_lazy_visuals";
        view[name] = function (...args) {
          if (!this.wflResting) return work.apply(this, args);
          this.wflStale = true;
          return async ? Promise.resolve() : undefined;
        };
      }
    };
    const needsSpares = (v) => {
      const source = v.model.data_source;
      const tools = v.plot_view && v.plot_view.model.toolbar
        ? v.plot_view.model.toolbar.tools.length : 1;
      return Boolean(v.model.muted) || v.hover_glyph != null || tools > 0
        || !source.selected.is_empty() || !source.inspected.is_empty();
    };
    const setData = renderer.set_data;
    renderer.set_data = function (indices) {
      const rest = !needsSpares(this);
      for (const name of spares) {
        const view = this[name];
        if (!view) continue;
        restable(view);
        view.wflResting = rest;
      }
      return setData.call(this, indices);
    };
    const connect = renderer.connect_signals;
    renderer.connect_signals = function () {
      connect.call(this);
      const wake = () => {
        const stale = spares.some((name) => this[name] && this[name].wflStale);
        if (!stale || !needsSpares(this)) return;
        for (const name of spares) if (this[name]) this[name].wflStale = false;
        this.set_data().then(() => this.request_paint());
      };
      this.connect(this.model.properties.muted.change, wake);
      this.connect(this.model.data_source.selected.change, wake);
      this.connect(this.model.data_source.inspect, wake);
    };
    wfl.mainGlyphOnly = true;
  }

  // Axes were 3.6 of the 8.5 ms BokehJS spent painting a full-page slider
  // step: every paint of every figure placed each axis's ticks again and
  // measured and drew every tick label, though a step changes data and
  // seldom a range. An axis is now drawn once into a canvas of its own and
  // copied onto its figure while nothing that decides its pixels changed:
  // the canvas and its transform, the axis's box, the plot frame, every
  // range (ends and factors), the axis, its ticker and formatter (any
  // property), its label views, and the page's fonts. The copy is a strip
  // from the axis to the canvas's far edges, whole along the axis: tick
  // labels may reach past the axis's own box (a slanted label past its
  // end, ticks a few pixels into the frame), never back across the frame.
  // The strip holds only the axis's pixels, so copying it over what is
  // already painted blends as drawing the axis there would.
  // wfl.cachedAxes says whether this is on; wfl.axisCache = false turns it
  // off (tests compare both); wfl.axisDraws / wfl.axisCopies count.
  function cacheAxes() {
    wfl.cachedAxes = false;
    const axis = bokehProto("models/axes/axis", "AxisView");
    let Layer = null;
    try {
      Layer = Bokeh.require("core/util/canvas").CanvasLayer;
    } catch (e) {
      return;
    }
    if (!axis || typeof Layer !== "function" || typeof axis.connect_signals !== "function"
        || typeof axis._paint !== "function" || typeof axis.get_size !== "function"
        || typeof axis._init_axis_label !== "function"
        || typeof axis._init_major_labels !== "function") return;
    let fonts = 0;
    if (document.fonts) document.fonts.addEventListener("loadingdone", () => { fonts += 1; });
    for (const name of ["_init_axis_label", "_init_major_labels"]) {
      const init = axis[name];
      axis[name] = async function (...args) {
        try {
          return await init.apply(this, args);
        } finally {
          this.wflVersion = (this.wflVersion || 0) + 1;
        }
      };
    }
    const rangeKey = (range) => [range.start, range.end,
      Array.isArray(range.factors) ? JSON.stringify(range.factors) : ""].join();
    // What decides the axis's pixels, as one string; null when the copy
    // cannot stand in (an axis inside the frame, a rotated or skewed canvas).
    const keyOf = (view, ctx, t) => {
      const frame = view.plot_view && view.plot_view.frame;
      const box = view.bbox;
      const side = view.panel && view.panel.side;
      if (!frame || !(frame.x_ranges instanceof Map) || !(frame.y_ranges instanceof Map)
          || !box || !side || view.model.fixed_location != null || t.b !== 0 || t.c !== 0
          || !ctx.canvas) return null;
      const parts = [view.wflVersion, fonts, side, ctx.canvas.width, ctx.canvas.height,
        t.a, t.d, t.e, t.f, box.x, box.y, box.width, box.height,
        frame.bbox.x, frame.bbox.y, frame.bbox.width, frame.bbox.height];
      for (const map of [frame.x_ranges, frame.y_ranges]) {
        for (const range of map.values()) parts.push(rangeKey(range));
      }
      return parts.join("|");
    };
    // The strip, in device pixels: from a few pixels inside the axis's inner
    // edge (ticks drawn into the frame) to the canvas's edge beyond it.
    const stripOf = (view, ctx, t) => {
      const box = view.bbox;
      const m = 2 + Math.max(view.model.major_tick_in || 0, view.model.minor_tick_in || 0);
      const W = ctx.canvas.width, H = ctx.canvas.height;
      const sx = (x) => t.a * x + t.e, sy = (y) => t.d * y + t.f;
      let x0 = 0, y0 = 0, x1 = W, y1 = H;
      switch (view.panel.side) {
        case "below": y0 = Math.floor(sy(box.y - m)); break;
        case "above": y1 = Math.ceil(sy(box.y + box.height + m)); break;
        case "left": x1 = Math.ceil(sx(box.x + box.width + m)); break;
        case "right": x0 = Math.floor(sx(box.x - m)); break;
        default: return null;
      }
      x0 = Math.max(0, x0); y0 = Math.max(0, y0);
      x1 = Math.min(W, x1); y1 = Math.min(H, y1);
      return x1 > x0 && y1 > y0 ? { x0, y0, w: x1 - x0, h: y1 - y0 } : null;
    };
    const draw = (view, paint, t, key, strip) => {
      const old = view.wflAxisCopy;
      const layer = old ? old.layer : new Layer("canvas", false);
      layer.canvas.width = strip.w; // also clears it
      layer.canvas.height = strip.h;
      const off = layer.ctx;
      off.save();
      off.setTransform(t.a, 0, 0, t.d, t.e - strip.x0, t.f - strip.y0);
      try {
        paint.call(view, off);
      } finally {
        off.restore();
      }
      wfl.axisDraws += 1;
      return { key, layer, strip };
    };
    // What decides the axis's size (ticks, their labels' extents, the axis
    // label): no box or frame, as the size is what places them. BokehJS asks
    // every side panel its size twice per paint to see whether the layout
    // must change (_invalidate_layout_if_needed); for an axis that means
    // placing its ticks and measuring every label again.
    const sizeKeyOf = (view) => {
      const plot = view.plot_view;
      const frame = plot && plot.frame;
      if (!frame || !(frame.x_ranges instanceof Map) || !(frame.y_ranges instanceof Map)) return null;
      const parts = [view.wflVersion, fonts, view.model.visible, view.model.fixed_location,
        plot.base_font_size, view.panel && view.panel.side];
      for (const map of [frame.x_ranges, frame.y_ranges]) {
        for (const range of map.values()) parts.push(rangeKey(range));
      }
      return parts.join("|");
    };
    const connect = axis.connect_signals;
    axis.connect_signals = function () {
      connect.call(this);
      this.wflVersion = (this.wflVersion || 0) + 1;
      const bump = () => { this.wflVersion += 1; };
      this.connect(this.model.change, bump);
      if (this.model.ticker) this.connect(this.model.ticker.change, bump);
      if (this.model.formatter) this.connect(this.model.formatter.change, bump);
      const getSize = this.get_size; // this axis's own class's measuring
      this.get_size = function () {
        const key = wfl.axisCache ? sizeKeyOf(this) : null;
        if (key === null || !this.wflSize || this.wflSize.key !== key) {
          const size = getSize.call(this);
          this.wflSize = key === null ? null : { key, width: size.width, height: size.height };
          return size;
        }
        wfl.axisSizesReused += 1;
        return { width: this.wflSize.width, height: this.wflSize.height };
      };
      const paint = this._paint; // this axis's own class's drawing
      this._paint = function (ctx) {
        const t = wfl.axisCache && typeof ctx.getTransform === "function" ? ctx.getTransform() : null;
        const key = t ? keyOf(this, ctx, t) : null;
        const strip = key === null ? null : stripOf(this, ctx, t);
        if (strip === null) {
          this.wflAxisCopy = null;
          return paint.call(this, ctx);
        }
        if (!this.wflAxisCopy || this.wflAxisCopy.key !== key) {
          this.wflAxisCopy = draw(this, paint, t, key, strip);
        } else {
          wfl.axisCopies += 1;
        }
        const copy = this.wflAxisCopy;
        ctx.save();
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.drawImage(copy.layer.canvas, copy.strip.x0, copy.strip.y0);
        ctx.restore();
        return undefined;
      };
    };
    wfl.axisCache = true;
    wfl.axisSizesReused = 0;
    wfl.axisDraws = 0;
    wfl.axisCopies = 0;
    wfl.cachedAxes = true;
  }

  function applyPatch(msg) {
    const patch = typeof msg.patch === "string" ? JSON.parse(msg.patch) : msg.patch;
    try {
      patching += 1;
      worker.jsdoc.apply_json_patch(patch, msg.buffers);
    } finally {
      patching -= 1;
    }
    if (mayRelabel(patch)) labelSoon();
  }

  const laterPatches = [];
  function applyLater() {
    for (const msg of laterPatches.splice(0)) applyPatch(msg);
  }

  const onMessage = async (event) => {
    const msg = event.data;
    if (msg.type === "status") {
      setStatus(msg.stage, msg.msg);
    } else if (msg.type === "modules") {
      wfl.modules = msg.names;
    } else if (msg.type === "mark") {
      wfl.worker = wfl.worker || {};
      wfl.worker[msg.name] = msg.t;  // ms since the worker started booting
    } else if (msg.type === "render") {
      await render(msg);
    } else if (msg.type === "live") {
      labelSoon();
      if (worker.queue.length) flushChanges(); // what the reader did before Python was up
      wfl.live = true;
      skipOffScreenSections();
      setStatus("live", "Live: every control below now runs the toy model in your browser.");
      document.body.classList.add("wfl-live");
    } else if (msg.type === "idle") {
      worker.busy = wfl.busy = false;
      if (worker.queue.length) {
        flushChanges();
      } else {
        wfl.idleAt = performance.now();
      }
    } else if (msg.type === "foresight") {
      keepForesight(msg);
    } else if (msg.type === "foresaw") {
      wfl.foreseeing = false;
    } else if (msg.type === "patch") {
      if (!msg.later) dropGrid(); // Python changed what the page shows
      if (msg.later) {
        wfl.addressPatches += 1;
        // Only the address bar (Python's Location): after the frame that
        // shows the plots, in arrival order. Writing it costs a millisecond.
        laterPatches.push(msg);
        if (laterPatches.length === 1) requestAnimationFrame(() => setTimeout(applyLater, 0));
      } else {
        wfl.patchesReceived += 1;
        applyPatch(msg);
      }
    } else if (msg.type === "error") {
      wfl.errors.push(msg.msg);
      console.error("[python worker]", msg.msg);
      if (!wfl.live) setStatus("failed", "The live version could not start; the figures below stay as they were prerendered.");
    }
  };
  // The worker's messages come on this page's BroadcastChannel (boot.js)
  // when there is one: chromium holds messages posted to a page from a key
  // press until the key's own frame is painted (its DeferRendererTasksAfterInput
  // scheduling), so an answer that was ready waited, and the figures were
  // painted one frame later than they could be; a channel's messages are not
  // held. All of them travel on it, so they keep their order.
  worker.onmessage = onMessage;
  if (window.wflBoot.channel) window.wflBoot.channel.onmessage = onMessage;
  wfl.channel = Boolean(window.wflBoot.channel);
  for (const event of window.wflBoot.early.splice(0)) onMessage(event);
  worker.onerror = (e) => {
    wfl.errors.push(e.message);
    console.error("[python worker]", e.message);
  };

  // Python is already booting (boot.js) while Bokeh draws the prerendered figures.
  if (wfl.stage === "prerender") setStatus("runtime", "Loading the Python runtime…");
  const prerendered = prerender();
  prerendered.catch((e) => {
    wfl.errors.push(String(e));
    console.error("prerender failed", e);
  });
})();
