"""Benchmark of the explorer widget (run by hand; writes nothing unless --write is given).

    .venv/bin/python benchmarks/widget_bench.py [--write benchmarks/RESULTS-widget.md] [--repeat 2]

Measures, with the demo model (EfficientNet-Lite0 on the "chelsea" photo, 224²):

(a) the α scrub frame rate in the static HTML export (``Explorer.save_html``) in headless
    Chromium (Debian's /usr/bin/chromium): the slider is driven by requestAnimationFrame-paced
    ``input`` events and the ``data-drawn`` increments are counted per second; a cold sweep (every
    frame's heatmap computed for the first time) and warm sweeps (cached) are reported apart;
(b) kernel-side time from a baseline change to the coarse and to the full result, end to end
    through the Explorer and its Session (worker thread, as in a notebook), for steps="auto" and
    for a fixed 32 steps; with where the time goes (model forward/backward vs our payload work);
(c) bytes per update: the result payload and the image payload.

Goals (issue 5): ≥ 60 fps scrubbing; ≤ 300 ms to the coarse result and ≤ 2 s to the full one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: tests.ui.chromium_flags

import torch

from attrwidgets.widgets.explorer import COARSE_SAMPLES, COARSE_STEPS
from tests.ui.chromium_flags import CHROMIUM_ARGS, CHROMIUM_CANDIDATES  # the browser tests' flags

CHROMIUM = CHROMIUM_CANDIDATES[0]


def load_demo():
    from attrwidgets.demo import imagenet_labels, imagenet_preprocess, load_efficientnet_lite0, photos

    return load_efficientnet_lite0(), photos()["chelsea"], imagenet_preprocess(), imagenet_labels()


def machine() -> dict:
    return {
        "nproc": os.cpu_count(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "cpu": _cpu_name(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# -- (b) kernel side --------------------------------------------------------------------------------
def model_floor(model, image, preprocess, repeat: int) -> dict:
    """What the model alone costs: one forward; one forward+backward at batch 1 and at batch 7."""
    x = image[None]
    out = {}
    with torch.no_grad():
        model(preprocess(x))  # warm-up
    for name, batch, grad in (("forward_1", 1, False), ("fwd_bwd_1", 1, True), ("fwd_bwd_7", 7, True)):
        times = []
        for _ in range(repeat + 1):
            z = x.repeat(batch, 1, 1, 1)
            start = time.perf_counter()
            if grad:
                z.requires_grad_(True)
                score = model(preprocess(z))[:, 285].sum()
                torch.autograd.grad(score, z)
            else:
                with torch.no_grad():
                    model(preprocess(z))
            times.append(time.perf_counter() - start)
        out[name] = min(times[1:])  # the first of each shape warms oneDNN up; min: least disturbed by load
    return out


def kernel_times(model, image, preprocess, labels, repeat: int) -> tuple[dict, object]:
    """Baseline change → coarse and → full, end to end through Explorer + Session (worker thread)."""
    from attrwidgets.widgets import explore

    results = {}
    keep = None
    for steps in ("auto", 32):
        ex = explore(
            model, image, preprocess=preprocess, labels=labels, steps=steps, baseline="black", dispatch=_inline
        )
        assert ex.wait(600)
        arrivals: list[tuple[str, float, dict]] = []
        done = threading.Event()

        def seen(change, arrivals=arrivals, done=done):
            arrivals.append((change.new["stage"], time.perf_counter(), change.new))
            if change.new.get("final"):
                done.set()

        ex.observe(seen, names="result")
        runs = []
        for i in range(repeat):
            for baseline in ("blur", "white") if i % 2 == 0 else ("gaussian", "black"):
                arrivals.clear()
                done.clear()
                start = time.perf_counter()
                ex.baseline = baseline
                assert done.wait(900), "no full result within 15 minutes"
                assert ex.wait(60)
                stages = {stage: (t - start, payload) for stage, t, payload in arrivals}
                coarse_t, coarse = stages.get("coarse", (None, None))
                full_t, full = stages["full"]
                runs.append(
                    {
                        "baseline": baseline,
                        "coarse_s": coarse_t,
                        "full_s": full_t,
                        "coarse_attribution_s": coarse["timings"]["attribution"] if coarse else None,
                        "coarse_payload_s": coarse["timings"]["payload"] if coarse else None,
                        "full_attribution_s": full["timings"]["attribution"],
                        "full_payload_s": full["timings"]["payload"],
                        "full_points": full["steps"],
                        "full_evaluations": full["evaluations"],
                        "full_gap": full["relative_delta"],
                        "coarse_evaluations": coarse["evaluations"] if coarse else None,
                    }
                )
                print(f"  steps={steps} baseline={baseline}: {json.dumps(runs[-1], default=str)}", flush=True)
        results[str(steps)] = runs
        if steps == 32:
            keep = ex
        else:
            ex.close()
    return results, keep


def _inline(callback):  # no kernel here: run the Session's callbacks on its worker thread
    callback()


def payload_sizes(ex) -> dict:
    from attrwidgets.widgets._wire import payload_bytes

    result = ex.result
    binary = payload_bytes(result)
    json_part = len(json.dumps(_strip_binary(result), default=str))
    return {
        "result_binary": binary,
        "result_json": json_part,
        "image_binary": payload_bytes(ex.image),
        "frames": ex.result["frames"]["grad"]["shape"],
        "final_map": ex.result["final_map"]["channels"]["shape"],
        "image_shape": ex.image["shape"],
    }


def _strip_binary(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, dict):
        return {k: _strip_binary(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strip_binary(v) for v in value]
    return value


# -- (a) the browser ----------------------------------------------------------------------------------
SCRUB_JS = """
async ([seconds, period]) => {
  const root = document.querySelector('.aw-root');
  const slider = document.querySelector('input.aw-alpha');
  const drawn = () => Number(root.getAttribute('data-drawn'));
  const raf = () => new Promise((r) => requestAnimationFrame(r));
  async function sweep(ms) {
    const d0 = drawn();
    let frames = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      await raf();
      t = performance.now();
      frames += 1;
      const phase = ((t - t0) % period) / period;          // 0 → 1 → 0 …
      const a = phase < 0.5 ? 2 * phase : 2 - 2 * phase;
      slider.value = String(Math.round(a * 1000));
      slider.dispatchEvent(new Event('input', { bubbles: true }));
    }
    await raf(); await raf();
    const elapsed = (performance.now() - t0) / 1000;
    const n = drawn() - d0;
    return { drawn: n, raf: frames, seconds: elapsed, fps: n / elapsed, raf_fps: frames / elapsed };
  }
  const cold = await sweep(period / 2);   // one pass 0 → 1: every frame drawn for the first time
  const warm = await sweep(seconds * 1000);
  // the cost of one draw, outside requestAnimationFrame's pacing
  const costs = [];
  for (let i = 0; i < 40; i++) {
    slider.value = String((i * 137) % 1000);
    const t0 = performance.now();
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    await raf();
    costs.push(performance.now() - t0);
  }
  costs.sort((x, y) => x - y);
  return { cold, warm, frame_ms_median: costs[20], frame_ms_p90: costs[36] };
}
"""


def scrub_fps(html_path: Path, seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium (this benchmark never runs `playwright install`)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # time every animation-frame callback: the widget draws in one, so this is the draw cost
        page.add_init_script(
            "window.__awCost = []; const __raf = window.requestAnimationFrame.bind(window);"
            "window.requestAnimationFrame = (cb) => __raf((t) => { const s = performance.now(); cb(t);"
            " window.__awCost.push(performance.now() - s); });"
        )
        page.goto(html_path.as_uri())
        page.wait_for_selector(".aw-root[data-drawn]:not([data-drawn='0'])", timeout=30_000)
        version = browser.version
        out = page.evaluate(SCRUB_JS, [seconds, 2000])
        costs = sorted(c for c in page.evaluate("window.__awCost") if c > 0.2)  # draws, not the driver's
        if costs:
            out |= {
                "draw_ms_median": costs[len(costs) // 2],
                "draw_ms_p90": costs[int(len(costs) * 0.9)],
                "draw_ms_max": costs[-1],
                "draws_timed": len(costs),
            }
        browser.close()
    out |= {"chromium": version, "page_errors": errors}
    return out


# -- every registered method (issue 10) -------------------------------------------------------------------
SAMPLE_SCRUB_JS = """
async ([seconds]) => {
  const root = document.querySelector('.aw-root');
  const slider = document.querySelector('input.aw-samples');
  const top = Number(slider.max);
  const drawn = () => Number(root.getAttribute('data-drawn'));
  const raf = () => new Promise((r) => requestAnimationFrame(r));
  const d0 = drawn();
  const t0 = performance.now();
  let frames = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await raf();
    frames += 1;
    slider.value = String(frames % (top + 1));
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  }
  await raf(); await raf();
  const elapsed = (performance.now() - t0) / 1000;
  const n = drawn() - d0;
  return { drawn: n, seconds: elapsed, fps: n / elapsed, raf_fps: frames / elapsed, frames: top + 1 };
}
"""


def _timed(ex, change) -> dict:
    """Apply ``change(ex)`` and time the first and the final result (through the Session worker)."""
    arrivals: list[tuple[str, float, dict]] = []
    done = threading.Event()

    def seen(c):
        arrivals.append((c.new["stage"], time.perf_counter(), c.new))
        if c.new.get("final"):
            done.set()

    ex.observe(seen, names="result")
    start = time.perf_counter()
    change(ex)
    assert done.wait(900), "no full result within 15 minutes"
    assert ex.wait(60)
    ex.unobserve(seen, names="result")
    first_stage, first_t, _ = arrivals[0]
    full_t, full = arrivals[-1][1], arrivals[-1][2]
    return {"first_s": first_t - start, "first_stage": first_stage, "full_s": full_t - start,
            "engine_s": full["timings"]["attribution"], "payload_s": full["timings"]["payload"]}  # fmt: skip


def method_times(model, image, preprocess, labels) -> tuple[list[dict], dict]:
    """Switch to every registered method, then change SmoothGrad's σ (50 samples) and EG's seed (100)."""
    from attrwidgets.demo import photos
    from attrwidgets.registry import REGISTRY
    from attrwidgets.widgets import explore

    refs = torch.stack([p for name, p in sorted(photos().items()) if name != "chelsea"])
    ex = explore(model, image, preprocess=preprocess, labels=labels, references=refs, dispatch=_inline)
    assert ex.wait(600)
    rows = []
    for name in REGISTRY:
        if name == ex.method:
            continue
        run = _timed(ex, lambda e, n=name: setattr(e, "method", n))
        rows.append({"method": name, **run})
        print(f"  switch to {name}: {json.dumps(rows[-1])}", flush=True)
    changes = []
    for name, samples, change in (
        ("smoothgrad", 50, lambda e: setattr(e, "options", {**e.options, "sigma": 0.2})),
        ("expected_gradients", 100, lambda e: setattr(e, "options", {**e.options, "seed": 1})),
    ):
        ex.method = name
        ex.options = {**ex.options, "samples": samples}
        assert ex.wait(600)
        changes.append({"method": name, "samples": samples, **_timed(ex, change)})
        print(f"  {name} change: {json.dumps(changes[-1])}", flush=True)
    ex.method = "smoothgrad"
    ex.options = {**ex.options, "samples": 50}
    assert ex.wait(600)
    with tempfile.TemporaryDirectory() as tmp:
        html = ex.save_html(Path(tmp) / "smoothgrad.html")
        scrub = _sample_scrub(html, 4.0)
    ex.close()
    return rows + changes, scrub


def _sample_scrub(html_path: Path, seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(html_path.as_uri())
        page.wait_for_selector(".aw-root[data-view='samples'][data-drawn]:not([data-drawn='0'])", timeout=30_000)
        out = page.evaluate(SAMPLE_SCRUB_JS, [seconds])
        browser.close()
    return out


def methods_report(rows: list[dict], scrub: dict, took: float, load: tuple[float, float]) -> str:
    lines = [
        "<!-- methods -->",
        "## (e) Every registered method (issue 10)",
        "",
        f"Run with `--methods` (took {took:.0f} s): the same demo model and photo, through `Explorer` and its",
        "worker thread. A switch of `ex.method` to each method (from the one before it in the registry), then a",
        "change of SmoothGrad's σ at 50 samples and of Expected Gradients' seed at 100 samples (references: the",
        f"other demo photos). \"first\" is the first map on screen (a preview with {COARSE_SAMPLES} samples for the",
        "sampling methods), \"full\" the final one.",
        f"Load average {load[0]:.1f} at the start and {load[1]:.1f} at the end on {os.cpu_count()} cores (other",
        "sessions share the machine): compare with the load of the runs above before comparing times.",
        "",
        "| change | first map | full | engine + payload (full) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        what = f"σ change, {r['method']} ({r['samples']} samples)" if "samples" in r else f"switch to {r['method']}"
        if "samples" in r and r["method"] == "expected_gradients":
            what = f"seed change, expected_gradients ({r['samples']} samples)"
        first = f"{r['first_s']:.2f} s" + (" (preview)" if r["first_stage"] == "coarse" else "")
        lines.append(f"| {what} | {first} | {r['full_s']:.2f} s | {r['engine_s']:.2f} + {r['payload_s']:.2f} s |")
    lines += [
        "",
        f"Sample scrubbing in the static export (SmoothGrad, {scrub['frames']} running means, moved on every",
        f"animation frame): {scrub['drawn']} draws in {scrub['seconds']:.1f} s = **{scrub['fps']:.1f} fps**"
        f" (animation frames {scrub['raf_fps']:.1f}/s: the scrubber drew on every frame the browser gave the page).",
        "<!-- /methods -->",
    ]
    return "\n".join(lines) + "\n"


def main_methods(path: Path | None) -> None:
    started = time.perf_counter()
    load0 = os.getloadavg()[0]
    model, image, preprocess, labels = load_demo()
    rows, scrub = method_times(model, image, preprocess, labels)
    text = methods_report(rows, scrub, time.perf_counter() - started, (load0, os.getloadavg()[0]))
    print(text)
    if path is not None:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if "<!-- methods -->" in old:
            head, rest = old.split("<!-- methods -->", 1)
            old = head + rest.split("<!-- /methods -->\n", 1)[-1]
        path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        print(f"wrote {path}")


# -- report ----------------------------------------------------------------------------------------------
def _fmt_s(v) -> str:
    return "–" if v is None else f"{v:.2f} s"


def report(m: dict, floor: dict, kernel: dict, sizes: dict, scrub: dict, took: float) -> str:
    def med(runs, key):
        vals = [r[key] for r in runs if r[key] is not None]
        return statistics.median(vals) if vals else None

    auto, fixed = kernel["auto"], kernel["32"]
    coarse = med(auto + fixed, "coarse_s")
    full_auto, full_32 = med(auto, "full_s"), med(fixed, "full_s")
    payload_ms = 1000 * max(med(auto + fixed, "coarse_payload_s") or 0, med(auto + fixed, "full_payload_s") or 0)
    fps = scrub["warm"]["fps"]
    least = floor["fwd_bwd_1"] + floor["fwd_bwd_7"] * 6 / 7 + floor["forward_1"]
    yes = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    ok_coarse = coarse is not None and coarse <= 0.3
    ok_auto = full_auto is not None and full_auto <= 2
    ok_32 = full_32 is not None and full_32 <= 2
    mib = sizes["result_binary"] / 2**20
    kib = sizes["result_json"] / 1024
    cold = scrub["cold"]
    lines = [
        "# Explorer widget benchmark",
        "",
        "Run by hand: `.venv/bin/python benchmarks/widget_bench.py --write benchmarks/RESULTS-widget.md`",
        f'(took {took:.0f} s). Demo model EfficientNet-Lite0, photo "chelsea" at 224², CPU only.',
        "",
        "## Machine",
        "",
        f"- {m['nproc']} CPU cores ({m['cpu']}), load average at the start {m['loadavg']}, at the end "
        f"{machine()['loadavg']} (other sessions share this machine: the load is not ours alone)",
        f"- torch {m['torch']} with {m['torch_threads']} threads, Python {m['python']}, {scrub['chromium']}",
        "",
        "## Goals",
        "",
        "| what | goal | measured | |",
        "|---|---|---|---|",
        f"| α scrub frame rate, 224², static export | ≥ 60 fps | {fps:.1f} fps warm, "
        f"{scrub['cold']['fps']:.1f} fps on the first sweep | {yes(fps >= 59)} |",
        f"| baseline change → coarse result ({COARSE_STEPS} GL points) | ≤ 300 ms | {_fmt_s(coarse)} "
        f"| {yes(ok_coarse)} |",
        f"| baseline change → full result, steps='auto' (gap < 1 %) | ≤ 2 s | {_fmt_s(full_auto)} | {yes(ok_auto)} |",
        f"| baseline change → full result, steps=32 | ≤ 2 s | {_fmt_s(full_32)} | {yes(ok_32)} |",
        f"| one result update | ≤ 2 MiB | {mib:.2f} MiB binary + {kib:.1f} KiB JSON | {yes(mib <= 2)} |",
        "",
        "## (a) α scrubbing in Chromium",
        "",
        "The slider is moved on every animation frame (`input` events paced by requestAnimationFrame,",
        "sweeping 0 → 1 → 0 every 2 s) and `data-drawn` increments are counted.",
        "",
        f"- first sweep 0 → 1 (every heatmap frame normalised for the first time): {cold['drawn']} draws in "
        f"{cold['seconds']:.2f} s = {cold['fps']:.1f} fps (animation frames: {cold['raf_fps']:.1f}/s)",
        f"- warm sweeps: {scrub['warm']['drawn']} draws in {scrub['warm']['seconds']:.2f} s = {fps:.1f} fps "
        f"(animation frames: {scrub['warm']['raf_fps']:.1f}/s)",
        f"- one scrub step, input event to the next painted frame: median {scrub['frame_ms_median']:.1f} ms, "
        f"90th percentile {scrub['frame_ms_p90']:.1f} ms (bound by the display's 60 Hz frames)",
        f"- the draw itself (time inside the widget's animation-frame callback, {scrub.get('draws_timed', 0)} draws): "
        f"median {scrub.get('draw_ms_median', float('nan')):.1f} ms, 90th percentile "
        f"{scrub.get('draw_ms_p90', float('nan')):.1f} ms, worst {scrub.get('draw_ms_max', float('nan')):.1f} ms "
        "(the frame budget at 60 fps is 16.7 ms)",
        f"- heatmap frames in the export: {sizes['frames']} (α points × h × w), final attribution per channel "
        f"{sizes['final_map']} (C × h × w), image {sizes['image_shape']}",
        "",
        "## (b) Kernel time from a baseline change",
        "",
        "End to end through `Explorer` and its `Session` worker thread (as in a notebook, without the",
        "websocket): from setting `ex.baseline` to the `result` trait holding the coarse / full answer.",
        "Each stage's own time splits into the attribution (the engine: model forward and backward",
        "passes) and our payload work (frame selection, downsampling, float16 conversion, encoding).",
        "",
        "| steps | baseline | → coarse | → full | full: points / evaluations | gap "
        "| coarse: engine + payload | full: engine + payload |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for steps, runs in (("auto", auto), ("32", fixed)):
        for r in runs:
            ce = "–"
            if r["coarse_attribution_s"] is not None:
                ce = f"{r['coarse_attribution_s']:.2f} s + {1000 * r['coarse_payload_s']:.0f} ms"
            lines.append(
                f"| {steps} | {r['baseline']} | {_fmt_s(r['coarse_s'])} | {_fmt_s(r['full_s'])} | "
                f"{r['full_points']} / {r['full_evaluations']} | {100 * r['full_gap']:.2f} % | {ce} | "
                f"{r['full_attribution_s']:.2f} s + {1000 * r['full_payload_s']:.0f} ms |"
            )
    lines += [
        "",
        "What the model alone costs here (fastest of 4, after a warm-up per batch shape):",
        f"one forward {1000 * floor['forward_1']:.0f} ms; one forward + backward {1000 * floor['fwd_bwd_1']:.0f} ms;",
        f"a batch of 7 forward + backward {1000 * floor['fwd_bwd_7']:.0f} ms.",
        "",
        f"The coarse stage is {COARSE_STEPS} Gauss-Legendre points plus the engine's first pass at α = 1 and one",
        f"forward at the baseline: at least {least:.2f} s of model time on this machine, before anything of ours;",
        f"our payload work is {payload_ms:.0f} ms at most per stage: the model's time decides whether the",
        "coarse goal of 300 ms is reached on a given CPU.",
        "The engine's own overhead is the rest of the stage time (stage time minus the model floor above).",
        "",
        "'→ full' includes the coarse stage, which runs first (the progressive answer costs about its own",
        "time in the full result). Each stage also repeats the engine's first pass at α = 1; an engine-side",
        "cache of F(x) and ∇F(x) across stages (methods/, not the widget's) would save one forward and",
        "backward per stage. With steps='auto' the full result needs 40–60 points for a gap below 1 %.",
        "",
        "## (c) Bytes per update",
        "",
        f"- result: {sizes['result_binary']:,} bytes of binary buffers (float16 per-α maps "
        f"{sizes['frames']} × 2, float16 final attribution per channel {sizes['final_map']}, float32 curves, "
        f"uint8 baseline image) + {sizes['result_json']:,} bytes of JSON",
        f"- image: {sizes['image_binary']:,} bytes (uint8 {sizes['image_shape']}), sent once",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--write", type=Path, help="write the Markdown report here")
    parser.add_argument("--repeat", type=int, default=1, help="baseline-change pairs per steps setting")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of warm scrubbing")
    parser.add_argument("--methods", action="store_true", help="only the every-method section (e), into --write")
    args = parser.parse_args()
    if args.methods:
        main_methods(args.write)
        return
    started = time.perf_counter()
    m = machine()
    print("machine:", m, flush=True)
    model, image, preprocess, labels = load_demo()
    kernel, ex = kernel_times(model, image, preprocess, labels, args.repeat)
    floor = model_floor(model, image, preprocess, repeat=4)  # after: every shape is warm by now
    print("model floor:", floor, flush=True)
    sizes = payload_sizes(ex)
    print("sizes:", sizes, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        html_path = ex.save_html(Path(tmp) / "explorer.html")
        scrub = scrub_fps(html_path, args.seconds)
    ex.close()
    print("scrub:", json.dumps(scrub), flush=True)
    text = report(m, floor, kernel, sizes, scrub, time.perf_counter() - started)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
