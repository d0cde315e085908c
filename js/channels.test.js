import { test } from "node:test";
import assert from "node:assert/strict";
import { REDUCTIONS, isSignedReduction, panelSign, reduceChannels, reductionCaption } from "./channels.js";

// three channels (channel-first) of three pixels: (1, −2, 2), (−3, 0, 4), (−1, −2, −2)
const RGB = [1, -3, -1, -2, 0, -2, 2, 4, -2];

test("each reduction gives the exact numbers", () => {
  const out = (mode) => Array.from(reduceChannels(RGB, 3, mode));
  assert.deepEqual(out("sum"), [1, 1, -5]);
  assert.deepEqual(out("abs_sum"), [1, 1, 5]);
  assert.deepEqual(out("sum_abs"), [5, 7, 5]);
  assert.deepEqual(out("max_abs"), [2, 4, 2]);
  assert.deepEqual(out("l2"), [3, 5, 3]);
  assert.ok(reduceChannels(RGB, 3, "sum") instanceof Float32Array);
});

test("a grey image: the sum is the value, every other reduction its magnitude", () => {
  assert.deepEqual(Array.from(reduceChannels([-2, 3], 1, "sum")), [-2, 3]);
  for (const mode of ["abs_sum", "sum_abs", "max_abs", "l2"]) {
    assert.deepEqual(Array.from(reduceChannels([-2, 3], 1, mode)), [2, 3], mode);
  }
});

test("non-finite values count as zero; bad input throws", () => {
  assert.deepEqual(Array.from(reduceChannels([NaN, 3, Infinity, -4], 2, "sum")), [0, -1]);
  assert.deepEqual(Array.from(reduceChannels([NaN, 3, Infinity, -4], 2, "l2")), [0, 5]);
  assert.throws(() => reduceChannels(RGB, 3, "mean"), /unknown channel reduction/);
  assert.throws(() => reduceChannels([1, 2, 3, 4], 3, "sum"), /not 3 channels/);
});

test("only the sum is signed; magnitudes ignore the sign control", () => {
  assert.deepEqual(REDUCTIONS.map(([id]) => id), ["sum", "abs_sum", "sum_abs", "max_abs", "l2"]);
  assert.deepEqual(REDUCTIONS.map(([id]) => isSignedReduction(id)), [true, false, false, false, false]);
  for (const sign of ["both", "positive", "negative", "absolute"]) {
    assert.equal(panelSign("sum", sign), sign);
    assert.equal(panelSign("max_abs", sign), "absolute");
    assert.equal(panelSign("l2", sign), "absolute");
  }
});

test("captions say what the panel shows", () => {
  assert.deepEqual(reductionCaption("sum", "both", 99), { subtitle: "Σ channels, signed", bar: "Σ channels, clip p99" });
  assert.deepEqual(reductionCaption("sum", "negative", 95), { subtitle: "Σ channels, negative part only", bar: "negative part, clip p95" });
  assert.equal(reductionCaption("sum", "absolute", 99).bar, "|Σ channels|, clip p99");
  assert.deepEqual(reductionCaption("max_abs", "negative", 99), { subtitle: "max |channel|: a magnitude, no sign", bar: "max |channel|, clip p99" });
});
