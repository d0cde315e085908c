import { test } from "node:test";
import assert from "node:assert/strict";
import { CURVES, PANEL, figureLayout } from "./layout.js";

test("wide page: 260 px panels in a 2 × 2 grid and the curves beside, at most 560 wide", () => {
  const f = figureLayout(1248, 224, 224);
  assert.deepEqual(f.panel, [260, 260]);
  assert.equal(f.width, 2 * 260 + PANEL.gap);
  assert.equal(f.height, 2 * (PANEL.title + 260 + PANEL.bar) + PANEL.rowGap);
  assert.deepEqual(f.cells, {
    input: [0, PANEL.title],
    grad: [260 + PANEL.gap, PANEL.title],
    cumulative: [0, 2 * PANEL.title + 260 + PANEL.bar + PANEL.rowGap],
    final: [260 + PANEL.gap, 2 * PANEL.title + 260 + PANEL.bar + PANEL.rowGap],
  });
  assert.deepEqual(f.curves, { width: CURVES.max, height: f.height, beside: true });
});

test("a JupyterLab cell (845 px): smaller panels so the curves still fit beside", () => {
  const f = figureLayout(845, 224, 224);
  assert.deepEqual(f.panel, [225, 225]);
  assert.ok(f.curves.beside);
  assert.ok(f.width + CURVES.gap + f.curves.width <= 845, "fits on one line");
  assert.ok(f.curves.width >= CURVES.min);
});

test("narrow: the curves go below at the full width; the panels keep the aspect ratio", () => {
  const f = figureLayout(600, 100, 200);
  assert.equal(f.curves.beside, false);
  assert.equal(f.curves.width, 560);
  assert.deepEqual(f.panel, [260, 130], "200 × 100 image: the longer side is the panel side");
  const tiny = figureLayout(300, 224, 224);
  assert.ok(tiny.width <= 300 && tiny.panel[0] >= PANEL.floor);
  assert.equal(figureLayout(0, 10, 10).curves.beside, true, "unknown width: assume 1000 px");
});

test("a 1920-wide screen is used: larger panels, the curves still beside", () => {
  const f = figureLayout(1880, 224, 224);
  assert.ok(f.panel[0] > 300 && f.panel[0] <= PANEL.wide, `panel ${f.panel[0]}`);
  assert.ok(f.curves.beside && f.width + CURVES.gap + f.curves.width <= 1880);
  assert.ok(1880 - (f.width + CURVES.gap + f.curves.width) < 300, "little width left empty");
});
