"""Hostile inputs to every method: empty batches, zero-size features, targets beyond int64, a
one-element target tensor, and inputs whose dtype is not the model's.

Each case must end in a clear error of the right type that names the argument and what to do
(never an IndexError, ZeroDivisionError or an overflow from deep inside torch), and where the
check can be made up front, before the model ran at all.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn

import attrwidgets as aw
from tests.probes import Recorder, make_cnn

METHODS = sorted(aw.REGISTRY)
LAYERED = ("grad_cam", "guided_grad_cam")
#: Methods whose targets the engine resolves, one of each kind (gradient, path, layer, rule, bias terms).
TARGETED = ["deeplift", "fullgrad", "grad_cam", "gradient", "integrated_gradients"]


def options(name: str, model: nn.Module, x: torch.Tensor, layer: nn.Module | None = None) -> dict:
    """The options each method needs to run on ``model`` and inputs shaped like ``x`` (fast ones)."""
    if name in LAYERED:
        return {"layer": layer if layer is not None else model.features[4]}
    if name == "expected_gradients":
        shape = (4, *x.shape[1:])
        return {"references": torch.rand(shape, dtype=x.dtype), "samples": 3}
    if name == "smoothgrad":
        return {"samples": 2}
    if name == "integrated_gradients":
        return {"steps": 4}
    if name == "occlusion":
        return {"window": 4}
    return {}


def images(n: int, dtype: torch.dtype = torch.float64, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=dtype)


def run(name: str, model, x: torch.Tensor, target=None, **extra):
    return aw.REGISTRY[name].fn(model, x, target, **extra)


# -- 1. an empty batch -------------------------------------------------------------------------
@pytest.mark.parametrize("name", METHODS)
def test_empty_batch_is_a_value_error_naming_it(name: str) -> None:
    model = Recorder(make_cnn())
    x = torch.empty(0, 3, 12, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"inputs.*empty batch.*at least one input"):  # not ZeroDivisionError
        run(name, model, x, **options(name, model.model, x))
    assert model.calls == 0


# -- 2. zero-size feature axes -----------------------------------------------------------------
def zero_feature_model() -> nn.Module:
    """A model that accepts (N, 3, 0, 4) inputs: Linear(0, 5) on the flattened (N, 0) features."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: initialising a zero-element tensor is a no-op
        return nn.Sequential(nn.Flatten(), nn.Linear(0, 5)).double().eval()


@pytest.mark.parametrize("name", METHODS)
def test_zero_size_feature_axis_is_a_value_error_naming_size_0(name: str) -> None:
    inner = zero_feature_model()
    model = Recorder(inner)
    x = torch.empty(2, 3, 0, 4, dtype=torch.float64)
    assert model(x).shape == (2, 5)  # the model itself takes them
    model.calls = 0
    with pytest.raises(ValueError, match=r"inputs.*axis 2 has size 0.*no features"):  # not IndexError
        run(name, model, x, **options(name, inner, x, layer=inner[1]))
    assert model.calls == 0


# -- 3. targets beyond int64 -------------------------------------------------------------------
HUGE_TARGETS = [2**63, 2**64, -(2**63) - 1, [2**63, 0], (0, 2**64)]
_TARGET_99: dict[str, str] = {}  # per method, the message for target=99


@pytest.mark.parametrize("target", HUGE_TARGETS, ids=repr)
@pytest.mark.parametrize("name", TARGETED)
def test_target_beyond_int64_is_out_of_range_like_99(name: str, target: object) -> None:
    model = make_cnn()
    x = images(2)
    if name not in _TARGET_99:
        with pytest.raises(ValueError, match=r"out of range") as small:
            run(name, model, x, 99, **options(name, model, x))
        _TARGET_99[name] = str(small.value)
    with pytest.raises(ValueError, match=r"out of range: valid targets are 0\.\.4") as huge:  # no OverflowError
        run(name, model, x, target, **options(name, model, x))
    # the same explanation as for target=99, word for word after "out of range"
    assert str(huge.value).split("out of range", 1)[1] == _TARGET_99[name].split("out of range", 1)[1]


# -- 4. a one-element target tensor; wrong-length targets --------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")  # steps=4 on a CNN: a completeness-gap warning
@pytest.mark.parametrize("name", METHODS)
def test_one_element_target_tensor_applies_to_every_input(name: str) -> None:
    model = make_cnn()
    x = images(3)
    opts = options(name, model, x)
    by_int = run(name, model, x, 3, **opts)
    by_tensor = run(name, model, x, torch.tensor([3]), **opts)
    by_list = run(name, model, x, [3], **opts)  # a one-element list too, as the tensor
    assert by_tensor.target.tolist() == by_list.target.tolist() == [3, 3, 3]
    torch.testing.assert_close(by_tensor.values, by_int.values, rtol=0, atol=0)
    torch.testing.assert_close(by_list.values, by_int.values, rtol=0, atol=0)


@pytest.mark.parametrize("target", [[1, 2], (1, 2), torch.tensor([1, 2])], ids=["list", "tuple", "tensor"])
@pytest.mark.parametrize("name", TARGETED)
def test_wrong_length_target_states_both_counts(name: str, target: object) -> None:
    model = make_cnn()
    x = images(3)
    with pytest.raises(ValueError, match=r"got 2 targets for 3 inputs.*one per input") as error:
        run(name, model, x, target, **options(name, model, x))
    assert "got 1 target" not in str(error.value)


# -- 5. inputs in another dtype than the model's ------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", METHODS)
def test_dtype_mismatch_is_a_type_error_before_any_forward(name: str, dtype: torch.dtype) -> None:
    model = Recorder(make_cnn(dtype=torch.float32))
    x = images(2, dtype=dtype)
    opts = options(name, model.model, x)
    with pytest.raises(TypeError, match=rf"{re.escape(str(dtype))}.*torch\.float32.*convert"):
        run(name, model, x, 0, **opts)
    assert model.calls == 0


class _ToDouble(torch.nn.Module):
    """A preprocess that changes the dtype: as a ``Normalize(...).double()`` shared with a float64 model does."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.double()


@pytest.mark.parametrize("name", METHODS)
def test_preprocess_that_changes_the_dtype_is_named_in_the_error(name: str) -> None:
    model = make_cnn(dtype=torch.float32)
    x = images(2, dtype=torch.float32)
    opts = options(name, model, x)
    expected = r"preprocess returned dtype torch\.float64 but the model's parameters are torch\.float32"
    with pytest.raises(TypeError, match=expected):
        run(name, model, x, 0, preprocess=_ToDouble(), **opts)


# -- Part B: every method goes through the chunked engine ---------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")  # few steps on a CNN: a completeness-gap warning
@pytest.mark.parametrize("name", METHODS)
def test_every_method_feeds_the_model_chunks_no_larger_than_the_budget_allows(name, monkeypatch) -> None:
    # Grad-CAM, FullGrad and DeepLIFT used to send the whole batch through one forward (FullGrad on
    # 16 photos went over 1 GiB whatever memory= said). DeepLIFT feeds each input with its
    # reference, so its chunk of one point is two rows.
    monkeypatch.setattr(aw.config, "cpu_chunk", 2)
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)  # cpu_chunk points a chunk, however small
    model = Recorder(make_cnn())
    x = images(5)
    run(name, model, x, **options(name, model.model, x))
    rows_per_point = 2 if name == "deeplift" else 1
    assert model.batches[0] == rows_per_point  # the first input alone, to measure
    assert max(model.batches) <= 2 * rows_per_point, model.batches
    assert sum(model.batches) >= len(x) * rows_per_point
