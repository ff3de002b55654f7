// Foresight, the page's half. While the reader is on a slider its section
// marked FORESEEN, Python works out the patches that bring it to the values
// around it (app/worker/foresight.py), all from one state of the page (the
// grid's anchor), each giving the whole value of what it sets. A press that
// lands on one of those values is drawn in the key press's own task: the
// page puts back the anchor's value of whatever the last patch set and this
// one does not, then applies this one. A grid begins only when Python has
// made every change the page sent (`seq`); any other change ends it.
// window.wflNoForesight (benchmarks) sends every step the usual way.

const VALUE_ATTRS = new Set(["value", "value_throttled"]);

export function createForesight(wfl, getLink) {
  let grid = null;
  let owed = null; // a grid the page applied patches of that Python never made
  let aimed = null; // the slider whose grid was last asked for
  let sliderEls = null; // a slider view's element -> its model's id
  wfl.foreseenSteps = 0;
  wfl.foreseeing = false;
  Object.defineProperty(wfl, "foresight", { get: () => (grid ? grid.patches : []) });
  Object.defineProperty(wfl, "grid", { get: () => grid });

  const off = () => Boolean(window.wflNoForesight);

  // A foreseen value arrived: keep it if it belongs to the grid, or starts
  // one from the state the page now shows.
  function keep(msg) {
    if (off()) return;
    const link = getLink();
    if (grid && msg.grid === grid.id) {
      grid.patches.push(msg);
    } else if (msg.seq === wfl.patchesSent && !link.busy && !link.queued
        && (!grid || grid.at === grid.sent)) {
      drop();
      grid = { id: msg.grid, model: msg.model, patches: [msg], snapshot: new Map(),
        set: [], at: null, sent: null };
    }
  }

  function drop() {
    if (grid && grid.at !== grid.sent) owed = grid.id;
    grid = null;
    aimed = null;
  }

  // The grid's patch for these queued changes, if they move its slider to a
  // value Python foresaw (or to where the page already is: a drag's release).
  function stepFor(queue) {
    if (!grid || off() || !queue.every((e) => e.model && e.model.id === grid.model
        && VALUE_ATTRS.has(e.attr))) return null;
    const last = queue.find((e) => e.attr === "value") || queue[queue.length - 1];
    const value = last.value;
    if (typeof value !== "number") return null;
    const near = (v) => Math.abs(v - value) <= 1e-9 * Math.max(1, Math.abs(value));
    return grid.patches.find((f) => near(f.value)) || null;
  }

  // Show a foreseen value: the anchor's value back where the last patch set
  // something this one does not, then this patch.
  function show(msg) {
    if (grid.at === msg.value) return;
    const link = getLink();
    const doc = link.doc;
    const keys = new Set(msg.keys);
    const model = (key) => {
      const [id, attr] = key.split(" ");
      return [doc.get_model_by_id(id), attr];
    };
    link.quietly(() => {
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
    });
    link.applyPatch(msg);
    grid.set = msg.keys;
    grid.at = msg.value;
    wfl.foreseenSteps += 1;
  }

  // Queued changes of the grid's slider to the value shown but not yet sent
  // (other changes came after it): they go to Python first, on their own.
  function unsent(queue) {
    if (!grid || grid.at === grid.sent) return null;
    const events = queue.filter((e) => e.model && e.model.id === grid.model
      && VALUE_ATTRS.has(e.attr) && e.value === grid.at);
    if (events.length) return { events, value: grid.at, grid: grid.id };
    owed = grid.id; // its value was replaced in the queue: Python resends what the grid set
    return null;
  }

  // Ends the grid before an ordinary change; the id of a grid whose patches
  // the page applied and Python never made (Python resends what it set).
  function release() {
    const was = owed;
    drop();
    owed = null;
    return was;
  }

  // The reader is on a slider: its handle has focus, or the pointer is over it.
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
    if (!wfl.live || off() || id === aimed || (grid && grid.model === id)) return;
    aimed = id;
    wfl.foreseeing = true;
    getLink().post({ type: "focus", model: id });
  }

  function onSlider(event) {
    const id = wfl.live ? sliderAt(event.composedPath()) : null;
    if (id) aimAt(id);
  }

  // Focus and pointer events inside a shadow root reach the document only
  // when they come from outside it, so each slider gets listeners of its own.
  function sliderFound(handle, target) {
    handle.addEventListener("focus", onSlider);
    target.addEventListener("pointerenter", onSlider, { passive: true });
  }

  return {
    handlers: {
      foresight: keep,
      foresaw() { wfl.foreseeing = false; },
    },
    stepFor,
    show,
    unsent,
    release,
    drop,
    sent(value) { grid.sent = value; },
    gridId: () => grid.id,
    aimAtFocused() {
      const id = focusedSlider();
      if (id) aimAt(id);
    },
    sliderFound,
  };
}
