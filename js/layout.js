// Where things go: the four image panels in a 2 × 2 grid and the curves beside them (or below
// when the width is short). Pure: sizes in CSS pixels from the width the widget has.

/** Panel sizes: the longer image side is `side` ∈ [min, max] (up to `wide` from `wideFrom` CSS pixels
 * of width: a 1920-wide screen is used); `title` above and `bar` below each. */
export const PANEL = { min: 150, max: 260, wide: 360, wideFrom: 1400, floor: 96, gap: 14, title: 36, bar: 46, rowGap: 6 };
/** Curve canvas: at least `min` wide beside the panels, at most `max` wide. */
export const CURVES = { min: 360, max: 560, wide: 900, gap: 16, below: 440 };
/** Panel names in drawing order: row 1 at α, row 2 the attribution up to α and the final one. */
export const PANELS = ["input", "grad", "cumulative", "final"];

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/**
 * The figure for `available` CSS pixels of width and an image of ih × iw pixels.
 * @returns {{panel: number[], width: number, height: number, cells: Object<string, number[]>,
 *            curves: {width: number, height: number, beside: boolean}}}
 *   `panel` is [pw, ph]; `cells[name]` the [x, y] of each panel's image (titles above it);
 *   `width` × `height` the panel canvas.
 */
export function figureLayout(available, ih, iw) {
  const room = Number.isFinite(available) && available > 0 ? Math.floor(available) - 4 : 1000;
  // as large as the curves beside still allow; else the grid takes the width, curves go below
  let side = Math.floor((room - CURVES.gap - CURVES.min - PANEL.gap) / 2);
  const beside = side >= PANEL.min;
  if (!beside) side = Math.floor((room - PANEL.gap) / 2);
  side = clamp(side, PANEL.floor, room >= PANEL.wideFrom ? PANEL.wide : PANEL.max);
  const s = side / Math.max(ih, iw, 1);
  const pw = Math.max(1, Math.round(iw * s));
  const ph = Math.max(1, Math.round(ih * s));
  const rowH = PANEL.title + ph + PANEL.bar;
  const width = 2 * pw + PANEL.gap;
  const height = 2 * rowH + PANEL.rowGap;
  const cells = {};
  PANELS.forEach((name, i) => {
    cells[name] = [(i % 2) * (pw + PANEL.gap), Math.floor(i / 2) * (rowH + PANEL.rowGap) + PANEL.title];
  });
  const curvesMax = room >= PANEL.wideFrom ? CURVES.wide : CURVES.max;
  const curves = beside
    ? { width: clamp(room - width - CURVES.gap, CURVES.min, curvesMax), height: Math.max(CURVES.below, height), beside }
    : { width: clamp(room, 200, CURVES.max), height: CURVES.below, beside };
  return { panel: [pw, ph], width, height, cells, curves };
}

/**
 * One row of `count` panels (the views without a path), with the curves beside when `curves` and
 * the width allow, else below. Same shape of result as {@link figureLayout}, `cells` a list.
 */
export function rowLayout(available, ih, iw, count, curves = true) {
  const room = Number.isFinite(available) && available > 0 ? Math.floor(available) - 4 : 1000;
  const n = Math.max(1, count);
  const gaps = (n - 1) * PANEL.gap;
  let side = Math.floor((room - gaps - (curves ? CURVES.gap + CURVES.min : 0)) / n);
  const beside = curves && side >= PANEL.min;
  if (!beside) side = Math.floor((room - gaps) / n);
  side = clamp(side, PANEL.floor, room >= PANEL.wideFrom ? PANEL.wide : PANEL.max);
  const s = side / Math.max(ih, iw, 1);
  const pw = Math.max(1, Math.round(iw * s));
  const ph = Math.max(1, Math.round(ih * s));
  const width = n * pw + gaps;
  const height = PANEL.title + ph + PANEL.bar;
  const cells = Array.from({ length: n }, (_, i) => [i * (pw + PANEL.gap), PANEL.title]);
  const curveBox = beside
    ? { width: clamp(room - width - CURVES.gap, CURVES.min, CURVES.max), height: Math.max(260, height), beside }
    : { width: clamp(room, 200, CURVES.max), height: 260, beside };
  return { panel: [pw, ph], width, height, cells, curves: curveBox };
}
