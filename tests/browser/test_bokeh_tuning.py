"""The page's tuning of BokehJS (build/web/page/bokeh_tuning.js): stylesheets, legends, when and
where figures paint, overlay canvases, spare glyph views, cached axes and the leak numbers."""

from __future__ import annotations

import json
import time

import pytest
from helpers import slider_handle, step_right

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
    the page's styles (build/web/page/bokeh_tuning.js). After slider steps
    that repaint the neuron section's figures, a stylesheet whose text is
    the same keeps its very text node. A glyph renderer's box, an empty
    element over the canvas, stays where it was first placed while its data
    moves; one that holds an element moves with its data again."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    units = ["noCssVisualVariables", "keepUnchangedStylesheets", "placeGlyphBoxesOnce"]
    assert w.page.evaluate("(units) => units.every((n) => window.wfl.tuning[n])", units) is True
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
    data change behind its renderers (page/bokeh_tuning.js, keepLegends). After
    slider steps that move the plane's dashed edge, its legend entry is the
    same element, still on the page, its line sample still drawn; a new label
    still rebuilds it. The figures' base font size is asked once and equals
    the computed style (cacheFontSize)."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    flags = w.page.evaluate("() => [wfl.tuning.keepLegends, wfl.tuning.cacheFontSize]")
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
    assert w.page.evaluate("() => window.wfl.tuning.paintOnlyNearScreen") is True
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
    coming frame (page/bokeh_tuning.js, paintInNextFrame): asked three times, each as
    soon as the frame before is over, the plane is painted in each next
    frame, and no request sets a timer (without the change, the second and
    third did)."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.tuning.paintInNextFrame") is True
    w.page.evaluate(COUNT_PAINTS_JS)
    plane = w.page.evaluate(FIGURE_JS, "Where the neuron fires")
    out = w.page.evaluate(BACK_TO_BACK_JS, plane["id"])
    assert [n - out[0][0] for n, _ in out] == [0, 1, 2, 3], out
    assert [timers for _, timers in out] == [0, 0, 0, 0], out


LEAK_NUMBERS_JS = """(scroll) => {
  // Section 3's leak chart: whether its last paint drew the numbers on the
  // bars (page/bokeh_tuning.js, fitCellText), after scrolling it into view if asked.
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
    canvas for "overlay" renderers (page/bokeh_tuning.js, hideEmptyOverlays).
    Every figure's overlay layer is out of rendering and blank, its primary
    layer drawn; a renderer moved to the overlay level brings the layer
    back, with that renderer drawn on it."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.tuning.hideEmptyOverlays") is True
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
    none is drawn on this page (page/bokeh_tuning.js, mainGlyphOnly). After
    slider steps the main view has the new bars and the spares rest; once a
    selection needs them they are brought up to date and drawn without
    error (the fixture fails on any console error)."""
    w = watched
    w.page.goto(w.base + "?show=neuron")
    w.wait_live()
    assert w.page.evaluate("() => window.wfl.tuning.mainGlyphOnly") is True
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
    figure while nothing that decides its pixels changes (page/bokeh_tuning.js,
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
    assert w.page.evaluate("() => window.wfl.tuning.cacheAxes") is True
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
