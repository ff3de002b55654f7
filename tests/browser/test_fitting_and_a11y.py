"""The page fitting its screen and its readers: accessible names, presenter, projector,
blog and phone widths, sections skipped off screen and caught up when scrolled to."""

from __future__ import annotations

import json
import re
import time
from io import BytesIO

import pytest
from helpers import slider_handle
from PIL import Image

from app.state import SECTIONS, AppState
from app.superposition import SuperpositionSection

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
  // drew the numbers (page/bokeh_tuning.js, fitCellText).
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
    screen (page/fitting.js, skipOffScreenSections): at the top of the full page,
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
