"""Small seeded models and images for the widget tests (no browser, no pretrained weights)."""

from __future__ import annotations

import collections
import threading

import pytest
import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two convolutions and a linear head, seeded; ``fail`` makes the forward raise (error tests)."""

    def __init__(self, channels: int = 3, classes: int = 6) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16, classes),
        )
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail:
            msg = "the model broke on purpose"
            raise RuntimeError(msg)
        return self.body(x)


@pytest.fixture
def model() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 20, 24, generator=generator)


class QueueDispatch:
    """Stands in for the kernel's IO loop: callbacks wait in a queue until the test runs them."""

    def __init__(self) -> None:
        self.queue: collections.deque = collections.deque()

    def __call__(self, callback) -> None:
        self.queue.append(callback)

    def pump(self) -> int:
        count = 0
        while self.queue:
            self.queue.popleft()()
            count += 1
        return count


@pytest.fixture
def dispatch() -> QueueDispatch:
    return QueueDispatch()


class Gate(nn.Module):
    """Wraps a model: off the main thread (in the explorer's worker) its forward waits for ``release``.

    ``entered`` is set once the worker is inside a computation, so a test can act on the main
    thread while the worker is provably busy, with no sleeps.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if threading.current_thread() is not threading.main_thread():
            self.entered.set()
            if not self.release.wait(60):
                msg = "the test never released the gate"
                raise RuntimeError(msg)
        return self.inner(x)


@pytest.fixture
def gate(model):
    g = Gate(model).eval()
    yield g
    g.release.set()  # a failed test must not leave a worker waiting
