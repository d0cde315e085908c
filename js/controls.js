// The kernel controls' pure parts: the steps menu, σ units per baseline, the completeness line.

import { minus, signed } from "./text.js";

/** What the steps menu offers (the kernel accepts any 1..512 too). */
export const STEPS_CHOICES = ["auto", 8, 16, 32, 64, 128, 256];

/** σ of the baselines that have one: its unit, default and input step (`factor`: shown × factor).
 * A fallback only: the kernel sends its own table (attrwidgets/widgets/explorer.py sigma_vocabulary). */
export const SIGMA = {
  blur: { unit: "px", default: 10, step: 1, max: 100, title: "σ of the gaussian blur, in pixels of the input" },
  gaussian: { unit: "% of range", factor: 100, default: 0.1, step: 0.01, max: 1, title: "σ of the noise added to the image, in % of the value range" },
};

/**
 * Steps menu entries: "auto" and the fixed choices, plus `current` when it is another number.
 * @returns {[string, string][]} value, text
 */
export function stepsOptions(current) {
  const values = [...STEPS_CHOICES];
  const n = Number(current);
  if (current !== "auto" && Number.isFinite(n) && !values.includes(n)) {
    values.push(n);
    values.sort((a, b) => (a === "auto" ? -1 : b === "auto" ? 1 : a - b));
  }
  return values.map((v) => [String(v), v === "auto" ? "auto (gap < 1 %)" : String(v)]);
}

/** The steps value to send for a menu value: "auto" or an integer. */
export function parseSteps(value) {
  if (String(value).trim().toLowerCase() === "auto") return "auto";
  const n = Math.round(Number(value));
  return Number.isFinite(n) && n >= 1 ? n : "auto";
}

/**
 * The completeness line: the numbers and, above 1 %, what to do about it.
 * @param {{sum: number, score: number, baseline_score: number, relative_delta: number,
 *          stage: string, params?: {steps?: string|number}, converged?: boolean, max_steps?: number}} r
 * @returns {{level: string, text: string}}
 */
export function completenessText(r, fmt = (v) => String(v)) {
  const span = r.score - r.baseline_score;
  const rel = r.relative_delta;
  const warn = Number.isFinite(rel) && rel > 0.01;
  const pct = Number.isFinite(rel) ? `${(100 * rel).toFixed(rel < 0.001 ? 3 : 2)} %` : "–";
  let text = `Completeness: Σ attributions = ${signed(r.sum, fmt)}  ·  F(x) − F(x′) = ${minus(r.score, r.baseline_score, fmt)} = ${signed(span, fmt)}  ·  gap ${pct}`;
  const auto = r.params?.steps === "auto";
  if (r.stage === "coarse") {
    text += "  (coarse preview with a few points; the full result follows)";
  } else if (warn && auto) {
    text += `  — above 1 %: steps = auto stopped at its limit of ${r.max_steps || 512} points; try the gausslegendre rule with 256 steps, or another baseline.`;
  } else if (warn) {
    text += "  — above 1 %: set steps to auto (refines the path until the gap is below 1 %), or raise the steps.";
  } else {
    text += "  ✓";
  }
  return { level: r.stage === "coarse" ? "none" : warn ? "warn" : "ok", text };
}
