import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chipColors, chips, frameAt, mergeValues, predictionText, rowCurves, sharedScale, tokenValues, unpackText } from "./tokens.js";
import { colormap } from "./colormap.js";

const wire = (Typed, dtype, values, shape) => {
  const a = Typed.from(values);
  return { view: new DataView(a.buffer), dtype, shape };
};

// two sentences (T = 3), K = 3 points (row 1 padded with a copy of α = 1), frames 0..2
function result() {
  const rows = [
    { tokens: ["un", "##real", "!"], groups: [0, 0, 1], words: ["unreal", "!"], target: 1, predicted: 1, predicted_label: "fresh", target_label: "fresh", prob: 0.9, target_prob: 0.9, score: 2, baseline_score: 0 },
    { tokens: ["bad", "."], groups: [0, 1], words: ["bad", "."], target: 0, predicted: 1, predicted_label: "fresh", target_label: "rotten", prob: 0.6, target_prob: 0.4, score: -1, baseline_score: 0 },
  ];
  return {
    view: "path",
    rows,
    scores: wire(Float32Array, "float32", [1, 0.5, 0.5, -4, 0.25, 0], [2, 3]),
    path: {
      alphas: wire(Float32Array, "float32", [0, 0.5, 1, 0, 1, 1], [2, 3]),
      frames: wire(Int32Array, "int32", [0, 1, 2], [3]),
      cumulative: wire(Float32Array, "float32", [0, 0, 0, 0.5, 0.2, 0.2, 1, 0.5, 0.5, 0, 0, 0, -3.99, 0.25, 0, -4, 0.25, 0], [2, 3, 3]),
      grad: wire(Float32Array, "float32", [9, 9, 9, 8, 8, 8, 7, 7, 7, 6, 6, 6, 5, 5, 5, 4, 4, 4], [2, 3, 3]),
      scores: wire(Float32Array, "float32", [0, 1, 2, 0, -1, -1], [2, 3]),
      grad_norm: wire(Float32Array, "float32", [1, 0.5, 0.1, 1, 1, 1], [2, 3]),
      cumulative_sum: wire(Float32Array, "float32", [0, 0.9, 2, 0, -3.74, -3.75], [2, 3]),
      predicted: wire(Int32Array, "int32", [0, 1, 1, 1, 1, 1], [2, 3]),
    },
  };
}

test("tokenValues: the accumulated attribution at the nearest point; α = 1 shows the final scores", () => {
  const data = unpackText(result());
  assert.deepEqual(Array.from(tokenValues(data, 0, 0.4).values), [0.5, 0.2, 0.2].map(Math.fround));
  assert.equal(tokenValues(data, 0, 0.4).alpha, 0.5);
  assert.deepEqual(Array.from(tokenValues(data, 0, 1).values), Array.from(tokenValues(data, 0, null).values));
  // row 1 has only its own tokens (2 of T = 3), and of its two points at α = 1 the last (the final values)
  assert.deepEqual(Array.from(tokenValues(data, 1, 1).values), [-4, 0.25]);
  assert.equal(frameAt(data.path, 1, 1), 2);
  assert.deepEqual(Array.from(tokenValues(data, 0, 0.9, "gradient").values), [7, 7, 7]);
});

test("merge: subword pieces become words whose scores add up", () => {
  const data = unpackText(result());
  const row = data.rows[0];
  const values = tokenValues(data, 0, null).values;
  assert.deepEqual(Array.from(mergeValues(values, row.groups)), [1.5, 0.5]);
  assert.deepEqual(chips(row, values, true), [["unreal", 1.5], ["!", 0.5]]);
  assert.deepEqual(chips(row, values, false).map((c) => c[0]), ["un", "##real", "!"]);
});

test("sharedScale: one percentile over every row; all zeros give 1", () => {
  assert.equal(sharedScale([[1, -2], [4, 0.5]], 100), 4);
  assert.equal(sharedScale([[1, -2], [-4, 0.5]], 100), 4, "|score|: negative ends count");
  assert.notEqual(sharedScale([[1, -2], [4, 0.5]], 50), 4);
  assert.equal(sharedScale([[0, 0]], 100), 1);
});

test("chipColors: red for positive, blue for negative, white-ish at zero, clipped at the scale", () => {
  const lut = colormap("coolwarm");
  const rgb = (s) => s.match(/\d+/g).map(Number);
  const [rp, , bp] = rgb(chipColors(1, 1, lut).background);
  const [rn, , bn] = rgb(chipColors(-1, 1, lut).background);
  assert.ok(rp > bp + 100 && bn > rn + 100);
  assert.deepEqual(chipColors(5, 1, lut).background, chipColors(1, 1, lut).background);
  assert.equal(chipColors(1, 1, lut).color, "#fff");
  assert.equal(chipColors(0.1, 1, lut).color, "#111");
  const [r0, g0, b0] = rgb(chipColors(0, 1, lut).background);
  assert.ok(Math.abs(r0 - b0) < 10 && g0 > 200);
});

test("predictionText: names the explained class when it is not the predicted one", () => {
  const data = unpackText(result());
  assert.equal(predictionText(data.rows[0]), "fresh (p 90.0 %)");
  assert.equal(predictionText(data.rows[1]), "fresh (p 60.0 %) · explaining rotten (p 40.0 %)");
});

test("rowCurves: one sentence's curves in the form js/curvebox.js draws", () => {
  const data = unpackText(result());
  const c = rowCurves(data, 1);
  assert.deepEqual(Array.from(c.curveAlphas), [0, 1, 1]);
  assert.deepEqual(Array.from(c.scores), [0, -1, -1]);
  assert.deepEqual(Array.from(c.cumulative), [0, -3.74, -3.75].map(Math.fround));
  assert.deepEqual(c.raw, { score: -1, baseline_score: 0, target: 0 });
});

test("the token explorer never writes HTML: tokens and labels go in as text", () => {
  for (const name of ["textwidget.js", "tokens.js"]) {
    const source = readFileSync(new URL(`./${name}`, import.meta.url), "utf8");
    assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, name);
  }
});
