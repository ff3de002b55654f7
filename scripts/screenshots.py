"""Screenshot every section of the live built site into docs/screenshots/.

Not a test: a picture of what a reader sees, for reviews and the docs. Each
shot opens the page in headless chromium (viewport 1280 wide, or 420 for
the phone shots), waits until the page is live (Python is running) and one
more second, then captures:

- `<key>.png` for every section, opened alone with `?show=<key>` and clipped
  to the section;
- `full.png`, `presenter.png` (`?presenter=1`) and `dark.png` (`?theme=dark`):
  the whole page, at half scale to keep the files small;
- `recall-presenter.png` and `neuron-dark.png`: one section each in those
  modes at full scale, to read the details;
- `trace-noise-presenter.png`: section 10 under noise on a projector;
- `phone-recall.png`, `phone-neuron.png`, `phone-sae.png` and
  `phone-trace.png`: those
  sections on a 420 px wide screen (a phone), where side-by-side figures
  stack.

Section 9 trains when it comes on screen: its shots wait (up to a minute)
until its answer says it is trained, so they show the trained dictionary,
in a window as tall as the longest shot (figures off screen repaint only
when they come into view).

The site is served from a temporary snapshot, as in scripts/bench_browser.py.
Writes docs/screenshots/README.md listing the files (generated).

    .venv/bin/python scripts/screenshots.py [--only neuron,full] [--site site]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app.state import SECTIONS  # noqa: E402 - a shot per section, as the page lists them

OUT = ROOT / "docs" / "screenshots"
# name -> (query, section to clip to or None for the whole page, scale, what it shows)
SHOTS = {
    **{k: (f"?show={k}", k, 1, f"section `{k}`") for k in SECTIONS},
    "full": ("", None, 0.5, "the whole page, default settings (half scale)"),
    "presenter": ("?presenter=1", None, 0.5,
                  "the whole page with `presenter=1`, large type and high contrast (half scale)"),
    "dark": ("?theme=dark", None, 0.5, "the whole page with `theme=dark` (half scale)"),
    "recall-presenter": ("?show=recall&presenter=1", "recall", 1,
                         "section `recall` with `presenter=1`, full scale"),
    "neuron-dark": ("?show=neuron&theme=dark", "neuron", 1,
                    "section `neuron` with `theme=dark`, full scale"),
    "phone-recall": ("?show=recall", "recall", 1,
                     "section `recall` on a 420 px wide screen (a phone)"),
    "phone-neuron": ("?show=neuron", "neuron", 1,
                     "section `neuron` on a 420 px wide screen (a phone)"),
    "capacity-presenter": ("?show=capacity&presenter=1", "capacity", 1,
                           "section `capacity` with `presenter=1`, full scale"),
    "capacity-dark": ("?show=capacity&theme=dark", "capacity", 1,
                      "section `capacity` with `theme=dark`, full scale"),
    "phone-capacity": ("?show=capacity", "capacity", 1,
                       "section `capacity` on a 420 px wide screen (a phone)"),
    "phone-sae": ("?show=sae", "sae", 1, "section `sae` on a 420 px wide screen (a phone)"),
    "trace-noise-presenter": ("?show=trace&tr_corrupt=noise&presenter=1", "trace", 1,
                              "section `trace` under noise with `presenter=1`, full scale"),
    "phone-trace": ("?show=trace", "trace", 1,
                    "section `trace` on a 420 px wide screen (a phone)"),
}
WIDTH = {"phone-recall": 420, "phone-neuron": 420, "phone-capacity": 420,
         "phone-sae": 420, "phone-trace": 420}  # px; the others are 1280 wide
# Text a section shows once it is worth a picture (it trains in the page).
READY = {"sae": "Adam steps each"}
MAX_SECTION_HEIGHT = 4000  # px; a taller section is cut here


def shrink_png(data: bytes) -> bytes:
    """Re-encode with Pillow's optimizer if Pillow is around (lossless)."""
    try:
        from PIL import Image
    except ImportError:
        return data
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def shoot(ctx, url: str, section: str | None, wait_live, errors: list[str],
          width: int = 1280) -> tuple[bytes, str]:
    page = ctx.new_page()
    page.set_viewport_size({"width": width,
                            "height": MAX_SECTION_HEIGHT if section in READY else 900})
    page.on("pageerror", lambda e: errors.append(f"{url}: pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"{url}: console: {m.text}"))
    try:
        page.goto(url)
        wait_live(page)
        # The page skips rendering sections far from the screen; a capture
        # of the whole page (or of a section off it) would show them blank.
        page.evaluate("() => window.wfl.skipOffScreen && window.wfl.skipOffScreen(false)")
        if section in READY:
            try:
                page.locator(f".wfl-{section}").get_by_text(READY[section]).first.wait_for(
                    timeout=60_000)
            except Exception:  # noqa: BLE001 - a slow page still gets its picture
                errors.append(f"{url}: not ready after a minute ({READY[section]!r})")
        time.sleep(1.0)
        note = ""
        if section:
            el = page.locator(f".wfl-section.wfl-{section}").first
            if el.count():
                box = el.bounding_box()
                if box and box["height"] > MAX_SECTION_HEIGHT:
                    note = f" (cut at {MAX_SECTION_HEIGHT} px of {box['height']:.0f})"
                    y = box["y"] + page.evaluate("() => window.scrollY")
                    clip = {"x": box["x"], "y": y, "width": box["width"],
                            "height": MAX_SECTION_HEIGHT}
                    return page.screenshot(full_page=True, clip=clip), note
                return el.screenshot(), note
            note = " (section element not found: whole page)"
        return page.screenshot(full_page=True), note
    finally:
        page.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--build", action="store_true", help="always build a fresh snapshot")
    ap.add_argument("--only", default="", help="comma-separated names to (re)take")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_browser import (
        CHROMIUM,
        FLAGS,
        Handler,
        csp_from_page,
        prepare_site,
        serve,
        wait_live,
    )
    from playwright.sync_api import sync_playwright

    names = list(SHOTS)
    only = [n for n in args.only.split(",") if n]
    if unknown := set(only) - set(names):
        raise SystemExit(f"unknown names: {sorted(unknown)}; known: {names}")
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wfl-shots-"))
    errors: list[str] = []
    notes: dict[str, str] = {}
    try:
        snap, source = prepare_site(args.site, tmp, args.build)
        server, url, _log = serve(snap, Handler, csp=csp_from_page(snap))
        with sync_playwright() as pw:
            for scale in sorted({v[2] for v in SHOTS.values()}, reverse=True):
                profile = tempfile.mkdtemp(prefix="wfl-shots-profile-")
                ctx = pw.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, args=FLAGS, headless=True,
                    viewport={"width": 1280, "height": 900}, device_scale_factor=scale)
                try:
                    for name, (query, section, sc, _what) in SHOTS.items():
                        if sc != scale or (only and name not in only):
                            continue
                        t = time.monotonic()
                        png, note = shoot(ctx, url + query, section, wait_live, errors,
                                          WIDTH.get(name, 1280))
                        png = shrink_png(png)
                        (OUT / f"{name}.png").write_bytes(png)
                        notes[name] = note
                        print(f"{name}.png: {len(png) / 1e3:.0f} kB{note} "
                              f"({time.monotonic() - t:.0f} s)", flush=True)
                finally:
                    ctx.close()
                    shutil.rmtree(profile, ignore_errors=True)
        server.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "# Screenshots of the live site",
        "",
        f"Generated by `.venv/bin/python scripts/screenshots.py` on "
        f"{_dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} from a {source} — do not edit "
        "by hand; rerun the command to refresh.",
        "",
        "Headless chromium, viewport 1280 CSS px wide (the phone shots 420); each shot is "
        "taken once the page is live (Python running in the page) plus one second. Sections "
        "are opened alone with `?show=<key>` and clipped to the section (the page's content "
        "column, so the images are narrower than 1280 px); the whole-page shots are at half scale.",
        "",
        "| file | page | what |",
        "|---|---|---|",
    ]
    for k, (q, _section, _scale, what) in SHOTS.items():
        lines.append(f"| [{k}.png]({k}.png) | `{q or '/'}` | {what}{notes.get(k, '')} |")
    total = sum(p.stat().st_size for p in OUT.glob("*.png"))
    lines += ["", f"Total: {total / 1e6:.1f} MB.", ""]
    if errors:
        lines += ["Errors the pages reported while the shots were taken:", ""]
        lines += [f"- {e}" for e in errors] + [""]
    (OUT / "README.md").write_text("\n".join(lines))
    print(f"wrote {OUT} ({total / 1e6:.1f} MB)")
    for e in errors:
        print("page error:", e)


if __name__ == "__main__":
    main()
