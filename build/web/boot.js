// Runs first, before the browser parses Bokeh's 3 MB of JavaScript: starts
// the Python worker at once so Pyodide boots in parallel with the page.
// Messages that arrive before page/main.js takes over are kept for it.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("wfl-config").textContent);
  const early = [];
  // The worker answers on a channel of this page's own (page/link.js says
  // why); without BroadcastChannel, by postMessage.
  let channel = null;
  if (typeof BroadcastChannel === "function") {
    const id = window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
    channel = new BroadcastChannel("wfl-" + id);
    channel.onmessage = (event) => early.push(event);
  }
  // Tests set the window.wfl* knobs below before the page loads.
  const tuningOff = Array.isArray(window.wflTuningOff) ? window.wflTuningOff : [];
  const msg = {
    type: "boot",
    channel: channel ? channel.name : null,
    base: new URL(".", location.href).href,
    search: location.search,
    packages: config.packages,
    prerender: config.prerender,
    pins: config.pins,
    // Serialise the document anyway; the page checks it equals its snapshot.
    verify: Boolean(window.wflVerify),
    // Encode every patch twice, ours and Bokeh's way, reporting a difference.
    checkPatches: Boolean(window.wflCheckPatches),
    // How slow a step may be and still be foreseen (app/worker/foresight.py).
    foreseeMaxS: Number(window.wflForeseeMaxS) || null,
    // Library tuning units to leave off ("all" for every one), on both sides.
    tuningOff,
    // The snapshot a return visit restores is kept under this (build/web/snapshot.js).
    runtime: config.runtime,
    snapshot: !window.wflNoSnapshot,
    // A `--snapshot` site's folder of the snapshot it ships, else null.
    shipped: config.shipped || null,
  };
  const wrong = self.WFL_PROTOCOL.checkMessage("toWorker", msg);
  if (wrong) console.error(wrong);
  // The boot message rides in the worker's name, which it reads as it
  // starts: a message posted now would wait for this page's main thread,
  // busy parsing Bokeh and drawing the prerender, to hand it over.
  const worker = new Worker("worker.js", { name: JSON.stringify(msg) });
  worker.onmessage = (event) => early.push(event);
  window.wflBoot = { worker, channel, early, config, tuningOff, startedAt: performance.now() };
})();
