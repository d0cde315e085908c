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
 * Blend a normalised map over RGBA pixels. The heat colour of a value v comes from `lut`
 * (signed maps use v ∈ [−1, 1] → [0, 1] of the table, magnitudes v ∈ [0, 1]) and its opacity is
 * `opacity × |v|^gamma` (gamma 0.5 by default lifts the many small values of a sparse map), so
 * pixels with no attribution show the image unchanged.
 * @param {Uint8ClampedArray} base  RGBA pixels, not modified
 * @param {Float32Array} norm  normalised values, one per pixel
 * @param {Uint8Array} lut  RGB lookup table
 * @param {{opacity?: number, signed?: boolean, gamma?: number}} [options]
 * @returns {Uint8ClampedArray}
 */
export function blend(base, norm, lut, { opacity = 0.7, signed = true, gamma = 0.5 } = {}) {
  const out = new Uint8ClampedArray(base.length);
  const n = lut.length / 3 - 1;
  const o = Math.min(1, Math.max(0, opacity));
  for (let p = 0; p < norm.length; p++) {
    const v = Number.isFinite(norm[p]) ? norm[p] : 0;
    const t = signed ? (v + 1) / 2 : v;
    const i = Math.max(0, Math.min(n, Math.round(t * n))) * 3;
    const a = o * Math.min(1, Math.abs(v) ** gamma);
    const q = p * 4;
    out[q] = base[q] + a * (lut[i] - base[q]);
    out[q + 1] = base[q + 1] + a * (lut[i + 1] - base[q + 1]);
    out[q + 2] = base[q + 2] + a * (lut[i + 2] - base[q + 2]);
    out[q + 3] = 255;
  }
  return out;
}

/**
 * A horizontal colour bar of `width` × `height` RGBA pixels, low values on the left.
 * @returns {Uint8ClampedArray}
 */
export function colorbar(lut, width, height) {
  const out = new Uint8ClampedArray(width * height * 4);
  const n = lut.length / 3 - 1;
  for (let x = 0; x < width; x++) {
    const i = Math.round((width === 1 ? 0 : x / (width - 1)) * n) * 3;
    for (let y = 0; y < height; y++) {
      const q = (y * width + x) * 4;
      out[q] = lut[i];
      out[q + 1] = lut[i + 1];
      out[q + 2] = lut[i + 2];
      out[q + 3] = 255;
    }
  }
  return out;
}
