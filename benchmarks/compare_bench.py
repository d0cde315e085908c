"""Benchmark of the compare grid (run by hand; prints a Markdown table, writes it with --write).

    .venv/bin/python benchmarks/compare_bench.py [--write benchmarks/RESULTS-compare.md]

The demo model (EfficientNet-Lite0 on the "chelsea" photo, 224², CPU), the default grid: 6
baselines × {Integrated Gradients (16 Gauss-Legendre points), Expected Gradients (16 draws)}.
End to end through :class:`attrwidgets.widgets.compare.Compare` and its Session (worker thread,
as in a notebook), measured from the call of ``compare()``: when the first column has a (coarse,
4-point) answer, when every panel has one, when the first column and then every panel is refined;
and the bytes of the largest update. Then the same grid computed once without the coarse pass
(``sync=True``: each panel once, at full level), and the model evaluations it cost.

Goals (issue 11): first column ≤ 1 s, the whole 6 × 2 grid ≤ 10 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import attrwidgets as aw
from attrwidgets.demo import imagenet_labels, imagenet_preprocess, load_efficientnet_lite0, photos
from attrwidgets.widgets._wire import payload_bytes
from attrwidgets.widgets.compare import Compare


def run_async(model, image, pre, labels) -> dict[str, float]:
    started = time.perf_counter()
    marks: dict[str, float] = {}
    largest = [0]
    done = threading.Event()

    def dispatch(callback):  # delivered on the worker thread at once: the timing of each answer
        callback()

    def seen(result):
        now = time.perf_counter() - started
        largest[0] = max(largest[0], payload_bytes(result))
        levels = {(p["row"], p["col"]): p["level"] for p in result["panels"]}
        first = [levels.get((r, 0)) for r in range(2)]
        if None not in first:
            marks.setdefault("first column, coarse", now)
        if len(levels) == 12:
            marks.setdefault("whole grid, coarse", now)
        if first == ["full", "full"]:
            marks.setdefault("first column, refined", now)
        if result.get("final"):
            marks["whole grid, refined"] = now
            done.set()

    original = Compare._on_result

    def on_result(self, generation, stage, payload, final):  # every answer, from the first one on
        original(self, generation, stage, payload, final)
        seen(self.result)

    Compare._on_result = on_result
    try:
        w = aw.compare(model, image, preprocess=pre, labels=labels, dispatch=dispatch)
        done.wait(1200)
    finally:
        Compare._on_result = original
    w.close()
    marks["largest update (bytes)"] = largest[0]
    return marks


def run_sync(model, image, pre, labels) -> dict[str, float]:
    started = time.perf_counter()
    w = aw.compare(model, image, preprocess=pre, labels=labels, sync=True)
    total = time.perf_counter() - started
    evaluations = sum(int(a.trace.evaluations) if a.trace is not None else 0 for a in w.attributions.values())
    seconds = sum(p["seconds"] for p in w.result["panels"])
    w.close()
    return {"whole grid, one pass per panel (s)": total, "in the methods (s)": seconds,
            "gradient evaluations": evaluations}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the table to this Markdown file")
    args = parser.parse_args()
    model, pre, labels = load_efficientnet_lite0(), imagenet_preprocess(), imagenet_labels()
    image = photos()["chelsea"]
    aw.gradient(model, image[None], preprocess=pre)  # warm up
    load_before = os.getloadavg()
    progressive = run_async(model, image, pre, labels)
    once = run_sync(model, image, pre, labels)
    load_after = os.getloadavg()
    lines = [
        "| measure | value |",
        "| --- | --- |",
        *[f"| {k} | {v:,.0f} |" if "bytes" in k else f"| {k} | {v:.2f} s |" for k, v in progressive.items()],
        *[f"| {k} | {v:.2f} |" if "(s)" in k else f"| {k} | {v} |" for k, v in once.items()],
    ]
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads; load average {load_before[0]:.2f} before, "
               f"{load_after[0]:.2f} after")  # fmt: skip
    table = "\n".join(lines)
    print(machine)
    print(table)
    if args.write:
        args.write.write_text(f"{machine}\n\n{table}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
