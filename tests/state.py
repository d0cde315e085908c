"""Shared test helpers: a model that raises on a chosen forward, and a snapshot of model state."""

from __future__ import annotations

import torch
from torch import nn


class Raising(nn.Module):
    def __init__(self, model: nn.Module, at: int) -> None:
        super().__init__()
        self.model, self.at, self.calls = model, at, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            msg = "boom"
            raise RuntimeError(msg)
        return self.model(z)


def model_state(model: nn.Module) -> tuple:
    return (
        [m.training for m in model.modules()],
        [(p.requires_grad, p.grad) for p in model.parameters()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def assert_clean(model: nn.Module, before: tuple) -> None:
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not module._backward_pre_hooks
    after = model_state(model)
    assert after[0] == before[0]
    assert all(a[0] == b[0] and a[1] is b[1] for a, b in zip(after[1], before[1], strict=True))
    assert all(torch.equal(after[2][k], before[2][k]) for k in before[2])
