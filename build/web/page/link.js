// The worker link, the page's half: a reader's changes go to Python in
// batches, Python's patches come back and are applied, and every message
// either way is checked against protocol.js. Python's half is
// app/worker/link.py; the worker itself, build/web/worker.js.

const PROTOCOL = self.WFL_PROTOCOL;

// Only a reader's own changes of these count before Python is up (views set
// ranges themselves).
const READER_ATTRS = new Set(["value", "value_input", "value_throttled", "active", "checked"]);

// `handlers`: a function per message kind the worker sends, besides those
// this room handles itself (patch, idle, error); `ahead`: foresight's page
// half, or null; `afterPatch(patch)`: run after each patch is applied.
export function createLink(wfl, boot, { handlers, ahead, afterPatch, onError }) {
  const worker = boot.worker; // started by boot.js
  let queue = [];
  let busy = false;
  let patching = 0;
  let jsdoc = null;
  let flushQueued = false;

  function post(msg) {
    const wrong = PROTOCOL.checkMessage("toWorker", msg);
    if (wrong) onError(wrong);
    worker.postMessage(msg);
  }

  // Changes go to Python in batches: everything one browser task changes (a
  // slider step sets `value` and `value_throttled` together) travels as one
  // patch, and while Python is busy only the newest value of each attribute
  // waits, so a dragged slider never queues stale positions.
  function enqueue(event) {
    if (event.model && event.attr) {
      queue = queue.filter((e) => !(e.model === event.model && e.attr === event.attr));
    }
    queue.push(event);
  }

  // Before the link: a reader who moves a control while Python boots is not ignored.
  function earlyChange(event) {
    if (READER_ATTRS.has(event.attr)) enqueue(event);
  }

  function sendChange(event) {
    if ((event.setter_id != null && event.setter_id === "py") || patching > 0) return;
    enqueue(event);
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  }

  function flush() {
    flushQueued = false;
    if (!queue.length) return;
    // A slider value Python foresaw is shown now, even while Python is busy;
    // the step still goes to Python, which checks it came out the same.
    const hit = ahead ? ahead.stepFor(queue) : null;
    if (hit) {
      // The value foreseen, not the slider's float arithmetic's near miss.
      for (const e of queue) e.value = hit.value;
      ahead.show(hit);
    }
    if (busy) return;
    if (hit) {
      send(queue.splice(0), hit.value, ahead.gridId());
      return;
    }
    if (ahead) {
      // A foreseen value not yet sent goes first, on its own.
      const first = ahead.unsent(queue);
      if (first) {
        queue = queue.filter((e) => !first.events.includes(e));
        send(first.events, first.value, first.grid);
        return;
      }
    }
    send(queue.splice(0), null, ahead ? ahead.release() : null);
    if (ahead) ahead.aimAtFocused();
  }

  function send(events, foreseen, grid) {
    const patch = jsdoc.create_json_patch(events);
    if (foreseen !== null) ahead.sent(foreseen);
    busy = wfl.busy = true;
    const foresee = Boolean(ahead) && !window.wflNoForesight;
    wfl.foreseeing = foresee;
    wfl.patchesSent += 1;
    post({ type: "patch", patch, foreseen, grid, foresee });
  }

  // Apply one of Python's patches (or a foreseen one) without echoing it back.
  function applyPatch(msg) {
    const patch = typeof msg.patch === "string" ? JSON.parse(msg.patch) : msg.patch;
    quietly(() => jsdoc.apply_json_patch(patch, msg.buffers));
    afterPatch(patch);
  }

  function quietly(fn) {
    patching += 1;
    try {
      return fn();
    } finally {
      patching -= 1;
    }
  }

  // Patches marked `later` hold only the address bar: applied after the
  // frame that shows the plots, in arrival order.
  const laterPatches = [];
  function applyLater() {
    for (const msg of laterPatches.splice(0)) applyPatch(msg);
  }

  const all = {
    ...handlers,
    patch(msg) {
      if (msg.later) {
        wfl.addressPatches += 1;
        laterPatches.push(msg);
        if (laterPatches.length === 1) requestAnimationFrame(() => setTimeout(applyLater, 0));
        return;
      }
      if (ahead) ahead.drop(); // Python changed what the page shows
      wfl.patchesReceived += 1;
      applyPatch(msg);
    },
    idle() {
      busy = wfl.busy = false;
      if (queue.length) flush();
      else wfl.idleAt = performance.now();
    },
    error(msg) {
      onError(msg.msg);
    },
  };
  wfl.handled = Object.keys(all);
  const wrongHandlers = PROTOCOL.checkHandlers("toPage", all);
  if (wrongHandlers) onError(wrongHandlers);

  async function onMessage(event) {
    const msg = event.data;
    const wrong = PROTOCOL.checkMessage("toPage", msg);
    if (wrong) {
      onError(wrong);
      return;
    }
    await all[msg.type](msg);
  }

  // The worker answers on this page's BroadcastChannel (boot.js) when there
  // is one: chromium holds messages posted to a page from a key press until
  // the key's own frame is painted, which put every answer a frame late; a
  // channel's messages are not held. All travel on it, so they keep order.
  function listen() {
    worker.onmessage = onMessage;
    if (boot.channel) boot.channel.onmessage = onMessage;
    wfl.channel = Boolean(boot.channel);
    worker.onerror = (e) => onError(e.message);
    for (const event of boot.early.splice(0)) onMessage(event);
  }

  return {
    listen,
    post,
    earlyChange,
    applyPatch,
    quietly,
    flush,
    // Link to this document: the reader's changes go to Python from now on.
    adopt(doc, resync, earlier) {
      if (earlier) earlier.remove_on_change(earlyChange);
      jsdoc = doc;
      doc.on_change(sendChange, false);
      post({ type: "rendered", resync });
    },
    forget() { queue = []; }, // changes made to a snapshot about to be replaced
    get doc() { return jsdoc; },
    get queued() { return queue.length; },
    get busy() { return busy; },
  };
}
