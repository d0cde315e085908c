// The explorer's stylesheet (scoped under .aw-root), kept apart from the drawing code in widget.js.

export const STYLE = `
.aw-root { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 100%; }
.aw-root .aw-title { font-weight: 600; font-size: 15px; margin: 2px 0 6px; }
.aw-root .aw-row { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; margin: 4px 0; }
.aw-root label { display: inline-flex; align-items: center; gap: 5px; }
.aw-root select, .aw-root input[type=number] { font: inherit; padding: 1px 3px; }
.aw-root input[type=number] { width: 4.5em; }
.aw-root .aw-kernel { background: #f4f6fa; border: 1px solid #dde3ee; border-radius: 5px; padding: 4px 8px; }
.aw-root .aw-kernel-title, .aw-root .aw-view-title { font-weight: 600; color: #445; }
.aw-root .aw-note { color: #7a5a00; font-style: italic; }
.aw-root .aw-figures { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: flex-start; margin-top: 4px; }
.aw-root .aw-left { display: flex; flex-direction: column; gap: 2px; max-width: 100%; }
.aw-root .aw-left .aw-row { margin: 2px 0; }
.aw-root .aw-view { display: flex; gap: 10px; align-items: baseline; }
.aw-root .aw-view .aw-view-title { flex: none; }
.aw-root canvas { display: block; }
.aw-root .aw-curve { touch-action: none; cursor: ew-resize; }
.aw-root .aw-scrub { flex-wrap: nowrap; }
.aw-root .aw-scrub label { flex: 1; }
.aw-root .aw-alpha { flex: 1; min-width: 80px; margin: 0; }
.aw-root .aw-alpha-value { color: #333; font-size: 12px; min-height: 1.4em; }
.aw-root .aw-alpha-value b { font-weight: 600; color: #111; font-size: 13px; }
.aw-root .aw-play { min-width: 4.6em; font: inherit; }
.aw-root .aw-status { min-height: 1.4em; color: #445; }
.aw-root .aw-status[data-state=computing] { color: #1f4e9c; }
.aw-root .aw-status[data-state=error] { color: #b00020; white-space: pre-wrap; }
.aw-root .aw-status progress { width: 120px; vertical-align: middle; margin-left: 6px; }
.aw-root .aw-completeness { padding: 3px 8px; border-radius: 4px; background: #eef6ee; display: inline-block; }
.aw-root .aw-completeness[data-level=warn] { background: #fff1e0; color: #8a4b00; }
.aw-root .aw-completeness[data-level=none] { background: #f2f2f2; color: #666; }
.aw-root .aw-unit { color: #556; }
.aw-root .aw-controls, .aw-root .aw-baseline-box { display: inline-flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; }
.aw-root .aw-baseline-thumb { border: 1px solid #bbb; }
.aw-root .aw-control .aw-slider { width: 110px; }
.aw-root .aw-control .aw-opt-box { width: 4.2em; }
.aw-root .aw-samples { flex: 1; min-width: 120px; margin: 0; }
.aw-root .aw-samples-value { color: #333; font-size: 12px; white-space: nowrap; }
.aw-root .aw-notes { color: #7a5a00; font-size: 12px; margin-top: 4px; }
.aw-root label[data-disabled] { color: #999; }
.aw-root .aw-cancel { font: inherit; margin-left: 8px; }
.aw-root .aw-curve-box { display: flex; flex-direction: column; gap: 2px; }
.aw-root .aw-classes { box-sizing: border-box; font-size: 12px; color: #333; max-width: 420px; padding-left: 10px; }
.aw-root .aw-classes .aw-swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px -1px 0; border-radius: 2px; }
.aw-root .aw-classes li { list-style: none; margin: 0; }
.aw-root .aw-classes ul { margin: 2px 0 0; padding: 0; }
.aw-root .aw-refs { margin-top: 6px; padding-top: 6px; border-top: 1px solid #dde; max-width: 100%; }
.aw-root .aw-ref-title { font-size: 12px; color: #333; }
.aw-root .aw-ref-strip { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
.aw-root .aw-ref { width: 112px; font-size: 10px; color: #333; }
.aw-root .aw-ref[data-mean] { width: 140px; }
.aw-root .aw-ref[data-mean] .aw-ref-map { outline: 2px solid #1f4e9c; }
.aw-root .aw-ref-frame { position: relative; }
.aw-root .aw-ref-map { width: 100%; height: auto; display: block; }
.aw-root .aw-ref-picture { position: absolute; right: 2px; bottom: 2px; width: 30px; height: auto; border: 1px solid #fff; box-shadow: 0 0 0 1px #778; image-rendering: pixelated; }
.aw-root .aw-ref-caption { overflow-wrap: anywhere; line-height: 1.25; }
`;
