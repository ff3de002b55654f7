// Return visits from a memory snapshot: every use of Pyodide's private
// snapshot machinery is in this file, pinned to one Pyodide build.
//
// After a first visit has gone live, worker.js gathers the site-packages it
// unpacked and the compiled libraries it loaded, and snapshot_worker.js boots
// a second runtime from them, builds the app for the default link and copies
// its whole memory. That copy, the files and a note of what it was made from
// go into Cache Storage under the runtime's digest (config.runtime). The next
// visit restores it instead of loading packages, importing and building. A
// snapshot that is missing, from another build or link, truncated or
// corrupt (its SHA-256 is checked) is ignored: the page starts as usual.
// A site built with `--snapshot` also ships one (fetchShipped), which a
// first visit restores when none is kept.
// Nothing in it names the page's address (worker.js gives Panel a relative
// stylesheet root), so one made at the build's address serves any host.
//
// What a snapshot does not hold has to be put back before Python runs, in a
// hook Emscripten calls before the C runtime starts (docs/memory-snapshot.md):
// the files (the in-memory filesystem lives in JS), and the libraries'
// compiled code, loaded at the same memory and table addresses as when the
// snapshot was made, which holds when both runs load them in the same order
// at that same moment. Cloudflare's workerd restores its snapshots this way.
"use strict";
self.WFL_SNAPSHOT = (() => {
  const PYODIDE = "0.27.7"; // the build whose internals this file knows
  const FORMAT = 1; // of the cached note; a change makes older snapshots unusable
  const SITE = "/lib/python3.12/site-packages";
  const LOADED_PACKAGES_SLOT = 6; // pyodide.loadedPackages; the snapshot expects it empty
  const CACHE = "wfl-snapshot-";
  // Read through a Proxy while a snapshot is being made, where getters of a
  // WorkerGlobalScope throw "Illegal invocation": pinned as plain values.
  const GLOBALS_READ_AT_IMPORT = ["crossOriginIsolated", "isSecureContext", "origin"];

  // Why snapshots cannot be used here (`keeping`: kept in Cache Storage),
  // or null. Needs pyodide.asm.js loaded.
  function unusable(pins, keeping) {
    if (pins.pyodide !== PYODIDE) return `Pyodide ${pins.pyodide} is not ${PYODIDE}, the build snapshot.js knows`;
    if (keeping && typeof self.caches === "undefined") return "no Cache Storage here (not a secure context)";
    if (typeof self._createPyodideModule !== "function") return "pyodide.asm.js did not define _createPyodideModule";
    return null;
  }

  // What the private names this file uses must look like in a booted runtime.
  function checkModule(Module) {
    for (const name of ["newDSO", "loadWebAssemblyModule", "FS", "__hiwire_get"]) {
      if (typeof Module[name] !== "function" && typeof Module[name] !== "object") {
        throw new Error(`Pyodide's Module has no ${name}`);
      }
    }
    if (!Module.LDSO || !Module.LDSO.loadedLibsByName || !Module.LDSO.loadedLibsByHandle) {
      throw new Error("Pyodide's Module has no LDSO tables");
    }
  }

  // From a live runtime: every file of site-packages as one buffer with an
  // index of [path, offset, size], and the libraries loaded, in load order.
  function gather(pyodide) {
    const Module = pyodide._module;
    checkModule(Module);
    const FS = pyodide.FS;
    const paths = [];
    const walk = (dir) => {
      for (const name of FS.readdir(dir)) {
        if (name === "." || name === "..") continue;
        const path = dir + "/" + name;
        if (FS.isDir(FS.stat(path).mode)) walk(path);
        else paths.push(path);
      }
    };
    walk(SITE);
    const chunks = paths.map((p) => FS.readFile(p));
    const index = [];
    let size = 0;
    for (let i = 0; i < paths.length; i++) {
      index.push([paths[i].slice(SITE.length + 1), size, chunks[i].length]);
      size += chunks[i].length;
    }
    const files = new Uint8Array(size);
    chunks.forEach((c, i) => files.set(c, index[i][1]));
    const seen = new Set();
    const libs = [];
    for (const [name, dso] of Object.entries(Module.LDSO.loadedLibsByName)) {
      if (!name.startsWith(SITE + "/") || seen.has(dso)) continue;
      seen.add(dso);
      libs.push(name.slice(SITE.length + 1));
    }
    return { files, index, libs };
  }

  // Before the C runtime starts: write the files, then load the libraries
  // (compiled beforehand) where the snapshot expects them; after a restore,
  // give each the dlopen handle it had when the snapshot was made.
  // Returns what undoes it if no runtime took it, and a promise rejected if
  // the hook fails (Pyodide would then wait for ever).
  function hookNextRuntime({ files, index, libs, compiled, handles }) {
    const create = self._createPyodideModule;
    const unhook = () => { self._createPyodideModule = create; };
    let fail;
    const failed = new Promise((_, reject) => { fail = reject; });
    self._createPyodideModule = (settings) => {
      unhook();
      const before = (Module) => {
        try {
          put(Module);
        } catch (e) {
          fail(e);
          throw e;
        }
      };
      const put = (Module) => {
        checkModule(Module);
        const FS = Module.FS;
        for (const [path, offset, size] of index) {
          const full = SITE + "/" + path;
          FS.mkdirTree(full.slice(0, full.lastIndexOf("/")));
          FS.writeFile(full, files.subarray(offset, offset + size), { canOwn: true });
        }
        libs.forEach((lib, i) => {
          const name = SITE + "/" + lib;
          const dso = Module.newDSO(name, undefined, "loading");
          dso.refcount = Infinity;
          dso.global = false;
          dso.exports = Module.loadWebAssemblyModule(compiled[i], {}, name, {});
        });
        for (const [handle, lib] of Object.entries(handles || {})) {
          Module.LDSO.loadedLibsByHandle[handle] = Module.LDSO.loadedLibsByName[SITE + "/" + lib];
        }
      };
      settings.preRun = [].concat(settings.preRun || [], before);
      return create(settings);
    };
    return { unhook, failed };
  }

  function compileLibs(files, index, libs) {
    const at = new Map(index.map(([p, o, s]) => [p, [o, s]]));
    return Promise.all(libs.map((lib) => {
      if (!at.has(lib)) throw new Error(`${lib} is not among the files`);
      const [o, s] = at.get(lib);
      return WebAssembly.compile(files.subarray(o, o + s));
    }));
  }

  // The one JS object Python keeps across a snapshot: Panel's converter for
  // patches (panel/io/pyodide.py, made by run_js), kept as its source.
  const serializer = (obj) => (typeof obj === "function" ? { fn: obj.toString() } : undefined);
  const deserializer = (obj) => (0, eval)("(" + obj.fn + ")");

  // In a worker of its own (snapshot_worker.js): boot a runtime from what
  // gather() found, run `prepare(pyodide)` (the app built) and return the
  // memory copy and the dlopen handles it holds.
  async function make({ gathered, loadOptions, prepare }) {
    for (const k of GLOBALS_READ_AT_IMPORT) {
      if (k in self) Object.defineProperty(self, k, { value: self[k] });
    }
    const compiled = await compileLibs(gathered.files, gathered.index, gathered.libs);
    const { unhook, failed } = hookNextRuntime({ ...gathered, compiled, handles: null });
    let pyodide;
    try {
      pyodide = await Promise.race([loadPyodide({ ...loadOptions, _makeSnapshot: true }), failed]);
    } finally {
      unhook();
    }
    await prepare(pyodide);
    const Module = pyodide._module;
    const loaded = Module.__hiwire_get(LOADED_PACKAGES_SLOT);
    if (loaded !== pyodide.loadedPackages) throw new Error("hiwire slot 6 is not loadedPackages");
    for (const k of Object.keys(loaded)) delete loaded[k];
    const handles = {};
    for (const [handle, dso] of Object.entries(Module.LDSO.loadedLibsByHandle)) {
      const lib = dso.name.slice(SITE.length + 1);
      if (gathered.libs.includes(lib)) handles[handle] = lib;
    }
    return { heap: pyodide.makeMemorySnapshot({ serializer }), handles };
  }

  async function digest(bytes) {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  const digests = (heap, files) => Promise.all([digest(heap), digest(files)]);

  const url = (base, name) => new URL("wfl-snapshot/" + name, base).href;

  // Keep a snapshot under `key` (the runtime's digest), replacing any other.
  async function store(base, key, note, heap, files) {
    await forget();
    const cache = await caches.open(CACHE + key);
    const full = { ...note, format: FORMAT, pyodide: PYODIDE, key,
                   heapBytes: heap.length, filesBytes: files.length, sha256: await digests(heap, files) };
    await cache.put(url(base, "heap"), new Response(heap));
    await cache.put(url(base, "files"), new Response(files));
    // The note last: a snapshot without one is not there.
    await cache.put(url(base, "note"), new Response(JSON.stringify(full)));
    return full;
  }

  // Throws unless `note` is for this build (`key`) and link (`want`).
  function checkNote(note, key, want) {
    const expect = { format: FORMAT, pyodide: PYODIDE, key, ...want };
    for (const [k, v] of Object.entries(expect)) {
      if (JSON.stringify(note[k]) !== JSON.stringify(v)) throw new Error(`made for another ${k}`);
    }
  }
  function checkSizes(note, heap, files) {
    if (heap.length !== note.heapBytes || files.length !== note.filesBytes) throw new Error("truncated");
  }

  // The snapshot kept for `key`, or null if there is none; throws if one is
  // there but unusable (another link, or truncated, or corrupt).
  async function load(base, key, want) {
    if (typeof self.caches === "undefined" || !(await caches.has(CACHE + key))) return null;
    const cache = await caches.open(CACHE + key);
    const noteResponse = await cache.match(url(base, "note"));
    if (!noteResponse) return null;
    const note = await noteResponse.json();
    checkNote(note, key, want);
    const [heapResponse, filesResponse] = await Promise.all(
      [cache.match(url(base, "heap")), cache.match(url(base, "files"))]);
    if (!heapResponse || !filesResponse) throw new Error("a part is missing");
    const [heap, files] = (await Promise.all([heapResponse.arrayBuffer(), filesResponse.arrayBuffer()]))
      .map((b) => new Uint8Array(b));
    checkSizes(note, heap, files);
    if (JSON.stringify(await digests(heap, files)) !== JSON.stringify(note.sha256)) throw new Error("corrupt (its digest differs)");
    return { note, heap, files };
  }

  // The snapshot a `--snapshot` site ships in `folder` (build/snapshot.py):
  // heap and files each one gzip member, which the browser unpacks and
  // checks (its CRC: no SHA-256, which only secure contexts have), the heap
  // XORed with the memory pyodide.asm.wasm starts with, undone here.
  // Throws if it is missing, for another build or link, or damaged.
  async function fetchShipped(base, folder, key, want) {
    if (typeof DecompressionStream !== "function") throw new Error("no DecompressionStream here");
    const get = async (path) => {
      const r = await fetch(new URL(path, base));
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
      return r;
    };
    const bytes = async (response) => new Uint8Array(await response.arrayBuffer());
    const gunzip = async (name) => {
      const packed = (await get(folder + name)).body;
      try {
        return await bytes(new Response(packed.pipeThrough(new DecompressionStream("gzip"))));
      } catch (e) {
        throw new Error(`${name} is damaged (${e && e.message ? e.message : e})`);
      }
    };
    const note = await (await get(folder + "note.json")).json();
    checkNote(note, key, want);
    const [heap, files, wasm] = await Promise.all(
      [gunzip("heap.gz"), gunzip("files.gz"), get("pyodide/pyodide.asm.wasm").then(bytes)]);
    checkSizes(note, heap, files);
    const { wasm: [offset, length], heap: at } = note.xor;
    if (offset + length > wasm.length || at + length > heap.length) throw new Error("its XOR lies outside");
    for (let i = 0; i < length; i++) heap[at + i] ^= wasm[offset + i];
    return { note, heap, files };
  }

  // Boot a runtime from a loaded snapshot.
  async function restore({ note, heap, files }, loadOptions) {
    const compiled = await compileLibs(files, note.index, note.libs);
    const { unhook, failed } = hookNextRuntime({ files, index: note.index, libs: note.libs, compiled,
                                                 handles: note.handles });
    try {
      return await Promise.race([
        loadPyodide({ ...loadOptions, _loadSnapshot: heap, _snapshotDeserializer: deserializer }), failed]);
    } finally {
      unhook();
    }
  }

  // Every kept snapshot removed.
  async function forget() {
    for (const name of await caches.keys()) {
      if (name.startsWith(CACHE)) await caches.delete(name);
    }
  }

  return { unusable, gather, make, store, load, fetchShipped, restore, forget };
})();
