"""Compile app/ + toycore/ into `site/`: a static folder any host can serve.

Steps, each visible in this file top to bottom:
1. fetch and verify the runtime (build/fetch.py);
2. wheel the project and trim Panel's and Bokeh's wheels for the browser;
3. write pyodide-lock.json with the pyodide-lock library;
4. prerender the explorable in this (CPython) venv so the reader sees figures
   and prose before Python has loaded in the browser;
5. fill the repository's index.html template with local resources;
6. fail if any absolute http(s) URL survives in what was written, or if any
   stylesheet the page can load sets a BokehJS visual through a CSS variable;
7. draw the app's icons;
8. with `--snapshot` only: open the site in Chromium and ship the memory
   snapshot its page makes (build/snapshot.py);
9. give the service worker (web/sw.js) the list of this build's files, so a
   reader's browser can keep the site offline.

Run as `python -m build.site [--out site] [--snapshot]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from build import chromium, fetch
from build import snapshot as build_snapshot
from build import versions as V
from build.icon import write_icons

ROOT = Path(__file__).resolve().parent.parent
WEB = Path(__file__).resolve().parent / "web"
# Panel builds stylesheet URLs from this root. During the prerender we point it
# at a sentinel host and rewrite that to a relative path afterwards; in the
# browser the worker gives the same relative path.
SENTINEL = "https://wfl-sentinel.invalid/"
PANEL_STATIC = "static/panel/"

# Parts of the Panel and Bokeh wheels the browser never imports or reads.
TRIM = {
    "panel": ("panel/dist/", "panel/tests/", "panel/examples/", "panel/tests_pw/",
              "panel/command/"),
    "bokeh": ("bokeh/server/static/", "bokeh/sampledata/", "bokeh/_sri/", "bokeh/sphinxext/",
              "bokeh/command/", "bokeh/client/"),
}
# Bokeh reads its own release's SRI hashes at import time.
TRIM_KEEP = ("panel/dist/css/", f"bokeh/_sri/{V.BOKEH_VERSION}.json")
# Stylesheet folders Panel links to from inside the document at run time.
PANEL_RUNTIME_CSS = ("css", "bundled/theme")
# Resources Panel lists for every page that this one never uses: the ES module
# shim (for ReactiveESM components) loads blob: scripts, which our CSP forbids;
# Bokeh's WebGL bundle (190 kB) serves only figures with output_backend="webgl"
# (the build refuses such a figure while it is skipped).
SKIP_JS = ("es-module-shims", "bokeh-gl")


def _site_packages() -> Path:
    import bokeh

    return Path(bokeh.__file__).resolve().parent.parent


def project_wheel(dest: Path) -> Path:
    """toycore and app as one pure wheel, built from a copy of this checkout.

    Building in a copy keeps setuptools from writing its own `build/lib`
    into this folder (which is also named build).
    """
    tmp = Path(tempfile.mkdtemp())
    src = tmp / "src"
    for part in ("toycore", "app"):
        shutil.copytree(ROOT / part, src / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "pyproject.toml", src / "pyproject.toml")
    # The wheel's metadata would carry the whole README; nothing in the page reads it.
    (src / "README.md").write_text("Where Facts Live: see the project's README.\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(src)],
        check=True,
    )
    (whl,) = (tmp / "dist").glob("*.whl")
    out = dest / whl.name
    shutil.move(str(whl), out)
    shutil.rmtree(tmp)
    return out


def trim_wheel(src: Path, dest: Path, prefixes: tuple[str, ...]) -> Path:
    """Copy a wheel without the parts the browser never touches."""
    out = dest / src.name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            name = item.filename
            if name.startswith(prefixes) and not name.startswith(TRIM_KEEP):
                continue
            zout.writestr(item, zin.read(name))
    return out


# Libraries' bytecode as `python -OO` makes it, without docstrings and
# asserts: nothing the page runs reads a library's docstrings (the app's own
# code ships as source), and loading less is faster.
PYC_OPTIMIZE = 2


def _pyc_bytes(source: bytes, path: str, optimize: int = PYC_OPTIMIZE) -> bytes:
    """CPython 3.12 bytecode for `source` as an unchecked-hash pyc.

    Unchecked: Pyodide never stats a source to validate it (there is none).
    The build venv is CPython 3.12, the same bytecode magic as Pyodide 0.27's
    Python 3.12.7 (site.py asserts it).
    """
    import importlib.util
    from importlib._bootstrap_external import _code_to_hash_pyc

    code = compile(source, path, "exec", dont_inherit=True, optimize=optimize)
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def precompile_zip(src: Path, dst: Path, optimize: int = PYC_OPTIMIZE) -> Path:
    """Rewrite a wheel or the stdlib zip with every module as sourceless .pyc.

    Pyodide otherwise compiles each imported module from source on every page
    load; shipping bytecode skips that, which is most of Panel's import time.
    """
    assert sys.version_info[:2] == (3, 12), "bytecode must match Pyodide's Python 3.12"
    tmp = dst.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            name = item.filename
            if name.endswith(".dist-info/RECORD"):
                continue  # hashes of the sources we just replaced; nothing reads it here
            if name.endswith(".py"):
                try:
                    data = _pyc_bytes(data, name, optimize)
                    name = name[:-3] + ".pyc"
                except SyntaxError:  # e.g. templates named .py: ship as they are
                    pass
            info = zipfile.ZipInfo(name, date_time=item.date_time)
            info.external_attr = item.external_attr
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, data)
    tmp.replace(dst)
    return dst


def write_lock(core: Path, wheels: dict[str, Path], dest: Path) -> Path:
    """A lock listing only what the page loads, so Pyodide never resolves anything."""
    from pyodide_lock import PyodideLockSpec
    from pyodide_lock.utils import package_spec_from_wheel

    official = PyodideLockSpec.from_json(core / "pyodide-lock.json")
    packages = {}
    for name, path in wheels.items():
        if name in V.OFFICIAL_PACKAGES:
            spec = official.packages[name]
            if spec.sha256 != fetch.sha256(path):
                raise fetch.VerificationError(f"{path.name} differs from the official lock")
            spec = spec.__class__.from_dict({**spec.to_dict(), "depends": []})
        else:
            spec = package_spec_from_wheel(path, official.info)
            spec.file_name = path.name
        packages[spec.name] = spec
    lock = PyodideLockSpec(info=official.info, packages=packages)
    out = dest / "pyodide-lock.json"
    lock.to_json(out, indent=1)
    # pyodide-lock treats info.version as deprecated and drops it, but Pyodide
    # 0.27 refuses a lock without it; this lock comes from that very release.
    data = json.loads(out.read_text())
    data["info"]["version"] = V.PYODIDE_VERSION
    out.write_text(json.dumps(data, indent=1))
    return out


def prerender() -> tuple[str, str, list[str], list[str], str]:
    """Run the explorable here, in CPython, exactly as the browser will.

    Returns (roots html, docs json, js urls, css urls, the document's
    fingerprint for the worker to compare its own against).
    """
    os.environ["PANEL_CDN_ROOT"] = SENTINEL + PANEL_STATIC
    import bokeh.util.serialization
    from bokeh.document import Document
    from bokeh.embed.util import standalone_docs_json_and_render_items
    from bokeh.settings import settings as bk_settings
    from panel.io.document import MockSessionContext
    from panel.io.resources import Resources, bundle_resources
    from panel.io.state import set_curdoc, state

    from app.main import build_app, doc_fingerprint, first_model_id

    # Sequential ids from a fixed start, as the worker does, so the browser can
    # tell that the live document equals this one and keep it (page/main.js).
    bk_settings.simple_ids.set_value(True)
    document = Document()  # created before the reset, as init_doc() does in the worker
    bokeh.util.serialization._simple_id = first_model_id - 1
    document._session_context = lambda: MockSessionContext(document=document)
    with set_curdoc(document):
        build_app().server_doc(document)
        state._on_load(None)
    docs_json, render_items = standalone_docs_json_and_render_items(document)
    if "bokeh-gl" in SKIP_JS and '"webgl"' in json.dumps(docs_json, default=str):
        raise RuntimeError("a figure uses output_backend='webgl': stop skipping bokeh-gl")
    item = render_items[0].to_json()
    roots = "\n".join(
        f'<div id="{elid}" data-root-id="{rid}" style="display: contents;"></div>'
        for rid, elid in item["roots"].items()
    )
    payload = json.dumps({"docs_json": docs_json, "render_items": [item]}, default=str)
    with set_curdoc(document):
        js, css = bundle_resources(document.roots, Resources(mode="cdn"))
    js_urls = [u for u in re.findall(r'src="([^"]+)"', js) if not any(k in u for k in SKIP_JS)]
    css_urls = re.findall(r'href="([^"]+)"', css)
    return roots, payload, js_urls, css_urls, doc_fingerprint(document)


def local_url(url: str) -> tuple[str, Path]:
    """Map a CDN URL Panel or Bokeh asked for to (site path, file in this venv)."""
    sp = _site_packages()
    prefix = SENTINEL + PANEL_STATIC
    if url.startswith(prefix):
        rest = url[len(prefix):]
        rest = rest.split("/dist/", 1)[1] if "/dist/" in rest else rest
        return f"{PANEL_STATIC}{V.PANEL_VERSION}/dist/{rest}", sp / "panel" / "dist" / rest
    bokeh_cdn = r"https://cdn\.bokeh\.org/bokeh/(?:release|dev)/(bokeh[\w-]*?)-[\d.]+(\.min\.js)$"
    m = re.match(bokeh_cdn, url)
    if m:
        name = m.group(1) + m.group(2)
        return f"static/bokeh/{name}", sp / "bokeh" / "server" / "static" / "js" / name
    raise ValueError(f"no local copy known for {url}")


def copy_static(urls: list[str], out: Path) -> list[str]:
    """Copy every referenced asset next to the page; return the local paths."""
    paths = []
    for url in urls:
        rel, src = local_url(url)
        if not src.exists():
            raise FileNotFoundError(f"{url} -> {src} is not in the venv")
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        paths.append(rel)
    return paths


CONFIG_TAG = '<script type="application/json" id="wfl-config">'


def read_config(site: Path) -> dict:
    """The boot settings a built site's index.html carries (`build` writes them)."""
    page = (site / "index.html").read_text()
    start = page.index(CONFIG_TAG) + len(CONFIG_TAG)
    return json.loads(page[start:page.index("</script>", start)])


def _script_safe(text: str) -> str:
    """JSON inside <script> must never contain '</': escape it the JSON way."""
    return text.replace("</", "<\\/")


def fill_template(template: str, fields: dict[str, str]) -> str:
    """Replace `<!-- wfl:key -->` markers, or `<!-- wfl:key -->...<!-- /wfl:key -->` blocks."""
    for key, value in fields.items():
        marker, end = f"<!-- wfl:{key} -->", f"<!-- /wfl:{key} -->"
        if marker not in template:
            raise ValueError(f"index.html has no {marker}")
        if end in template:
            start = template.index(marker)
            template = template[:start] + value + template[template.index(end) + len(end):]
        else:
            template = template.replace(marker, value)
    return template


ABSOLUTE = re.compile(rb"""["'(]\s*(https?://[^"')\s]+)""")
# Strings that name a URL without ever requesting it (license texts, doc links,
# XML namespaces inside JS bundles) are allowed only in files we did not write.
WRITTEN_SUFFIXES = (".html", ".json", ".js", ".css")


def check_no_absolute_urls(out: Path) -> None:
    """Fail the build if a page, lock or script we generated names another origin."""
    bad = []
    for path in [out / "index.html", out / "pyodide" / "pyodide-lock.json", *out.glob("*.js")]:
        for m in ABSOLUTE.finditer(path.read_bytes()):
            bad.append(f"{path.relative_to(out)}: {m.group(1).decode(errors='replace')}")
    if bad:
        raise RuntimeError("absolute URLs survived the build:\n  " + "\n  ".join(bad))


# BokehJS lets CSS override a glyph's or axis's colours, fonts and widths
# through variables named --bk-<visual> (--bk-line-color, ...), and looks each
# one up in computed styles on every paint. The page skips those lookups
# (build/web/page/bokeh_tuning.js, noCssVisualVariables), which is only right while nothing the page
# loads defines such a variable: every stylesheet comes from the site's own
# files or from app/'s source (Panel stylesheets given in Python).
CSS_VISUAL_VARIABLE = re.compile(rb"--bk-[\w-]+\s*:")


def check_no_css_visual_variables(out: Path, sources: Path = ROOT / "app") -> None:
    """Fail the build if a stylesheet could set a BokehJS visual by CSS variable."""
    files = [f for f in out.rglob("*") if f.suffix in WRITTEN_SUFFIXES and f.is_file()]
    files += sorted(sources.rglob("*.py"))
    bad = [f"{f}: {m.group(0).decode(errors='replace')}"
           for f in files for m in CSS_VISUAL_VARIABLE.finditer(f.read_bytes())]
    if bad:
        raise RuntimeError("CSS variables for BokehJS visuals (the page skips their lookup: "
                           "remove noCssVisualVariables from build/web/page/bokeh_tuning.js "
                           "first):\n  " + "\n  ".join(bad))


# Digest characters per file the service worker checks (64 bits: enough to
# tell two builds' files apart, short enough to keep sw.js small).
DIGEST_CHARS = 16


def runtime_digest(pyo: Path) -> str:
    """What a memory snapshot is made from (the runtime, every wheel, the
    app's own): a snapshot kept under another digest is not used."""
    files = [[f.name, hashlib.sha256(f.read_bytes()).hexdigest()] for f in sorted(pyo.iterdir())]
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()[:DIGEST_CHARS]


def write_service_worker(out: Path) -> str:
    """Fill sw.js with every other file of the site and their digests; returns the build id."""
    sw = out / "sw.js"
    files = []
    for f in sorted(p for p in out.rglob("*") if p.is_file() and p != sw):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()[:DIGEST_CHARS]
        files.append([f.relative_to(out).as_posix(), digest])
    build = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:DIGEST_CHARS]
    text = sw.read_text()
    fill = (('"__WFL_BUILD__"', json.dumps(build)), ("__WFL_FILES__", json.dumps(files)))
    for marker, value in fill:
        if marker not in text:
            raise ValueError(f"sw.js has no {marker}")
        text = text.replace(marker, value)
    sw.write_text(text)
    return build


def build_site(out: Path, pyc: bool = True, optimize: int = PYC_OPTIMIZE,
               snapshot: bool = False) -> None:
    core = fetch.fetch_pyodide_core()
    official = fetch.fetch_official_wheels(core)
    pure = fetch.fetch_pure_wheels() + fetch.build_pure_from_sdist()

    shutil.rmtree(out, ignore_errors=True)
    pyo = out / "pyodide"
    pyo.mkdir(parents=True)
    for f in ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm"):
        shutil.copy2(core / f, pyo / f)
    if pyc:
        def ship(src: Path, dst: Path) -> Path:
            return precompile_zip(src, dst, optimize)
    else:
        def ship(src: Path, dst: Path) -> Path:
            return Path(shutil.copy2(src, dst))
    ship(core / "python_stdlib.zip", pyo / "python_stdlib.zip")

    wheels: dict[str, Path] = {}
    for w in official:
        wheels[w.name.split("-")[0].lower()] = Path(shutil.copy2(w, pyo / w.name))
    for w in pure:
        name = w.name.split("-")[0].lower().replace("_", "-")
        if name in TRIM:
            w = trim_wheel(w, Path(tempfile.mkdtemp()), TRIM[name])
        wheels[name] = ship(w, pyo / w.name)
    # Our own code stays as source: small, and readable in a worker traceback.
    wheels["where-facts-live"] = project_wheel(pyo)
    missing = set(V.RUNTIME_PACKAGES) - set(wheels)
    extra = set(wheels) - set(V.RUNTIME_PACKAGES)
    if extra:
        raise RuntimeError(f"wheels shipped but never loaded: {sorted(extra)}")
    if missing:
        raise RuntimeError(f"runtime packages without a wheel: {sorted(missing)}")
    write_lock(core, wheels, pyo)

    roots, payload, js_urls, css_urls, fingerprint = prerender()
    js_local = copy_static(js_urls, out)
    css_local = copy_static(css_urls, out)
    # Panel's widgets and themes link their own stylesheets at run time: ship them.
    dist = _site_packages() / "panel" / "dist"
    for sub in PANEL_RUNTIME_CSS:
        dst = out / PANEL_STATIC / V.PANEL_VERSION / "dist" / sub
        shutil.copytree(dist / sub, dst, dirs_exist_ok=True)
    payload = payload.replace(SENTINEL, "")
    shutil.copytree(WEB, out, dirs_exist_ok=True)
    # The snapshot was built for the default link: a page opened without a
    # query whose live document has this fingerprint can keep it.
    config = {"pins": {"pyodide": V.PYODIDE_VERSION, "panel": V.PANEL_VERSION,
                       "bokeh": V.BOKEH_VERSION},
              "packages": V.RUNTIME_PACKAGES,
              "prerender": {"search": "", "fingerprint": fingerprint},
              "runtime": runtime_digest(pyo)}
    head = "\n".join(
        [f'<link rel="stylesheet" href="{u}">' for u in css_local]
        + [f'<script src="{u}" defer></script>' for u in js_local]
    )

    def write_page() -> None:
        page = fill_template(
            (ROOT / "index.html").read_text(),
            {
                "head": head,
                "roots": roots,
                "unbuilt": "",
                "config": CONFIG_TAG
                + _script_safe(json.dumps(config))
                + "</script>",
                "docs": '<script type="application/json" id="wfl-docs">'
                + _script_safe(payload)
                + "</script>",
            },
        )
        (out / "index.html").write_text(page)

    write_page()
    check_no_absolute_urls(out)
    check_no_css_visual_variables(out)
    write_icons(out)
    if snapshot:
        # Made by opening this very site in Chromium; only then does the
        # page learn it ships one.
        sizes = build_snapshot.ship(out)
        config["shipped"] = build_snapshot.FOLDER + "/"
        write_page()
        mb = {k: f"{v / 1e6:.1f} MB" for k, v in sizes.items()}
        print(f"snapshot: heap {mb['heap']} -> {mb['heap.gz']} gzip, "
              f"files {mb['files']} -> {mb['files.gz']} gzip")
    write_service_worker(out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"site written to {out} ({size / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "site")
    ap.add_argument("--no-pyc", action="store_true",
                    help="ship Python sources instead of bytecode (to measure that lever)")
    ap.add_argument("--pyc-optimize", type=int, choices=(0, 1, 2), default=PYC_OPTIMIZE,
                    help="the bytecode's optimisation level (to measure that lever)")
    ap.add_argument("--snapshot", action="store_true",
                    help="ship a memory snapshot made at build time (needs Chromium; "
                         "for classroom servers on a fast network: about 23 MB more)")
    args = ap.parse_args()
    if args.snapshot and (why := chromium.missing()):
        ap.error(f"--snapshot makes the snapshot in Chromium: {why}")
    build_site(args.out.resolve(), pyc=not args.no_pyc, optimize=args.pyc_optimize,
               snapshot=args.snapshot)


if __name__ == "__main__":
    main()
