// A result of the kernel (see attrwidgets/widgets/_compute.py) decoded once into what the drawing
// needs (pure apart from reading the DataViews).

import { decode } from "./wire.js";

/** Decode everything of a result that the drawing needs (once per result). */
export function unpack(result) {
  const curve = result.curve;
  const frames = result.frames;
  const grad = decode(frames.grad);
  const cum = decode(frames.cumulative);
  return {
    generation: result.generation,
    stage: result.stage,
    isFinal: result.final,
    curveAlphas: decode(curve.alphas).data,
    scores: decode(curve.scores).data,
    gradNorm: decode(curve.grad_norm).data,
    cumulative: decode(curve.cumulative).data,
    frameAlphas: decode(frames.alphas).data,
    predicted: decode(frames.predicted).data,
    grad,
    gradScale: decode(frames.grad_scale).data,
    cum,
    cumScale: decode(frames.cumulative_scale).data,
    final: result.final_map ? decode(result.final_map.channels) : null,
    finalScale: result.final_map ? Number(result.final_map.scale) : 1,
    baseline: decode(result.baseline_image),
    labels: result.labels || {},
    raw: result,
  };
}
