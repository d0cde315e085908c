"""Integrated Gradients on a worker thread beside the main thread's OpenMP pool, and after it is freed (run by hand).

    .venv/bin/python benchmarks/openmp_pools.py [--rounds 4]

The widgets compute on a worker thread while the kernel's main thread has an OpenMP pool of its
own (from loading the model). One process, the demo model and photo, IG with 32 steps, two torch
threads; each round times, in this order: the call on the main thread; on the worker thread with
the main thread's pool alive; on the worker thread after ``release_pool()`` on the main thread;
then on the main thread again after the worker freed its pool. Medians over the rounds after the
first (the first warms each thread's heap). See ``attrwidgets/_omp.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import attrwidgets as aw
from attrwidgets._omp import release_pool
from attrwidgets.demo import imagenet_preprocess, load_efficientnet_lite0, photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    model, pre, x = load_efficientnet_lite0().eval(), imagenet_preprocess(), photos()["chelsea"][None]

    def call() -> float:
        start = time.perf_counter()
        aw.integrated_gradients(model, x, preprocess=pre, steps=32)
        return time.perf_counter() - start

    jobs: list = []
    results: list = []
    wake, done = threading.Condition(), threading.Semaphore(0)

    def worker() -> None:  # one persistent thread, as a widget session's
        while True:
            with wake:
                while not jobs:
                    wake.wait()
                job = jobs.pop()
            if job is None:
                return
            results.append(job())
            done.release()

    def on_worker(job) -> float:
        with wake:
            jobs.append(job)
            wake.notify()
        done.acquire()
        return results.pop()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    times: dict[str, list[float]] = {"main": [], "worker beside the main pool": [], "worker, main pool freed": [],
                                     "main, worker pool freed": []}  # fmt: skip
    for _ in range(args.rounds + 1):
        call()  # the main thread's pool lives
        times["main"].append(call())
        times["worker beside the main pool"].append(on_worker(call))
        release_pool()
        times["worker, main pool freed"].append(on_worker(call))
        on_worker(release_pool)
        times["main, worker pool freed"].append(call())
    on_worker(lambda: None)
    with wake:
        jobs.append(None)
        wake.notify()
    main_median = statistics.median(times["main"][1:])
    print(f"IG, 32 steps, demo photo, 2 threads, {args.rounds} rounds; load {os.getloadavg()[0]:.2f}")
    print("| where | median s | min–max | ÷ main |\n|---|---|---|---|")
    for name, values in times.items():
        kept = values[1:]
        median = statistics.median(kept)
        print(f"| {name} | {median:.2f} | {min(kept):.2f}–{max(kept):.2f} | {median / main_median:.2f} |")


if __name__ == "__main__":
    main()
