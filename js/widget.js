// The explorer widget (anywidget front end) for every registered method. The method menu and the
// kernel-controls row are generated from the `methods` trait (the registry, js/kernelrow.js); the
// result's `view` picks the panels: "path" shows four image panels (the input along the path, the
// gradient there, the attribution accumulated up to α, the final attribution), the α scrubber under
// them, the saturation curves beside them and the completeness readout; "samples" shows running means
// with a sample scrubber and the convergence curves (js/mappanels.js, js/samplecurves.js); "map" one
// map and its parts.
//
// Display controls (α, opacity, colour map, sign, clip, channels) never talk to the kernel: they redraw from
// data already here, so they also work in the static HTML export. Controls that need new gradients
// (baseline, σ, colour, steps, rule, target) set a trait and save_changes(); the kernel validates,
// computes and answers with a newer `result` (its `generation` is shown in data-result).
//
// The parts: js/dom.js builds the elements, js/panels.js draws the four panels, js/curvebox.js the
// curves and the class list, js/sync.js shows the kernel's traits, js/result.js decodes a result.
// This module wires them to the model and the events.

import { listen, useKernelTables } from "./events.js";
import { decode } from "./wire.js";
import { OVERLAY, pathImage } from "./heatmap.js";
import { isDiverging } from "./colormap.js";
import { isSigned } from "./normalize.js";
import { alphaReadout, alphaToSlider, createPlayer, sliderToAlpha } from "./scrubber.js";
import { buildDom, h, hiDpiContext, setOptions } from "./dom.js";
import { isComplete, unpack } from "./result.js";
import { createPanels } from "./panels.js";
import { createMapPanels } from "./mappanels.js";
import { createCurveBox } from "./curvebox.js";
import { drawSampleCurves, nearestCount } from "./samplecurves.js";
import { figureLayout } from "./layout.js";
import { showCompleteness, showNotes, showStatus, showTitle, sigmaTable, syncKernelControls } from "./sync.js";
import { EVALUATION_CHOICES, showEvaluation } from "./evalcurve.js";
import { boundary, pickPoint } from "./segments.js";
import { drawStrip } from "./refstrip.js";

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

function render({ model, el }) {
  const events = listen(model);
  const { on, onModel } = events;
  const interactive = model.get("interactive") !== false;
  useKernelTables(model);

  // ---- view state (front end only) ----------------------------------------------------------
  const view = {
    alpha: Math.min(1, Math.max(0, Number(model.get("alpha") ?? 1))),
    opacity: Number(model.get("opacity") ?? OVERLAY.opacity),
    cmap: model.get("cmap") || "auto",
    sign: model.get("sign") || "both",
    clip: Number(model.get("clip") ?? 99),
    reduction: model.get("reduction") || "sum",
    sample: null, // index into the result's sample counts (null: the initial position)
  };
  let data = null; // unpacked result
  let fig = null; // figureLayout() of the last draw

  // ---- DOM ----------------------------------------------------------------------------------
  const els = buildDom(view);
  const { root, alphaIn, alphaText, play, curve, opacityIn, cmapSel, signSel, clipIn, reductionSel } = els;
  const { baselineSel, methodSel, targetSel, sigmaIn, colorIn, cancel, samplesIn, samplesText } = els;
  el.append(root);

  function sendKernel(name, value) {
    if (!interactive) return;
    model.set(name, value);
    model.save_changes();
  }
  /** One of the method's own controls: the whole options dict goes (the kernel validates it). */
  function sendOption(name, value) {
    sendKernel("options", { ...(model.get("options") || {}), [name]: value });
  }

  // ---- drawing --------------------------------------------------------------------------------
  const panels = createPanels({ view, canvas: els.canvas, left: els.left, root });
  const mapPanels = createMapPanels({ view, canvas: els.canvas, left: els.left, root });
  const curves = createCurveBox({ view, root, curve, classes: els.classes });
  let sampleLayout = null;
  let image = null; // the input (h, w, C uint8), for the per-reference strip
  let strip = { data: null, key: "" }; // what the strip shows now

  /** Show the rows and boxes of the result's view (path: α scrubber and curves; samples: the sample scrubber). */
  function showView(kind) {
    els.scrubRow.style.display = kind === "path" ? "" : "none";
    alphaText.style.display = kind === "path" ? "" : "none";
    els.samplesRow.style.display = kind === "samples" ? "" : "none";
    els.curveBox.style.display = kind === "map" ? "none" : "";
    els.classes.style.display = kind === "path" ? "" : "none";
    root.setAttribute("data-view", kind);
  }

  function sampleIndex() {
    const K = data.samples.counts.length;
    if (view.sample === null) view.sample = model.get("sample") === "first" ? 0 : K - 1;
    view.sample = Math.min(K - 1, Math.max(0, view.sample));
    return view.sample;
  }

  function drawSamples() {
    const s = data.samples;
    const k = sampleIndex();
    samplesIn.max = String(s.counts.length - 1);
    samplesIn.value = String(k);
    const c = s.counts[k];
    samplesText.textContent = `mean of the first ${c} of ${s.n} sample${s.n === 1 ? "" : "s"}`;
    fig = mapPanels.draw(k) ?? fig;
    const stripKey = `${view.cmap}:${view.opacity}`;
    if (strip.data !== data || strip.key !== stripKey) {
      drawStrip(els.refsBox, s.references, image, view); // not on a sample scrub: it does not change
      strip = { data, key: stripKey };
    }
    const { width, height } = (fig ?? figureLayout(root.clientWidth, 1, 1)).curves;
    const h2 = Math.max(height, s.relativeGap ? 420 : 240);
    const ctx = hiDpiContext(curve, width, h2);
    sampleLayout = drawSampleCurves(ctx, s, { width, height: h2, count: c });
  }

  function drawAll() {
    if (!data) return;
    drawThumb();
    if (data.view === "samples") return drawSamples();
    if (!els.refsBox.hidden) drawStrip(els.refsBox, null, null, view);
    strip = { data: null, key: "" };
    if (data.view === "map") {
      fig = mapPanels.draw() ?? fig;
      drawPicked();
      return;
    }
    const readout = alphaReadout(view.alpha, data ? data.frameAlphas : null, data ? data.curveAlphas : null);
    alphaText.replaceChildren(h("b", { text: readout.alpha }), readout.shown ? ` · ${readout.shown}` : "");
    fig = panels.draw() ?? fig;
    drawPicked();
    curves.draw(data, fig);
  }

  // ---- another image as the baseline: shown beside the menu, while α walks between the two ------
  let thumbOf = null;
  function drawThumb() {
    const thumb = els.baselineThumb;
    const other = model.get("baseline") === "image" && data.baseline ? data.baseline : null;
    thumb.style.display = other ? "" : "none";
    if (!other || thumbOf === other) return;
    thumbOf = other;
    const [bh, bw, channels = 1] = other.shape;
    const high = 40; // CSS pixels
    const dpr = window.devicePixelRatio || 1;
    thumb.style.height = `${high}px`;
    thumb.style.width = `${Math.round((high * bw) / bh)}px`;
    thumb.height = Math.round(high * dpr);
    thumb.width = Math.round((high * dpr * bw) / bh);
    const off = document.createElement("canvas");
    off.width = bw;
    off.height = bh;
    off.getContext("2d").putImageData(new ImageData(pathImage(other.data, other.data, 1, bw * bh, channels), bw, bh), 0, 0);
    const ctx = thumb.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, thumb.width, thumb.height);
  }

  // ---- picking the baseline's colour by a click on the input -------------------------------------
  let outline = { key: null, pixels: [], w: 0, h: 0 };
  /** The picked segment's outline on the input panel, while the baseline is that colour. */
  function drawPicked() {
    const p = model.get("picked");
    const seg = model.get("segments");
    const current = p && seg && model.get("baseline") === "constant" && model.get("color") === p.hex;
    els.colorLabel.title = current ? `picked from the image (${p.segment >= 0 ? `segment ${p.segment}, its mean colour` : "one pixel"})` : "";
    if (!current || p.segment < 0) return;
    const r = JSON.parse(els.canvas.dataset.panels || "{}").input;
    if (!r) return;
    if (outline.key !== seg || outline.id !== p.segment) {
      const d = decode(seg);
      outline = { key: seg, id: p.segment, pixels: boundary(d.data, d.shape[1], d.shape[0], p.segment), w: d.shape[1], h: d.shape[0] };
    }
    const ctx = els.canvas.getContext("2d");
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0); // the panel rects are in device pixels
    const sx = r[2] / outline.w;
    const sy = r[3] / outline.h;
    ctx.fillStyle = "#ffeb3b";
    for (const q of outline.pixels) {
      ctx.fillRect(r[0] + (q % outline.w) * sx, r[1] + Math.floor(q / outline.w) * sy, Math.max(1, sx), Math.max(1, sy));
    }
    ctx.restore();
    els.canvas.dataset.outline = String(outline.pixels.length);
  }
  on(els.canvas, "click", (ev) => {
    if (!interactive || !data || data.view === "samples") return;
    const dpr = window.devicePixelRatio || 1;
    const hit = pickPoint(JSON.parse(els.canvas.dataset.panels || "{}"), "input", ev.offsetX * dpr, ev.offsetY * dpr);
    if (hit) model.send({ type: "pick", x: hit.x, y: hit.y, pixel: ev.shiftKey });
  });
  onModel("change:picked", () => scheduleDraw());

  // ---- a PNG of what is shown: the panels, then the curves (and the evaluation panel) beside them ----
  on(els.pngButton, "click", () => {
    const parts = [els.canvas, curve, els.evalCanvas].filter((c) => c.width > 0 && c.height > 0 && c.offsetParent !== null);
    const out = document.createElement("canvas");
    out.width = parts.reduce((w, c) => w + c.width + 8, 0);
    out.height = Math.max(...parts.map((c) => c.height));
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    let x = 0;
    for (const c of parts) {
      ctx.drawImage(c, x, 0);
      x += c.width + 8;
    }
    h("a", { download: `${data?.method || "attribution"}.png`, href: out.toDataURL("image/png") }).click();
  });

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
  function loadImage() {
    const im = model.get("image");
    if (!im || !im.view) return;
    const d = decode(im);
    const next = { data: d.data, shape: d.shape.length === 2 ? [...d.shape, 1] : d.shape };
    panels.setImage(next);
    mapPanels.setImage(next);
    image = next;
    strip = { data: null, key: "" };
    // one channel: |Σ|, Σ|·|, max|·| and L2 are all |v|, so offer the two that differ
    for (const option of els.reductionSel.options) option.hidden = next.shape[2] === 1 && !["sum", "abs_sum"].includes(option.value);
    if (els.reductionSel.selectedOptions[0]?.hidden) els.reductionSel.value = view.reduction = "abs_sum";
  }

  function loadResult() {
    const r = model.get("result");
    if (!isComplete(r)) return;
    const previous = data;
    data = unpack(r);
    if (data.view === "samples" && previous?.view === "samples" && previous.samples.counts.length !== data.samples.counts.length) {
      view.sample = null; // a new number of frames: back to the initial position
    }
    (data.view === "path" ? panels : mapPanels).setResult(data);
    showView(data.view);
    showTitle(els.title, model, data);
    showCompleteness(els.completeness, data);
    showNotes(els.notes, data);
    showStatus(els, model, data, interactive);
    offerColormaps();
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
  on(samplesIn, "input", () => {
    view.sample = Number(samplesIn.value);
    scheduleDraw();
  });
  /** The sample index under a pointer on the convergence curves, or null. */
  function sampleAt(ev) {
    if (!sampleLayout || !data?.samples) return null;
    const p = sampleLayout.plots[0];
    const rect = curve.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (ev.clientX - rect.left - p.x) / p.w));
    return nearestCount(data.samples.counts, data.samples.n, f);
  }
  on(curve, "pointerdown", (ev) => {
    if (data?.view === "samples") {
      const k = sampleAt(ev);
      if (k !== null) {
        view.sample = k;
        dragging = true;
        curve.setPointerCapture?.(ev.pointerId);
        scheduleDraw();
      }
      return;
    }
    const a = curves.alphaAt(ev);
    if (a === null) return;
    dragging = true;
    player.pause();
    curve.setPointerCapture?.(ev.pointerId);
    setAlpha(a);
  });
  on(curve, "pointermove", (ev) => {
    if (dragging && data?.view === "samples") {
      const k = sampleAt(ev);
      if (k !== null && k !== view.sample) {
        view.sample = k;
        scheduleDraw();
      }
    } else if (dragging) {
      const a = curves.alphaAt(ev);
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
  /** Sequential maps only for magnitudes: disabled in the menu while the panels are signed. */
  function offerColormaps() {
    const signed = isSigned(view.sign) && !(data?.nonNegative);
    for (const option of cmapSel.options) option.disabled = signed && option.value !== "auto" && !isDiverging(option.value);
    if (cmapSel.selectedOptions[0]?.disabled) cmapSel.value = view.cmap = "auto";
  }
  on(cmapSel, "change", () => {
    view.cmap = cmapSel.value;
    scheduleDraw();
  });
  on(signSel, "change", () => {
    view.sign = signSel.value;
    offerColormaps();
    scheduleDraw();
  });
  on(reductionSel, "change", () => {
    view.reduction = reductionSel.value;
    scheduleDraw();
  });
  const applyClip = () => {
    const v = Number(clipIn.value);
    view.clip = Number.isFinite(v) ? Math.min(100, Math.max(50, v)) : 99;
    clipIn.value = String(view.clip);
    scheduleDraw();
  };
  on(clipIn, "change", applyClip);
  on(clipIn, "keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      applyClip();
    }
  });

  on(methodSel, "change", () => sendKernel("method", methodSel.value));
  on(baselineSel, "change", () => sendKernel("baseline", baselineSel.value));
  on(targetSel, "change", () => sendKernel("target", Number(targetSel.value)));
  on(cancel, "click", () => {
    if (interactive) model.send({ type: "cancel" });
  });
  const sigmaSpec = () => sigmaTable(model)[model.get("baseline")];
  const sendSigma = () => {
    const factor = sigmaSpec()?.factor ?? 1;
    sendKernel("sigma", sigmaIn.value === "" ? null : Number(sigmaIn.value) / factor);
  };
  const sliderSigma = () => {
    const spec = sigmaSpec();
    return spec ? Number(((Number(els.sigmaSlider.value) / 1000) * spec.max).toPrecision(3)) : null;
  };
  // the slider applies on release; while it moves only the box follows
  on(els.sigmaSlider, "input", () => {
    const v = sliderSigma();
    if (v !== null) sigmaIn.value = String(Number((v * (sigmaSpec().factor ?? 1)).toPrecision(4)));
  });
  on(els.sigmaSlider, "change", () => sendKernel("sigma", sliderSigma()));
  on(sigmaIn, "change", sendSigma);
  on(sigmaIn, "keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      sendSigma();
    }
  });
  on(colorIn, "change", () => sendKernel("color", colorIn.value));

  const syncControls = () => syncKernelControls(els, model, interactive, sendOption);
  setOptions(els.evalSel, EVALUATION_CHOICES, model.get("evaluation") || "off");
  els.evalSel.disabled = !interactive;
  on(els.evalSel, "change", () => sendKernel("evaluation", els.evalSel.value));
  const evalEls = { select: els.evalSel, box: els.evalBox, canvas: els.evalCanvas, text: els.evalText };
  const showEval = () => showEvaluation(evalEls, model, { width: Math.max(240, Math.min(420, els.curveBox.clientWidth || 360)), height: 230 });
  onModel("change:evaluation_result", showEval);
  onModel("change:evaluation", showEval);
  showEval();
  onModel("change:image", () => {
    loadImage();
    scheduleDraw();
  });
  onModel("change:result", loadResult);
  onModel("change:status", () => showStatus(els, model, data, interactive));
  for (const name of ["methods", "method", "options", "baselines", "targets", "baseline", "sigma", "color", "target"]) {
    onModel(`change:${name}`, syncControls);
  }
  onModel("change:title", () => showTitle(els.title, model, data));
  onModel("change:method", () => showTitle(els.title, model, data));

  syncControls();
  loadImage();
  showTitle(els.title, model, data);
  showStatus(els, model, data, interactive);
  loadResult();

  return () => {
    player.pause();
    resized?.disconnect();
    events.dispose();
    panels.clear();
    mapPanels.clear();
    els._controls?.destroy();
    root.remove();
  };
}

export default { render };
