import { test } from "node:test";
import assert from "node:assert/strict";
import { FONTS, LINE, alphaAtX, drawCurves, drawMarkers, formatTick, layout, legendRows, linearScale, paddedExtent, points, ticks } from "./curves.js";
import { CLASS_COLORS } from "./classes.js";

test("linearScale maps and inverts, flipping the y axis", () => {
  const ys = linearScale([0, 10], [100, 0]);
  assert.equal(ys(0), 100);
  assert.equal(ys(10), 0);
  assert.equal(ys(2.5), 75);
  assert.equal(ys.invert(75), 2.5);
  assert.equal(linearScale([3, 3], [0, 10])(3), 5, "zero-width domain maps to the middle");
});

test("paddedExtent spans all series, skips non-finite values and widens constants", () => {
  assert.deepEqual(paddedExtent([[0, 10], [5, NaN]], 0.1), [-1, 11]);
  assert.deepEqual(paddedExtent([[2, 2]]), [1.5, 2.5]);
  assert.deepEqual(paddedExtent([[]]), [0, 1]);
});

test("ticks are round and cover the range", () => {
  assert.deepEqual(ticks(0, 1, 4), [0, 0.5, 1]);
  assert.deepEqual(ticks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(-3, 12, 3), [0, 5, 10]);
  assert.deepEqual(ticks(2, 2), [2]);
  assert.equal(formatTick(0.000123), "1.2e-4");
  assert.equal(formatTick(12.3456), "12.3");
});

test("layout and alphaAtX agree on the α axis", () => {
  const { top, bottom } = layout(400, 300);
  assert.ok(bottom.y > top.y + top.h);
  assert.equal(alphaAtX(top.x, top), 0);
  assert.equal(alphaAtX(top.x + top.w / 2, top), 0.5);
  assert.equal(alphaAtX(-50, top), 0);
  assert.equal(alphaAtX(1e4, top), 1);
});

test("points skips non-finite values", () => {
  const xs = linearScale([0, 1], [0, 100]);
  const ys = linearScale([0, 1], [10, 0]);
  assert.deepEqual(points([0, 0.5, 1], [0, NaN, 1], xs, ys), [[0, 10], [100, 0]]);
});

function fakeContext() {
  const calls = [];
  return new Proxy(
    { calls },
    {
      get(target, key) {
        if (key in target) return target[key];
        if (key === "measureText") return (t) => ({ width: t.length * 5 });
        return (...args) => calls.push([key, ...args]);
      },
      set(target, key, value) {
        calls.push([`set:${String(key)}`, value]);
        return true;
      },
    },
  );
}

test("drawCurves draws both plots, the marker and the class changes", () => {
  const ctx = fakeContext();
  const alphas = new Float32Array([0, 0.25, 0.5, 0.75, 1]);
  const out = drawCurves(
    ctx,
    {
      alphas,
      scores: new Float32Array([0, 1, 2, 2.5, 2.6]),
      gradNorm: new Float32Array([1, 0.8, 0.3, 0.1, 0.05]),
      cumulative: new Float32Array([0.5, 1.2, 2, 2.4, 2.6]),
      span: 2.6,
      predicted: new Int32Array([4, 4, 9, 9, 9]),
      predictedAlphas: alphas,
      target: 9,
    },
    { alpha: 0.5, width: 400, height: 300 },
  );
  assert.equal(out.changes.length, 1);
  const texts = ctx.calls.filter((c) => c[0] === "fillText").map((c) => c[1]);
  for (const t of ["Along the path: the model’s score and its gradient", "Completeness: attributions add up to F(x) − F(x′)", "class", "F(x) − F(x′)", "α (0 = baseline, 1 = input)"]) {
    assert.ok(texts.includes(t), `missing label ${t}`);
  }
  const markerX = out.top.x + out.top.w / 2;
  assert.ok(ctx.calls.some((c) => c[0] === "moveTo" && c[1] === markerX && c[2] === out.top.y), "marker at α");
  assert.deepEqual(out.segments.map((s) => s.cls), [4, 9]);
  assert.equal(out.colors.get(9), CLASS_COLORS[0], "the explained class gets the first colour");
  // the strip: one rectangle per run, just above the top plot, in the class colours
  const fills = [];
  let fill = null;
  for (const c of ctx.calls) {
    if (c[0] === "set:fillStyle") fill = c[1];
    if (c[0] === "fillRect" && c[2] < out.top.y && c[2] > 0) fills.push([fill, c[1], c[3]]);
  }
  assert.deepEqual(fills.map((f) => f[0]), [CLASS_COLORS[1], CLASS_COLORS[0]]);
  assert.equal(fills[0][1], out.top.x, "the strip starts at α = 0");
  assert.ok(Math.abs(fills[1][1] - (out.top.x + 0.375 * out.top.w)) < 1e-9, "the change is midway between points");
});

test("legendRows wraps entries that do not fit the width", () => {
  // entries take 19 + text, then 14 of space
  assert.deepEqual(legendRows([50, 60], 400), [{ x: 0, row: 0 }, { x: 83, row: 0 }]);
  assert.deepEqual(legendRows([100, 100, 100], 300), [{ x: 0, row: 0 }, { x: 133, row: 0 }, { x: 0, row: 1 }]);
  assert.deepEqual(legendRows([500], 300), [{ x: 0, row: 0 }], "one entry too wide still gets row 0");
});

test("layout makes room for more legend rows", () => {
  const one = layout(400, 500);
  const two = layout(400, 500, { top: 2, bottom: 2 });
  assert.equal(two.top.y - one.top.y, LINE);
  assert.equal(two.bottom.y - two.top.y - two.top.h - (one.bottom.y - one.top.y - one.top.h), LINE);
});

test("every text of the curves is at least 12 px", () => {
  const ctx = fakeContext();
  const a = new Float32Array([0, 0.5, 1]);
  drawCurves(ctx, { alphas: a, scores: a, gradNorm: a, cumulative: a, span: 1, predicted: new Int32Array([1, 2, 2]), predictedAlphas: a, target: 2 }, { alpha: 0.3, width: 360, height: 420 });
  const fonts = ctx.calls.filter((c) => c[0] === "set:font").map((c) => c[1]);
  assert.ok(fonts.length > 0);
  for (const f of fonts) assert.ok(Number(/(\d+)px/.exec(f)[1]) >= 12, f);
  assert.deepEqual(new Set(fonts), new Set([FONTS.text, FONTS.title]));
});

test("drawCurves with alpha null leaves the marker to drawMarkers", () => {
  const a = new Float32Array([0, 0.5, 1]);
  const data = { alphas: a, scores: a, gradNorm: a, cumulative: a, span: 1 };
  const plain = fakeContext();
  const out = drawCurves(plain, data, { alpha: null, width: 400, height: 400 });
  const markerX = out.top.x + 0.25 * out.top.w;
  const at = (ctx) => ctx.calls.filter((c) => c[0] === "moveTo" && c[1] === markerX && c[2] === out.top.y).length;
  assert.equal(at(plain), 0);
  const marks = fakeContext();
  drawMarkers(marks, out, 0.25);
  assert.equal(at(marks), 1);
  assert.equal(marks.calls.filter((c) => c[0] === "moveTo" && c[1] === out.bottom.x + 0.25 * out.bottom.w && c[2] === out.bottom.y).length, 1);
});
