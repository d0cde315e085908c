import { test } from "node:test";
import assert from "node:assert/strict";
import { unpack } from "./result.js";

/** A serialised array as the kernel sends it (js/wire.js). */
function wire(Typed, dtype, values, shape) {
  const typed = Typed.from(values);
  return { view: new DataView(typed.buffer), dtype, shape };
}
const f32 = (values, shape = [values.length]) => wire(Float32Array, "float32", values, shape);

function result(extra = {}) {
  return {
    generation: 3,
    stage: "full",
    final: true,
    score: 2,
    baseline_score: 0.5,
    target: 1,
    curve: { alphas: f32([0, 0.5, 1]), scores: f32([0.5, 1, 2]), grad_norm: f32([1, 0.5, 0]), cumulative: f32([0, 1, 1.5]) },
    frames: {
      alphas: f32([0, 1]),
      predicted: wire(Int32Array, "int32", [0, 1], [2]),
      grad: f32([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]),
      grad_scale: f32([1, 0.5]),
      cumulative: f32([0, 0, 0, 0, 1, 1, 1, 1], [2, 2, 2]),
      cumulative_scale: f32([1, 2]),
    },
    baseline_image: wire(Uint8Array, "uint8", [0, 0, 0, 0], [2, 2, 1]),
    ...extra,
  };
}

test("unpack decodes the curves, the frames and the baseline", () => {
  const r = result({ final_map: { channels: f32([1, 2, 3, 4], [1, 2, 2]), scale: "0.25" }, labels: { 1: "cat" } });
  const d = unpack(r);
  assert.equal(d.generation, 3);
  assert.equal(d.stage, "full");
  assert.equal(d.isFinal, true);
  assert.deepEqual(Array.from(d.curveAlphas), [0, 0.5, 1]);
  assert.deepEqual(Array.from(d.scores), [0.5, 1, 2]);
  assert.deepEqual(Array.from(d.gradNorm), [1, 0.5, 0]);
  assert.deepEqual(Array.from(d.cumulative), [0, 1, 1.5]);
  assert.deepEqual(Array.from(d.frameAlphas), [0, 1]);
  assert.deepEqual(Array.from(d.predicted), [0, 1]);
  assert.deepEqual(d.grad.shape, [2, 2, 2]);
  assert.deepEqual(Array.from(d.gradScale), [1, 0.5]);
  assert.deepEqual(d.cum.shape, [2, 2, 2]);
  assert.deepEqual(Array.from(d.cumScale), [1, 2]);
  assert.deepEqual(d.final.shape, [1, 2, 2]);
  assert.equal(d.finalScale, 0.25);
  assert.deepEqual(d.baseline.shape, [2, 2, 1]);
  assert.deepEqual(d.labels, { 1: "cat" });
  assert.equal(d.raw, r);
});

test("unpack without a final map or labels", () => {
  const d = unpack(result());
  assert.equal(d.final, null);
  assert.equal(d.finalScale, 1);
  assert.deepEqual(d.labels, {});
});

test("the view discriminator picks what is decoded", async () => {
  const { viewOf, isComplete } = await import("./result.js");
  assert.equal(viewOf({}), "path");
  assert.equal(viewOf({ view: "samples" }), "samples");
  const final_map = { channels: f32([1, 2, 3, 4], [1, 2, 2]), scale: 2 };
  const samples = {
    n: 2,
    counts: wire(Int32Array, "int32", [1, 2], [2]),
    maps: f32([1, 1, 1, 1, 2, 2, 2, 2], [2, 1, 2, 2]),
    scales: f32([1, 1]),
    rel_change: f32([NaN, 0.5]),
    sample_image: null,
  };
  assert.equal(isComplete({ view: "samples", final_map }), false);
  const s = unpack({ view: "samples", final_map, samples, generation: 1 });
  assert.equal(s.view, "samples");
  assert.deepEqual(Array.from(s.samples.counts), [1, 2]);
  assert.deepEqual(s.samples.maps.shape, [2, 1, 2, 2]);
  assert.equal(s.samples.gap, null);
  const m = unpack({ view: "map", final_map, parts: [{ name: "cam", sum: 1, map: f32([1, 2], [1, 2]), scale: 1 }, { name: "bias", sum: 2 }] });
  assert.equal(m.parts[0].map.shape[1], 2);
  assert.equal(m.parts[1].map, null);
  assert.equal(m.finalScale, 2);
});
