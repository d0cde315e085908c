import { test } from "node:test";
import assert from "node:assert/strict";
import { referenceCaption, referenceEntries } from "./compare_draw.js";
import { stripTitle } from "./refstrip.js";

function wire(values, shape, dtype = "float32") {
  const typed = dtype === "uint8" ? new Uint8Array(values) : new Float32Array(values);
  return { view: new DataView(typed.buffer), shape, dtype };
}

// three references' 1 × 2 maps, as the explorer's payload sends them (the strip's entries are the compare view's)
const refs = {
  index: [4, 1, 7],
  count: [2, 5, 2],
  draws: 9,
  distinct: 3,
  scale: 0.25,
  maps: wire([0.1, -0.2, 0.3, 0.4, -1, 1], [3, 1, 2]),
  mean: { data: new Float32Array([0.2, 0.1]), shape: [1, 2] }, // decoded by js/result.js
  pictures: wire(Array(3 * 1 * 2 * 3).fill(9), [3, 1, 2, 3], "uint8"),
};

test("entries: the most drawn reference first, ties by index, each with its own map and picture", () => {
  const entries = referenceEntries(refs);
  assert.deepEqual(entries.map((e) => [e.index, e.count]), [[1, 5], [4, 2], [7, 2]]);
  assert.deepEqual(Array.from(entries[0].map.data), [0.30000001192092896, 0.4000000059604645]);
  assert.deepEqual(entries[2].map.shape, [1, 2]);
  assert.deepEqual(entries[1].picture.shape, [1, 2, 3]);
  assert.deepEqual(referenceEntries(null), []);
});

test("captions and title say how many draws and references the strip shows", () => {
  assert.equal(referenceCaption({ index: 1, count: 5 }, 9), "reference 1 · 5 of 9 draws");
  assert.equal(referenceCaption({ index: 0, count: 1 }, 1), "reference 0 · 1 of 1 draw");
  assert.match(stripTitle(refs), /all 3 references in 9 draws/);
  assert.match(stripTitle({ ...refs, distinct: 12 }), /the 3 drawn most often of 12 references/);
  assert.match(stripTitle(refs), /±0\.250/);
});
