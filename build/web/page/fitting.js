// Page fitting and accessibility: names for Panel's controls, which
// sections are on screen (Python redraws only those), skipping the
// rendering of sections far from the screen, an embed's hidden sections,
// and buttons that bring another section into view.

// Every shadow root of the page, the document first (Panel nests them).
export function* shadowRoots(root) {
  yield root;
  for (const el of root.querySelectorAll("*")) {
    if (el.shadowRoot) yield* shadowRoots(el.shadowRoot);
  }
}

// A section's key ("neuron") from its classes ["wfl-section", "wfl-neuron"].
export function sectionKey(classes) {
  if (!classes.includes("wfl-section")) return null;
  const cls = classes.find((c) => c.startsWith("wfl-") && c !== "wfl-section");
  return cls ? cls.slice(4) : null;
}

// Hide, in a document's JSON, the sections an embed's `show=` leaves out, so
// the iframe does not jump when the live page replaces the snapshot.
export function hideUnshown(node, shown) {
  if (!node || typeof node !== "object") return;
  const attrs = node.attributes;
  const key = attrs && Array.isArray(attrs.css_classes) ? sectionKey(attrs.css_classes) : null;
  if (key && !shown.includes(key)) attrs.visible = false;
  for (const v of Object.values(node)) {
    if (v && typeof v === "object") hideUnshown(v, shown);
  }
}

export function createFitting(wfl, { onSliderFound }) {
  // Panel's sliders (noUiSlider handles) and checkboxes render without an
  // accessible name: the visible label sits beside them, unlinked, inside a
  // shadow root. Each control is named after the label a reader sees, again
  // after any patch that can change a label.
  function labelControls() {
    for (const root of shadowRoots(document)) {
      for (const handle of root.querySelectorAll(".noUi-handle[role=slider]")) {
        const group = handle.closest(".bk-input-group");
        const title = group && group.querySelector(".bk-slider-title");
        const text = title && title.firstChild && title.firstChild.textContent.replace(/:\s*$/, "");
        if (text && handle.getAttribute("aria-label") !== text) handle.setAttribute("aria-label", text);
        const target = handle.closest(".noUi-target");
        if (target && !target.wflFound) {
          target.wflFound = true;
          onSliderFound(handle, target);
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

  // Naming walks every shadow root, so it runs only after a patch that can
  // change a label or add a control, not after a step's new numbers.
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

  // The page's sections (in Panel's shadow roots), found once the live
  // document is rendered.
  let sections = [];
  function findSections() {
    sections = [];
    for (const root of shadowRoots(document)) sections.push(...root.querySelectorAll(".wfl-section"));
    for (const el of sections) el.wflKey = sectionKey([...el.classList]);
    return sections;
  }

  // A control with the class "wfl-goto-KEY" also brings section KEY into
  // view (Bokeh's CustomJS would need eval, which the page's CSP forbids).
  document.addEventListener("click", (ev) => {
    for (const el of ev.composedPath()) {
      const cls = el.classList ? [...el.classList].find((c) => c.startsWith("wfl-goto-")) : null;
      if (!cls) continue;
      const target = sections.find((s) => s.wflKey === cls.slice("wfl-goto-".length));
      if (target) target.scrollIntoView({ block: "start" });
      return;
    }
  });

  // Python redraws only the sections a reader can see (app/main.py,
  // on_screen_input); the margin lets one catch up just before it scrolls in.
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
    for (const el of sections) if (el.wflKey) observer.observe(el);
  }

  // Once live, the browser skips rendering sections far from the screen
  // (`content-visibility: auto`): every frame of a step otherwise paid for
  // the whole page's canvases. A skipped section keeps its last height, so
  // the scroll bar does not jump, and its content stays in the page for find
  // and screen readers. Printing renders every section, and so does
  // wfl.skipOffScreen(false) (screenshots, tests).
  function skipOffScreenSections() {
    wfl.skipsOffScreen = false;
    if (!window.CSS || !CSS.supports("content-visibility", "auto")) return;
    if (sections.length < 2) return; // an embed: nothing far from the screen
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

  return { labelSoon, mayRelabel, findSections, watchScreen, skipOffScreenSections };
}
