"""The build's guarantees, checked on the built site/ and on small fakes.

The site is built by the test command before pytest runs (scripts/test); if
it is missing, the `site` fixture builds it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from build import fetch, site, versions
from build.serve import csp_from_page, worker_csp

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"


@pytest.fixture(scope="module")
def built() -> Path:
    if not (SITE / "index.html").exists():
        subprocess.run([sys.executable, "-m", "build.site"], cwd=ROOT, check=True)
    return SITE


def test_panel_and_bokeh_pinned_alike_on_both_sides() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    app_extra = project["project"]["optional-dependencies"]["app"]
    assert f"panel=={versions.PANEL_VERSION}" in app_extra
    assert f"bokeh=={versions.BOKEH_VERSION}" in app_extra
    assert versions.PURE_WHEELS["panel"][0] == versions.PANEL_VERSION
    assert versions.PURE_WHEELS["bokeh"][0] == versions.BOKEH_VERSION
    import bokeh
    import panel

    assert (panel.__version__, bokeh.__version__) == (versions.PANEL_VERSION,
                                                      versions.BOKEH_VERSION)


def test_verify_refuses_a_file_whose_hash_differs(tmp_path: Path) -> None:
    f = tmp_path / "numpy.whl"
    f.write_bytes(b"not what the lock says")
    with pytest.raises(fetch.VerificationError, match="sha256 mismatch"):
        fetch.verify(f, "0" * 64)
    assert fetch.verify(f, fetch.sha256(f)) == f


def test_build_fails_when_an_absolute_url_survives(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    copy.mkdir()
    (copy / "pyodide").mkdir()
    shutil.copy2(built / "index.html", copy / "index.html")
    shutil.copy2(built / "pyodide" / "pyodide-lock.json", copy / "pyodide" / "pyodide-lock.json")
    for js in built.glob("*.js"):
        shutil.copy2(js, copy / js.name)
    site.check_no_absolute_urls(copy)  # the real output is clean
    page = (copy / "index.html").read_text()
    (copy / "index.html").write_text(
        page.replace("</head>", '<script src="https://cdn.example.org/x.js"></script></head>'))
    with pytest.raises(RuntimeError, match="cdn.example.org"):
        site.check_no_absolute_urls(copy)


def test_build_fails_when_css_could_set_a_bokeh_visual(built: Path, tmp_path: Path) -> None:
    """The page skips BokehJS's CSS-variable lookups for visuals; the build
    proves nothing it ships defines one."""
    copy = tmp_path / "site"
    shutil.copytree(built, copy, ignore=shutil.ignore_patterns("*.whl", "*.wasm", "*.zip"))
    app = tmp_path / "app"
    shutil.copytree(site.ROOT / "app", app, ignore=shutil.ignore_patterns("__pycache__"))
    site.check_no_css_visual_variables(copy, app)  # the real output is clean
    (copy / "page.css").write_text((copy / "page.css").read_text()
                                   + "\n.bk-Figure { --bk-line-color: red; }\n")
    with pytest.raises(RuntimeError, match="--bk-line-color"):
        site.check_no_css_visual_variables(copy, app)
    (copy / "page.css").write_text((built / "page.css").read_text())
    (app / "recall.py").write_text((app / "recall.py").read_text()
                                   + '\nX = ":host { --bk-text-color: #fff; }"\n')
    with pytest.raises(RuntimeError, match="--bk-text-color"):
        site.check_no_css_visual_variables(copy, app)


def test_template_markers_are_required() -> None:
    with pytest.raises(ValueError, match="wfl:roots"):
        site.fill_template("<html></html>", {"roots": "x"})
    filled = site.fill_template("a<!-- wfl:x -->drop<!-- /wfl:x -->b<!-- wfl:y -->", {
        "x": "X", "y": "Y"})
    assert filled == "aXbY"


def test_lock_lists_exactly_the_runtime_files_with_true_hashes(built: Path) -> None:
    lock = json.loads((built / "pyodide" / "pyodide-lock.json").read_text())
    assert lock["info"]["version"] == versions.PYODIDE_VERSION
    assert lock["info"]["python"].startswith(versions.PYODIDE_PYTHON)
    assert set(lock["packages"]) == set(versions.RUNTIME_PACKAGES)
    for name, spec in lock["packages"].items():
        path = built / "pyodide" / spec["file_name"]
        assert path.exists(), name
        assert fetch.sha256(path) == spec["sha256"], name
    official = json.loads((fetch.cache_dir() / f"pyodide-{versions.PYODIDE_VERSION}"
                           / "pyodide-lock.json").read_text())["packages"]
    for name in versions.OFFICIAL_PACKAGES:
        assert lock["packages"][name]["sha256"] == official[name]["sha256"]
    assert "pandas" not in lock["packages"], "pandas must not ship (9 MB)"


def test_wheels_ship_bytecode_for_pyodides_python(built: Path) -> None:
    magic = importlib.util.MAGIC_NUMBER
    with zipfile.ZipFile(next((built / "pyodide").glob("panel-*.whl"))) as z:
        names = z.namelist()
        assert not [n for n in names if n.endswith(".py")], "sources left in the Panel wheel"
        pycs = [n for n in names if n.endswith(".pyc")]
        assert "panel/__init__.pyc" in pycs
        assert z.read("panel/__init__.pyc")[:4] == magic
        assert not [n for n in names if n.startswith("panel/dist/bundled/")], "trim the JS"
    with zipfile.ZipFile(built / "pyodide" / "python_stdlib.zip") as z:
        pyc = z.read("json/__init__.pyc")
        assert pyc[:4] == magic
    # As python -OO compiles it: no docstring (json's begins with its name).
    consts = marshal.loads(pyc[16:]).co_consts
    assert not [c for c in consts if isinstance(c, str) and c.startswith("JSON (JavaScript")]


def test_the_service_worker_lists_every_file_of_the_build_with_its_digest(built: Path) -> None:
    text = (built / "sw.js").read_text()
    build_id = re.search(r'const BUILD = "([0-9a-f]+)";', text)[1]
    files = json.loads(re.search(r"const FILES = (\[.*?\]);\n", text)[1])
    on_disk = sorted(f.relative_to(built).as_posix() for f in built.rglob("*")
                     if f.is_file() and f.name != "sw.js")
    assert sorted(path for path, _ in files) == on_disk
    for path, digest in files:
        assert hashlib.sha256((built / path).read_bytes()).hexdigest().startswith(digest), path
    assert build_id == hashlib.sha256(json.dumps(files).encode()).hexdigest()[:len(build_id)]


def test_a_snapshot_is_kept_under_a_digest_of_the_runtime_and_pinned_to_its_pyodide(
        built: Path) -> None:
    """Any change to the runtime, a wheel or the app's own code changes the
    key a return visit's snapshot is kept under (build/web/snapshot.js), and
    that file knows the private internals of exactly the pinned Pyodide."""
    runtime = site.read_config(built)["runtime"]
    assert runtime == site.runtime_digest(built / "pyodide")
    copy = Path(shutil.copytree(built / "pyodide", ROOT / ".pytest-runtime-copy"))
    try:
        wheel = next(copy.glob("where_facts_live-*.whl"))
        wheel.write_bytes(wheel.read_bytes() + b"\0")
        assert site.runtime_digest(copy) != runtime
    finally:
        shutil.rmtree(copy)
    snapshot_js = (ROOT / "build" / "web" / "snapshot.js").read_text()
    assert re.search(r'const PYODIDE = "([^"]+)"', snapshot_js)[1] == versions.PYODIDE_VERSION


def test_the_manifests_icons_are_pngs_of_their_stated_size(built: Path) -> None:
    manifest = json.loads((built / "manifest.webmanifest").read_text())
    assert manifest["start_url"] == "./" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        png = (built / icon["src"]).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        w, h = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert icon["sizes"] == f"{w}x{h}" and w == h
        sizes.add(w)
    assert {192, 512} <= sizes  # what browsers ask of an installable app


def test_page_and_worker_policies_admit_only_this_origin(built: Path) -> None:
    page = csp_from_page(built)
    assert "default-src 'self'" in page
    assert "'unsafe-eval'" not in page.replace("'wasm-unsafe-eval'", "")
    assert not re.search(r"https?:|\*", page)
    worker = worker_csp(page)
    assert "'unsafe-eval'" in worker
    assert "connect-src 'self'" in worker


def test_static_assets_named_by_the_page_exist(built: Path) -> None:
    page = (built / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#:]+)"', page)
    assert refs, "the page loads local assets"
    for ref in refs:
        assert (built / ref).exists(), ref


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _name(s: str) -> bytes:
    return _leb(len(s)) + s.encode()


def _wasm(imports: list[bytes], data: bytes, address: bytes) -> bytes:
    """A module with these imports and one data segment placed at `address`."""
    def section(kind: int, body: bytes) -> bytes:
        return bytes([kind]) + _leb(len(body)) + body

    segment = b"\x00" + address + b"\x0b" + _leb(len(data)) + data
    return (b"\0asm\x01\0\0\0"
            + section(2, _leb(len(imports)) + b"".join(_name("env") + i for i in imports))
            + section(11, b"\x01" + segment))


def test_the_snapshot_is_xored_with_the_memory_the_wasm_module_starts_with(tmp_path: Path) -> None:
    """build/snapshot.py finds the module's one data segment (placed at
    __memory_base) past imports of every kind, and its XOR undoes itself."""
    from build import snapshot

    imports = [_name("f") + b"\x00\x00",  # a function of type 0
               _name("memory") + b"\x02\x01\x01\x80\x02",  # a memory, min 1 max 256
               _name("table") + b"\x01\x70\x00\x02",  # a table of funcrefs, min 2
               _name("__stack_pointer") + b"\x03\x7f\x01",  # a mutable i32
               _name("__memory_base") + b"\x03\x7f\x00"]
    data = bytes(range(7, 207)) * 3
    wasm = _wasm(imports, data, b"\x23\x01")  # global.get 1: the second global, __memory_base
    address, offset, length = snapshot.start_memory(wasm, 1024)
    assert (address, length) == (1024, len(data)) and wasm[offset:offset + length] == data
    with pytest.raises(ValueError, match="__memory_base"):
        snapshot.start_memory(_wasm(imports, data, b"\x23\x00"), 1024)  # __stack_pointer
    with pytest.raises(ValueError, match="not a global"):
        snapshot.start_memory(_wasm(imports, data, b"\x41\x80\x08"), 1024)  # i32.const 1024

    heap = bytes((i * 37) % 251 for i in range(4000))
    mixed = snapshot.xor_into(heap, 1500, data)
    assert mixed[:1500] == heap[:1500] and mixed[1500 + len(data):] == heap[1500 + len(data):]
    assert mixed != heap and snapshot.xor_into(mixed, 1500, data) == heap
    assert snapshot.xor_into(heap, 0, heap[:600])[:600] == bytes(600)
    with pytest.raises(ValueError):
        snapshot.xor_into(heap, 3900, data)


def test_the_pinned_pyodide_has_the_data_segment_the_snapshot_build_expects(built: Path) -> None:
    from build import snapshot

    pyo = built / "pyodide"
    wasm = (pyo / "pyodide.asm.wasm").read_bytes()
    base = snapshot.memory_base((pyo / "pyodide.asm.js").read_text())
    address, offset, length = snapshot.start_memory(wasm, base)
    assert address == base > 0 and length > 1 << 20 and offset + length <= len(wasm)
