import { test } from "node:test";
import assert from "node:assert/strict";
import { boot, createModel, readState, revive } from "./static_page.js";

/** The page's JSON block as attrwidgets/widgets/export.py writes it: every "<" as \u003c. */
function scriptJson(value) {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

/** A document with the two elements the export writes. */
function fakeDocument(stateText) {
  const app = { id: "aw-app" };
  const elements = { "aw-state": { textContent: stateText }, "aw-app": app };
  return { app, getElementById: (id) => elements[id] ?? null };
}

test("revive turns {$b64} into a DataView on the bytes and leaves the rest", () => {
  const view = revive("view", { $b64: Buffer.from([1, 2, 250]).toString("base64") });
  assert.ok(view instanceof DataView);
  assert.deepEqual(Array.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)), [1, 2, 250]);
  assert.equal(revive("k", "text"), "text");
  assert.deepEqual(revive("k", { a: 1 }), { a: 1 });
  assert.equal(revive("k", null), null);
  assert.deepEqual(revive("k", { $b64: 3 }), { $b64: 3 }, "only a string is base64");
});

test("the model gets, sets, notifies and forgets listeners; saving and sending do nothing", () => {
  const model = createModel({ alpha: 0.5 });
  const seen = [];
  const fn = () => seen.push(model.get("alpha"));
  model.on("change:alpha", fn);
  model.on("change:other", () => seen.push("other"));
  model.set("alpha", 0.25);
  assert.deepEqual(seen, [0.25]);
  model.off("change:alpha", fn);
  model.set("alpha", 1);
  assert.deepEqual(seen, [0.25]);
  assert.equal(model.get("alpha"), 1);
  model.off("change:nobody", fn); // no listeners: no error
  assert.equal(model.save_changes(), undefined);
  assert.equal(model.send({ type: "cancel" }), undefined);
});

test("readState decodes the escaped JSON block with its arrays", () => {
  const label = "<!--<script>x</script>";
  const text = scriptJson({ title: label, image: { view: { $b64: "AAE=" }, shape: [1, 2] } });
  assert.ok(!text.includes("<"));
  const state = readState(fakeDocument(text));
  assert.equal(state.title, label);
  assert.ok(state.image.view instanceof DataView && state.image.view.byteLength === 2);
});

test("boot renders the widget into aw-app with a model over the state", () => {
  const doc = fakeDocument(scriptJson({ interactive: false, title: "t" }));
  const calls = [];
  const widget = {
    render({ model, el }) {
      calls.push([model.get("interactive"), model.get("title"), el]);
      return "cleanup";
    },
  };
  assert.equal(boot(widget, doc), "cleanup");
  assert.deepEqual(calls, [[false, "t", doc.app]]);
});
