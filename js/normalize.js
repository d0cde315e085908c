// From raw attribution values to numbers in [-1, 1] (signed) or [0, 1] (magnitudes).
//
// Sign modes: "both" keeps the sign (symmetric scale, diverging colours), "positive" keeps
// max(v, 0), "negative" keeps max(−v, 0), "absolute" keeps |v|. The scale is a percentile of
// the magnitudes (default the 99th, as in the Distill baselines article), so a few extreme
// pixels do not wash out the rest; values beyond it are clipped. An all-zero map stays zero.

export const SIGN_MODES = ["both", "positive", "negative", "absolute"];

/** Whether a sign mode gives signed output (diverging colours). */
export function isSigned(mode) {
  return mode === "both";
}

/**
 * Apply a sign mode to values.
 * @param {ArrayLike<number>} values
 * @param {string} mode  one of SIGN_MODES
 * @returns {Float32Array}
 */
export function applySign(values, mode) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number.isFinite(values[i]) ? values[i] : 0;
    if (mode === "positive") out[i] = v > 0 ? v : 0;
    else if (mode === "negative") out[i] = v < 0 ? -v : 0;
    else if (mode === "absolute") out[i] = Math.abs(v);
    else if (mode === "both") out[i] = v;
    else throw new Error(`unknown sign mode ${JSON.stringify(mode)}; one of ${SIGN_MODES}`);
  }
  return out;
}

/**
 * The p-th percentile (0–100) of |values|, linearly interpolated; non-finite values are skipped.
 * @param {ArrayLike<number>} values
 * @param {number} p
 */
export function percentile(values, p) {
  const mags = new Float32Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) mags[n++] = Math.abs(v);
  }
  if (n === 0) return 0;
  const sorted = mags.subarray(0, n).sort();
  const q = Math.min(100, Math.max(0, Number.isFinite(p) ? p : 100)) / 100;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Largest |value| (finite values only). */
export function maxAbs(values) {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

/**
 * The scale a map is divided by: the clip percentile of its magnitudes, falling back to the
 * largest magnitude when that percentile is zero (sparse maps) and to 1 for an all-zero map.
 * @param {ArrayLike<number>} values  already sign-processed
 * @param {number} clip  percentile in (0, 100]
 */
export function clipScale(values, clip = 99) {
  let scale = percentile(values, clip);
  if (!(scale > 0)) scale = maxAbs(values);
  return scale > 0 ? scale : 1;
}

/**
 * Normalise a map for display.
 * @param {ArrayLike<number>} values
 * @param {{sign?: string, clip?: number, scale?: number}} [options]
 *   `scale` fixes the divisor (e.g. shared across the frames of an animation) instead of the percentile.
 * @returns {{data: Float32Array, scale: number, signed: boolean}}
 *   data in [-1, 1] when signed, else in [0, 1]; `scale` is the raw value that maps to 1.
 */
export function normalize(values, { sign = "both", clip = 99, scale } = {}) {
  const data = applySign(values, sign);
  const s = scale !== undefined && scale > 0 && Number.isFinite(scale) ? scale : clipScale(data, clip);
  const lo = isSigned(sign) ? -1 : 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] / s;
    data[i] = v > 1 ? 1 : v < lo ? lo : v;
  }
  return { data, scale: s, signed: isSigned(sign) };
}
