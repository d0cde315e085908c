// The class the model predicts along the path (pure): where it changes, the runs of one class,
// their colours in the strip above the curves and the summary listed beside them.

/**
 * Where the predicted class changes along the path: one entry per change, at the midpoint
 * between the two points, with the classes before and after.
 * @param {ArrayLike<number>} alphas
 * @param {ArrayLike<number>} predicted  class index at each α
 */
export function classChanges(alphas, predicted) {
  const out = [];
  for (let i = 1; i < Math.min(alphas.length, predicted.length); i++) {
    if (predicted[i] !== predicted[i - 1]) {
      out.push({ index: i, alpha: (alphas[i - 1] + alphas[i]) / 2, from: predicted[i - 1], to: predicted[i] });
    }
  }
  return out;
}

/** Colours of the predicted-class strip: the explained class gets the first. */
export const CLASS_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#9d755d", "#72b7b2", "#bab0ac"];

/**
 * Runs of one predicted class along α: `[{start, end, cls}]`, covering [0, 1], each boundary
 * midway between the two points where the class changes.
 * @param {ArrayLike<number>} alphas  sorted ascending
 * @param {ArrayLike<number>} predicted  class index at each α
 */
export function classSegments(alphas, predicted) {
  const n = Math.min(alphas.length, predicted.length);
  const out = [];
  for (let i = 0; i < n; i++) {
    const cls = predicted[i];
    const last = out[out.length - 1];
    if (last && last.cls === cls) continue;
    const start = i === 0 ? 0 : (alphas[i - 1] + alphas[i]) / 2;
    if (last) last.end = start;
    out.push({ start, end: 1, cls });
  }
  return out;
}

/**
 * One colour per class of the segments: `target` (the explained class) gets the first colour,
 * the others follow in order of appearance along α; beyond the palette, grey.
 * @returns {Map<number, string>}
 */
export function classColors(segments, target) {
  const colors = new Map();
  const order = [target, ...segments.map((s) => s.cls)].filter((c) => c !== undefined && c !== null);
  for (const c of order) {
    if (!colors.has(c)) colors.set(c, CLASS_COLORS[colors.size] ?? "#cccccc");
  }
  if (!segments.some((s) => s.cls === target)) colors.delete(target);
  return colors;
}

/**
 * Per class: the α ranges where the model predicts it and their total length, longest total
 * first (for the list beside the curves).
 * @returns {{cls: number, total: number, ranges: number[][]}[]}
 */
export function classSummary(segments) {
  const byClass = new Map();
  for (const s of segments) {
    if (!byClass.has(s.cls)) byClass.set(s.cls, { cls: s.cls, total: 0, ranges: [] });
    const entry = byClass.get(s.cls);
    entry.total += s.end - s.start;
    entry.ranges.push([s.start, s.end]);
  }
  return [...byClass.values()].sort((a, b) => b.total - a.total);
}
