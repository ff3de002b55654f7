// What the browser keeps for the next visit.
//
// Offline after one visit: once the page is live and the reader idle, the
// service worker (sw.js) keeps the whole site in the browser. wfl.offline
// says where that stands: "off" (no service worker here: an http:// address
// other than localhost, or a browser without them), "waiting" (for the
// reader to be idle), "keeping", "kept", or "failed: " and why. Nothing is shown to the reader; a failure means only that
// the next visit needs the network again.
export function keepForOffline(wfl) {
  if (!("serviceWorker" in navigator) || !window.isSecureContext || window.wflNoOffline) {
    wfl.offline = "off";
    return;
  }
  wfl.offline = "waiting";
  const start = () => {
    wfl.offline = "keeping";
    navigator.serviceWorker.register("sw.js")
      .then((reg) => settled(reg.installing || reg.waiting || reg.active))
      .then(() => { wfl.offline = "kept"; })
      .catch((e) => {
        wfl.offline = "failed: " + String(e && e.message ? e.message : e);
        console.info("The site is not kept for offline use:", wfl.offline);
      });
  };
  if (typeof requestIdleCallback === "function") requestIdleCallback(start, { timeout: 5000 });
  else setTimeout(start, 1000);
}

// Installed means every file of its build is in the cache (sw.js); redundant
// means the install failed.
function settled(worker) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (["installed", "activating", "activated"].includes(worker.state)) resolve();
      else if (worker.state === "redundant") reject(new Error("the service worker could not keep the site"));
    };
    worker.addEventListener("statechange", check);
    check();
  });
}

// A return visit from a memory snapshot (snapshot.js): once the page is live
// and the reader idle, the worker makes one in a worker of its own.
// wfl.snapshot: "off", "waiting", "making", "kept", "off: " or "failed: "
// and why. A failure is not shown to the reader: the next visit starts as
// this one did.
export function keepSnapshot(wfl, post) {
  if (window.wflNoSnapshot || wfl.startedFrom !== "packages") {
    wfl.snapshot = "off";
    return;
  }
  wfl.snapshot = "waiting";
  const start = () => {
    wfl.snapshot = "making";
    post({ type: "snapshot" });
  };
  if (typeof requestIdleCallback === "function") requestIdleCallback(start, { timeout: 5000 });
  else setTimeout(start, 1000);
}
