// Runs first, before the browser parses Bokeh's 3 MB of JavaScript: starts
// the Python worker at once so Pyodide boots in parallel with the page.
// Messages that arrive before loader.js takes over are kept for it.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("wfl-config").textContent);
  const worker = new Worker("worker.js");
  const early = [];
  worker.onmessage = (event) => early.push(event);
  worker.postMessage({
    type: "boot",
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
  });
  window.wflBoot = { worker, early, config, startedAt: performance.now() };
})();
