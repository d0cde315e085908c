import { test } from "node:test";
import assert from "node:assert/strict";
import { BASELINE_NAMES, SIGN_NAMES, baselineName, fmt, resultText, targetText, titleText } from "./text.js";
import { SIGN_MODES } from "./normalize.js";

test("fmt: significant digits, exponents for the very large and small, a dash when not finite", () => {
  assert.equal(fmt(1.23456), "1.235");
  assert.equal(fmt(1.23456, 3), "1.23");
  assert.equal(fmt(0), "0");
  assert.equal(fmt(123456), "1.23e+5");
  assert.equal(fmt(0.0001234), "1.23e-4");
  assert.equal(fmt(Number.NaN), "–");
  assert.equal(fmt(Infinity), "–");
});

test("baselines and sign modes have names", () => {
  assert.equal(baselineName("blur"), "blurred image");
  assert.equal(baselineName("my_own"), "my_own");
  assert.equal(BASELINE_NAMES.constant, "constant colour");
  for (const mode of SIGN_MODES) assert.equal(typeof SIGN_NAMES[mode], "string");
});

test("targetText names the class, its logit and probability", () => {
  assert.equal(targetText({ label: "tabby", score: 8.51234, prob: 0.4567 }), "tabby — logit 8.51, p 45.7 %");
});

test("titleText adds the explained class and the baseline once there is a result", () => {
  assert.equal(titleText("", null), "Integrated Gradients");
  assert.equal(titleText("My cat", null), "My cat");
  const r = { target_label: "tabby", score: 8.5, params: { baseline: "black" } };
  assert.equal(titleText("My cat", r), "My cat · explaining “tabby” (logit 8.5) · baseline: black");
  assert.equal(titleText("", { target_label: "x", score: 1 }), "Integrated Gradients · explaining “x” (logit 1)");
});

test("resultText tells the stage, the points, the rule and the cost", () => {
  const r = { stage: "full", steps: 32, rule_used: "riemann_trapezoid", params: { rule: "riemann_trapezoid" }, evaluations: 33, timings: { attribution: 1.26, payload: 0.1 } };
  assert.equal(resultText(r), "✓ done: 32 points on the path (riemann_trapezoid), 33 model evaluations, 1.4 s");
  const auto = { ...r, stage: "coarse", rule_used: "adaptive_trapezoid", timings: undefined };
  assert.equal(resultText(auto), "✓ coarse preview: 32 points on the path (steps = auto), 33 model evaluations");
  assert.match(resultText({ ...r, params: undefined, rule_used: "gausslegendre" }), /\(gausslegendre\)/);
  // a sentence's path: 16 Gauss-Legendre nodes and both ends (no nodes), one count for both
  const gl = { stage: "full", steps: 18, rule_used: "gausslegendre", params: { rule: "gausslegendre", steps: 16 }, evaluations: 18 };
  assert.equal(resultText(gl), "✓ done: 18 points on the path (16 gausslegendre points + the baseline and the input), 18 model evaluations");
  assert.match(resultText({ ...gl, steps: 17, evaluations: 17 }), /16 gausslegendre points \+ the input\)/);
});
