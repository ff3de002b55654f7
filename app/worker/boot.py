"""What the browser worker (build/web/worker.js) calls, in order: `start`
(or, in a runtime restored from a memory snapshot made after `prepare`,
`finish`) builds the explorable, `link` joins it to the page's document, then
`apply`, `focus` and `foresee` for each message. Everything the worker's
Python does is here, where ruff and CPython tests can see it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from app.worker import pyodide_tuning

# Imported in the functions below: Panel and Bokeh's models must wait until
# prepare() has installed the tuning units that precede them.
if TYPE_CHECKING:
    from app.worker.link import Link, Send

_link: Link | None = None
_tuned: dict[str, bool] = {}


_numbered = False  # whether Bokeh's ids start where the build's did
_built_for: str | None = None  # the link the document was built for


async def prepare(search: str, pins: Mapping[str, str], off: Sequence[str],
                  mark: Callable[[str], None] | None = None) -> None:
    """Tune the libraries, import Panel and the app, and build the app for
    `search`: all a memory snapshot holds (build/web/snapshot.js). Async, so
    that it runs in a task of its own, in a snapshot's runtime too: Panel's
    state.curdoc is a context variable, and one set outside a task would
    outlive the document it names."""
    mark = mark or (lambda name: None)
    pins, off = dict(pins), list(off)
    import_libraries(pins, off)
    from panel.io.pyodide import init_doc

    from app.worker import tuning

    mark("import_panel")
    _tuned.update(tuning.install(pins, off))  # before the app: Panel binds handlers as it builds
    init_doc()
    import app.main  # noqa: F401

    mark("import_app")
    _build(search)
    mark("build_app")


def import_libraries(pins: Mapping[str, str], off: Sequence[str] = ()) -> None:
    """Tune the libraries and import Panel: what any start that runs Panel
    pays before the app (scripts/bench_browser.py times it alone, on a bare
    page, as the bound under the site's cold start)."""
    _tuned.update(pyodide_tuning.install(pins))  # a fill-in Panel needs: never off
    from app.worker import tuning

    _tuned.update(tuning.install(pins, off, before_import=True))
    import panel.io.pyodide  # noqa: F401


def _build(search: str, number: bool = True) -> None:
    global _numbered, _built_for
    from app.main import build_app, first_model_id
    from app.worker import tuning

    # Numbered again only in a fresh runtime: models Panel keeps between
    # documents (stylesheets) hold the numbers of the first one.
    _numbered = number and tuning.start_ids_at(first_model_id)
    build_app(search).servable()
    _built_for = search


async def finish(search: str, fingerprint: str | None, verify: bool,
                 mark: Callable[[str], None]) -> tuple[bool, Any, list[str], dict[str, bool]]:
    """After prepare(), here or in the runtime a snapshot restored: the app
    built for `search` (again, if prepare's was for another link), and its
    document serialised unless the page may keep its prerendered one:
    `fingerprint` is that one's (app.main.doc_fingerprint), given only when
    the page was opened with the prerender's link. `verify` serialises
    anyway (tests).

    Returns (keep, the document as Panel's write_doc gives it or None, the
    top-level modules imported, which tuning units are on)."""
    from panel.io.pyodide import init_doc, write_doc
    from panel.io.state import state

    from app.main import doc_fingerprint
    from app.worker import tuning

    if search.lstrip("?") != (_built_for or "").lstrip("?"):
        # Models Panel shares between documents (stylesheets) would take the
        # old document's roots into the new one's JSON.
        state.curdoc.clear()
        init_doc()
        _build(search, number=False)
        mark("build_app")
    keep = (_numbered and fingerprint is not None
            and doc_fingerprint(state.curdoc) == fingerprint)
    doc = None
    if not (keep and not verify and tuning.end_mock_session(state.curdoc)):
        doc = await write_doc()
    mark("write_doc")
    modules = sorted({m.split(".")[0] for m in sys.modules})
    return keep, doc, modules, dict(_tuned)


async def start(search: str, fingerprint: str | None, verify: bool,
                pins: Mapping[str, str], off: Sequence[str],
                mark: Callable[[str], None]) -> tuple[bool, Any, list[str], dict[str, bool]]:
    """prepare() then finish(): a start without a snapshot."""
    await prepare(search, pins, off, mark)
    return await finish(search, fingerprint, verify, mark)


async def send_doc() -> Any:
    """The document after all: the page could not keep its snapshot."""
    from panel.io.pyodide import write_doc
    return await write_doc()


def link(send: Send, foresee: Callable[..., None] | None, check: bool,
         foresee_max_s: float | None, resync: bool) -> None:
    """Join Python's document to the page's, which now shows it: start
    sending patches, run the app's on-load callbacks, and with `resync`
    resend every data source (the page kept the build's snapshot)."""
    global _link
    from panel.io.state import state

    from app.worker import tuning
    from app.worker.link import Link

    doc = state.curdoc
    _link = Link(doc, send, check=check)
    if foresee is not None:
        from app.worker import foresight
        if foresee_max_s:
            foresight.MAX_S = foresee_max_s
        foresight.Foresight(_link, foresee)
    doc.unhold()
    tuning.on_document_ready(doc)
    if resync:
        _link.resync()


def apply(js_patch: Any, foreseen: float | None, grid: int | None) -> None:
    """One patch from the page."""
    from app.worker import tuning

    assert _link is not None, "a patch before the link"
    _link.apply(tuning.panel_patch(js_patch), foreseen, grid)


def focus(model_id: str) -> bool:
    """The reader is on a slider; whether there is anything to foresee."""
    ahead = _link.foresight if _link is not None else None
    return ahead.focus(model_id) if ahead is not None else False


def foresee() -> bool:
    """One more foreseen value; whether more are left."""
    ahead = _link.foresight if _link is not None else None
    return ahead.foresee() if ahead is not None else False
