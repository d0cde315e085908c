// The kernel-controls row, generated from the method's registry entry (the `methods` trait, written
// by attrwidgets/widgets/_methods.py): no method is named here. Each control's kind picks its
// element: float/int/seed → a slider with a number box (applied on release and on Enter), choice
// and layer → a menu, bool → a toggle, steps → the steps menu, baseline → the shared baseline menu
// (drawn by js/dom.js, shown here when the method takes a baseline). The kernel validates and clamps
// whatever is sent (attrwidgets/registry.py Control.clamp).

import { h, input, setOptions } from "./dom.js";
import { parseSteps, stepsOptions } from "./controls.js";

/** Slider positions of a numeric control. */
export const SLIDER_STEPS = 200;

/**
 * How a control is shown (pure): the element, and for numbers the range in the units shown.
 * A fraction of the input range is shown as a percentage (`factor` 100).
 * @param {{name: string, kind: string, low: number|null, high: number|null, choices: any[], percent?: boolean}} c
 * @returns {{element: string, min?: number, max?: number, step?: number, factor?: number, unit?: string, log?: boolean}}
 */
export function describeControl(c) {
  if (c.kind === "choice") return { element: "select" };
  if (c.kind === "module") return { element: "select" };
  if (c.kind === "bool") return { element: "toggle" };
  if (c.kind === "steps") return { element: "steps" };
  if (c.kind === "baseline") return { element: "baseline" };
  if (c.kind === "float" || c.kind === "int" || c.kind === "seed") {
    const factor = c.percent ? 100 : 1;
    const low = Number.isFinite(c.low) ? c.low : 0;
    let high = Number.isFinite(c.high) ? c.high : low + 100;
    if (c.kind === "seed") return { element: "number", min: low, max: high, step: 1, factor: 1, unit: "" };
    // wide integer ranges (samples 1..1000, windows 1..4096) slide on a log scale
    const log = c.kind === "int" && low >= 1 && high / low > 50;
    if (log) high = Math.min(high, 4096);
    const step = c.kind === "int" ? 1 : ((high - low) * factor) / SLIDER_STEPS;
    return { element: "slider", min: low * factor, max: high * factor, step, factor, unit: c.percent ? "% of range" : "", log };
  }
  return { element: "none" };
}

/** Slider position (0..SLIDER_STEPS) ↔ value, linear or logarithmic (pure). */
export function toSlider(d, value) {
  const v = Math.min(d.max, Math.max(d.min, value * d.factor));
  if (d.log) return Math.round((SLIDER_STEPS * Math.log(v / d.min)) / Math.log(d.max / d.min));
  return Math.round((SLIDER_STEPS * (v - d.min)) / (d.max - d.min || 1));
}
export function fromSlider(d, position, integer) {
  const f = Math.min(1, Math.max(0, Number(position) / SLIDER_STEPS));
  let v = d.log ? d.min * (d.max / d.min) ** f : d.min + f * (d.max - d.min);
  v /= d.factor;
  if (integer) return Math.round(v);
  return Number(v.toPrecision(3));
}

/** A value shown in a number box, in the units shown (pure). */
export function shownValue(d, value, integer) {
  const v = Number(value) * (d.factor ?? 1);
  if (!Number.isFinite(v)) return "";
  return integer ? String(Math.round(v)) : String(Number(v.toPrecision(4)));
}

/**
 * Whether a control matters with these options (pure): its `when` is [name, value] (shown while
 * options[name] is value) or [name, "!value"] (shown while it is not); no `when`: always.
 */
export function applies(c, options) {
  if (!Array.isArray(c.when) || c.when.length !== 2) return true;
  const [name, value] = c.when;
  const current = options[name];
  if (typeof value === "string" && value.startsWith("!")) return String(current) !== value.slice(1);
  return String(current) === String(value);
}

/**
 * Build the controls of one method into `row`, showing `options`; `commit(name, value)` sends one.
 * A control that does not apply with these options (its `when`) is hidden; the row is rebuilt
 * whenever the options change.
 * @returns {{elements: Object<string, HTMLElement>, destroy: () => void}}
 */
export function buildControls(row, spec, options, { commit, interactive }) {
  const events = new AbortController();
  const on = (el, type, fn) => el.addEventListener(type, fn, { signal: events.signal });
  const elements = {};
  row.replaceChildren();
  for (const c of spec.controls || []) {
    const d = describeControl(c);
    if (d.element === "baseline" || d.element === "none") continue;
    const value = options[c.name] ?? c.default;
    const label = h("label", { class: "aw-control", "data-control": c.name, title: c.doc || c.name }, c.name === "sigma" ? "σ" : c.name);
    if (!applies(c, { ...defaultsOf(spec), ...options })) label.style.display = "none"; // CSS outranks `hidden`
    const integer = c.kind !== "float";
    if (d.element === "select") {
      const sel = input("select", { class: `aw-opt aw-opt-${c.name}` });
      // a layer picker's None (""): the method's own choice, named by the registry entry
      const text = (v) => (v === null ? `(${c.none || "default"})` : String(v));
      setOptions(sel, (c.choices || []).map((v) => [v === null ? "" : String(v), text(v)]), value ?? "");
      on(sel, "change", () => commit(c.name, c.kind === "module" && sel.value === "" ? null : sel.value));
      label.append(sel);
      elements[c.name] = sel;
    } else if (d.element === "toggle") {
      const box = input("input", { class: `aw-opt aw-opt-${c.name}`, type: "checkbox" });
      box.checked = Boolean(value);
      on(box, "change", () => commit(c.name, box.checked));
      label.append(box);
      elements[c.name] = box;
    } else if (d.element === "steps") {
      const sel = input("select", { class: `aw-opt aw-opt-${c.name} aw-steps` });
      setOptions(sel, stepsOptions(value), String(value ?? "auto"));
      on(sel, "change", () => commit(c.name, parseSteps(sel.value)));
      label.append(sel);
      elements[c.name] = sel;
    } else if (d.element === "number") {
      const box = input("input", { class: `aw-opt aw-opt-${c.name}`, type: "number", min: d.min, max: d.max, step: 1 });
      box.value = shownValue(d, value, true);
      const apply = () => commit(c.name, Math.round(Number(box.value)));
      on(box, "change", apply);
      on(box, "keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); apply(); } });
      label.append(box);
      elements[c.name] = box;
    } else if (d.element === "slider") {
      const slider = input("input", { class: `aw-opt aw-opt-${c.name} aw-slider`, type: "range", min: 0, max: SLIDER_STEPS, step: 1 });
      const box = input("input", { class: `aw-opt-box aw-opt-${c.name}-box`, type: "number", min: d.min, max: d.max, step: integer ? 1 : "any" });
      slider.value = String(toSlider(d, Number(value)));
      box.value = shownValue(d, value, integer);
      // while dragging only the box follows; the kernel gets the value on release (change)
      on(slider, "input", () => { box.value = shownValue(d, fromSlider(d, slider.value, integer), integer); });
      on(slider, "change", () => commit(c.name, fromSlider(d, slider.value, integer)));
      const typed = () => {
        const v = Number(box.value) / d.factor;
        if (Number.isFinite(v)) commit(c.name, integer ? Math.round(v) : v);
      };
      on(box, "change", typed);
      on(box, "keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); typed(); } });
      label.append(slider, box);
      if (d.unit) label.append(h("span", { class: "aw-unit", text: d.unit }));
      elements[c.name] = slider;
      elements[`${c.name}:box`] = box;
    }
    for (const el of label.querySelectorAll("input, select")) el.disabled = !interactive;
    row.append(label);
  }
  return { elements, destroy: () => events.abort() };
}

/** The registry defaults of a method's controls, by name (pure). */
export function defaultsOf(spec) {
  return Object.fromEntries((spec?.controls || []).map((c) => [c.name, c.default]));
}

/** Whether a method's controls include the shared baseline menu. */
export function takesBaseline(spec) {
  return (spec?.controls || []).some((c) => c.kind === "baseline");
}
