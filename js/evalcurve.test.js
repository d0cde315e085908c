import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluationCaption, evaluationGeometry, hasCurves } from "./evalcurve.js";

const result = {
  kind: "deletion",
  fractions: [0, 0.5, 1],
  map: [0.9, 0.2, 0.1],
  random_mean: [0.9, 0.6, 0.1],
  random_low: [0.9, 0.5, 0.1],
  random_high: [0.9, 0.7, 0.1],
  map_auc: 0.35,
  random_auc: 0.55,
  random_count: 4,
  method: "integrated_gradients",
};

test("the caption compares the map's area with random's, lower being better", () => {
  assert.match(evaluationCaption(result), /map 0\.35, random 0\.55 \(mean of 4\).*better than random/);
  assert.match(evaluationCaption({ ...result, map_auc: 0.7 }), /worse than random/);
  assert.equal(evaluationCaption(null), "", "off: nothing");
  assert.match(evaluationCaption({}), /computing/);
  assert.equal(evaluationCaption({ unavailable: "no pixels" }), "no pixels");
  assert.equal(hasCurves({ fractions: [0, 1], map: [1] }), false, "mismatched lengths are not drawn");
});

test("the geometry puts the map below the band where it falls faster", () => {
  const g = evaluationGeometry(result, { width: 400, height: 230 });
  assert.equal(g.map.length, 3);
  assert.equal(g.band.length, 6, "high then low, reversed: a closed polygon");
  assert.ok(g.map[1][1] > g.band[1][1], "y grows downward: the map's 0.2 is below the band's 0.7");
  assert.equal(g.map[0][0], g.plot.x);
  assert.equal(g.map[2][0], g.plot.x + g.plot.w);
});
