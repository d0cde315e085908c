"""forward_kwargs=: per-example tensors travel with their input through every chunk, for every method."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.registry import REGISTRY


class MaskedCNN(nn.Module):
    """Two conv-ReLU blocks, then a mean over the unmasked positions only: ``forward(x, mask, scale=1.0)``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.head = nn.Linear(5, 3)
        self.double()

    def forward(self, x: torch.Tensor, mask: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        m = mask.to(h.dtype).unsqueeze(1)
        return scale * self.head((h * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1.0))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 3, 8, 8, generator=g, dtype=torch.float64)
    mask = torch.zeros(3, 8, 8, dtype=torch.long)
    mask[0, :4] = 1
    mask[1, :, 2:] = 1
    mask[2] = 1
    return x, mask


def options(name: str) -> dict:
    return {
        "integrated_gradients": {"steps": 6},
        "expected_gradients": {"references": torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(6),
                                                        dtype=torch.float64), "samples": 6},
        "smoothgrad": {"samples": 4},
        "occlusion": {"window": 4, "stride": 4},
    }.get(name, {})  # fmt: skip


@pytest.mark.filterwarnings("ignore:.*(completeness gap|memory budget|miss F)")  # few steps, tiny budgets
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_masks_are_chunked_with_their_inputs(name: str) -> None:
    """Any memory budget (one point per chunk, or all at once) gives the answer of each input alone."""
    fn = REGISTRY[name].fn
    model = MaskedCNN()
    x, mask = batch()
    kwargs = {"mask": mask, "scale": 2.0}  # a per-example tensor, and a value passed unchanged
    results = [fn(model, x, 1, forward_kwargs=kwargs, memory=memory, **options(name)) for memory in (1, "1GiB")]
    torch.testing.assert_close(results[0].values, results[1].values)
    torch.testing.assert_close(results[0].score, results[1].score)
    for i in range(len(x)):
        alone = fn(model, x[i : i + 1], 1, forward_kwargs={"mask": mask[i : i + 1], "scale": 2.0}, **options(name))
        torch.testing.assert_close(results[0].values[i : i + 1], alone.values)
    with torch.no_grad():
        torch.testing.assert_close(results[0].score, model(x, mask, 2.0)[:, 1])


def test_forward_kwargs_must_be_a_dict() -> None:
    model = MaskedCNN()
    x, mask = batch()
    with pytest.raises(TypeError, match="forward_kwargs must be a dict"):
        aw.gradient(model, x, forward_kwargs=[mask])


def test_a_tensor_that_is_not_per_example_is_passed_unchanged() -> None:
    seen: list[tuple] = []

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 2).double()

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(bias.shape))
            return self.lin(x) + bias

    x = torch.rand(3, 4, dtype=torch.float64)
    bias = torch.tensor([0.5, -0.5], dtype=torch.float64)  # shape (2,), not (3, ...): passed as it is
    aw.integrated_gradients(Probe(), x, forward_kwargs={"bias": bias}, steps=4, memory=1, trace=False)
    assert set(seen) == {(2,)}
