// The explorer widget (anywidget front end): four image panels (the input along the path, the
// gradient there, the attribution accumulated up to α, the final attribution), the α scrubber under
// them, the saturation curves beside them and the completeness readout.
//
// Display controls (α, opacity, colour map, sign, clip, channels) never talk to the kernel: they redraw from
// data already here, so they also work in the static HTML export. Controls that need new gradients
// (baseline, σ, colour, steps, rule, target) set a trait and save_changes(); the kernel validates,
// computes and answers with a newer `result` (its `generation` is shown in data-result).
//
// The parts: js/dom.js builds the elements, js/panels.js draws the four panels, js/curvebox.js the
// curves and the class list, js/sync.js shows the kernel's traits, js/result.js decodes a result.
// This module wires them to the model and the events.

import { decode } from "./wire.js";
import { OVERLAY } from "./heatmap.js";
import { parseSteps } from "./controls.js";
import { alphaReadout, alphaToSlider, createPlayer, sliderToAlpha } from "./scrubber.js";
import { buildDom, h } from "./dom.js";
import { unpack } from "./result.js";
import { createPanels } from "./panels.js";
import { createCurveBox } from "./curvebox.js";
import { showCompleteness, showStatus, showTitle, syncKernelControls } from "./sync.js";

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
  let data = null; // unpacked result
  let fig = null; // figureLayout() of the last draw

  // ---- DOM ----------------------------------------------------------------------------------
  const els = buildDom(view);
  const { root, alphaIn, alphaText, play, curve, opacityIn, cmapSel, signSel, clipIn, reductionSel } = els;
  const { baselineSel, ruleSel, targetSel, stepsIn, sigmaIn, colorIn, cancel } = els;
  el.append(root);

  function sendKernel(name, value) {
    if (!interactive) return;
    model.set(name, value);
    model.save_changes();
  }

  // ---- drawing --------------------------------------------------------------------------------
  const panels = createPanels({ view, canvas: els.canvas, left: els.left, root });
  const curves = createCurveBox({ view, root, curve, classes: els.classes });

  function drawAll() {
    const readout = alphaReadout(view.alpha, data ? data.frameAlphas : null);
    alphaText.replaceChildren(h("b", { text: readout.alpha }), readout.shown ? ` · ${readout.shown}` : "");
    fig = panels.draw() ?? fig;
    curves.draw(data, fig);
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
  function loadImage() {
    const im = model.get("image");
    if (!im || !im.view) return;
    const d = decode(im);
    panels.setImage({ data: d.data, shape: d.shape.length === 2 ? [...d.shape, 1] : d.shape });
  }

  function loadResult() {
    const r = model.get("result");
    if (!r || !r.frames) return;
    data = unpack(r);
    panels.setResult(data);
    showTitle(els.title, model, data);
    showCompleteness(els.completeness, data);
    showStatus(els, model, data, interactive);
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
  on(curve, "pointerdown", (ev) => {
    const a = curves.alphaAt(ev);
    if (a === null) return;
    dragging = true;
    player.pause();
    curve.setPointerCapture?.(ev.pointerId);
    setAlpha(a);
  });
  on(curve, "pointermove", (ev) => {
    if (dragging) {
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

  const syncControls = () => syncKernelControls(els, model, interactive);
  onModel("change:image", () => {
    loadImage();
    scheduleDraw();
  });
  onModel("change:result", loadResult);
  onModel("change:status", () => showStatus(els, model, data, interactive));
  for (const name of ["baselines", "rules", "targets", "baseline", "sigma", "color", "steps", "rule", "target"]) {
    onModel(`change:${name}`, syncControls);
  }
  onModel("change:title", () => showTitle(els.title, model, data));

  syncControls();
  loadImage();
  showTitle(els.title, model, data);
  showStatus(els, model, data, interactive);
  loadResult();

  return () => {
    player.pause();
    resized?.disconnect();
    events.abort();
    for (const [name, fn] of modelHandlers) model.off(name, fn);
    panels.clear();
    root.remove();
  };
}

export default { render };
