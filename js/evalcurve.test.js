import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluationCaption, evaluationGeometry, hasCurves } from "./evalcurve.js";

const band = { input: 0, target: 3, mean: [0.9, 0.6, 0.1], low: [0.9, 0.5, 0.1], high: [0.9, 0.7, 0.1], auc: 0.55, count: 4 };
const result = {
  kind: "deletion",
  fractions: [0, 0.5, 1],
  curves: [{ label: "integrated_gradients", values: [0.9, 0.2, 0.1], auc: 0.35 }],
  random: [band],
};

test("the caption compares the map's area with random's, lower being better", () => {
  assert.match(evaluationCaption(result), /map 0\.35, random 0\.55 \(mean of 4\).*better than random/);
  assert.match(evaluationCaption({ ...result, curves: [{ ...result.curves[0], auc: 0.7 }] }), /worse than random/);
  assert.equal(evaluationCaption(null), "", "off: nothing");
  assert.match(evaluationCaption({}), /computing/);
  assert.equal(evaluationCaption({ unavailable: "no pixels" }), "no pixels");
  assert.equal(hasCurves({ fractions: [0, 1], curves: [{ values: [1] }] }), false, "mismatched lengths are not drawn");
});

test("several maps: every area in the caption, a polyline each", () => {
  const two = { ...result, curves: [...result.curves, { label: "grad_cam · <b>", values: [0.9, 0.8, 0.1], auc: 0.6 }] };
  assert.match(evaluationCaption(two), /integrated_gradients 0\.35 · grad_cam · <b> 0\.6/);
  const g = evaluationGeometry(two, { width: 400, height: 230 });
  assert.equal(g.curves.length, 2);
  assert.equal(g.bands.length, 1);
});

test("the geometry puts the map below the band where it falls faster", () => {
  const g = evaluationGeometry(result, { width: 400, height: 230 });
  assert.equal(g.curves[0].length, 3);
  assert.equal(g.bands[0].polygon.length, 6, "high then low, reversed: a closed polygon");
  assert.ok(g.curves[0][1][1] > g.bands[0].polygon[1][1], "y grows downward: the map's 0.2 is below the band's 0.7");
  assert.equal(g.curves[0][0][0], g.plot.x);
  assert.equal(g.curves[0][2][0], g.plot.x + g.plot.w);
});
