// The explorer widget (anywidget front end): four image panels (the input along the path, the
// gradient there, the attribution accumulated up to α, the final attribution), the α scrubber under
// them, the saturation curves beside them and the completeness readout.
//
// Display controls (α, opacity, colour map, sign, clip, channels) never talk to the kernel: they redraw from
// data already here, so they also work in the static HTML export. Controls that need new gradients
// (baseline, σ, colour, steps, rule, target) set a trait and save_changes(); the kernel validates,
// computes and answers with a newer `result` (its `generation` is shown in data-result).

import { decode, frame } from "./wire.js";
import { COLORMAPS, resolveColormap } from "./colormap.js";
import { SIGN_MODES, clipScale, isSigned, normalize, applySign } from "./normalize.js";
import { OVERLAY, blend, colorbar, ghost, pathImage, resize } from "./heatmap.js";
import { alphaAtX, classSummary, drawCurves, drawMarkers, formatTick } from "./curves.js";
import { SIGMA, completenessText, parseSteps, stepsOptions } from "./controls.js";
import { SLIDER_MAX, alphaReadout, alphaToSlider, createPlayer, nearestIndex, sliderToAlpha } from "./scrubber.js";
import { REDUCTIONS, panelSign, reduceChannels, reductionCaption } from "./channels.js";
import { figureLayout } from "./layout.js";
import { STYLE } from "./style.js";

/**
 * @typedef {object} Traits
 * @property {{view: DataView, dtype: string, shape: number[]}} image  (h, w, C) uint8
 * @property {object} result   the latest answer of the kernel (see attrwidgets/widgets/_compute.py)
 * @property {{state: string, message: string, progress: number|null, hint: string}} status
 * @property {{index: number, label: string, score: number, prob: number}[]} targets
 * @property {string[]} baselines
 * @property {string[]} rules
 * @property {string} baseline
 * @property {number|null} sigma
 * @property {string} color
 * @property {string|number} steps  "auto" or a number of points
 * @property {string} rule
 * @property {number} target
 * @property {number} opacity
 * @property {string} cmap
 * @property {string} sign
 * @property {number} clip
 * @property {string} reduction  channels of the final panel (js/channels.js)
 * @property {number} alpha
 * @property {string} title
 * @property {boolean} interactive  false in the static export
 */

/** Create an element with a class, attributes and children. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** A focusable input: Lumino's shortcuts must not eat its keys (see recipes/browser-testing.md). */
function input(tag, attrs) {
  const el = h(tag, attrs);
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  return el;
}

function setOptions(select, options, value) {
  select.replaceChildren(...options.map(([v, text]) => h("option", { value: v, text })));
  if (value !== undefined && value !== null) select.value = String(value);
}

const BASELINE_NAMES = {
  black: "black",
  white: "white",
  constant: "constant colour",
  uniform: "uniform noise",
  gaussian: "image + gaussian noise",
  blur: "blurred image",
  max_distance: "maximum distance",
  references: "training example",
};

function fmt(v, digits = 4) {
  if (!Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return String(Number(v.toPrecision(digits)));
}

/** Decode everything of a result that the drawing needs (once per result). */
function unpack(result) {
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

function render({ model, el }) {
  const events = new AbortController();
  const on = (target, type, fn) => target.addEventListener(type, fn, { signal: events.signal });
  const modelHandlers = [];
  const onModel = (name, fn) => {
    model.on(name, fn);
    modelHandlers.push([name, fn]);
  };
  const interactive = model.get("interactive") !== false;

  // ---- view state (front end only) ----------------------------------------------------------
  const view = {
    alpha: Math.min(1, Math.max(0, Number(model.get("alpha") ?? 1))),
    opacity: Number(model.get("opacity") ?? OVERLAY.opacity),
    cmap: model.get("cmap") || "auto",
    sign: model.get("sign") || "both",
    clip: Number(model.get("clip") ?? 99),
    reduction: model.get("reduction") || "sum",
  };
  let drawn = 0;
  let image = null; // decoded image
  let data = null; // unpacked result
  let cache = new Map();
  let curveLayout = null;
  let fig = null; // figureLayout() of the last draw
  let finalDrawn = { key: "", pixels: null }; // the blended final panel (independent of α)

  // ---- DOM ----------------------------------------------------------------------------------
  const root = h("div", { class: "aw-root", "data-drawn": "0" });
  root.append(h("style", { text: STYLE }));
  const title = h("div", { class: "aw-title" });

  const baselineSel = input("select", { class: "aw-baseline", title: "what 'absence of signal' means: the start of the path" });
  const sigmaIn = input("input", { class: "aw-sigma", type: "number", min: 0, step: "any" });
  const sigmaUnit = h("span", { class: "aw-unit" });
  const colorIn = input("input", { class: "aw-color", type: "color", title: "the constant colour of the baseline" });
  const stepsIn = input("select", { class: "aw-steps", title: "points on the path; auto refines the path until the completeness gap is below 1 %" });
  const ruleSel = input("select", { class: "aw-rule", title: "quadrature rule along the path" });
  const targetSel = input("select", { class: "aw-target", title: "the class whose score is explained" });
  const sigmaLabel = h("label", {}, "σ", sigmaIn, sigmaUnit);
  const colorLabel = h("label", {}, "colour", colorIn);
  const note = h("span", { class: "aw-note" });
  const kernelRow = h(
    "div",
    { class: "aw-row aw-kernel" },
    h("span", { class: "aw-kernel-title", text: "Recompute:" }),
    h("label", {}, "baseline", baselineSel),
    sigmaLabel,
    colorLabel,
    h("label", {}, "steps", stepsIn),
    h("label", {}, "rule", ruleSel),
    h("label", {}, "target", targetSel),
    note,
  );
  const status = h("div", { class: "aw-status", "data-state": "idle" });
  const cancel = input("button", { class: "aw-cancel", type: "button", title: "stop this computation; the last result stays" });
  cancel.textContent = "✕ cancel";

  const canvas = h("canvas", { class: "aw-canvas" });
  const curve = h("canvas", { class: "aw-curve" });
  const classes = h("div", { class: "aw-classes" });

  const play = input("button", { class: "aw-play", type: "button", title: "animate α from the baseline to the input" });
  play.textContent = "▶ play";
  const alphaIn = input("input", { class: "aw-alpha", type: "range", min: 0, max: SLIDER_MAX, step: 1, title: "position α along the path: 0 = baseline, 1 = input" });
  const alphaText = h("div", { class: "aw-alpha-value" });
  const scrubRow = h("div", { class: "aw-row aw-scrub" }, play, h("label", {}, "α", alphaIn));

  const opacityIn = input("input", { class: "aw-opacity", type: "range", min: 0, max: 100, step: 1, title: "heatmap opacity" });
  const cmapSel = input("select", { class: "aw-cmap", title: "colour map (auto: diverging for signed maps, sequential for magnitudes)" });
  const signSel = input("select", { class: "aw-sign", title: "which attributions to show" });
  const clipIn = input("input", { class: "aw-clip", type: "number", min: 50, max: 100, step: 0.5, title: "colour scale ends at this percentile of |values|" });
  const reductionSel = input("select", { class: "aw-reduction", title: "how the final map combines the colour channels" });
  const viewRow = h(
    "div",
    { class: "aw-view" },
    h("span", { class: "aw-view-title", text: "Display:" }),
    h(
      "div",
      { class: "aw-row" },
      h("label", {}, "opacity", opacityIn),
      h("label", {}, "colours", cmapSel),
      h("label", { title: "sign of the Σ-channel maps; magnitudes have none" }, "sign", signSel),
      h("label", {}, "clip at percentile", clipIn),
      h("label", {}, "final map: channels", reductionSel),
    ),
  );
  const completeness = h("div", { class: "aw-completeness", "data-level": "none" });
  const left = h("div", { class: "aw-left" }, canvas, scrubRow, alphaText, viewRow);
  const figures = h("div", { class: "aw-figures" }, left, h("div", { class: "aw-curve-box" }, curve, classes));

  root.append(title, kernelRow, status, figures, completeness);
  el.append(root);

  // ---- controls: initial values ---------------------------------------------------------------
  setOptions(cmapSel, COLORMAPS.map((n) => [n, n]), view.cmap);
  setOptions(
    signSel,
    SIGN_MODES.map((n) => [n, { both: "both (signed)", positive: "positive", negative: "negative", absolute: "absolute |Σ|" }[n]]),
    view.sign,
  );
  setOptions(reductionSel, REDUCTIONS.map(([id, text]) => [id, text]), view.reduction);
  REDUCTIONS.forEach(([, , tip], i) => reductionSel.options[i]?.setAttribute("title", tip));
  opacityIn.value = String(Math.round(view.opacity * 100));
  clipIn.value = String(view.clip);
  alphaIn.value = String(alphaToSlider(view.alpha));

  function syncKernelControls() {
    const baselines = model.get("baselines") || [];
    setOptions(baselineSel, baselines.map((b) => [b, BASELINE_NAMES[b] || b]), model.get("baseline"));
    setOptions(ruleSel, (model.get("rules") || []).map((r) => [r, r]), model.get("rule"));
    const targets = model.get("targets") || [];
    setOptions(
      targetSel,
      targets.map((t) => [t.index, `${t.label} — logit ${fmt(t.score, 3)}, p ${(100 * t.prob).toFixed(1)} %`]),
      model.get("target"),
    );
    const b = model.get("baseline");
    const spec = SIGMA[b];
    const sigma = model.get("sigma");
    if (spec) {
      // the value in use is always visible: the baseline's default until one is typed
      sigmaIn.value = String(sigma === null || sigma === undefined ? spec.default : sigma);
      sigmaIn.step = String(spec.step);
      sigmaIn.max = String(spec.max);
      sigmaUnit.textContent = spec.unit;
      sigmaLabel.title = spec.title;
      sigmaLabel.removeAttribute("data-disabled");
    } else {
      sigmaIn.value = "";
      sigmaUnit.textContent = "";
      sigmaLabel.title = `the ${BASELINE_NAMES[b] || b} baseline has no σ (only the blurred image and gaussian noise do)`;
      sigmaLabel.setAttribute("data-disabled", "");
    }
    colorIn.value = model.get("color") || "#808080";
    const steps = model.get("steps");
    setOptions(stepsIn, stepsOptions(steps), String(steps ?? "auto"));
    colorLabel.style.display = b === "constant" ? "" : "none";
    for (const c of [baselineSel, sigmaIn, colorIn, stepsIn, ruleSel, targetSel]) c.disabled = !interactive;
    sigmaIn.disabled = !interactive || !spec;
    ruleSel.disabled = !interactive || steps === "auto";
    ruleSel.title = steps === "auto" ? "steps = auto uses its own adaptive trapezoid mesh; pick a number of steps to choose a rule" : "quadrature rule along the path";
    note.textContent = interactive
      ? ""
      : "Static page: these controls need a running kernel. The α scrubber and the display controls work.";
  }

  function sendKernel(name, value) {
    if (!interactive) return;
    model.set(name, value);
    model.save_changes();
  }

  // ---- drawing --------------------------------------------------------------------------------
  const off = document.createElement("canvas");

  /** Map of a frame (gradient or accumulated attribution), resized and normalised; cached. */
  function heat(kind, index) {
    const key = `${kind}:${index}:${view.sign}:${view.clip}`;
    if (cache.has(key)) return cache.get(key);
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
  let faded = { fade: -1, pixels: null };
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

  function drawMain() {
    if (!image || !data) return;
    const [ih, iw, channels] = image.shape;
    fig = figureLayout(root.clientWidth, ih, iw);
    const { width, height, cells, panel } = fig;
    const [pw, ph] = panel;
    left.style.width = `${width}px`;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, width, height);

    const fi = Math.max(0, nearestIndex(data.frameAlphas, view.alpha));
    const a = data.frameAlphas[fi];
    const pixels = ih * iw;
    const signed = isSigned(view.sign);
    const { lut } = resolveColormap(view.cmap, signed);

    const along = pathImage(image.data, data.baseline.data, a, pixels, channels);
    const g = heat("grad", fi);
    const c = heat("cum", fi);
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
  }

  /** The curves without the α marker, drawn once per result and size; each α copies them and adds the marker. */
  let curveBase = { key: "", data: null, canvas: null };
  function drawCurve() {
    if (!data) return;
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = (fig ?? figureLayout(root.clientWidth, 1, 1)).curves;
    const [cw, ch] = [Math.round(width * dpr), Math.round(height * dpr)];
    classes.style.maxWidth = `${width}px`;
    if (curve.width !== cw || curve.height !== ch) {
      curve.width = cw;
      curve.height = ch;
      curve.style.width = `${width}px`;
      curve.style.height = `${height}px`;
    }
    const key = `${cw}x${ch}`;
    if (curveBase.data !== data || curveBase.key !== key) {
      const base = curveBase.canvas ?? document.createElement("canvas");
      base.width = cw;
      base.height = ch;
      const bctx = base.getContext("2d");
      bctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      const raw = data.raw;
      curveLayout = drawCurves(
        bctx,
        {
          alphas: data.curveAlphas,
          scores: data.scores,
          gradNorm: data.gradNorm,
          cumulative: data.cumulative,
          span: raw.score - raw.baseline_score,
          predicted: data.predicted,
          predictedAlphas: data.frameAlphas,
          target: raw.target,
        },
        { alpha: null, width, height },
      );
      curveBase = { key, data, canvas: base };
      showClasses();
    }
    const ctx = curve.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(curveBase.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawMarkers(ctx, curveLayout, view.alpha);
  }


  /** The list of predicted classes along the path, in the colours of the strip. */
  let classesFor = null;
  function showClasses() {
    if (!curveLayout || classesFor === data) return;
    classesFor = data;
    const { segments, colors } = curveLayout;
    const summary = classSummary(segments);
    classes.replaceChildren();
    if (!summary.length) return;
    const name = (c) => data.labels[String(c)] ?? `class ${c}`;
    const range = ([a, b]) => `${a.toFixed(2)}–${b.toFixed(2)}`;
    classes.append(h("div", { text: summary.length === 1 ? "Class the model predicts along the whole path:" : "Class the model predicts along the path (strip above the curve):" }));
    const list = h("ul");
    const shown = summary.slice(0, 6);
    for (const s of shown) {
      const swatch = h("span", { class: "aw-swatch" });
      swatch.style.background = colors.get(s.cls) ?? "#cccccc";
      const ranges = s.ranges.length > 3 ? `${s.ranges.slice(0, 3).map(range).join(", ")}, …` : s.ranges.map(range).join(", ");
      const explained = s.cls === data.raw.target ? " (explained class)" : "";
      list.append(h("li", {}, swatch, h("b", { text: name(s.cls) }), `${explained}: α ${ranges}`));
    }
    if (summary.length > shown.length) list.append(h("li", { text: `… and ${summary.length - shown.length} more classes` }));
    classes.append(list);
  }

  function drawAll() {
    const readout = alphaReadout(view.alpha, data ? data.frameAlphas : null);
    alphaText.replaceChildren(h("b", { text: readout.alpha }), readout.shown ? ` · ${readout.shown}` : "");
    drawMain();
    drawCurve();
  }

  let pending = false;
  function scheduleDraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      drawAll();
    });
  }

  // the panels and curves take the width the notebook gives the widget: redraw when it changes
  let fittedWidth = -1;
  const resized = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => {
    if (root.clientWidth !== fittedWidth) {
      fittedWidth = root.clientWidth;
      scheduleDraw();
    }
  });
  resized?.observe(root);

  // ---- kernel answers -------------------------------------------------------------------------
  function showStatus() {
    const s = model.get("status") || { state: "idle" };
    status.setAttribute("data-state", s.state || "idle");
    status.replaceChildren();
    if (s.state === "computing") {
      status.append(`⏳ ${s.message || "computing"}…`);
      if (Number.isFinite(s.progress)) {
        status.append(h("progress", { max: 1, value: s.progress }));
        status.append(` ${Math.round(100 * s.progress)} %`);
      }
      if (interactive) status.append(cancel);
    } else if (s.state === "error") {
      status.append(h("b", { text: "Error: " }), s.message || "unknown error");
      if (s.hint) status.append(h("div", { text: `What to do: ${s.hint}` }));
    } else if (s.message) {
      status.append(`⏹ ${s.message}`);
    } else if (data) {
      const r = data.raw;
      const how = r.rule_used === "adaptive_trapezoid" ? "steps = auto" : `${r.params?.rule ?? r.rule_used}`;
      const secs = r.timings ? `, ${(r.timings.attribution + r.timings.payload).toFixed(1)} s` : "";
      status.append(`✓ ${r.stage === "coarse" ? "coarse preview" : "done"}: ${r.steps} points on the path (${how}), ${r.evaluations} model evaluations${secs}`);
    } else {
      status.append(interactive ? "waiting for the kernel…" : "static page");
    }
  }

  function showCompleteness() {
    if (!data) {
      completeness.textContent = "";
      return;
    }
    const { level, text } = completenessText(data.raw, fmt);
    completeness.setAttribute("data-level", level);
    completeness.textContent = text;
  }

  function showTitle() {
    const parts = [model.get("title") || "Integrated Gradients"];
    if (data) {
      const r = data.raw;
      parts.push(`explaining “${r.target_label}” (logit ${fmt(r.score, 3)})`);
      const b = r.params?.baseline;
      if (b) parts.push(`baseline: ${BASELINE_NAMES[b] || b}`);
    }
    title.textContent = parts.join(" · ");
  }

  function loadImage() {
    const im = model.get("image");
    if (!im || !im.view) return;
    const d = decode(im);
    image = { data: d.data, shape: d.shape.length === 2 ? [...d.shape, 1] : d.shape };
    cache = new Map();
    finalDrawn = { key: "", pixels: null };
    faded = { fade: -1, pixels: null };
  }

  function loadResult() {
    const r = model.get("result");
    if (!r || !r.frames) return;
    data = unpack(r);
    cache = new Map();
    finalDrawn = { key: "", pixels: null }; // a coarse and a full result share their generation
    showTitle();
    showCompleteness();
    showStatus();
    drawAll();
  }

  // ---- events -----------------------------------------------------------------------------------
  function setAlpha(alpha) {
    view.alpha = Math.min(1, Math.max(0, alpha));
    alphaIn.value = String(alphaToSlider(view.alpha));
    scheduleDraw();
  }
  on(alphaIn, "input", () => {
    player.pause();
    setAlpha(sliderToAlpha(alphaIn.value));
  });
  const player = createPlayer({
    getAlpha: () => view.alpha,
    onAlpha: (a) => {
      view.alpha = a;
      alphaIn.value = String(alphaToSlider(a));
      drawAll();
    },
    onChange: (playing) => {
      play.textContent = playing ? "⏸ pause" : "▶ play";
    },
  });
  on(play, "click", () => player.toggle());

  let dragging = false;
  const curveAlpha = (ev) => {
    if (!curveLayout) return null;
    const rect = curve.getBoundingClientRect();
    const scale = rect.width ? curve.clientWidth / rect.width : 1;
    return alphaAtX((ev.clientX - rect.left) * scale, curveLayout.top);
  };
  on(curve, "pointerdown", (ev) => {
    const a = curveAlpha(ev);
    if (a === null) return;
    dragging = true;
    player.pause();
    curve.setPointerCapture?.(ev.pointerId);
    setAlpha(a);
  });
  on(curve, "pointermove", (ev) => {
    if (dragging) {
      const a = curveAlpha(ev);
      if (a !== null) setAlpha(a);
    }
  });
  on(curve, "pointerup", () => {
    dragging = false;
  });
  on(curve, "pointercancel", () => {
    dragging = false;
  });

  on(opacityIn, "input", () => {
    view.opacity = Number(opacityIn.value) / 100;
    scheduleDraw();
  });
  on(cmapSel, "change", () => {
    view.cmap = cmapSel.value;
    scheduleDraw();
  });
  on(signSel, "change", () => {
    view.sign = signSel.value;
    scheduleDraw();
  });
  on(reductionSel, "change", () => {
    view.reduction = reductionSel.value;
    scheduleDraw();
  });
  on(clipIn, "change", () => {
    const v = Number(clipIn.value);
    view.clip = Number.isFinite(v) ? Math.min(100, Math.max(50, v)) : 99;
    clipIn.value = String(view.clip);
    scheduleDraw();
  });

  on(baselineSel, "change", () => sendKernel("baseline", baselineSel.value));
  on(ruleSel, "change", () => sendKernel("rule", ruleSel.value));
  on(targetSel, "change", () => sendKernel("target", Number(targetSel.value)));
  on(stepsIn, "change", () => sendKernel("steps", parseSteps(stepsIn.value)));
  on(cancel, "click", () => {
    if (interactive) model.send({ type: "cancel" });
  });
  on(sigmaIn, "change", () => sendKernel("sigma", sigmaIn.value === "" ? null : Number(sigmaIn.value)));
  on(colorIn, "change", () => sendKernel("color", colorIn.value));

  onModel("change:image", () => {
    loadImage();
    scheduleDraw();
  });
  onModel("change:result", loadResult);
  onModel("change:status", showStatus);
  for (const name of ["baselines", "rules", "targets", "baseline", "sigma", "color", "steps", "rule", "target"]) {
    onModel(`change:${name}`, syncKernelControls);
  }
  onModel("change:title", showTitle);

  syncKernelControls();
  loadImage();
  showTitle();
  showStatus();
  loadResult();

  return () => {
    player.pause();
    resized?.disconnect();
    events.abort();
    for (const [name, fn] of modelHandlers) model.off(name, fn);
    cache = new Map();
    root.remove();
  };
}

export default { render };
