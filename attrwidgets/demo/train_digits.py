"""Train the demo :class:`~attrwidgets.demo.models.DigitsCNN` and save its weights.

Run ``python -m attrwidgets.demo.train_digits`` (about 10 s on two CPU cores). It trains on the
training split of :func:`~attrwidgets.demo.data.digits_data` with a fixed seed, prints the test
accuracy and writes ``attrwidgets/demo/digits_cnn.pt`` (a state dict).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from attrwidgets.demo.data import DIGITS_WEIGHTS, digits_data
from attrwidgets.demo.models import DigitsCNN
from attrwidgets.evaluate import train_epochs

__all__ = ["accuracy", "train"]

SEED = 0xD161


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose top-1 prediction equals ``labels``."""
    with torch.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item()


def train(*, epochs: int = 20, batch_size: int = 32, lr: float = 3e-3, seed: int = SEED) -> DigitsCNN:
    """Train a :class:`DigitsCNN` with Adam on the digits training split; returns it in eval mode.

    Parameters
    ----------
    epochs : int
        Passes over the 1347 training images. Default 20.
    batch_size : int
        Default 32.
    lr : float
        Adam learning rate. Default 3e-3.
    seed : int
        Seeds the initialisation and the shuffling (deterministic algorithms are switched on
        while training and restored afterwards).
    """
    images, labels = digits_data("train")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        model = DigitsCNN()
        train_epochs(model, images, labels, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: train, report and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DIGITS_WEIGHTS, help="where to write the state dict")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    model = train(epochs=args.epochs)
    seconds = time.perf_counter() - start
    test_acc = accuracy(model, *digits_data("test"))
    train_acc = accuracy(model, *digits_data("train"))
    torch.save(model.state_dict(), args.out)
    size_kb = args.out.stat().st_size / 1024
    print(f"trained in {seconds:.1f} s: train accuracy {train_acc:.4f}, test accuracy {test_acc:.4f}")
    print(f"saved {args.out} ({size_kb:.0f} KB)")


if __name__ == "__main__":
    main()
