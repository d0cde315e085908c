"""remembered_costs: inside the block a kind of call measures its cost per point once; anything else is measured."""

from __future__ import annotations

import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.methods._engine import remembered_costs
from tests.probes import make_cnn


class Sizes:
    """Records the batch size of every forward of ``model``."""

    def __init__(self, model: nn.Module) -> None:
        self.sizes: list[int] = []
        self.handle = model.register_forward_pre_hook(lambda module, args: self.sizes.append(len(args[0])))

    def take(self) -> list[int]:
        sizes, self.sizes = self.sizes, []
        return sizes


def test_a_second_call_of_the_same_kind_sends_every_point_in_one_chunk() -> None:
    model = make_cnn()
    sizes = Sizes(model)
    x = torch.rand(12, 3, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    plain = aw.gradient(model, x[6:])
    assert sizes.take() == [1, 5]
    with remembered_costs():
        aw.gradient(model, x[:6])
        assert sizes.take() == [1, 6]  # the first call measures on a probe, then sends all six
        again = aw.gradient(model, x[6:])
        assert sizes.take() == [6]  # the second knows
        aw.gradient(model, x[:6, :, :8, :8])  # another input shape: measured again
        assert sizes.take() == [1, 6]
        aw.input_x_gradient(model, x[:6])  # the same kind of pass underneath: known
        assert sizes.take() == [6]
        other = make_cnn(seed=1)
        other_sizes = Sizes(other)
        aw.gradient(other, x[:6])  # another model: measured
        assert other_sizes.take() == [1, 6] and sizes.take() == []
    aw.gradient(model, x[6:])
    assert sizes.take() == [1, 5]  # outside the block: measured as always
    torch.testing.assert_close(again.values, plain.values)
    assert again.values.shape == plain.values.shape


def test_a_refusal_of_channels_last_is_remembered_with_the_cost(monkeypatch) -> None:
    """A model that fails on channels-last batches is sent contiguous ones at once by the next call."""
    monkeypatch.setattr(aw.config, "channels_last", True)
    formats: list[bool] = []

    class Picky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Linear(4 * 10 * 10, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            formats.append(x.is_contiguous())
            return self.head(self.conv(x).view(len(x), -1))  # view: fails on channels-last activations

    model = Picky().double()
    x = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with remembered_costs():
        first = aw.gradient(model, x)
        assert formats[0] is False and all(formats[1:])  # the probe tried channels-last, then contiguous
        formats.clear()
        second = aw.gradient(model, x)
        assert formats == [True]  # contiguous from the start, one chunk
    torch.testing.assert_close(first.values, second.values)
