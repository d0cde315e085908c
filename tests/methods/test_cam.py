"""Grad-CAM and Guided Grad-CAM: the paper's formula by hand, CAM's closed form, and Captum."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import GuidedGradCam, LayerAttribution, LayerGradCam
from torch import nn

from attrwidgets.methods import grad_cam, guided_backprop, guided_grad_cam
from tests.probes import Recorder, make_cnn, with_inplace_relus

METHODS = [grad_cam, guided_grad_cam]


def _x(n: int = 3, seed: int = 1, device: str = "cpu", size: int = 12) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)


def _reference_cam(model: nn.Module, x: torch.Tensor, target: list[int]) -> torch.Tensor:
    """Selvaraju et al. eq. 1-2, by hand: split the small CNN at its last conv (features[4])."""
    a = model.features[:5](x).detach().requires_grad_(True)
    out = model.head(model.features[5:](a).flatten(1))
    score = out[torch.arange(len(x)), torch.tensor(target)]
    (grad,) = torch.autograd.grad(score.sum(), a)
    alpha = grad.mean(dim=(2, 3))  # (N, K): global-average-pooled gradients
    cams = [torch.relu(sum(alpha[n, k] * a[n, k] for k in range(a.shape[1]))) for n in range(len(x))]
    return torch.stack(cams).unsqueeze(1).detach()


def test_matches_the_paper_formula(device: str) -> None:
    model = make_cnn(device=device)
    x = _x(device=device)
    attr = grad_cam(model, x, target=[1, 3, 4])
    expected = _reference_cam(model, x, [1, 3, 4])
    assert attr.params == {"layer": "features.4"}  # default: the last nn.Conv2d
    assert attr.parts["cam"].shape == (3, 1, 6, 6)
    assert attr.values.shape == (3, 1, 12, 12)
    assert expected.max() > 0
    torch.testing.assert_close(attr.parts["cam"], expected, rtol=1e-12, atol=1e-15)
    up = F.interpolate(expected, size=(12, 12), mode="bilinear", align_corners=False)
    torch.testing.assert_close(attr.values, up, rtol=1e-12, atol=1e-15)
    assert attr.values.min() >= 0


class CamNet(nn.Module):
    """1×1 identity conv → global average pool → linear: Grad-CAM reduces to CAM, ReLU(Σ_k w_k A^k)/(h w)."""

    def __init__(self, w: list[float]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 1, bias=False)
        self.double()
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.fc.weight.copy_(torch.tensor([w]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_worked_example_cam() -> None:
    # A⁰ = [[1, 2], [3, 4]], A¹ = [[4, 0], [0, -8]], w = (1, 1): α_k = w_k / 4,
    # Σ_k α_k A^k = [[5, 2], [3, -4]] / 4, and the ReLU zeroes the last pixel.
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[4.0, 0.0], [0.0, -8.0]]]], dtype=torch.float64)
    attr = grad_cam(CamNet([1.0, 1.0]), x)
    assert attr.parts["cam"].tolist() == [[[[1.25, 0.5], [0.75, 0.0]]]]
    assert attr.values.tolist() == attr.parts["cam"].tolist()  # same size: no resampling
    attr = grad_cam(CamNet([1.0, 0.5]), x)
    assert attr.parts["cam"].tolist() == [[[[0.75, 0.5], [0.75, 0.0]]]]


def test_matches_captum_layer_grad_cam(device: str) -> None:
    model = make_cnn(device=device)
    x = _x(device=device)
    attr = grad_cam(model, x, target=[0, 2, 4])
    theirs = LayerGradCam(model, model.features[4]).attribute(x, target=[0, 2, 4], relu_attributions=True)
    torch.testing.assert_close(attr.parts["cam"], theirs, rtol=1e-10, atol=1e-15)
    # Upsampling: Captum leaves it to LayerAttribution.interpolate; in bilinear mode it is ours exactly,
    # its default ("nearest") gives blocks, which we do not use.
    torch.testing.assert_close(attr.values, LayerAttribution.interpolate(theirs, (12, 12), "bilinear"))
    nearest = LayerAttribution.interpolate(theirs, (12, 12))
    assert (attr.values - nearest).abs().max() > 1e-3 * theirs.max()


def test_matches_captum_guided_grad_cam(device: str) -> None:
    model = make_cnn(device=device)
    x = _x(device=device)
    attr = guided_grad_cam(model, x, target=[0, 2, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns that it sets requires_grad and registers hooks
        peer = GuidedGradCam(model, model.features[4])
        bilinear = peer.attribute(x.clone(), target=[0, 2, 4], interpolate_mode="bilinear")
        nearest = peer.attribute(x.clone(), target=[0, 2, 4])
    assert bilinear.abs().max() > 0
    torch.testing.assert_close(attr.values, bilinear, rtol=1e-10, atol=1e-15)
    # Captum's default nearest-neighbour upsampling differs from the paper's bilinear map.
    assert (attr.values - nearest).abs().max() > 1e-2 * bilinear.abs().max()


def test_guided_grad_cam_is_guided_backprop_times_upsampled_cam() -> None:
    model = make_cnn()
    x = _x()
    layer = model.features[0]
    attr = guided_grad_cam(model, x, target=2, layer=layer)
    cam = grad_cam(model, x, target=2, layer=layer)
    gb = guided_backprop(model, x, target=2)
    assert attr.params == {"layer": "features.0"}
    torch.testing.assert_close(attr.parts["cam"], cam.parts["cam"])
    torch.testing.assert_close(attr.values, gb.values * cam.values, rtol=1e-12, atol=0)
    assert attr.values.shape == x.shape


def test_backward_stops_at_the_layer() -> None:
    model = make_cnn()
    probe = Recorder(nn.Identity())
    probed = nn.Sequential(probe, model)  # a backward-counting identity in front of the whole net
    x = _x().requires_grad_(True)
    attr = grad_cam(probed, x, target=1)
    assert probe.backward_calls == 0  # nothing below the layer was differentiated
    assert attr.params == {"layer": "1.features.4"}
    assert x.grad is None and all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    guided_backprop(probed, x, target=1)
    # the probe does count a backward that reaches the input: the first input's (measuring the
    # per-point memory), then the other two in one chunk
    assert probe.backward_calls == 2


def test_inplace_relu_after_the_layer() -> None:
    model = make_cnn()
    inplace = with_inplace_relus(model)
    x = _x()
    for method in METHODS:
        expected = method(model, x, target=3)
        got = method(inplace, x, target=3)
        torch.testing.assert_close(got.parts["cam"], expected.parts["cam"], rtol=0, atol=0)
        torch.testing.assert_close(got.values, expected.values, rtol=0, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_batch_of_one_and_of_n_agree(method, device: str) -> None:
    model = make_cnn(device=device)
    x = _x(4, device=device, size=13)  # odd size: 13 → 6 after pooling, upsampled back to 13
    batch = method(model, x)
    assert batch.method == method.__name__
    assert torch.isfinite(batch.values).all()
    assert batch.values.shape == ((4, 1, 13, 13) if method is grad_cam else x.shape)
    for i in range(len(x)):
        one = method(model, x[i : i + 1])
        assert one.target.tolist() == batch.target[i : i + 1].tolist()
        torch.testing.assert_close(one.values, batch.values[i : i + 1], rtol=1e-10, atol=1e-15)
        torch.testing.assert_close(one.parts["cam"], batch.parts["cam"][i : i + 1], rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("method", METHODS)
def test_bad_target(method) -> None:
    with pytest.raises(ValueError, match=r"out of range: valid targets are 0\.\.4"):
        method(make_cnn(), _x(2), target=5)


@pytest.mark.parametrize("method", METHODS)
def test_layer_errors(method) -> None:
    model, x = make_cnn(), _x(2)
    with pytest.raises(ValueError, match=r"no nn.Conv2d to use as the default layer; pass layer="):
        method(nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 4)).double(), x)
    with pytest.raises(ValueError, match="is not a submodule of the model"):
        method(model, x, layer=nn.Conv2d(3, 3, 1))
    with pytest.raises(TypeError, match=r"layer must be an nn\.Module of the model"):
        method(model, x, layer="features.4")
    with pytest.raises(
        ValueError, match=r"layer head outputs shape \(1, 5\) for a batch of shape.*pick a convolutional layer"
    ):
        method(model, x, layer=model.head)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.unused = nn.Conv2d(3, 3, 1)
            self.fc = nn.Linear(3, 2)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(self.conv(z)).mean(dim=(2, 3)))

    twice = Twice().double()
    with pytest.raises(ValueError, match=r"layer conv ran 2 times in one forward"):
        method(twice, x, layer=twice.conv)
    with pytest.raises(ValueError, match=r"layer unused did not run in the model's forward"):
        method(twice, x, layer=twice.unused)


def test_layer_off_the_path_to_the_score() -> None:
    class Branch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.side = nn.Conv2d(3, 2, 1)
            self.main = nn.Conv2d(3, 2, 3)
            self.fc = nn.Linear(2, 3)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            self.side(z)  # computed, never used
            return self.fc(self.main(z).mean(dim=(2, 3)))

    model = Branch().double()
    with pytest.raises(ValueError, match="the score does not depend on layer side's output"):
        grad_cam(model, _x(2), layer=model.side)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_refused() -> None:
    scripted = torch.jit.script(make_cnn())
    with pytest.raises(TypeError, match="TorchScript"):
        grad_cam(scripted, _x(1), layer=scripted.features[4])
