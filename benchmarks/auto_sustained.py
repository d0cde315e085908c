"""Does a uniform rule stay under a 1 % completeness gap once it first dips below it? (astronaut photo)

Run by hand: ``.venv/bin/python benchmarks/auto_sustained.py``. The "first hit" of a uniform rule
(benchmarks/run.py, section 3) can be a lucky dip; this evaluates the rest of the grid from there
for the one photo where the first hit alone would not show steps="auto" at ≤ ½ of the best rule.
Results: benchmarks/RESULTS-auto-sustained.md.
"""

from __future__ import annotations

import warnings

import torch

import attrwidgets as aw
from attrwidgets.demo import imagenet_preprocess, load_efficientnet_lite0, photos

GRID = {
    "riemann_middle": [96, 128, 192, 256, 384, 512],
    "riemann_trapezoid": [128, 192, 256, 384, 512],
    "gausslegendre": [512],
}


def main() -> None:
    warnings.simplefilter("ignore")  # the gaps are what we print
    torch.set_num_threads(2)
    model, preprocess = load_efficientnet_lite0(), imagenet_preprocess()
    x = photos()["astronaut"][None]
    auto = aw.integrated_gradients(model, x, preprocess=preprocess, trace=False)
    print(f"auto: {auto.trace.evaluations} evaluations, gap {float(auto.relative_delta):.2%}")
    for rule, grid in GRID.items():
        for steps in grid:
            attr = aw.integrated_gradients(model, x, preprocess=preprocess, steps=steps, rule=rule, trace=False)
            print(f"{rule:<18} {steps:>4} steps  gap {float(attr.relative_delta):.2%}", flush=True)


if __name__ == "__main__":
    main()
