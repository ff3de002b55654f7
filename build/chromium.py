"""Debian's Chromium, headless, as the build's `--snapshot`, the browser tests
and the benchmarks all drive it (through Playwright)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Anything that is not the local server fails to resolve, even if a route slipped.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1280, "height": 900}


def missing() -> str | None:
    """Why Chromium cannot be driven here, or None."""
    if shutil.which(CHROMIUM) is None:
        return f"{CHROMIUM} is missing: apt-get install chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is missing: pip install -e '.[test]'"
    return None


@contextmanager
def fresh_chromium(**options: Any) -> Iterator[Any]:
    """A Playwright browser context with a profile of its own, removed afterwards."""
    why = missing()
    if why:
        raise RuntimeError(why)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="wfl-profile-")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=FLAGS, headless=True,
            **{"viewport": VIEWPORT, **options})
        try:
            yield ctx
        finally:
            ctx.close()
    shutil.rmtree(profile, ignore_errors=True)
