// Expected Gradients over several references, in the explorer's samples view: under the panels,
// the map of each reference drawn (the mean over that reference's draws) beside its picture, and
// the mean over all draws, on one colour scale (the payload's `samples.references`, see
// attrwidgets/widgets/_compute.py `_reference_strip`). Drawn once per result and display setting;
// the sample scrubber does not redraw it.

import { resolveColormap } from "./colormap.js";
import { baseRgba, panelPixels, referenceCaption, referenceEntries, resampleRgba } from "./compare_draw.js";
import { h } from "./dom.js";

/** The heading: how many references, how many shown, how the mean is made of them. */
export function stripTitle(refs) {
  const shown = refs.index.length;
  const some = shown < refs.distinct ? `the ${shown} drawn most often of ${refs.distinct} references` : `all ${refs.distinct} references`;
  return `Per reference: ${some} in ${refs.draws} draws. Each map is the mean over its reference's draws; the final map is their average weighted by draws. One colour scale (±${Number(refs.scale).toPrecision(3)}, the 99th percentile of their magnitudes; channels summed).`;
}

/**
 * One cell of a per-reference strip (here and in the compare view): the map, divided by `scale`,
 * over `base` (the ghosted input, RGBA at `shape` = [h, w], resampled to the map's size) and, for a
 * reference, its picture in the corner. `prefix` is the view's CSS class prefix ("aw-ref", "aw-cmp-ref").
 */
export function referenceCell(prefix, caption, map, { scale, base, shape, lut, opacity, picture = null }) {
  const [mh, mw] = map.shape;
  const [ih, iw] = shape;
  const under = mh === ih && mw === iw ? base : resampleRgba(base, ih, iw, mh, mw);
  const canvas = h("canvas", { class: `${prefix}-map`, width: mw, height: mh });
  canvas.getContext("2d").putImageData(new ImageData(panelPixels(map.data, scale, under, lut, opacity), mw, mh), 0, 0);
  const parts = [canvas];
  if (picture) {
    const [ph, pw] = picture.shape;
    const pic = h("canvas", { class: `${prefix}-picture`, width: pw, height: ph, title: "the reference" });
    pic.getContext("2d").putImageData(new ImageData(baseRgba(picture, 0), pw, ph), 0, 0);
    parts.push(pic);
  }
  return h("div", { class: prefix, "data-mean": picture ? null : "" }, h("div", { class: `${prefix}-frame` }, ...parts), h("div", { class: `${prefix}-caption`, text: caption }));
}

/** Fill `box` with the strip of `refs` (as sent, `mean` decoded) over `image` (h, w, C uint8), or hide it. */
export function drawStrip(box, refs, image, view) {
  if (!refs || !image) {
    box.hidden = true;
    box.replaceChildren();
    box.dataset.count = "0";
    return;
  }
  const { lut } = resolveColormap(view.cmap, true);
  const options = { scale: 1, base: baseRgba(image, 0.6 * view.opacity), shape: image.shape, lut, opacity: view.opacity };
  const cell = (caption, map, picture) => referenceCell("aw-ref", caption, map, { ...options, picture });
  const entries = referenceEntries(refs); // the compare view's: the most drawn first
  const strip = h("div", { class: "aw-ref-strip" }, cell(`mean of all ${refs.draws} draws (the final map)`, refs.mean, null));
  for (const e of entries) strip.append(cell(referenceCaption(e, refs.draws), e.map, e.picture));
  box.replaceChildren(h("div", { class: "aw-ref-title", text: stripTitle(refs) }), strip);
  box.hidden = false;
  box.dataset.count = String(entries.length);
  box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
}
