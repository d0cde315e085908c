// The compare grid's stylesheet (scoped under .aw-compare), with the explorer's base rules.

import { STYLE } from "./style.js";

export const COMPARE_STYLE = `${STYLE}
.aw-compare .aw-cmp-status { min-height: 1.4em; color: #445; }
.aw-compare .aw-cmp-status[data-state=computing] { color: #1f4e9c; }
.aw-compare .aw-cmp-status[data-state=error] { color: #b00020; white-space: pre-wrap; }
.aw-compare .aw-cmp-scale-note { color: #556; font-size: 12px; }
.aw-compare .aw-cmp-scrub input { width: 140px; }
.aw-compare .aw-cmp-grid { display: grid; gap: 6px 6px; align-items: start; margin-top: 6px; }
.aw-compare .aw-cmp-colhead { display: flex; flex-direction: column; align-items: center; gap: 2px; font-weight: 600; font-size: 12px; }
.aw-compare .aw-cmp-thumb { width: 36px; height: 36px; border: 1px solid #ccd; }
.aw-compare .aw-cmp-coltitle { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 100%; }
.aw-compare .aw-cmp-rowhead { font-weight: 600; font-size: 12px; overflow-wrap: anywhere; align-self: center; }
.aw-compare .aw-cmp-input { width: 100%; max-width: 140px; height: auto; margin-top: 4px; }
.aw-compare .aw-cmp-top { font-weight: 400; margin: 2px 0 0; padding-left: 18px; font-size: 11px; }
.aw-compare .aw-cmp-cell { min-width: 0; font-size: 11px; color: #333; }
.aw-compare .aw-cmp-cell:not([data-done]) .aw-cmp-frame { background: repeating-linear-gradient(45deg, #f1f1f1, #f1f1f1 6px, #e6e6e6 6px, #e6e6e6 12px); aspect-ratio: 1; }
.aw-compare .aw-cmp-frame { position: relative; width: 100%; }
.aw-compare .aw-cmp-panel { width: 100%; height: auto; cursor: crosshair; image-rendering: auto; }
.aw-compare .aw-cmp-marker { display: none; position: absolute; width: 9px; height: 9px; margin: -5px 0 0 -5px; border: 1.5px solid #111; border-radius: 50%; box-shadow: 0 0 0 1px #fff; pointer-events: none; }
.aw-compare .aw-cmp-caption { min-height: 1.3em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; color: #445; }
.aw-compare .aw-cmp-readout { min-height: 1.3em; font-variant-numeric: tabular-nums; }
.aw-compare .aw-cmp-gap { color: #2d5a2d; }
.aw-compare[data-pixelated] .aw-cmp-panel, .aw-compare[data-pixelated] .aw-cmp-input { image-rendering: pixelated; }
.aw-compare .aw-cmp-legend { color: #667; font-size: 11px; margin-top: 6px; }
.aw-compare .aw-cmp-gap[data-level=warn] { color: #8a4b00; }
.aw-compare .aw-cmp-gap[data-level=none] { color: #777; }
.aw-compare .aw-cmp-refs-toggle { font-size: 11px; padding: 0 6px; margin-top: 2px; }
.aw-compare .aw-cmp-refs-toggle[aria-expanded=true] { background: #e3ebf8; }
.aw-compare .aw-cmp-refs { margin-top: 8px; padding-top: 6px; border-top: 1px solid #dde; }
.aw-compare .aw-cmp-refs-title { font-weight: 600; font-size: 12px; }
.aw-compare .aw-cmp-refs-strip { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
.aw-compare .aw-cmp-ref { width: 104px; font-size: 10px; color: #333; }
.aw-compare .aw-cmp-ref[data-mean] { width: 132px; }
.aw-compare .aw-cmp-ref[data-mean] .aw-cmp-ref-map { outline: 2px solid #1f4e9c; }
.aw-compare .aw-cmp-ref-frame { position: relative; }
.aw-compare .aw-cmp-ref-map { width: 100%; height: auto; display: block; }
.aw-compare .aw-cmp-ref-picture { position: absolute; right: 2px; bottom: 2px; width: 26px; height: 26px; border: 1px solid #fff; box-shadow: 0 0 0 1px #778; image-rendering: pixelated; }
.aw-compare .aw-cmp-ref-caption { overflow-wrap: anywhere; line-height: 1.25; }
`;
