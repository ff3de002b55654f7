"""The page starting up: the prerendered snapshot, going live and keeping it, the
embed, presenter and dark flags, the share button, the CSP and what Python imports."""

from __future__ import annotations

import re
import time
from io import BytesIO

import pytest
from helpers import expected_activations, type_name, wait_activations, wait_text
from PIL import Image


def test_prerendered_before_live_then_live(watched) -> None:
    w = watched
    w.page.goto(w.base)
    # The figures are on screen before Python is ready: the prerendered source
    # already holds Michael Jordan's activations.
    w.wait_for("return window.wfl && window.wfl.marks.prerendered")
    before = w.source("activation")
    assert before["activation"] == pytest.approx(expected_activations("Michael Jordan"), abs=1e-9)
    status = w.page.locator("#wfl-status").text_content()
    assert "Step" in status or "Live" in status
    # Tag a prerendered view: if the live page were rendered afresh, it would go.
    w.page.evaluate("() => { window.__firstView = Bokeh.index.roots[0].el; }")
    wfl = w.wait_live()
    assert wfl["hydrated"] is True, "the live document should adopt the identical snapshot"
    assert w.page.evaluate(
        "() => Bokeh.index.roots.length > 0 && Bokeh.index.roots[0].el === window.__firstView"
    ), "the prerendered views were replaced instead of kept"
    assert {"runtime", "numpy", "app", "live"} <= set(wfl["marks"])
    assert w.page.locator("#wfl-status").get_attribute("data-stage") == "live"
    assert "Live" in w.page.locator("#wfl-status").text_content()


def _models(w) -> list[list[str]]:
    """Every model of the prerendered document, id and type, sorted."""
    return w.page.evaluate(
        "() => [...Bokeh.documents[0].all_models].map(m => [m.id, m.type]).sort()")


def test_first_screen_first_then_every_section(watched) -> None:
    """The prerender draws the sections up to the first one shown, and Python's
    runtime is fetched only after that frame; then the other sections join the
    same document, which ends model for model as the whole prerender embedded
    at once, every section drawn, and is kept when Python is up."""
    w = watched
    asked: list[float] = []
    w.page.on("request",
              lambda r: r.url.endswith("/pyodide.asm.wasm") and asked.append(time.time()))
    w.page.goto(w.base)
    w.wait_for("return window.wfl && window.wfl.marks.prerenderedAll")
    marks = w.page.evaluate("() => ({...wfl.marks, origin: performance.timeOrigin})")
    assert marks["prerendered"] < marks["prerenderedAll"]
    w.wait_for("return window.wfl.marks.numpy")  # the runtime is up, so it was fetched
    assert asked and asked[0] * 1000 >= marks["origin"] + marks["prerendered"], \
        "the runtime was fetched before the first screen was drawn"
    split = _models(w)
    sections = w.page.evaluate(
        """() => [...Bokeh.index.roots[0].child_views].filter(v => v.el.isConnected)
             .map(v => v.model.css_classes.join(' ')).filter(c => c.includes('wfl-section'))""")
    assert len(sections) == 10, sections
    w.page.evaluate("() => { window.__firstView = Bokeh.index.roots[0].el; }")
    assert w.wait_live()["hydrated"] is True
    assert w.page.evaluate("() => Bokeh.index.roots[0].el === window.__firstView")

    w.page.add_init_script("window.wflWholePrerender = true;")
    w.page.goto(w.base)
    w.wait_for("return window.wfl && window.wfl.marks.prerenderedAll")
    assert _models(w) == split, "the document differs from the whole prerender"
    w.wait_live()


def test_content_security_policy_blocks_other_origins(watched) -> None:
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    csp = w.page.locator("meta[http-equiv='Content-Security-Policy']").get_attribute("content")
    assert "default-src 'self'" in csp
    assert not re.search(r"https?:", csp), "the policy names no other origin"
    assert "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")
    # A fetch to another origin is refused by the policy before any request.
    outcome = w.page.evaluate(
        "() => fetch('http://example.invalid/x').then(() => 'fetched', e => 'blocked: ' + e)"
    )
    assert outcome.startswith("blocked")
    expected_noise = ("example.invalid", "Content Security")
    w.errors[:] = [e for e in w.errors if not any(k in e for k in expected_noise)]
    assert not any("example.invalid" in u for u in w.requests)


def test_live_page_imports_only_what_ships(watched) -> None:
    """Requirements we leave out of the site (build/versions.py) must stay unimported."""
    from build import versions

    w = watched
    w.page.goto(w.base)
    w.wait_live()
    modules = set(w.wait_for("return window.wfl.modules"))
    assert {"panel", "bokeh", "numpy", "toycore", "app"} <= modules
    never = {"pandas", "narwhals", "xyzservices", "typing_extensions", "tornado", "requests"}
    assert not modules & never, f"imported but not shipped: {modules & never}"
    served = w.page.evaluate(
        "() => fetch('pyodide/pyodide-lock.json').then(r => r.json()).then(j => "
        "Object.keys(j.packages))")
    assert set(served) == set(versions.RUNTIME_PACKAGES)


def test_kept_snapshot_equals_what_python_built(watched) -> None:
    """The worker skips serialising a document whose fingerprint matches the
    snapshot; with wflVerify it serialises anyway and the page compares the
    two in full (numbers aside), so the shortcut is checked, not trusted."""
    w = watched
    w.page.add_init_script("window.wflVerify = true;")
    w.page.goto(w.base)
    wfl = w.wait_live()
    assert wfl["hydrated"] is True
    assert wfl["verified"] is True, "the kept snapshot differs from Python's document"


def _page_classes(w) -> list[str]:
    """css_classes of the live page's root Column (set by app.main from the URL)."""
    return w.page.evaluate(
        """() => { for (const m of window.wfl.doc.all_models) {
             const c = m.css_classes; if (c && c.includes('wfl-page')) return [...c]; }
           return null; }""")


def test_embed_presenter_and_dark_flags(watched) -> None:
    w = watched
    w.page.goto(w.base + "?show=recall&embed=1&presenter=1&theme=dark")
    w.wait_live()
    body = w.page.evaluate("() => [...document.body.classList]")
    assert {"wfl-embed", "wfl-presenter", "wfl-dark"} <= set(body)
    assert not w.page.locator("h1.wfl-masthead").is_visible(), "an embed hides the masthead"
    assert w.page.locator("#wfl-status").is_visible(), "but still says what is loading"
    classes = _page_classes(w)
    assert "wfl-theme-dark" in classes and "wfl-presenter" in classes
    sections = w.page.evaluate(
        """() => [...window.wfl.doc.all_models].map(m => m.css_classes || [])
             .filter(c => c.includes('wfl-section')).map(c => c.join(' '))""")
    assert sections == ["wfl-section wfl-recall"], sections


def test_dark_link_never_shows_the_light_snapshot(watched) -> None:
    """The snapshot is drawn light (made for the default link); a dark link
    shows it inverted until the live dark page replaces it, then as is."""
    w = watched

    def brightness() -> float:
        img = Image.open(BytesIO(w.page.locator("#wfl-main").screenshot())).convert("L")
        return sum(img.tobytes()) / (img.width * img.height)  # one byte a pixel ("L")

    main_filter = "() => getComputedStyle(document.getElementById('wfl-main')).filter"
    w.page.goto(w.base + "?theme=dark", wait_until="domcontentloaded")
    w.page.wait_for_function("() => window.wfl && window.wfl.marks.prerendered")
    if not w.page.evaluate("() => window.wfl.live"):  # Python takes seconds more
        assert "invert" in w.page.evaluate(main_filter)
        assert brightness() < 100, "the snapshot shows light on a dark link"
    w.wait_live()
    assert w.page.evaluate(main_filter) == "none"
    assert brightness() < 100, "the live dark page is not dark"
    w.page.goto(w.base)
    w.wait_live()
    assert brightness() > 150, "the default page is light"


def test_share_button_copies_the_current_link(watched, browser_context) -> None:
    w = watched
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=w.base)
    w.page.goto(w.base + "?show=recall")
    w.wait_live()
    type_name(w, "Serena Williams")
    wait_activations(w, expected_activations("Serena Williams"))
    button = w.page.get_by_role("button", name="Copy a link to this view")
    button.focus()
    button.press("Enter")  # from the keyboard
    copied = w.wait_for("return navigator.clipboard.readText()")
    assert copied == w.page.url
    assert "person=Serena+Williams" in copied
    assert "Link copied" in w.page.locator("#wfl-status").text_content()


def test_page_without_its_snapshot_asks_python_for_the_document(watched) -> None:
    """If the prerendered figures cannot be drawn, the worker, which skipped
    serialising a document it thought the page already had, is asked for it
    and the page renders the live document instead."""
    w = watched

    def broken_snapshot(route) -> None:
        page = route.fetch().text()
        page = re.sub(r'(<script type="application/json" id="wfl-docs">).*?(</script>)',
                      r'\1{"docs_json": {}, "render_items": []}\2', page, flags=re.S)
        route.fulfill(body=page, headers={"content-type": "text/html; charset=utf-8"})

    w.page.route(w.base, broken_snapshot)
    w.page.goto(w.base)
    w.wait_for("return window.wfl && window.wfl.live", timeout=120)
    wfl = w.page.evaluate("() => ({hydrated: wfl.hydrated, errors: wfl.errors.splice(0)})")
    assert wfl["hydrated"] is False, "there was no snapshot to keep"
    assert len(wfl["errors"]) == 1, wfl["errors"]  # the broken snapshot, reported
    w.errors[:] = [e for e in w.errors if "prerender failed" not in e]
    # The live document is on screen and answers.
    assert w.source("activation")["activation"] == pytest.approx(
        expected_activations("Michael Jordan"), abs=1e-9)
    type_name(w, "Michael Phelps")
    wait_text(w, ".wfl-answer", "swimming")
