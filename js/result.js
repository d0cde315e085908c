// A result of the kernel (see attrwidgets/widgets/_compute.py) decoded once into what the drawing
// needs (pure apart from reading the DataViews). Its `view` is the discriminator that picks the
// panels: "path" (α scrubber, four panels, curves), "samples" (sample scrubber, running means) or
// "map" (one map and its parts); a result without one is a path (older kernels).

import { decode } from "./wire.js";

/** The view of a raw result. */
export function viewOf(result) {
  return result && typeof result.view === "string" ? result.view : "path";
}

/** Whether a raw result holds what its view needs (a result still being built does not). */
export function isComplete(result) {
  if (!result || !result.final_map) return Boolean(result && result.frames);
  const view = viewOf(result);
  if (view === "path") return Boolean(result.frames);
  if (view === "samples") return Boolean(result.samples);
  return true;
}

/** Whether every value of a decoded map is ≥ 0 (a magnitude: drawn with a sequential map). */
export function allNonNegative(values) {
  for (let i = 0; i < values.length; i++) if (values[i] < 0) return false;
  return values.length > 0;
}

function common(result) {
  const final = result.final_map ? decode(result.final_map.channels) : null;
  return {
    nonNegative: viewOf(result) !== "path" && final !== null && allNonNegative(final.data),
    view: viewOf(result),
    generation: result.generation,
    stage: result.stage,
    isFinal: result.final,
    final,
    finalScale: result.final_map ? Number(result.final_map.scale) : 1,
    labels: result.labels || {},
    raw: result,
  };
}

/** Decode everything of a result that the drawing needs (once per result). */
export function unpack(result) {
  const view = viewOf(result);
  if (view === "samples") {
    const s = result.samples;
    return {
      ...common(result),
      samples: {
        n: s.n,
        counts: decode(s.counts).data,
        maps: decode(s.maps),
        scales: decode(s.scales).data,
        relChange: decode(s.rel_change).data,
        gap: s.gap ? decode(s.gap).data : null,
        relativeGap: s.relative_gap ? decode(s.relative_gap).data : null,
        sampleImage: s.sample_image ? decode(s.sample_image) : null,
        references: s.references ? { ...s.references, mean: decode(s.references.mean) } : null, // maps: js/refstrip.js
      },
    };
  }
  if (view === "map") {
    const parts = (result.parts || []).map((p) => ({ ...p, map: p.map ? decode(p.map) : null }));
    return { ...common(result), parts, baseline: result.baseline_image ? decode(result.baseline_image) : null };
  }
  const curve = result.curve;
  const frames = result.frames;
  return {
    ...common(result),
    curveAlphas: decode(curve.alphas).data,
    scores: decode(curve.scores).data,
    gradNorm: decode(curve.grad_norm).data,
    cumulative: decode(curve.cumulative).data,
    frameAlphas: decode(frames.alphas).data,
    predicted: decode(frames.predicted).data,
    grad: decode(frames.grad),
    gradScale: decode(frames.grad_scale).data,
    cum: decode(frames.cumulative),
    cumScale: decode(frames.cumulative_scale).data,
    baseline: decode(result.baseline_image),
  };
}
