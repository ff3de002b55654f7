"""`python -m build.site --snapshot`: a site that ships a memory snapshot, for
classroom servers on a fast local network. A first visit then restores it
instead of loading packages, importing Panel and building the page; the
price is bytes (docs/benchmarks/browser.md has both builds side by side).

The snapshot is made the way a reader's browser makes one after a first
visit (build/web/snapshot.js): the built site is opened in Chromium, goes
live, and its worker keeps a snapshot in Cache Storage. This reads it out
and writes site/snapshot/: note.json, and heap.gz and files.gz, each one
gzip member (browsers unpack gzip with DecompressionStream, which checks
its CRC, on any host). Before compressing, the heap is XORed with the
memory the wasm module starts with (its one data segment, at
__memory_base): bytes Python never changed become zeros, and the page XORs
the same bytes back in (snapshot.js, fetchShipped)."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from pathlib import Path

from build.chromium import fresh_chromium
from build.serve import serve_in_thread

FOLDER = "snapshot"  # in the site; build/web/snapshot.js reads the same names
MADE_TIMEOUT_S = 600
CHUNK = 8 << 20  # bytes per read out of the browser


def _leb(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned LEB128 at `at`: (value, where the next field starts)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _sections(wasm: bytes) -> dict[int, tuple[int, int]]:
    if wasm[:4] != b"\0asm":
        raise ValueError("not a wasm module")
    out, at = {}, 8
    while at < len(wasm):
        kind = wasm[at]
        size, at = _leb(wasm, at + 1)
        out.setdefault(kind, (at, at + size))
        at += size
    return out


def _imported_globals(wasm: bytes, section: tuple[int, int]) -> list[str]:
    """The names of the globals the module imports, in index order."""
    at = section[0]
    count, at = _leb(wasm, at)
    names = []
    for _ in range(count):
        fields = []
        for _ in range(2):
            n, at = _leb(wasm, at)
            fields.append(wasm[at:at + n].decode())
            at += n
        kind = wasm[at]
        at += 1
        if kind == 0:  # a function: its type
            _, at = _leb(wasm, at)
        elif kind in (1, 2):  # a table (its element type first) or a memory: limits
            at += kind == 1
            flags, at = _leb(wasm, at)
            _, at = _leb(wasm, at)
            if flags & 1:
                _, at = _leb(wasm, at)
        elif kind == 3:  # a global: its type and mutability
            names.append(fields[1])
            at += 2
        else:
            raise ValueError(f"an import of kind {kind}")
    return names


def start_memory(wasm: bytes, memory_base: int) -> tuple[int, int, int]:
    """(address, offset in the file, length) of the module's one active data
    segment, at __memory_base: the memory it starts with."""
    sections = _sections(wasm)
    imported = _imported_globals(wasm, sections[2]) if 2 in sections else []
    at = sections[11][0]
    count, at = _leb(wasm, at)
    flags, at = _leb(wasm, at)
    if count != 1 or flags != 0:
        raise ValueError(f"{count} data segments, the first with flags {flags}: not one active one")
    if wasm[at] != 0x23:  # global.get
        raise ValueError("the data segment's address is not a global")
    index, at = _leb(wasm, at + 1)
    if index >= len(imported) or imported[index] != "__memory_base" or wasm[at] != 0x0B:
        raise ValueError("the data segment's address is not __memory_base")
    length, at = _leb(wasm, at + 1)
    return memory_base, at, length


def memory_base(asm_js: str) -> int:
    """The __memory_base pyodide.asm.js gives the module."""
    m = re.search(r'__memory_base=new WebAssembly\.Global\('
                  r'\{"value":"i32","mutable":false\},(\d+)\)', asm_js)
    if not m:
        raise ValueError("pyodide.asm.js sets no constant __memory_base")
    return int(m.group(1))


def heap_start(snapshot: bytes) -> int:
    """Where the copy of memory begins in Pyodide's snapshot (its header's second word)."""
    return int.from_bytes(snapshot[4:8], "little")


def xor_into(snapshot: bytes, at: int, data: bytes) -> bytes:
    """`snapshot` with `data` XORed in at `at`; its own inverse."""
    if at + len(data) > len(snapshot):
        raise ValueError("the data segment lies past the snapshot's memory")
    mixed = int.from_bytes(snapshot[at:at + len(data)], "little") ^ int.from_bytes(data, "little")
    return snapshot[:at] + mixed.to_bytes(len(data), "little") + snapshot[at + len(data):]


def _read_kept(page) -> tuple[dict, bytes, bytes]:
    """(note, heap, files) of the snapshot the page keeps, read and checked
    by the site's own snapshot.js, which alone knows where it keeps them."""
    page.add_script_tag(url="snapshot.js")
    sizes = page.evaluate("""async () => {
        window.wflKept = await WFL_SNAPSHOT.load(new URL(".", location.href).href,
                                                 wflBoot.config.runtime, {});
        return wflKept && [wflKept.heap.length, wflKept.files.length];
    }""")
    if not sizes:
        raise RuntimeError("the page says it kept a snapshot, but snapshot.js finds none")
    note = page.evaluate("() => wflKept.note")
    parts = []
    for name, size in zip(("heap", "files"), sizes, strict=True):
        chunks = []
        for start in range(0, size, CHUNK):
            text = page.evaluate("""([name, a, b]) => {
                const part = wflKept[name].subarray(a, b);
                let s = "";
                for (let i = 0; i < part.length; i += 0x8000) {
                    s += String.fromCharCode.apply(null, part.subarray(i, i + 0x8000));
                }
                return btoa(s);
            }""", [name, start, min(start + CHUNK, size)])
            chunks.append(base64.b64decode(text))
        parts.append(b"".join(chunks))
    return note, parts[0], parts[1]


def make(site: Path) -> tuple[dict, bytes, bytes]:
    """Open the built site in Chromium until its worker has kept a snapshot;
    returns (note, heap, files) as the page's Cache Storage holds them."""
    server, url = serve_in_thread(site)
    try:
        with fresh_chromium() as ctx:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.add_init_script("window.wflNoOffline = true;")
            page.goto(url)
            deadline = time.monotonic() + MADE_TIMEOUT_S
            state = None
            while time.monotonic() < deadline:
                state = page.evaluate("() => window.wfl && [wfl.snapshot, wfl.errors]")
                if state and (state[1] or errors):
                    raise RuntimeError(f"the page failed while making the snapshot: "
                                       f"{state[1] + errors}")
                if state and state[0] and state[0] not in ("waiting", "making"):
                    break
                time.sleep(0.5)
            if not state or state[0] != "kept":
                raise RuntimeError(f"the page kept no snapshot: {state and state[0]}")
            return _read_kept(page)
    finally:
        server.shutdown()


def ship(site: Path) -> dict:
    """Make the snapshot for the site in `site` and write it into
    site/snapshot/; returns the sizes, for the build's report."""
    note, heap, files = make(site)
    pyo = site / "pyodide"
    wasm = (pyo / "pyodide.asm.wasm").read_bytes()
    address, offset, length = start_memory(wasm, memory_base((pyo / "pyodide.asm.js").read_text()))
    at = heap_start(heap) + address
    mixed = xor_into(heap, at, wasm[offset:offset + length])
    zeros = mixed[at:at + length].count(0)
    if zeros < length // 2:  # the segment is not where the heap copy starts
        raise ValueError(f"XOR with the data segment zeroed only {zeros} of {length} bytes")
    folder = site / FOLDER
    folder.mkdir(exist_ok=True)
    sizes = {"heap": len(heap), "files": len(files)}
    for name, data in (("heap", mixed), ("files", files)):
        packed = gzip.compress(data, 9, mtime=0)
        (folder / f"{name}.gz").write_bytes(packed)
        sizes[f"{name}.gz"] = len(packed)
    # snapshot.js XORs the same bytes of pyodide.asm.wasm back in.
    note = {**note, "xor": {"wasm": [offset, length], "heap": at}}
    (folder / "note.json").write_text(json.dumps(note))
    return sizes
