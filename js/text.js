// The words of the explorer (pure): numbers, baseline names, the target menu, the title and the
// status line of a finished result.

/** Menu names of the baselines (the kernel's ids as keys). */
export const BASELINE_NAMES = {
  black: "black",
  white: "white",
  constant: "constant colour",
  uniform: "uniform noise",
  gaussian: "image + gaussian noise",
  blur: "blurred image",
  max_distance: "maximum distance",
  references: "training example",
};

/** Menu texts of the sign modes (js/normalize.js SIGN_MODES). */
export const SIGN_NAMES = { both: "both (signed)", positive: "positive", negative: "negative", absolute: "absolute |Σ|" };

/** A baseline's name, or its id when it has none. */
export function baselineName(b) {
  return BASELINE_NAMES[b] || b;
}

/** A number in `digits` significant digits; exponent form when very large or small; "–" when not finite. */
export function fmt(v, digits = 4) {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(digits)));
}

/**
 * An entry of the target menu.
 * @param {{label: string, score: number, prob: number}} t
 */
export function targetText(t) {
  return `${t.label} — logit ${fmt(t.score, 3)}, p ${(100 * t.prob).toFixed(1)} %`;
}

/**
 * The title line: the widget's title and, with a result, the explained class and the baseline.
 * @param {string} title
 * @param {{target_label: string, score: number, params?: {baseline?: string}}|null} r  the result
 */
export function titleText(title, r) {
  const parts = [title || "Integrated Gradients"];
  if (r) {
    parts.push(`explaining “${r.target_label}” (logit ${fmt(r.score, 3)})`);
    const b = r.params?.baseline;
    if (b) parts.push(`baseline: ${baselineName(b)}`);
  }
  return parts.join(" · ");
}

/**
 * The status line of a finished result: the stage, the points on the path, how they were chosen,
 * the model evaluations and the time.
 */
export function resultText(r) {
  const how = r.rule_used === "adaptive_trapezoid" ? "steps = auto" : `${r.params?.rule ?? r.rule_used}`;
  const secs = r.timings ? `, ${(r.timings.attribution + r.timings.payload).toFixed(1)} s` : "";
  return `✓ ${r.stage === "coarse" ? "coarse preview" : "done"}: ${r.steps} points on the path (${how}), ${r.evaluations} model evaluations${secs}`;
}
