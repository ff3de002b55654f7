"""Section 9 builds cheaply, trains when asked, and every figure's data
matches an independent numpy calculation from the embedding and weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bokeh.models import ColumnDataSource

import app.sae as A
import toycore as tc
from app.capacity import trained_model
from app.main import build_app
from app.state import AppState


def section(**kw) -> tuple[AppState, A.SAESection]:
    state = AppState(**kw)
    return state, A.SAESection(state)


def inputs_by_hand(model: tc.ToyModel) -> tuple[np.ndarray, list[set[str]]]:
    """Every lone name and first/last pairing, as the MLP reads them, and the
    names each holds: built here from the embedding alone."""
    e, s = model.embedding, model.cfg.attn_strength
    rows, holds = [], []
    for n in e.names_of_kind("first") + e.names_of_kind("last") + e.names_of_kind("unknown"):
        rows.append(e.vec(n))
        holds.append({n})
    for a in e.names_of_kind("first"):
        for b in e.names_of_kind("last"):
            rows.append(e.vec(b) + s * e.vec(a))
            holds.append({a, b} if s else {b})
    return np.array(rows), holds


def acts_of(sae: dict, x: np.ndarray, i: int) -> np.ndarray:
    return np.maximum((x - sae["b_dec"][i]) @ sae["W_enc"][i] + sae["b_enc"][i], 0)


def share_by_hand(acts: np.ndarray, holds: list[set[str]], names: list[str]) -> list[float]:
    out = []
    for j in range(acts.shape[1]):
        a = np.maximum(acts[:, j], 0)
        if a.sum() <= 0:
            out.append(math.nan)
            continue
        out.append(max(sum(a[i] for i in range(len(a)) if n in holds[i]) for n in names)
                   / a.sum())
    return out


def test_it_builds_untrained_and_starts_nothing() -> None:
    state, sec = section()
    assert sec.mine.steps == 0 and sec.sweep.steps == 0 and not sec.loop.running
    assert "Untrained" in sec.answer.text
    for source in (sec.curve, sec.point, sec.match_first, sec.match_last, sec.units):
        assert source.data and all(len(v) for v in source.data.values()), source.data
    # Every SAE starts from the same dictionary: the sweep's dots sit on yours.
    model = trained_model(state)
    x, _ = inputs_by_hand(model)
    centred = float(np.sum((x - x.mean(axis=0)) ** 2))
    for i in range(len(A.SWEEP)):
        a = acts_of(sec.sweep.params, x, i)
        recons = a @ sec.sweep.params["W_dec"][i] + sec.sweep.params["b_dec"][i]
        assert sec.curve.data["l0"][i] == pytest.approx(np.mean((a > 0).sum(axis=1)))
        assert sec.curve.data["fvu"][i] == pytest.approx(np.sum((x - recons) ** 2) / centred)
        assert sec.curve.data["l0"][i] == pytest.approx(sec.point.data["l0"][0])


def test_figures_match_an_independent_calculation() -> None:
    state, sec = section()
    sec.train_steps(max_steps=120)
    assert sec.mine.steps == 120 and sec.sweep.steps == 120
    model = trained_model(state)
    x, holds = inputs_by_hand(model)
    assert len(x) == len(sec.data.x) == 506
    names = sec.data.names
    # (b) each name's best cosine among the live features of your SAE.
    p = sec.mine.params
    acts = acts_of(p, x, 0)
    live = [j for j in range(acts.shape[1]) if acts[:, j].max() > 0]
    shown = dict(zip(sec.match_first.data["name"] + sec.match_last.data["name"],
                     sec.match_first.data["cos"] + sec.match_last.data["cos"], strict=True))
    assert sorted(shown) == sorted(names)
    for n in names:
        v = model.embedding.vec(n)
        best = max(float(v @ p["W_dec"][0][j]) / np.linalg.norm(p["W_dec"][0][j]) for j in live)
        assert shown[n] == pytest.approx(best, abs=1e-9), n
    firsts = model.embedding.names_of_kind("first")
    assert sec.match_first.data["name"] == firsts
    assert list(sec.match_figs[0].y_range.factors) == list(reversed(firsts))
    for src in (sec.match_first, sec.match_last):
        for c, color, kind in zip(src.data["cos"], src.data["color"], src.data["kind"],
                                  strict=True):
            assert (color, kind) == ((A.GOOD, A.RECOVERED) if c >= 0.9 else (A.QUIET, A.MISSED))
    # (a) the sweep's dots and your diamond: L0 and the unexplained variance.
    centred = float(np.sum((x - x.mean(axis=0)) ** 2))
    for i, lam in enumerate(A.SWEEP):
        a = acts_of(sec.sweep.params, x, i)
        recons = a @ sec.sweep.params["W_dec"][i] + sec.sweep.params["b_dec"][i]
        assert sec.curve.data["l0"][i] == pytest.approx(np.mean((a > 0).sum(axis=1)))
        assert sec.curve.data["fvu"][i] == pytest.approx(np.sum((x - recons) ** 2) / centred)
        assert sec.curve.data["l1"][i] == lam
    recons = acts @ p["W_dec"][0] + p["b_dec"][0]
    assert sec.point.data["fvu"][0] == pytest.approx(np.sum((x - recons) ** 2) / centred)
    assert sec.point.data["l0"][0] == pytest.approx(np.mean((acts > 0).sum(axis=1)))
    # (c) the neurons of section 5's model and the live features, each unit's
    # share of its firing on inputs holding its top name.
    mlp = model.mlp
    post = np.maximum(x @ mlp.W_up.T + mlp.b_up, 0)
    neurons = [s for s in share_by_hand(post, holds, names) if not math.isnan(s)]
    features = [s for s in share_by_hand(acts, holds, names) if not math.isnan(s)]
    u = sec.units.data
    got_f = [s for s, y in zip(u["share"], u["y"], strict=True) if abs(y) < 0.5]
    got_n = [s for s, y in zip(u["share"], u["y"], strict=True) if abs(y - 1) < 0.5]
    np.testing.assert_allclose(got_f, features, atol=1e-9)
    np.testing.assert_allclose(got_n, neurons, atol=1e-9)
    assert len(got_f) == len(live)


def test_an_untrained_sweep_beside_a_trained_sae_is_drawn_as_it_is() -> None:
    state, sec = section()
    sec.mine.update(30)  # as when a kept SAE comes back with a fresh sweep
    sec.train_steps(max_steps=0, curve_every=0.0)
    sec._draw(sweep=True)
    x, _ = inputs_by_hand(trained_model(state))
    for i in range(len(A.SWEEP)):
        a = acts_of(sec.sweep.params, x, i)
        assert sec.curve.data["l0"][i] == pytest.approx(np.mean((a > 0).sum(axis=1)))
    assert sec.curve.data["l0"][0] != pytest.approx(sec.point.data["l0"][0])


def test_the_penalty_keeps_the_sweep_and_a_stepped_back_slider_its_training() -> None:
    state, sec = section()
    sec.train_steps(max_steps=30)
    sweep, mine = sec.sweep, sec.mine
    state.sae_l1 = 0.5
    assert sec.sweep is sweep and sec.mine is not mine and sec.mine.steps == 0
    assert sec.mine.l1.tolist() == [0.5]
    state.sae_l1 = 0.3
    assert sec.mine is mine and mine.steps == 30
    assert sec.l1.value == 0.3  # the slider follows the state
    state.sae_size = 32
    assert sec.sweep is not sweep and sec.sweep.steps == 0
    d = trained_model(state).cfg.d_model
    assert sec.mine.params["W_dec"].shape == (1, 32, d)
    assert sec.size.value == 32


def test_other_sections_settings_reach_it_only_when_they_change_its_model() -> None:
    state, sec = section()
    sec.train_steps(max_steps=10)
    mine, data = sec.mine, sec.data
    state.bias = -2.0  # section 2: not section 5's model
    assert sec.mine is mine and sec.data is data
    state.attn = 0.5  # the head: section 5's model and the SAE's data change
    assert sec.data is not data and sec.mine.steps == 0
    model = trained_model(state)
    x, _ = inputs_by_hand(model)
    np.testing.assert_allclose(sec.data.x, x, atol=1e-12)


def test_in_the_page_other_sections_changes_wait_for_a_tick(monkeypatch) -> None:
    """With the page reporting the screen, a change elsewhere costs the step
    nothing here (section 5's model may need training); a tick takes it up
    once the settings hold still, and Stop takes it up at once."""
    state, sec = section()
    sec.set_on_screen(True)
    data = sec.data
    state.attn = 0.5
    assert sec.data is data and sec._pending and sec.loop.running and not sec.finished
    assert sec._tick() is False and sec.data is data  # not yet still for SETTLE_S
    monkeypatch.setattr(A, "SETTLE_S", 0.0)
    sec._tick()
    assert not sec._pending and sec.data is not data
    np.testing.assert_allclose(sec.data.x, inputs_by_hand(trained_model(state))[0], atol=1e-12)
    # A foreseen step and its undo: taken up, nothing to change.
    data, mine = sec.data, sec.mine
    state.attn = 0.6
    state.attn = 0.5
    sec._tick()
    assert sec.data is data and sec.mine is mine
    state.attn = 1.0
    sec._on_stop()
    assert not sec._pending and not sec.loop.running
    np.testing.assert_allclose(sec.data.x, inputs_by_hand(trained_model(state))[0], atol=1e-12)
    # Off screen a change waits for the section to come back, then a tick.
    sec.set_on_screen(False)
    data = sec.data
    state.attn = 0.7
    assert sec.data is data and not sec._pending
    sec.set_on_screen(True)
    assert sec._pending and sec.loop.running
    sec.loop.tick()
    np.testing.assert_allclose(sec.data.x, inputs_by_hand(trained_model(state))[0], atol=1e-12)


def test_training_follows_the_screen_and_the_buttons(monkeypatch) -> None:
    monkeypatch.setattr(A, "SETTLE_S", 0.0)
    state, sec = section()
    assert not sec.loop.running  # no page: nothing trains by itself
    sec.set_on_screen(True)
    assert sec.loop.running and sec.train.disabled and not sec.stop.disabled
    sec.set_on_screen(False)
    assert not sec.loop.running
    sec.set_on_screen(True)
    sec._on_stop()
    assert not sec.loop.running
    sec.set_on_screen(False)
    sec.set_on_screen(True)
    assert not sec.loop.running, "the reader stopped it: it stays stopped"
    state.cap_neurons = 5  # section 5's neurons: the SAE's data is as it was
    sec.loop.tick()  # the tick that takes the change up (SETTLE_S is 0 here)
    assert not sec.loop.running, "still stopped"
    state.sae_l1 = 0.4  # a new setting asks to see its result
    assert sec.loop.running
    sec._on_stop()
    sec._on_train()
    assert sec.loop.running
    sec.loop.stop()


def test_a_tick_is_short_and_training_ends() -> None:
    import time

    state, sec = section()
    t0 = time.perf_counter()
    finished = sec._tick()
    assert time.perf_counter() - t0 < 0.5 and not finished and sec.mine.steps >= 1
    sec.mine.step(A.MAX_STEPS - sec.mine.steps)
    sec.sweep.step(A.MAX_STEPS - sec.sweep.steps)
    assert sec._tick() and sec.finished
    assert "Trained" in sec.answer.text


@pytest.mark.parametrize("kw", [
    {"sae_l1": 2.0}, {"sae_l1": 0.0}, {"sae_size": 8}, {"sae_size": 128},
    {"cap_facts": 2, "cap_neurons": 1}, {"attn": 0.0},
    {"activation": "gelu"}, {"presenter": True, "theme": "dark"}])
def test_extreme_settings_build_train_and_hold_valid_data(kw: dict) -> None:
    state, sec = section(**kw)
    sec.train_steps(max_steps=40)
    assert sec.message.visible is False
    data_property = ColumnDataSource.lookup("data").property
    for src in (sec.curve, sec.point, sec.match_first, sec.match_last, sec.units):
        data_property.validate(src.data)
        for col in src.data.values():
            assert all(not isinstance(v, float) or math.isfinite(v) for v in col)
    k = len(sec.data.names)
    assert len(sec.match_first.data["name"]) + len(sec.match_last.data["name"]) == k
    for f, src in zip(sec.match_figs, (sec.match_first, sec.match_last), strict=True):
        rows = len(src.data["name"])
        assert f.height == A.match_height(rows, state.presenter)
        assert (f.height - A.MATCH_AXIS_PX[state.presenter]) / max(rows, 8) >= (
            (15 if state.presenter else 10) * 4 / 3)


def test_a_long_fact_table_is_sampled_to_600_inputs() -> None:
    state, sec = section(cap_facts=60)
    sec.train_steps(max_steps=20)
    model = trained_model(state)
    assert len(sec.data.x) == 600 and sec.message.visible is False
    assert int(sec.data.is_fact.sum()) == 60
    assert len(sec.data.names) == len(model.embedding.names_of_kind("first")) + len(
        model.embedding.names_of_kind("last")) + 1


def test_a_dead_dictionary_says_so() -> None:
    """When every feature dies (a high enough penalty does that; here the
    encoder's biases are pushed far down so none can fire), none is left to
    match, and the sentences say so rather than show NaN."""
    state, sec = section(sae_l1=2.0, sae_size=8)
    sec.mine.step(20)
    sec.mine.params["b_enc"][...] = -1e3
    sec.train_steps(max_steps=0)  # a redraw, no step
    assert sec.numbers["live"] == 0
    assert f"0 of {len(sec.data.names)}" in sec.answer.text
    assert "no live feature" in sec.compare.text
    assert "8 of 8 features dead" in sec.status.text
    assert all(c == 0.0 for c in sec.match_first.data["cos"] + sec.match_last.data["cos"])
    assert sec.units.data["y"] and min(sec.units.data["y"]) > 0.5  # neurons only
    assert "nan" not in (sec.answer.text + sec.status.text + sec.compare.text).lower()


def test_link_values_are_clamped_and_the_section_appears_after_params() -> None:
    page = build_app("show=sae&sae_size=100000&sae_l1=-3")
    sec = page.wfl_sections["sae"]
    assert page.wfl_state.sae_size == 128 and page.wfl_state.sae_l1 == 0.0
    assert sec.mine.params["W_dec"].shape[1] == 128
    assert page[0].visible  # the link's notes say what was changed
    keys = list(build_app("").wfl_sections)
    assert keys.index("sae") == keys.index("params") + 1
