"""Helpers shared by the browser tests: reading panes, typing names, stepping sliders.

Expected numbers come from toycore run here in CPython, the same package the
page runs in Pyodide; toycore's own tests check it against hand calculations.
"""

from __future__ import annotations

import time

import pytest

import toycore as tc


def open_page(context, url: str, init: str = "window.wflNoSnapshot = true;"):
    """A page whose errors are recorded, in a context without the `watched`
    fixture's request routing (which service workers and the workers they
    answer bypass); `init` runs before the page's own scripts."""
    from tests.browser.conftest import Watched

    page = context.new_page()
    w = Watched(page=page, base=url)
    page.on("console", lambda m: m.type == "error" and w.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: w.errors.append(f"pageerror: {e}"))
    if init:
        page.add_init_script(init)
    page.goto(url)
    return w


def no_errors(w) -> None:
    assert not w.errors, w.errors
    assert not w.page.evaluate("() => window.wfl.errors")


NAME_INPUT = "input[placeholder^='Type a name']"


def shadow_text(w, selector: str) -> str:
    """Visible text of a Panel pane, which renders inside its host's shadow root."""
    loc = w.page.locator(selector).first
    loc.wait_for(timeout=20_000)
    return loc.evaluate(
        "e => [...(e.shadowRoot || e).children]"
        ".filter(c => !['STYLE', 'LINK'].includes(c.tagName))"
        ".map(c => c.innerText).join(' ').trim()"
    )


def wait_text(w, selector: str, needle: str, timeout: float = 20) -> str:
    """Poll a pane until its text contains `needle` (Python patches it asynchronously)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = shadow_text(w, selector)
        if needle in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{selector} never showed {needle!r}; last: {text!r}")


def type_name(w, text: str, enter: bool = True, nth: int | None = None) -> None:
    """Type into the page's one name box, or its `nth` where there are several."""
    box = w.page.locator(NAME_INPUT)
    if nth is not None:
        box = box.nth(nth)
    box.click()
    box.fill(text)
    if enter:  # on an empty box Enter picks the first suggestion, as a menu should
        box.press("Enter")
    w.wait_idle()


def expected_activations(name: str) -> list[float]:
    run = tc.ToyModel.default().run(name)
    return [float(x) for x in run.cache["mlp.hook_post"][-1]] if run.ok else []


def wait_activations(w, expected: list[float], timeout: float = 20) -> dict:
    """Poll the neuron chart's source until it shows `expected` (Python patches it)."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = w.source("activation")
        if got and got["activation"] == pytest.approx(expected, abs=1e-9):
            return got
        time.sleep(0.1)
    raise AssertionError(f"activations never became {expected}: {got}")


def step_right(w, handle, presses: int) -> None:
    """Press ArrowRight on a focused slider handle, one press per answer
    from Python, then give the frames (and what BokehJS places after them)
    time to be painted."""
    for _ in range(presses):
        handle.press("ArrowRight")
        w.wait_idle()
    time.sleep(0.5)


def slider_handle(w, label: str):
    """The slider a reader knows by its label (page/fitting.js names Panel's handles)."""
    return w.page.get_by_role("slider", name=label, exact=True)
