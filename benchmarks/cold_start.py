"""Cold start of the explorer (issue 10): in a fresh process, from ``explore()`` to the first and the
full map, on the demo model (imports and model loading timed apart). Run by hand, once per process:

    .venv/bin/python benchmarks/cold_start.py
"""

from __future__ import annotations

import os
import time

started = time.perf_counter()

import torch  # noqa: E402 - timed with the imports below

import attrwidgets as aw  # noqa: E402
from attrwidgets.demo import imagenet_labels, imagenet_preprocess, load_efficientnet_lite0, photos  # noqa: E402


def main() -> None:
    torch.set_num_threads(2)
    model, pre, labels = load_efficientnet_lite0(), imagenet_preprocess(), imagenet_labels()
    image = photos()["chelsea"]
    t0 = time.perf_counter()
    marks: list[tuple[str, float]] = []
    ex = aw.explore(model, image, preprocess=pre, labels=labels, dispatch=lambda cb: cb())
    returned = time.perf_counter() - t0
    ex.observe(lambda c: marks.append((c.new["stage"], time.perf_counter() - t0)), names="result")
    ex.wait(300)
    text = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in marks)
    print(f"load {os.getloadavg()[0]:.2f}; imports and model {t0 - started:.2f} s; explore() returned in "
          f"{returned:.2f} s; then {text}")  # fmt: skip
    ex.close()


if __name__ == "__main__":
    main()
