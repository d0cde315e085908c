// The panels of the methods without a path (the result's `view`, see attrwidgets/widgets/_methods.py):
//
//  "samples": one sample the model saw, its own map (one sample), the running mean of the first k
//             samples (k from the sample scrubber, drawn from the running means already here: no
//             kernel message) and the final mean; at k = n the running panel is the final map itself.
//  "map":     the input and the final map, then the parts of the decomposition that are maps
//             (Grad-CAM's layer-resolution map drawn in its own blocky pixels, FullGrad's terms,
//             Occlusion's score drop per window), each with its sum.
//
// Same geometry as the path panels (js/layout.js), same colour handling (js/heatmap.js).

import { frame } from "./wire.js";
import { resolveColormap } from "./colormap.js";
import { isSigned, normalize } from "./normalize.js";
import { blend, colorbar, ghost, pathImage, resize } from "./heatmap.js";
import { formatTick } from "./curves.js";
import { panelSign, reduceChannels, reductionCaption } from "./channels.js";
import { rowLayout } from "./layout.js";
import { fmt } from "./text.js";
import { hiDpiContext } from "./dom.js";

/** Nearest-neighbour resize of an (h, w) map to (H, W): a layer's cells stay visible as blocks. */
export function resizeNearest(values, h, w, H, W) {
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) {
    const sy = Math.min(h - 1, Math.floor((y * h) / H));
    for (let x = 0; x < W; x++) out[y * W + x] = values[sy * w + Math.min(w - 1, Math.floor((x * w) / W))];
  }
  return out;
}

/**
 * The panels of a samples view at sample index `k` (0-based into `counts`), as [name, title, subtitle]
 * (pure, for the tests and the drawing).
 */
export function samplePanelTitles(counts, k, n) {
  const c = counts[Math.min(counts.length - 1, Math.max(0, k))];
  return [
    ["sample", "One sample the model saw", `sample 1 of ${n}`],
    ["sample_map", "Its map", "from that one sample"],
    ["running", `Mean of the first ${c} sample${c === 1 ? "" : "s"}`, c === n ? "all samples: the final map" : `of ${n}; own colour scale`],
    ["final", `Final: mean of ${n} sample${n === 1 ? "" : "s"}`, ""],
  ];
}

/** The part panels of a map view: parts that are maps, at most `room` of them. */
export function partPanels(parts, room = 2) {
  return (parts || []).filter((p) => p.map).slice(0, room);
}

export function createMapPanels({ view, canvas, left, root }) {
  const off = document.createElement("canvas");
  let image = null;
  let data = null;
  let cache = new Map();
  // composed RGBA pixels by what they were made of: while the sample scrubber moves, only the
  // running-mean panel changes, so the input, its ghost and the other panels are not recomposed
  let pixelsMemo = new Map();
  let drawn = 0;

  function memo(key, make) {
    if (pixelsMemo.size > 48) pixelsMemo = new Map(); // an opacity drag makes a new key per value
    if (!pixelsMemo.has(key)) pixelsMemo.set(key, make());
    return pixelsMemo.get(key);
  }

  function heatOf(key, channels, shape, scale, sign, nearest = false) {
    const full = `${key}:${view.reduction}:${sign}:${view.clip}`;
    if (cache.has(full)) return cache.get(full);
    const [c, fh, fw] = shape;
    const reduced = c === 1 ? Float32Array.from(channels) : reduceChannels(channels, c, view.reduction);
    for (let i = 0; i < reduced.length; i++) reduced[i] *= scale;
    const [ih, iw] = image.shape;
    const up = nearest ? resizeNearest(reduced, fh, fw, ih, iw) : resize(reduced, fh, fw, ih, iw);
    const out = normalize(up, { sign, clip: view.clip });
    out.key = full;
    cache.set(full, out);
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
    const bw = Math.max(2, Math.round(w));
    const bar = colorbar(lut, bw, 10, { opacity: 1, signed });
    off.width = bw;
    off.height = 10;
    off.getContext("2d").putImageData(new ImageData(bar, bw, 10), 0, 0);
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
    ctx.fillText(formatTick(scale), x + w, y + 13);
  }

  function titles(ctx, [x, y], pw, title, sub) {
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    ctx.fillStyle = "#222";
    ctx.font = "bold 13px sans-serif";
    ctx.fillText(title, x, y - 20, pw);
    ctx.font = "12px sans-serif";
    ctx.fillStyle = "#555";
    ctx.fillText(sub, x, y - 6, pw);
  }

  /** Draw the view's panels; `k` is the sample index of a samples view. Returns the layout. */
  function draw(k = 0) {
    if (!image || !data) return null;
    const [ih, iw, channels] = image.shape;
    const parts = data.view === "map" ? partPanels(data.parts, 3) : [];
    const count = data.view === "samples" ? 4 : 2 + parts.length;
    const fig = rowLayout(root.clientWidth, ih, iw, count, data.view === "samples");
    const [pw, ph] = fig.panel;
    const positions = fig.cells;
    const { width, height } = fig;
    left.style.width = `${width}px`;
    const dpr = window.devicePixelRatio || 1;
    const ctx = hiDpiContext(canvas, width, height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);

    const pixels = ih * iw;
    const original = memo("input", () => pathImage(image.data, null, 1, pixels, channels));
    const fade = 0.6 * view.opacity;
    const under = memo(`ghost:input:${fade}`, () => ghost(original, fade));
    // a map with no negative values (Grad-CAM, FullGrad's |·|, SmoothGrad², VarGrad) is a magnitude
    const sign = data.nonNegative && view.sign === "both" ? "positive" : panelSign(view.reduction, view.sign);
    const signed = isSigned(sign);
    const { lut } = resolveColormap(view.cmap, signed);
    const magnitude = data.nonNegative && view.sign === "both";
    const caption = { ...reductionCaption(view.reduction, magnitude ? "positive" : view.sign, view.clip) };
    if (magnitude) caption.subtitle = "no negative values: a magnitude";
    const barAt = (pos) => [pos[0] + 10, pos[1] + ph + 6, pw - 20];
    const rects = {};
    const scales = {};
    const heat = (name, pos, h, title, sub, base = under, baseKey = "input") => {
      const key = `blend:${baseKey}:${fade}:${h.key}:${view.cmap}:${signed}:${view.opacity}`;
      putPanel(ctx, memo(key, () => blend(base, h.data, lut, { opacity: view.opacity, signed })), pos, fig.panel);
      titles(ctx, pos, pw, title, sub);
      drawBar(ctx, lut, signed, h.scale, ...barAt(pos), `attribution (${caption.bar})`);
      rects[name] = pos;
      scales[name] = h.scale;
    };
    const finalHeat = () => heatOf("final", data.final.data, data.final.shape, data.finalScale, sign);

    if (data.view === "samples") {
      const s = data.samples;
      const K = s.counts.length;
      const ki = Math.min(K - 1, Math.max(0, k));
      const [t0, t1, t2, t3] = samplePanelTitles(s.counts, ki, s.n);
      const sampleImage = s.sampleImage ? memo("sample", () => pathImage(s.sampleImage.data, null, 1, pixels, channels)) : original;
      putPanel(ctx, sampleImage, positions[0], fig.panel);
      titles(ctx, positions[0], pw, t0[1], s.sampleImage ? t0[2] : "(not recorded: the input)");
      rects.sample = positions[0];
      const frameMap = (i) => {
        const f = frame(s.maps, i);
        return heatOf(`frame${i}`, f.data, s.maps.shape.slice(1), s.scales[i], sign);
      };
      const sampleGhost = memo(`ghost:sample:${fade}`, () => ghost(sampleImage, fade));
      heat("sample_map", positions[1], frameMap(0), t1[1], K > 1 ? t1[2] : "(not recorded)", sampleGhost, "sample");
      // at k = n the running mean IS the final map: drawn from the same data, pixel for pixel
      heat("running", positions[2], ki === K - 1 ? finalHeat() : frameMap(ki), t2[1], t2[2]);
      heat("final", positions[3], finalHeat(), t3[1], caption.subtitle);
    } else {
      putPanel(ctx, original, positions[0], fig.panel);
      titles(ctx, positions[0], pw, "Input", `the model sees: ${data.raw.target_label}`);
      rects.input = positions[0];
      heat("final", positions[1], finalHeat(), "Attribution", caption.subtitle);
      parts.forEach((p, i) => {
        const nearest = p.map.shape[0] * 2 <= ih;
        const h = heatOf(`part:${p.name}`, p.map.data, [1, ...p.map.shape], p.scale, sign, nearest);
        const res = `${p.map.shape[0]}×${p.map.shape[1]}`;
        heat(`part:${p.name}`, positions[2 + i], h, `Part “${p.name}”`, `Σ = ${fmt(p.sum)} · ${res}${nearest ? ", its own cells" : ""}`);
      });
    }
    const out = {};
    for (const [name, [x, y]] of Object.entries(rects)) out[name] = [x, y, pw, ph].map((v) => Math.round(v * dpr));
    canvas.dataset.panels = JSON.stringify(out);
    canvas.dataset.scales = JSON.stringify(scales);
    drawn += 1;
    root.setAttribute("data-drawn", String(drawn));
    root.setAttribute("data-result", String(data.generation));
    return fig;
  }

  return {
    draw,
    setImage(next) {
      image = next;
      cache = new Map();
      pixelsMemo = new Map();
    },
    setResult(next) {
      data = next;
      cache = new Map();
      pixelsMemo = new Map();
    },
    clear() {
      cache = new Map();
      pixelsMemo = new Map();
    },
  };
}
