// The prerendered document (build/site.py made it for the default link),
// drawn with the reader's first screen first: BokehJS embeds the page's
// children up to the first section shown, and once that frame is drawn the
// other sections join the same document in one patch. Embedding all 1,500
// models at once kept the first figures waiting for every section's.
import { hideUnshown, sectionKey } from "./fitting.js";

// Tests and the benchmark's levers set window.wflWholePrerender to embed
// every section at once.
const FIRST_SCREEN_FIRST = !window.wflWholePrerender;

// After the next frame is drawn; at most 200 ms (a hidden tab draws none).
function afterNextFrame() {
  return new Promise((resolve) => {
    requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 200);
  });
}

// Cuts the root's children after the first section shown, in the JSON;
// returns what is needed to put the rest back, or null to embed it whole.
function cutAfterFirstShown(payload) {
  const doc = Object.values(payload.docs_json || {})[0];
  const root = doc && doc.roots && doc.roots[0];
  const children = root && root.attributes && root.attributes.children;
  if (!Array.isArray(children)) return null;
  const shownAt = children.findIndex((c) => {
    const attrs = c && c.attributes;
    return attrs && Array.isArray(attrs.css_classes) && sectionKey(attrs.css_classes) && attrs.visible !== false;
  });
  if (shownAt < 0 || shownAt === children.length - 1) return null;
  root.attributes.children = children.slice(0, shownAt + 1);
  return { root: root.id, children, kept: shownAt + 1 };
}

// The cut children, back in the document: a patch as Bokeh's server sends
// one (the kept ones by reference); resolves once every child has its view,
// or after 10 s (a view that failed to build must not keep Python out).
async function putBack(doc, rootView, cut) {
  const kept = cut.children.slice(0, cut.kept).map((c) => ({ id: c.id }));
  doc.apply_json_patch({ events: [{ kind: "ModelChanged", model: { id: cut.root }, attr: "children",
                                    new: [...kept, ...cut.children.slice(cut.kept)] }] });
  const giveUp = performance.now() + 10000;
  while (!rootView.child_views.every(Boolean) && performance.now() < giveUp) await afterNextFrame();
}

// Draws the prerendered document from its JSON text, keeping only the
// sections in `shown` (an embed's show=, or null for all) visible. Calls
// `firstScreen(doc)` once the first screen is drawn and resolves to the
// document once every section is in it (wfl.marks.prerendered, .prerenderedAll).
export async function drawPrerender(wfl, docsText, shown, firstScreen) {
  const payload = JSON.parse(docsText);
  if (shown) {
    for (const doc of Object.values(payload.docs_json)) {
      for (const root of doc.roots || []) hideUnshown(root, shown);
    }
  }
  const cut = FIRST_SCREEN_FIRST ? cutAfterFirstShown(payload) : null;
  const [views] = await Bokeh.embed.embed_items(payload.docs_json, payload.render_items);
  const rootView = [...views.roots.values()][0];
  const doc = rootView.model.document;
  await afterNextFrame();
  wfl.marks.prerendered = performance.now();
  firstScreen(doc);
  if (cut) await putBack(doc, rootView, cut);
  wfl.marks.prerenderedAll = performance.now();
  return doc;
}
