"""Shared fixtures: small seeded models and the devices every device-agnostic test runs on."""

from __future__ import annotations

import pytest
import torch

from tests.probes import SmallCNN, make_cnn  # the models live in tests/probes.py

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


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
