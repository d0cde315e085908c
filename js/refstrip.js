// Expected Gradients over several references, in the explorer's samples view: under the panels,
// the map of each reference drawn (the mean over that reference's draws) beside its picture, and
// the mean over all draws, on one colour scale (the payload's `samples.references`, see
// attrwidgets/widgets/_compute.py `_reference_strip`). Drawn once per result and display setting;
// the sample scrubber does not redraw it.

import { frame } from "./wire.js";
import { resolveColormap } from "./colormap.js";
import { baseRgba, panelPixels, resampleRgba } from "./compare_draw.js";
import { h } from "./dom.js";

/** The strip's entries, the most drawn reference first (ties: the lower index). */
export function stripEntries(refs) {
  if (!refs || !refs.maps) return [];
  const out = refs.index.map((index, k) => ({ index, count: refs.count[k], map: frame(refs.maps, k), picture: frame(refs.pictures, k) }));
  return out.sort((a, b) => b.count - a.count || a.index - b.index);
}

/** The heading: how many references, how many shown, how the mean is made of them. */
export function stripTitle(refs) {
  const shown = refs.index.length;
  const some = shown < refs.distinct ? `the ${shown} drawn most often of ${refs.distinct} references` : `all ${refs.distinct} references`;
  return `Per reference: ${some} in ${refs.draws} draws. Each map is the mean over its reference's draws; the final map is their average weighted by draws. One colour scale (±${Number(refs.scale).toPrecision(3)}, the 99th percentile of their magnitudes; channels summed).`;
}

/** The caption of one reference's map. */
export function stripCaption(entry, draws) {
  return `reference ${entry.index} · ${entry.count} of ${draws} draw${draws === 1 ? "" : "s"}`;
}

/** Fill `box` with the strip of `refs` (decoded: maps, mean, pictures) over `image` (h, w, C uint8), or hide it. */
export function drawStrip(box, refs, image, view) {
  if (!refs || !image) {
    box.hidden = true;
    box.replaceChildren();
    box.dataset.count = "0";
    return;
  }
  const { lut } = resolveColormap(view.cmap, true);
  const [ih, iw] = image.shape;
  const ghosted = baseRgba(image, 0.6 * view.opacity);
  const cell = (caption, map, picture) => {
    const [mh, mw] = map.shape;
    const base = mh === ih && mw === iw ? ghosted : resampleRgba(ghosted, ih, iw, mh, mw);
    const canvas = h("canvas", { class: "aw-ref-map", width: mw, height: mh });
    canvas.getContext("2d").putImageData(new ImageData(panelPixels(map.data, 1, base, lut, view.opacity), mw, mh), 0, 0);
    const parts = [canvas];
    if (picture) {
      const [ph, pw] = picture.shape;
      const pic = h("canvas", { class: "aw-ref-picture", width: pw, height: ph, title: "the reference" });
      pic.getContext("2d").putImageData(new ImageData(baseRgba(picture, 0), pw, ph), 0, 0);
      parts.push(pic);
    }
    return h("div", { class: "aw-ref", "data-mean": picture ? null : "" }, h("div", { class: "aw-ref-frame" }, ...parts), h("div", { class: "aw-ref-caption", text: caption }));
  };
  const entries = stripEntries(refs);
  const strip = h("div", { class: "aw-ref-strip" }, cell(`mean of all ${refs.draws} draws (the final map)`, refs.mean, null));
  for (const e of entries) strip.append(cell(stripCaption(e, refs.draws), e.map, e.picture));
  box.replaceChildren(h("div", { class: "aw-ref-title", text: stripTitle(refs) }), strip);
  box.hidden = false;
  box.dataset.count = String(entries.length);
  box.dataset.drawn = String(Number(box.dataset.drawn || 0) + 1);
}
