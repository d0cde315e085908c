// The kernel's traits shown in the DOM: the kernel controls (their menus, values and whether they
// can be used), the status line, the completeness readout and the title.

import { SIGMA, completenessText } from "./controls.js";
import { baselineName, fmt, mapReadout, resultText, targetText, titleText } from "./text.js";
import { h, setOptions } from "./dom.js";
import { buildControls, takesBaseline } from "./kernelrow.js";

/** The registry entry (from the `methods` trait) of the model's method. */
export function methodSpec(model) {
  const methods = model.get("methods") || [];
  return methods.find((m) => m.name === model.get("method")) || methods[0] || { name: "integrated_gradients", controls: [], view: "path" };
}

/** The σ table of the baselines: the kernel's (the `vocabulary` trait), else the front end's copy. */
export function sigmaTable(model) {
  return model.get("vocabulary")?.sigma ?? SIGMA;
}

/**
 * Set the kernel controls from the model's traits (menus, values, units, what is disabled).
 * @param {Object<string, HTMLElement>} els  from js/dom.js buildDom
 * @param {boolean} interactive  false in the static export: the controls are disabled
 */
export function syncKernelControls(els, model, interactive, commit) {
  const { baselineSel, sigmaIn, sigmaUnit, sigmaLabel, colorIn, colorLabel, targetSel, note, methodSel, controlsBox, baselineBox } = els;
  const methods = model.get("methods") || [];
  const spec = methodSpec(model);
  setOptions(methodSel, methods.map((m) => [m.name, m.title || m.name]), spec.name);
  methods.forEach((m, i) => {
    const option = methodSel.options[i];
    if (option && !m.available) {
      option.disabled = true;
      option.title = m.why;
    } else if (option) option.title = m.paper || "";
  });
  methodSel.disabled = !interactive;
  const options = model.get("options") || {};
  const key = JSON.stringify([spec.name, options, interactive]);
  if (els._controlsKey !== key) {
    els._controls?.destroy();
    els._controls = buildControls(controlsBox, spec, options, { commit, interactive });
    els._controlsKey = key;
  }
  baselineBox.style.display = takesBaseline(spec) ? "" : "none";
  const baselines = model.get("baselines") || [];
  setOptions(baselineSel, baselines.map((b) => [b, baselineName(b)]), model.get("baseline"));
  const targets = model.get("targets") || [];
  setOptions(targetSel, targets.map((t) => [t.index, targetText(t)]), model.get("target"));
  const b = model.get("baseline");
  const sigmaSpec = sigmaTable(model)[b];
  const sigma = model.get("sigma");
  if (sigmaSpec) {
    // the value in use is always visible: the baseline's default until one is typed
    const factor = sigmaSpec.factor ?? 1; // a fraction of the range is shown in percent
    const value = sigma === null || sigma === undefined ? sigmaSpec.default : sigma;
    sigmaIn.value = String(Number((value * factor).toPrecision(4)));
    sigmaIn.step = String(sigmaSpec.step * factor);
    sigmaIn.max = String(sigmaSpec.max * factor);
    els.sigmaSlider.value = String(Math.round((1000 * value) / sigmaSpec.max));
    els.sigmaSlider.style.display = "";
    sigmaUnit.textContent = sigmaSpec.unit;
    sigmaLabel.title = sigmaSpec.title;
    sigmaLabel.removeAttribute("data-disabled");
  } else {
    sigmaIn.value = "";
    els.sigmaSlider.style.display = "none";
    sigmaUnit.textContent = "";
    sigmaLabel.title = `the ${baselineName(b)} baseline has no σ (only the blurred image and gaussian noise do)`;
    sigmaLabel.setAttribute("data-disabled", "");
  }
  colorIn.value = model.get("color") || "#808080";
  colorLabel.style.display = b === "constant" ? "" : "none";
  for (const c of [baselineSel, sigmaIn, colorIn, targetSel]) c.disabled = !interactive;
  sigmaIn.disabled = !interactive || !sigmaSpec;
  els.sigmaSlider.disabled = sigmaIn.disabled;
  note.textContent = interactive
    ? ""
    : "Static page: these controls need a running kernel. The scrubbers and the display controls work.";
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
  const { level, text } = data.view === "path" ? completenessText(data.raw, fmt) : mapReadout(data.raw, fmt);
  completeness.setAttribute("data-level", level);
  completeness.textContent = text;
  completeness.style.display = text ? "" : "none";
}

/** The notes of a result (the warnings its computation raised), one line each. */
export function showNotes(notes, data) {
  const list = data?.raw?.notes || [];
  notes.replaceChildren(...list.map((n) => h("div", { text: `⚠ ${n}` })));
  notes.style.display = list.length ? "" : "none";
}

/** The title line: the widget's title and what the result explains. */
export function showTitle(title, model, data) {
  title.textContent = titleText(model.get("title") || methodSpec(model).title, data ? data.raw : null);
}
