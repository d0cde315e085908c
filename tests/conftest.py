"""Shared fixtures: small seeded models and the devices every device-agnostic test runs on."""

from __future__ import annotations

import pytest
import torch
from torch import nn

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class SmallCNN(nn.Module):
    """Conv-ReLU-pool-conv-ReLU-linear: small, nonlinear, with biases and BatchNorm."""

    def __init__(self, channels: int = 3, classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.head = nn.Linear(8 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def make_cnn(seed: int = 0, dtype: torch.dtype = torch.float64, device: str = "cpu", **kw: int) -> SmallCNN:
    torch.manual_seed(seed)
    model = SmallCNN(**kw).to(device=device, dtype=dtype).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        model.features[1].running_mean.uniform_(-0.2, 0.2)
        model.features[1].running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture
def cnn() -> SmallCNN:
    return make_cnn()


@pytest.fixture
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, 12, 12, generator=generator, dtype=torch.float64)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


# -- device selection: ``--device cpu`` / ``--device cuda`` (repeatable); default: every device present
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        action="append",
        choices=("cpu", "cuda"),
        default=None,
        help="run only the device-parametrised tests on this device (repeatable; default: all present)",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--device", default=None) or []
    if "cuda" in chosen and not torch.cuda.is_available():
        msg = "--device cuda: no CUDA device here (torch.cuda.is_available() is False)"
        raise pytest.UsageError(msg)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--device``, deselect the tests parametrised over another device (a ``device`` parameter)."""
    chosen = config.getoption("--device", default=None)
    if not chosen:
        return
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        device = params.get("device")
        (drop if device is not None and str(device).split(":")[0] not in chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
