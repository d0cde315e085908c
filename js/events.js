// Event wiring of every widget (the explorer, the compare views, the token explorer): DOM
// listeners on one AbortController, model listeners kept to be removed, both undone by one
// dispose() (in the cleanup anywidget calls), and the kernel's colour tables installed.

import { decode } from "./wire.js";
import { setTables } from "./colormap.js";

/** `{on(target, type, fn), onModel(name, fn), dispose()}` for one rendered view of `model`. */
export function listen(model) {
  const controller = new AbortController();
  const offs = [];
  return {
    on: (target, type, fn) => target.addEventListener(type, fn, { signal: controller.signal }),
    onModel(name, fn) {
      model.on(name, fn);
      offs.push(() => model.off(name, fn));
    },
    dispose() {
      controller.abort();
      for (const off of offs.splice(0)) off();
    },
  };
}

/** Use matplotlib's colour tables from the `vocabulary` trait, when the kernel sent them. */
export function useKernelTables(model) {
  const wires = model.get("vocabulary")?.colormaps || {};
  setTables(Object.fromEntries(Object.entries(wires).map(([name, wire]) => [name, decode(wire).data])));
}
