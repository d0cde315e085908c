// The saturation curves: scaling (pure, tested) and drawing on a 2D canvas context.
//
// Top plot: the model's score F along the path and the normalised gradient magnitude (the IG
// paper's saturation view). Above it, a strip coloured by the class the model predicts at each α
// (named in a list beside the canvas, so labels never collide; js/classes.js), with faint lines where it changes. Bottom plot: the
// cumulative sum of attributions up to α against the line F(x) − F(x′) (Distill's completeness
// view). Both share the α axis and show a marker at the current α.

import { classChanges, classColors, classSegments } from "./classes.js";

export const COLORS = {
  score: "#1f4e9c",
  grad: "#e07b00",
  cumulative: "#2a7d2a",
  target: "#555555",
  marker: "#d62728",
  change: "#8a3ffc",
  axis: "#888888",
  text: "#222222",
};

/** A linear map from `domain` to `range`, with `.invert`. A zero-width domain maps to the middle. */
export function linearScale([d0, d1], [r0, r1]) {
  const span = d1 - d0;
  const scale = (v) => (span === 0 ? (r0 + r1) / 2 : r0 + ((v - d0) / span) * (r1 - r0));
  scale.invert = (r) => (r1 === r0 ? d0 : d0 + ((r - r0) / (r1 - r0)) * span);
  return scale;
}

/**
 * [min, max] over the finite values of several arrays, padded by `pad` of the span on each side;
 * a constant series gets a unit-wide range around its value.
 */
export function paddedExtent(arrays, pad = 0.08) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const arr of arrays) {
    for (const v of arr) {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (lo === Infinity) return [0, 1];
  if (hi === lo) return [lo - 0.5, hi + 0.5];
  const p = (hi - lo) * pad;
  return [lo - p, hi + p];
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function ticks(lo, hi, count = 4) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

/** A short label for a tick value. */
export function formatTick(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

/** Fonts of the curves: nothing below 12 px. */
export const FONTS = { text: "12px sans-serif", title: "bold 13px sans-serif" };
/** Height of one line of legend (CSS pixels). */
export const LINE = 17;

/**
 * Legend entries laid out in rows no wider than `maxWidth`: each entry is a 16 px line sample,
 * a 3 px gap, its text (`widths[i]` wide) and 14 px of space before the next.
 * @param {number[]} widths  text widths
 * @returns {{x: number, row: number}[]}  offset from the legend's left edge, and row (0, 1, ...)
 */
export function legendRows(widths, maxWidth) {
  const out = [];
  let x = 0;
  let row = 0;
  for (const w of widths) {
    const item = 19 + w;
    if (x > 0 && x + item > maxWidth) {
      row += 1;
      x = 0;
    }
    out.push({ x, row });
    x += item + 14;
  }
  return out;
}

/**
 * The two plot rectangles inside a canvas of width × height (CSS pixels). `rows` are the legend
 * rows above each plot (the top plot also has its title and the class strip above it).
 */
export function layout(width, height, rows = {}) {
  const topRows = rows.top ?? 1;
  const bottomRows = rows.bottom ?? 1;
  const left = 52;
  const right = 40;
  const top = 24 + topRows * LINE + 18;
  const gap = 22 + 22 + bottomRows * LINE + 4;
  const bottom = 38;
  const h = Math.max(20, (height - top - gap - bottom) / 2);
  const w = Math.max(20, width - left - right);
  return {
    top: { x: left, y: top, w, h },
    bottom: { x: left, y: top + h + gap, w, h },
  };
}

/** α under a horizontal canvas position, clamped to [0, 1]. */
export function alphaAtX(x, plot) {
  return Math.min(1, Math.max(0, (x - plot.x) / plot.w));
}

/** Canvas points of a series over α. */
export function points(alphas, values, xs, ys) {
  const out = [];
  for (let i = 0; i < alphas.length; i++) {
    if (Number.isFinite(values[i])) out.push([xs(alphas[i]), ys(values[i])]);
  }
  return out;
}

function polyline(ctx, pts, color, width = 1.6, dash = []) {
  if (pts.length === 0) return;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  ctx.moveTo(pts[0][0], pts[0][1]);
  for (const [x, y] of pts.slice(1)) ctx.lineTo(x, y);
  ctx.stroke();
  if (pts.length === 1) {
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(pts[0][0], pts[0][1], 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.restore();
}

function frameAxes(ctx, plot, ys, yTicks, side, color) {
  ctx.save();
  ctx.strokeStyle = COLORS.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);
  ctx.fillStyle = color;
  ctx.font = FONTS.text;
  ctx.textAlign = side === "left" ? "right" : "left";
  ctx.textBaseline = "middle";
  const x = side === "left" ? plot.x - 4 : plot.x + plot.w + 4;
  for (const t of yTicks) {
    const y = ys(t);
    if (y < plot.y - 1 || y > plot.y + plot.h + 1) continue;
    ctx.fillText(formatTick(t), x, y);
  }
  ctx.restore();
}

/** A plot's title at the left edge of the canvas, its baseline at `y`. */
function heading(ctx, text, y, width) {
  ctx.save();
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  ctx.font = FONTS.title;
  ctx.fillStyle = COLORS.text;
  ctx.fillText(text, 6, y, width - 12);
  ctx.restore();
}

function alphaAxis(ctx, plot, xs, label) {
  ctx.save();
  ctx.fillStyle = COLORS.text;
  ctx.font = FONTS.text;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of [0, 0.25, 0.5, 0.75, 1]) ctx.fillText(String(t), xs(t), plot.y + plot.h + 4);
  if (label) ctx.fillText(label, plot.x + plot.w / 2, plot.y + plot.h + 20);
  ctx.restore();
}

/** Legend rows of `items` ([text, colour, dash]) for a canvas `width` wide, see {@link legendRows}. */
function legendLayout(ctx, items, width) {
  ctx.save();
  ctx.font = FONTS.text;
  const widths = items.map(([text]) => (ctx.measureText ? ctx.measureText(text).width : text.length * 6.5));
  ctx.restore();
  const places = legendRows(widths, width - 16);
  return { items, places, rows: places.length ? places[places.length - 1].row + 1 : 0 };
}

function legend(ctx, { items, places }, y0) {
  ctx.save();
  ctx.font = FONTS.text;
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  items.forEach(([text, color, dash], i) => {
    const x = 8 + places[i].x;
    const y = y0 + places[i].row * LINE;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash(dash || []);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 16, y);
    ctx.stroke();
    ctx.fillStyle = COLORS.text;
    ctx.fillText(text, x + 19, y);
  });
  ctx.restore();
}

function marker(ctx, plot, x) {
  ctx.save();
  ctx.strokeStyle = COLORS.marker;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x, plot.y);
  ctx.lineTo(x, plot.y + plot.h);
  ctx.stroke();
  ctx.fillStyle = COLORS.marker;
  ctx.beginPath();
  ctx.moveTo(x - 5, plot.y + plot.h + 1);
  ctx.lineTo(x + 5, plot.y + plot.h + 1);
  ctx.lineTo(x, plot.y + plot.h - 6);
  ctx.fill();
  ctx.restore();
}

/**
 * Draw both plots.
 * @param {CanvasRenderingContext2D} ctx  already scaled to CSS pixels
 * @param {{alphas: Float32Array, scores: Float32Array, gradNorm: Float32Array,
 *          cumulative: Float32Array, span: number, predicted?: Int32Array|null,
 *          predictedAlphas?: Float32Array|null, target?: number}} data
 *   `span` is F(x) − F(x′); `predicted` the class at each of `predictedAlphas`; `target` the
 *   explained class (first colour of the strip).
 * @param {{alpha: number|null, width: number, height: number}} view  `alpha: null` draws no marker
 * @returns {{top: object, bottom: object, changes: object[], segments: object[], colors: Map}}
 *   the layout (for pointer handling) and the class strip (for the list of class names)
 */
export function drawCurves(ctx, data, { alpha, width, height }) {
  const hasClasses = data.predicted && data.predictedAlphas && data.predicted.length > 0;
  const changes = hasClasses ? classChanges(data.predictedAlphas, data.predicted) : [];
  const segments = hasClasses ? classSegments(data.predictedAlphas, data.predicted) : [];
  const colors = classColors(segments, data.target);
  const topLegend = legendLayout(ctx, [
    ["score F (logit)", COLORS.score],
    ["|∇F| (normalised)", COLORS.grad],
    ...(changes.length ? [["class changes", COLORS.change, [3, 3]]] : []),
  ], width);
  const bottomLegend = legendLayout(ctx, [
    ["Σ attributions up to α", COLORS.cumulative],
    ["F(x) − F(x′)", COLORS.target, [6, 4]],
  ], width);
  const plots = layout(width, height, { top: topLegend.rows, bottom: bottomLegend.rows });
  const { top, bottom } = plots;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);
  const xsTop = linearScale([0, 1], [top.x, top.x + top.w]);
  const xsBottom = linearScale([0, 1], [bottom.x, bottom.x + bottom.w]);

  // Top: score (left axis) and normalised gradient magnitude (right axis, 0..1).
  const scoreRange = paddedExtent([data.scores]);
  const ysScore = linearScale(scoreRange, [top.y + top.h, top.y]);
  const ysGrad = linearScale([0, 1.08], [top.y + top.h, top.y]);
  heading(ctx, "Along the path: the model\u2019s score and its gradient", 16, width);
  legend(ctx, topLegend, 30);
  frameAxes(ctx, top, ysScore, ticks(...scoreRange, 4), "left", COLORS.score);
  frameAxes(ctx, top, ysGrad, [0, 0.5, 1], "right", COLORS.grad);
  ctx.save();
  // the predicted-class strip just above the plot; its names are listed outside the canvas
  const strip = { y: top.y - 15, h: 11 };
  for (const s of segments) {
    ctx.fillStyle = colors.get(s.cls) ?? "#cccccc";
    const x0 = xsTop(s.start);
    ctx.fillRect(x0, strip.y, Math.max(1, xsTop(s.end) - x0), strip.h);
  }
  if (segments.length) {
    ctx.strokeStyle = COLORS.axis;
    ctx.lineWidth = 1;
    ctx.strokeRect(top.x, strip.y, top.w, strip.h);
    ctx.fillStyle = COLORS.text;
    ctx.font = FONTS.text;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText("class", top.x - 4, strip.y + strip.h / 2);
  }
  for (const c of changes) {
    const x = xsTop(c.alpha);
    ctx.strokeStyle = COLORS.change;
    ctx.globalAlpha = 0.45;
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(x, top.y);
    ctx.lineTo(x, top.y + top.h);
    ctx.stroke();
  }
  ctx.restore();
  polyline(ctx, points(data.alphas, data.gradNorm, xsTop, ysGrad), COLORS.grad);
  polyline(ctx, points(data.alphas, data.scores, xsTop, ysScore), COLORS.score, 2);
  alphaAxis(ctx, top, xsTop, "");

  // Bottom: cumulative attribution vs the target line F(x) − F(x′).
  const cumRange = paddedExtent([data.cumulative, [0, data.span]]);
  const ysCum = linearScale(cumRange, [bottom.y + bottom.h, bottom.y]);
  const bottomHead = bottom.y - bottomLegend.rows * LINE - 8;
  heading(ctx, "Completeness: attributions add up to F(x) \u2212 F(x\u2032)", bottomHead, width);
  legend(ctx, bottomLegend, bottomHead + 14);
  frameAxes(ctx, bottom, ysCum, ticks(...cumRange, 4), "left", COLORS.cumulative);
  if (Number.isFinite(data.span)) {
    const y = ysCum(data.span);
    polyline(ctx, [[bottom.x, y], [bottom.x + bottom.w, y]], COLORS.target, 1.2, [6, 4]);
  }
  polyline(ctx, points(data.alphas, data.cumulative, xsBottom, ysCum), COLORS.cumulative, 2);
  alphaAxis(ctx, bottom, xsBottom, "α (0 = baseline, 1 = input)");
  if (alpha !== null && alpha !== undefined) drawMarkers(ctx, plots, alpha);
  return { ...plots, changes, segments, colors };
}

/**
 * The red α marker on both plots (drawn over a copy of the curves drawn with `alpha: null`, so
 * scrubbing does not redraw the curves).
 * @param {{top: object, bottom: object}} plots  from {@link layout} / {@link drawCurves}
 */
export function drawMarkers(ctx, { top, bottom }, alpha) {
  for (const plot of [top, bottom]) marker(ctx, plot, plot.x + Math.min(1, Math.max(0, alpha)) * plot.w);
}
