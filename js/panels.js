// The four image panels on one canvas: the input along the path, the gradient there, the
// attribution accumulated up to α and the final attribution, each with its title and colour bar.
// The normalised maps are cached per frame, sign and clip; the blended final panel per display
// setting (it does not depend on α).

import { frame } from "./wire.js";
import { resolveColormap } from "./colormap.js";
import { clipScale, isSigned, normalize, applySign } from "./normalize.js";
import { blend, colorbar, ghost, pathImage, resize } from "./heatmap.js";
import { formatTick } from "./curves.js";
import { nearestIndex } from "./scrubber.js";
import { panelSign, reduceChannels, reductionCaption } from "./channels.js";
import { figureLayout } from "./layout.js";
import { hiDpiContext } from "./dom.js";

/**
 * The panel drawing of one widget.
 * @param {{view: object, canvas: HTMLCanvasElement, left: HTMLElement, root: HTMLElement}} parts
 *   `view` the display state (α, opacity, colours, sign, clip, reduction), read at each draw;
 *   `left` the column the canvas is in (sized to it); `root` gets data-drawn and data-result
 */
export function createPanels({ view, canvas, left, root }) {
  const off = document.createElement("canvas");
  let image = null; // decoded image
  let data = null; // unpacked result
  let cache = new Map();
  let finalDrawn = { key: "", pixels: null }; // the blended final panel (independent of α)
  let faded = { fade: -1, pixels: null };
  let drawn = 0;

  /** Map of a frame (gradient or accumulated attribution), resized and normalised; cached. */
  function heat(kind, index) {
    const key = `${kind}:${index}:${view.sign}:${view.clip}`;
    if (cache.has(key)) return cache.get(key);
    // at the last point (α = 1) the accumulated attribution IS the final map: draw it from the
    // final map's own data (full size, per channel, summed), not from its downsampled frame
    if (kind === "cum" && data.final && index === data.cum.shape[0] - 1 && data.frameAlphas[index] >= 1 - 1e-6) {
      const f = finalHeat("sum", view.sign);
      cache.set(key, f);
      return f;
    }
    const stack = kind === "grad" ? data.grad : data.cum;
    const scales = kind === "grad" ? data.gradScale : data.cumScale;
    const [, fh, fw] = stack.shape;
    const raw = frame(stack, index).data;
    const values = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) values[i] = raw[i] * scales[index];
    // the gradient uses its own scale at every α; the accumulated attribution uses the scale of
    // the final map (the signed channel sum of the final panel, else the last frame), so it
    // visibly grows along the path and ends on the final panel's colour bar
    let scale;
    if (kind === "grad") scale = clipScale(applySign(values, view.sign), view.clip);
    else if (data.final) scale = finalHeat("sum", view.sign).scale;
    else {
      const last = stack.shape[0] - 1;
      const finalRaw = frame(stack, last).data;
      const finalValues = new Float32Array(finalRaw.length);
      for (let i = 0; i < finalRaw.length; i++) finalValues[i] = finalRaw[i] * scales[last];
      scale = clipScale(applySign(finalValues, view.sign), view.clip);
    }
    const [ih, iw] = image.shape;
    const up = resize(values, fh, fw, ih, iw);
    const out = { ...normalize(up, { sign: view.sign, clip: view.clip, scale }), scale };
    cache.set(key, out);
    return out;
  }

  /** The final attribution with its channels reduced (js/channels.js), resized and normalised; cached. */
  function finalHeat(reduction, sign) {
    const key = `final:${reduction}:${sign}:${view.clip}`;
    if (cache.has(key)) return cache.get(key);
    const [channels, fh, fw] = data.final.shape;
    const reduced = reduceChannels(data.final.data, channels, reduction);
    for (let i = 0; i < reduced.length; i++) reduced[i] *= data.finalScale;
    const [ih, iw] = image.shape;
    const out = normalize(resize(reduced, fh, fw, ih, iw), { sign, clip: view.clip });
    cache.set(key, out);
    return out;
  }

  function putPanel(ctx, pixels, [x, y], [pw, ph]) {
    const [ih, iw] = image.shape;
    off.width = iw;
    off.height = ih;
    off.getContext("2d").putImageData(new ImageData(pixels, iw, ih), 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, x, y, pw, ph);
    ctx.strokeStyle = "#bbb";
    ctx.lineWidth = 1;
    ctx.strokeRect(x - 0.5, y - 0.5, pw + 1, ph + 1);
  }

  function drawBar(ctx, lut, signed, scale, x, y, w, label) {
    const bar = colorbar(lut, Math.max(2, Math.round(w)), 10, { opacity: view.opacity, signed });
    off.width = Math.max(2, Math.round(w));
    off.height = 10;
    off.getContext("2d").putImageData(new ImageData(bar, off.width, 10), 0, 0);
    ctx.drawImage(off, x, y, w, 10);
    ctx.strokeStyle = "#999";
    ctx.strokeRect(x - 0.5, y - 0.5, w + 1, 11);
    ctx.fillStyle = "#333";
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    ctx.fillText(signed ? `−${formatTick(scale)}` : "0", x, y + 13);
    ctx.textAlign = "center";
    if (signed) ctx.fillText("0", x + w / 2, y + 13);
    ctx.fillText(label, x + w / 2, y + 27, w + 16);
    ctx.textAlign = "right";
    ctx.fillText(`${formatTick(scale)}`, x + w, y + 13);
  }

  /** The input (α = 1) faded under the heatmaps; the same at every α. */
  function fadedInput(fade) {
    if (faded.fade !== fade || !faded.pixels) {
      const [ih, iw, channels] = image.shape;
      faded = { fade, pixels: ghost(pathImage(image.data, null, 1, ih * iw, channels), fade) };
    }
    return faded.pixels;
  }

  /** The blended final panel: depends on the reduction, sign, clip, colours and opacity, not on α. */
  function finalPixels(under) {
    const sign = panelSign(view.reduction, view.sign);
    const key = `${view.reduction}:${sign}:${view.clip}:${view.cmap}:${view.opacity}`;
    if (finalDrawn.key !== key) {
      const f = finalHeat(view.reduction, sign);
      const { lut } = resolveColormap(view.cmap, isSigned(sign));
      const pixels = blend(under, f.data, lut, { opacity: view.opacity, signed: isSigned(sign) });
      finalDrawn = { key, pixels, lut, scale: f.scale, signed: isSigned(sign) };
    }
    return finalDrawn;
  }

  /** Draw the four panels at α = view.alpha; the figure layout, or null before an image and a result are here. */
  function draw() {
    if (!image || !data) return null;
    const [ih, iw, channels] = image.shape;
    const fig = figureLayout(root.clientWidth, ih, iw);
    const { width, height, cells, panel } = fig;
    const [pw, ph] = panel;
    left.style.width = `${width}px`;
    const dpr = window.devicePixelRatio || 1;
    const ctx = hiDpiContext(canvas, width, height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);

    const fi = Math.max(0, nearestIndex(data.frameAlphas, view.alpha));
    const a = data.frameAlphas[fi];
    const pixels = ih * iw;
    const signed = isSigned(view.sign);
    const { lut } = resolveColormap(view.cmap, signed);

    const along = pathImage(image.data, data.baseline.data, a, pixels, channels);
    const g = heat("grad", fi);
    // ∫ from 0 to 0 is nothing: at α = 0 the accumulated panel is empty, whatever weight the
    // rule gives the point at α = 0 (the trapezoid's first point counts only once α moves on)
    const c = a <= 0 ? { ...heat("cum", fi), data: new Float32Array(ih * iw) } : heat("cum", fi);
    // the image under a heatmap is faded (more as the heat gets more opaque) so the colours read
    const fade = 0.6 * view.opacity;
    const input = fadedInput(fade);
    putPanel(ctx, along, cells.input, panel);
    putPanel(ctx, blend(ghost(along, fade), g.data, lut, { opacity: view.opacity, signed }), cells.grad, panel);
    putPanel(ctx, blend(input, c.data, lut, { opacity: view.opacity, signed }), cells.cumulative, panel);
    const fin = data.final ? finalPixels(input) : null;
    if (fin) putPanel(ctx, fin.pixels, cells.final, panel);

    const predicted = data.predicted[fi];
    const predictedLabel = data.labels[String(predicted)] ?? `class ${predicted}`;
    const at = a.toFixed(3);
    const caption = reductionCaption(view.reduction, view.sign, view.clip);
    const titles = {
      input: [`Input at α = ${at}`, `the model sees: ${predictedLabel}`],
      grad: [`Gradient ∂F/∂x at α = ${at}`, "own colour scale at each α"],
      cumulative: [`Attribution up to α = ${at}`, "accumulated, on the final map’s scale"],
      final: ["Final attribution (α = 1)", fin ? caption.subtitle : "not sent by this kernel"],
    };
    for (const [name, [t, sub]] of Object.entries(titles)) {
      const [x, y] = cells[name];
      ctx.textAlign = "left";
      ctx.textBaseline = "alphabetic";
      ctx.fillStyle = "#222";
      ctx.font = "bold 13px sans-serif";
      ctx.fillText(t, x, y - 20, pw);
      ctx.font = "12px sans-serif";
      ctx.fillStyle = "#555";
      ctx.fillText(sub, x, y - 6, pw);
    }
    const unit = signed ? "Σ channels" : view.sign === "absolute" ? "|Σ channels|" : `${view.sign} part`;
    const barAt = (name) => [cells[name][0] + 10, cells[name][1] + ph + 6, pw - 20];
    drawBar(ctx, lut, signed, g.scale, ...barAt("grad"), `gradient (${unit})`);
    drawBar(ctx, lut, signed, c.scale, ...barAt("cumulative"), `attribution (${unit}, clip p${view.clip})`);
    if (fin) drawBar(ctx, fin.lut, fin.signed, fin.scale, ...barAt("final"), `attribution (${caption.bar})`);
    ctx.fillStyle = "#555";
    ctx.font = "11px sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText("α = 0: the baseline x′, α = 1: the input x", cells.input[0], cells.input[1] + ph + 6, pw);

    // where each panel's image is, in canvas pixels, and the ends of the colour bars (read by the browser tests)
    const rects = {};
    for (const [name, [x, y]] of Object.entries(cells)) rects[name] = [x, y, pw, ph].map((v) => Math.round(v * dpr));
    canvas.dataset.panels = JSON.stringify(rects);
    canvas.dataset.scales = JSON.stringify({ grad: g.scale, cumulative: c.scale, final: fin ? fin.scale : null });
    drawn += 1;
    root.setAttribute("data-drawn", String(drawn));
    root.setAttribute("data-result", String(data.generation));
    return fig;
  }

  return {
    draw,
    /** A new image ({data, shape: [h, w, C]}): every cache goes. */
    setImage(next) {
      image = next;
      cache = new Map();
      finalDrawn = { key: "", pixels: null };
      faded = { fade: -1, pixels: null };
    },
    /** A new result (js/result.js unpack): the maps go (a coarse and a full result share their generation). */
    setResult(next) {
      data = next;
      cache = new Map();
      finalDrawn = { key: "", pixels: null };
    },
    /** Let go of the cached maps. */
    clear() {
      cache = new Map();
    },
  };
}
