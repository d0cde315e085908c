// The compare grid's pixels and words, without the DOM: which scale a panel is drawn with, which
// map it shows at α, its RGBA pixels over the ghosted input, the hover readout, the gap line.
// The payload is described in attrwidgets/widgets/_compare.py: every map is in one `unit` for the
// whole grid, so in the locked view one value is one colour in every panel.

import { decode, frame } from "./wire.js";
import { ghost, blend, pathImage, resize } from "./heatmap.js";
import { normalize } from "./normalize.js";
import { nearestIndex } from "./scrubber.js";
import { fmt } from "./text.js";

/** The divisor of panel `i` (in the grid's unit): the grid's one scale, or the panel's own. */
export function panelScale(result, i, mode) {
  const s = mode === "panel" ? result.panels[i].clip : result.locked;
  return Number.isFinite(s) && s > 0 ? s : 1;
}

/**
 * The decoded panels of a result: map (h, w) and, for path panels, the α frames.
 * @returns {{map: {data: Float32Array, shape: number[]}, frames: null|{alphas: Float32Array, maps: {data: Float32Array, shape: number[]}}}[]}
 */
export function decodePanels(result) {
  return (result?.panels || []).map((p) => ({
    map: decode(p.map),
    frames: p.frames ? { alphas: decode(p.frames.alphas).data, maps: decode(p.frames.maps) } : null,
  }));
}

/**
 * What panel shows at `alpha`: the final map at α = 1 (or without frames), else the attribution
 * accumulated up to the nearest frame's α, resized to the map's size. Values in the grid's unit.
 * @returns {{data: Float32Array, shape: number[], alpha: number}}
 */
export function valuesAt(decoded, alpha) {
  const { map, frames } = decoded;
  if (!frames || alpha >= 1 || frames.alphas.length === 0) return { ...map, alpha: 1 };
  const k = nearestIndex(frames.alphas, alpha);
  const [, fh, fw] = frames.maps.shape;
  const one = frames.maps.data.subarray(k * fh * fw, (k + 1) * fh * fw);
  const [h, w] = map.shape;
  return { data: resize(one, fh, fw, h, w), shape: [h, w], alpha: frames.alphas[k] };
}

/** An (h, w, 3) uint8 image as RGBA, faded so the heat on top reads. */
export function baseRgba(image, amount = 0.5) {
  const [h, w, c] = image.shape;
  return ghost(pathImage(image.data, null, 1, h * w, c), amount);
}

/** RGBA pixels of one panel: `values` (grid unit) divided by `scale`, blended over `base`. */
export function panelPixels(values, scale, base, lut, opacity) {
  const { data } = normalize(values, { sign: "both", scale });
  return blend(base, data, lut, { opacity, signed: true });
}

/** The value under the pointer at (u, v) ∈ [0, 1)² of a panel, in the attribution's own units. */
export function valueAt(values, unit, u, v) {
  const [h, w] = values.shape;
  const y = Math.min(h - 1, Math.max(0, Math.floor(v * h)));
  const x = Math.min(w - 1, Math.max(0, Math.floor(u * w)));
  return { x, y, value: values.data[y * w + x] * unit };
}

/** The hover readout under a panel. */
export function readoutText({ value }) {
  return `value ${fmt(value, 3)}`;
}

/** The completeness line under a panel (attrwidgets/widgets/compare.py gap_text says the same). */
export function gapText(p) {
  if (p.delta === null || p.delta === undefined) return `Σ = ${fmt(p.sum, 3)} (no completeness claim)`;
  const share = Number.isFinite(p.relative_delta) ? ` (${fmt(100 * p.relative_delta, 2)} %)` : "";
  return `Σ = ${fmt(p.sum, 3)}, F(x) − F(x′) = ${fmt(p.score - p.baseline_score, 3)}, gap ${fmt(p.delta, 2)}${share}`;
}

/** The short gap line shown under a panel: |Σ − (F(x) − F(x′))| / |F(x) − F(x′)| (the full line is its tooltip). */
export function gapShort(p) {
  if (p.delta === null || p.delta === undefined) return "no completeness claim";
  if (!Number.isFinite(p.relative_delta)) return `gap ${fmt(p.delta, 2)}`;
  return `gap ${fmt(100 * p.relative_delta, 2)} %`;
}

/** How good the gap is: "ok" below 5 %, "warn" above, "none" without a claim. */
export function gapLevel(p) {
  if (p.delta === null || p.delta === undefined || !Number.isFinite(p.relative_delta)) return "none";
  return p.relative_delta <= 0.05 ? "ok" : "warn";
}

/** The status line: "3 of 12 panels", and the session's message while computing. */
export function statusText(status, result) {
  const done = result?.done ?? 0;
  const total = result?.total ?? status?.total ?? 0;
  const full = result?.full ?? done;
  const count = full < done ? `${done} of ${total} panels (${full} refined, the rest a coarse first answer)` : `${done} of ${total} panels`;
  if (status?.state === "error") return `error: ${status.message}${status.hint ? ` — ${status.hint}` : ""}`;
  if (status?.state === "computing") return `${count} · ${status.message}`;
  return full === total && total > 0 ? `all ${total} panels computed` : count;
}

/**
 * Expected Gradients' per-reference maps of a panel (`panel.references`, see
 * attrwidgets/widgets/_compare.py): one entry per distinct reference drawn, the most drawn first,
 * its map (the mean over that reference's draws, in the grid's unit) and its picture (uint8 RGB).
 * The panel's own map is their mean weighted by `count / draws`.
 * @returns {{index: number, count: number, map: {data: Float32Array, shape: number[]}, picture: {data: Uint8Array, shape: number[]}}[]}
 */
export function referenceEntries(refs) {
  if (!refs || !refs.maps) return [];
  const maps = decode(refs.maps);
  const pictures = decode(refs.pictures);
  const out = refs.index.map((index, k) => ({ index, count: refs.count[k], map: frame(maps, k), picture: frame(pictures, k) }));
  return out.sort((a, b) => b.count - a.count || a.index - b.index);
}

/** The caption of one per-reference map: which reference, and how many of the draws used it. */
export function referenceCaption(entry, draws) {
  return `reference ${entry.index} · ${entry.count} of ${draws} draw${draws === 1 ? "" : "s"}`;
}

/** The heading of a panel's per-reference maps. */
export function referenceTitle(row, column, refs) {
  const n = refs.index.length;
  return `${row} · ${column}: ${n} references in ${refs.draws} draws. Each map is the mean over its reference's draws; the panel (mean) is their average weighted by draws.`;
}

/** RGBA pixels (h × w) resampled to (H × W), nearest pixel: the ghosted input under a smaller map. */
export function resampleRgba(rgba, h, w, H, W) {
  const out = new Uint8ClampedArray(H * W * 4);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / H));
    for (let x = 0; x < W; x++) {
      const sx = Math.min(w - 1, Math.floor(((x + 0.5) * w) / W));
      out.set(rgba.subarray((sy * w + sx) * 4, (sy * w + sx) * 4 + 4), (y * W + x) * 4);
    }
  }
  return out;
}
