"""Click-to-pick timing (issue 11): from ``Explorer.pick`` (what a click on the input sends) to the
first and the full new map, on the demo model. Run by hand; prints one line per pick.

    .venv/bin/python benchmarks/pick_bench.py
"""

from __future__ import annotations

import os
import time

import torch

import attrwidgets as aw
from attrwidgets.demo import imagenet_preprocess, load_efficientnet_lite0, photos


def main() -> None:
    torch.set_num_threads(2)
    model, pre = load_efficientnet_lite0(), imagenet_preprocess()
    ex = aw.explore(model, photos()["chelsea"], preprocess=pre, dispatch=lambda cb: cb())
    ex.wait(300)
    print(f"load average {os.getloadavg()[0]:.2f}; steps={ex.steps!r}")
    for trial, x in enumerate((0.3, 0.5, 0.7)):
        marks: list[tuple[str, float]] = []
        t0 = time.perf_counter()

        def seen(change, marks=marks, t0=t0) -> None:
            marks.append((change.new["stage"], time.perf_counter() - t0))

        ex.observe(seen, names="result")
        ex.pick(x, 0.5)
        ex.wait(300)
        ex.unobserve(seen, names="result")
        text = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in marks)
        print(f"pick {trial} (x={x}, segment {ex.picked['segment']}): {text}")
    ex.close()


if __name__ == "__main__":
    main()
