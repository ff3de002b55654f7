"""The built site in a real browser: recall, URL state, bad input, isolation.

Expected numbers come from toycore run here in CPython, the same package the
page runs in Pyodide; toycore's own tests check it against hand calculations.
"""

from __future__ import annotations

import json
import re
import time
from io import BytesIO

import pytest
from PIL import Image

import toycore as tc
from app.state import SECTIONS, AppState
from app.superposition import SuperpositionSection

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


def answer_text(w) -> str:
    return shadow_text(w, ".wfl-answer")


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


def type_name(w, text: str, enter: bool = True) -> None:
    box = w.page.locator(NAME_INPUT)
    box.click()
    box.fill(text)
    if enter:  # on an empty box Enter picks the first suggestion, as a menu should
        box.press("Enter")
    w.wait_idle()


def expected_activations(name: str) -> list[float]:
    run = tc.ToyModel.default().run(name)
    return [float(x) for x in run.cache["mlp.hook_post"][-1]] if run.ok else []


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


@pytest.mark.parametrize("name", ["Michael Phelps", "Serena Williams", "Michael Jordan"])
def test_typing_a_name_fires_its_neuron(watched, name: str) -> None:
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    if name == "Michael Jordan":  # the default: move away first so the chart must change
        type_name(w, "Usain Bolt")
        wait_activations(w, expected_activations("Usain Bolt"))
    type_name(w, name)
    model = tc.ToyModel.default()
    run = model.run(name)
    got = wait_activations(w, expected_activations(name))
    firing = [lab for lab, a in zip(got["neuron"], got["activation"], strict=True) if a > 1e-6]
    own = [i for i, lab in enumerate(model.neuron_labels()) if lab.startswith(name + " ")]
    assert len(own) == 1
    assert firing == [got["neuron"][own[0]]], "exactly the fact's own neuron fires"
    wait_text(w, ".wfl-answer", run.answer)
    probs = w.source("prob")
    assert probs["prob"] == pytest.approx([float(p) for p in run.cache["sport_probs"]], abs=1e-9)
    top = max(range(len(probs["prob"])), key=probs["prob"].__getitem__)
    assert probs["sport"][top] == run.answer


def test_unknown_and_empty_names_give_messages(watched) -> None:
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    type_name(w, "Zorblax Quuxington")
    wait_activations(w, [0.0] * len(expected_activations("Michael Jordan")))
    text = wait_text(w, ".wfl-answer", "no direction for Zorblax, Quuxington")
    assert "doesn't know" in text
    type_name(w, "", enter=False)
    message = tc.ToyModel.default().run("").error
    assert message in wait_text(w, ".wfl-answer", message)


def test_typed_markup_shows_as_text(watched) -> None:
    """The answer line is HTML that Python writes; a name typed with tags
    must come back as the very characters typed, never as elements."""
    w = watched
    w.page.goto(w.base + "?show=recall")
    w.wait_live()
    typed = 'Ann <img src="x.png" id="wfl-injected"> <b>Lee</b>'
    type_name(w, typed)
    text = wait_text(w, ".wfl-answer", "no direction for Ann")
    # The toy tokenizer splits on spaces and drops a leading "<", so the
    # words come back as "img", 'src="x.png', "b>Lee</b": as characters.
    assert 'src="x.png' in text and "b>Lee</b" in text
    assert w.page.locator(".wfl-answer").first.evaluate(
        "e => e.shadowRoot.querySelectorAll('img, b').length") == 0
    assert not [r for r in w.requests if "x.png" in r]


def test_a_suggestion_clicked_in_the_list_is_recalled(watched) -> None:
    """Typing part of a name lists the facts that contain it; clicking one
    recalls that fact, and the link follows."""
    w = watched
    w.page.goto(w.base + "?show=recall")
    w.wait_live()
    box = w.page.locator(NAME_INPUT)
    box.click()
    box.fill("")
    box.press_sequentially("phel", delay=30)
    item = w.page.locator(".bk-menu div", has_text="Michael Phelps").first
    item.wait_for(state="visible", timeout=10_000)
    item.click()
    wait_activations(w, expected_activations("Michael Phelps"))
    wait_text(w, ".wfl-answer", "swimming")
    assert box.input_value() == "Michael Phelps"
    w.wait_for("return location.search.includes('person=Michael+Phelps')")
    assert w.page.evaluate("""() => [...window.wfl.doc.all_models]
        .filter((m) => (m.css_classes || []).includes("wfl-message")).every((m) => !m.visible)""")


def test_shared_url_restores_state(watched) -> None:
    w = watched
    w.page.goto(w.base + "?person=Michael+Phelps")
    # A link with settings differs from the snapshot, so it is rendered afresh.
    assert w.wait_live()["hydrated"] is False
    wait_activations(w, expected_activations("Michael Phelps"))
    wait_text(w, ".wfl-answer", "swimming")
    assert w.page.locator(NAME_INPUT).input_value() == "Michael Phelps"


def test_malformed_url_gives_message_not_traceback(watched) -> None:
    w = watched
    w.page.goto(w.base + "?attn=nan&neuron=1e308&bias=-1e999&bogus=%3Cscript%3E&show=nope")
    w.wait_live()
    body = w.page.locator("body").inner_text()
    assert "Traceback" not in body
    alert = wait_text(w, ".wfl-link-notes", "bogus")
    assert "attn" in alert and "bogus" in alert
    # The state fell back to defaults: Michael Jordan still recalls basketball.
    assert "basketball" in answer_text(w)


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


def step_right(w, handle, presses: int) -> None:
    """Press ArrowRight on a focused slider handle, one press per answer
    from Python, then give the frames (and what BokehJS places after them)
    time to be painted."""
    for _ in range(presses):
        handle.press("ArrowRight")
        w.wait_idle()
    time.sleep(0.5)


def slider_handle(w, label: str):
    """The slider a reader knows by its label (loader.js names Panel's handles)."""
    return w.page.get_by_role("slider", name=label, exact=True)


def test_bias_slider_from_keyboard_moves_plots_and_url(watched) -> None:
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    handle = slider_handle(w, "Bias (threshold)")
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")
    # The address bar follows the state. Keys are handled one at a time, so
    # poll until the plot shows the bias the URL names and the URL has settled.
    from urllib.parse import parse_qs, urlparse

    model = tc.ToyModel.default()
    j = 0

    def expected_for(bias: float) -> dict[str, float]:
        out = {}
        for name in ("Michael Jordan", "Michael Phelps", "Alexis Jordan"):
            run = model.set_neuron(j, bias=bias).run(name)
            out[name] = float(run.cache["mlp.hook_pre"][-1][j])
        return out

    def points_match(expected: dict[str, float]) -> bool:
        pts = w.source("pre")
        if not pts or "name" not in pts:
            return False
        got = dict(zip(pts["name"], pts["pre"], strict=True))
        return all(n in got and abs(got[n] - v) < 1e-9 for n, v in expected.items())

    def settled_bias(timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            query = parse_qs(urlparse(w.page.url).query)
            bias = float(query["bias"][0]) if "bias" in query else None
            if bias is not None and bias == last and points_match(expected_for(bias)):
                return bias
            last = bias
            time.sleep(0.3)
        raise AssertionError(f"plot and URL never agreed; URL {w.page.url}, {w.source('pre')}")

    bias = settled_bias()
    assert bias == pytest.approx(-1.0 + 4 * 0.05) or -1.0 < bias <= 3.0
    expected = expected_for(bias)
    # Independent of toycore: with perpendicular unit directions the row
    # Michael + Jordan scores 2 for the full name and 1 for a half match.
    assert expected["Michael Jordan"] == pytest.approx(2 + bias)
    assert expected["Michael Phelps"] == pytest.approx(1 + bias)

    # The plane's colours arrive intact (a binary buffer the worker hands
    # over to the page): equal to what the app computes for that bias.
    from app.neuron import NeuronSection
    from app.state import AppState

    got = w.page.evaluate("""() => {
      const col = (m) => (m.data instanceof Map ? m.data.get("image") : m.data.image);
      const src = [...window.wfl.doc.all_models].find(
        (m) => m.type === "ColumnDataSource" && col(m) !== undefined);
      const img = col(src)[0];
      const slider = [...window.wfl.doc.all_models].find(
        (m) => m.type === "Slider" && m.title === "Bias (threshold)");
      return {dtype: img.dtype, shape: img.shape, data: Array.from(img), bias: slider.value};
    }""")
    assert got["bias"] == pytest.approx(bias)  # the URL's is rounded; this is exact
    section = NeuronSection(AppState(bias=got["bias"]))
    want, values = section.plane.data["image"][0], section.plane_values
    assert got["dtype"] == "uint32" and got["shape"] == list(want.shape)
    # wasm's numpy (no BLAS) may differ from this one in a dot product's last
    # bit, so a pixel whose value sits on a colour bin's edge (the grid puts
    # many there) may land one bin over; every other pixel is equal.
    from app.neuron import PALETTE_RGBA

    bins: dict[int, list[int]] = {}  # a colour -> its bins (neighbours may share one)
    for k, word in enumerate(PALETTE_RGBA.tolist()):
        bins.setdefault(word, []).append(k)
    low, high = min(0.0, float(values.min())), max(1.0, float(values.max()))
    scaled = ((values - low) / (high - low) * len(PALETTE_RGBA)).ravel().tolist()
    for a, b, x in zip(got["data"], want.ravel().tolist(), scaled, strict=True):
        if a != b:
            assert abs(x - round(x)) < 1e-6, x  # on an edge
            assert min(abs(i - k) for i in bins[a] for k in bins[b]) <= 1

    # Reloading the shared URL restores the same state.
    shared = w.page.url
    w.page.goto(shared)
    w.wait_live()
    assert settled_bias() == bias, "the shared URL did not restore the bias"



def test_back_leaves_the_page_after_slider_steps(watched) -> None:
    """Each step rewrites the address bar in place (loader.js,
    keepOneHistoryEntry). With Panel's pushState every step was a history
    entry: Back showed an older slider value in the address bar while the
    page stayed put, and leaving took a Back per step."""
    w = watched
    first = w.base + "?show=recall"
    w.page.goto(first)
    w.wait_live()
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.oneHistoryEntry") is True
    entries = w.page.evaluate("() => history.length")
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    step_right(w, handle, 3)
    w.wait_for("return /bias=-0\\.85/.test(location.search)")
    assert w.page.evaluate("() => history.length") == entries
    w.page.go_back()
    assert w.page.url == first

def test_one_slider_step_is_one_patch_back(watched) -> None:
    """Every plot a step changes arrives in one message, so they repaint
    together; the new URL follows in its own, applied after the frame."""
    w = watched
    w.page.goto(w.base + "?show=recall,neuron,embedding")
    w.wait_live()
    # The Python way for every step (a foreseen step brings no patch back:
    # see test_a_foreseen_slider_step_is_applied_in_the_key_press_task).
    w.page.evaluate("() => { window.wflNoForesight = true; }")
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")  # count from after the on-screen report
    counts = """() => [window.wfl.patchesSent, window.wfl.patchesReceived,
                      window.wfl.addressPatches, location.search]"""
    # When each patch was applied (with or without data), and when each
    # figure paint ended, in which frame (a count of frame callbacks).
    w.page.evaluate("""() => {
      const t = (window.__times = { patches: [], paints: [] });
      let frame = 0;
      const tick = () => { frame += 1; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      const doc = window.wfl.doc, apply = doc.apply_json_patch.bind(doc);
      doc.apply_json_patch = (patch, buffers) => {
        const out = apply(patch, buffers);
        const data = (patch.events || []).some((e) => e.kind.startsWith("Column"));
        t.patches.push([performance.now(), data]);
        return out;
      };
      const view = Bokeh.require("models/plots/plot_canvas").PlotView.prototype;
      const paint = view._actual_paint;
      view._actual_paint = function () {
        try { return paint.call(this); } finally { t.paints.push([performance.now(), frame]); }
      };
    }""")
    for _ in range(3):
        before = w.page.evaluate(counts)
        handle.press("ArrowLeft")
        w.wait_for(f"return window.wfl.patchesSent > {before[0]} && !window.wfl.busy")
        time.sleep(0.3)
        w.wait_for("return !window.wfl.busy")
        after = w.page.evaluate(counts)
        # A noUiSlider step sets `value` and `value_throttled` in one task: they
        # go out as one patch, and all that the change redraws comes back as one.
        assert after[0] - before[0] == 1, f"one step went out as {after[0] - before[0]} patches"
        assert after[1] - before[1] == 1, f"one step came back as {after[1] - before[1]} patches"
        assert after[2] - before[2] == 1 and after[3] != before[3], "the URL did not follow"
        # The address bar after the frame that painted the step's figures. A
        # figure just off the screen may be painted in a later frame (see
        # test_a_figure_just_below_the_screen_is_painted_a_frame_later).
        times = w.page.evaluate("() => window.__times")
        (data_at, _), (url_at, url_data) = times["patches"][-2:]
        painted = [(at, frame) for at, frame in times["paints"] if at > data_at]
        assert not url_data and painted, times
        step_frame = [at for at, frame in painted if frame == painted[0][1]]
        assert url_at > max(step_frame), times


FORESIGHT_HOOKS_JS = """() => {
  // For each key press: whether the step's data patch was applied within
  // the key's own task (before a timer set from its keydown ran).
  const t = (window.__keys = []);
  window.addEventListener("keydown", () => {
    const rec = { patchInTask: false, taskOver: false };
    t.push(rec);
    setTimeout(() => { rec.taskOver = true; }, 0);
  }, true);
  const doc = window.wfl.doc, apply = doc.apply_json_patch.bind(doc);
  doc.apply_json_patch = (patch, buffers) => {
    const rec = t[t.length - 1];
    if (rec && !rec.taskOver && (patch.events || []).some((e) => e.kind.startsWith("Column"))) {
      rec.patchInTask = true;
    }
    return apply(patch, buffers);
  };
}"""

FORESIGHT_STATE_JS = """() => ({hits: wfl.foreseenSteps, received: wfl.patchesReceived,
  values: wfl.foresight.map((f) => f.value).sort((a, b) => a - b),
  keys: window.__keys, search: location.search})"""


def test_a_foreseen_slider_step_is_applied_in_the_key_press_task(watched) -> None:
    """Once the reader is on a slider, Python works out the patches of the
    values around it (app/worker_link.py, Grid) and the page keeps them. A
    press that lands on one (an arrow, PageUp, back past where the grid
    began) is drawn from it within the key's own task, even while Python is
    busy with the press before (a key held down); Python still makes each
    step (the URL follows), finds its state as the page shows it, and sends
    nothing back. The plots hold what toycore gives for that bias. After
    another control changed the state, the old grid is dropped and a new
    one begins from there."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    w.page.evaluate(FORESIGHT_HOOKS_JS)
    model = tc.ToyModel.default()

    def settle() -> dict:
        w.wait_for("return !window.wfl.busy && window.wfl.foreseeing === false")
        time.sleep(0.2)
        return w.page.evaluate(FORESIGHT_STATE_JS)

    def shows(bias: float, activation: str = "relu") -> None:
        act = tc.model.ACTIVATION_FNS[activation]
        got = w.source("pre")
        for name, pre, post in zip(got["name"], got["pre"], got["post"], strict=True):
            run = model.with_(activation=activation).set_neuron(0, bias=bias).run(name)
            want = float(run.cache["mlp.hook_pre"][-1][0])
            assert pre == pytest.approx(want, abs=1e-9), (name, bias)
            assert post == pytest.approx(float(act(want)), abs=1e-9), (name, bias)
        # Independent of toycore: the full name scores 2 + bias.
        assert dict(zip(got["name"], got["pre"], strict=True))["Michael Jordan"] == \
            pytest.approx(2 + bias)

    ready = settle()  # the grid around -1, worked out while the handle has focus
    assert ready["values"] == pytest.approx(
        sorted(round(-1 + 0.05 * n, 2) for n in range(-8, 9) if n)), ready
    received = ready["received"]

    def press(key: str, bias: float, hits: int) -> dict:
        handle.press(key)
        got = settle()
        assert got["hits"] == hits and got["keys"][-1]["patchInTask"], (key, got)
        assert got["received"] == received, "Python sent a step the page had drawn"
        assert f"bias={bias}" in got["search"] or (bias == -1 and "bias" not in got["search"])
        shows(bias)
        return got

    press("ArrowRight", -0.95, 1)
    press("ArrowLeft", -1, 2)  # back to where the grid began
    press("ArrowLeft", -1.05, 3)
    press("PageUp", -0.8, 4)  # five steps at once
    up = press("ArrowRight", -0.75, 5)
    assert -0.35 in [round(v, 2) for v in up["values"]]  # the grid grew ahead
    # A key held down: five presses, each made while Python is busy with the
    # one before; each is drawn in its own task.
    handle.evaluate("""(el) => new Promise((done) => {
      let n = 0;
      const key = () => {
        el.dispatchEvent(new KeyboardEvent("keydown",
          { key: "ArrowRight", bubbles: true, composed: true }));
        if (++n < 5) setTimeout(key, 8); else done();
      };
      key();
    })""")
    held = settle()
    assert len(held["keys"]) == len(up["keys"]) + 5
    assert held["hits"] == 10 and all(k["patchInTask"] for k in held["keys"][-5:]), held
    assert held["received"] == received
    assert "bias=-0.5" in held["search"], held["search"]
    shows(-0.5)
    # Another control moves the state: the grid no longer fits and goes.
    w.page.get_by_role("button", name="GELU", exact=True).click()
    w.wait_for("return /activation=gelu/.test(location.search)")
    assert settle()["values"] == []
    handle.focus()  # back on the slider: a new grid, from here
    again = settle()
    assert len(again["values"]) == 16
    handle.press("ArrowLeft")
    after = settle()
    assert after["hits"] == 11 and after["keys"][-1]["patchInTask"]
    assert after["received"] == again["received"]
    shows(-0.55, "gelu")
    # A drag: the mouse moves the handle a few steps right and part of the
    # way back. Each value it passes is drawn from the grid (a drag sets
    # `value` alone, and `value_throttled` on release), and Python, making
    # the same steps, has nothing to send back.
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    w.page.mouse.move(x, y)
    w.page.mouse.down()
    for dx in (3, 6, 9, 12, 15, 12, 9):
        w.page.mouse.move(x + dx, y)
        time.sleep(0.05)
    w.page.mouse.up()
    dragged = settle()
    assert dragged["hits"] >= after["hits"] + 3, dragged
    assert dragged["received"] == after["received"], "Python resent a value the drag drew"
    bias = float(re.search(r"bias=(-?[0-9.]+)", dragged["search"]).group(1))
    assert bias > -0.55
    slider_value = w.page.evaluate("""() => [...window.wfl.doc.all_models].find(
      (m) => m.type === "Slider" && m.title === "Bias (threshold)").value""")
    assert slider_value == pytest.approx(bias)  # (aria-valuenow is rounded to 0.1)
    shows(bias, "gelu")


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


CONTROL = re.compile(r"\s*- (slider|checkbox|textbox|combobox|button|radio|spinbutton)\b")


def test_every_control_has_an_accessible_name_and_takes_focus(watched) -> None:
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    w.wait_for("return window.wfl.labelledAt > window.wfl.marks.live")
    snapshot = w.page.locator("body").aria_snapshot()
    controls = [ln.strip() for ln in snapshot.splitlines()
                if CONTROL.match(ln)]
    assert len(controls) > 30, "the page has its controls"
    unnamed = [c for c in controls if not re.match(r'- \w+ "[^"]+"', c)]
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    # The slider is reachable by its visible label, and moves from the keyboard.
    bias = w.page.get_by_role("slider", name="Bias (threshold)")
    before = bias.get_attribute("aria-valuenow")
    bias.focus()
    bias.press("ArrowLeft")
    w.wait_for("return !window.wfl.busy")
    assert bias.get_attribute("aria-valuenow") != before


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


def test_a_control_moved_before_python_is_up_is_not_lost(watched) -> None:
    """A name typed into the snapshot before Python is up reaches Python once it is."""
    w = watched
    w.page.goto(w.base)
    w.wait_for("return window.wfl && window.wfl.marks.prerendered")
    if w.page.evaluate("() => window.wfl.live"):
        pytest.skip("Python was up before the snapshot could be touched")
    box = w.page.locator(NAME_INPUT)
    box.fill("Michael Phelps")
    wfl = w.wait_live()
    assert wfl["hydrated"] is True
    wait_activations(w, expected_activations("Michael Phelps"))
    assert w.page.locator(NAME_INPUT).input_value() == "Michael Phelps"
    wait_text(w, ".wfl-answer", "swimming")


# Put before the worker's own script: the worker stays busy for a moment as
# a "rendered" message arrives (a slow machine, as on CI), so whatever the
# page sends next is already waiting when the worker starts on it.
SLOW_WORKER_SHIM = """(() => {
  let handler = null;
  Object.defineProperty(self, "onmessage", {
    configurable: true,
    get() { return handler; },
    set(fn) {
      handler = fn;
      self.addEventListener("message", (e) => {
        if (e.data && e.data.type === "rendered") {
          const until = performance.now() + 200;
          while (performance.now() < until);
        }
        fn.call(self, e);
      });
    },
  });
})();
"""


@pytest.mark.parametrize("query", ["", "?show=recall"])
def test_a_change_sent_as_the_document_is_linked_waits_for_the_link(watched, query) -> None:
    """The page links its document ("rendered") and may send a change at
    once; Python awaits while linking, and a patch handled in between met no
    link: a NameError that CI caught once. Here the page sets a name in the
    very task that posts "rendered", on a worker slow to pick it up: the
    name must reach Python, with no error in the page."""
    w = watched

    def slow_worker(route) -> None:
        body = route.fetch().text()
        route.fulfill(body=SLOW_WORKER_SHIM + body, content_type="text/javascript")

    w.page.route("**/worker.js", slow_worker)
    w.page.add_init_script("""(() => {
      const post = Worker.prototype.postMessage;
      Worker.prototype.postMessage = function (msg, ...rest) {
        post.call(this, msg, ...rest);
        if (msg && msg.type === "rendered") {
          const box = [...window.wfl.doc.all_models].find(
            (m) => typeof m.placeholder === "string" && m.placeholder.startsWith("Type a name"));
          box.setv({ value: "Michael Phelps", value_input: "Michael Phelps" });
          window.wflRaced = (window.wflRaced || 0) + 1;
        }
      };
    })();""")
    w.page.goto(w.base + query)
    w.wait_live()
    assert w.page.evaluate("() => window.wflRaced") == 1
    assert w.page.evaluate("() => window.wfl.patchesSent") >= 1
    wait_activations(w, expected_activations("Michael Phelps"))
    wait_text(w, ".wfl-answer", "swimming")


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


HEADER_SIZES_JS = """() => ["#wfl-status", ".wfl-share"].map(
  (sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize))"""


def test_presenter_page_fits_the_screen_width(watched) -> None:
    """Projector-size boxes and menus must not widen the page past the
    screen (Bokeh adds fixed widths up for a row's minimum). The header's
    status line and share button are projector size too, and only there."""
    w = watched
    w.page.set_viewport_size({"width": 1280, "height": 800})
    w.page.goto(w.base + "?presenter=1")
    w.wait_live()
    scroll, client = w.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"the page is {scroll}px wide on a {client}px screen"
    assert all(px >= 22 for px in w.page.evaluate(HEADER_SIZES_JS))
    w.page.goto(w.base + "?show=recall")
    w.wait_live()
    assert all(px < 16 for px in w.page.evaluate(HEADER_SIZES_JS))


HEATMAP_CELLS_JS = """(scroll) => {
  // Section 1's heatmap: the width of one cell on screen, the widest number
  // written in a cell in the glyph's own font, and whether the last paint
  // drew the numbers (build/web/loader.js, fitCellText).
  const find = (views) => {
    for (const v of views) {
      const title = v.model && v.model.title ? String(v.model.title.text) : "";
      if (title.startsWith("Vectors read")) return v;
      const inner = v.child_views ? find(v.child_views) : null;
      if (inner) return inner;
    }
    return null;
  };
  const fig = find(Bokeh.index.roots || []);
  if (scroll) fig.el.scrollIntoView();
  const text = [...fig.renderer_views.values()]
    .find((r) => r.glyph && r.glyph.model.type === "Text");
  const ctx = document.createElement("canvas").getContext("2d");
  text.glyph.visuals.text.set_vectorize(ctx, 0);
  const labels = text.model.data_source.data.text.filter((t) => t);
  return {cell: fig.frame.bbox.width / fig.model.x_range.factors.length, font: ctx.font,
          widest: Math.max(...labels.map((t) => ctx.measureText(t).width)),
          count: labels.length, drawn: text.glyph.wflCellsFit};
}"""


FIGURE_TEXT_JS = """() => {
  // Each figure's title (page text above it) and axis labels (drawn on its
  // canvas, centred on the plot area, a line per "\\n"): how far each runs
  // past the left or right edge of what shows it, in px (0 if it fits).
  const out = { titles: [], labels: [], titled: 0 };
  const ctx = document.createElement("canvas").getContext("2d");
  const figures = [];
  const walk = (views) => {
    for (const v of views) {
      if (!v || !v.model) continue;
      if (v.model.type === "Figure" && v.frame) figures.push(v);
      if (v.child_views) walk(v.child_views);
    }
  };
  walk(Bokeh.index.roots || []);
  const px = (size) => parseFloat(size) * (String(size).endsWith("pt") ? 4 / 3 : 1);
  out.rows = [];
  for (const v of figures) {
    if (v.model.title && v.model.title.text) out.titled += 1;
    const frame = v.frame.bbox, width = v.bbox.width;
    // A categorical y axis of plain names: the height of a row against the
    // height of its label's type.
    const factors = v.model.y_range.factors;
    if (factors && factors.length && factors.every((f) => typeof f === "string")) {
      out.rows.push({ title: v.model.title.text, row: frame.height / factors.length,
        type: px(v.model.left[0].major_label_text_font_size) });
    }
    // Numbers drawn by a text glyph (a bar's count, a cell's value), as
    // last painted: how far past the canvas's edges (glyphs the page leaves
    // out where they do not fit are not drawn there at all).
    for (const r of v.renderer_views.values()) {
      const g = r.glyph;
      if (!g || g.model.type !== "Text" || g.model.tags.includes("wfl-fit-cells") || !g.swidth) {
        continue;
      }
      const align = g.model.text_align.value, dx = g.model.x_offset.value || 0;
      for (let i = 0; i < g.sx.length; i++) {
        const w = g.swidth[i] || 0;
        const left = g.sx[i] + dx - (align === "center" ? w / 2 : align === "right" ? w : 0);
        out.labels.push({ line: `text ${i} of ${v.model.title.text}`,
          over: Math.max(0, -left, left + w - width) });
      }
    }
    for (const axis of [...v.model.below, ...v.model.above]) {
      if (!axis.axis_label) continue;
      ctx.font = `${axis.axis_label_text_font_style} ${axis.axis_label_text_font_size} `
        + axis.axis_label_text_font;
      for (const line of String(axis.axis_label).split("\\n")) {
        const w = ctx.measureText(line).width, mid = frame.x + frame.width / 2;
        out.labels.push({ line, over: Math.max(0, w / 2 - mid, mid + w / 2 - width) });
      }
    }
  }
  const heads = [];
  const find = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.classList.contains("wfl-figure-title") && el.shadowRoot) {
        heads.push(...el.shadowRoot.querySelectorAll("[role=heading]"));
      }
      if (el.shadowRoot) find(el.shadowRoot);
    }
  };
  find(document);
  const page = document.documentElement.clientWidth;
  for (const h of heads) {
    const r = h.getBoundingClientRect();
    out.titles.push({ text: h.textContent, level: h.getAttribute("aria-level"),
      over: Math.max(0, h.scrollWidth - h.clientWidth, r.right - page, -r.left) });
  }
  return out;
}"""


@pytest.mark.parametrize(("query", "width"), [
    ("", 1024), ("?presenter=1", 1024), ("", 700), ("?show=neuron&prose=0", 700), ("", 420),
    ("", 360)])
def test_page_fits_a_projector_or_a_blog_column(watched, query, width) -> None:
    """The page fits a 1024px projector (presenter mode too), a 700px
    column (an iframe in a post, half a laptop screen) and a 420px phone
    without scrolling sideways. Section 8's six 170px boxes, given to Panel
    as widths, made every enclosing layout at least 1020px wide; the boxes
    still wrap onto as many lines as fit. Section 2's neuron menu,
    nonlinearity buttons and reset button wrap too (the reset button was cut
    off in a 700px embed), and so do section 6's method buttons and section
    7's (they ran 100px off a phone's screen). Figures side by side on a
    wide screen are stacked on a phone, each at full width."""
    w = watched
    w.page.set_viewport_size({"width": width, "height": 768})
    w.page.goto(w.base + query)
    w.wait_live()
    # Every section laid out: one skipped far from the screen adds no width.
    w.page.evaluate("() => window.wfl.skipOffScreen && window.wfl.skipOffScreen(false)")
    time.sleep(0.3)
    scroll, client = w.page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"the page is {scroll}px wide on a {client}px screen"
    plane = w.page.evaluate(FIGURE_BOX_JS, "Where the neuron fires")["box"]
    curve = w.page.evaluate(FIGURE_BOX_JS, "The nonlinearity")["box"]
    if width < 600:
        assert plane["y"] + plane["height"] <= curve["y"] + 1, (plane, curve)
        assert plane["width"] > 0.8 * width and curve["width"] > 0.8 * width, (plane, curve)
    else:
        assert curve["x"] >= plane["x"] + plane["width"] - 1, (plane, curve)
    # Every figure's title and axis labels are whole: a title is page text
    # that wraps (Bokeh's own, drawn from the plot area's left edge, lost its
    # end on a phone and at presenter size: "This neuron, name by nam").
    text = w.page.evaluate(FIGURE_TEXT_JS)
    assert len(text["titles"]) == text["titled"] >= 4, text
    assert all(t["level"] == "3" and t["over"] <= 1 for t in text["titles"]), text["titles"]
    assert [x for x in text["labels"] if x["over"] > 1] == [], text["labels"]
    drawn = {x["line"].split(" of ")[-1] for x in text["labels"] if x["line"].startswith("text")}
    if "show=" not in query:  # the cells' and the bars' numbers were measured
        assert {"Cosine between directions", "Where the parameters are"} <= drawn, drawn
    assert len(text["rows"]) >= (1 if "show=" in query else 4), text["rows"]
    assert [r for r in text["rows"] if r["row"] < r["type"]] == [], text["rows"]
    if "show=" in query:
        return
    # The heatmap's numbers fit their cells ("1.01.0" ran together at
    # presenter size on a 1024px projector when both stages sat side by
    # side); on a phone, where no number fits, they are left out.
    w.page.evaluate(HEATMAP_CELLS_JS, True)
    w.wait_for("return (" + HEATMAP_CELLS_JS + ")(false).drawn !== undefined")
    cells = w.page.evaluate(HEATMAP_CELLS_JS, False)
    assert cells["count"] >= 5
    if width >= 700:
        assert cells["widest"] + 6 <= cells["cell"], cells
        assert cells["drawn"] is True, cells
    else:
        assert cells["widest"] + 4 > cells["cell"], cells
        assert cells["drawn"] is False, cells
    boxes = w.page.locator(".wfl-params input.bk-input")
    assert boxes.count() == 6
    tops = {round(boxes.nth(i).bounding_box()["y"]) for i in range(6)}
    widths = {round(boxes.nth(i).bounding_box()["width"]) for i in range(6)}
    assert len(tops) >= 2, "six boxes on one line do not fit this width"
    assert len(widths) == 1 and 150 <= widths.pop() <= 170


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


def test_sections_off_screen_catch_up_when_scrolled_to(watched) -> None:
    """Python redraws only what the reader can see: a figure off screen keeps
    its data through slider steps, then shows what a fresh page shows for the
    same state once it is scrolled into view."""
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")  # scrolls the neuron section into view
    assert "edit" not in w.page.evaluate("() => window.wfl.onScreen")
    before = w.source("shift")
    for _ in range(6):
        handle.press("ArrowLeft")
    w.wait_for("return /bias=-1\\.3/.test(location.search)")
    w.wait_idle()
    assert w.source("shift") == before, "an off-screen figure was redrawn"
    w.page.locator(".wfl-edit-result").first.scroll_into_view_if_needed()
    w.wait_for("return window.wfl.onScreen.includes('edit')")
    deadline = time.monotonic() + 20
    while w.source("shift") == before and time.monotonic() < deadline:
        time.sleep(0.1)
    caught_up = w.source("shift")
    assert caught_up != before
    w.page.goto(w.page.url)  # the same state, built from the link
    w.wait_live()
    fresh = w.source("shift")
    assert fresh["name"] == caught_up["name"]
    assert fresh["shift"] == pytest.approx(caught_up["shift"], abs=1e-12)
    assert fresh["after"] == pytest.approx(caught_up["after"], abs=1e-12)


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


def test_controls_are_renamed_when_their_labels_change(watched) -> None:
    """A neuron's sliders are named after its names: switching the neuron
    renames them, and the accessible names follow the visible labels."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.get_by_role("slider", name="Row: weight on Serena", exact=True).count() == 0
    select = w.page.locator("select").first
    value = select.evaluate(
        "s => [...s.options].find(o => o.textContent.startsWith('3:')).value")
    select.select_option(value)
    w.wait_for("return window.wfl.busy === false && /neuron=3/.test(location.search)")
    deadline = time.monotonic() + 10
    named = w.page.get_by_role("slider", name="Row: weight on Serena", exact=True)
    while named.count() != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert named.count() == 1
    assert w.page.get_by_role("slider", name="Row: weight on Michael", exact=True).count() == 0


STYLES_JS = """(mark) => {
  // Every renderer's CSS-position stylesheet, in every shadow root.
  const sheets = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (!el.shadowRoot) continue;
      sheets.push(...el.shadowRoot.querySelectorAll("style[data-css=position]"));
      walk(el.shadowRoot);
    }
  };
  walk(document);
  if (mark) {
    window.__sheets = sheets.map((s) => [s, s.firstChild, s.textContent]);
    return sheets.length;
  }
  let changed = 0, replaced = 0, kept = 0;
  for (const [s, node, text] of window.__sheets) {
    if (s.textContent !== text) changed += 1;
    else if (s.firstChild !== node) replaced += 1;
    else kept += 1;
  }
  return {changed, replaced, kept};
}"""


GLYPH_BOX_JS = """(fill) => {
  // The position stylesheet of the bars of "This neuron, name by name"
  // (their data's extent moves with the bias); with `fill`, something is
  // put in the renderer's box first.
  const find = (views) => {
    for (const v of views) {
      if (v.model && v.model.title && v.model.title.text === "This neuron, name by name") return v;
      const inner = v.child_views ? find(v.child_views) : null;
      if (inner) return inner;
    }
    return null;
  };
  const bars = [...find(Bokeh.index.roots || []).renderer_views.values()]
    .filter((r) => r.glyph && r.glyph.model.type === "HBar")[1];
  const root = bars.el.shadowRoot;
  if (fill && !root.querySelector(".wfl-test")) {
    const el = document.createElement("div");
    el.className = "wfl-test";
    root.appendChild(el);
  }
  return root.querySelector("style[data-css=position]").textContent;
}"""


def test_a_repaint_rewrites_only_stylesheets_that_change(watched) -> None:
    """BokehJS rewrote every renderer's position stylesheet on each paint,
    unchanged or not, and each rewrite made the next style read recalculate
    the page's styles (build/web/loader.js, tuneBokeh). After slider steps
    that repaint the neuron section's figures, a stylesheet whose text is
    the same keeps its very text node. A glyph renderer's box, an empty
    element over the canvas, stays where it was first placed while its data
    moves; one that holds an element moves with its data again."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.tunedBokeh") is True
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    assert w.page.evaluate(STYLES_JS, True) > 20
    box = w.page.evaluate(GLYPH_BOX_JS, False)
    post = w.source("post")["post"]
    step_right(w, handle, 3)
    assert w.source("post")["post"] != post, "the bars' data did not move"
    counts = w.page.evaluate(STYLES_JS, False)
    assert counts["replaced"] == 0, counts  # nothing rewritten with equal text
    assert counts["changed"] == 0 and counts["kept"] > 20, counts  # empty boxes stay
    assert w.page.evaluate(GLYPH_BOX_JS, True) == box
    step_right(w, handle, 3)
    assert w.page.evaluate(GLYPH_BOX_JS, False) != box  # a box with content moves


LEGEND_JS = """(title) => {
  // The legend view of the figure with this title, from BokehJS's views.
  const find = (views) => {
    for (const v of views) {
      if (v.model && v.model.title && v.model.title.text === title && v.renderer_views) {
        return [...v.renderer_views.values()].find((r) => r.model.type === "Legend");
      }
      const inner = v.child_views ? find(v.child_views) : null;
      if (inner) return inner;
    }
    return null;
  };
  return find(Bokeh.index.roots || []);
}"""

LEGEND_STATE_JS = """([title, mark]) => {
  const legend = (""" + LEGEND_JS + """)(title);
  const entry = legend.entries[0];
  const canvas = entry.glyph.canvas;
  const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked += 1;
  if (mark) window.__entry = entry.el;
  const data = legend.model.items[0].renderers[0].data_source.data;
  const edge = Array.from(data instanceof Map ? data.get("x") : data.x);
  return {same: entry.el === window.__entry, connected: entry.el.isConnected, inked,
          label: entry.label_el.textContent, edge};
}"""


def test_legend_entries_are_kept_across_data_steps_and_rebuilt_for_new_labels(watched) -> None:
    """BokehJS rebuilt a legend's entries (new canvases and elements) on every
    data change behind its renderers (build/web/loader.js, keepLegends). After
    slider steps that move the plane's dashed edge, its legend entry is the
    same element, still on the page, its line sample still drawn; a new label
    still rebuilds it. The figures' base font size is asked once and equals
    the computed style (cacheFontSize)."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    flags = w.page.evaluate("() => [window.wfl.keptLegends, window.wfl.cachedFontSize]")
    assert flags == [True, True]
    title = "Where the neuron fires"
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    before = w.page.evaluate(LEGEND_STATE_JS, [title, True])
    assert before["label"] == "row · x + bias = 0" and before["inked"] > 10, before
    step_right(w, handle, 3)
    after = w.page.evaluate(LEGEND_STATE_JS, [title, False])
    assert after["edge"] != before["edge"], "the edge did not move"
    assert after["same"] and after["connected"] and after["inked"] > 10, after
    w.page.evaluate("""(title) => {
      const legend = (""" + LEGEND_JS + """)(title);
      legend.model.items[0].label = {value: "a new label"};
    }""", title)
    time.sleep(0.3)
    rebuilt = w.page.evaluate(LEGEND_STATE_JS, [title, False])
    assert not rebuilt["same"] and rebuilt["connected"] and rebuilt["label"] == "a new label"
    sizes = w.page.evaluate("""(title) => {
      const plot = (""" + LEGEND_JS + """)(title).parent;
      return [plot.base_font_size, parseFloat(getComputedStyle(plot.el).fontSize)];
    }""", title)
    assert sizes[0] == sizes[1] and sizes[0] > 0, sizes


# The view of the model with id `id` (a JS expression, for inside a function).
VIEW_BY_ID_JS = """((find) => find(find, Bokeh.index.roots || []))((find, views) => {
  for (const v of views) {
    if (v.model && v.model.id === id) return v;
    const inner = v.child_views ? find(find, v.child_views) : null;
    if (inner) return inner;
  }
  return null;
})"""

COUNT_PAINTS_JS = """() => {
  // Count BokehJS paints by figure id (the test's own wrapper).
  const view = Bokeh.require("models/plots/plot_canvas").PlotView.prototype;
  const paint = view.paint;
  window.paints = new Map();
  view.paint = function () {
    window.paints.set(this.model.id, (window.paints.get(this.model.id) || 0) + 1);
    return paint.call(this);
  };
}"""

FIGURE_JS = """(title) => {
  const fig = [...window.wfl.doc.all_models].find(
    (m) => m.title && m.title.text === title && m.renderers);
  return {id: fig.id, paints: window.paints.get(fig.id) || 0};
}"""


def test_figures_off_screen_paint_when_they_come_into_view(watched) -> None:
    """With the bias slider in view, the sport chart of section 1 (above the
    screen) gets each step's new data but is painted only once scrolled to;
    the neuron section's plane, in view, is painted on every step."""
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.paintNear") is True
    w.page.evaluate(COUNT_PAINTS_JS)
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    sport, plane = "Next-token guess (softmax over sports)", "Where the neuron fires"
    far, seen = (w.page.evaluate(FIGURE_JS, t) for t in (sport, plane))
    probs = w.source("prob")["prob"]
    step_right(w, handle, 4)
    assert w.source("prob")["prob"] != probs, "Python did not redraw section 1"
    assert w.page.evaluate(FIGURE_JS, sport)["paints"] == far["paints"]
    assert w.page.evaluate(FIGURE_JS, plane)["paints"] >= seen["paints"] + 4
    # A paint BokehJS waits on to call the figure finished is never held
    # back, far or not: the document's idle state (and with it Panel's
    # address bar) depends on it.
    w.page.evaluate("""(id) => {
      const view = """ + VIEW_BY_ID_JS + """;
      view.notify_finished_after_paint();
      view.request_paint();
    }""", far["id"])
    w.wait_for(f"return (window.paints.get('{far['id']}') || 0) > {far['paints']}")
    far = w.page.evaluate(FIGURE_JS, sport)
    w.page.evaluate("() => window.scrollTo(0, 0)")
    w.wait_for(f"return (window.paints.get('{far['id']}') || 0) > {far['paints']}")


BACK_TO_BACK_JS = """(id) => new Promise((resolve) => {
  // Ask the figure to paint, and again the moment the frame that painted it
  // is over: each time, its paints once the next frame is over, and how
  // many timers the request set (BokehJS's throttle sets one when asked
  // within 1000/60 ms of the last paint, and paints a frame or two later).
  const view = """ + VIEW_BY_ID_JS + """;
  const count = () => window.paints.get(id) || 0;
  const set = window.setTimeout;
  const out = [[count(), 0]];
  const ask = (left) => {
    let timers = 0;
    window.setTimeout = (...args) => { timers += 1; return set(...args); };
    try {
      view.request_paint();
    } finally {
      window.setTimeout = set;
    }
    requestAnimationFrame(() => set(() => {
      out.push([count(), timers]);
      if (left > 1) ask(left - 1); else resolve(out);
    }, 0));
  };
  ask(3);
})"""


def test_a_figure_asked_again_soon_after_a_paint_paints_in_the_next_frame(watched) -> None:
    """BokehJS holds a figure's paint back until 1000/60 ms after its last
    one, by a timer and then a frame: a slider step coming just after a
    paint was drawn a frame late. The page paints each asked figure in the
    coming frame (loader.js, paintInNextFrame): asked three times, each as
    soon as the frame before is over, the plane is painted in each next
    frame, and no request sets a timer (without the change, the second and
    third did)."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.paintNextFrame") is True
    w.page.evaluate(COUNT_PAINTS_JS)
    plane = w.page.evaluate(FIGURE_JS, "Where the neuron fires")
    out = w.page.evaluate(BACK_TO_BACK_JS, plane["id"])
    assert [n - out[0][0] for n, _ in out] == [0, 1, 2, 3], out
    assert [timers for _, timers in out] == [0, 0, 0, 0], out


LEAK_NUMBERS_JS = """(scroll) => {
  // Section 3's leak chart: whether its last paint drew the numbers on the
  // bars (loader.js, fitCellText), after scrolling it into view if asked.
  const id = [...window.wfl.doc.all_models].find((m) => m.title
    && m.title.text === "Michael Jordan neuron: the leak" && m.renderers).id;
  const view = """ + VIEW_BY_ID_JS + """;
  if (scroll) view.el.scrollIntoView();
  const text = [...view.renderer_views.values()]
    .find((r) => r.glyph && r.glyph.model.type === "Text");
  return text.glyph.wflCellsFit;
}"""


@pytest.mark.parametrize(("query", "width", "drawn"), [
    ("?show=embedding&presenter=1", 1024, False), ("?show=embedding", 1280, True)])
def test_leak_numbers_are_drawn_only_where_they_fit(watched, query, width, drawn) -> None:
    """At presenter size on a 1024 px projector the numbers on the leak
    chart's bars ran together ("1.001.00"): they are left out where a bar is
    narrower than its number, and drawn where it is not."""
    w = watched
    w.page.set_viewport_size({"width": width, "height": 768})
    w.page.goto(w.base + query)
    w.wait_live()
    w.page.evaluate(LEAK_NUMBERS_JS, True)
    w.wait_for("return (" + LEAK_NUMBERS_JS + ")(false) !== undefined")
    assert w.page.evaluate(LEAK_NUMBERS_JS, False) is drawn

SECTION_HEIGHTS_JS = """() => {
  // Each section's height as the page lays it out, and as it would be with
  // its contents always rendered (the check puts the style back).
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.classList.contains("wfl-section")) {
        const skipping = getComputedStyle(el).contentVisibility;
        const kept = el.getBoundingClientRect().height;
        el.style.contentVisibility = "visible";
        const drawn = el.getBoundingClientRect().height;
        el.style.contentVisibility = "";
        el.style.contentVisibility = skipping;
        out.push({key: el.className, skipping, kept, drawn});
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out;
}"""

FIGURE_BOX_JS = """(title) => {
  // Whether the browser renders the figure with this title, and its box.
  const find = (views) => {
    for (const v of views) {
      if (v.model && v.model.title && v.model.title.text === title && v.canvas_view) return v;
      const inner = v.child_views ? find(v.child_views) : null;
      if (inner) return inner;
    }
    return null;
  };
  const el = find(Bokeh.index.roots || []).el;
  const r = el.getBoundingClientRect();
  return {rendered: el.checkVisibility({contentVisibilityAuto: true}),
          box: {x: r.x, y: r.y, width: r.width, height: r.height}};
}"""


def test_sections_far_from_the_screen_are_skipped_and_keep_their_height(watched) -> None:
    """Once live, the browser skips rendering the sections far from the
    screen (loader.js, skipOffScreenSections): at the top of the full page,
    section 1's figures are rendered and section 7's are not. Every section
    is as tall as it would be rendered, so the scroll bar and links land
    where they would. Scrolled to, section 7's figure is rendered and shows
    on screen: its box holds ink (axes, bars), not just the page's white.
    Printing renders every section (a full-page capture showed skipped ones
    blank). A page of one section (an embed) skips nothing."""
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.skipsOffScreen") is True
    sections = w.page.evaluate(SECTION_HEIGHTS_JS)
    assert len(sections) == len(SECTIONS), sections
    for s in sections:
        assert s["skipping"] == "auto", s
        assert s["kept"] == pytest.approx(s["drawn"], abs=1.0), s
    near = "Next-token guess (softmax over sports)"
    far = SuperpositionSection(AppState()).full_fig.title.text  # section 7's first figure
    assert w.page.evaluate(FIGURE_BOX_JS, near)["rendered"] is True
    assert w.page.evaluate(FIGURE_BOX_JS, far)["rendered"] is False
    y = w.page.evaluate(FIGURE_BOX_JS, far)["box"]["y"]
    w.page.evaluate(f"() => window.scrollBy(0, {y} - 200)")
    w.wait_for("return (" + FIGURE_BOX_JS + ")(" + json.dumps(far) + ").rendered")
    time.sleep(0.5)
    box = w.page.evaluate(FIGURE_BOX_JS, far)["box"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= 900, box
    img = Image.open(BytesIO(w.page.screenshot(clip=box))).convert("L")
    ink = sum(1 for v in img.tobytes() if v < 200)
    assert ink > 0.02 * img.width * img.height, (ink, img.size)
    # Printing renders every section, and skipping resumes afterwards.
    styles = "() => (" + SECTION_HEIGHTS_JS + ")().map((s) => s.skipping)"
    w.page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    assert w.page.evaluate(styles) == ["visible"] * len(SECTIONS)
    assert w.page.evaluate("() => window.wfl.skipsOffScreen") is False
    w.page.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
    assert w.page.evaluate(styles) == ["auto"] * len(SECTIONS)
    # An embed of one section has nothing far from the screen to skip.
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.skipsOffScreen") is False
    assert w.page.evaluate(styles) == ["visible"]


FRAME_PAINTS_JS = """() => {
  // Record each BokehJS paint with the number of the frame it ran in.
  let frame = 0;
  const tick = () => { frame += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const view = Bokeh.require("models/plots/plot_canvas").PlotView.prototype;
  const paint = view.paint;
  window.framePaints = [];
  view.paint = function () {
    window.framePaints.push([this.model.title ? this.model.title.text : "", frame]);
    return paint.call(this);
  };
}"""


def test_a_figure_just_below_the_screen_is_painted_a_frame_later(watched) -> None:
    """A figure within 100px of the screen but not on it (here the sport
    writes chart, 40px below the bottom edge) still gets each step's
    paint, so a scroll finds it drawn, but in a frame after the one that
    paints the figures on screen (the plane), which thus does not wait
    for it."""
    w = watched
    w.page.goto(w.base)
    w.wait_live()
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    plane, writes = "Where the neuron fires", "What it writes, along each sport"
    w.page.evaluate("""(title) => {
      const fig = [...window.wfl.doc.all_models].find((m) => m.title && m.title.text === title);
      const find = (views) => {
        for (const v of views) {
          if (v.model === fig) return v;
          const inner = v.child_views ? find(v.child_views) : null;
          if (inner) return inner;
        }
        return null;
      };
      const top = find(Bokeh.index.roots).el.getBoundingClientRect().top;
      window.scrollBy(0, top - (innerHeight + 40));
    }""", writes)
    time.sleep(0.5)
    w.wait_idle()
    w.page.evaluate(FRAME_PAINTS_JS)
    deferred = w.page.evaluate("() => window.wfl.paintsDeferred")
    step_right(w, handle, 3)
    paints = w.page.evaluate("() => window.framePaints")
    plane_frames = [f for t, f in paints if t == plane]
    writes_frames = [f for t, f in paints if t == writes]
    assert len(plane_frames) >= 3 and len(writes_frames) >= 3, paints
    assert not set(plane_frames) & set(writes_frames), paints
    assert w.page.evaluate("() => window.wfl.paintsDeferred") >= deferred + 3


PLOT_LAYERS_JS = """() => {
  // Every figure's view, from BokehJS's views, with its two canvas layers.
  const plots = new Map();
  const walk = (views) => {
    for (const v of views) {
      if (typeof v._paint_overlays === "function") plots.set(v.model.id, v);
      if (v.child_views) walk(v.child_views);
    }
  };
  walk(Bokeh.index.roots || []);
  const inked = (canvas) => {
    const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n += 1;
    return n;
  };
  return [...plots.values()].map((v) => ({
    title: v.model.title ? v.model.title.text : "",
    overlays: getComputedStyle(v.canvas_view.overlays.el).display,
    primary: getComputedStyle(v.canvas_view.primary.el).display,
    overlaysInked: inked(v.canvas_view.overlays.canvas),
    primaryInked: inked(v.canvas_view.primary.canvas),
  }));
}"""


def test_empty_overlay_canvases_are_out_of_the_page_until_something_paints_there(watched) -> None:
    """Chromium copies every canvas of the page into a compositor resource on
    every frame, changed or not, and each figure had a second, always blank
    canvas for "overlay" renderers (build/web/loader.js, hideEmptyOverlays).
    Every figure's overlay layer is out of rendering and blank, its primary
    layer drawn; a renderer moved to the overlay level brings the layer
    back, with that renderer drawn on it."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.hidOverlays") is True
    layers = w.page.evaluate(PLOT_LAYERS_JS)
    assert len(layers) == 4, layers
    for fig in layers:
        assert fig["overlays"] == "none" and fig["overlaysInked"] == 0, fig
        assert fig["primary"] != "none" and fig["primaryInked"] > 1000, fig
    title = "Where the neuron fires"
    w.page.evaluate("""(title) => {
      const fig = [...window.wfl.doc.all_models].find(
        (m) => m.title && m.title.text === title && m.renderers);
      fig.center.find((m) => m.type === "LabelSet").level = "overlay";
    }""", title)
    w.wait_idle()
    w.wait_for("return (" + PLOT_LAYERS_JS + ")().some((f) => f.title === " + json.dumps(title)
               + ' && f.overlays !== "none" && f.overlaysInked > 100)')


BARS_JS = """([title, select]) => {
  // The first bar renderer of the figure with this title: its main glyph
  // view and its four spares, as BokehJS holds them.
  const find = (views) => {
    for (const v of views) {
      if (v.model && v.model.title && v.model.title.text === title && v.renderer_views) return v;
      const inner = v.child_views ? find(v.child_views) : null;
      if (inner) return inner;
    }
    return null;
  };
  const plot = find(Bokeh.index.roots || []);
  const bars = [...plot.renderer_views.values()]
    .find((r) => r.glyph && r.glyph.model.type === "HBar");
  if (select) bars.model.data_source.selected.indices = [0];
  const spares = ["decimated_glyph", "selection_glyph", "nonselection_glyph", "muted_glyph"];
  const tops = (g) => (g.stop ? Array.from(g.stop).map((x) => Math.round(x)) : null);
  return {
    main: tops(bars.glyph),
    right: Array.from(bars.glyph.right),
    resting: spares.map((s) => Boolean(bars[s].wflResting)),
    spares: spares.map((s) => tops(bars[s])),
  };
}"""


def test_spare_glyph_views_rest_until_a_selection_needs_them(watched) -> None:
    """BokehJS keeps four spare views of every glyph (selection, unselected,
    muted, coarse while dragging) up to date on every data change and paint;
    none is drawn on this page (build/web/loader.js, mainGlyphOnly). After
    slider steps the main view has the new bars and the spares rest; once a
    selection needs them they are brought up to date and drawn without
    error (the fixture fails on any console error)."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.mainGlyphOnly") is True
    title = "This neuron, name by name"
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    before = w.page.evaluate(BARS_JS, [title, False])
    step_right(w, handle, 3)
    after = w.page.evaluate(BARS_JS, [title, False])
    assert after["right"] != before["right"], "the bars did not move"
    assert after["resting"] == [True] * 4, after
    assert after["right"] == pytest.approx(w.source("pre")["pre"]), "main view not up to date"
    w.page.evaluate(BARS_JS, [title, True])
    w.wait_for("return (" + BARS_JS + ")([" + json.dumps(title) + ", false])"
               ".resting.every((r) => !r)")
    time.sleep(0.3)  # the repaint that follows
    woke = w.page.evaluate(BARS_JS, [title, False])
    assert woke["main"] is not None
    for tops in woke["spares"]:
        assert tops == woke["main"], woke


AXIS_PIXELS_JS = """() => {
  // Every figure on the page painted in full three times: axes drawn as
  // BokehJS draws them, then with their copies (one paint to make them, one
  // to use them). Before each paint the canvas is filled magenta, so a
  // paint that drew nothing shows. Two paints of one figure by BokehJS
  // alone are compared too: they must be equal for the comparison to mean
  // anything.
  const plots = [];
  const walk = (views) => {
    for (const v of views) {
      if (typeof v._paint_overlays === "function") plots.push(v);
      if (v.child_views) walk(v.child_views);
    }
  };
  walk(Bokeh.index.roots || []);
  const fresh = (v) => {
    const c = v.canvas_view.primary.canvas, ctx = c.getContext("2d");
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#ff00ff";
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.restore();
    v.invalidate_painters();
    v.repaint();
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    let magenta = 0;
    for (let k = 0; k < data.length; k += 4) {
      if (data[k] === 255 && data[k + 1] === 0 && data[k + 2] === 255) magenta += 1;
    }
    return { data, magenta };
  };
  const wfl = window.wfl;
  return plots.filter((v) => v.canvas_view && v.is_displayed).map((v) => {
    wfl.axisCache = false;
    const own = fresh(v), again = fresh(v);
    wfl.axisCache = true;
    fresh(v);
    const copies = wfl.axisCopies;
    const copied = fresh(v);
    // A colour bar draws an axis of its own, copied like the figure's.
    const axes = v.computed_renderer_views.filter((r) => r.model.type && r.model.visible
      && (/Axis$/.test(r.model.type) || r.model.type === "ColorBar")).length;
    let same = true, differ = 0, worst = 0;
    for (let k = 0; k < own.data.length; k++) {
      if (own.data[k] !== again.data[k]) same = false;
      const d = Math.abs(own.data[k] - copied.data[k]);
      if (d) { differ += 1; worst = Math.max(worst, d); }
    }
    return { title: v.model.title ? v.model.title.text : "", channels: own.data.length,
             magenta: [own.magenta, copied.magenta], same, differ, worst, axes,
             copies: wfl.axisCopies - copies };
  });
}"""


WIDEN_RANGE_JS = """() => {
  // Give the first figure with a fixed y range ends with long tick labels.
  const walk = (views) => {
    for (const v of views) {
      const range = v.frame && v.frame.y_range;
      if (range && range.type === "Range1d" && typeof v._paint_overlays === "function") {
        range.setv({start: -123456.5, end: 987654.25});
        return v.model.title ? v.model.title.text : "?";
      }
      const found = v.child_views ? walk(v.child_views) : null;
      if (found) return found;
    }
    return null;
  };
  return walk(Bokeh.index.roots || []);
}"""

AXIS_SIZES_JS = """() => {
  // Every axis's size as the page answers it (kept) and measured afresh.
  const out = [];
  const walk = (views) => {
    for (const v of views) {
      for (const r of v.computed_renderer_views || []) {
        if (typeof r._tick_label_extents !== "function") continue;
        const kept = r.get_size();
        window.wfl.axisCache = false;
        const measured = r.get_size();
        window.wfl.axisCache = true;
        const title = v.model.title ? v.model.title.text : "";
        out.push([[kept.width, kept.height], [measured.width, measured.height], title]);
      }
      if (v.child_views) walk(v.child_views);
    }
  };
  walk(Bokeh.index.roots || []);
  return out;
}"""


@pytest.mark.parametrize("query", ["", "?presenter=1&theme=dark"])
def test_axes_copied_from_their_own_canvas_look_as_bokeh_draws_them(watched, query) -> None:
    """Each axis is drawn once into a canvas of its own and copied onto its
    figure while nothing that decides its pixels changes (loader.js,
    cacheAxes). Slider steps reuse the copies; a range that moved (section
    1's neuron chart rescales with the activations) draws the axis again;
    and every figure of the page, painted with copies, is what BokehJS
    paints without them, slanted tick labels reaching past their axis
    included, up to rounding where a copy's text edge is blended in (at most
    one part in 2,000 of the channels, by at most 2 of 255). An axis's size
    is kept the same way, and after the ranges moved every kept size is
    what measuring the axis again gives."""
    w = watched
    w.page.goto(w.base + query)
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.cachedAxes") is True
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    counts = w.page.evaluate("() => [window.wfl.axisDraws, window.wfl.axisCopies]")
    step_right(w, handle, 4)
    later = w.page.evaluate("() => [window.wfl.axisDraws, window.wfl.axisCopies]")
    assert later[1] > counts[1], "no axis was copied on a slider step"
    w.page.evaluate("() => window.scrollTo(0, 0)")  # section 1, rescaled meanwhile
    w.wait_for("return window.wfl.onScreen.includes('recall')")
    w.wait_idle()
    time.sleep(0.5)
    assert w.page.evaluate("() => window.wfl.axisDraws") > later[0], "a moved range reused a copy"
    assert w.page.evaluate("() => window.wfl.axisSizesReused") > 0, "no axis size was kept"
    # A range whose new ends make its tick labels wider must widen its axis.
    widened = w.page.evaluate(WIDEN_RANGE_JS)
    assert widened, "no figure with a fixed range"
    time.sleep(0.5)
    sizes = w.page.evaluate(AXIS_SIZES_JS)
    assert len(sizes) >= 30, sizes
    for kept, measured, title in sizes:
        assert kept == measured, (title, kept, measured)
    figures = w.page.evaluate(AXIS_PIXELS_JS)
    assert len(figures) >= 15, [f["title"] for f in figures]
    for f in figures:
        assert f["same"], f"BokehJS painted {f['title']!r} two ways"
        # Above one device pixel per CSS pixel, BokehJS's half-pixel offset
        # leaves a figure's top row and left column of device pixels as they
        # were; every other pixel is painted.
        assert max(f["magenta"]) < f["channels"] / 4 / 100, f
        assert f["axes"] >= 1 and f["copies"] == f["axes"], f
        assert f["worst"] <= 2 and f["differ"] <= f["channels"] / 2000, f


COUNT_CHANNELS_JS = """() => {
  // Count the worker's messages by the way they reach the page.
  const boot = window.wflBoot, n = (window.__via = { channel: 0, worker: 0 });
  for (const [key, target] of [["channel", boot.channel], ["worker", boot.worker]]) {
    if (!target) continue;
    const handle = target.onmessage;
    target.onmessage = (event) => { n[key] += 1; return handle(event); };
  }
}"""


@pytest.mark.parametrize("channel", [True, False])
def test_the_worker_answers_on_the_pages_channel_or_else_by_postmessage(watched, channel) -> None:
    """The worker's messages reach the page on a BroadcastChannel of its own
    (chromium holds messages posted to a page from a key press until the
    key's frame is painted, and a channel's are not held; loader.js). A
    browser without BroadcastChannel gets them by postMessage; either way a
    slider step comes back and moves the bars."""
    w = watched
    if not channel:
        w.page.add_init_script("delete window.BroadcastChannel;")
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.channel") is channel
    w.page.evaluate(COUNT_CHANNELS_JS)
    handle = slider_handle(w, "Bias (threshold)")
    w.focus_settled(handle, "neuron")
    pre = w.source("pre")["pre"]
    step_right(w, handle, 2)
    assert w.source("pre")["pre"] != pre, "the step did not come back"
    via = w.page.evaluate("() => window.__via")
    if channel:
        assert via["channel"] >= 4 and via["worker"] == 0, via  # patch, address, idle x2
    else:
        assert via["worker"] >= 4 and via["channel"] == 0, via


def test_the_trace_follows_its_noise_slider_and_hands_its_fact_to_section_6(watched) -> None:
    """Section 10 from the keyboard: a step of the noise slider reruns the
    trace, and the map holds what toycore traces here for the new state; the
    button under the answer sets section 6's fact and brings it into view."""
    from app.trace import SAMPLES
    from toycore.trace import trace

    w = watched
    w.page.goto(w.base + "?tr_corrupt=noise&tr_text=Tiger+Woods+plays")
    w.wait_live()
    handle = slider_handle(w, "Noise, in standard deviations of the embeddings")
    w.focus_settled(handle, "trace")
    handle.press("ArrowRight")
    w.wait_for("return /tr_noise=3\\.5/.test(location.search)")
    w.wait_idle()
    want = trace(tc.ToyModel.default(), "Tiger Woods plays", "noise", 3.5, samples=SAMPLES)
    got = w.source("text_color")
    assert got["value"] == pytest.approx(want.restored.ravel().tolist(), abs=1e-9)
    cell = list(zip(got["word"], got["part"], strict=True)).index(
        ("Woods", "residual after the MLP"))
    assert got["label"][cell] == f"{100 * want.clean:.0f}%"
    assert "edit" not in w.page.evaluate("() => window.wfl.onScreen")
    button = w.page.get_by_role("button", name="Edit Tiger Woods's fact in section 6")
    button.focus()
    button.press("Enter")
    w.wait_for("return /edit_person=Tiger\\+Woods/.test(location.search)")
    w.wait_for("return window.wfl.onScreen.includes('edit')")
    wait_text(w, ".wfl-edit-result", "Tiger Woods was golf")
