// The explorer's elements: small DOM helpers and the construction of the title, the kernel row,
// the status line, the figure (panel canvas, α scrubber, display controls, curves, class list)
// and the completeness readout, with the display controls set to the view's values.

import { COLORMAPS } from "./colormap.js";
import { SIGN_MODES } from "./normalize.js";
import { SLIDER_MAX, alphaToSlider } from "./scrubber.js";
import { REDUCTIONS } from "./channels.js";
import { SIGN_NAMES } from "./text.js";
import { STYLE } from "./style.js";

/** Create an element with a class, attributes and children. */
export function h(tag, attrs = {}, ...children) {
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
export function input(tag, attrs) {
  const el = h(tag, attrs);
  el.setAttribute("data-lm-suppress-shortcuts", "true");
  return el;
}

/** Replace the options of a select ([value, text] pairs) and select `value`. */
/**
 * A 2-D context that draws in CSS pixels on `canvas`, sized `width` × `height` CSS pixels at the
 * screen's density (sharp on high-density screens). The canvas is resized, which clears it, only
 * when its size changes: callers clear what they redraw.
 */
export function hiDpiContext(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

export function setOptions(select, options, value) {
  select.replaceChildren(...options.map(([v, text]) => h("option", { value: v, text })));
  if (value !== undefined && value !== null) select.value = String(value);
}

/**
 * Build the explorer's elements; the display controls start at the values of `view`.
 * @param {{alpha: number, opacity: number, cmap: string, sign: string, clip: number, reduction: string}} view
 * @returns {Object<string, HTMLElement>}  `root` (not yet attached) and every element the widget updates
 */
export function buildDom(view) {
  const root = h("div", { class: "aw-root", "data-drawn": "0" });
  root.append(h("style", { text: STYLE }));
  const title = h("div", { class: "aw-title" });

  const baselineSel = input("select", { class: "aw-baseline", title: "what 'absence of signal' means: the start of the path" });
  const sigmaIn = input("input", { class: "aw-sigma", type: "number", min: 0, step: "any" });
  const sigmaUnit = h("span", { class: "aw-unit" });
  const colorIn = input("input", { class: "aw-color", type: "color", title: "the constant colour of the baseline" });
  const methodSel = input("select", { class: "aw-method", title: "the attribution method (every method of attrwidgets.registry)" });
  const controlsBox = h("span", { class: "aw-controls" });
  const targetSel = input("select", { class: "aw-target", title: "the class whose score is explained" });
  const sigmaSlider = input("input", { class: "aw-sigma-slider aw-slider", type: "range", min: 0, max: 1000, step: 1 });
  const sigmaLabel = h("label", {}, "σ", sigmaSlider, sigmaIn, sigmaUnit);
  const colorLabel = h("label", {}, "colour", colorIn);
  // another image as the baseline: shown beside the menu while α walks the path between the two
  const baselineThumb = h("canvas", { class: "aw-baseline-thumb", title: "the baseline x′: the other image (α = 0 of the path)" });
  baselineThumb.style.display = "none";
  const baselineBox = h("span", { class: "aw-baseline-box" }, h("label", {}, "baseline", baselineSel), baselineThumb, sigmaLabel, colorLabel);
  const evalSel = input("select", { class: "aw-evaluation", title: "test the final map: remove its pixels in order and watch the output, against random orders (forwards only)" });
  const note = h("span", { class: "aw-note" });
  const kernelRow = h(
    "div",
    { class: "aw-row aw-kernel" },
    h("span", { class: "aw-kernel-title", text: "Recompute:" }),
    h("label", {}, "method", methodSel),
    baselineBox,
    controlsBox,
    h("label", {}, "target", targetSel),
    h("label", {}, "check", evalSel),
    note,
  );
  const status = h("div", { class: "aw-status", "data-state": "idle" });
  const cancel = input("button", { class: "aw-cancel", type: "button", title: "stop this computation; the last result stays" });
  cancel.textContent = "✕ cancel";

  const canvas = h("canvas", { class: "aw-canvas", title: "click the input image: its segment's mean colour becomes the baseline (shift-click: one pixel's colour)" });
  const curve = h("canvas", { class: "aw-curve" });
  const classes = h("div", { class: "aw-classes" });

  const play = input("button", { class: "aw-play", type: "button", title: "animate α from the baseline to the input" });
  play.textContent = "▶ play";
  const alphaIn = input("input", { class: "aw-alpha", type: "range", min: 0, max: SLIDER_MAX, step: 1, title: "position α along the path: 0 = baseline, 1 = input" });
  const alphaText = h("div", { class: "aw-alpha-value" });
  const scrubRow = h("div", { class: "aw-row aw-scrub" }, play, h("label", {}, "α", alphaIn));
  const samplesIn = input("input", { class: "aw-samples", type: "range", min: 0, max: 1, step: 1, title: "how many samples the running mean uses (redrawn here, no kernel call)" });
  const samplesText = h("span", { class: "aw-samples-value" });
  const samplesRow = h("div", { class: "aw-row aw-scrub aw-samples-row" }, h("label", {}, "samples", samplesIn), samplesText);

  const opacityIn = input("input", { class: "aw-opacity", type: "range", min: 0, max: 100, step: 1, title: "heatmap opacity" });
  const cmapSel = input("select", { class: "aw-cmap", title: "colour map (auto: diverging for signed maps, sequential for magnitudes)" });
  const signSel = input("select", { class: "aw-sign", title: "which attributions to show" });
  const clipIn = input("input", { class: "aw-clip", type: "number", min: 50, max: 100, step: 0.5, title: "colour scale ends at this percentile of |values|" });
  const reductionSel = input("select", { class: "aw-reduction", title: "how the final map combines the colour channels" });
  const pngButton = input("button", { class: "aw-png", type: "button", title: "download what is shown as a PNG (panels and curves)" });
  pngButton.textContent = "⤓ PNG";
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
      pngButton,
    ),
  );
  const completeness = h("div", { class: "aw-completeness", "data-level": "none" });
  const notes = h("div", { class: "aw-notes" });
  // the scrubbers above the panels: on a laptop screen they stay in sight with the top row
  const refsBox = h("div", { class: "aw-refs" }); // Expected Gradients' per-reference maps (js/refstrip.js)
  refsBox.hidden = true;
  const left = h("div", { class: "aw-left" }, scrubRow, alphaText, samplesRow, canvas, refsBox, viewRow);
  const evalCanvas = h("canvas", { class: "aw-eval-canvas" });
  const evalText = h("div", { class: "aw-eval-text" });
  const evalBox = h("div", { class: "aw-eval" }, evalCanvas, evalText);
  evalBox.style.display = "none";
  const curveBox = h("div", { class: "aw-curve-box" }, curve, classes, evalBox);
  const figures = h("div", { class: "aw-figures" }, left, curveBox);

  root.append(title, kernelRow, status, figures, completeness, notes);

  // the display controls' initial values
  setOptions(cmapSel, COLORMAPS.map((n) => [n, n]), view.cmap);
  setOptions(signSel, SIGN_MODES.map((n) => [n, SIGN_NAMES[n]]), view.sign);
  setOptions(reductionSel, REDUCTIONS.map(([id, text]) => [id, text]), view.reduction);
  REDUCTIONS.forEach(([, , tip], i) => reductionSel.options[i]?.setAttribute("title", tip));
  opacityIn.value = String(Math.round(view.opacity * 100));
  clipIn.value = String(view.clip);
  alphaIn.value = String(alphaToSlider(view.alpha));

  return {
    root,
    title,
    baselineSel,
    baselineThumb,
    sigmaIn,
    sigmaSlider,
    sigmaUnit,
    sigmaLabel,
    colorIn,
    colorLabel,
    methodSel,
    controlsBox,
    baselineBox,
    targetSel,
    evalSel,
    evalBox,
    evalCanvas,
    evalText,
    note,
    status,
    cancel,
    canvas,
    curve,
    classes,
    left,
    refsBox,
    play,
    alphaIn,
    alphaText,
    scrubRow,
    samplesIn,
    samplesText,
    samplesRow,
    curveBox,
    notes,
    opacityIn,
    cmapSel,
    signSel,
    clipIn,
    reductionSel,
    pngButton,
    completeness,
  };
}
