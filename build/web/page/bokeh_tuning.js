// Every change this page makes to BokehJS's internals, each a named unit
// installed from UNITS in order. A unit runs only on the BokehJS version the
// build pins (build/versions.py) and only if what it replaces has the shape
// it expects; otherwise it stays off, says why once in the console, and the
// page works at BokehJS's own speed. `after` names a unit that must be
// installed first because this one wraps what that one put in place.
// wfl.tuning[name] says which are on; `test` names the browser test (in
// tests/browser/) that shows the unit at work. docs/tuning.md lists them all.

// A BokehJS class's prototype, or null if this BokehJS has no such module or class.
function proto(module, name) {
  try {
    const mod = Bokeh.require(module);
    return (mod && mod[name] && mod[name].prototype) || null;
  } catch (e) {
    return null;
  }
}

// What of `names` is not a method of `obj` (for a unit's shape check), or null.
function missing(obj, what, ...names) {
  if (!obj) return `${what} is gone`;
  const gone = names.filter((n) => typeof obj[n] !== "function");
  return gone.length ? `${what}.${gone.join(", ")} gone` : null;
}

// A view's update_position (a CSS write, then reads that force layout) runs
// once the frame is painted, once per view however often it was asked; with
// `movable`, a view placed once is placed again only while movable(view).
function deferPositions(view, movable) {
  const place = view.update_position;
  const waiting = new Set();
  const placeAll = () => {
    const views = [...waiting];
    waiting.clear();
    for (const v of views) {
      if (movable && v.wflPlaced && !movable(v)) continue;
      v.wflPlaced = true;
      place.call(v);
    }
  };
  view.update_position = function () {
    if (!waiting.size) setTimeout(placeAll, 0);
    waiting.add(this);
  };
}

const UNITS = [
  {
    name: "noCssVisualVariables",
    test: "browser/test_bokeh_tuning.py::test_a_repaint_rewrites_only_stylesheets_that_change",
    why: "BokehJS asks computed styles for a --bk-<visual> variable per colour and font on every paint; "
      + "nothing this page loads defines one (build/site.py checks)",
    install() {
      const visuals = proto("core/visuals/visual", "VisualProperties");
      const wrong = missing(visuals, "VisualProperties", "_get_css_value");
      if (wrong) return wrong;
      visuals._get_css_value = () => "";
      return null;
    },
  },
  {
    name: "keepUnchangedStylesheets",
    test: "browser/test_bokeh_tuning.py::test_a_repaint_rewrites_only_stylesheets_that_change",
    why: "a repaint rewrote every renderer's stylesheet, unchanged or not, and each write restyled the page",
    install() {
      const sheet = proto("core/dom", "InlineStyleSheet");
      const wrong = missing(sheet, "InlineStyleSheet", "_update");
      if (wrong) return wrong;
      const write = sheet._update;
      sheet._update = function (css) {
        if (this.el.textContent !== css) write.call(this, css);
      };
      return null;
    },
  },
  {
    name: "placeGlyphBoxesOnce",
    test: "browser/test_bokeh_tuning.py::test_a_repaint_rewrites_only_stylesheets_that_change",
    why: "a glyph renderer's element is an empty box over the canvas, yet every data change moved it",
    install() {
      const view = proto("models/renderers/glyph_renderer", "GlyphRendererView");
      const wrong = missing(view, "GlyphRendererView", "update_position");
      if (wrong) return wrong;
      // Placed again only if it ever holds an element besides its styles.
      deferPositions(view, (v) => {
        const root = v.shadow_el || v.el.shadowRoot;
        const inside = (node) => [...node.children].some((c) => c.tagName !== "STYLE");
        return inside(v.el) || Boolean(root && inside(root));
      });
      return null;
    },
  },
  {
    name: "keepLegends",
    test: "browser/test_bokeh_tuning.py::test_legend_entries_are_kept_across_data_steps_and_rebuilt_for_new_labels",
    why: "a legend rebuilt its entries on every data change, though only labels and visibility feed them",
    install() {
      const view = proto("models/annotations/legend", "LegendView");
      const wrong = missing(view, "LegendView", "_render_items", "update_position",
        "_toggle_inactive", "render");
      if (wrong) return wrong;
      if (!("_should_rerender_items" in view)) return "LegendView._should_rerender_items gone";
      const shown = (v) => v.entries.map((e) => e.item.visible).join();
      const build = view._render_items;
      const render = view.render;
      view.render = function () {
        this.wflRendering = true;
        try {
          return render.call(this);
        } finally {
          this.wflRendering = false;
        }
      };
      view._render_items = function () {
        // wflShown is unset until the first build, which is always from render().
        const same = !this.wflRendering && this.wflShown === shown(this)
          && !this._should_rerender_items;
        if (same) {
          for (const e of this.entries) this._toggle_inactive(e);
          return;
        }
        build.call(this);
        this.wflShown = shown(this);
      };
      deferPositions(view); // a legend reads its boxes on every paint: after the frame
      return null;
    },
  },
  {
    name: "cacheFontSize",
    test: "browser/test_bokeh_tuning.py::test_legend_entries_are_kept_across_data_steps_and_rebuilt_for_new_labels",
    why: "each axis asked getComputedStyle for the page's font size on every paint; it is fixed once drawn",
    install() {
      const view = proto("models/plots/plot_canvas", "PlotView");
      const font = view && Object.getOwnPropertyDescriptor(view, "base_font_size");
      if (!font || typeof font.get !== "function" || !font.configurable) {
        return "PlotView.base_font_size is no longer a configurable getter";
      }
      Object.defineProperty(view, "base_font_size", {
        configurable: true,
        get() {
          if (this.wflFontSize == null) this.wflFontSize = font.get.call(this);
          return this.wflFontSize;
        },
      });
      return null;
    },
  },
  {
    name: "paintInNextFrame",
    test: "browser/test_bokeh_tuning.py::test_a_figure_asked_again_soon_after_a_paint_paints_in_the_next_frame",
    why: "BokehJS spaced a figure's paints 16.7 ms apart with a timer on top of the frame, "
      + "so a step soon after a paint was drawn a frame or two late",
    install() {
      const view = proto("models/plots/plot_canvas", "PlotView");
      const wrong = missing(view, "PlotView", "schedule_paint", "repaint", "_await_ready");
      if (wrong) return wrong;
      // Replaces schedule_paint without calling BokehJS's (its timer is the point).
      view.schedule_paint = function () {
        if (this.is_paused) return;
        if (!this.wflFrame) {
          this.wflFrame = new Promise((done, fail) => requestAnimationFrame(() => {
            this.wflFrame = null;
            try {
              if (!this.is_destroyed) this.repaint();
              done();
            } catch (e) {
              fail(e);
            }
          }));
        }
        this._await_ready(this.wflFrame);
      };
      return null;
    },
  },
  {
    name: "paintOnlyNearScreen",
    test: "browser/test_bokeh_tuning.py::test_figures_off_screen_paint_when_they_come_into_view",
    // Wraps schedule_paint as paintInNextFrame left it: installed first, that
    // one would replace this wrapper without calling it.
    after: ["paintInNextFrame"],
    why: "a step's frame waited for figures of on-screen sections that nobody could see",
    install(wfl) {
      const view = proto("models/plots/plot_canvas", "PlotView");
      const wrong = missing(view, "PlotView", "schedule_paint", "remove", "has_finished");
      if (wrong) return wrong;
      if (!window.IntersectionObserver) return "no IntersectionObserver";
      const schedule = view.schedule_paint;
      const remove = view.remove;
      // Within 100px of the screen a figure is painted, a frame later if not on it.
      const near = new IntersectionObserver((entries) => {
        for (const e of entries) {
          const v = e.target.wflPlotView;
          if (!v) continue;
          v.wflFar = !e.isIntersecting;
          if (!v.wflFar && v.wflOwed) {
            v.wflOwed = false;
            schedule.call(v);
          }
        }
      }, { rootMargin: "100px 0px" });
      const seen = new IntersectionObserver((entries) => {
        for (const e of entries) {
          const v = e.target.wflPlotView;
          if (v) v.wflOffScreen = !e.isIntersecting;
        }
      });
      view.schedule_paint = function () {
        if (!this.wflWatched) {
          this.wflWatched = true;
          this.el.wflPlotView = this;
          near.observe(this.el);
          seen.observe(this.el);
        }
        // Only a figure drawn and finished may wait: until then the document
        // is not idle, and Panel writes the address bar only when it is.
        const finished = this.has_finished() && !this._needs_notify;
        if (this.wflFar && finished) {
          this.wflOwed = true;
          return;
        }
        if (this.wflOffScreen && finished) {
          if (!this.wflSoon) {
            this.wflSoon = true;
            wfl.paintsDeferred += 1;
            // After the coming frame: a frame callback made now would run in it.
            requestAnimationFrame(() => setTimeout(() => {
              this.wflSoon = false;
              if (!this.is_destroyed) schedule.call(this);
            }, 0));
          }
          return;
        }
        schedule.call(this);
      };
      view.remove = function () {
        near.unobserve(this.el);
        seen.unobserve(this.el);
        return remove.call(this);
      };
      wfl.paintsDeferred = 0;
      return null;
    },
  },
  {
    name: "hideEmptyOverlays",
    test: "browser/test_bokeh_tuning.py::test_empty_overlay_canvases_are_out_of_the_page_until_something_paints_there",
    why: "every figure's blank overlay canvas was copied by chromium into a compositor resource each frame",
    install() {
      const view = proto("models/plots/plot_canvas", "PlotView");
      const wrong = missing(view, "PlotView", "_paint_overlays");
      if (wrong) return wrong;
      const paint = view._paint_overlays;
      view._paint_overlays = function (ctx) {
        const layer = this.canvas_view && this.canvas_view.overlays;
        if (layer && layer.el && layer.el.style) {
          const used = this.computed_renderer_views.some((v) => v.model.level === "overlay");
          const display = used ? "" : "none";
          if (layer.el.style.display !== display) layer.el.style.display = display;
        }
        return paint.call(this, ctx);
      };
      return null;
    },
  },
  {
    name: "fitCellText",
    test: "browser/test_bokeh_tuning.py::test_leak_numbers_are_drawn_only_where_they_fit",
    why: "numbers in a heatmap's cells (a text glyph tagged wfl-fit-cells) ran together on a phone",
    install() {
      const view = proto("models/glyphs/text", "TextView");
      const wrong = missing(view, "TextView", "_paint");
      if (wrong) return wrong;
      const paint = view._paint;
      view._paint = function (ctx, indices, data) {
        if (this.model.tags.includes("wfl-fit-cells")) {
          const xs = this.renderer.xscale;
          const cell = Math.abs(xs.compute(1) - xs.compute(0));
          let widest = 0;
          for (const i of indices) widest = Math.max(widest, this.swidth[i] || 0);
          this.wflCellsFit = widest + 4 <= cell;
          if (!this.wflCellsFit) return;
        }
        paint.call(this, ctx, indices, data);
      };
      return null;
    },
  },
  {
    name: "mainGlyphOnly",
    test: "browser/test_bokeh_tuning.py::test_spare_glyph_views_rest_until_a_selection_needs_them",
    why: "each renderer kept four spare glyph views (selection, muting, decimation) up to date, "
      + "and no figure here can draw them",
    install() {
      const renderer = proto("models/renderers/glyph_renderer", "GlyphRendererView");
      const glyph = proto("models/glyphs/glyph", "GlyphView");
      const upkeep = ["set_data", "set_visuals", "after_visuals", "after_lazy_visuals", "map_data"];
      const wrong = missing(glyph, "GlyphView", ...upkeep)
        || missing(renderer, "GlyphRendererView", "set_data", "connect_signals");
      if (wrong) return wrong;
      const spares = ["decimated_glyph", "selection_glyph", "nonselection_glyph", "muted_glyph"];
      // On the view itself, over whatever its glyph class defines.
      const restable = (view) => {
        if (view.wflRestable) return;
        view.wflRestable = true;
        for (const name of upkeep) {
          const work = view[name];
          const async = name === "set_data" || name === "after_lazy_visuals";
          view[name] = function (...args) {
            if (!this.wflResting) return work.apply(this, args);
            this.wflStale = true;
            return async ? Promise.resolve() : undefined;
          };
        }
      };
      const needsSpares = (v) => {
        const source = v.model.data_source;
        const tools = v.plot_view && v.plot_view.model.toolbar
          ? v.plot_view.model.toolbar.tools.length : 1;
        return Boolean(v.model.muted) || v.hover_glyph != null || tools > 0
          || !source.selected.is_empty() || !source.inspected.is_empty();
      };
      const setData = renderer.set_data;
      renderer.set_data = function (indices) {
        const rest = !needsSpares(this);
        for (const name of spares) {
          const view = this[name];
          if (!view) continue;
          restable(view);
          view.wflResting = rest;
        }
        return setData.call(this, indices);
      };
      // A spare is brought up to date the moment it can be needed.
      const connect = renderer.connect_signals;
      renderer.connect_signals = function () {
        connect.call(this);
        const wake = () => {
          const stale = spares.some((name) => this[name] && this[name].wflStale);
          if (!stale || !needsSpares(this)) return;
          for (const name of spares) if (this[name]) this[name].wflStale = false;
          this.set_data().then(() => this.request_paint());
        };
        this.connect(this.model.properties.muted.change, wake);
        this.connect(this.model.data_source.selected.change, wake);
        this.connect(this.model.data_source.inspect, wake);
      };
      return null;
    },
  },
  {
    name: "cacheAxes",
    test: "browser/test_bokeh_tuning.py::test_axes_copied_from_their_own_canvas_look_as_bokeh_draws_them",
    why: "every paint placed each axis's ticks and measured and drew every label, though a step "
      + "seldom changes a range; an axis is drawn once into its own canvas and copied",
    install(wfl) {
      const axis = proto("models/axes/axis", "AxisView");
      let Layer = null;
      try {
        Layer = Bokeh.require("core/util/canvas").CanvasLayer;
      } catch (e) {
        return "core/util/canvas CanvasLayer gone";
      }
      const wrong = missing(axis, "AxisView", "connect_signals", "_paint", "get_size",
        "_init_axis_label", "_init_major_labels");
      if (wrong) return wrong;
      if (typeof Layer !== "function") return "CanvasLayer is not a class";
      installAxisCache(wfl, axis, Layer);
      return null;
    },
  },
];

// The axis cache: the copy stands in while nothing that decides the axis's
// pixels changed (canvas and transform, boxes, every range, the axis, its
// ticker and formatter, its label views, the page's fonts). The copy is a
// strip from the axis to the canvas's far edges: tick labels may reach past
// the axis's box, never back across the frame. wfl.axisCache = false turns
// it off (tests compare both); wfl.axisDraws / axisCopies count.
function installAxisCache(wfl, axis, Layer) {
  let fonts = 0;
  if (document.fonts) document.fonts.addEventListener("loadingdone", () => { fonts += 1; });
  for (const name of ["_init_axis_label", "_init_major_labels"]) {
    const init = axis[name];
    axis[name] = async function (...args) {
      try {
        return await init.apply(this, args);
      } finally {
        this.wflVersion = (this.wflVersion || 0) + 1;
      }
    };
  }
  const rangeKey = (range) => [range.start, range.end,
    Array.isArray(range.factors) ? JSON.stringify(range.factors) : ""].join();
  const rangesOf = (frame, parts) => {
    for (const map of [frame.x_ranges, frame.y_ranges]) {
      for (const range of map.values()) parts.push(rangeKey(range));
    }
    return parts.join("|");
  };
  // What decides the axis's pixels, as one string; null when the copy cannot
  // stand in (an axis inside the frame, a rotated or skewed canvas).
  const keyOf = (view, ctx, t) => {
    const frame = view.plot_view && view.plot_view.frame;
    const box = view.bbox;
    const side = view.panel && view.panel.side;
    if (!frame || !(frame.x_ranges instanceof Map) || !(frame.y_ranges instanceof Map)
        || !box || !side || view.model.fixed_location != null || t.b !== 0 || t.c !== 0
        || !ctx.canvas) return null;
    return rangesOf(frame, [view.wflVersion, fonts, side, ctx.canvas.width, ctx.canvas.height,
      t.a, t.d, t.e, t.f, box.x, box.y, box.width, box.height,
      frame.bbox.x, frame.bbox.y, frame.bbox.width, frame.bbox.height]);
  };
  // The strip in device pixels: from a few pixels inside the axis's inner
  // edge (ticks drawn into the frame) to the canvas's edge beyond it.
  const stripOf = (view, ctx, t) => {
    const box = view.bbox;
    const m = 2 + Math.max(view.model.major_tick_in || 0, view.model.minor_tick_in || 0);
    const W = ctx.canvas.width, H = ctx.canvas.height;
    const sx = (x) => t.a * x + t.e, sy = (y) => t.d * y + t.f;
    let x0 = 0, y0 = 0, x1 = W, y1 = H;
    switch (view.panel.side) {
      case "below": y0 = Math.floor(sy(box.y - m)); break;
      case "above": y1 = Math.ceil(sy(box.y + box.height + m)); break;
      case "left": x1 = Math.ceil(sx(box.x + box.width + m)); break;
      case "right": x0 = Math.floor(sx(box.x - m)); break;
      default: return null;
    }
    x0 = Math.max(0, x0); y0 = Math.max(0, y0);
    x1 = Math.min(W, x1); y1 = Math.min(H, y1);
    return x1 > x0 && y1 > y0 ? { x0, y0, w: x1 - x0, h: y1 - y0 } : null;
  };
  const draw = (view, paint, t, key, strip) => {
    const old = view.wflAxisCopy;
    const layer = old ? old.layer : new Layer("canvas", false);
    layer.canvas.width = strip.w; // also clears it
    layer.canvas.height = strip.h;
    const off = layer.ctx;
    off.save();
    off.setTransform(t.a, 0, 0, t.d, t.e - strip.x0, t.f - strip.y0);
    try {
      paint.call(view, off);
    } finally {
      off.restore();
    }
    wfl.axisDraws += 1;
    return { key, layer, strip };
  };
  // What decides the axis's size (BokehJS asks every side panel its size
  // twice per paint, which for an axis means placing and measuring again).
  const sizeKeyOf = (view) => {
    const plot = view.plot_view;
    const frame = plot && plot.frame;
    if (!frame || !(frame.x_ranges instanceof Map) || !(frame.y_ranges instanceof Map)) return null;
    return rangesOf(frame, [view.wflVersion, fonts, view.model.visible, view.model.fixed_location,
      plot.base_font_size, view.panel && view.panel.side]);
  };
  const connect = axis.connect_signals;
  axis.connect_signals = function () {
    connect.call(this);
    this.wflVersion = (this.wflVersion || 0) + 1;
    const bump = () => { this.wflVersion += 1; };
    this.connect(this.model.change, bump);
    if (this.model.ticker) this.connect(this.model.ticker.change, bump);
    if (this.model.formatter) this.connect(this.model.formatter.change, bump);
    const getSize = this.get_size; // this axis's own class's measuring
    this.get_size = function () {
      const key = wfl.axisCache ? sizeKeyOf(this) : null;
      if (key === null || !this.wflSize || this.wflSize.key !== key) {
        const size = getSize.call(this);
        this.wflSize = key === null ? null : { key, width: size.width, height: size.height };
        return size;
      }
      wfl.axisSizesReused += 1;
      return { width: this.wflSize.width, height: this.wflSize.height };
    };
    const paint = this._paint; // this axis's own class's drawing
    this._paint = function (ctx) {
      const t = wfl.axisCache && typeof ctx.getTransform === "function" ? ctx.getTransform() : null;
      const key = t ? keyOf(this, ctx, t) : null;
      const strip = key === null ? null : stripOf(this, ctx, t);
      if (strip === null) {
        this.wflAxisCopy = null;
        return paint.call(this, ctx);
      }
      if (!this.wflAxisCopy || this.wflAxisCopy.key !== key) {
        this.wflAxisCopy = draw(this, paint, t, key, strip);
      } else {
        wfl.axisCopies += 1;
      }
      const copy = this.wflAxisCopy;
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(copy.layer.canvas, copy.strip.x0, copy.strip.y0);
      ctx.restore();
      return undefined;
    };
  };
  wfl.axisCache = true;
  wfl.axisSizesReused = 0;
  wfl.axisDraws = 0;
  wfl.axisCopies = 0;
}

// Every unit whose BokehJS is the pinned one, whose shape checks out and
// which `off` does not name ("all" for every one). Sets wfl.tuning.
export function installBokehTuning(wfl, pinned, off) {
  wfl.tuning = wfl.tuning || {};
  const done = new Set();
  for (const unit of UNITS) {
    for (const first of unit.after || []) {
      if (!UNITS.some((u) => u.name === first)) throw new Error(`${unit.name}: no unit ${first}`);
      if (!done.has(first)) throw new Error(`${unit.name} must come after ${first} in UNITS`);
    }
    let reason = null;
    if (off.includes("all") || off.includes(unit.name)) reason = "turned off";
    else if (Bokeh.version !== pinned) reason = `BokehJS is ${Bokeh.version}, not the pinned ${pinned}`;
    else {
      try {
        reason = unit.install(wfl);
      } catch (e) {
        reason = `its install failed: ${e}`;
      }
    }
    const on = reason === null;
    wfl.tuning[unit.name] = on;
    if (!on) console.warn(`[tuning] BokehJS unit ${unit.name} is off (${reason}): BokehJS's own way there`);
    done.add(unit.name);
  }
}
