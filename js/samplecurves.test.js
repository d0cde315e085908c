import { test } from "node:test";
import assert from "node:assert/strict";
import { changePoints, nearestCount, sampleX } from "./samplecurves.js";
import { partPanels, resizeNearest, samplePanelTitles } from "./mappanels.js";
import { rowLayout } from "./layout.js";
import { mapReadout, minus, signed } from "./text.js";

test("sample counts sit on a log2 axis", () => {
  assert.equal(sampleX(1, 64), 0);
  assert.equal(sampleX(64, 64), 1);
  assert.equal(sampleX(8, 64), 0.5);
  assert.equal(nearestCount([1, 2, 4, 8, 16, 32, 50], 50, 1), 6);
  assert.equal(nearestCount([1, 2, 4, 8, 16, 32, 50], 50, 0), 0);
});

test("the change curve starts at the second running mean, in percent", () => {
  const pts = changePoints([1, 2, 4], Float32Array.from([NaN, 0.5, 0.25]));
  assert.deepEqual(pts, [[2, 50], [4, 25]]);
});

test("the samples panels say what they show; the last one is the final map", () => {
  const titles = samplePanelTitles([1, 2, 4, 5], 3, 5);
  assert.deepEqual(titles.map((t) => t[0]), ["sample", "sample_map", "running", "final"]);
  assert.match(titles[2][1], /first 5 samples/);
  assert.match(titles[2][2], /final map/);
  assert.match(samplePanelTitles([1, 2], 0, 2)[2][1], /first 1 sample$/);
});

test("parts with maps become panels; nearest resize keeps a layer's cells", () => {
  assert.deepEqual(partPanels([{ name: "a", map: {} }, { name: "b" }, { name: "c", map: {} }], 1).map((p) => p.name), ["a"]);
  assert.deepEqual(Array.from(resizeNearest([1, 2, 3, 4], 2, 2, 4, 4)), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
});

test("one row of panels fits a 1280 px wide notebook with the curves beside", () => {
  const fig = rowLayout(1200, 224, 224, 4, true);
  assert.ok(fig.curves.beside);
  assert.ok(fig.width + 16 + fig.curves.width <= 1200);
  assert.ok(fig.panel[0] >= 150);
});

test("signs are printed properly", () => {
  assert.equal(minus(8.521, -0.1384), "8.521 + 0.1384");
  assert.equal(minus(8.521, 0.5), "8.521 − 0.5");
  assert.equal(signed(-2), "−2");
});

test("the readout of a map: completeness, and parts against the score", () => {
  const dl = mapReadout({ delta: 0, baseline_score: -1, score: 2, sum: 3, relative_delta: 0, stage: "full" });
  assert.match(dl.text, /F\(x\) − F\(x′\) = 2 \+ 1 = 3/);
  assert.equal(dl.level, "ok");
  const fg = mapReadout({ score: 1, parts: [{ name: "input", sum: 0.75 }, { name: "bias", sum: 0.25 }], parts_add_up: true, stage: "full" });
  assert.match(fg.text, /Σ parts = 1 vs F\(x\) = 1/);
  assert.equal(fg.level, "ok");
  const coarse = mapReadout({ delta: 5, baseline_score: 0, score: 1, sum: 6, relative_delta: 5, stage: "coarse" });
  assert.equal(coarse.level, "none", "a preview is not flagged");
  assert.match(coarse.text, /preview/);
  assert.equal(mapReadout({ stage: "full" }).text, "");
});

test("signed data never gets a sequential map; magnitudes are detected", async () => {
  const { resolveColormap } = await import("./colormap.js");
  const { allNonNegative } = await import("./result.js");
  assert.equal(resolveColormap("hot", true).name, "coolwarm");
  assert.equal(resolveColormap("hot", false).name, "hot");
  assert.equal(resolveColormap("purplegreen", true).name, "purplegreen");
  assert.equal(allNonNegative(Float32Array.from([0, 1, 2])), true);
  assert.equal(allNonNegative(Float32Array.from([0, -1e-9])), false);
});

test("durations never read 0.0 s", async () => {
  const { duration } = await import("./text.js");
  assert.equal(duration(0.0004), "1 ms");
  assert.equal(duration(0.042), "42 ms");
  assert.equal(duration(1.25), "1.3 s");
});

test("exact tables from the kernel replace the anchors", async () => {
  const { colormap, setTables } = await import("./colormap.js");
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut.set([i, 255 - i, 7], i * 3);
  setTables({ coolwarm: lut, nonsense: lut });
  assert.equal(colormap("coolwarm")[3 * 10], 10);
  assert.equal(colormap("coolwarm", { half: true })[0], 128, "the positive half starts at the middle");
  setTables({});
  assert.notEqual(colormap("coolwarm")[2], 7, "back to the anchors");
});
