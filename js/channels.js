// How the final attribution's colour channels become one value per pixel, as the usual tools do.
//
// The kernel sends the final attribution (α = 1) per channel, channel-first (C, h, w). The
// per-α maps are channel sums already (per channel they would not fit the update budget), so only
// the final panel offers a choice:
//   sum      Σ_c v_c, signed             (Captum's visualize_image_attr)
//   abs_sum  |Σ_c v_c|
//   sum_abs  Σ_c |v_c|                   (PAIR saliency's VisualizeImageGrayscale)
//   max_abs  max_c |v_c|                 (Simonyan et al. 2014, saliency maps)
//   l2       √(Σ_c v_c²)
// Only `sum` keeps a sign; the others are magnitudes, which the sign control cannot split.

/** [id, menu text, tooltip] of each reduction; the kernel's explorer.REDUCTIONS has the same ids. */
export const REDUCTIONS = [
  ["sum", "Σ channels (signed)", "sum over the colour channels, keeps the sign (as Captum's visualize_image_attr)"],
  ["abs_sum", "|Σ channels|", "magnitude of the channel sum"],
  ["sum_abs", "Σ |channel|", "sum of the channels' magnitudes (as PAIR saliency's VisualizeImageGrayscale)"],
  ["max_abs", "max |channel|", "largest channel magnitude (as the saliency maps of Simonyan et al. 2014)"],
  ["l2", "L2 norm over channels", "√(Σ channel²)"],
];

const SHORT = { sum: "Σ channels", abs_sum: "|Σ channels|", sum_abs: "Σ |channel|", max_abs: "max |channel|", l2: "L2 over channels" };

/** Whether a reduction keeps the sign of the attribution. */
export function isSignedReduction(mode) {
  return mode === "sum";
}

/**
 * Reduce channel-first values (C × pixels, as sent by the kernel) to one value per pixel.
 * Non-finite values count as 0.
 * @param {ArrayLike<number>} values  length channels × pixels, channel c at [c·pixels, (c+1)·pixels)
 * @param {number} channels
 * @param {string} mode  one of the REDUCTIONS ids
 * @returns {Float32Array}
 */
export function reduceChannels(values, channels, mode) {
  if (!SHORT[mode]) throw new Error(`unknown channel reduction ${JSON.stringify(mode)}; one of ${Object.keys(SHORT)}`);
  const pixels = Math.floor(values.length / Math.max(1, channels));
  if (pixels * channels !== values.length) throw new Error(`${values.length} values are not ${channels} channels`);
  const out = new Float32Array(pixels);
  for (let p = 0; p < pixels; p++) {
    let sum = 0;
    let sumAbs = 0;
    let maxAbs = 0;
    let squares = 0;
    for (let c = 0; c < channels; c++) {
      const raw = values[c * pixels + p];
      const v = Number.isFinite(raw) ? raw : 0;
      const a = Math.abs(v);
      sum += v;
      sumAbs += a;
      if (a > maxAbs) maxAbs = a;
      squares += v * v;
    }
    if (mode === "sum") out[p] = sum;
    else if (mode === "abs_sum") out[p] = Math.abs(sum);
    else if (mode === "sum_abs") out[p] = sumAbs;
    else if (mode === "max_abs") out[p] = maxAbs;
    else out[p] = Math.sqrt(squares);
  }
  return out;
}

/**
 * The sign mode the final panel really uses: the sign control for the signed sum, and
 * "absolute" for a magnitude (its positive part is all of it, its negative part is empty, so
 * those choices would only mislead).
 */
export function panelSign(mode, sign) {
  return isSignedReduction(mode) ? sign : "absolute";
}

/**
 * The final panel's subtitle and the label under its colour bar.
 * @returns {{subtitle: string, bar: string}}
 */
export function reductionCaption(mode, sign, clip) {
  const short = SHORT[mode] ?? mode;
  if (!isSignedReduction(mode)) {
    return { subtitle: `${short}: a magnitude, no sign`, bar: `${short}, clip p${clip}` };
  }
  const part = { both: "signed", positive: "positive part only", negative: "negative part only", absolute: "absolute value" }[sign] ?? sign;
  const unit = { both: short, positive: "positive part", negative: "negative part", absolute: "|Σ channels|" }[sign] ?? short;
  return { subtitle: `${short}, ${part}`, bar: `${unit}, clip p${clip}` };
}
