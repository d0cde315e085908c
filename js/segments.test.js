import { test } from "node:test";
import assert from "node:assert/strict";
import { boundary, pickPoint } from "./segments.js";

test("a click is located in the panel as fractions, and missed outside it", () => {
  const rects = { input: [10, 20, 100, 50] };
  assert.deepEqual(pickPoint(rects, "input", 60, 45), { x: 0.5, y: 0.5 });
  assert.equal(pickPoint(rects, "input", 5, 45), null);
  assert.equal(pickPoint(rects, "input", 110, 45), null, "the right edge is outside");
  assert.equal(pickPoint(rects, "grad", 60, 45), null, "no such panel");
  assert.equal(pickPoint({ input: [0, 0, 0, 0] }, "input", 0, 0), null);
});

test("the outline of a segment is its pixels next to another segment or the edge", () => {
  // 4 × 3: segment 1 is the 2 × 2 block at the right, segment 0 the rest
  const mask = Uint8Array.from([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0]);
  assert.deepEqual(boundary(mask, 4, 3, 1), [2, 3, 6, 7]);
  const big = new Uint8Array(25).fill(2); // 5 × 5 of one segment: only the ring is outline
  assert.equal(boundary(big, 5, 5, 2).length, 16);
  assert.ok(!boundary(big, 5, 5, 2).includes(12), "the centre is inside");
});
