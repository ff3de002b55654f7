"""Each section builds, and every number it shows matches an independent
numpy calculation from the embedding vectors (not from the section's code)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import panel as pn
import param
import pytest

import toycore as tc
from app.main import build_app, section_class
from app.state import REGISTRY, SECTIONS, AppState, state_keys

ROOT = Path(__file__).resolve().parents[1]


def vec(name: str, model: tc.ToyModel | None = None) -> np.ndarray:
    return (model or tc.ToyModel.default()).embedding.vec(name)


def relu(x):
    return np.maximum(x, 0.0)


def gelu(x):
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in np.atleast_1d(x)])


@pytest.mark.parametrize("key", SECTIONS)
def test_each_section_builds_alone(key: str) -> None:
    page = build_app(f"show={key}")
    assert list(page.wfl_sections) == [key]
    assert page.wfl_sections[key].message.visible is False


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.key)
def test_each_registry_entry_imports_a_section_of_its_key(entry) -> None:
    cls = section_class(entry.key)
    assert cls.__module__ == entry.module and cls.__name__ == entry.cls
    assert cls.key == entry.key
    assert "title" not in vars(cls), "the title is stated in the registry only"


def test_the_page_shows_the_registry_in_order_under_its_titles() -> None:
    page = build_app("show=" + ",".join(reversed(SECTIONS)))  # the link's order is not the page's
    assert list(page.wfl_sections) == list(SECTIONS)
    heads = [m.object for m in page.select(pn.pane.Markdown) if "wfl-title" in m.css_classes]
    assert heads == [f"## {e.title}" for e in REGISTRY]


def test_a_section_not_shown_is_not_imported() -> None:
    code = ("import sys; from app.main import build_app; build_app('show=recall'); "
            "print(*(m for m in sys.modules if m.startswith('app.')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    shown = {m for m in out.split() if m.split(".")[1] in SECTIONS}
    assert shown == {"app.recall"}


def test_flags_hide_prose_and_controls() -> None:
    page = build_app("show=neuron&controls=0&prose=0")
    col = page.wfl_sections["neuron"].panel()
    prose, controls = col[1], col[2]
    assert prose.visible is False and controls.visible is False


@pytest.mark.parametrize(("query", "px"), [("", 16), ("presenter=1", 20)])
def test_every_prose_pane_has_the_reading_size(query: str, px: int) -> None:
    """All Markdown prose (each section's text and message, the GPT-3
    summary, the superposition reference, the link's notes) at the page's
    reading size; Panel's own is about 12px, and on a projector 20px."""
    page = build_app(query)
    panes = [m for m in page.select(pn.pane.Markdown) if "wfl-title" not in m.css_classes]
    assert len(panes) >= 2 * len(page.wfl_sections) + 3
    for pane in panes:
        css = " ".join(str(x) for x in pane.stylesheets)
        assert f"font-size: {px}px" in css, (pane.css_classes, css)


@pytest.mark.parametrize("presenter", [False, True])
def test_every_control_is_projector_size_in_presenter_mode(presenter: bool) -> None:
    """Only the name box of section 1 used to get projector-size text, then
    only text boxes and menus; sliders, buttons and checkboxes stayed at
    Panel's 12-13px. Now every widget on the page, whatever its kind."""
    page = build_app("presenter=1" if presenter else "")
    controls = [w for w in page.select(pn.widgets.Widget) if w.visible]
    kinds = {type(w).__name__ for w in controls}
    assert {"FloatSlider", "IntSlider", "Select", "TextInput", "AutocompleteInput",
            "RadioButtonGroup", "Checkbox", "Button"} <= kinds, kinds
    for w in controls:
        css = " ".join(str(x) for x in w.stylesheets)
        assert (".bk-slider-title { font-size: 22px; }" in css) == presenter, (w.name, css)
        assert css.count(".bk-slider-title { font-size") <= 1  # once, however often asked
        # Every slider's title wraps on a narrow screen (a 360 px phone).
        is_slider = isinstance(w, pn.widgets.slider._SliderBase)
        assert css.count(".bk-slider-title { white-space: normal; }") == int(is_slider), w.name


def test_bad_link_shows_a_message_not_a_traceback() -> None:
    page = build_app("show=recall&bias=nan&neuron=-4&zzz=1")
    assert page[0].visible and "bias" in page[0].object


# -- section 2 ---------------------------------------------------------------------
def neuron_section(**kw):
    from app.neuron import NeuronSection

    state = AppState(**kw)
    return state, NeuronSection(state)


def test_neuron_points_follow_bias_slider() -> None:
    state, sec = neuron_section()
    M, J, P, A = vec("Michael"), vec("Jordan"), vec("Phelps"), vec("Alexis")
    sec.bias.value = -0.4
    row = M + J
    inputs = {"Michael Jordan": J + M, "Michael Phelps": P + M, "Alexis Jordan": J + A}
    data = sec.points.data
    for name, x in inputs.items():
        i = data["name"].index(name)
        assert data["post"][i] == pytest.approx(float(relu(row @ x - 0.4)))
    assert state.bias == -0.4
    # The name-by-name chart: before (pre) and after (post), the after bar's
    # colour and legend entry saying whether it fires.
    from app.common import FIRE, QUIET, model_for
    from app.neuron import AFTER

    bars = sec.bars.data
    for name, x in inputs.items():
        i = bars["name"].index(name)
        pre = float(row @ x - 0.4)
        fires = relu(pre) >= model_for(state).cfg.fire_threshold
        assert bars["pre"][i] == pytest.approx(pre)
        assert (bars["kind"][i], bars["color"][i]) == ((AFTER[True], FIRE) if fires
                                                      else (AFTER[False], QUIET))
    threshold = model_for(state).cfg.fire_threshold
    assert bars["kind"] == [AFTER[p >= threshold] for p in bars["post"]]
    assert set(bars["kind"]) == set(AFTER.values())  # both entries in the legend here


def test_neuron_plane_image_is_the_and_gate() -> None:
    _, sec = neuron_section()
    sec.row_first.value = 0.5
    sec.bias.value = -0.2
    img = sec.plane_values
    from app.neuron import GRID, HI, LO, PALETTE

    g = np.linspace(LO, HI, GRID)
    expected = relu(0.5 * g[None, :] + 1.0 * g[:, None] - 0.2)
    np.testing.assert_allclose(img, expected, atol=1e-12)
    # What the page is sent: each pixel's colour, binned as BokehJS's
    # LinearColorMapper bins (value_to_index), from 0 to the top value.
    sent = sec.plane.data["image"][0]
    assert sent.shape == (GRID, GRID) and sent.dtype == np.uint32
    low, high, n = 0.0, float(expected.max()), len(PALETTE)
    assert high > 1.0  # the scale's top follows the data here
    for i in range(0, GRID, 5):
        for j in range(0, GRID, 7):
            v = float(expected[i, j])
            k = n - 1 if v == high else min(max(int((v - low) / (high - low) * n), 0), n - 1)
            r, gr, b = (int(PALETTE[k][c:c + 2], 16) for c in (1, 3, 5))
            word = int(sent[i, j])
            assert (word & 255, word >> 8 & 255, word >> 16 & 255, word >> 24) == (r, gr, b, 255)
    # The dashed edge is where 0.5 x + y - 0.2 = 0.
    for x, y in zip(sec.edge.data["x"], sec.edge.data["y"], strict=True):
        assert 0.5 * x + y - 0.2 == pytest.approx(0.0, abs=1e-9)


def test_neuron_gelu_switch_and_column() -> None:
    _, sec = neuron_section()
    sec.activation.value = "gelu"
    sec.col_own.value = 0.5
    sec.col_alt.value = 1.0  # golf
    mj = sec.points.data["name"].index("Michael Jordan")
    assert sec.points.data["post"][mj] == pytest.approx(gelu(1.0)[0])
    x0 = sec.curve.data["x"][0]
    assert x0 <= -3.0 and sec.curve.data["y"][0] == pytest.approx(gelu(x0)[0])
    writes = dict(zip(sec.writes.data["sport"], sec.writes.data["value"], strict=True))
    assert writes["basketball"] == pytest.approx(gelu(1.0)[0] * 0.5)
    assert writes["golf"] == pytest.approx(gelu(1.0)[0] * 1.0)


def test_neuron_extremes_and_zero_row_are_sane() -> None:
    _, sec = neuron_section()
    sec.row_first.value = 0.0
    sec.row_last.value = 0.0
    sec.bias.value = 3.0
    assert sec.message.visible is False
    assert sec.edge.data == {"x": [], "y": []}  # a zero row has no edge
    assert all(v == pytest.approx(3.0) for v in sec.points.data["post"])
    sec.bias.value = -3.0
    assert all(v == 0 for v in sec.points.data["post"])


def test_neuron_switch_resets_and_relabels() -> None:
    state, sec = neuron_section(bias=0.5)
    sec.neuron_select.value = 3  # Serena Williams
    assert state.bias == -1.0 and sec.bias.value == -1.0
    assert sec.row_first.name == "Row: weight on Serena"
    assert sec.points.data["name"][0] == "Serena Williams"


def test_neuron_out_of_range_in_link() -> None:
    state, sec = neuron_section(neuron=200)
    assert state.neuron == 0 and sec.message.visible


# -- section 1 ---------------------------------------------------------------------
def test_recall_readout_matches_dot_products() -> None:
    from app.recall import RecallSection

    state = AppState()
    sec = RecallSection(state)
    sec.name_input.value = "Michael Phelps"
    d = sec.readout.data
    M, P, S = vec("Michael"), vec("Phelps"), vec("swimming")
    after_last = P + M + S  # embedding + attention + the neuron's column
    for stage, x in (("before MLP", P + M), ("after MLP", after_last)):
        for name, direction in (("Michael", M), ("Phelps", P), ("swimming", S)):
            i = next(k for k in range(len(d["name"])) if d["stage"][k] == stage
                     and d["pos"][k] == "2: Phelps" and d["name"][k] == name)
            assert d["value"][i] == pytest.approx(float(x @ direction))
            assert d["row"][i] == ("2: Phelps", stage)
    # Every cell sits on the chart's factors: a position's before and after
    # rows together, the first position at the top, one column per direction.
    fig = sec.readout_fig
    assert list(fig.y_range.factors) == [
        ("2: Phelps", "after MLP"), ("2: Phelps", "before MLP"),
        ("1: Michael", "after MLP"), ("1: Michael", "before MLP")]
    assert set(d["row"]) == set(fig.y_range.factors)
    assert set(d["name"]) == set(fig.x_range.factors)
    assert len(d["value"]) == len(fig.x_range.factors) * len(fig.y_range.factors)
    # The numbers drawn in the cells: exactly the cells with |value| >= 0.05.
    shown = {(r, n): t for r, n, t in zip(sec.readout_text.data["row"],
                                          sec.readout_text.data["name"],
                                          sec.readout_text.data["text"], strict=True)}
    want = {(r, n): f"{v:.1f}" for r, n, v in zip(d["row"], d["name"], d["value"], strict=True)
            if abs(v) >= 0.05}
    assert shown == want and len(shown) >= 5
    assert "swimming" in sec.answer.text
    # Empty, unknown or long, the rows keep two levels (the page cannot map
    # cells of one level on factors of another while a patch lands), and
    # the chart grows with the tokens, up to a cap.
    heights = []
    for text in ("", "Zaphod", "Michael Jordan", "the great Michael Jordan of Chicago"):
        sec.name_input.value = text
        assert all(len(f) == 2 for f in fig.y_range.factors), (text, fig.y_range.factors)
        assert set(sec.readout.data["row"]) <= set(fig.y_range.factors)
        heights.append(fig.height)
    assert heights[0] == heights[1] < heights[2] < heights[3]


def test_recall_follows_neuron_edits() -> None:
    from app.recall import RecallSection

    state = AppState()
    sec = RecallSection(state)
    state.bias = -2.5  # the Michael Jordan neuron can no longer fire
    assert sec.neurons.data["activation"][0] == 0.0
    assert "doesn't know" in sec.answer.text
    sec.name_input.value = ""
    assert "Type a name" in sec.answer.text


def test_typed_text_is_escaped_in_the_answer() -> None:
    from app.recall import RecallSection

    state = AppState()
    sec = RecallSection(state)
    sec.name_input.value = "Michael <b>Jordan</b> & <script>x</script>"
    assert "<script>" not in sec.answer.html and "<b>" not in sec.answer.html
    # The model shows its text entity-decoded (as Panel's HTML pane expects),
    # so what it carries is escaped once more than the HTML.
    import html

    assert html.unescape(sec.answer.div.text) == sec.answer.html
    assert "&lt;/script" in sec.answer.html and "</script" in sec.answer.text


def test_live_text_keeps_its_css_class_and_skips_equal_updates() -> None:
    from app.neuron import NeuronSection

    state = AppState()
    sec = NeuronSection(state)
    assert "wfl-neuron-table" in sec.prose.div.css_classes
    assert "<table>" in sec.prose.html and "Michael Jordan" in sec.prose.text
    seen = []
    sec.prose.div.on_change("text", lambda attr, old, new: seen.append(new))
    state.alt_sport = "tennis"  # with no weight on it, changes a slider's label, not the table
    assert seen == []
    state.bias = -0.5
    assert len(seen) == 1 and "-0.50" in sec.prose.text


# -- section 3 ---------------------------------------------------------------------
def test_embedding_angle_leaks_through_the_gate() -> None:
    from app.embedding import EmbeddingSection

    state = AppState()
    sec = EmbeddingSection(state)
    sec.sliders["angle_jp"].value = 60
    cos = {(y, x): c for y, x, c in zip(sec.cos.data["y"], sec.cos.data["x"], sec.cos.data["cos"],
                                        strict=True)}
    assert cos[("Jordan", "Phelps")] == pytest.approx(math.cos(math.radians(60)))
    leak = dict(zip(sec.leak.data["cell"], sec.leak.data["value"], strict=True))
    # Michael Phelps against the Michael + Jordan row: 1 + cos(60°) - 1 = 0.5.
    assert leak[("Michael\nPhelps", "neuron fires")] == pytest.approx(0.5)
    assert leak[("Michael\nJordan", "neuron fires")] == pytest.approx(1.0)
    assert "0.50" in sec.summary.text
    # Each bar stands on one of the chart's factors (a name on two lines).
    assert set(sec.leak.data["cell"]) == set(sec.leak_fig.x_range.factors)
    assert sec.leak_fig.renderers[1].glyph.tags == ["wfl-fit-cells"]


# -- section 4 ---------------------------------------------------------------------
def test_attention_strength() -> None:
    from app.attention import STRENGTHS, AttentionSection

    state = AppState()
    sec = AttentionSection(state)
    sec.strength.value = 0.5
    ys = sec._line0.data["y"]
    np.testing.assert_allclose(ys, relu(1.0 + STRENGTHS - 1.0))
    st = dict(zip(sec.stages.data["cell"], sec.stages.data["value"], strict=True))
    assert st[("Michael", "after attention")] == pytest.approx(0.5)
    assert st[("Michael", "embedding")] == pytest.approx(0.0)
    assert st[("basketball", "after the MLP")] == pytest.approx(0.5)  # relu(1.5 - 1)
    sec.strength.value = 0.0
    assert "nothing" in sec.answer.text


def test_the_second_head_carries_the_vector_at_jordan_to_of() -> None:
    from app.attention import AttentionSection

    state = AppState(attn=0.5)
    sec = AttentionSection(state)
    for move in (1.0, 0.3, 0.0, 2.0):
        sec.move.value = move
        assert state.move == move
        st = dict(zip(sec.stages.data["cell"], sec.stages.data["value"], strict=True))
        # "of" is the (unknown) direction, which no name or sport has a part of;
        # it gets move x (Jordan + 0.5 Michael + relu(1.5 - 1) basketball).
        assert st[("Michael", "at “of”")] == pytest.approx(move * 0.5)
        assert st[("Jordan", "at “of”")] == pytest.approx(move * 1.0)
        assert st[("basketball", "at “of”")] == pytest.approx(move * 0.5)
        knows = move * 0.5 >= 0.5
        assert ("answers basketball" in sec.answer.text) == knows


# -- section 6 ---------------------------------------------------------------------
def test_edit_moves_only_the_target_until_names_tilt() -> None:
    from app.edit import EditSection

    state = AppState()
    sec = EditSection(state)
    d = sec.facts.data
    i = d["name"].index("Michael Jordan")
    assert d["before"][i] == pytest.approx(1.0) and d["after"][i] == pytest.approx(0.0)
    assert sum(s > 1e-9 for s in d["shift"]) == 1
    assert "golf" in sec.result.text
    # Where the fact went: its read-out along golf, as toycore's edited model
    # gives it (the readout of what the MLP writes, computed here again).
    from app.common import model_for
    from toycore.edit import edit_fact

    edited, _ = edit_fact(model_for(state), "Michael Jordan", "golf", "column")
    run = edited.run("Michael Jordan")
    mlp_out = run.cache["mlp_out"][-1]
    along_golf = float(mlp_out @ edited.embedding.vec("golf"))
    assert sec.target.data["name"] == ["Michael Jordan"]
    assert sec.target.data["x"] == [pytest.approx(along_golf)]
    assert along_golf == pytest.approx(1.0, abs=0.05)
    assert sec.target.data["label"] == ["after: the edited fact, along golf"]
    assert np.isfinite(sec.target.data["x"]).all()
    state.angle_jp = 60  # Michael Jordan now also fires the Michael Phelps neuron
    d = sec.facts.data
    moved = [n for n, s in zip(d["name"], d["shift"], strict=True) if s > 1e-9]
    assert "Michael Phelps" in moved


def test_edit_bad_input() -> None:
    from app.edit import EditSection

    sec = EditSection(AppState())
    sec.person.value = "Nobody Atall"
    assert sec.message.visible and "first and last name" in sec.message.object
    assert sec.target.data["x"] == []  # no diamond left from the last good edit
    sec.person.value = "Michael Jordan"
    sec.sport.value = ""
    assert sec.message.visible
    sec.sport.value = "chess"
    sec.method.value = "rank_one"
    assert not sec.message.visible and "chess" in sec.result.text


# -- section 8 ---------------------------------------------------------------------
def test_params_counts_by_hand() -> None:
    from app.params import ParamsSection

    state = AppState()
    sec = ParamsSection(state)
    d, h, L, V = 12288, 49152, 96, 50257
    rows = dict(zip(sec.rows.data["part"], sec.rows.data["count"], strict=True))
    assert rows["MLP (all layers)"] == L * 2 * d * h
    assert rows["attention (all layers)"] == L * 4 * d * d
    # The bars' labels are short ("116.0b"); the sentences give exact counts.
    labels = dict(zip(sec.rows.data["part"], sec.rows.data["label"], strict=True))
    assert labels["MLP (all layers)"] == f"{L * 2 * d * h / 1e9:.1f}b" == "116.0b"
    assert labels["token embedding"] == f"{V * d / 1e6:.1f}m"
    assert f"{L * (12 * d * d) + 2 * V * d:,}" in sec.gpt3.object
    assert f"{L * (2 * d * h + h + d):,}" in sec.gpt3.object
    sec.inputs["n_layers"].value = "2"
    rows = dict(zip(sec.rows.data["part"], sec.rows.data["count"], strict=True))
    assert rows["MLP (all layers)"] == 2 * 2 * d * h
    assert state.p_preset == "custom"
    sec.inputs["d_model"].value = "-5"
    assert sec.message.visible and state.p_d_model == d
    sec.inputs["n_heads"].value = "7"  # 12288 is not divisible by 7
    assert sec.message.visible
    sec.preset.value = "toy"
    assert state.p_d_model == 64 and sec.inputs["d_model"].value == "64"
    rows = dict(zip(sec.rows.data["part"], sec.rows.data["count"], strict=True))
    labels = dict(zip(sec.rows.data["part"], sec.rows.data["label"], strict=True))
    assert all(labels[k] == (f"{c:,}" if c < 10_000 else f"{c / 1e3:.1f}k")
               for k, c in rows.items() if c < 10**6), labels


# -- section 5 ---------------------------------------------------------------------
def capacity_reference(t) -> dict[str, np.ndarray]:
    """What the trained MLP does for each fact, from its weights and the
    embedding, in plain numpy (not toycore.capacity)."""
    p, e, s = t.params, t.embedding, t.cfg.attn_strength
    X = np.array([e.vec(f.last) + s * e.vec(f.first) for f in t.facts])
    act = {"relu": relu, "gelu": gelu}[t.cfg.activation]
    post = np.array([act(row) for row in X @ p["W_up"].T + p["b_up"]])
    S = e.matrix(t.sports)
    per_sport = S @ p["W_down"]  # (sports, neurons)
    read = post @ per_sport.T + S @ p["b_down"]
    own = np.array([t.sports.index(f.sport) for f in t.facts])
    ok = (read.argmax(axis=1) == own) & (read.max(axis=1) >= 0.5)
    return {"post": post, "per_sport": per_sport, "bias": S @ p["b_down"], "read": read,
            "own": own, "ok": ok}


def test_capacity_opens_on_a_trained_network_without_training() -> None:
    """The default settings' run is shipped: the section shows it trained
    to the end, its figures match the weights, and nothing trains."""
    from app.capacity import CapacitySection
    from toycore import capacity as cap

    state = AppState()
    sec = CapacitySection(state)
    t = sec.trainer
    assert t.steps == cap.STEPS and not sec.loop.running and not sec.untrained.visible
    ref = capacity_reference(t)
    order = sorted(range(len(t.facts)), key=lambda i: (t.facts.sports.index(t.facts[i].sport), i))
    names = [t.facts[i].name for i in order]
    assert list(sec.fires_fig.y_range.factors) == names[::-1]
    np.testing.assert_allclose(sec.fires_src.data["value"], ref["post"][order].ravel(),
                               atol=1e-12)
    np.testing.assert_allclose(sec.readout_src.data["value"], ref["read"][order].ravel(),
                               atol=1e-12)
    assert sec.own_src.data["sport"] == [t.facts[i].sport for i in order]
    h = sec.history.data
    assert h["step"] == list(map(float, range(cap.STEPS + 1)))
    assert h["accuracy"][-1] == pytest.approx(ref["ok"].mean())
    assert sec.here_src.data == {"k": [10], "recalled": [int(ref["ok"].sum())]}
    assert f"{ref['ok'].sum()} of 23 facts recalled with 10 neurons" in sec.status.text
    # Both lines of the sweep are complete, from the shipped file.
    for answers in cap.ANSWERS:
        assert sec.sweep_src[answers].data["k"] == [1, 2, 4, 8, 10, 16, 32]
    assert sec.sweep_src["shared"].data["recalled"][4] == int(ref["ok"].sum())
    assert sec._next_job() is None


def test_capacity_trains_a_new_setting_in_ticks_and_keeps_it() -> None:
    from app.capacity import CapacitySection, finished
    from toycore import capacity as cap
    from toycore.learn import Trainer

    state = AppState(cap_neurons=3, cap_d=20, cap_facts=9)
    sec = CapacitySection(state)
    assert sec.trainer.steps == 0 and sec.untrained.visible
    assert sec.status.text.startswith("Untrained (step 0): ")
    sec.train_steps(n=7)
    assert sec.trainer.steps == 7 and sec.history.data["step"] == [float(i) for i in range(8)]
    part = sec.trainer
    state.cap_d = 21  # away and back (a drag, or a step the page foresaw and undid)
    assert sec.trainer.steps == 0
    state.cap_d = 20
    assert sec.trainer is part and sec.trainer.steps == 7
    while sec.trainer.steps < cap.STEPS:
        sec.train_steps(budget=0.05)
    t = sec.trainer
    ref = capacity_reference(t)
    np.testing.assert_allclose(sec.readout_src.data["value"],
                               ref["read"][sec.order].ravel(), atol=1e-12)
    assert sec.status.text.startswith(f"Trained ({cap.STEPS} Adam steps): "
                                      f"{ref['ok'].sum()} of 9 facts")
    assert finished(state_key := (9, "shared", 20, 3, "relu", 1.0)) is t
    # The sweep trains next, the other kind of table at 3 neurons first.
    assert sec._next_job() == (9, "distinct", 20, 3, "relu", 1.0)
    while sec._next_job() is not None:
        sec.train_steps(budget=0.5)
    # Two points of the sweep, trained here with toycore's Trainer alone and
    # counted by the answer rule in numpy.
    for answers, k in (("distinct", 3), ("shared", 8)):
        facts = cap.capacity_facts(9, answers)
        other = Trainer(facts, cap.capacity_embedding(facts, 20), d_mlp=k, seed=cap.SEED,
                        lr=cap.LR)
        other.step(cap.STEPS)
        want = int(capacity_reference(other)["ok"].sum())
        got = dict(zip(sec.sweep_src[answers].data["k"], sec.sweep_src[answers].data["recalled"],
                       strict=True))
        assert got[k] == want
    assert sec.sweep_src["shared"].data["k"] == [1, 2, 3, 4, 8, 16, 32]
    state.cap_neurons = 4  # a point of the sweep: trained already
    assert sec.trainer.steps == cap.STEPS and sec.trainer is finished((9, "shared", 20, 4,
                                                                       "relu", 1.0))
    state.cap_neurons = 5
    assert sec.trainer.steps == 0
    state.cap_neurons = 3  # back: the finished run, at once
    assert sec.trainer is t and sec.run_key == state_key


def test_capacity_fact_taken_apart_adds_up() -> None:
    """The bars of the chosen fact add up to its read-out along its own
    sport and along its rival, computed from the weights."""
    from app.capacity import CapacitySection

    state = AppState(cap_fact="Simone Biles")
    sec = CapacitySection(state)
    t = sec.trainer
    ref = capacity_reference(t)
    i = t.facts.index("Simone Biles")
    own = ref["own"][i]
    d = sec.contrib_src.data
    assert d["x"][0] == -1.5 and d["x"][1:] == list(range(10))
    assert d["own"][0] == pytest.approx(ref["bias"][own], abs=1e-12)
    np.testing.assert_allclose(d["own"][1:], ref["post"][i] * ref["per_sport"][own], atol=1e-12)
    assert sum(d["own"]) == pytest.approx(ref["read"][i, own], abs=1e-12)
    gross = np.abs(ref["post"][i][:, None] * ref["per_sport"].T).sum(axis=0)
    gross[own] = -1
    rival = int(gross.argmax())
    assert sum(d["rival"]) == pytest.approx(ref["read"][i, rival], abs=1e-12)
    assert f"Along {t.sports[rival]}" in sec.contrib_text.text
    assert sec.fact.value == "Simone Biles" and not sec.message.visible


def test_capacity_fact_menu_keeps_the_readers_choice() -> None:
    from app.capacity import CapacitySection

    state = AppState()
    sec = CapacitySection(state)
    sec.fact.value = "Katie Ledecky"
    assert state.cap_fact == "Katie Ledecky"
    state.cap_facts = 5  # Katie Ledecky is fact 23: not in the table now
    assert state.cap_fact == "Katie Ledecky" and sec.fact.value == ""
    assert sec.message.visible and "Katie Ledecky" in sec.message.object
    state.cap_facts = 23
    assert sec.fact.value == "Katie Ledecky" and not sec.message.visible
    state.cap_fact = "<b>Nobody</b>"
    assert sec.message.visible and "&lt;b&gt;" in sec.message.object
    assert "which" in sec.contrib_text.text  # the automatic choice, said so


def test_capacity_stop_holds_and_train_resumes() -> None:
    from app.capacity import CapacitySection
    from toycore import capacity as cap

    state = AppState(cap_neurons=2, cap_facts=6)
    sec = CapacitySection(state)
    sec._live = True
    sec.train_steps(n=5)
    sec._on_stop()
    assert sec.held and not sec.loop.running
    assert "Stopped at step 5 of" in sec.status.text
    assert sec._tick() is True  # held: the loop ends at once
    sec._on_train()
    assert sec.loop.running and not sec.held
    while sec.trainer.steps < cap.STEPS:
        sec.train_steps(budget=0.05)
    sec.loop.stop()
    assert sec.trainer.steps == cap.STEPS


@pytest.mark.parametrize("presenter", [False, True])
def test_capacity_heatmaps_give_each_fact_a_row_its_label_fits(presenter: bool) -> None:
    """The heatmaps grow with the facts: a row per fact at least as tall as
    its label's type (10pt, 15pt in presenter mode, i.e. 13.3 and 20 px),
    after their x axes."""
    from app.capacity import FIRES_AXIS_PX, HEAT_AXIS_PX, CapacitySection

    state = AppState(cap_facts=23, presenter=presenter)
    sec = CapacitySection(state)
    label_px = {False: 10, True: 15}[presenter] * 4 / 3
    for n in (23, 60, 2):
        state.cap_facts = n
        for f, axis in ((sec.readout_fig, HEAT_AXIS_PX), (sec.fires_fig, FIRES_AXIS_PX)):
            assert len(f.y_range.factors) == n
            assert (f.height - axis[presenter]) / max(n, 10) >= label_px


def test_capacity_neuron_axes_label_at_most_ten_neurons() -> None:
    """At most ten numbers on a neuron axis (sixteen ran together on a 360 px
    phone), every 1st, 2nd, 4th or 8th; the bias's label is not next to 0."""
    from app.capacity import CapacitySection

    state = AppState()
    sec = CapacitySection(state)
    for k, step in ((1, 1), (10, 1), (11, 2), (20, 2), (21, 4), (64, 8)):
        state.cap_neurons = k
        ticks = sec.fires_fig.xaxis.ticker.ticks
        assert ticks == list(range(0, k, step)) and len(ticks) <= 10
        contrib = sec.contrib_fig.xaxis.ticker.ticks
        assert contrib == [-1.5, *range(step if step > 1 else 0, k, step)]
        assert sec.fires_fig.x_range.end == k - 0.5


def test_trained_model_follows_every_training_setting_and_nothing_else() -> None:
    from app.capacity import TRAINING_KEYS, CapacitySection, trained_model
    from toycore import capacity as cap

    state = AppState()
    m = trained_model(state)
    assert trained_model(AppState()) is m  # cached
    assert not m.compiled and m.cfg.d_model == 24 and m.cfg.d_mlp == 10
    sec = CapacitySection(AppState())
    np.testing.assert_array_equal(m.mlp.W_up, sec.trainer.params["W_up"])
    tilted = AppState(angle_jp=30.0, neuron=3, bias=0.5)  # other sections' knobs
    assert trained_model(tilted) is m
    other = AppState(cap_facts=5, cap_sports="distinct", cap_d=12, cap_neurons=3,
                     activation="gelu", attn=0.5)
    m2 = trained_model(other)
    assert (m2.cfg.d_model, m2.cfg.d_mlp, m2.cfg.activation, m2.cfg.attn_strength) == (
        12, 3, "gelu", 0.5)
    assert m2.facts == cap.capacity_facts(5, "distinct")
    fresh = cap.capacity_trainer(5, "distinct", 12, 3, "gelu", 0.5)
    fresh.step(cap.STEPS)
    np.testing.assert_allclose(m2.mlp.W_down, fresh.params["W_down"], atol=1e-12)
    assert set(TRAINING_KEYS) <= set(AppState.param) and "cap_fact" not in TRAINING_KEYS
    assert trained_model.__doc__ and all(k in trained_model.__doc__ for k in TRAINING_KEYS)


# -- section 7 ---------------------------------------------------------------------
def test_superposition_histograms_and_bound() -> None:
    from app.superposition import SuperpositionSection

    state = AppState(sp_n=50, sp_d=10)
    sec = SuperpositionSection(state)
    v = sec.packer.initial_vectors.astype(float)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip((v @ v.T)[np.triu_indices(50, 1)], -1, 1)))
    counts, _ = np.histogram(ang, bins=np.linspace(0, 180, 181))
    np.testing.assert_allclose(sec.full_before.data["share"], counts / len(ang), atol=1e-12)
    welch = math.sqrt((50 - 10) / (10 * 49))
    assert sec.rms_lines.data["floor"] == [pytest.approx(welch)] * 2
    assert f"{math.floor(welch * 1e4) / 1e4:.4f}" in sec.floor_text.text
    before = np.mean((ang >= 89) & (ang <= 91))
    sec.pack_steps(60)
    w = sec.packer.vectors.astype(float)
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    cos2 = np.clip((w @ w.T)[np.triu_indices(50, 1)], -1, 1)
    ang2 = np.degrees(np.arccos(cos2))
    after = np.mean((ang2 >= 89) & (ang2 <= 91))
    assert after > before
    assert f"{100 * after:.1f}%" in sec.status.text
    # The RMS chart: one point at the start, one after these 60 steps.
    assert sec.rms.data["step"] == [0, 60]
    assert sec.rms.data["rms"][-1] == pytest.approx(np.sqrt(np.mean(cos2**2)), rel=1e-5)
    assert sec.ref_after.data["share"] and "10,000" in sec.reference_text.object


def test_superposition_per_vector_chart() -> None:
    """Each vector's closest partner: the angle between its line and the
    nearest other vector's line, as a share of the vectors per degree."""
    from app.superposition import SuperpositionSection

    sec = SuperpositionSection(AppState(sp_n=120, sp_d=3))
    sec.pack_steps(30)
    v = sec.packer.vectors.astype(float)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    line = np.degrees(np.arccos(np.clip(np.abs(v @ v.T), 0, 1)))
    np.fill_diagonal(line, 180)
    nearest = line.min(axis=1)
    counts, _ = np.histogram(nearest, bins=90, range=(0, 90))
    np.testing.assert_allclose(sec.nearest.data["share"], counts / 120, atol=1.01 / 120)
    assert sec.nearest.data["left"][:2] == [0.0, 1.0] and sec.nearest.data["right"][-1] == 90
    share = np.mean(nearest < 10)
    assert f"{100 * share:.1f}% of the 120 vectors have a near-copy" in sec.status.text
    # The reference's per-vector bars come from the shipped file.
    ref = sec_reference()
    n = ref["recipe"]["n"]
    np.testing.assert_allclose(sec.ref_near_after.data["share"],
                               np.array(ref["after"]["hist_nearest_0_90_1deg"]) / n)


def sec_reference() -> dict:
    from toycore.superposition import load_reference

    return load_reference()


def test_superposition_capacity_chart() -> None:
    from app.superposition import GPT3_D, SuperpositionSection

    state = AppState(sp_eps=5.0)
    sec = SuperpositionSection(state)
    e = math.sin(math.radians(5.0))
    lines = sec.cap_lines.data
    np.testing.assert_allclose(lines["jl"], np.exp(e * e * np.array(lines["d"]) / 4), rtol=1e-9)
    assert sec.cap_gpt3.data["lower"][0] == pytest.approx(math.exp(e * e * GPT3_D / 4))
    assert "1.3 × 10<sup>10</sup>" in sec.cap_text.html  # exp(23.33) = 1.36e10, rounded down
    welch = sec.cap_welch.data
    assert max(welch["d"]) == math.floor(1 / e**2)  # drawn only where d eps^2 < 1
    state.sp_eps = 1.0
    e = math.sin(math.radians(1.0))
    assert sec.cap_welch.data["upper"][sec.cap_welch.data["d"].index(100)] == 103  # the brief
    assert "at most 103" in sec.cap_text.text
    assert sec.cap_fig.y_range.end >= max(sec.cap_lines.data["jl"])


def test_big_counts_are_rounded_down() -> None:
    from app.superposition import big_count

    assert big_count(math.log10(12_288)) == ("12,288", "12,288")
    assert big_count(math.log10(4511.9)) == ("4,511", "4,511")
    assert big_count(10.134) == ("1.3 × 10^10", "1.3 × 10<sup>10</sup>")
    assert big_count(math.log10(1.999e23)) == ("1.9 × 10^23", "1.9 × 10<sup>23</sup>")
    assert big_count(6.0) == ("1.0 × 10^6", "1.0 × 10<sup>6</sup>")
    assert big_count(307.99)[0].endswith("10^307")
    with pytest.raises(ValueError):
        big_count(math.inf)


def test_clearing_the_name_box_shows_the_empty_text_message() -> None:
    """The browser sends value_input '' when the reader clears the box."""
    import toycore as tc
    from app.main import build_app

    app = build_app("")
    recall = app.wfl_sections["recall"]
    recall.name_input.value_input = ""
    assert app.wfl_state.person == ""
    assert tc.ToyModel.default().run("").error in recall.answer.text


@pytest.mark.parametrize(("section", "box", "key"), [
    ("recall", "name_input", "person"), ("edit", "person", "edit_person"),
    ("edit", "sport", "edit_sport")])
def test_a_suggestion_picked_sets_both_texts_in_one_step(section, box, key) -> None:
    """A suggestion picked from the list (or anything the page sends in one
    patch) changes `value` and `value_input` together, and param calls the
    watcher with both events: once that was a TypeError, caught and shown
    as "That did not work", and the state never moved."""
    app = build_app(f"show={section}")
    sec = app.wfl_sections[section]
    new = "Michael Phelps" if "person" in key else "golf"
    getattr(sec, box).param.update(value=new, value_input=new)
    assert getattr(app.wfl_state, key) == new
    assert not sec.message.visible, sec.message.object
    # Both changed, but to different texts: the chosen `value` wins.
    getattr(sec, box).param.update(value="Tiger Woods", value_input="Tig")
    assert getattr(app.wfl_state, key) == "Tiger Woods"


def test_no_component_needs_eval() -> None:
    """The page's CSP forbids eval: ReactiveHTML (pn.FlexBox is one) renders
    its template with `new Function`, so no section may contain one."""
    from panel.reactive import ReactiveHTML

    for query in ("", "presenter=1&theme=dark"):
        assert build_app(query).select(ReactiveHTML) == []


def test_recall_axis_follows_relabelled_neurons() -> None:
    """Raising neuron 0's bias lets the half matches through, which renames
    the neuron; its bar must stay on the axis (it used to vanish)."""
    page = build_app("show=recall")
    sec = page.wfl_sections["recall"]
    page.wfl_state.bias = 0.0
    ids = sec.neurons.data["neuron"]
    assert "Michael Phelps" in ids[0]
    assert list(sec.neuron_fig.y_range.factors) == list(reversed(ids))
    # The x axis is set from Python (no range computed and echoed by the browser).
    top = max(sec.neurons.data["activation"])
    assert sec.neuron_fig.x_range.end == pytest.approx(top * 1.05)
    assert sec.neuron_fig.x_range.start == pytest.approx(-0.05 * top)


def test_edit_legend_names_every_colour() -> None:
    from app.edit import KINDS, EditSection

    state = AppState(bias=0.0)  # the Michael neuron also fires for Phelps and Schumacher
    sec = EditSection(state)
    d = sec.facts.data
    assert set(d["kind"]) == {label for label, _ in KINDS.values()}
    by_label = {label: color for label, color in KINDS.values()}
    assert all(by_label[k] == c for k, c in zip(d["kind"], d["color"], strict=True))
    assert d["kind"][d["name"].index("Michael Jordan")] == "after: the edited fact, old sport"
    changed = set(sec.result.html.split("answers changed: <strong>")[1]
                  .split("</strong>")[0].split(", "))
    for name, kind in zip(d["name"], d["kind"], strict=True):
        if name != "Michael Jordan":
            assert (kind == "after: answer changed") == (name in changed)


def _page_models(query: str = "") -> list:
    from bokeh.document import Document

    doc = Document()
    doc.add_root(build_app(query).get_root(doc))
    return list(doc.models)


def test_figures_carry_no_invisible_models() -> None:
    """The toolbar is hidden, so no tools (a drag would pan a chart with no
    reset) and no glyph copies for selection or muting: every model is one
    more for the browser to boot, and the page builds several hundred."""
    from bokeh.models import GlyphRenderer, Tool
    from bokeh.plotting import figure

    models = _page_models()
    figures = [m for m in models if isinstance(m, figure)]
    assert len(figures) >= 15
    assert not [m for m in models if isinstance(m, Tool)]
    renderers = [m for m in models if isinstance(m, GlyphRenderer)]
    assert renderers and all(r.nonselection_glyph == "auto" and r.muted_glyph == "auto"
                             for r in renderers)



@pytest.mark.parametrize("presenter", [False, True])
def test_each_figure_title_is_a_heading_above_it(presenter: bool) -> None:
    """A figure's title is page text (a level-3 heading in the title's type
    and colour) and Bokeh's own is hidden: drawn on the canvas from the plot
    area's left edge, long titles lost their ends on a phone and on a
    projector. The heading shows the text as text, tags and all."""
    import html

    from bokeh.models import Title
    from bokeh.plotting import figure

    from app.common import bokeh

    f = figure(title="Fires <b>only</b> if a & b")
    f.title.text_font_size = "20pt" if presenter else "13pt"
    f.title.text_color = "#000000"
    col = bokeh(f)
    head, pane = col[0].object, col[1].object
    assert pane is f and isinstance(f.title, Title) and f.title.visible is False
    shown = html.unescape(head.text)  # the model decodes entities once
    assert shown == ('<div role="heading" aria-level="3">'
                     "Fires &lt;b&gt;only&lt;/b&gt; if a &amp; b</div>")
    css = head.stylesheets[0].css
    assert f"font-size: {f.title.text_font_size}" in css and "color: #000000" in css
    # Every titled figure of the page is built this way.
    models = _page_models("presenter=1" if presenter else "")
    heads = [m for m in models if "wfl-figure-title" in (getattr(m, "css_classes", None) or [])]
    titled = [m for m in models if isinstance(m, figure) and m.title.text]
    assert len(heads) == len(titled) >= 15
    assert all(m.title.visible is False for m in titled)

def test_fingerprint_tells_documents_apart() -> None:
    """The worker keeps the prerendered page only when this digest matches:
    same link, same models in the same order, same digest; another link with
    other sections, another digest."""
    import bokeh.util.serialization as ser
    from bokeh.document import Document
    from bokeh.settings import settings as bk_settings

    from app.main import doc_fingerprint, first_model_id

    def digest(query: str) -> str:
        bk_settings.simple_ids.set_value(True)
        doc = Document()
        ser._simple_id = first_model_id - 1
        doc.add_root(build_app(query).get_root(doc))
        return doc_fingerprint(doc)

    try:
        assert digest("") == digest("")
        assert digest("") != digest("?show=recall")
    finally:
        bk_settings.simple_ids.unset_value()


def test_sections_off_screen_redraw_when_seen() -> None:
    """The page reports what the reader can see; a section off screen keeps
    its figures until it comes back, then shows exactly the current state."""
    app = build_app("")
    box = next(o for o in app.objects if "wfl-on-screen" in o.css_classes)
    recall, neuron = app.wfl_sections["recall"], app.wfl_sections["neuron"]
    before = list(recall.neurons.data["activation"])
    box.value = "shown:neuron"
    assert not recall.on_screen and neuron.on_screen
    app.wfl_state.bias = -2.5  # Michael Jordan's neuron can no longer fire
    assert list(recall.neurons.data["activation"]) == before, "redrawn off screen"
    assert "-2.50" in neuron.prose.text, "the section on screen follows at once"
    box.value = "shown:neuron,recall"
    assert recall.neurons.data["activation"][0] == 0.0
    fresh = build_app("?bias=-2.5").wfl_sections["recall"]
    assert recall.neurons.data == fresh.neurons.data
    box.value = "nonsense"  # not the page's format: ignored, nothing hidden
    assert recall.on_screen and neuron.on_screen


def test_update_sends_only_the_columns_that_changed() -> None:
    """A step that moves numbers must not resend labels and colours: one
    event naming the changed columns; nothing at all when nothing changed;
    a whole replacement when the set of columns changes."""
    from bokeh.document import Document
    from bokeh.document.events import ColumnDataChangedEvent
    from bokeh.models import ColumnDataSource

    from app.common import update

    source = ColumnDataSource({"name": ["a", "b"], "x": [1.0, 2.0], "color": ["red", "blue"]})
    doc = Document()
    doc.add_root(source)
    events = []
    doc.on_change(lambda event: events.append(event))
    update(source, {"name": ["a", "b"], "x": [1.0, 2.5], "color": ["red", "blue"]})
    assert len(events) == 1 and isinstance(events[0], ColumnDataChangedEvent)
    assert events[0].cols == ["x"] and source.data["x"] == [1.0, 2.5]
    update(source, {"name": ["a", "b"], "x": [1.0, 2.5], "color": ["red", "blue"]})
    assert len(events) == 1, "an unchanged step sends nothing"
    update(source, {"name": ["a"], "y": [3.0]})
    assert dict(source.data) == {"name": ["a"], "y": [3.0]}
    assert len(events) == 2 and events[1].cols is None


def test_rgba_image_bins_like_bokeh_and_marks_what_is_not_finite() -> None:
    from app.common import NAN_RGBA, rgba_image, rgba_lut

    palette = ["#000000", "#ff0000", "#00ff00", "#0000ff"]
    lut = rgba_lut(palette)
    assert [hex(int(w)) for w in lut] == ["0xff000000", "0xff0000ff", "0xff00ff00", "0xffff0000"]
    values = np.array([[-5.0, 0.0, 0.24, 0.25], [0.5, 0.99, 1.0, 7.0],
                       [np.nan, np.inf, -np.inf, 0.75]])
    got = rgba_image(values, lut, 0.0, 1.0)
    # Four equal bins over [0, 1]; below and above clip to the end colours;
    # exactly `high` is the last bin; NaN and infinities are grey.
    want = [[0, 0, 0, 1], [2, 3, 3, 3], [None, None, None, 3]]
    for row, wrow in zip(got, want, strict=True):
        for word, k in zip(row, wrow, strict=True):
            assert int(word) == (NAN_RGBA if k is None else int(lut[k]))
    # low == high: no division by zero; `high` itself is still the last bin.
    flat = rgba_image(np.array([0.5, 1.0]), lut, 1.0, 1.0).tolist()
    assert flat == [int(lut[0]), int(lut[-1])]


def test_edit_chart_widens_to_show_every_bar_and_the_diamond() -> None:
    from app.edit import X_RANGE, EditSection

    state = AppState()
    sec = EditSection(state)
    assert (sec.fig.x_range.start, sec.fig.x_range.end) == X_RANGE
    state.col_own = 2.0  # the Michael Jordan neuron now writes 2 along basketball
    d = sec.facts.data
    values = [*d["before"], *d["after"], *sec.target.data["x"]]
    assert max(values) > X_RANGE[1]  # past the default range: the case at hand
    start, end = sec.fig.x_range.start, sec.fig.x_range.end
    assert start <= min(values) - 0.1 + 1e-9 and end >= max(values) + 0.1 - 1e-9
    assert end - max(values) <= 0.3 + 1e-9  # snug: steps of 0.2 plus 0.1 to spare
    assert round(end * 5, 6) == round(end * 5)  # on the 0.2 grid, so it holds still
    state.col_own = 1.0
    assert (sec.fig.x_range.start, sec.fig.x_range.end) == X_RANGE


def test_every_source_holds_what_bokeh_accepts() -> None:
    """`app.common.update` turns Bokeh's property validation off on the
    slider path; this is where what the sections put in their sources is
    validated instead, through a range of states (extremes, GELU, another
    neuron, a typed name, a rank-one edit, bad input)."""
    from bokeh.models import ColumnDataSource

    page = build_app("")
    state = page.wfl_state
    data_property = ColumnDataSource.lookup("data").property
    with pytest.raises(ValueError):  # the check can fail
        data_property.validate({"x": 5})

    def check(when: str) -> int:
        sources = [v for sec in page.wfl_sections.values() for v in vars(sec).values()
                   if isinstance(v, ColumnDataSource)]
        for src in sources:
            try:
                data_property.validate(src.data)
            except ValueError as err:
                raise AssertionError(f"{when}: {src.data.keys()}: {err}") from err
        return len(sources)

    assert check("start") >= 15
    for change in ({"bias": 3.0}, {"bias": -3.0}, {"activation": "gelu"}, {"neuron": 5},
                   {"row_first": -2.0, "col_alt": 2.0}, {"person": "Alexis Jordan"},
                   {"person": "nobody at all"}, {"person": ""}, {"attn": 0.0},
                   {"angle_mj": 0.0, "angle_jp": 180.0}, {"edit_method": "rank_one"},
                   {"edit_sport": "chess"}, {"sp_n": 2, "sp_d": 2}):
        state.param.update(**change)
        check(str(change))


def test_editing_section_5s_model_moves_the_facts_that_share_its_neurons() -> None:
    """A column edit rewrites the columns of the neurons that fire for the name;
    in section 5's trained model other facts use those neurons too, and
    exactly the facts with some activation on them move."""
    from app.capacity import trained_model
    from app.edit import EditSection

    state = AppState(edit_model="trained", edit_person="Kobe Bryant", edit_sport="golf")
    sec = EditSection(state)
    model = trained_model(state)
    e, m = model.embedding, model.mlp
    threshold = model.cfg.fire_threshold

    def hidden(first: str, last: str) -> np.ndarray:
        x = e.vec(last) + model.cfg.attn_strength * e.vec(first)
        return relu(m.W_up @ x + m.b_up)

    edited = np.flatnonzero(hidden("Kobe", "Bryant") >= threshold)
    assert len(edited) >= 1
    shift = dict(zip(sec.facts.data["name"], sec.facts.data["shift"], strict=True))
    for f in model.facts:
        if f.name == "Kobe Bryant":
            continue
        shares = bool(np.any(hidden(f.first, f.last)[edited] > 1e-9))
        assert (shift[f.name] > 1e-9) == shares, f.name
    assert sum(s > 1e-9 for n, s in shift.items() if n != "Kobe Bryant") >= 1
    assert sec.person.options == [f.name for f in model.facts]
    # The hand-built model again: one neuron per fact, nothing else moves.
    sec.which.value = "built"
    assert state.edit_model == "built"
    others = [s for n, s in zip(sec.facts.data["name"], sec.facts.data["shift"], strict=True)
              if n != "Kobe Bryant"]
    assert max(others) < 1e-9


def test_an_edit_of_a_fact_the_trained_model_does_not_recall_says_whom_it_does() -> None:
    from app.capacity import trained_model
    from app.edit import EditSection

    state = AppState(edit_model="trained")
    model = trained_model(state)
    lost = next(f for f in model.facts if model.run(f.name).answer != f.sport)
    state.edit_person = lost.name
    sec = EditSection(state)
    assert sec.message.visible and f"does not recall {lost.name}" in sec.message.object
    known = [f.name for f in model.facts if model.run(f.name).answer == f.sport]
    assert ", ".join(known[:3]) in sec.message.object


# -- what each section depends on -------------------------------------------------------
# Set by the link and never on the page, so no section redraws for them.
PAGE_FLAGS = {"show", "controls", "prose", "presenter", "theme", "embed"}
# Settings a section takes up by a watcher of its own (fresh vectors, a fresh
# SAE) rather than by a redraw.
OWN_WATCHERS = {"superposition": {"sp_n", "sp_d"}, "sae": {"sae_size", "sae_l1"}}


class ReadsOf:
    """Stands in for an AppState, recording which of its keys are read."""

    def __init__(self, state: AppState) -> None:
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "read", set())

    def __getattr__(self, name: str) -> object:
        if name in state_keys():
            self.read.add(name)
        return getattr(self._state, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._state, name, value)


def another(key: str, value: object) -> object:
    """A valid value of `key` other than `value`."""
    p = AppState.param[key]
    if isinstance(p, param.Boolean):
        return not value
    if isinstance(p, param.Selector):
        return next(x for x in p.objects if x != value)
    if isinstance(p, param.Number):  # Integer too
        step = p.step or 1
        return value + step if value + step <= p.bounds[1] else value - step
    if isinstance(p, param.String):
        return value + " x"
    raise AssertionError(f"no other value for {key}")


def test_the_shared_models_read_only_their_keys() -> None:
    from app.capacity import TRAINING_KEYS, trained_model
    from app.common import MODEL_KEYS, model_for

    state = ReadsOf(AppState())
    model_for(state)
    assert state.read == set(MODEL_KEYS)
    state = ReadsOf(AppState())
    trained_model(state)
    assert state.read == set(TRAINING_KEYS)


@pytest.mark.parametrize("key", SECTIONS)
def test_a_change_to_what_a_section_depends_on_redraws_it(key: str) -> None:
    cls = section_class(key)
    assert cls.depends_on and set(cls.depends_on) <= set(state_keys()) - PAGE_FLAGS
    state = AppState()
    sec = cls(state)
    calls = []
    sec._refresh = lambda *_e: calls.append(1)
    for name in dict.fromkeys(cls.depends_on):
        calls.clear()
        setattr(state, name, another(name, getattr(state, name)))
        assert calls, name


@pytest.mark.parametrize("key", SECTIONS)
def test_a_section_draws_only_from_what_it_watches(key: str) -> None:
    """Every state key a full redraw reads is in the section's depends_on,
    is taken up by a watcher of its own, or is a page flag."""
    state = AppState()
    sec = section_class(key)(state)
    own = OWN_WATCHERS.get(key, set())
    watched = {k for k, w in state.param.watchers.items() if w.get("value")}
    assert own <= watched
    # Forget what the section has drawn, so the redraw is a full one.
    if key == "capacity":
        sec.run_key = None
    if key == "sae":
        sec.model = None
    sec.state = reads = ReadsOf(state)
    sec._refresh()
    assert reads.read, "a redraw reads the state"
    assert reads.read <= set(sec.depends_on) | own | PAGE_FLAGS, reads.read


# -- sliders ------------------------------------------------------------------------------
def page_sliders(page: pn.viewable.Viewable) -> dict[str, pn.widgets.Widget]:
    """Every slider on the page by the state key it edits, found by moving it
    to one end and seeing which key follows."""
    state = page.wfl_state
    found = {}
    for widget in page.select(pn.widgets.slider._SliderBase):
        before = {k: getattr(state, k) for k in state_keys()}
        widget.value = widget.start if widget.value != widget.start else widget.end
        changed = [k for k in state_keys() if getattr(state, k) != before[k]]
        assert len(changed) == 1, (widget.name, changed)
        assert getattr(state, changed[0]) == widget.value
        found[changed[0]] = widget
    return found


def test_every_slider_spans_the_bounds_and_steps_of_the_setting_it_edits() -> None:
    page = build_app("")
    values = {id(w): w.value for w in page.select(pn.widgets.slider._SliderBase)}
    sliders = page_sliders(page)
    assert len(sliders) == len(values) == 20
    for key, widget in sliders.items():
        p = AppState.param[key]
        assert (widget.start, widget.end) == p.bounds, key
        assert widget.step == p.step, key
        assert values[id(widget)] == p.default, key  # opened at the state's value
        assert isinstance(widget, pn.widgets.IntSlider) == isinstance(p, param.Integer), key


# The sliders whose step only redraws; the others start a fresh run (section
# 5), fresh vectors (section 7) or a fresh SAE (section 9).
FORESEEN_KEYS = {"row_first", "row_last", "row_other", "bias", "col_own", "col_alt",
                 "angle_mj", "angle_jp", "angle_ma", "attn", "move", "sp_eps", "tr_noise"}


def test_only_the_sliders_whose_step_only_redraws_are_foreseen() -> None:
    from app.common import FORESEEN

    page = build_app("")
    marked = {w for w in page.select(pn.widgets.Widget) if FORESEEN in w.css_classes}
    sliders = page_sliders(page)
    assert {k for k, w in sliders.items() if w in marked} == FORESEEN_KEYS
    assert all(isinstance(w, pn.widgets.slider._SliderBase) for w in marked)
