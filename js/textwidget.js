// The token explorer (anywidget front end of attrwidgets/widgets/text_explorer.py): one row of
// token chips per sentence, with its prediction, shaded on one diverging scale (red positive, blue
// negative, symmetric around zero, clipped at a percentile); the α scrubber, which shows the
// attribution accumulated up to α or the gradient at α from the per-α data the kernel sent once;
// the saturation curves of one sentence (js/curvebox.js); the completeness readout.
//
// Display controls (α, show, clip, merge, the sentence whose curves are drawn) never talk to the
// kernel, so they work in the static export. Kernel controls (method, target, steps, the
// sentences in the text box) set a trait and save_changes(); the kernel answers with a newer result.
// Token text goes into the DOM only through textContent (js/dom.js `h` with `text`): never as HTML.

import { listen, useKernelTables } from "./events.js";
import { colormap } from "./colormap.js";
import { alphaReadout, alphaToSlider, createPlayer, sliderToAlpha, SLIDER_MAX } from "./scrubber.js";
import { h, input, setOptions } from "./dom.js";
import { createCurveBox } from "./curvebox.js";
import { STYLE } from "./style.js";
import { completenessText, STEPS_CHOICES } from "./controls.js";
import { fmt, mapReadout } from "./text.js";
import { showNotes, showStatus } from "./sync.js";
import { SHOW_MODES, chipColors, chips, predictionText, rowCurves, sharedScale, tokenValues, unpackText } from "./tokens.js";

const TEXT_STYLE = `
.aw-text .aw-left { width: 640px; }
.aw-text .aw-text-rows { display: flex; flex-direction: column; gap: 8px; }
.aw-text .aw-method { max-width: 260px; }
.aw-text .aw-text-row { border-left: 3px solid #dde3ee; padding-left: 8px; }
.aw-text .aw-text-row[data-picked] { border-left-color: #1f4e9c; }
.aw-text .aw-text-pred { font-size: 12px; color: #445; margin-bottom: 2px; cursor: pointer; }
.aw-text .aw-chips { line-height: 2.1; }
.aw-text .aw-chip { padding: 2px 5px; margin: 0 2px; border-radius: 4px; white-space: pre; font-size: 14px; border: 1px solid #0001; }
.aw-text .aw-legend { display: flex; align-items: center; gap: 6px; font-size: 12px; color: #445; }
.aw-text .aw-legend-bar { width: 160px; height: 10px; border: 1px solid #ccc; border-radius: 2px; }
.aw-text .aw-text-input { font: inherit; width: 100%; max-width: 640px; box-sizing: border-box; min-height: 2.4em; }
.aw-text .aw-text-box { display: flex; flex-direction: column; gap: 3px; width: 100%; max-width: 640px; }
.aw-text .aw-hint { font-size: 11px; color: #778; }
`;

function render({ model, el }) {
  const events = listen(model);
  const { on, onModel } = events;
  const interactive = model.get("interactive") !== false;
  useKernelTables(model);
  const lut = colormap("coolwarm");

  const view = {
    alpha: Math.min(1, Math.max(0, Number(model.get("alpha") ?? 1))),
    clip: Number(model.get("clip") ?? 100),
    merge: Boolean(model.get("merge")),
    show: model.get("show") || "attribution",
    row: 0, // the sentence whose curves are drawn
  };
  let data = null;
  let drawn = 0;

  // ---- elements ---------------------------------------------------------------------------------
  const root = h("div", { class: "aw-root aw-text", "data-drawn": "0" });
  root.append(h("style", { text: STYLE + TEXT_STYLE }));
  const title = h("div", { class: "aw-title" });
  const methodSel = input("select", { class: "aw-method" });
  const targetSel = input("select", { class: "aw-target" });
  const stepsSel = input("select", { class: "aw-steps" });
  const stepsLabel = h("label", {}, "Steps", stepsSel);
  const kernel = h("div", { class: "aw-row aw-kernel" }, h("span", { class: "aw-kernel-title", text: "Computed in the kernel:" }),
    h("label", {}, "Method", methodSel), h("label", {}, "Target", targetSel), stepsLabel);
  const textIn = input("textarea", { class: "aw-text-input", rows: 2, spellcheck: "false" });
  const explain = h("button", { class: "aw-explain", type: "button", text: "Explain" });
  const textBox = h("div", { class: "aw-text-box" }, textIn,
    h("div", { class: "aw-row" }, explain, h("span", { class: "aw-hint", text: "one sentence a line · Enter explains, Shift+Enter adds a line" })));
  const status = h("div", { class: "aw-status", "data-state": "idle" });
  const cancel = h("button", { class: "aw-cancel", type: "button", text: "Cancel" });
  const rowsBox = h("div", { class: "aw-text-rows" });
  const legendBar = h("span", { class: "aw-legend-bar" });
  const legendLo = h("span", { class: "aw-legend-lo" });
  const legendHi = h("span", { class: "aw-legend-hi" });
  const legendText = h("span", { class: "aw-legend-text" });
  const legend = h("div", { class: "aw-legend" }, legendLo, legendBar, legendHi, legendText);
  const alphaIn = input("input", { class: "aw-alpha", type: "range", min: 0, max: SLIDER_MAX, step: 1 });
  alphaIn.value = String(alphaToSlider(view.alpha));
  const play = h("button", { class: "aw-play", type: "button", text: "▶ play" });
  const alphaText = h("div", { class: "aw-alpha-value" });
  const scrubRow = h("div", { class: "aw-row aw-scrub" }, h("label", {}, "α", alphaIn), play);
  const showSel = input("select", { class: "aw-show" });
  setOptions(showSel, Object.entries(SHOW_MODES), view.show);
  const clipIn = input("input", { class: "aw-clip", type: "range", min: 50, max: 100, step: 0.5 });
  clipIn.value = String(view.clip);
  const clipText = h("span", { class: "aw-clip-value" });
  const mergeIn = input("input", { class: "aw-merge", type: "checkbox" });
  mergeIn.checked = view.merge;
  const showLabel = h("label", {}, "Chips show", showSel);
  const display = h("div", { class: "aw-row" }, h("span", { class: "aw-view-title", text: "View:" }), showLabel,
    h("label", {}, "Clip", clipIn, clipText), h("label", {}, mergeIn, "merge subword pieces into words"));
  const completeness = h("div", { class: "aw-completeness" });
  const left = h("div", { class: "aw-left" }, rowsBox, legend, scrubRow, alphaText, display, completeness);
  const curveRowSel = input("select", { class: "aw-curve-row" });
  const curveRowLabel = h("label", {}, "Curves of sentence", curveRowSel);
  const curve = h("canvas", { class: "aw-curve" });
  const classes = h("div", { class: "aw-classes" });
  const curveBox = h("div", { class: "aw-curve-box" }, curveRowLabel, curve, classes);
  const notes = h("div", { class: "aw-notes" });
  root.append(title, kernel, textBox, status, h("div", { class: "aw-figures" }, left, curveBox), notes);
  el.append(root);
  for (const c of [methodSel, targetSel, stepsSel, textIn, explain]) c.disabled = !interactive;
  if (!interactive) textBox.append(h("div", { class: "aw-note", text: "static page: new sentences, methods and targets need the kernel" }));

  const curves = createCurveBox({ view, root, curve, classes });
  const curveSize = () => ({ curves: { width: Math.max(320, Math.min(520, root.clientWidth - 680 || 520)), height: 400 } });

  // ---- drawing ------------------------------------------------------------------------------------
  /** What every row shows in `mode` ("attribution" or "gradient") at the view's α, and its one scale. */
  function shown(mode) {
    const rows = data.rows.map((row, i) => {
      const { values, alpha } = tokenValues(data, i, data.path ? view.alpha : null, mode);
      return { row, alpha, chips: chips(row, values, view.merge) };
    });
    // the accumulated attribution keeps the final scores' scale, so chips fade in along α;
    // the gradient at α has its own
    const basis = mode !== "gradient" || !data.path
      ? data.rows.map((row, i) => chips(row, tokenValues(data, i, null).values, view.merge).map((c) => c[1]))
      : rows.map((r) => r.chips.map((c) => c[1]));
    return { rows, scale: sharedScale(basis, view.clip) };
  }

  function drawChips() {
    if (!data) return;
    const { rows, scale } = shown(view.show);
    // on a path, a line under each chip shows the other of the two: the gradient at α, or the attribution
    const other = data.path ? shown(view.show === "gradient" ? "attribution" : "gradient") : null;
    rowsBox.replaceChildren();
    rows.forEach(({ row, chips: list }, i) => {
      const chipEls = list.map(([text, value], k) => {
        const { background, color } = chipColors(value, scale, lut);
        const chip = h("span", { class: "aw-chip", text, title: `${text}: ${fmt(value)}`, "data-score": String(value) });
        chip.style.background = background;
        chip.style.color = color;
        if (other) {
          const v = other.rows[i].chips[k][1];
          chip.style.borderBottom = `4px solid ${chipColors(v, other.scale, lut).background}`;
          chip.setAttribute("data-under", String(v));
          chip.title += ` · ${view.show === "gradient" ? "attribution up to α" : "gradient at α"}: ${fmt(v)}`;
        }
        return chip;
      });
      const pred = h("div", { class: "aw-text-pred", text: `${i + 1}. ${predictionText(row)}` });
      const box = h("div", { class: "aw-text-row", "data-row": i, "data-picked": i === view.row && data.rows.length > 1 && Boolean(data.path) }, pred,
        h("div", { class: "aw-chips" }, ...chipEls));
      rowsBox.append(box);
    });
    const [lo, hi] = [chipColors(-scale, scale, lut).background, chipColors(scale, scale, lut).background];
    legendBar.style.background = `linear-gradient(to right, ${lo}, rgb(221, 221, 221), ${hi})`;
    legendLo.textContent = `−${fmt(scale)}`;
    legendHi.textContent = `+${fmt(scale)}`;
    const under = view.show === "gradient" ? "attribution up to α" : "gradient at α";
    legendText.textContent = data.path
      ? `${view.show === "gradient" ? "gradient at α" : "attribution up to α"} (line under: ${under}): red for the explained class, blue against; one scale for every sentence`
      : "token scores: red for the explained class, blue against; one scale for every sentence";
    root.setAttribute("data-scale", String(scale));
    if (data.path) {
      const a = rows[view.row]?.alpha;
      const { alpha } = alphaReadout(view.alpha, null);
      const same = a === null || a === undefined || Math.abs(a - view.alpha) < 5e-4;
      alphaText.textContent = same ? alpha : `${alpha} · chips show the nearest path point, α = ${a.toFixed(3)}`;
    }
    drawn++;
    root.setAttribute("data-drawn", String(drawn));
  }

  function drawCurves() {
    if (!data?.path) return;
    curves.draw(rowData[view.row] ??= rowCurves(data, view.row), curveSize());
  }
  let rowData = [];

  function showReadout() {
    if (!data) return;
    const row = data.rows[view.row];
    const r = { ...row, stage: data.raw.stage, params: data.raw.params, view: data.view, max_steps: data.raw.params?.max_steps };
    const { level, text } = data.path ? completenessText(r, fmt) : mapReadout(r, fmt);
    const which = data.rows.length > 1 ? `sentence ${view.row + 1}: ` : "";
    const gaps = data.rows.map((r) => r.relative_delta).filter(Number.isFinite);
    const worst = data.rows.length > 1 && gaps.length ? `  ·  largest gap over the ${data.rows.length} sentences ${(100 * Math.max(...gaps)).toFixed(2)} %` : "";
    completeness.setAttribute("data-level", level);
    completeness.textContent = text ? which + text + worst : "";
    completeness.style.display = text ? "" : "none";
  }

  function redraw() {
    drawChips();
    drawCurves();
  }

  // ---- the kernel's traits ----------------------------------------------------------------------------
  function syncKernel() {
    const methods = model.get("methods") || [];
    setOptions(methodSel, methods.map((m) => [m.name, m.available ? m.title : `${m.title} (${m.why})`]), model.get("method"));
    for (const [k, m] of methods.entries()) methodSel.options[k].disabled = !m.available;
    const targets = model.get("targets") || [];
    setOptions(targetSel, [[-1, "predicted class (each sentence)"], ...targets.map((t) => [t.index, `${t.label} — p ${(100 * t.prob).toFixed(1)} %`])], model.get("target"));
    const spec = methods.find((m) => m.name === model.get("method"));
    const steps = (model.get("options") || {}).steps;
    stepsLabel.style.display = spec?.steps ? "" : "none";
    const choices = model.get("vocabulary")?.steps_choices || STEPS_CHOICES;
    const values = choices.includes(steps) || steps === undefined ? choices : [...choices, steps];
    setOptions(stepsSel, values.map((v) => [v, v === "auto" ? "auto (gap < 1 %)" : String(v)]), steps ?? "auto");
    const texts = model.get("texts") || [];
    if (document.activeElement !== textIn) textIn.value = texts.join("\n");
    textIn.rows = Math.max(1, Math.min(6, texts.length));
    title.textContent = model.get("title") || (data ? `${data.raw.method_title} at the layer “${data.raw.layer}”` : "Token explorer");
  }

  function onResult() {
    const result = model.get("result");
    if (!result || !result.rows) return;
    data = unpackText(result);
    rowData = [];
    view.row = Math.min(view.row, data.rows.length - 1);
    setOptions(curveRowSel, data.rows.map((_, i) => [i, String(i + 1)]), view.row);
    curveRowLabel.style.display = data.rows.length > 1 && data.path ? "" : "none";
    curveBox.style.display = data.path ? "" : "none";
    for (const e of [scrubRow, alphaText, showLabel]) e.style.display = data.path ? "" : "none";
    root.setAttribute("data-result", String(result.generation ?? 0));
    root.setAttribute("data-view", data.view);
    redraw();
    showReadout();
    showNotes(notes, data);
    syncKernel();
    showStatus({ status, cancel }, model, data, interactive);
  }

  // ---- events -----------------------------------------------------------------------------------------
  const setAlpha = (a) => {
    view.alpha = Math.min(1, Math.max(0, a));
    alphaIn.value = String(alphaToSlider(view.alpha));
    redraw();
  };
  const player = createPlayer({ getAlpha: () => view.alpha, onAlpha: setAlpha, onChange: (p) => { play.textContent = p ? "⏸ pause" : "▶ play"; } });
  on(alphaIn, "input", () => setAlpha(sliderToAlpha(alphaIn.value)));
  on(play, "click", () => player.toggle());
  let dragging = false;
  on(curve, "pointerdown", (ev) => {
    const a = curves.alphaAt(ev);
    if (a === null) return;
    dragging = true;
    curve.setPointerCapture?.(ev.pointerId);
    setAlpha(a);
  });
  on(curve, "pointermove", (ev) => {
    const a = dragging ? curves.alphaAt(ev) : null;
    if (a !== null) setAlpha(a);
  });
  on(curve, "pointerup", () => { dragging = false; });
  on(curve, "pointercancel", () => { dragging = false; });
  on(showSel, "change", () => { view.show = showSel.value; drawChips(); });
  on(clipIn, "input", () => { view.clip = Number(clipIn.value); clipText.textContent = `${view.clip} %`; drawChips(); });
  clipText.textContent = `${view.clip} %`;
  on(mergeIn, "change", () => { view.merge = mergeIn.checked; drawChips(); });
  const pick = (i) => {
    if (!data || !(i >= 0 && i < data.rows.length)) return;
    view.row = i;
    curveRowSel.value = String(i);
    redraw();
    showReadout();
  };
  on(curveRowSel, "change", () => pick(Number(curveRowSel.value)));
  on(rowsBox, "click", (ev) => {
    const row = ev.target.closest?.(".aw-text-pred") ? ev.target.closest(".aw-text-row") : null;
    if (row) pick(Number(row.getAttribute("data-row")));
  });

  const commit = (name, value) => {
    if (!interactive) return;
    model.set(name, value);
    model.save_changes();
  };
  on(methodSel, "change", () => commit("method", methodSel.value));
  on(targetSel, "change", () => commit("target", Number(targetSel.value)));
  on(stepsSel, "change", () => {
    const v = stepsSel.value === "auto" ? "auto" : Number(stepsSel.value);
    commit("options", { ...(model.get("options") || {}), steps: v });
  });
  const submit = () => {
    const texts = textIn.value.split("\n").map((s) => s.trim()).filter((s) => s);
    if (texts.length) commit("texts", texts);
  };
  on(explain, "click", submit);
  on(textIn, "keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      submit();
    }
  });
  on(cancel, "click", () => { if (interactive) model.send({ type: "cancel" }); });
  const resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => drawCurves()) : null;
  resize?.observe(root);

  onModel("change:result", onResult);
  onModel("change:status", () => showStatus({ status, cancel }, model, data, interactive));
  for (const name of ["methods", "targets", "method", "target", "options", "texts", "title"]) onModel(`change:${name}`, syncKernel);
  syncKernel();
  showStatus({ status, cancel }, model, data, interactive);
  onResult();

  return () => {
    player.pause();
    events.dispose();
    resize?.disconnect();
    root.remove();
  };
}

export default { render };
