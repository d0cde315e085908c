import { test } from "node:test";
import assert from "node:assert/strict";
import { applySign, clipScale, maxAbs, normalize, percentile } from "./normalize.js";

test("applySign implements the four modes", () => {
  const v = [-2, 0, 3];
  assert.deepEqual(Array.from(applySign(v, "both")), [-2, 0, 3]);
  assert.deepEqual(Array.from(applySign(v, "positive")), [0, 0, 3]);
  assert.deepEqual(Array.from(applySign(v, "negative")), [2, 0, 0]);
  assert.deepEqual(Array.from(applySign(v, "absolute")), [2, 0, 3]);
  assert.throws(() => applySign(v, "up"), /unknown sign mode/);
});

test("percentile interpolates over magnitudes and skips non-finite values", () => {
  const v = [0, -1, 2, 3, 4];
  assert.equal(percentile(v, 0), 0);
  assert.equal(percentile(v, 100), 4);
  assert.equal(percentile(v, 50), 2);
  assert.equal(percentile(v, 87.5), 3.5);
  assert.equal(percentile([NaN, Infinity, 5], 100), 5);
  assert.equal(percentile([], 99), 0);
  assert.equal(maxAbs([-7, 3, NaN]), 7);
});

test("normalize clips at the percentile with a symmetric scale for signed maps", () => {
  const values = Array.from({ length: 101 }, (_, i) => i - 50); // -50..50
  values[100] = 1000; // one outlier
  const { data, scale, signed } = normalize(values, { sign: "both", clip: 98 });
  assert.ok(signed);
  assert.ok(scale < 100, "the outlier does not set the scale");
  assert.equal(data[100], 1, "the outlier is clipped to 1");
  assert.equal(data[0], -1, "beyond the percentile clips to -1");
  assert.ok(Math.abs(data[10] - -40 / scale) < 1e-6);
  assert.ok(Math.min(...data) >= -1 && Math.max(...data) <= 1);
});

test("magnitude modes stay in [0, 1]", () => {
  const { data, signed } = normalize([-4, -1, 2], { sign: "absolute", clip: 100 });
  assert.ok(!signed);
  assert.deepEqual(Array.from(data), [1, 0.25, 0.5]);
  const neg = normalize([-4, -1, 2], { sign: "negative", clip: 100 }).data;
  assert.deepEqual(Array.from(neg), [1, 0.25, 0]);
});

test("an all-zero map gives zeros, not NaN", () => {
  const { data, scale } = normalize(new Float32Array(16), { sign: "both", clip: 99 });
  assert.equal(scale, 1);
  assert.ok(data.every((v) => v === 0));
  assert.equal(clipScale(new Float32Array(4)), 1);
});

test("a sparse map falls back to its maximum", () => {
  const v = new Float32Array(1000);
  v[3] = 0.5;
  assert.equal(clipScale(v, 99), 0.5);
});

test("a fixed scale overrides the percentile", () => {
  const { data, scale } = normalize([1, 2], { scale: 4 });
  assert.equal(scale, 4);
  assert.deepEqual(Array.from(data), [0.25, 0.5]);
});
