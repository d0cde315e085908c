// Colour maps as 256-entry RGB lookup tables (Uint8Array of length 768).
//
// Diverging maps are for signed attributions (negative → first half, zero → middle, positive →
// second half); sequential maps are for magnitudes. The kernel sends matplotlib's own 256-entry
// tables (setTables); without them (a page of an older kernel) each map is a few anchor colours
// interpolated linearly in RGB.

const ANCHORS = {
  // diverging
  coolwarm: [[59, 76, 192], [141, 176, 254], [221, 221, 221], [244, 154, 123], [180, 4, 38]],
  purplegreen: [[118, 42, 131], [194, 165, 207], [240, 240, 240], [166, 219, 160], [27, 120, 55]],
  // sequential
  inferno: [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]],
  viridis: [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
  hot: [[10, 0, 0], [230, 0, 0], [255, 210, 0], [255, 255, 255]],
  gray: [[0, 0, 0], [255, 255, 255]],
};

/** Names of the diverging maps (for signed data). */
export const DIVERGING = ["coolwarm", "purplegreen"];
/** Names of the sequential maps (for magnitudes). */
export const SEQUENTIAL = ["inferno", "viridis", "hot", "gray"];
/** Every map name, plus "auto" (diverging for signed data, sequential otherwise). */
export const COLORMAPS = ["auto", ...DIVERGING, ...SEQUENTIAL];

/** Whether `name` is a diverging map. */
export function isDiverging(name) {
  return DIVERGING.includes(name);
}

/**
 * Interpolate anchor colours into a lookup table of `n` RGB entries.
 * @param {number[][]} anchors
 * @param {number} n
 * @returns {Uint8Array}
 */
export function buildLut(anchors, n = 256) {
  const lut = new Uint8Array(n * 3);
  const segments = anchors.length - 1;
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 0 : (i / (n - 1)) * segments;
    const k = Math.min(Math.floor(t), segments - 1);
    const f = t - k;
    for (let c = 0; c < 3; c++) {
      lut[i * 3 + c] = Math.round(anchors[k][c] * (1 - f) + anchors[k + 1][c] * f);
    }
  }
  return lut;
}

const cache = new Map();
let tables = {};

/**
 * Use exact 256-entry tables (matplotlib's, sent by the kernel in the `vocabulary` trait) instead
 * of the interpolated anchors above, which are only a fallback.
 * @param {Object<string, Uint8Array>} next  name → 768 RGB bytes
 */
export function setTables(next) {
  tables = {};
  for (const [name, lut] of Object.entries(next || {})) if (ANCHORS[name] && lut.length === 768) tables[name] = lut;
  cache.clear();
}

/** The positive half (middle → end) of a 256-entry table, stretched to 256 entries. */
function upperHalf(lut) {
  const out = new Uint8Array(768);
  for (let i = 0; i < 256; i++) {
    const j = 128 + Math.floor(i / 2);
    out.set(lut.subarray(j * 3, j * 3 + 3), i * 3);
  }
  return out;
}

/**
 * The lookup table of a named map. With `half` = true, a diverging map gives only its positive
 * half (middle → end), so it can show magnitudes too.
 * @param {string} name
 * @param {{half?: boolean}} [options]
 * @returns {Uint8Array}
 */
export function colormap(name, { half = false } = {}) {
  const anchors = ANCHORS[name];
  if (!anchors) throw new Error(`unknown colour map ${JSON.stringify(name)}; one of ${Object.keys(ANCHORS)}`);
  const key = `${name}:${half}`;
  if (!cache.has(key)) {
    const exact = tables[name];
    if (exact) cache.set(key, half && isDiverging(name) ? upperHalf(exact) : exact);
    else cache.set(key, buildLut(half && isDiverging(name) ? anchors.slice(Math.floor(anchors.length / 2)) : anchors));
  }
  return cache.get(key);
}

/**
 * Resolve the map to draw with: "auto" picks coolwarm for signed data and inferno for magnitudes;
 * a diverging map asked for unsigned data gives its positive half; a sequential map asked for
 * signed data gives coolwarm (the menu offers sequential maps for magnitudes only).
 * @param {string} name
 * @param {boolean} signed
 */
export function resolveColormap(name, signed) {
  // a sequential map has no zero in the middle: signed data always gets a diverging one
  if (name === "auto" || !ANCHORS[name] || (signed && !isDiverging(name))) name = signed ? "coolwarm" : "inferno";
  return { name, lut: colormap(name, { half: !signed }), diverging: signed };
}

/**
 * Colour of a value in [lo, hi] (clamped), as [r, g, b].
 * @param {Uint8Array} lut
 * @param {number} t  value in [0, 1]
 */
export function lookup(lut, t) {
  const n = lut.length / 3;
  const i = Math.max(0, Math.min(n - 1, Math.round((Number.isFinite(t) ? t : 0) * (n - 1))));
  return [lut[i * 3], lut[i * 3 + 1], lut[i * 3 + 2]];
}
