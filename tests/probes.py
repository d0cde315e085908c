"""Shared test probes: one copy of each small model, wrapper and snapshot the tests use.

- :class:`SmallCNN` / :func:`make_cnn`: the seeded float64 CNN most tests explain;
  :func:`with_inplace_relus`: a copy of a model whose ReLUs work in place.
- :class:`Recorder`: wraps a model and records every forward (the batch, its size, the count),
  counts the backward passes and rows that reach its input, and can simulate an out-of-memory
  error above a batch size.
- :class:`Raising`: wraps a model and raises ``RuntimeError("boom")`` at a chosen forward.
- :func:`model_state` / :func:`assert_clean`: a snapshot of a model's state and the check that a
  method left it (hooks, training flags, ``requires_grad``, ``.grad``, parameters, buffers) as it was;
  :func:`leaves_no_trace`: both around a block, and the same check for the caller's input tensors.
- :class:`Fn`: a function as an ``nn.Module``.
- :func:`linear`, :class:`OneBigReLU`, :class:`TwoReLUs`: exact float64 layers, and the two
  functionally equivalent networks of the implementation-invariance counter-example
  (Sundararajan, Taly & Yan 2017, §2.2 and appendix B).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy

import torch
from torch import nn

__all__ = [
    "Fn",
    "OneBigReLU",
    "Raising",
    "Recorder",
    "SmallCNN",
    "TwoReLUs",
    "assert_clean",
    "leaves_no_trace",
    "linear",
    "make_cnn",
    "model_state",
    "with_inplace_relus",
]


# -- models ---------------------------------------------------------------------------------------
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


def with_inplace_relus(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in which every ``nn.ReLU`` works in place (``inplace=True``)."""
    copy = deepcopy(model)
    for module in copy.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = True
    return copy


class Fn(nn.Module):
    """A function as a module (the model of a worked example, a preprocessing step)."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def linear(weight: list[list[float]], bias: list[float] | None = None) -> nn.Linear:
    """A float64 ``nn.Linear`` with exactly these weights (and bias)."""
    w = torch.tensor(weight, dtype=torch.float64)
    layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None).double()
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    return layer


class OneBigReLU(nn.Module):
    """f(x) = ReLU(x1 − ReLU(x2) − 1): one ReLU sees x1 and x2 together."""

    def __init__(self) -> None:
        super().__init__()
        self.relu_x2 = nn.ReLU()
        self.mix = linear([[1.0, -1.0]], [-1.0])
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.mix(torch.cat([x[:, :1], self.relu_x2(x[:, 1:])], dim=1)))


class TwoReLUs(nn.Module):
    """g(x) = ReLU(ReLU(x1 − 1) − ReLU(x2)): the same function as OneBigReLU, built differently."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = linear([[1.0]], [-1.0])
        self.relu_x1 = nn.ReLU()
        self.relu_x2 = nn.ReLU()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.relu_x1(self.shift(x[:, :1])) - self.relu_x2(x[:, 1:]))


# -- wrappers -------------------------------------------------------------------------------------
class _CountBackward(torch.autograd.Function):
    """Identity whose backward counts its calls and the rows it sees on the recorder."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, recorder: Recorder) -> torch.Tensor:
        ctx.recorder = recorder
        return z.view_as(z)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        ctx.recorder.backward_calls += 1
        ctx.recorder.backward_rows += len(grad)
        return grad, None


class Recorder(nn.Module):
    """Wraps a model and records where it was evaluated, and how.

    Per forward: ``calls`` counts it, ``batches`` gets its batch size and ``seen`` a copy of its
    batch. ``backward_calls`` and ``backward_rows`` count the backward passes that reach the
    wrapped model's input and the rows they carry. With ``fail_above``, a batch of more rows
    raises a (simulated) ``torch.OutOfMemoryError`` before the model runs.
    """

    def __init__(self, model: nn.Module, fail_above: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.fail_above = fail_above
        self.calls = 0
        self.batches: list[int] = []
        self.seen: list[torch.Tensor] = []
        self.backward_calls = 0
        self.backward_rows = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.batches.append(len(z))
        if self.fail_above is not None and len(z) > self.fail_above:
            msg = "CUDA out of memory. Tried to allocate 2.00 GiB (simulated)"
            raise torch.OutOfMemoryError(msg)
        self.seen.append(z.detach().clone())
        return self.model(_CountBackward.apply(z, self))


class Raising(nn.Module):
    """Wraps a model and raises ``RuntimeError("boom")`` at forward number ``at`` (1 is the first; -1 never)."""

    def __init__(self, model: nn.Module, at: int) -> None:
        super().__init__()
        self.model, self.at, self.calls = model, at, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            msg = "boom"
            raise RuntimeError(msg)
        return self.model(z)


# -- state ----------------------------------------------------------------------------------------
def model_state(model: nn.Module) -> tuple:
    """Training flags, per parameter (requires_grad, the .grad object, a copy of its values), the state dict."""
    return (
        [m.training for m in model.modules()],
        [(p.requires_grad, p.grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def assert_clean(model: nn.Module, before: tuple) -> None:
    """No hook on any module; the state :func:`model_state` took is unchanged (``.grad``: same tensor, same values)."""
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not module._backward_pre_hooks
    after = model_state(model)
    assert after[0] == before[0]
    for (requires_grad, grad, _), (requires_grad0, grad0, values0) in zip(after[1], before[1], strict=True):
        assert requires_grad == requires_grad0
        assert grad is grad0
        assert grad0 is None or torch.equal(grad, values0)
    assert after[2].keys() == before[2].keys()
    for k, v in before[2].items():
        assert torch.equal(after[2][k], v), k


@contextmanager
def leaves_no_trace(model: nn.Module, *tensors: torch.Tensor) -> Iterator[None]:
    """Checks that the block (a method call, or a ``pytest.raises`` around one) leaves ``model`` as
    it found it (:func:`assert_clean`), and each of ``tensors`` with the same values, no ``.grad``
    and ``requires_grad`` off."""
    before = model_state(model)
    originals = [t.clone() for t in tensors]
    yield
    assert_clean(model, before)
    for t, original in zip(tensors, originals, strict=True):
        assert torch.equal(t, original)
        assert t.grad is None and not t.requires_grad
