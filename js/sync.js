// The kernel's traits shown in the DOM: the kernel controls (their menus, values and whether they
// can be used), the status line, the completeness readout and the title.

import { SIGMA, completenessText, stepsOptions } from "./controls.js";
import { baselineName, fmt, resultText, targetText, titleText } from "./text.js";
import { h, setOptions } from "./dom.js";

/**
 * Set the kernel controls from the model's traits (menus, values, units, what is disabled).
 * @param {Object<string, HTMLElement>} els  from js/dom.js buildDom
 * @param {boolean} interactive  false in the static export: the controls are disabled
 */
export function syncKernelControls(els, model, interactive) {
  const { baselineSel, sigmaIn, sigmaUnit, sigmaLabel, colorIn, colorLabel, stepsIn, ruleSel, targetSel, note } = els;
  const baselines = model.get("baselines") || [];
  setOptions(baselineSel, baselines.map((b) => [b, baselineName(b)]), model.get("baseline"));
  setOptions(ruleSel, (model.get("rules") || []).map((r) => [r, r]), model.get("rule"));
  const targets = model.get("targets") || [];
  setOptions(targetSel, targets.map((t) => [t.index, targetText(t)]), model.get("target"));
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
    sigmaLabel.title = `the ${baselineName(b)} baseline has no σ (only the blurred image and gaussian noise do)`;
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

/**
 * The status line: computing (with progress and the cancel button), an error and what to do, a
 * message, or what the last result cost.
 * @param {{status: HTMLElement, cancel: HTMLElement}} els
 * @param {object|null} data  the unpacked result (js/result.js)
 */
export function showStatus({ status, cancel }, model, data, interactive) {
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
    status.append(resultText(data.raw));
  } else {
    status.append(interactive ? "waiting for the kernel…" : "static page");
  }
}

/** The completeness readout of the unpacked result (empty without one). */
export function showCompleteness(completeness, data) {
  if (!data) {
    completeness.textContent = "";
    return;
  }
  const { level, text } = completenessText(data.raw, fmt);
  completeness.setAttribute("data-level", level);
  completeness.textContent = text;
}

/** The title line: the widget's title and what the result explains. */
export function showTitle(title, model, data) {
  title.textContent = titleText(model.get("title"), data ? data.raw : null);
}
