// Picking the baseline's colour by clicking the image (the baselines poster): where a click falls
// in the input panel, and the outline of the segment the kernel picked (the `segments` trait: the
// image's SLIC segments at display size; the kernel takes the segment's mean colour itself).

/**
 * Where a canvas point (device pixels) falls in panel `name` of `rects` (canvas.dataset.panels:
 * name → [x, y, w, h] in device pixels), as fractions of the panel; null outside it (pure).
 */
export function pickPoint(rects, name, px, py) {
  const r = rects?.[name];
  if (!r) return null;
  const [x, y, w, h] = r;
  if (!(w > 0 && h > 0) || px < x || py < y || px >= x + w || py >= y + h) return null;
  return { x: (px - x) / w, y: (py - y) / h };
}

/** The pixels of segment `id` with a 4-neighbour outside it or at the image's edge, as flat indices (pure). */
export function boundary(mask, w, h, id) {
  const out = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (mask[p] !== id) continue;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1 || mask[p - 1] !== id || mask[p + 1] !== id || mask[p - w] !== id || mask[p + w] !== id) out.push(p);
    }
  }
  return out;
}
