"""Fixtures that drive the built site in Debian's chromium.

Every page a test opens is watched: a request to any host other than the
test server's 127.0.0.1 is aborted and recorded, and a console error, page
error or Python worker error fails the test at teardown. Each test module
gets a fresh browser profile, so nothing is cached between modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from build import chromium

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "site"
LIVE_TIMEOUT_S = 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def site() -> Path:
    """The built site; built here if the test command did not build it first."""
    if not (SITE / "index.html").exists():
        subprocess.run([sys.executable, "-m", "build.site"], cwd=ROOT, check=True)
    return SITE


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    sys.path.insert(0, str(ROOT))
    from build.serve import serve_in_thread

    server, url = serve_in_thread(site)
    yield url
    server.shutdown()


@contextmanager
def fresh_chromium() -> Iterator[object]:
    """Chromium with a profile of its own, removed afterwards."""
    if why := chromium.missing():
        pytest.fail(why)
    with chromium.fresh_chromium() as ctx:
        yield ctx


@pytest.fixture(scope="module")
def browser_context(base_url: str):
    with fresh_chromium() as ctx:
        yield ctx


@dataclass
class Watched:
    """A page plus everything suspicious it did."""

    page: object
    base: str
    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def wait_live(self, timeout: float = LIVE_TIMEOUT_S) -> dict:
        """Poll until the worker has built the live document (not the spinner)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.page.evaluate("() => window.wfl ? JSON.stringify(window.wfl) : null")
            if st:
                wfl = json.loads(st)
                if wfl["live"]:
                    return wfl
                if wfl["errors"]:
                    raise AssertionError(f"worker failed: {wfl['errors']}")
            time.sleep(0.2)
        raise AssertionError(f"not live after {timeout} s")

    def wait_idle(self, timeout: float = 20) -> None:
        """Wait until Python has processed every queued change."""
        deadline = time.monotonic() + timeout
        time.sleep(0.05)
        while time.monotonic() < deadline:
            if self.page.evaluate("() => window.wfl.busy === false"):
                return
            time.sleep(0.05)
        raise AssertionError("worker still busy")

    def focus_settled(self, control, section: str) -> None:
        """Focus a control. Focusing scrolls, and the page then tells Python
        which sections are on screen (a patch of its own, and redraws of any
        that were stale); return once that has settled."""
        control.focus()
        self.wait_for(f"return (window.wfl.onScreen || []).includes('{section}')")
        time.sleep(0.3)
        self.wait_idle()

    def wait_for(self, js: str, timeout: float = 20) -> object:
        """Poll a JS expression (a function body) until it returns something truthy.

        page.wait_for_function would eval a string, which the page's CSP forbids.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.page.evaluate(f"() => {{ {js} }}")
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for: {js}")

    def source(self, column: str) -> dict:
        """The data of the first Bokeh ColumnDataSource that has `column`."""
        return self.page.evaluate(
            """(column) => {
              // The live document once there is one, else the prerendered one.
              const docs = window.wfl && window.wfl.doc ? [window.wfl.doc] : Bokeh.documents;
              for (const doc of docs) {
                for (const m of doc.all_models) {
                  if (m.type === 'ColumnDataSource' || (m.data && m.data instanceof Map)) {
                    const d = m.data;
                    const get = (k) => d instanceof Map ? d.get(k) : d[k];
                    if (get(column) !== undefined) {
                      const out = {};
                      const keys = d instanceof Map ? [...d.keys()] : Object.keys(d);
                      for (const k of keys) out[k] = Array.from(get(k));
                      return out;
                    }
                  }
                }
              }
              return null;
            }""",
            column,
        )


@pytest.fixture
def watched(browser_context, base_url: str) -> Iterator[Watched]:
    """A new page whose every request and error is recorded and checked."""
    page = browser_context.new_page()
    w = Watched(page=page, base=base_url)

    def route(r):
        url = r.request.url
        w.requests.append(url)
        if url.startswith(base_url) or url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            w.offsite.append(url)
            r.abort()

    page.route("**/*", route)
    browser_context.route("**/*", route)
    # The worker encodes each patch its own faster way and Bokeh's way, and
    # reports any difference as an error (app/worker/link.py, Link(check=True)).
    page.add_init_script("window.wflCheckPatches = true;")
    # Steps are checked, not their speed: a loaded machine must not make a
    # slider's foresight stop as too slow (app/worker/foresight.py, MAX_S).
    page.add_init_script("window.wflForeseeMaxS = 60;")
    # A service worker would answer later pages from its cache, out of sight
    # of the routes above; test_offline.py tests it in a profile of its own.
    page.add_init_script("window.wflNoOffline = true;")
    # Nor is a memory snapshot made in the background (test_snapshot.py).
    page.add_init_script("window.wflNoSnapshot = true;")
    page.on("console", lambda m: m.type == "error" and w.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
    page.on("response", lambda r: r.status >= 400 and w.errors.append(f"HTTP {r.status} {r.url}"))
    yield w
    try:
        worker_errors = page.evaluate("() => window.wfl ? window.wfl.errors : []")
    except Exception:  # the page may already be gone
        worker_errors = []
    page.close()
    browser_context.unroute("**/*")
    assert not w.offsite, f"requests left 127.0.0.1: {w.offsite}"
    assert not w.errors, f"errors in the page: {w.errors}"
    assert not worker_errors, f"errors in the Python worker: {worker_errors}"
