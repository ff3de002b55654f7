// Runs first, before the browser parses Bokeh's 3 MB of JavaScript: starts
// the Python worker at once so Pyodide boots in parallel with the page.
// Messages that arrive before loader.js takes over are kept for it.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("wfl-config").textContent);
  const worker = new Worker("worker.js");
  const early = [];
  worker.onmessage = (event) => early.push(event);
  // The worker answers on a channel of this page's own (loader.js says why);
  // without BroadcastChannel, by postMessage.
  let channel = null;
  if (typeof BroadcastChannel === "function") {
    const id = window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
    channel = new BroadcastChannel("wfl-" + id);
    channel.onmessage = (event) => early.push(event);
  }
  worker.postMessage({
    type: "boot",
    channel: channel ? channel.name : null,
    base: new URL(".", location.href).href,
    search: location.search,
    packages: config.packages,
    prerender: config.prerender,
    // Tests set this to have the worker serialise its document anyway and
    // the page check that it equals the snapshot it kept.
    verify: Boolean(window.wflVerify),
    // Tests set this to have every patch encoded twice, ours and Bokeh's
    // own way, and any difference reported as an error.
    checkPatches: Boolean(window.wflCheckPatches),
    // Tests raise how slow a slider step may be and still be foreseen
    // (app/worker_link.py, FORESEE_MAX_S): they check the steps, and a
    // loaded machine must not stop a grid they count on.
    foreseeMaxS: Number(window.wflForeseeMaxS) || null,
  });
  window.wflBoot = { worker, channel, early, config, startedAt: performance.now() };
})();
