import { test } from "node:test";
import assert from "node:assert/strict";
import { OVERLAY, blend, colorbar, ghost, heatOf, pathImage, resize } from "./heatmap.js";
import { colormap } from "./colormap.js";

test("resize keeps constant maps constant and identity sizes unchanged", () => {
  assert.deepEqual(Array.from(resize([1, 2, 3, 4], 2, 2, 2, 2)), [1, 2, 3, 4]);
  const up = resize([5, 5, 5, 5], 2, 2, 7, 5);
  assert.equal(up.length, 35);
  assert.ok(up.every((v) => v === 5));
});

test("resize interpolates between pixel centres", () => {
  const up = resize([0, 1], 1, 2, 1, 4); // centres at 0.25 and 0.75 of the row
  assert.deepEqual(Array.from(up), [0, 0.25, 0.75, 1]);
  const down = resize([0, 0, 4, 4], 1, 4, 1, 2);
  assert.deepEqual(Array.from(down), [0, 4]);
});

test("pathImage goes from the baseline at α=0 to the image at α=1", () => {
  const image = new Uint8Array([200, 100, 50]);
  const baseline = new Uint8Array([0, 0, 250]);
  assert.deepEqual(Array.from(pathImage(image, baseline, 0, 1, 3)), [0, 0, 250, 255]);
  assert.deepEqual(Array.from(pathImage(image, baseline, 1, 1, 3)), [200, 100, 50, 255]);
  assert.deepEqual(Array.from(pathImage(image, baseline, 0.5, 1, 3)), [100, 50, 150, 255]);
  assert.deepEqual(Array.from(pathImage(new Uint8Array([80]), null, 1, 1, 1)), [80, 80, 80, 255]);
});

test("blend leaves zero-attribution pixels untouched and colours strong ones", () => {
  const base = new Uint8ClampedArray([10, 20, 30, 255, 10, 20, 30, 255, 10, 20, 30, 255]);
  const lut = colormap("coolwarm");
  const out = blend(base, new Float32Array([0, 1, -1]), lut, { opacity: 1, signed: true });
  assert.deepEqual(Array.from(out.slice(0, 4)), [10, 20, 30, 255]);
  assert.deepEqual(Array.from(out.slice(4, 7)), Array.from(lut.slice(765, 768)));
  assert.deepEqual(Array.from(out.slice(8, 11)), Array.from(lut.slice(0, 3)));
  const half = blend(base, new Float32Array([0, 1, -1]), lut, { opacity: 0.5, signed: true, gamma: 1 });
  assert.equal(half[4], Math.round(10 + 0.5 * (lut[765] - 10)));
  assert.deepEqual(Array.from(base.slice(4, 8)), [10, 20, 30, 255], "input not modified");
});

test("blend with opacity 0 returns the image", () => {
  const base = new Uint8ClampedArray([1, 2, 3, 255]);
  assert.deepEqual(Array.from(blend(base, new Float32Array([1]), colormap("inferno"), { opacity: 0 })), [1, 2, 3, 255]);
});

test("colorbar runs from the first to the last colour", () => {
  const lut = colormap("viridis");
  const bar = colorbar(lut, 10, 2);
  assert.equal(bar.length, 80);
  assert.deepEqual(Array.from(bar.slice(0, 3)), Array.from(lut.slice(0, 3)));
  assert.deepEqual(Array.from(bar.slice(36, 39)), Array.from(lut.slice(765, 768)));
  assert.deepEqual(Array.from(bar.slice(40, 43)), Array.from(lut.slice(0, 3)), "second row");
});

test("blend's gamma lifts small values", () => {
  const base = new Uint8ClampedArray([0, 0, 0, 255]);
  const lut = new Uint8Array(256 * 3).fill(200);
  const plain = { opacity: 1, signed: false, knee: 1, floor: 0 };
  const linear = blend(base, new Float32Array([0.25]), lut, { ...plain, gamma: 1 });
  const lifted = blend(base, new Float32Array([0.25]), lut, { ...plain, gamma: 0.5 });
  assert.equal(linear[0], 50);
  assert.equal(lifted[0], 100);
});

test("ghost fades towards grey and keeps alpha", () => {
  const px = new Uint8ClampedArray([255, 0, 0, 200]);
  assert.deepEqual(Array.from(ghost(px, 0)), [255, 0, 0, 200]);
  const flat = ghost(px, 1);
  assert.equal(flat[0], flat[1]);
  assert.equal(flat[1], flat[2]);
  assert.equal(flat[3], 200);
});

test("the default overlay makes strong values opaque and moderate ones clearly coloured", () => {
  const n = 255;
  assert.ok(OVERLAY.opacity >= 0.8, "visible at the default opacity");
  assert.equal(heatOf(OVERLAY.knee, n, { opacity: 1 }).alpha, 1, "from the knee on, fully opaque");
  assert.ok(OVERLAY.knee <= 0.5);
  assert.equal(heatOf(-0.9, n, { opacity: 1 }).alpha, 1);
  assert.equal(heatOf(0, n).alpha, 0, "no attribution, no colour");
  const weak = heatOf(0.1, n, { opacity: 1 });
  assert.ok(weak.alpha >= 0.2 && weak.alpha < 0.5, `a tenth of the scale shows, faintly (${weak.alpha})`);
  let last = 0;
  for (let v = 0.05; v <= 1; v += 0.05) {
    const { alpha } = heatOf(v, n, { opacity: 1 });
    assert.ok(alpha >= last, "opacity grows with |v|");
    last = alpha;
  }
  // colours start away from the pale middle of a diverging map
  const { index } = heatOf(0.01, n, { signed: true });
  assert.ok(index - n / 2 >= OVERLAY.floor * n * 0.5 - 1, `index ${index}`);
  assert.ok(heatOf(-0.01, n, { signed: true }).index < n / 2 - OVERLAY.floor * n * 0.5 + 1);
  assert.equal(heatOf(1, n, { signed: false }).index, n);
});

test("the overlay colour bar shows the overlay over grey: grey in the middle, full colour at the ends", () => {
  const lut = colormap("coolwarm");
  const bar = colorbar(lut, 21, 1, { opacity: 1, signed: true, background: 170 });
  assert.deepEqual(Array.from(bar.slice(40, 43)), [170, 170, 170], "zero shows the background");
  assert.deepEqual(Array.from(bar.slice(0, 3)), Array.from(lut.slice(0, 3)));
  assert.deepEqual(Array.from(bar.slice(80, 83)), Array.from(lut.slice(765, 768)));
});
