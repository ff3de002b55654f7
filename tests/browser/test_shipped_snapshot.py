"""A site built with `--snapshot` (build/snapshot.py) ships a memory snapshot
made at build time: a first visit restores it instead of loading packages,
and a shipped snapshot that is damaged or from another build is ignored,
with a normal start. Built here into a folder of this module's own."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from build.site import read_config
from tests.browser.conftest import ROOT, fresh_chromium
from tests.browser.helpers import (
    expected_activations,
    no_errors,
    open_page,
    type_name,
    wait_activations,
)


@pytest.fixture(scope="module")
def shipped_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    out = tmp_path_factory.mktemp("snapshot-site")
    subprocess.run([sys.executable, "-m", "build.site", "--out", str(out), "--snapshot"],
                   cwd=ROOT, check=True)
    from build.serve import serve_in_thread

    server, url = serve_in_thread(out)
    yield out, url
    server.shutdown()


@contextmanager
def visit(url: str, requests: list[str] | None = None) -> Iterator[tuple[object, dict]]:
    """A first visit in a fresh profile (nothing cached): the page, once live,
    and its `wfl`; no errors by the end."""
    with fresh_chromium() as ctx:
        if requests is not None:
            ctx.on("request", lambda r: requests.append(r.url))
        w = open_page(ctx, url, init="window.wflNoOffline = true; window.wflVerify = true;")
        wfl = w.wait_live()
        stage = w.page.evaluate("() => document.getElementById('wfl-status').dataset.stage")
        assert stage == "live"
        yield w, wfl
        no_errors(w)


def test_a_first_visit_restores_the_shipped_snapshot(shipped_site) -> None:
    site, url = shipped_site
    assert read_config(site)["shipped"] == "snapshot/"
    sw = (site / "sw.js").read_text()
    assert all(f'"snapshot/{name}"' in sw for name in ("note.json", "heap.gz", "files.gz"))
    requests: list[str] = []
    with visit(url, requests) as (w, wfl):
        assert wfl["startedFrom"] == "shipped snapshot" and wfl["snapshotAtStart"] == "shipped"
        assert "restored" in wfl["worker"] and "packages" not in wfl["worker"]
        # The worker serialises the restored document; it is the prerender.
        assert wfl["hydrated"] is True and wfl["verified"] is True
        assert wfl["snapshot"] == "off"  # nothing to keep: the site has one
        type_name(w, "Usain Bolt", nth=0)
        wait_activations(w, expected_activations("Usain Bolt"))
    assert not [r for r in requests if r.endswith(".whl")], "no package was loaded"
    assert all(r.startswith((url, "data:", "blob:")) for r in requests)


def _flip_middle(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0x55
    return bytes(b)


def _another_key(text: bytes) -> bytes:
    return json.dumps({**json.loads(text), "key": "0123456789abcdef"}).encode()


# A part of the shipped snapshot, what is done to it, and what the page gives as the reason.
DAMAGE = {
    "corrupt heap": ("heap.gz", _flip_middle, "heap.gz is damaged"),
    "truncated files": ("files.gz", lambda b: b[: len(b) - 1000], "files.gz is damaged"),
    "files of another size": ("files.gz", lambda b: gzip.compress(gzip.decompress(b)[:-8]),
                              "truncated"),
    "another build": ("note.json", _another_key, "made for another key"),
    "a part missing": ("heap.gz", None, "HTTP 404"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_shipped_snapshot_is_ignored(shipped_site, damage: str) -> None:
    site, url = shipped_site
    name, change, why = DAMAGE[damage]
    path = site / "snapshot" / name
    sound = path.read_bytes()
    try:
        if change is None:
            path.unlink()
        else:
            path.write_bytes(change(sound))
        with visit(url) as (_, wfl):
            assert wfl["startedFrom"] == "packages"
            assert wfl["snapshotAtStart"].startswith("ignored: ") and why in wfl["snapshotAtStart"]
            assert wfl["verified"] is True
    finally:
        path.write_bytes(sound)
