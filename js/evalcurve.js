// The evaluation panel (the `evaluation_result` trait, written by attrwidgets/widgets/_evaluation.py):
// the deletion or pixel-perturbation curves of one map (the explorer) or of several (the compare
// views), each input's random rankings as a band. Lower is better for both: a map that finds what
// the model uses loses the class faster than random (deletion), or changes the output less when
// its least salient pixels go (pixel perturbation). All text goes through fillText / textContent.

import { COLORS, FONTS, formatTick, linearScale, paddedExtent, ticks } from "./curves.js";
import { hiDpiContext } from "./dom.js";

export const EVALUATION_CHOICES = [
  ["off", "off"],
  ["deletion", "deletion curve"],
  ["pixel_perturbation", "pixel perturbation"],
];

/** Colours of the maps' curves, in order (one curve: the explorer's score blue). */
export const CURVE_COLORS = [COLORS.score, "#d62728", "#2a7d2a", "#8a3ffc", "#e07b00", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f", "#1f77b4", "#ff7f0e"];

/** Whether the payload holds curves to draw (not off, computing or unavailable) (pure). */
export function hasCurves(r) {
  const n = r?.fractions?.length;
  return Boolean(n && Array.isArray(r.curves) && r.curves.length && r.curves.every((c) => c.values?.length === n));
}

function verdict(map, rand) {
  return map < rand ? "better than random" : map > rand ? "worse than random" : "as random";
}

/** The line under the panel: the areas and which way is better, or the state (pure). */
export function evaluationCaption(r) {
  if (r === null || r === undefined) return "";
  if (r.unavailable) return r.unavailable;
  if (!hasCurves(r)) return "computing the curves of the final map…";
  const band = r.random?.[0];
  if (r.curves.length === 1 && band) {
    const map = Number(r.curves[0].auc);
    const rand = Number(band.auc);
    return `area: map ${formatTick(map)}, random ${formatTick(rand)} (mean of ${band.count}) · lower is better: ${verdict(map, rand)}`;
  }
  const rand = (r.random || []).map((b) => formatTick(Number(b.auc))).join(" / ");
  return `areas (lower is better; random ${rand}): ` + r.curves.map((c) => `${c.label} ${formatTick(Number(c.auc))}`).join(" · ");
}

/**
 * The plot in canvas pixels (pure): scales, each map's polyline, each band's polygon (high, then
 * low reversed) and mean polyline.
 */
export function evaluationGeometry(r, { width, height }) {
  const plot = { x: 52, y: 28, w: Math.max(40, width - 80), h: Math.max(40, height - 72) };
  const f = r.fractions;
  const random = r.random || [];
  const [lo, hi] = paddedExtent([...r.curves.map((c) => c.values), ...random.flatMap((b) => [b.low, b.high])], 0.05);
  const xs = linearScale([f[0], f[f.length - 1]], [plot.x, plot.x + plot.w]);
  const ys = linearScale([lo, hi], [plot.y + plot.h, plot.y]);
  const pts = (values) => values.map((v, i) => [xs(f[i]), ys(v)]);
  return {
    plot,
    xs,
    ys,
    lo,
    hi,
    curves: r.curves.map((c) => pts(c.values)),
    bands: random.map((b) => ({ polygon: [...pts(b.high), ...pts(b.low).reverse()], mean: pts(b.mean) })),
  };
}

function polyline(ctx, points, color, dash = []) {
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.setLineDash(dash);
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
  ctx.restore();
}

/** Draw the panel into a 2-D context of `width` × `height` CSS pixels; returns the geometry or null. */
export function drawEvaluation(ctx, r, { width, height }) {
  ctx.clearRect(0, 0, width, height);
  if (!hasCurves(r)) return null;
  const g = evaluationGeometry(r, { width, height });
  const { plot } = g;
  ctx.save();
  ctx.fillStyle = COLORS.text;
  ctx.font = FONTS.title;
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  ctx.fillText(r.title || r.kind, 6, 16, width - 12);
  ctx.strokeStyle = COLORS.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);
  ctx.font = FONTS.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of ticks(g.lo, g.hi, 4)) ctx.fillText(formatTick(t), plot.x - 4, g.ys(t));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const f = r.fractions;
  for (const t of ticks(f[0], f[f.length - 1], 5)) ctx.fillText(`${formatTick(100 * t)}%`, g.xs(t), plot.y + plot.h + 4);
  ctx.fillText(r.x || "fraction removed", plot.x + plot.w / 2, plot.y + plot.h + 20);
  ctx.save();
  ctx.translate(12, plot.y + plot.h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(r.y || "", 0, -6, plot.h);
  ctx.restore();
  ctx.fillStyle = "rgba(120, 120, 120, 0.22)";
  for (const band of g.bands) {
    ctx.beginPath();
    band.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
  for (const band of g.bands) polyline(ctx, band.mean, "#777777", [5, 4]);
  g.curves.forEach((points, i) => polyline(ctx, points, CURVE_COLORS[i % CURVE_COLORS.length]));
  // the legend: the maps in their colours, then the random band
  ctx.save();
  ctx.font = FONTS.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  const shown = r.curves.slice(0, 6);
  shown.forEach((c, i) => {
    ctx.fillStyle = CURVE_COLORS[i % CURVE_COLORS.length];
    ctx.fillText(`— ${c.label}`, plot.x + plot.w - 4, plot.y + 4 + 15 * i, plot.w - 8);
  });
  if (r.curves.length > shown.length) {
    ctx.fillStyle = "#555";
    ctx.fillText(`(+${r.curves.length - shown.length} more: see the areas below)`, plot.x + plot.w - 4, plot.y + 4 + 15 * shown.length, plot.w - 8);
  }
  ctx.fillStyle = "#555";
  const count = r.random?.[0]?.count ?? 0;
  ctx.fillText(`- - random (band: ${count} rankings)`, plot.x + plot.w - 4, plot.y + 4 + 15 * (Math.min(r.curves.length, 7)), plot.w - 8);
  ctx.restore();
  return g;
}

/**
 * The panel in the DOM from the model's traits: the menu's value, shown or hidden, the caption and
 * the chart at `width` × `height` CSS pixels (sharp on high-density screens). `box` gets
 * `data-drawn` counting the charts drawn (read by the browser tests).
 */
export function showEvaluation({ select, box, canvas, text }, model, { width, height }) {
  const r = model.get("evaluation_result");
  select.value = model.get("evaluation") || "off";
  box.style.display = r === null || r === undefined ? "none" : "";
  text.textContent = evaluationCaption(r);
  const ctx = hiDpiContext(canvas, width, height); // drawEvaluation clears what it redraws
  if (drawEvaluation(ctx, r, { width, height })) box.setAttribute("data-drawn", String(Number(box.getAttribute("data-drawn") || 0) + 1));
}
