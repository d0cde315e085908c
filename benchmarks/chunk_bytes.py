"""CPU chunks sized by bytes for images too (run by hand): IG in chunks of ten against ``cpu_chunk_bytes``.

    .venv/bin/python benchmarks/chunk_bytes.py [--rounds 3]

Integrated Gradients (32 Gauss-Legendre points, two inputs, no trace) on the demo digits CNN at
28² and on ResNet-18 (random weights: the speed does not depend on them) at 64², 112² and 224²,
once with ``cpu_chunk_bytes = 0`` (every chunk ``cpu_chunk`` = 10 points, how images were chunked
before) and once with the default (as many points as 256 MiB of their measured cost holds, at
least ten). Rounds alternate the two; the fastest of each is printed with the chunk size the
bytes rule chose. Quoted in ``attrwidgets/config.py`` (``cpu_chunk_bytes``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import attrwidgets as aw
from attrwidgets.demo.models import DigitsCNN
from attrwidgets.methods._engine import Budget, first_pass
from attrwidgets.model import Explained

warnings.filterwarnings("ignore", message=".*completeness gap.*")


def timed(model, x, chunk_bytes: int) -> float:
    old = aw.config.cpu_chunk_bytes
    aw.config.cpu_chunk_bytes = chunk_bytes
    try:
        t0 = time.perf_counter()
        aw.integrated_gradients(model, x, target=0, steps=32, rule="gausslegendre", trace=False)
        return time.perf_counter() - t0
    finally:
        aw.config.cpu_chunk_bytes = old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    default = aw.config.cpu_chunk_bytes
    print(f"load at start {os.getloadavg()}")
    print("| model, image | a point | bytes rule's chunk | chunks of ten (s) | by bytes (s) | speed-up |")
    print("|---|---|---|---|---|---|")
    cases = [("digits CNN", DigitsCNN().eval(), 1, 28)] + [
        ("ResNet-18", torchvision.models.resnet18().eval(), 3, size) for size in (64, 112, 224)
    ]
    for name, model, channels, size in cases:
        x = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(0))
        per_point = first_pass(Explained(model, x), x, 0).per_point
        chunk = Budget(aw.config.memory, torch.device("cpu"), per_point).chunk(64)
        timed(model, x, default)  # warm-up of both shapes
        timed(model, x, 0)
        ten, by_bytes = [], []
        for _ in range(args.rounds):
            ten.append(timed(model, x, 0))
            by_bytes.append(timed(model, x, default))
        print(f"| {name}, {size}² | {per_point / 2**20:.2f} MiB | {chunk} | {min(ten):.3f} | {min(by_bytes):.3f} | "
              f"{min(ten) / min(by_bytes):.2f}× |", flush=True)  # fmt: skip
    print(f"load at end {os.getloadavg()}; {os.cpu_count()} cores, torch {torch.__version__}")


if __name__ == "__main__":
    main()
