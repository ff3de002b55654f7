"""Offline after one visit (build/web/sw.js, page/offline.js): the page, once
live, has a service worker keep every file of its build; the server can then
go away and a reload still goes live and runs the model. A new build replaces
the cache whole, and a host caught halfway through an update is refused.

These tests serve a copy of the site from a server of their own (to stop it,
or to swap the build under it) to a browser profile of their own, without
the other modules' request routing, which service workers bypass; requests
are watched by the context's events instead."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build.serve import make_server
from build.site import WEB, write_service_worker
from tests.browser.conftest import Watched, fresh_chromium
from tests.browser.helpers import (
    expected_activations,
    no_errors,
    open_page,
    type_name,
    wait_activations,
)

KEPT_TIMEOUT_S = 90


class Host:
    """A static host for one folder at a time: `swap` changes the folder it serves."""

    def __init__(self, folder: Path) -> None:
        self.link = Path(tempfile.mkdtemp(prefix="wfl-host-")) / "site"
        self.link.symlink_to(folder)
        self.server = make_server(self.link)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def swap(self, folder: Path) -> None:
        self.link.unlink()
        self.link.symlink_to(folder)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def copy_of(site: Path, title: str | None = None) -> Path:
    """A copy of the built site; with `title`, a different build (its page and sw.js)."""
    out = Path(tempfile.mkdtemp(prefix="wfl-build-")) / "site"
    shutil.copytree(site, out)
    if title is not None:
        page = out / "index.html"
        page.write_text(page.read_text().replace("<title>", f"<title>{title} ", 1))
        shutil.copy(WEB / "sw.js", out / "sw.js")
        write_service_worker(out)
    return out


@pytest.fixture
def context():
    with fresh_chromium() as ctx:
        yield ctx


@pytest.fixture
def host(site: Path) -> Iterator[Host]:
    h = Host(copy_of(site))
    yield h
    h.stop()


def watch_requests(context, url: str) -> list[str]:
    """Every request the context makes (page, workers, service worker) that leaves `url`."""
    offsite: list[str] = []
    context.on("request", lambda r: r.url.startswith((url, "data:", "blob:"))
               or offsite.append(r.url))
    return offsite


def kept(w: Watched) -> None:
    w.wait_for("return window.wfl.offline === 'kept' || window.wfl.offline.startsWith('failed')",
               timeout=KEPT_TIMEOUT_S)
    assert w.page.evaluate("() => window.wfl.offline") == "kept"


def update(w: Watched) -> bool:
    """Have the browser look for a new sw.js now; True if it found one to install."""
    return w.page.evaluate("""async () => {
        const r = await navigator.serviceWorker.getRegistration();
        await r.update();
        return Boolean(r.installing || r.waiting);
    }""")


def cache_names(w: Watched) -> list[str]:
    return w.page.evaluate("() => caches.keys()")


def test_the_site_opens_and_runs_with_no_network_after_one_visit(context, host: Host) -> None:
    offsite = watch_requests(context, host.url)
    w = open_page(context, host.url)
    w.wait_live()
    kept(w)
    sw_text = (host.link / "sw.js").read_text()
    build = sw_text.split('const BUILD = "', 1)[1].split('"', 1)[0]
    assert cache_names(w) == [f"wfl-site-{build}"]
    # Every file of the build is kept, the page also under the site's own address.
    files = sum(1 for f in host.link.rglob("*") if f.is_file()) - 1  # not sw.js itself
    held = w.page.evaluate(
        "async () => (await (await caches.open((await caches.keys())[0])).keys()).length")
    assert held == files + 1

    host.stop()
    # A link with a query is the same page, and its state comes through.
    w.page.goto(host.url + "?show=recall,neuron")
    wfl = w.wait_live()
    assert wfl["stage"] == "live"
    type_name(w, "Usain Bolt")
    wait_activations(w, expected_activations("Usain Bolt"))
    no_errors(w)
    assert not offsite, offsite


def test_a_new_build_replaces_the_cache_whole_and_a_half_updated_host_is_refused(
        context, host: Host, site: Path) -> None:
    offsite = watch_requests(context, host.url)
    w = open_page(context, host.url)
    w.wait_live()
    kept(w)
    first = cache_names(w)
    title = w.page.title()

    # A host halfway through an update: the new sw.js, but one file still old.
    half = copy_of(site, title="New build.")
    (half / "index.html").write_text((host.link / "index.html").read_text())
    host.swap(half)
    w.page.reload()
    w.wait_live()
    assert w.page.title() == title  # served by the first build's worker
    assert update(w)
    w.wait_for("""return navigator.serviceWorker.getRegistration().then((r) => !r.installing)""",
               timeout=KEPT_TIMEOUT_S)
    assert w.page.evaluate(
        "() => navigator.serviceWorker.getRegistration().then((r) => !r.waiting)")
    assert cache_names(w) == first

    # The whole new build: kept beside the first while a page of the first is open.
    new = copy_of(site, title="New build.")
    host.swap(new)
    w.page.reload()
    w.wait_live()
    assert w.page.title() == title
    assert update(w)
    w.wait_for("""return navigator.serviceWorker.getRegistration().then(
                    (r) => r.waiting && r.waiting.state === 'installed')""", timeout=KEPT_TIMEOUT_S)
    no_errors(w)
    w.page.close()

    # Once no page of the first build is open, the next visit is all the new build.
    deadline = time.monotonic() + 30
    while True:
        w = open_page(context, host.url)
        if w.page.title().startswith("New build.") or time.monotonic() > deadline:
            break
        w.page.close()
    assert w.page.title().startswith("New build.")
    w.wait_live()
    w.wait_for("return caches.keys().then((k) => k.length === 1)")
    (only,) = cache_names(w)
    assert only != first[0]
    host.stop()
    w.page.reload()
    w.wait_live()
    assert w.page.title().startswith("New build.")
    no_errors(w)
    assert not offsite, offsite


def test_the_manifest_makes_the_site_installable(context, host: Host) -> None:
    w = open_page(context, host.url)
    w.wait_live()
    cdp = context.new_cdp_session(w.page)
    manifest = cdp.send("Page.getAppManifest")
    assert not manifest.get("errors"), manifest["errors"]
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [] or all(e["errorId"] == "no-matching-service-worker" for e in errors), errors
    kept(w)
    w.page.reload()
    w.wait_live()
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == [], errors
    no_errors(w)
