// The compare grid (anywidget front end) of attrwidgets/widgets/compare.py: rows of panels (methods
// × baselines, or inputs × {own prediction, picked class}), one canvas per panel, one colour scale
// across them (or each its own), a hover readout in every panel at once, the completeness gap under
// each, an α scrubber moving every path panel together, and a PNG button. Only `target`/`picked`
// go to the kernel; scale, opacity and α redraw from the data here (also in the static export).
// Every label is set with textContent, never as HTML.

import { decode } from "./wire.js";
import { colormap } from "./colormap.js";
import { h } from "./dom.js";
import { SLIDER_MAX, alphaToSlider, sliderToAlpha } from "./scrubber.js";
import {
  baseRgba,
  decodePanels,
  gapLevel,
  gapShort,
  gapText,
  panelPixels,
  panelScale,
  readoutText,
  referenceCaption,
  referenceEntries,
  referenceTitle,
  statusText,
  valueAt,
  valuesAt,
} from "./compare_draw.js";
import { COMPARE_STYLE } from "./compare_style.js";
import { listen, useKernelTables } from "./events.js";
import { EVALUATION_CHOICES, showEvaluation } from "./evalcurve.js";
import { referenceCell } from "./refstrip.js";

function render({ model, el }) {
  const wiring = listen(model);
  const { on, onModel } = wiring;
  const interactive = model.get("interactive") !== false;
  useKernelTables(model);
  const lut = colormap("coolwarm");
  const grid = model.get("grid");
  const view = { scale: model.get("scale") || "locked", alpha: Number(model.get("alpha") ?? 1), opacity: Number(model.get("opacity") ?? 0.8) };

  const bases = grid.images.map((im) => baseRgba(decode(im)));
  const [ih, iw] = grid.images[0].shape;

  // ---- elements ----------------------------------------------------------------------------------
  const title = h("div", { class: "aw-title" });
  const status = h("div", { class: "aw-cmp-status" });
  const toggle = h("input", { type: "checkbox", class: "aw-cmp-scale" });
  toggle.checked = view.scale === "panel";
  const scaleNote = h("span", { class: "aw-cmp-scale-note" });
  const alpha = h("input", { type: "range", class: "aw-cmp-alpha", min: 0, max: SLIDER_MAX, value: alphaToSlider(view.alpha) });
  const alphaText = h("span", { class: "aw-cmp-alpha-value" });
  const png = h("button", { class: "aw-cmp-png", type: "button", text: "PNG" });
  const picker = h("select", { class: "aw-cmp-picked" });
  for (const c of model.get("classes") || []) picker.append(h("option", { value: c.index, text: `${c.label} (${c.index})` }));
  picker.disabled = !interactive;
  const pickLabel = h("label", {}, grid.kind === "inputs" ? "picked class " : "class explained ", picker);
  const evalSel = h("select", { class: "aw-evaluation", title: "every panel's map tested together: remove its pixels in order, against random orders" });
  for (const [value, text] of EVALUATION_CHOICES) evalSel.append(h("option", { value, text }));
  evalSel.disabled = !interactive;
  const toolbar = h(
    "div",
    { class: "aw-row aw-cmp-toolbar" },
    h("label", {}, toggle, "each panel its own scale"),
    scaleNote,
    pickLabel,
    h("label", { class: "aw-cmp-scrub" }, "α ", alpha),
    alphaText,
    h("label", {}, "check ", evalSel),
    png,
  );
  if (!interactive) toolbar.append(h("span", { class: "aw-note", text: "static page: the class picker needs a kernel" }));

  const table = h("div", { class: "aw-cmp-grid" });
  const cols = grid.columns.length;
  table.style.gridTemplateColumns = `minmax(90px, 150px) repeat(${cols}, minmax(0, 1fr))`;
  table.style.maxWidth = `${160 + cols * Math.max(140, Math.min(260, iw))}px`;
  table.append(h("div", { class: "aw-cmp-corner" }));
  grid.columns.forEach((c) => {
    const head = h("div", { class: "aw-cmp-colhead" }, h("span", { class: "aw-cmp-coltitle", text: c.title }));
    if (c.thumb) {
      const im = decode(c.thumb);
      const cv = h("canvas", { class: "aw-cmp-thumb", width: im.shape[1], height: im.shape[0] });
      cv.getContext("2d").putImageData(new ImageData(baseRgba(im, 0), im.shape[1], im.shape[0]), 0, 0);
      head.append(cv);
    }
    table.append(head);
  });
  const cells = []; // [row][col] → {canvas, readout, gap, caption, marker}
  grid.rows.forEach((row, r) => {
    const head = h("div", { class: "aw-cmp-rowhead" }, h("div", { class: "aw-cmp-rowtitle", text: row.title }));
    if (grid.kind === "inputs") {
      const im = decode(grid.images[row.input]);
      const cv = h("canvas", { class: "aw-cmp-input", width: im.shape[1], height: im.shape[0] });
      cv.getContext("2d").putImageData(new ImageData(baseRgba(im, 0), im.shape[1], im.shape[0]), 0, 0);
      const list = h("ol", { class: "aw-cmp-top" });
      for (const line of row.lines) list.append(h("li", { text: line }));
      head.append(cv, list);
    }
    table.append(head);
    cells.push([]);
    for (let c = 0; c < cols; c++) {
      const canvas = h("canvas", { class: "aw-cmp-panel", width: iw, height: ih, "data-row": r, "data-col": c, "data-drawn": 0 });
      const marker = h("div", { class: "aw-cmp-marker" });
      const caption = h("div", { class: "aw-cmp-caption" });
      const readout = h("div", { class: "aw-cmp-readout" });
      const gap = h("div", { class: "aw-cmp-gap" });
      const refs = h("button", { class: "aw-cmp-refs-toggle", type: "button", text: "per reference ▸", title: "Expected Gradients: the map of each reference drawn, and their mean" });
      refs.hidden = true;
      const cell = h("div", { class: "aw-cmp-cell", "data-row": r, "data-col": c }, caption, h("div", { class: "aw-cmp-frame" }, canvas, marker), readout, gap, refs);
      table.append(cell);
      cells[r].push({ canvas, marker, caption, readout, gap, cell, refs });
    }
  });
  const style = h("style", { text: COMPARE_STYLE });
  const legend = h("div", { class: "aw-cmp-legend", text: "gap: how far Σ attributions is from F(x) − F(x′), in % of F(x) − F(x′) (hover it for the numbers)" });
  const evalCanvas = h("canvas", { class: "aw-eval-canvas" });
  const evalText = h("div", { class: "aw-eval-text" });
  const evalBox = h("div", { class: "aw-eval aw-cmp-eval" }, evalCanvas, evalText);
  const refsBox = h("div", { class: "aw-cmp-refs" });
  refsBox.hidden = true;
  const root = h("div", { class: "aw-root aw-compare" }, style, title, status, toolbar, table, refsBox, legend, evalBox);
  if (iw < 100) root.dataset.pixelated = "";
  el.replaceChildren(root);

  // ---- drawing -----------------------------------------------------------------------------------
  let result = null;
  let decoded = [];
  let hover = null; // {u, v} while the pointer is over a panel
  let expanded = null; // {row, col} of the panel whose per-reference maps are shown
  const where = (p) => cells[p.row][p.col];

  /** One map of the per-reference strip: a canvas on the panel's scale, its caption, a picture. */
  function refCell(caption, map, scale, input, picture) {
    return referenceCell("aw-cmp-ref", caption, map, { scale, base: bases[input], shape: [ih, iw], lut, opacity: view.opacity, picture });
  }

  /** The per-reference maps of the expanded panel (Expected Gradients over several references). */
  function drawRefs() {
    const i = expanded && result ? result.panels.findIndex((p) => p.row === expanded.row && p.col === expanded.col && p.references) : -1;
    for (const row of cells)
      for (const cell of row) {
        const open = expanded && Number(cell.cell.dataset.row) === expanded.row && Number(cell.cell.dataset.col) === expanded.col;
        cell.refs.textContent = open ? "per reference ▾" : "per reference ▸";
        cell.refs.setAttribute("aria-expanded", open ? "true" : "false");
      }
    if (i < 0) {
      refsBox.hidden = true;
      refsBox.replaceChildren();
      return;
    }
    const p = result.panels[i];
    const scale = panelScale(result, i, view.scale);
    const entries = referenceEntries(p.references);
    const strip = h("div", { class: "aw-cmp-refs-strip" }, refCell("mean (the panel)", decoded[i].map, scale, p.input, null));
    for (const e of entries) strip.append(refCell(referenceCaption(e, p.references.draws), e.map, scale, p.input, e.picture));
    const heading = h("div", { class: "aw-cmp-refs-title", text: referenceTitle(grid.rows[p.row].title, grid.columns[p.col].title, p.references) });
    const note = h("div", { class: "aw-note", text: `final maps (α = 1), on ${view.scale === "panel" ? "the panel's own scale" : "the grid's one colour scale"}` });
    refsBox.replaceChildren(heading, note, strip);
    refsBox.hidden = false;
    refsBox.dataset.row = String(p.row);
    refsBox.dataset.col = String(p.col);
    refsBox.dataset.count = String(entries.length);
    refsBox.dataset.drawn = String(Number(refsBox.dataset.drawn || 0) + 1);
  }

  function drawPanels() {
    if (!result) return;
    const hasFrames = decoded.some((d) => d.frames);
    alpha.disabled = !hasFrames;
    alphaText.textContent = hasFrames ? `α = ${view.alpha.toFixed(2)}` : "";
    result.panels.forEach((p, i) => {
      const cell = where(p);
      const values = valuesAt(decoded[i], view.alpha);
      const scale = panelScale(result, i, view.scale);
      const pixels = panelPixels(values.data, scale, bases[p.input], lut, view.opacity);
      const [h0, w0] = values.shape;
      cell.canvas.width = w0;
      cell.canvas.height = h0;
      cell.canvas.getContext("2d").putImageData(new ImageData(pixels, w0, h0), 0, 0);
      cell.canvas.dataset.drawn = String(Number(cell.canvas.dataset.drawn) + 1);
      cell.canvas.dataset.scale = String(scale * result.unit);
      cell.canvas.dataset.alpha = String(values.alpha);
      const what = grid.kind === "inputs" ? p.target_label : "";
      cell.caption.textContent = p.level === "coarse" ? `${what}${what ? " · " : ""}coarse first answer` : what;
      cell.cell.dataset.level = p.level || "full";
      cell.gap.textContent = gapShort(p);
      cell.gap.title = [gapText(p), ...(p.notes || [])].join("\n");
      cell.gap.dataset.level = gapLevel(p);
      cell.cell.dataset.done = "1";
      cell.refs.hidden = !p.references;
    });
    drawRefs();
    scaleNote.textContent =
      view.scale === "panel" ? "colours compare within a panel only" : `one colour scale: ±${(result.locked * result.unit).toPrecision(3)} (99th percentile of all panels)`;
    showHover();
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  }

  function showHover() {
    if (!result) return;
    result.panels.forEach((p, i) => {
      const cell = where(p);
      if (!hover) {
        cell.readout.textContent = "";
        cell.marker.style.display = "none";
        return;
      }
      const values = valuesAt(decoded[i], view.alpha);
      cell.readout.textContent = readoutText(valueAt(values, result.unit, hover.u, hover.v));
      cell.marker.style.display = "block";
      cell.marker.style.left = `${100 * hover.u}%`;
      cell.marker.style.top = `${100 * hover.v}%`;
    });
  }

  function showStatus() {
    const s = model.get("status") || {};
    status.textContent = statusText(s, result);
    status.dataset.state = s.state || "idle";
  }

  function onResult() {
    result = model.get("result");
    if (!result || !result.panels) return;
    decoded = decodePanels(result);
    root.dataset.result = String(result.generation ?? 0);
    root.dataset.done = String(result.done);
    drawPanels();
    showStatus();
  }

  // ---- events ------------------------------------------------------------------------------------
  for (const row of cells)
    for (const cell of row) {
      on(cell.canvas, "pointermove", (e) => {
        const box = cell.canvas.getBoundingClientRect();
        hover = { u: Math.min(0.9999, Math.max(0, (e.clientX - box.left) / box.width)), v: Math.min(0.9999, Math.max(0, (e.clientY - box.top) / box.height)) };
        showHover();
      });
      on(cell.canvas, "pointerleave", () => {
        hover = null;
        showHover();
      });
    }
  for (const row of cells)
    for (const cell of row)
      on(cell.refs, "click", () => {
        const at = { row: Number(cell.cell.dataset.row), col: Number(cell.cell.dataset.col) };
        expanded = expanded && expanded.row === at.row && expanded.col === at.col ? null : at;
        drawRefs();
      });
  on(toggle, "change", () => {
    view.scale = toggle.checked ? "panel" : "locked";
    if (interactive) {
      model.set("scale", view.scale);
      model.save_changes();
    }
    drawPanels();
  });
  on(alpha, "input", () => {
    view.alpha = sliderToAlpha(alpha.value);
    drawPanels();
  });
  on(picker, "change", () => {
    const name = grid.kind === "inputs" ? "picked" : "target";
    model.set(name, Number(picker.value));
    model.save_changes();
  });
  on(png, "click", () => {
    const link = h("a", { download: "compare.png", href: snapshot(table).toDataURL("image/png") });
    link.click();
  });
  const sync = () => {
    title.textContent = model.get("title") || (grid.kind === "inputs" ? "Side by side, one colour scale" : "Methods × baselines, one colour scale");
    picker.value = String(model.get(grid.kind === "inputs" ? "picked" : "target"));
    const scale = model.get("scale");
    if (scale && scale !== view.scale) {
      view.scale = scale;
      toggle.checked = scale === "panel";
      drawPanels();
    }
  };
  const evalEls = { select: evalSel, box: evalBox, canvas: evalCanvas, text: evalText };
  const showEval = () => showEvaluation(evalEls, model, { width: Math.max(360, Math.min(720, table.clientWidth || 560)), height: 280 });
  on(evalSel, "change", () => {
    model.set("evaluation", evalSel.value);
    model.save_changes();
  });
  onModel("change:evaluation_result", showEval);
  onModel("change:evaluation", showEval);
  showEval();
  onModel("change:result", onResult);
  onModel("change:status", showStatus);
  onModel("change:scale", sync);
  onModel("change:target", sync);
  onModel("change:picked", sync);
  sync();
  onResult();
  showStatus();

  return () => wiring.dispose();
}

/** The panels of the grid side by side on one canvas (what the PNG button saves). */
function snapshot(table) {
  const canvases = [...table.querySelectorAll("canvas.aw-cmp-panel")];
  const rows = Math.max(...canvases.map((c) => Number(c.dataset.row))) + 1;
  const cols = Math.max(...canvases.map((c) => Number(c.dataset.col))) + 1;
  const w = canvases[0].width;
  const hh = canvases[0].height;
  const out = document.createElement("canvas");
  out.width = cols * (w + 4);
  out.height = rows * (hh + 4);
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  for (const c of canvases) ctx.drawImage(c, Number(c.dataset.col) * (w + 4), Number(c.dataset.row) * (hh + 4));
  return out;
}

export default { render };
