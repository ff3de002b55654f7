// The messages between the page (page/*.js) and its Python worker
// (worker.js), stated once and loaded by both. Each side's handlers must
// cover exactly the kinds addressed to it, and every message sent must be
// declared with the fields it carries (checkHandlers, checkMessage): a
// mismatch is reported as an error, which the browser tests fail on.
// `answers`: what the other side sends back, in order; "*" many of them.
self.WFL_PROTOCOL = {
  toWorker: {
    boot: { fields: ["channel", "base", "search", "packages", "prerender", "pins", "verify",
                     "checkPatches", "foreseeMaxS", "tuningOff", "runtime", "snapshot", "shipped"],
            answers: ["status*", "mark*", "built", "render"] },
    // Handled as it arrives, not queued behind the boot that waits for it.
    figures_drawn: { fields: [], answers: [] },
    send_doc: { fields: [], answers: ["render"] },
    rendered: { fields: ["resync"], answers: ["live"] },
    patch: { fields: ["patch", "foreseen", "grid", "foresee"],
             answers: ["patch*", "idle", "foresight*", "foresaw"] },
    focus: { fields: ["model"], answers: ["foresight*", "foresaw"] },
    snapshot: { fields: [], answers: ["snapshotted"] },
  },
  toPage: {
    status: { fields: ["stage", "msg", "t"], answers: [] },
    mark: { fields: ["name", "t"], answers: [] },
    built: { fields: ["modules", "tuned", "handles", "snapshot"], answers: [] },
    render: { fields: ["keep", "t", "docs_json", "render_items", "root_ids"],
              answers: ["rendered", "send_doc"] },
    live: { fields: [], answers: [] },
    patch: { fields: ["patch", "buffers", "later"], answers: [] },
    idle: { fields: [], answers: [] },
    foresight: { fields: ["seq", "grid", "model", "value", "keys", "patch", "buffers"], answers: [] },
    foresaw: { fields: [], answers: [] },
    snapshotted: { fields: ["state", "ms", "bytes"], answers: [] },
    error: { fields: ["msg"], answers: [] },
  },

  // What is wrong with a message going `direction`, or null.
  checkMessage(direction, msg) {
    const kind = this[direction][msg.type];
    if (!kind) return `undeclared ${direction} message "${msg.type}"`;
    for (const field of Object.keys(msg)) {
      if (field !== "type" && !kind.fields.includes(field)) {
        return `${direction} "${msg.type}" carries undeclared field "${field}"`;
      }
    }
    return null;
  },

  // What is wrong with one side's handlers for messages going `direction`, or null.
  checkHandlers(direction, handlers) {
    const want = Object.keys(this[direction]).sort().join();
    const have = Object.keys(handlers).sort().join();
    return want === have ? null : `${direction} handlers [${have}] differ from the protocol [${want}]`;
  },
};
