"""Each start-up lever measured on its own: cold loads of the built site with
every lever on, against the same site with one lever off, interleaved in one
run, each in a fresh browser profile. Writes docs/benchmarks/levers.md.

A lever is off in a variant of the site: a different build (bytecode
optimisation), a copy with one line of boot.js put back as it was (the boot
message by postMessage), or the page's own switch (a tuning unit off).
The service worker and the snapshot are off throughout: this is a first
visit; scripts/bench_browser.py measures return visits.

    .venv/bin/python scripts/bench_levers.py [--runs 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_browser import (  # noqa: E402
    Handler,
    byte_summary,
    csp_from_page,
    fresh_context,
    md_table,
    new_page,
    serve,
    source_revision,
    wait_live,
)

OUT = ROOT / "docs" / "benchmarks" / "levers.md"
FIRST_VISIT = "window.wflNoOffline = true; window.wflNoSnapshot = true;"


def build(out: Path, *flags: str) -> Path:
    subprocess.run([sys.executable, "-m", "build.site", "--out", str(out), *flags],
                   cwd=ROOT, check=True, capture_output=True)
    return out


def edited(site: Path, out: Path, file: str, old: str, new: str) -> Path:
    """A copy of `site` with `old` in `file` replaced by `new` (exactly once)."""
    shutil.copytree(site, out)
    text = (out / file).read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{file} changed: {old!r} is not there exactly once")
    (out / file).write_text(text.replace(old, new))
    return out


@dataclass
class Lever:
    name: str
    what: str
    # Makes the site with this lever off from the default one, in a folder of its own.
    site_off: Callable[[Path, Path], Path] | None = None
    init_off: str = ""  # or: a script that turns it off in the page


LEVERS = [
    Lever("boot message in the worker's name",
          "boot.js hands the worker its boot message as the worker's name; off: by "
          "postMessage, which chromium delivers once the page's main thread is free",
          site_off=lambda site, out: edited(
              site, out, "boot.js",
              'const worker = new Worker("worker.js", { name: JSON.stringify(msg) });',
              'const worker = new Worker("worker.js"); worker.postMessage(msg);')),
    Lever("first screen first",
          "page/prerender.js embeds the page's children up to the first section shown, draws "
          "that frame, then adds the other sections to the same document; off: all at once",
          init_off="window.wflWholePrerender = true;"),
    Lever("runtime waits for the first screen",
          "worker.js starts Pyodide once the page has drawn its first screen of figures; "
          "off: at once, compiling Pyodide beside BokehJS",
          site_off=lambda site, out: edited(site, out, "worker.js",
                                            "      await figuresOnScreen;\n", "")),
    Lever("no_signatures_at_import",
          "the Bokeh tuning unit that skips building each model class's signature at import",
          init_off='window.wflTuningOff = ["no_signatures_at_import"];'),
    Lever("libraries' bytecode as -OO",
          "wheels and the stdlib compiled without docstrings and asserts; off: plain bytecode",
          site_off=lambda site, out: build(out, "--pyc-optimize", "0")),
    Lever("every tuning unit",
          "all of docs/tuning.md's units, the Python and BokehJS ones (for scale)",
          init_off='window.wflTuningOff = ["all"];'),
]


def cold(pw, url: str, init: str, log: list[dict]) -> dict:
    with fresh_context(pw) as ctx:
        ctx.add_init_script(FIRST_VISIT + init)
        page = new_page(ctx)
        start = len(log)
        page.goto(url)
        wfl = wait_live(page)
        time.sleep(0.3)
        return {"live_ms": wfl["marks"]["live"], "prerendered_ms": wfl["marks"].get("prerendered"),
                "worker": wfl.get("worker", {}), **byte_summary(log[start:])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="wfl-levers-"))
    try:
        print("building the site and each variant...", flush=True)
        site = build(tmp / "on")
        variants = [("every lever on", site, "")]
        for i, lever in enumerate(LEVERS):
            folder = lever.site_off(site, tmp / f"off{i}") if lever.site_off else site
            variants.append((lever.name, folder, lever.init_off))
        servers = {}
        for _, folder, _ in variants:
            if folder not in servers:
                servers[folder] = serve(folder, Handler, csp=csp_from_page(folder))
        results: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
        with sync_playwright() as pw:
            for run in range(args.runs):
                for name, folder, init in variants:
                    _, url, log = servers[folder]
                    r = cold(pw, url, init, log)
                    results[name].append(r)
                    print(f"run {run + 1}/{args.runs} {name}: live {r['live_ms']:.0f} ms, "
                          f"worker {json.dumps({k: round(v) for k, v in r['worker'].items()})}",
                          flush=True)
        for server, _, _ in servers.values():
            server.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def worker(name: str, mark: str) -> float | None:
        xs = [r["worker"][mark] for r in results[name] if mark in r["worker"]]
        return statistics.median(xs) if xs else None

    base = "every lever on"
    rows = []
    for name, _, _ in variants:
        what = next((lv.what for lv in LEVERS if lv.name == name), "the default site")
        live = med(name, "live_ms")
        rows.append([name if name == base else f"{name} off", what, f"{live:,.0f} ms",
                     "" if name == base else f"{live - med(base, 'live_ms'):+,.0f} ms",
                     " / ".join(f"{worker(name, m) or 0:,.0f}"
                                for m in ("packages", "import_panel", "build_app")) + " ms",
                     f"{med(name, 'prerendered_ms'):,.0f} ms",
                     f"{med(name, 'gzip6_bytes') / 1e6:.2f} MB"])
    header = ["variant", "what the lever is", "time to live (median)", "cost of turning it off",
              "worker: packages / import panel / build_app", "first screen drawn (median)",
              "bytes if served gzip -6"]
    print(md_table(header, rows))
    if args.no_write:
        return
    OUT.write_text("\n".join([
        "# Start-up levers, each measured on its own",
        "",
        f"Generated by `scripts/bench_levers.py --runs {args.runs}` at {source_revision()}: "
        "cold first visits (a fresh browser profile each, no service worker, no snapshot), "
        f"the variants interleaved, {args.runs} loads of each; medians. Worker marks are ms "
        "since the worker got its boot message (so the first lever shows in time to live "
        "only). The machine is shared and noisy: compare rows of "
        "this table, not with other runs.",
        "",
        md_table(header, rows),
        "",
        "Return visits (the service worker and the memory snapshot) are measured by "
        "`scripts/bench_browser.py`: [browser.md](browser.md).",
        "",
    ]))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
