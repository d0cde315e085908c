import { test } from "node:test";
import assert from "node:assert/strict";
import { SLIDER_STEPS, applies, defaultsOf, describeControl, fromSlider, shownValue, takesBaseline, toSlider } from "./kernelrow.js";

const sigma = { name: "sigma", kind: "float", low: 0, high: 1, choices: [], percent: true };
const samples = { name: "samples", kind: "int", low: 1, high: 1000, choices: [] };

test("every control kind picks its element", () => {
  assert.equal(describeControl({ kind: "choice", choices: ["a"] }).element, "select");
  assert.equal(describeControl({ kind: "module", choices: ["conv"] }).element, "select");
  assert.equal(describeControl({ kind: "bool" }).element, "toggle");
  assert.equal(describeControl({ kind: "steps" }).element, "steps");
  assert.equal(describeControl({ kind: "baseline" }).element, "baseline");
  assert.equal(describeControl({ kind: "seed", low: 0, high: 10 }).element, "number");
  assert.equal(describeControl(sigma).element, "slider");
  assert.equal(describeControl({ kind: "tensor" }).element, "none");
});

test("σ as a fraction of the range is shown in percent", () => {
  const d = describeControl(sigma);
  assert.equal(d.unit, "% of range");
  assert.deepEqual([d.min, d.max, d.factor], [0, 100, 100]);
  assert.equal(shownValue(d, 0.15, false), "15");
  assert.equal(fromSlider(d, toSlider(d, 0.15), false), 0.15);
});

test("a wide integer range slides on a log scale and ends on its bounds", () => {
  const d = describeControl(samples);
  assert.ok(d.log);
  assert.equal(fromSlider(d, 0, true), 1);
  assert.equal(fromSlider(d, SLIDER_STEPS, true), 1000);
  assert.equal(fromSlider(d, toSlider(d, 50), true), 50);
  const mid = fromSlider(d, SLIDER_STEPS / 2, true);
  assert.ok(mid > 20 && mid < 50, `log midpoint ${mid}`);
});

test("takesBaseline reads the controls", () => {
  assert.equal(takesBaseline({ controls: [{ kind: "baseline" }] }), true);
  assert.equal(takesBaseline({ controls: [sigma] }), false);
  assert.equal(takesBaseline(undefined), false);
});

test("a control with `when` applies only while the other control has (or lacks) the value", () => {
  const tolerance = { name: "tolerance", when: ["steps", "auto"] };
  const rule = { name: "rule", when: ["steps", "!auto"] };
  assert.equal(applies(tolerance, { steps: "auto" }), true);
  assert.equal(applies(tolerance, { steps: 32 }), false);
  assert.equal(applies(rule, { steps: "auto" }), false);
  assert.equal(applies(rule, { steps: 32 }), true);
  assert.equal(applies({ name: "sigma" }, {}), true, "no when: always");
  assert.equal(applies({ name: "x", when: ["steps"] }, {}), true, "a malformed when shows the control");
  assert.deepEqual(defaultsOf({ controls: [{ name: "steps", default: "auto" }, { name: "rule", default: "gausslegendre" }] }), {
    steps: "auto",
    rule: "gausslegendre",
  });
});
