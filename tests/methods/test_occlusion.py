"""Occlusion: a slow reference written from the definition, Captum's Occlusion, forward passes only."""

from __future__ import annotations

import math

import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from attrwidgets.methods import occlusion
from attrwidgets.registry import REGISTRY
from tests.conftest import DEVICES
from tests.probes import Raising, Recorder, leaves_no_trace, make_cnn


def make_images(n: int = 3, size: tuple[int, int] = (12, 12), device: str = "cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, *size, generator=generator, dtype=torch.float64).to(device)


def slow_occlusion(model: nn.Module, x: torch.Tensor, target: int, window, stride, baseline: float = 0.0):
    """The definition, written out: for each window start, the score drop, averaged per pixel."""
    _, _, h, w = x.shape

    def starts(size: int, win: int, step: int) -> list[int]:
        out = list(range(0, size - win + 1, step))
        if out[-1] + win < size:  # one more window, cut at the edge, so the far edge is covered
            out.append(out[-1] + step)
        return out

    total = torch.zeros_like(x)
    count = torch.zeros_like(x)
    with torch.no_grad():
        clean = model(x)[:, target]
        for top in starts(h, window[0], stride[0]):
            for left in starts(w, window[1], stride[1]):
                occluded = x.clone()
                occluded[:, :, top : top + window[0], left : left + window[1]] = baseline
                drop = clean - model(occluded)[:, target]
                total[:, :, top : top + window[0], left : left + window[1]] += drop.view(-1, 1, 1, 1)
                count[:, :, top : top + window[0], left : left + window[1]] += 1
    return total / count


@pytest.mark.parametrize(
    ("window", "stride"),
    [((4, 4), (2, 2)), ((5, 3), (3, 2)), ((3, 3), (3, 3)), ((1, 1), (1, 1)), ((10, 9), (5, 5)), ((7, 9), (2, 1))],
)
def test_matches_the_definition(window, stride) -> None:
    model, x = make_cnn(), make_images(n=2, size=(10, 9))  # odd sizes: windows cut at the far edge
    attr = occlusion(model, x, 2, window=window, stride=stride)
    expected = slow_occlusion(model, x, 2, window, stride)
    torch.testing.assert_close(attr.values, expected, rtol=1e-10, atol=1e-12)
    assert attr.method == "occlusion"
    assert attr.params["window"] == window
    assert attr.params["stride"] == stride
    counts = tuple(math.ceil((d - w) / s) + 1 for d, w, s in zip((10, 9), window, stride, strict=True))
    assert attr.parts["score_drop"].shape == (2, *counts)


@pytest.mark.parametrize(("window", "stride"), [((4, 4), (2, 2)), ((5, 3), (3, 2)), ((6, 6), (4, 4))])
def test_matches_captum_occlusion(window, stride) -> None:
    model, x = make_cnn(dtype=torch.float32), make_images().float()
    attr = occlusion(model, x, 1, window=window, stride=stride)
    theirs = Occlusion(model).attribute(
        x, target=1, sliding_window_shapes=(3, *window), strides=(3, *stride), baselines=0
    )
    torch.testing.assert_close(attr.values, theirs, rtol=1e-5, atol=1e-6)
    assert attr.values.abs().max() > 1e-3  # not a trivially zero comparison


def test_window_over_the_whole_input_gives_the_baseline_drop() -> None:
    model, x = make_cnn(), make_images()
    attr = occlusion(model, x, 0, window=(12, 12), stride=1, baseline=0.25)
    with torch.no_grad():
        drop = model(x)[:, 0] - model(torch.full_like(x, 0.25))[:, 0]
    torch.testing.assert_close(attr.values, drop.view(-1, 1, 1, 1).expand_as(x))
    torch.testing.assert_close(attr.parts["score_drop"], drop.view(-1, 1, 1))
    torch.testing.assert_close(attr.score, model(x)[:, 0].detach())


def test_linear_model_on_flat_and_token_inputs() -> None:
    # F(x) = w·x + b with baseline 0: a window's drop is Σ_{i in window} w_i x_i
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(2, 10, generator=generator, dtype=torch.float64)
    lin = nn.Linear(10, 1).double()
    attr = occlusion(lin, x, window=3, stride=3)  # windows [0,3) [3,6) [6,9) [9,10)
    contrib = (lin.weight[0] * x).detach()
    expected = torch.cat(
        [contrib[:, s : s + 3].sum(1, keepdim=True).expand(-1, min(3, 10 - s)) for s in (0, 3, 6, 9)], 1
    )
    torch.testing.assert_close(attr.values, expected)

    tokens = torch.rand(2, 6, 4, generator=generator, dtype=torch.float64)  # (N, T, E): slides over T
    model = nn.Sequential(nn.Flatten(), nn.Linear(24, 3)).double()
    attr = occlusion(model, tokens, 1, window=2, stride=2)
    per_token = (model[1].weight[1].view(6, 4) * tokens).sum(-1).detach()  # (N, T)
    pairs = per_token.view(2, 3, 2).sum(-1).repeat_interleave(2, dim=1)
    torch.testing.assert_close(attr.values, pairs.unsqueeze(-1).expand_as(tokens))


def test_forward_passes_only_and_chunking_does_not_change_the_result() -> None:
    wrapped, x = Recorder(make_cnn()), make_images()
    big = occlusion(wrapped, x, 3, window=4, stride=2)
    calls_big = wrapped.calls
    small = occlusion(wrapped, x, 3, window=4, stride=2, memory=1)  # one occluded copy per forward
    assert wrapped.calls - calls_big == 3 + 3 * 25  # the clean forward of each input, then one per copy
    torch.testing.assert_close(small.values, big.values, rtol=1e-12, atol=1e-14)
    assert wrapped.backward_rows == 0  # no backward pass at all


def test_batch_of_one_agrees_with_batch_of_n() -> None:
    model, x = make_cnn(), make_images()
    batch = occlusion(model, x, [0, 1, 2], window=(5, 4), stride=(2, 3))
    for i in range(len(x)):
        one = occlusion(model, x[i : i + 1], i, window=(5, 4), stride=(2, 3))
        torch.testing.assert_close(one.values[0], batch.values[i], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_device_and_dtype(device: str) -> None:
    model, x = make_cnn(device=device, dtype=torch.float32), make_images(device=device).float()
    attr = occlusion(model, x, window=4, stride=2)
    assert attr.values.device.type == device
    assert attr.values.dtype == torch.float32
    assert attr.values.shape == x.shape
    assert torch.isfinite(attr.values).all()


def test_progress_and_blur_baseline() -> None:
    seen: list[tuple[int, int]] = []
    model, x = make_cnn(), make_images(n=1)
    attr = occlusion(model, x, window=6, stride=3, baseline="blur", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9, 9)
    assert attr.params["baseline"] == "blur(sigma=10.0)"


@pytest.mark.parametrize(
    ("window", "stride", "error", "words"),
    [
        ((13, 4), (2, 2), ValueError, "larger than the inputs' spatial size"),
        ((0, 4), (2, 2), ValueError, "at least 1"),
        ((4, 4), (-1, 2), ValueError, "at least 1"),
        ((4, 4), (5, 2), ValueError, "stride=(5, 2) is larger than window=(4, 4)"),
        ((3, 4, 4), (2, 2), ValueError, "one size per spatial axis"),
        (2.5, 2, TypeError, "positive int"),
        ((4, 4), "2", TypeError, "positive int"),
    ],
)
def test_bad_window_raises(window, stride, error, words) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        occlusion(make_cnn(), make_images(), window=window, stride=stride)


def test_bad_target_raises_after_one_forward() -> None:
    with pytest.raises(ValueError, match=r"valid targets are 0\.\.4"):
        occlusion(make_cnn(), make_images(), 7, window=4, stride=4)


@pytest.mark.parametrize("case", ["normal", "bad_target", "raising"])
def test_hooks_gone_and_state_restored(case: str) -> None:
    inner = make_cnn().train()  # a train-mode model: put back in train mode afterwards
    inner.head.weight.requires_grad_(False)
    model = Raising(inner, at=3 if case == "raising" else -1)
    x = make_images()
    with leaves_no_trace(model, x):
        if case == "normal":
            attr = occlusion(model, x, window=4, stride=4)
            assert torch.isfinite(attr.values).all()
        else:
            with pytest.raises((ValueError, RuntimeError), match="boom" if case == "raising" else "valid targets"):
                occlusion(model, x, 9 if case == "bad_target" else None, window=4, stride=4, memory=1)


def test_registered() -> None:
    entry = REGISTRY["occlusion"]
    assert entry.fn is occlusion
    assert {c.name for c in entry.controls} <= entry.options
