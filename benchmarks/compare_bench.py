"""Benchmark of the compare grid (run by hand; prints a Markdown table, writes it with --write).

    .venv/bin/python benchmarks/compare_bench.py [--write benchmarks/RESULTS-compare.md]

The demo model (EfficientNet-Lite0 on the "chelsea" photo, 224², CPU), the default grid: 6
baselines × {Integrated Gradients (16 Gauss-Legendre points), Expected Gradients (16 draws)}.
End to end through :class:`attrwidgets.widgets.compare.Compare` and its Session (worker thread,
as in a notebook), measured from the call of ``compare()``: when the first column has a (coarse,
4-point) answer, when every panel has one, when the first column and then every panel is refined;
and the bytes of the largest update. Then the same grid computed once without the coarse pass
(``sync=True``: each panel once, at full level), and the model evaluations it cost.

Each measure is taken with the grid's schedule ("after": the quick answers of the first column
and of Expected Gradients, whose full answers keep those draws; one pass at the input for the
grid) and with the schedule it replaced ("before": every panel's quick answer first, thrown away
when the panel is refined, each panel its own pass at the input), alternately in one process
(``--repeat`` rounds), so the ratio compares runs under the same load; the load average is
printed with each run (the machine is shared).

Goals (issue 11): first column ≤ 1 s, the whole 6 × 2 grid ≤ 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import attrwidgets as aw
from attrwidgets.demo import imagenet_labels, imagenet_preprocess, load_efficientnet_lite0, photos
from attrwidgets.widgets import _compare
from attrwidgets.widgets._wire import payload_bytes
from attrwidgets.widgets.compare import Compare


def _before_plan(self) -> list[tuple[str, int]]:
    """The schedule before: every panel's quick answer, then every panel full from scratch."""
    pays = any(self.quick(_compare.PanelSpec(0, 0, 0, s.method, None)) for s in self.specs)  # column 0: cheaper
    levels = ["coarse", "full"] if pays else ["full"]
    return [(level, i) for level in levels for i in range(len(self.specs))]


@contextlib.contextmanager
def schedule(name: str):
    """The grid's schedule ("after") or the one it replaced ("before")."""
    if name == "after":
        yield
        return
    saved = (_compare.Grid.plan, _compare.RESUMES, _compare.TAKES_PASS)
    _compare.Grid.plan, _compare.RESUMES, _compare.TAKES_PASS = _before_plan, {}, {}
    try:
        yield
    finally:
        _compare.Grid.plan, _compare.RESUMES, _compare.TAKES_PASS = saved


@contextlib.contextmanager
def counting(model):
    """Rows the model is run on: with a gradient (its input requires one) and forward only."""
    rows = {"gradient": 0, "forward": 0}

    def seen(module, args):
        rows["gradient" if args[0].requires_grad and torch.is_grad_enabled() else "forward"] += len(args[0])

    handle = model.register_forward_pre_hook(seen)
    try:
        yield rows
    finally:
        handle.remove()


def run_async(model, image, pre, labels) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    marks: dict[str, float] = {}
    largest = [0]
    done = threading.Event()
    rows: dict[str, int] = {}

    def dispatch(callback):  # delivered on the worker thread at once: the timing of each answer
        callback()

    def seen(result):
        now = time.perf_counter() - started
        largest[0] = max(largest[0], payload_bytes(result))
        levels = {(p["row"], p["col"]): p["level"] for p in result["panels"]}
        first = [levels.get((r, 0)) for r in range(2)]
        if None not in first:
            marks.setdefault("first column, coarse", now)
            marks.setdefault("first column, CPU time of the process (s)", time.process_time() - cpu)
            marks.setdefault("first column, model rows with a gradient", rows["gradient"])
        if len(levels) == 12:
            marks.setdefault("every panel shown", now)
        if first == ["full", "full"]:
            marks.setdefault("first column, refined", now)
        if result.get("final"):
            marks["whole grid, refined"] = now
            marks["whole grid, CPU time of the process (s)"] = time.process_time() - cpu  # all its threads
            done.set()

    original = Compare._on_result

    def on_result(self, generation, stage, payload, final):  # every answer, from the first one on
        original(self, generation, stage, payload, final)
        seen(self.result)

    Compare._on_result = on_result
    try:
        with counting(model) as counted:
            rows = counted  # read by seen() as the answers arrive
            w = aw.compare(model, image, preprocess=pre, labels=labels, dispatch=dispatch)
            done.wait(1200)
    finally:
        Compare._on_result = original
    w.close()
    marks["largest update (bytes)"] = largest[0]
    marks["model rows with a gradient, all stages"] = rows["gradient"]
    marks["model rows forward only, all stages"] = rows["forward"]
    return marks


def run_sync(model, image, pre, labels) -> dict[str, float]:
    """The grid with each panel computed once (``sync=True``), on a thread of its own as the
    widget's worker: on this shared machine a loaded CPU made torch's two threads on the main
    thread five times slower than on another thread (IG, 16 points: 20 s against 4 s, load 5.7)."""
    out: dict[str, float] = {}

    def job() -> None:
        started = time.perf_counter()
        w = aw.compare(model, image, preprocess=pre, labels=labels, sync=True)
        total = time.perf_counter() - started
        evaluations = sum(int(a.trace.evaluations) if a.trace is not None else 0 for a in w.attributions.values())
        seconds = sum(p["seconds"] for p in w.result["panels"])
        w.close()
        out.update({"whole grid, one pass per panel (s)": total, "in the methods (s)": seconds,
                    "gradient evaluations": evaluations})  # fmt: skip

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the table to this Markdown file")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of (before, after); default 2")
    parser.add_argument("--only", choices=("before", "after"), help="one schedule alone")
    parser.add_argument(
        "--batchnorm", choices=("folded", "package", "both"), default="folded",
        help="the demo model's BatchNorms folded into its convolutions (the default, as the demo loads it), "
             "as the package builds them, or both alternately (then give --only)",
    )  # fmt: skip
    args = parser.parse_args()
    schedules = (args.only,) if args.only else ("before", "after")
    norms = ("folded", "package") if args.batchnorm == "both" else (args.batchnorm,)
    if len(schedules) * len(norms) > 2:
        parser.error("--batchnorm both compares two models: give --only before or --only after")
    variants = [(s, n) for s in schedules for n in norms]
    label = {v: (v[0] if len(norms) == 1 else f"BatchNorm {v[1]}") for v in variants}
    models = {n: load_efficientnet_lite0(fold_batchnorm=n == "folded") for n in norms}
    pre, labels = imagenet_preprocess(), imagenet_labels()
    image = photos()["chelsea"]
    for model in models.values():
        aw.gradient(model, image[None], preprocess=pre)  # warm up
    runs: dict[tuple[str, str], list[dict[str, float]]] = {v: [] for v in variants}
    loads = []
    for _ in range(args.repeat):
        for variant in variants:
            model = models[variant[1]]
            load = os.getloadavg()[0]
            with schedule(variant[0]):
                marks = run_async(model, image, pre, labels) | run_sync(model, image, pre, labels)
            loads.append(load)
            runs[variant].append(marks)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in marks.items())
            print(f"{label[variant]} (load {load:.2f}): {shown}", flush=True)

    def cell(key: str, value: float) -> str:
        if "bytes" in key or "evaluations" in key or "rows" in key:
            return f"{value:,.0f}"
        return f"{value:.2f}" + ("" if "(s)" in key else " s")

    if len(variants) == 1:
        (only,) = variants
        lines = [f"| measure | {label[only]}, median | all runs |", "| --- | --- | --- |"]
        for key in runs[only][0]:
            values = [r[key] for r in runs[only]]
            every = ", ".join(cell(key, v) for v in values)
            lines.append(f"| {key} | {cell(key, statistics.median(values))} | {every} |")
    else:
        first, second = variants if len(norms) == 1 else variants[::-1]  # the ratio: after ÷ before, folded ÷ package
        lines = [f"| measure | {label[first]} | {label[second]} | ratio |", "| --- | --- | --- | --- |"]
        for key in runs[first][0]:
            a = statistics.median(r[key] for r in runs[first])
            b = statistics.median(r[key] for r in runs[second])
            lines.append(f"| {key} | {cell(key, a)} | {cell(key, b)} | {b / a:.2f} |")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads; {args.repeat} rounds of "
               f"({', '.join(label[v] for v in variants)}), medians; BatchNorm {args.batchnorm}; load average "
               f"{min(loads):.2f}–{max(loads):.2f} at the runs' starts")  # fmt: skip
    table = "\n".join(lines)
    print(machine)
    print(table)
    if args.write:
        args.write.write_text(f"{machine}\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
