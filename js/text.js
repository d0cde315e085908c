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
  image: "another image",
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
  const secsOf = r.timings ? `, ${duration(r.timings.attribution + r.timings.payload)}` : "";
  const stage = r.stage === "coarse" ? "preview (the full result follows)" : "done";
  if (r.view === "samples") return `✓ ${stage}: mean of ${r.samples?.n ?? "?"} samples${secsOf}`;
  if (r.view === "map") return `✓ ${stage}${secsOf}`;
  const asked = Number(r.params?.steps);
  const rule = r.params?.rule ?? r.rule_used;
  // steps = n fixes the quadrature points; the path's ends (the input, and for a sentence's
  // embeddings the baseline too) come on top of them where the rule has no node there
  const ends = { 1: " + the input", 2: " + the baseline and the input" }[r.steps - asked];
  const how = r.rule_used === "adaptive_trapezoid" ? "steps = auto" : Number.isFinite(asked) && ends ? `${asked} ${rule} points${ends}` : `${rule}`;
  const secs = r.timings ? `, ${duration(r.timings.attribution + r.timings.payload)}` : "";
  return `✓ ${r.stage === "coarse" ? "coarse preview" : "done"}: ${r.steps} points on the path (${how}), ${r.evaluations} model evaluations${secs}`;
}

/** A duration: milliseconds below a tenth of a second (never "0.0 s"), else seconds. */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  return seconds < 0.1 ? `${Math.max(1, Math.round(1000 * seconds))} ms` : `${seconds.toFixed(1)} s`;
}

/** "a − b" with the sign of b folded in: 8.521 − (−0.1384) is written "8.521 + 0.1384". */
export function minus(a, b, f = fmt) {
  if (Number.isFinite(b) && b < 0) return `${f(a)} + ${f(-b)}`;
  return `${f(a)} − ${f(b)}`;
}

/** A signed number with a real minus sign. */
export function signed(v, f = fmt) {
  return Number.isFinite(v) && v < 0 ? `−${f(-v)}` : f(v);
}

/**
 * The readout under the panels of a result without a path: completeness where the method has it
 * (a delta against a baseline, or parts that add up to the score), the parts and their sums.
 * @returns {{level: string, text: string}}
 */
export function mapReadout(r, f = fmt) {
  const bits = [];
  let level = "none";
  const preview = r.stage === "coarse";
  if (Number.isFinite(r.delta) && Number.isFinite(r.baseline_score)) {
    const span = r.score - r.baseline_score;
    const rel = r.relative_delta;
    const pct = Number.isFinite(rel) ? `${(100 * rel).toFixed(rel < 0.001 ? 3 : 2)} %` : "–";
    bits.push(`Completeness: Σ attributions = ${signed(r.sum, f)}  ·  F(x) − F(x′) = ${minus(r.score, r.baseline_score, f)} = ${signed(span, f)}  ·  gap ${pct}`);
    if (!preview) level = Number.isFinite(rel) && rel > 0.01 ? "warn" : "ok";
    if (level === "warn" && r.view === "samples") bits.push("the gap shrinks like 1/√samples: raise the samples");
  }
  const parts = r.parts || [];
  if (parts.length) {
    const total = parts.reduce((a, p) => a + p.sum, 0);
    const list = parts.map((p) => `${p.name} ${signed(p.sum, f)}`).join(", ");
    if (r.parts_add_up) {
      const gap = Math.abs(total - r.score) / Math.max(1e-12, Math.abs(r.score));
      bits.push(`Parts: ${list}  ·  Σ parts = ${signed(total, f)} vs F(x) = ${signed(r.score, f)}  ·  gap ${(100 * gap).toFixed(2)} %`);
      if (!preview) level = gap > 0.01 ? "warn" : "ok";
    } else {
      bits.push(`Parts: ${list}`);
    }
  }
  if (preview && bits.length) bits.push("(preview: the full result follows)");
  return { level, text: bits.join("  ·  ") };
}
