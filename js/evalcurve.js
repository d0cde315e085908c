// The evaluation panel (the `evaluation_result` trait, written by attrwidgets/widgets/_evaluation.py):
// the final map's deletion or pixel-perturbation curve against a band of random rankings of the
// same pixels. Lower is better for both: a map that finds what the model uses loses the class
// faster than random (deletion), or changes the output less when its least salient pixels go
// (pixel perturbation). All text goes through fillText / textContent: labels are never markup.

import { COLORS, FONTS, formatTick, linearScale, paddedExtent, ticks } from "./curves.js";

export const EVALUATION_CHOICES = [
  ["off", "off"],
  ["deletion", "deletion curve"],
  ["pixel_perturbation", "pixel perturbation"],
];

/** Whether the payload holds curves to draw (not off, computing or unavailable) (pure). */
export function hasCurves(r) {
  return Boolean(r && Array.isArray(r.fractions) && Array.isArray(r.map) && r.fractions.length === r.map.length && r.map.length > 0);
}

/** The line under the panel: both areas and which way is better, or the state (pure). */
export function evaluationCaption(r) {
  if (r === null || r === undefined) return "";
  if (r.unavailable) return r.unavailable;
  if (!hasCurves(r)) return "computing the curves of the final map…";
  const map = Number(r.map_auc);
  const rand = Number(r.random_auc);
  const verdict = map < rand ? "better than random" : map > rand ? "worse than random" : "as random";
  return `area: map ${formatTick(map)}, random ${formatTick(rand)} (mean of ${r.random_count}) · lower is better: ${verdict}`;
}

/**
 * The plot in canvas pixels (pure): scales, the map's polyline, the band polygon (high then low,
 * reversed) and the random mean's polyline.
 */
export function evaluationGeometry(r, { width, height }) {
  const plot = { x: 52, y: 28, w: Math.max(40, width - 80), h: Math.max(40, height - 72) };
  const f = r.fractions;
  const [lo, hi] = paddedExtent([r.map, r.random_low, r.random_high], 0.05);
  const xs = linearScale([f[0], f[f.length - 1]], [plot.x, plot.x + plot.w]);
  const ys = linearScale([lo, hi], [plot.y + plot.h, plot.y]);
  const pts = (values) => values.map((v, i) => [xs(f[i]), ys(v)]);
  const band = [...pts(r.random_high), ...pts(r.random_low).reverse()];
  return { plot, xs, ys, lo, hi, map: pts(r.map), mean: pts(r.random_mean), band };
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

/** Draw the panel into a 2-D context of `width` × `height` CSS pixels. */
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
  // the random band, its mean, then the map on top
  ctx.fillStyle = "rgba(120, 120, 120, 0.22)";
  ctx.beginPath();
  g.band.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.closePath();
  ctx.fill();
  ctx.restore();
  polyline(ctx, g.mean, "#777777", [5, 4]);
  polyline(ctx, g.map, COLORS.score);
  ctx.save();
  ctx.font = FONTS.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  ctx.fillStyle = COLORS.score;
  ctx.fillText(`— ${r.method}`, plot.x + plot.w - 4, plot.y + 4);
  ctx.fillStyle = "#555";
  ctx.fillText(`- - random (band: ${r.random_count} rankings)`, plot.x + plot.w - 4, plot.y + 20);
  ctx.restore();
  return g;
}
