import { test } from "node:test";
import assert from "node:assert/strict";
import { decodePanels, gapLevel, gapShort, gapText, panelPixels, panelScale, referenceCaption, referenceEntries, referenceTitle, resampleRgba, statusText, valueAt, valuesAt } from "./compare_draw.js";
import { colormap } from "./colormap.js";

function wire(values, dtype = "float32", shape = [values.length]) {
  const typed = new Float32Array(values);
  return { view: new DataView(typed.buffer), dtype, shape };
}

// two 1 × 3 panels in one unit; panel 0's values are small, panel 1's large
const result = {
  unit: 2,
  locked: 0.5,
  panels: [
    { map: wire([0.1, 0.2, -0.1], "float32", [1, 3]), clip: 0.2 },
    { map: wire([0.1, 0.9, -0.5], "float32", [1, 3]), clip: 0.9 },
  ],
};
const grey = new Uint8ClampedArray(12).fill(170);
const lut = colormap("coolwarm");

function pixelsOf(i, mode) {
  const [d] = decodePanels({ ...result, panels: [result.panels[i]] });
  return panelPixels(d.map.data, panelScale(result, i, mode), grey, lut, 0.8);
}

test("locked: the same value is the same colour in every panel", () => {
  const a = pixelsOf(0, "locked");
  const b = pixelsOf(1, "locked");
  assert.deepEqual(Array.from(a.subarray(0, 4)), Array.from(b.subarray(0, 4)), "0.1 in both panels");
});

test("per panel: the same value gets a different colour where the scales differ", () => {
  const a = pixelsOf(0, "panel");
  const b = pixelsOf(1, "panel");
  assert.notDeepEqual(Array.from(a.subarray(0, 4)), Array.from(b.subarray(0, 4)));
  assert.equal(panelScale(result, 1, "panel"), 0.9);
  assert.equal(panelScale(result, 1, "locked"), 0.5);
});

test("the hover value is in the attribution's units, clamped to the map", () => {
  const [d] = decodePanels(result);
  assert.deepEqual(valueAt(d.map, result.unit, 0.5, 0.5), { x: 1, y: 0, value: 0.4000000059604645 });
  assert.equal(valueAt(d.map, result.unit, 1.5, -1).x, 2);
});

test("valuesAt takes the nearest α frame, resized to the map; α = 1 is the final map", () => {
  const frames = { alphas: wire([0, 0.5]), maps: wire([0, 0, 0, 1, 1, 1], "float32", [2, 1, 3]) };
  const [d] = decodePanels({ panels: [{ map: wire([7, 8, 9], "float32", [1, 3]), frames }] });
  assert.deepEqual(Array.from(valuesAt(d, 1).data), [7, 8, 9]);
  const mid = valuesAt(d, 0.4);
  assert.equal(mid.alpha, 0.5);
  assert.deepEqual(Array.from(mid.data), [1, 1, 1]);
});

test("gap line and level; status line counts the panels", () => {
  const p = { sum: 1.02, score: 3, baseline_score: 2, delta: 0.02, relative_delta: 0.02 };
  assert.match(gapText(p), /gap 0\.02 \(2 %\)/);
  assert.equal(gapLevel(p), "ok");
  assert.equal(gapShort(p), "gap 2 %");
  assert.equal(gapLevel({ ...p, relative_delta: 0.3 }), "warn");
  assert.equal(gapLevel({ sum: 1, delta: null }), "none");
  assert.equal(statusText({ state: "computing", message: "computing ig · blur (3/12)" }, { done: 2, total: 12 }), "2 of 12 panels · computing ig · blur (3/12)");
  assert.equal(statusText({ state: "idle" }, { done: 12, total: 12 }), "all 12 panels computed");
  assert.match(statusText({ state: "computing", message: "m" }, { done: 12, full: 3, total: 12 }), /3 refined/);
});

test("listen: one dispose removes the DOM and the model listeners", async () => {
  const { listen } = await import("./events.js");
  const handlers = new Map();
  const model = { on: (n, f) => handlers.set(n, f), off: (n) => handlers.delete(n) };
  const target = new EventTarget();
  let calls = 0;
  const wiring = listen(model);
  wiring.on(target, "ping", () => calls++);
  wiring.onModel("change:result", () => {});
  target.dispatchEvent(new Event("ping"));
  wiring.dispose();
  target.dispatchEvent(new Event("ping"));
  assert.equal(calls, 1);
  assert.equal(handlers.size, 0);
});

test("per-reference maps: one entry per reference, the most drawn first, with its own map and picture", () => {
  const refs = {
    index: [2, 5, 7],
    count: [1, 3, 1],
    draws: 5,
    maps: wire([1, 2, 3, 4, 5, 6], "float32", [3, 1, 2]),
    pictures: { view: new DataView(new Uint8Array([10, 11, 12, 20, 21, 22, 30, 31, 32]).buffer), dtype: "uint8", shape: [3, 1, 1, 3] },
  };
  const entries = referenceEntries(refs);
  assert.deepEqual(entries.map((e) => e.index), [5, 2, 7], "3 draws first, then index order");
  assert.deepEqual(Array.from(entries[0].map.data), [3, 4]);
  assert.deepEqual(entries[0].map.shape, [1, 2]);
  assert.deepEqual(Array.from(entries[0].picture.data), [20, 21, 22]);
  assert.deepEqual(entries[2].picture.shape, [1, 1, 3]);
  assert.equal(referenceCaption(entries[0], refs.draws), "reference 5 · 3 of 5 draws");
  assert.match(referenceTitle("expected_gradients", "references", refs), /3 references in 5 draws/);
  assert.deepEqual(referenceEntries(undefined), []);
});

test("resampleRgba: nearest pixel, so a smaller map sits on the same picture", () => {
  const rgba = new Uint8ClampedArray([1, 1, 1, 255, 2, 2, 2, 255, 3, 3, 3, 255, 4, 4, 4, 255]); // 2 × 2
  assert.deepEqual(Array.from(resampleRgba(rgba, 2, 2, 1, 1)), [4, 4, 4, 255]);
  const up = resampleRgba(rgba, 2, 2, 4, 4);
  assert.deepEqual([up[0], up[4 * 3], up[4 * 12], up[4 * 15]], [1, 2, 3, 4]);
});
