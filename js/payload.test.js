// The result payload, as the kernel writes it: js/fixtures/payload_<view>.json are real payloads
// written by tests/widgets/test_payload_fixture.py (which fails when Python's payload changes
// shape), decoded here exactly as the widget decodes a result.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { revive } from "./static_page.js";
import { isComplete, unpack, viewOf } from "./result.js";
import { mapReadout, resultText } from "./text.js";
import { completenessText } from "./controls.js";

globalThis.atob ??= (s) => Buffer.from(s, "base64").toString("binary");
const fixture = (view) => JSON.parse(readFileSync(new URL(`./fixtures/payload_${view}.json`, import.meta.url), "utf8"), revive);

test("a path payload decodes into the four panels' data and the curves", () => {
  const r = fixture("path");
  assert.equal(viewOf(r), "path");
  assert.ok(isComplete(r));
  const d = unpack(r);
  assert.equal(d.curveAlphas.length, r.steps);
  assert.equal(d.grad.shape[0], d.frameAlphas.length);
  assert.equal(d.final.shape.length, 3);
  assert.match(completenessText(r).text, /Completeness/);
  assert.match(resultText(r), /points on the path/);
});

test("a samples payload decodes into running means that end on the final map", () => {
  const r = fixture("samples");
  assert.equal(viewOf(r), "samples");
  const d = unpack(r);
  assert.deepEqual(Array.from(d.samples.counts), [1, 2, 4]);
  assert.equal(d.samples.maps.shape[0], 3);
  assert.ok(Number.isNaN(d.samples.relChange[0]) && d.samples.relChange[1] > 0);
  const last = d.samples.maps.shape.slice(1).reduce((a, b) => a * b);
  const k = d.samples.counts.length - 1;
  const running = d.samples.maps.data.subarray(k * last, (k + 1) * last);
  const finalMax = Math.max(...Array.from(d.final.data, Math.abs)) * d.finalScale;
  for (let i = 0; i < last; i += 7) {
    const a = running[i] * d.samples.scales[k];
    const b = d.final.data[i] * d.finalScale;
    assert.ok(Math.abs(a - b) <= 2e-3 * finalMax, `element ${i}: ${a} vs ${b}`);
  }
  assert.match(resultText(r), /mean of 4 samples/);
});

test("a map payload decodes its parts", () => {
  const r = fixture("map");
  const d = unpack(r);
  assert.equal(d.view, "map");
  const cam = d.parts.find((p) => p.name === "cam");
  assert.ok(cam && cam.map.shape.length === 2);
  assert.ok(d.nonNegative, "Grad-CAM is a magnitude");
  assert.match(mapReadout(r).text, /cam/);
});
