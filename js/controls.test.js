import { test } from "node:test";
import assert from "node:assert/strict";
import { SIGMA, STEPS_CHOICES, completenessText, parseSteps, stepsOptions } from "./controls.js";

test("the steps menu offers auto first, and keeps a custom value", () => {
  assert.equal(STEPS_CHOICES[0], "auto");
  const plain = stepsOptions("auto");
  assert.deepEqual(plain.map((o) => o[0]), ["auto", "8", "16", "32", "64", "128", "256"]);
  assert.match(plain[0][1], /auto/);
  assert.deepEqual(stepsOptions(50).map((o) => o[0]), ["auto", "8", "16", "32", "50", "64", "128", "256"]);
  assert.equal(stepsOptions(32).length, STEPS_CHOICES.length);
});

test("parseSteps gives auto or a positive integer", () => {
  assert.equal(parseSteps("auto"), "auto");
  assert.equal(parseSteps(" AUTO"), "auto");
  assert.equal(parseSteps("32"), 32);
  assert.equal(parseSteps("12.6"), 13);
  assert.equal(parseSteps("0"), "auto");
  assert.equal(parseSteps("nope"), "auto");
});

test("σ has a unit per baseline", () => {
  assert.equal(SIGMA.blur.unit, "px");
  assert.equal(SIGMA.blur.default, 10);
  assert.equal(SIGMA.gaussian.unit, "% of range");
  assert.equal(SIGMA.gaussian.factor, 100);
  assert.equal(SIGMA.gaussian.default, 0.1);
  assert.equal(SIGMA.black, undefined);
});

const base = { sum: 7.3, score: 8.5, baseline_score: 1.2, relative_delta: 0.0004, stage: "full", params: { steps: 32 } };

test("completeness within 1 % is ok", () => {
  const { level, text } = completenessText(base);
  assert.equal(level, "ok");
  assert.match(text, /gap 0\.040 %/);
  assert.match(text, /✓/);
});

test("completeness above 1 % with fixed steps suggests auto", () => {
  const { level, text } = completenessText({ ...base, relative_delta: 0.38 });
  assert.equal(level, "warn");
  assert.match(text, /set steps to auto/);
});

test("completeness above 1 % with auto names its limit instead", () => {
  const { level, text } = completenessText({ ...base, relative_delta: 0.02, params: { steps: "auto" }, max_steps: 512 });
  assert.equal(level, "warn");
  assert.match(text, /auto stopped at its limit of 512/);
  assert.doesNotMatch(text, /set steps to auto/);
});

test("a coarse preview is not a warning", () => {
  const { level, text } = completenessText({ ...base, relative_delta: 0.5, stage: "coarse" });
  assert.equal(level, "none");
  assert.match(text, /coarse preview/);
});
