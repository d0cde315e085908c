import { test } from "node:test";
import assert from "node:assert/strict";
import { CLASS_COLORS, classChanges, classColors, classSegments, classSummary } from "./classes.js";

test("classChanges marks each change at the midpoint", () => {
  const changes = classChanges([0, 0.2, 0.4, 0.6], [7, 7, 3, 5]);
  assert.deepEqual(changes, [
    { index: 2, alpha: 0.30000000000000004, from: 7, to: 3 },
    { index: 3, alpha: 0.5, from: 3, to: 5 },
  ]);
  assert.deepEqual(classChanges([0, 1], [1, 1]), []);
});

test("classSegments covers [0, 1] with one run per class change", () => {
  assert.deepEqual(classSegments([0, 0.2, 0.4, 1], [7, 7, 3, 7]), [
    { start: 0, end: 0.30000000000000004, cls: 7 },
    { start: 0.30000000000000004, end: 0.7, cls: 3 },
    { start: 0.7, end: 1, cls: 7 },
  ]);
  assert.deepEqual(classSegments([0, 1], [2, 2]), [{ start: 0, end: 1, cls: 2 }]);
  assert.deepEqual(classSegments([], []), []);
});

test("classColors: the target first, then order of appearance, grey past the palette", () => {
  const segs = classSegments([0, 0.5, 1], [1, 2, 3]);
  const colors = classColors(segs, 3);
  assert.equal(colors.get(3), CLASS_COLORS[0]);
  assert.equal(colors.get(1), CLASS_COLORS[1]);
  assert.equal(colors.get(2), CLASS_COLORS[2]);
  assert.equal(classColors(segs, 99).has(99), false, "a target never predicted gets no entry");
  const many = classSegments([...Array(12).keys()].map((i) => i / 11), [...Array(12).keys()]);
  assert.equal(classColors(many, 0).get(11), "#cccccc");
});

test("classSummary groups the runs of each class, longest first", () => {
  const summary = classSummary(classSegments([0, 0.2, 0.4, 1], [7, 7, 3, 7]));
  assert.deepEqual(summary.map((s) => s.cls), [7, 3]);
  assert.equal(summary[0].ranges.length, 2);
  assert.ok(Math.abs(summary[0].total - 0.6) < 1e-9);
});
