// The token explorer's pure parts (js/textwidget.js draws them): a result decoded once, the values
// the chips show at α (the attribution accumulated up to α, or the gradient at α), subword pieces
// merged into words, one colour scale for every sentence shown and a chip's colours.

import { decode } from "./wire.js";
import { nearestIndex } from "./scrubber.js";
import { percentile } from "./normalize.js";
import { lookup } from "./colormap.js";

/** What the chips can show at α. */
export const SHOW_MODES = { attribution: "attribution accumulated up to α", gradient: "gradient at α" };

/** A chip's scaled value beyond which its text is white (a dark chip). */
export const DARK = 0.6;

/**
 * Decode a result of the kernel (attrwidgets/widgets/_text_compute.py) once.
 * @returns {{raw: object, view: string, rows: object[], length: number, scores: Float32Array,
 *            path: object|null}}  `path`: alphas (N × K), frames, cumulative and grad (N × F × T)
 */
export function unpackText(result) {
  const scores = decode(result.scores);
  const length = scores.shape[1];
  let path = null;
  if (result.view === "path" && result.path) {
    const p = result.path;
    const alphas = decode(p.alphas);
    const frames = decode(p.frames).data;
    path = {
      alphas,
      count: alphas.shape[1],
      frames,
      cumulative: decode(p.cumulative).data,
      grad: decode(p.grad).data,
      scores: decode(p.scores).data,
      gradNorm: decode(p.grad_norm).data,
      cumulativeSum: decode(p.cumulative_sum).data,
      predicted: decode(p.predicted).data,
    };
  }
  return { raw: result, view: path ? "path" : "map", rows: result.rows, length, scores: scores.data, path };
}

/** α of row `i`'s K points (a view into the (N, K) array). */
export function rowAlphas(path, i) {
  return path.alphas.data.subarray(i * path.count, (i + 1) * path.count);
}

/**
 * The frame (index into `path.frames`) of row `i` nearest to `alpha`. Of frames at the same α
 * (the trace pads short rows with copies of α = 1) the last is taken: it holds the final values.
 */
export function frameAt(path, i, alpha) {
  const all = rowAlphas(path, i);
  const at = Array.from(path.frames, (k) => all[k]);
  let j = nearestIndex(at, alpha);
  while (j >= 0 && j + 1 < at.length && at[j + 1] === at[j]) j++;
  return j;
}

/**
 * The values row `i`'s chips show, one per token: the final scores (no path, or `alpha` null),
 * else at the frame nearest to `alpha` the accumulated attribution or the gradient (`show`).
 * @returns {{values: Float32Array, alpha: number|null}}  `alpha`: the α of the point shown
 */
export function tokenValues(data, i, alpha, show = "attribution") {
  const n = data.rows[i].tokens.length;
  const T = data.length;
  if (!data.path || alpha === null || alpha === undefined) {
    return { values: data.scores.subarray(i * T, i * T + n), alpha: null };
  }
  const p = data.path;
  const j = frameAt(p, i, alpha);
  const F = p.frames.length;
  const source = show === "gradient" ? p.grad : p.cumulative;
  const start = (i * F + j) * T;
  return { values: source.subarray(start, start + n), alpha: rowAlphas(p, i)[p.frames[j]] };
}

/** Sum `values` by word: `groups[t]` is token t's word; returns one value per word. */
export function mergeValues(values, groups) {
  const count = groups.length ? Math.max(...groups) + 1 : 0;
  const out = new Float32Array(count);
  for (let t = 0; t < values.length && t < groups.length; t++) out[groups[t]] += values[t];
  return out;
}

/** The chips of row `row` ({tokens, groups, words}): [text, value] pairs, merged into words or not. */
export function chips(row, values, merge = false) {
  if (!merge) return row.tokens.map((t, k) => [t, values[k]]);
  const merged = mergeValues(values, row.groups);
  return row.words.map((w, k) => [w, merged[k]]);
}

/**
 * One colour scale for every row shown: the `clip` percentile of |value| over all their values
 * (1 when they are all zero), so a colour means the same score in every sentence.
 * @param {ArrayLike<number>[]} lists
 */
export function sharedScale(lists, clip = 100) {
  let n = 0;
  for (const l of lists) n += l.length;
  const all = new Float32Array(n);
  let k = 0;
  for (const l of lists) {
    all.set(l, k);
    k += l.length;
  }
  const s = percentile(all, clip);
  return Number.isFinite(s) && s > 0 ? s : 1;
}

/**
 * A chip's colours on the diverging table `lut` (blue negative, white 0, red positive), the
 * scale symmetric around zero and clipped at ±`scale`.
 * @returns {{background: string, color: string, t: number}}
 */
export function chipColors(value, scale, lut) {
  const t = Math.max(-1, Math.min(1, (Number.isFinite(value) ? value : 0) / (scale || 1)));
  const [r, g, b] = lookup(lut, 0.5 + 0.5 * t);
  return { background: `rgb(${r}, ${g}, ${b})`, color: Math.abs(t) > DARK ? "#fff" : "#111", t };
}

/** The curves of row `i` in the form js/curvebox.js draws (its `data`). */
export function rowCurves(data, i) {
  const p = data.path;
  const K = p.count;
  const slice = (a) => a.subarray(i * K, (i + 1) * K);
  const row = data.rows[i];
  return {
    curveAlphas: rowAlphas(p, i),
    scores: slice(p.scores),
    gradNorm: slice(p.gradNorm),
    cumulative: slice(p.cumulativeSum),
    predicted: slice(p.predicted),
    frameAlphas: rowAlphas(p, i),
    labels: data.raw.labels || {},
    raw: { score: row.score, baseline_score: row.baseline_score, target: row.target },
  };
}

/** The line beside a row: the prediction and, when it differs, the class explained. */
export function predictionText(row) {
  const p = `${row.predicted_label} (p ${(100 * row.prob).toFixed(1)} %)`;
  if (row.target === row.predicted) return p;
  return `${p} · explaining ${row.target_label} (p ${(100 * row.target_prob).toFixed(1)} %)`;
}
