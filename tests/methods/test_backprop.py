"""Guided Backprop and DeconvNet: the ReLU rules against a hand-written backward pass and Captum."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, GuidedBackprop
from torch import nn

from attrwidgets.methods import deconvnet, gradient, guided_backprop
from tests.probes import make_cnn, with_inplace_relus

METHODS = [guided_backprop, deconvnet]


def _x(n: int = 3, seed: int = 1, device: str = "cpu") -> torch.Tensor:
    return torch.rand(n, 3, 12, 12, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)


class MLP(nn.Module):
    """Linear-ReLU-Linear-ReLU-Linear, so the rules can be written out by hand."""

    def __init__(self, relu: type[nn.Module] | None = None, inplace: bool = False) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.l1, self.l2, self.l3 = nn.Linear(5, 8), nn.Linear(8, 6), nn.Linear(6, 3)
        self.r1, self.r2 = nn.ReLU(inplace=inplace), nn.ReLU(inplace=inplace)
        self.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l3(self.r2(self.l2(self.r1(self.l1(x)))))


def _reference(mlp: MLP, x: torch.Tensor, target: int, *, guided: bool) -> torch.Tensor:
    """The rule from the papers, backward by hand: R = relu(g) (DeconvNet), times 1[x > 0] (Guided)."""
    h1 = x @ mlp.l1.weight.T + mlp.l1.bias
    h2 = h1.clamp(min=0) @ mlp.l2.weight.T + mlp.l2.bias
    g = mlp.l3.weight[target].expand(len(x), -1)  # dy/da2
    g = g.clamp(min=0) * ((h2 > 0) if guided else 1)
    g = g @ mlp.l2.weight  # dy/da1
    g = g.clamp(min=0) * ((h1 > 0) if guided else 1)
    return (g @ mlp.l1.weight).detach()


@pytest.mark.parametrize("guided", [True, False])
def test_matches_hand_written_backward(guided: bool) -> None:
    mlp = MLP()
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    method = guided_backprop if guided else deconvnet
    attr = method(mlp, x, target=1)
    expected = _reference(mlp, x, 1, guided=guided)
    assert expected.abs().max() > 1e-3  # the rules let something through
    torch.testing.assert_close(attr.values, expected, rtol=1e-12, atol=1e-14)
    # and it is not the gradient
    assert (attr.values - gradient(mlp, x, target=1).values).abs().max() > 1e-3


def test_one_relu_worked_example() -> None:
    # f(x) = w · relu(x) with w = (2, -3, 1.5) at x = (1, 2, -1):
    # gradient w ⊙ 1[x > 0] = (2, -3, 0); Guided Backprop relu(w) ⊙ 1[x > 0] = (2, 0, 0);
    # DeconvNet relu(w) = (2, 0, 1.5), blind to the forward mask.
    model = nn.Sequential(nn.ReLU(), nn.Linear(3, 1, bias=False)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[2.0, -3.0, 1.5]]))
    x = torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64)
    assert gradient(model, x).values.tolist() == [[2.0, -3.0, 0.0]]
    assert guided_backprop(model, x).values.tolist() == [[2.0, 0.0, 0.0]]
    assert deconvnet(model, x).values.tolist() == [[2.0, 0.0, 1.5]]


@pytest.mark.parametrize(("method", "peer"), [(guided_backprop, GuidedBackprop), (deconvnet, Deconvolution)])
def test_matches_captum_on_small_cnn(method, peer, device: str) -> None:
    model = make_cnn(device=device)
    x = _x(device=device)
    ours = method(model, x, target=[0, 2, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns that it sets requires_grad and registers hooks
        theirs = peer(model).attribute(x.clone(), target=[0, 2, 4])
    assert ours.values.device.type == device
    assert torch.isfinite(ours.values).all()
    assert theirs.abs().max() > 0
    torch.testing.assert_close(ours.values, theirs, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_inplace_relu_same_as_out_of_place(method) -> None:
    model = make_cnn()
    inplace = with_inplace_relus(model)
    x = _x()
    expected = method(model, x, target=3).values
    got = method(inplace, x, target=3).values
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # also on the MLP against the hand-written rule
    mlp = MLP(inplace=True)
    xm = torch.randn(4, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = _reference(mlp, xm, 2, guided=method is guided_backprop)
    torch.testing.assert_close(method(mlp, xm, target=2).values, expected, rtol=1e-12, atol=1e-14)
    for module in inplace.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


@pytest.mark.parametrize("method", METHODS)
def test_reused_relu_module(method) -> None:
    class Shared(MLP):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.l3(self.r1(self.l2(self.r1(self.l1(x)))))  # r1 twice

    shared, separate = Shared(), MLP()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(method(shared, x, target=0).values, method(separate, x, target=0).values)


class Functional(MLP):
    """One nn.ReLU module and one F.relu in forward: the hook reaches only the first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l3(F.relu(self.l2(self.r1(self.l1(x)))))


@pytest.mark.parametrize("method", METHODS)
def test_functional_relu_warns_and_gets_plain_gradient_there(method) -> None:
    model = Functional()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with pytest.warns(UserWarning, match=r"1 time\(s\).*these parts of the model get the plain gradient"):
        attr = method(model, x, target=0)
    # the unreached ReLU backpropagates g ⊙ 1[h2 > 0]; the module ReLU applies the rule
    mlp = model
    h1 = x @ mlp.l1.weight.T + mlp.l1.bias
    h2 = h1.clamp(min=0) @ mlp.l2.weight.T + mlp.l2.bias
    g = (mlp.l3.weight[0] * (h2 > 0)) @ mlp.l2.weight
    g = g.clamp(min=0) * ((h1 > 0) if method is guided_backprop else 1)
    torch.testing.assert_close(attr.values, (g @ mlp.l1.weight).detach())


def test_only_functional_relus_gives_the_gradient() -> None:
    class AllFunctional(MLP):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.l3(self.l2(self.l1(x).relu()).relu())

    model = AllFunctional()
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with pytest.warns(UserWarning, match=r"2 time\(s\).*plain gradient"):
        attr = guided_backprop(model, x, target=1)
    torch.testing.assert_close(attr.values, gradient(model, x, target=1).values, rtol=0, atol=0)


def test_module_hidden_behind_a_callable_warns() -> None:
    mlp = MLP()
    x = torch.randn(2, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with pytest.warns(UserWarning, match="plain gradient"):
        attr = guided_backprop(lambda z: mlp(z), x, target=0)
    torch.testing.assert_close(attr.values, gradient(mlp, x, target=0).values, rtol=0, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_no_warning_when_every_relu_is_a_module(method) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        method(make_cnn(), _x(1), target=0)


@pytest.mark.parametrize("method", METHODS)
def test_batch_of_one_and_of_n_agree(method, device: str) -> None:
    model = make_cnn(device=device)
    x = _x(4, device=device)
    batch = method(model, x)
    assert batch.method == method.__name__
    assert batch.values.shape == x.shape
    assert torch.isfinite(batch.values).all()
    for i in range(len(x)):
        one = method(model, x[i : i + 1])
        assert one.target.tolist() == batch.target[i : i + 1].tolist()
        torch.testing.assert_close(one.values, batch.values[i : i + 1], rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(one.score, batch.score[i : i + 1])


@pytest.mark.parametrize("method", METHODS)
def test_preprocess_is_part_of_the_function(method) -> None:
    model = make_cnn()
    x = _x(2)
    mean = torch.tensor([0.4, 0.5, 0.6], dtype=torch.float64).view(1, 3, 1, 1)
    ours = method(model, x, target=1, preprocess=lambda z: (z - mean) / 0.25).values
    direct = method(model, (x - mean) / 0.25, target=1).values / 0.25  # chain rule through the affine map
    torch.testing.assert_close(ours, direct)


@pytest.mark.parametrize("method", METHODS)
def test_bad_target(method) -> None:
    with pytest.raises(ValueError, match=r"out of range: valid targets are 0\.\.4"):
        method(make_cnn(), _x(2), target=7)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
@pytest.mark.parametrize("method", METHODS)
def test_torchscript_refused(method) -> None:
    scripted = torch.jit.script(MLP())
    with pytest.raises(TypeError, match="TorchScript"):
        method(scripted, torch.randn(2, 5, dtype=torch.float64))


@pytest.mark.parametrize("method", [guided_backprop, deconvnet])
def test_relu6_gets_the_rule(method) -> None:
    # f = w·relu6(x) with x = (1, 2, -1, 7): gradient w·1[0<x<6]; Guided Backprop also drops w < 0;
    # DeconvNet passes max(w, 0) whatever x.
    model = nn.Sequential(nn.ReLU6(), nn.Linear(4, 1, bias=False)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[2.0, -3.0, 1.5, 4.0]]))
    x = torch.tensor([[1.0, 2.0, -1.0, 7.0]], dtype=torch.float64)
    expected = {"guided_backprop": [2.0, 0.0, 0.0, 0.0], "deconvnet": [2.0, 0.0, 1.5, 4.0]}
    values = method(model, x).values
    assert values.tolist() == [expected[method.__name__]]


def test_other_activations_are_named_in_a_warning() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.SiLU(), nn.Linear(3, 2))
    with pytest.warns(UserWarning, match="SiLU activations keep their plain gradient"):
        guided_backprop(model, torch.rand(1, 3))
