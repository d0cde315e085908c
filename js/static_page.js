// Boots the explorer in the static HTML export (attrwidgets/widgets/export.py), where there is no
// kernel and no widget manager. The page holds the state as JSON in the script element "aw-state"
// (binary arrays as {"$b64": ...}), then one module: the widget (js/widget.js and its imports,
// joined, its default export bound to `__aw_default`), this file, and `boot(__aw_default, document)`.
// widget.js only needs a model's get/set/on/off/save_changes/send, so a few lines stand in for one.
// Not imported by widget.js: the export joins it in by itself (no imports here, so that stays simple).
// The export refuses a joined module holding an HTML comment opener or a script start tag (the
// tokenizer would read them as markup), so none may appear here either, not even in a comment.

/** JSON.parse reviver: `{"$b64": "..."}` becomes a DataView on the decoded bytes, as anywidget hands Bytes to JS. */
export function revive(key, value) {
  if (value && typeof value === "object" && typeof value.$b64 === "string") {
    const binary = atob(value.$b64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new DataView(bytes.buffer);
  }
  return value;
}

/** A minimal model over `state`: the same get/set/on/off/save_changes the widget uses in Jupyter. */
export function createModel(state) {
  const listeners = new Map();
  return {
    get: (name) => state[name],
    set(name, value) {
      state[name] = value;
      for (const fn of listeners.get(`change:${name}`) || []) fn();
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
    },
    off(event, fn) {
      listeners.get(event)?.delete(fn);
    },
    save_changes() {},
    send() {},
  };
}

/** The state written by the export: the JSON text of the element `id`, arrays revived. */
export function readState(doc, id = "aw-state") {
  return JSON.parse(doc.getElementById(id).textContent, revive);
}

/** Render `widget` (an anywidget module's default export) into the element `appId` of `doc`. */
export function boot(widget, doc, { stateId = "aw-state", appId = "aw-app" } = {}) {
  const model = createModel(readState(doc, stateId));
  return widget.render({ model, el: doc.getElementById(appId) });
}
