import { test } from "node:test";
import assert from "node:assert/strict";
import { COLORMAPS, buildLut, colormap, isDiverging, lookup, resolveColormap } from "./colormap.js";

test("buildLut hits the anchors at both ends and interpolates between", () => {
  const lut = buildLut([[0, 0, 0], [255, 100, 50]], 3);
  assert.deepEqual(Array.from(lut), [0, 0, 0, 128, 50, 25, 255, 100, 50]);
});

test("every named map has 256 RGB entries", () => {
  for (const name of COLORMAPS.filter((n) => n !== "auto")) {
    assert.equal(colormap(name).length, 768, name);
  }
});

test("diverging maps are light in the middle and differ at the ends", () => {
  const lut = colormap("coolwarm");
  const [r0, , b0] = lookup(lut, 0);
  const [r1, , b1] = lookup(lut, 1);
  const mid = lookup(lut, 0.5);
  assert.ok(b0 > r0, "negative end is blue");
  assert.ok(r1 > b1, "positive end is red");
  assert.ok(mid.every((c) => c > 200), "zero is light");
});

test("sequential maps grow in brightness", () => {
  const lut = colormap("inferno");
  const luma = (t) => lookup(lut, t).reduce((a, b) => a + b, 0);
  assert.ok(luma(0) < luma(0.5) && luma(0.5) < luma(1));
});

test("resolveColormap picks by sign and halves diverging maps for magnitudes", () => {
  assert.equal(resolveColormap("auto", true).name, "coolwarm");
  assert.equal(resolveColormap("auto", false).name, "inferno");
  const half = resolveColormap("coolwarm", false).lut;
  assert.deepEqual(lookup(half, 0), [221, 221, 221], "starts at the light middle");
  assert.equal(resolveColormap("nonsense", true).name, "coolwarm");
  assert.ok(isDiverging("purplegreen") && !isDiverging("viridis"));
});

test("lookup clamps and survives NaN", () => {
  const lut = colormap("gray");
  assert.deepEqual(lookup(lut, -3), [0, 0, 0]);
  assert.deepEqual(lookup(lut, 7), [255, 255, 255]);
  assert.deepEqual(lookup(lut, Number.NaN), [0, 0, 0]);
  assert.throws(() => colormap("jet"), /unknown colour map/);
});
