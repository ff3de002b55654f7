"""Return visits from a memory snapshot (build/web/snapshot.js): once a first
visit is live and idle, a worker of its own makes a snapshot of a runtime
with the app built and keeps it in Cache Storage under the runtime's digest;
the next visit restores it, and the page checks the restored document
against its prerender. A snapshot that is truncated, corrupt, incomplete or
made for another build is ignored: the page starts as usual, with nothing
shown to the reader, and keeps a sound snapshot for the visit after.

The pages here run in a browser profile of this module's own, where every
request the context makes (page and workers) is watched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from build.site import read_config
from tests.browser.conftest import Watched, fresh_chromium
from tests.browser.helpers import (
    expected_activations,
    no_errors,
    open_page,
    type_name,
    wait_activations,
)

MADE_TIMEOUT_S = 180
BACKUP = "wfl-test-backup"  # not a wfl-snapshot-* name, so the page leaves it alone
PARTS = ("heap", "files", "note")


def runtime_key(site: Path) -> str:
    return read_config(site)["runtime"]


def made(w: Watched) -> str:
    w.wait_for("return !['waiting', 'making'].includes(window.wfl.snapshot)",
               timeout=MADE_TIMEOUT_S)
    return w.page.evaluate("() => window.wfl.snapshot")


def cache_names(w: Watched) -> list[str]:
    return sorted(w.page.evaluate("() => caches.keys()"))


def copy_cache(w: Watched, src: str, dst: str) -> None:
    """Every entry of cache `src` put into cache `dst`, which is emptied first."""
    w.page.evaluate("""async ([src, dst]) => {
        await caches.delete(dst);
        const from = await caches.open(src), to = await caches.open(dst);
        for (const request of await from.keys()) {
          await to.put(request, await from.match(request));
        }
    }""", [src, dst])


@pytest.fixture(scope="module")
def context(base_url: str):
    with fresh_chromium() as ctx:
        yield ctx


@pytest.fixture(scope="module")
def first_visit(context, base_url: str, site: Path) -> Iterator[tuple[Watched, list[str]]]:
    """A first visit that went live and kept its snapshot (a copy is kept in
    BACKUP for the tests that damage it); yields the page and every request
    the context made that left the test server."""
    offsite: list[str] = []
    context.on("request", lambda r: r.url.startswith((base_url, "data:", "blob:"))
               or offsite.append(r.url))
    w = open_page(context, base_url, init="window.wflNoOffline = true;")
    wfl = w.wait_live()
    assert wfl["startedFrom"] == "packages"
    assert wfl["snapshotAtStart"] == "none"
    assert made(w) == "kept"
    assert cache_names(w) == [f"wfl-snapshot-{runtime_key(site)}"]
    copy_cache(w, f"wfl-snapshot-{runtime_key(site)}", BACKUP)
    no_errors(w)
    yield w, offsite


def test_a_return_visit_restores_the_snapshot_and_runs_the_model(first_visit,
                                                                  base_url: str) -> None:
    w, offsite = first_visit
    # The worker also serialises the restored document, and the page checks it
    # is its prerender, model for model (main.js, sameAsPrerender).
    w.page.add_init_script("window.wflVerify = true;")
    w.page.reload()
    wfl = w.wait_live()
    assert wfl["startedFrom"] == "snapshot"
    assert "restored" in wfl["worker"] and "packages" not in wfl["worker"]
    assert "build_app" not in wfl["worker"]  # built before the snapshot was made
    assert wfl["hydrated"] is True and wfl["verified"] is True
    assert wfl["snapshot"] == "off"  # nothing more to make
    type_name(w, "Usain Bolt", nth=0)  # section 1's
    wait_activations(w, expected_activations("Usain Bolt"))

    # Another link: restored, then built for that link.
    w.page.goto(base_url + "?show=recall,neuron")
    wfl = w.wait_live()
    assert wfl["startedFrom"] == "snapshot"
    assert "build_app" in wfl["worker"]
    type_name(w, "Serena Williams")
    wait_activations(w, expected_activations("Serena Williams"))
    no_errors(w)
    assert not offsite, offsite


# How to damage the kept snapshot, and the reason the next visit gives for ignoring it.
DAMAGE = {
    "truncated": ("""const b = new Uint8Array(await (await c.match(u('heap'))).arrayBuffer());
                     await c.put(u('heap'), new Response(b.subarray(0, b.length - 4096)));""",
                  "truncated"),
    "corrupt heap": ("""const b = new Uint8Array(await (await c.match(u('heap'))).arrayBuffer());
                        b[b.length >> 1] ^= 0x55;
                        await c.put(u('heap'), new Response(b));""",
                     "corrupt"),
    "corrupt files": ("""const b = new Uint8Array(await (await c.match(u('files'))).arrayBuffer());
                         b[7] ^= 0x01;
                         await c.put(u('files'), new Response(b));""",
                      "corrupt"),
    "a part missing": ("await c.delete(u('files'));", "a part is missing"),
    "another Pyodide": ("""const n = await (await c.match(u('note'))).json();
                           n.pyodide = '0.26.4';
                           await c.put(u('note'), new Response(JSON.stringify(n)));""",
                        "made for another pyodide"),
    "another link": ("""const n = await (await c.match(u('note'))).json();
                        n.search = 'show=recall';
                        await c.put(u('note'), new Response(JSON.stringify(n)));""",
                     "made for another search"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_broken_snapshot_is_ignored_and_replaced(first_visit, base_url: str, site: Path,
                                                    damage: str) -> None:
    w, offsite = first_visit
    name = f"wfl-snapshot-{runtime_key(site)}"
    copy_cache(w, BACKUP, name)
    js, why = DAMAGE[damage]
    w.page.evaluate(f"""async ([name, base]) => {{
        const c = await caches.open(name);
        const u = (part) => new URL('wfl-snapshot/' + part, base).href;
        {js}
    }}""", [name, base_url])
    w.page.reload()
    wfl = w.wait_live()
    assert wfl["startedFrom"] == "packages"
    assert wfl["snapshotAtStart"].startswith("ignored: ") and why in wfl["snapshotAtStart"]
    assert w.page.evaluate("() => document.getElementById('wfl-status').dataset.stage") == "live"
    no_errors(w)
    # The broken one is gone and a sound one kept: the next visit restores it.
    assert made(w) == "kept"
    w.page.reload()
    assert w.wait_live()["startedFrom"] == "snapshot"
    no_errors(w)
    assert not offsite, offsite


def test_a_snapshot_of_another_build_is_not_used_and_is_replaced(first_visit, site: Path) -> None:
    w, _ = first_visit
    w.page.evaluate("(name) => caches.delete(name)", f"wfl-snapshot-{runtime_key(site)}")
    copy_cache(w, BACKUP, "wfl-snapshot-0123456789abcdef")
    w.page.reload()
    wfl = w.wait_live()
    assert wfl["startedFrom"] == "packages" and wfl["snapshotAtStart"] == "none"
    assert made(w) == "kept"
    assert cache_names(w) == sorted([BACKUP, f"wfl-snapshot-{runtime_key(site)}"])
    no_errors(w)


def test_with_snapshots_off_none_is_made_or_used(context, base_url: str, first_visit) -> None:
    w = open_page(context, base_url,
                  init="window.wflNoOffline = true; window.wflNoSnapshot = true;")
    wfl = w.wait_live()
    assert wfl["startedFrom"] == "packages" and wfl["snapshotAtStart"] == "off"
    assert wfl["snapshot"] == "off"
    no_errors(w)
    w.page.close()
