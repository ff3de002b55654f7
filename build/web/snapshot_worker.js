// Makes the memory snapshot a return visit restores (snapshot.js says how).
// worker.js starts it once the page is live and the reader idle, with the
// files and libraries it loaded itself; this worker builds the app for the
// prerender's link in a runtime of its own, keeps the snapshot in Cache
// Storage and says how that went.
importScripts("snapshot.js", "pyodide/pyodide.asm.js", "pyodide/pyodide.js");

self.onmessage = async ({ data }) => {
  const t0 = performance.now();
  try {
    const { gathered, loadOptions, base, key, pins, tuningOff, search } = data;
    const why = self.WFL_SNAPSHOT.unusable(pins, true);
    if (why) throw new Error(why);
    const prepare = async (pyodide) => {
      const boot = pyodide.pyimport("app.worker.boot");
      const [p, off] = [pyodide.toPy(pins), pyodide.toPy(tuningOff)];
      await boot.prepare(search, p, off);
      [p, off, boot].forEach((x) => x.destroy());
    };
    const { heap, handles } = await self.WFL_SNAPSHOT.make({ gathered, loadOptions, prepare });
    const note = { search, tuningOff, index: gathered.index, libs: gathered.libs, handles };
    const kept = await self.WFL_SNAPSHOT.store(base, key, note, heap, gathered.files);
    self.postMessage({ ok: true, ms: performance.now() - t0, bytes: kept.heapBytes + kept.filesBytes });
  } catch (e) {
    self.postMessage({ ok: false, why: String(e && e.message ? e.message : e) });
  }
};
