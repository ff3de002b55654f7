"""Foresight: slider steps whose patches Python worked out ahead are drawn by the page
within the key press's own task."""

from __future__ import annotations

import re
import time

import pytest
from helpers import slider_handle

import toycore as tc

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
    values around it (app/worker/foresight.py, Grid) and the page keeps them. A
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
