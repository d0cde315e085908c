// The curves beside the panels (js/curves.js draws them) and the list of the classes the model
// predicts along the path. The curves are drawn once per result and size onto a canvas kept
// aside; each α copies it and adds the marker.

import { alphaAtX, drawCurves, drawMarkers } from "./curves.js";
import { classSummary } from "./classes.js";
import { figureLayout } from "./layout.js";
import { h } from "./dom.js";

/**
 * The curve box of one widget.
 * @param {{view: object, root: HTMLElement, curve: HTMLCanvasElement, classes: HTMLElement}} parts
 *   `view.alpha` is read at each draw; `root`'s width sizes the curves before the panels are drawn
 */
export function createCurveBox({ view, root, curve, classes }) {
  let curveLayout = null;
  /** The curves without the α marker, drawn once per result and size; each α copies them and adds the marker. */
  let curveBase = { key: "", data: null, canvas: null };
  let classesFor = null;

  /** Draw the curves of `data` (js/result.js unpack) at the size `fig` (figureLayout) gives them. */
  function draw(data, fig) {
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
      showClasses(data);
    }
    const ctx = curve.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(curveBase.canvas, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    drawMarkers(ctx, curveLayout, view.alpha);
  }

  /** The list of predicted classes along the path, in the colours of the strip. */
  function showClasses(data) {
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

  /** α under a pointer event on the curves, or null before they are drawn. */
  function alphaAt(ev) {
    if (!curveLayout) return null;
    const rect = curve.getBoundingClientRect();
    const scale = rect.width ? curve.clientWidth / rect.width : 1;
    return alphaAtX((ev.clientX - rect.left) * scale, curveLayout.top);
  }

  return { draw, alphaAt };
}
