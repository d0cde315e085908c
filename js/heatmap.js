// Pixels for the canvas: the image along the path, maps resized to the image, heat blended over it.
// Everything returns flat RGBA Uint8ClampedArrays (what ImageData wants); nothing touches the DOM.

/**
 * Bilinear resize of a single-channel (h, w) map to (H, W), pixel centres aligned.
 * @param {ArrayLike<number>} values
 * @returns {Float32Array}
 */
export function resize(values, h, w, H, W) {
  if (h === H && w === W) return Float32Array.from(values);
  const out = new Float32Array(H * W);
  const sy = h / H;
  const sx = w / W;
  for (let y = 0; y < H; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const dy = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const dx = fx - x0;
      const top = values[y0 * w + x0] * (1 - dx) + values[y0 * w + x1] * dx;
      const bottom = values[y1 * w + x0] * (1 - dx) + values[y1 * w + x1] * dx;
      out[y * W + x] = top * (1 - dy) + bottom * dy;
    }
  }
  return out;
}

/**
 * The input along the path, x′ + α (x − x′), as RGBA. `image` and `baseline` are (H, W, C) uint8
 * with C = 1 (grey) or 3; a missing baseline means black.
 * @returns {Uint8ClampedArray}
 */
export function pathImage(image, baseline, alpha, pixels, channels) {
  const out = new Uint8ClampedArray(pixels * 4);
  const a = Math.min(1, Math.max(0, alpha));
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const k = p * channels + (channels === 1 ? 0 : c);
      const x = image[k];
      const b = baseline ? baseline[k] : 0;
      out[p * 4 + c] = b + a * (x - b);
    }
    out[p * 4 + 3] = 255;
  }
  return out;
}

/**
 * The image faded towards grey, so a heatmap on top stands out: each pixel moves `amount` of the
 * way to a light grey of its own luminance.
 * @param {Uint8ClampedArray} rgba
 * @param {number} amount  0 (unchanged) .. 1 (flat grey)
 * @returns {Uint8ClampedArray}
 */
export function ghost(rgba, amount = 0.5) {
  const out = new Uint8ClampedArray(rgba.length);
  const a = Math.min(1, Math.max(0, amount));
  for (let q = 0; q < rgba.length; q += 4) {
    const luma = 0.299 * rgba[q] + 0.587 * rgba[q + 1] + 0.114 * rgba[q + 2];
    const grey = 96 + 0.6 * luma;
    out[q] = rgba[q] + a * (grey - rgba[q]);
    out[q + 1] = rgba[q + 1] + a * (grey - rgba[q + 1]);
    out[q + 2] = rgba[q + 2] + a * (grey - rgba[q + 2]);
    out[q + 3] = rgba[q + 3];
  }
  return out;
}

/**
 * Overlay defaults, chosen so a heatmap reads at a glance over a photo: values at half the clip
 * scale (`knee`) and above are fully opaque, weaker ones fade in with `|v / knee|^gamma`, and
 * colours start `floor` of the way out from the pale middle of a diverging map (or the dark start
 * of a sequential one), so even moderate values have a clear hue.
 */
export const OVERLAY = { opacity: 0.8, gamma: 1, knee: 0.4, floor: 0.2 };

/**
 * Colour table index (0..n) and opacity (0..1) of one normalised value.
 * @param {number} v  in [-1, 1] (signed) or [0, 1]
 * @param {number} n  last index of the table
 */
export function heatOf(v, n, { opacity = OVERLAY.opacity, signed = true, gamma = OVERLAY.gamma, knee = OVERLAY.knee, floor = OVERLAY.floor } = {}) {
  const x = Number.isFinite(v) ? v : 0;
  const m = Math.min(1, Math.abs(x));
  if (m === 0) return { index: signed ? Math.round(n / 2) : 0, alpha: 0 };
  const lifted = floor + (1 - floor) * m;
  const t = signed ? 0.5 + 0.5 * Math.sign(x) * lifted : lifted;
  const index = Math.max(0, Math.min(n, Math.round(t * n)));
  const o = Math.min(1, Math.max(0, opacity));
  const alpha = o * Math.min(1, m / Math.max(knee, 1e-6)) ** gamma;
  return { index, alpha };
}

/**
 * Blend a normalised map over RGBA pixels with the colour and opacity of {@link heatOf}
 * (signed maps: v ∈ [−1, 1] → both halves of `lut`; magnitudes: v ∈ [0, 1]). Pixels with no
 * attribution show the image unchanged. `knee: 1, floor: 0` gives the plain `opacity × |v|^gamma`.
 * @param {Uint8ClampedArray} base  RGBA pixels, not modified
 * @param {Float32Array} norm  normalised values, one per pixel
 * @param {Uint8Array} lut  RGB lookup table
 * @param {{opacity?: number, signed?: boolean, gamma?: number, knee?: number, floor?: number}} [options]
 * @returns {Uint8ClampedArray}
 */
export function blend(base, norm, lut, options = {}) {
  const out = new Uint8ClampedArray(base.length);
  const n = lut.length / 3 - 1;
  // one table of (index, alpha) per quantised value: the loop below runs per pixel per frame
  const steps = 1024;
  const signed = options.signed ?? true;
  const idx = new Int32Array(steps + 1);
  const alp = new Float32Array(steps + 1);
  for (let k = 0; k <= steps; k++) {
    const v = signed ? (2 * k) / steps - 1 : k / steps;
    const { index, alpha } = heatOf(v, n, { ...options, signed });
    idx[k] = index * 3;
    alp[k] = alpha;
  }
  for (let p = 0; p < norm.length; p++) {
    let v = norm[p];
    if (!(v === v)) v = 0; // NaN
    const t = signed ? (v + 1) / 2 : v;
    const k = t <= 0 ? 0 : t >= 1 ? steps : Math.round(t * steps);
    const a = alp[k];
    const i = idx[k];
    const q = p * 4;
    out[q] = base[q] + a * (lut[i] - base[q]);
    out[q + 1] = base[q + 1] + a * (lut[i + 1] - base[q + 1]);
    out[q + 2] = base[q + 2] + a * (lut[i + 2] - base[q + 2]);
    out[q + 3] = 255;
  }
  return out;
}

/**
 * A horizontal colour bar of `width` × `height` RGBA pixels, low values on the left. With
 * `overlay` options it shows what {@link blend} draws over a plain grey (`background`), so the bar
 * matches the picture; without, the raw table.
 * @param {{opacity?: number, signed?: boolean, gamma?: number, knee?: number, floor?: number, background?: number}} [overlay]
 * @returns {Uint8ClampedArray}
 */
export function colorbar(lut, width, height, overlay = null) {
  const out = new Uint8ClampedArray(width * height * 4);
  const n = lut.length / 3 - 1;
  const signed = overlay?.signed ?? true;
  const grey = overlay?.background ?? 170;
  for (let x = 0; x < width; x++) {
    const f = width === 1 ? 0 : x / (width - 1);
    let rgb;
    if (overlay) {
      const { index, alpha } = heatOf(signed ? 2 * f - 1 : f, n, { ...overlay, signed });
      const i = index * 3;
      rgb = [0, 1, 2].map((c) => grey + alpha * (lut[i + c] - grey));
    } else {
      const i = Math.round(f * n) * 3;
      rgb = [lut[i], lut[i + 1], lut[i + 2]];
    }
    for (let y = 0; y < height; y++) {
      const q = (y * width + x) * 4;
      out[q] = rgb[0];
      out[q + 1] = rgb[1];
      out[q + 2] = rgb[2];
      out[q + 3] = 255;
    }
  }
  return out;
}
