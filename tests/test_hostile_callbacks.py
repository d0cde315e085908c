"""Hostile options and callbacks: a progress that is not callable, base_options that are not a dict
or ask for hours of work, and the user's own exceptions (from the model, a baseline callable, a
progress callback), which must reach the caller unchanged.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attrwidgets as aw
from tests.probes import Recorder, make_cnn
from tests.test_hostile_inputs import images, options  # the inputs, and what each method needs

METHODS = sorted(aw.REGISTRY)
PROGRESS = ["expected_gradients", "integrated_gradients", "occlusion", "smoothgrad"]


# -- 16. progress and base_options checked before any forward ------------------------------------
@pytest.mark.parametrize("name", PROGRESS)
def test_progress_that_is_not_callable_is_a_type_error_before_any_forward(name: str) -> None:
    model = Recorder(make_cnn())
    x = images(2)
    with pytest.raises(TypeError, match=r"progress must be a callable.*not str"):
        aw.REGISTRY[name].fn(model, x, 0, progress="x", **options(name, model.model, x))
    assert model.calls == 0


@pytest.mark.parametrize("base_options", [3, "steps=3"], ids=repr)
def test_base_options_that_are_not_a_dict_are_a_type_error(base_options: object) -> None:
    model = Recorder(make_cnn())
    with pytest.raises(TypeError, match=r"base_options must be a dict.*steps"):
        aw.smoothgrad(model, images(2), 0, samples=2, base="integrated_gradients", base_options=base_options)
    assert model.calls == 0


def test_base_options_beyond_the_step_limit_fail_before_any_forward() -> None:
    model = Recorder(make_cnn())
    with pytest.raises(ValueError, match=r"steps=1000000000 .*limit of 4096"):
        aw.smoothgrad(model, images(2), 0, samples=2, base="integrated_gradients", base_options={"steps": 10**9})
    assert model.calls == 0


# -- the user's own exceptions pass through unchanged ---------------------------------------------
class MyError(Exception):
    """Not a RuntimeError: nothing in the engine catches it."""


class MyRuntimeError(RuntimeError):
    """A RuntimeError whose text looks like a memory-layout complaint: the engine may retry the
    chunk in contiguous memory once, but must then let it through as it is."""

    def __init__(self) -> None:
        super().__init__("my model refuses this stride (not contiguous)")


class Failing(nn.Module):
    """A SmallCNN that raises ``error`` at forward number ``at``."""

    def __init__(self, error: type[Exception], at: int) -> None:
        super().__init__()
        self.model, self.error, self.at, self.calls = make_cnn(), error, at, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls >= self.at:
            raise self.error()
        return self.model(z)


@pytest.mark.parametrize("at", [1, 2])
@pytest.mark.parametrize("error", [MyError, MyRuntimeError])
@pytest.mark.parametrize("name", METHODS)
def test_the_models_own_exception_reaches_the_caller(name: str, error: type[Exception], at: int) -> None:
    model = Failing(error, at)
    x = images(3)
    with pytest.raises(error) as raised:
        aw.REGISTRY[name].fn(model, x, 0, **options(name, model.model, x))
    assert type(raised.value) is error


@pytest.mark.parametrize("name", ["deeplift", "integrated_gradients", "occlusion", "smoothgrad"])
def test_a_baseline_callables_exception_reaches_the_caller(name: str) -> None:
    def baseline(inputs: torch.Tensor) -> torch.Tensor:
        raise MyError

    model = make_cnn()
    x = images(2)
    opts = {"baseline": baseline} if name != "smoothgrad" else {
        "samples": 2, "base": "integrated_gradients", "base_options": {"baseline": baseline, "steps": 4}}  # fmt: skip
    if name == "integrated_gradients":
        opts["steps"] = 4
    if name == "occlusion":
        opts["window"] = 4
    with pytest.raises(MyError) as raised:
        aw.REGISTRY[name].fn(model, x, 0, **opts)
    assert type(raised.value) is MyError


@pytest.mark.parametrize("name", PROGRESS)
def test_a_progress_callbacks_exception_reaches_the_caller(name: str) -> None:
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        raise MyError

    model = make_cnn()
    x = images(2)
    with pytest.raises(MyError) as raised:
        aw.REGISTRY[name].fn(model, x, 0, progress=progress, **options(name, model, x))
    assert type(raised.value) is MyError
    assert len(seen) == 1  # cancelled at the first report
