// Convergence in samples, beside the panels of a samples view: the relative change between
// successive running means (SmoothGrad's "n > 50 changes little", on the user's own model) and,
// for a method with a completeness gap (Expected Gradients), the gap after each sample (Distill's
// "EG mean vs samples"). The x axis is the sample count on a log₂ scale; a marker shows the count
// the panels show.

import { COLORS, FONTS, formatTick, linearScale, paddedExtent, ticks } from "./curves.js";

/** x position (0..1) of a sample count on the log₂ axis from 1 to n (pure). */
export function sampleX(count, n) {
  if (!(n > 1)) return 1;
  return Math.log2(Math.max(1, Math.min(n, count))) / Math.log2(n);
}

/** The sample index (into `counts`) nearest to the axis position `f` in 0..1 (pure). */
export function nearestCount(counts, n, f) {
  let best = 0;
  for (let i = 1; i < counts.length; i++) {
    if (Math.abs(sampleX(counts[i], n) - f) < Math.abs(sampleX(counts[best], n) - f)) best = i;
  }
  return best;
}

/** The points of the relative-change curve: [count, percent] for counts 2, 4, …, n (pure). */
export function changePoints(counts, relChange) {
  const out = [];
  for (let i = 1; i < counts.length; i++) if (Number.isFinite(relChange[i])) out.push([counts[i], 100 * relChange[i]]);
  return out;
}

function plotFrame(ctx, plot, ys, yTicks, title, unit) {
  ctx.save();
  ctx.strokeStyle = COLORS.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);
  ctx.fillStyle = COLORS.text;
  ctx.font = FONTS.title;
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  ctx.fillText(title, 6, plot.y - 8, plot.x + plot.w);
  ctx.font = FONTS.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of yTicks) {
    const y = ys(t);
    if (y >= plot.y - 1 && y <= plot.y + plot.h + 1) ctx.fillText(`${formatTick(t)}${unit}`, plot.x - 4, y);
  }
  ctx.restore();
}

function countAxis(ctx, plot, n) {
  ctx.save();
  ctx.fillStyle = COLORS.text;
  ctx.font = FONTS.text;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const marks = [];
  for (let c = 1; c < n; c *= 2) marks.push(c);
  marks.push(n);
  const step = Math.max(1, Math.ceil(marks.length / 8));
  marks.forEach((c, i) => {
    if (i % step === 0 || c === n) ctx.fillText(String(c), plot.x + sampleX(c, n) * plot.w, plot.y + plot.h + 4);
  });
  ctx.fillText("samples (log scale)", plot.x + plot.w / 2, plot.y + plot.h + 20);
  ctx.restore();
}

function line(ctx, pts, color) {
  if (!pts.length) return;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
  for (const [x, y] of pts) {
    ctx.beginPath();
    ctx.arc(x, y, 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.restore();
}

/**
 * Draw the convergence curves of `s` (js/result.js unpack(...).samples) and the marker at `count`.
 * @returns {{plots: object[], n: number}}  for pointer handling (nearestCount)
 */
export function drawSampleCurves(ctx, s, { width, height, count }) {
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  const n = s.n;
  const two = Boolean(s.relativeGap);
  const left = 58;
  const plotH = Math.max(40, (height - 40 - (two ? 100 : 50)) / (two ? 2 : 1));
  const plots = [{ x: left, y: 30, w: Math.max(40, width - left - 24), h: plotH }];
  if (two) plots.push({ x: left, y: 30 + plotH + 70, w: plots[0].w, h: plotH });
  const xs = (p) => (c) => p.x + sampleX(c, n) * p.w;

  const change = changePoints(s.counts, s.relChange);
  const top = plots[0];
  const range = paddedExtent([change.map(([, v]) => v), [0]]);
  const ys = linearScale(range, [top.y + top.h, top.y]);
  plotFrame(ctx, top, ys, ticks(...range, 4), "Change of the mean when the samples double", " %");
  if (change.length) line(ctx, change.map(([c, v]) => [xs(top)(c), ys(v)]), COLORS.score);
  else {
    ctx.fillStyle = "#666";
    ctx.font = FONTS.text;
    ctx.fillText("one frame only: no change to show", top.x + 8, top.y + top.h / 2);
  }
  countAxis(ctx, top, n);

  if (two) {
    const bottom = plots[1];
    const pts = [];
    for (let k = 1; k <= s.relativeGap.length; k++) pts.push([k, 100 * s.relativeGap[k - 1]]);
    const r = paddedExtent([pts.map(([, v]) => v), [0]]);
    const yb = linearScale(r, [bottom.y + bottom.h, bottom.y]);
    plotFrame(ctx, bottom, yb, ticks(...r, 4), "Completeness gap after k samples", " %");
    ctx.save();
    ctx.strokeStyle = COLORS.cumulative;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    pts.forEach(([k, v], i) => (i ? ctx.lineTo(xs(bottom)(k), yb(v)) : ctx.moveTo(xs(bottom)(k), yb(v))));
    ctx.stroke();
    ctx.restore();
    countAxis(ctx, bottom, n);
  }
  for (const p of plots) {
    const x = xs(p)(count);
    ctx.save();
    ctx.strokeStyle = COLORS.marker;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, p.y);
    ctx.lineTo(x, p.y + p.h);
    ctx.stroke();
    ctx.restore();
  }
  return { plots, n };
}
