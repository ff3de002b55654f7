"""What the sections do for a reader: typed names and suggestions, state in the URL,
a malformed URL, and the trace section."""

from __future__ import annotations

import pytest
from helpers import (
    NAME_INPUT,
    expected_activations,
    shadow_text,
    slider_handle,
    type_name,
    wait_activations,
    wait_text,
)

import toycore as tc


def answer_text(w) -> str:
    return shadow_text(w, ".wfl-answer")


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
