"""DeepLIFT on model structures the demo models use: convolutions that pad inside their ``forward``.

TensorFlow ports (EfficientNet-Lite0 of the demo) compute "same" padding in the convolution's
``forward`` (``F.pad`` then ``F.conv2d``, or a padding submodule called there), so the tensor the
weight meets is not the module's input. RevealCancel's terms W·Δa must be taken on the padded
tensor; they used to be taken on the module's input, and the shapes did not match.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attrwidgets.methods.deeplift import DEEPLIFT_RULES, deeplift


def same_padding(size: tuple[int, int], kernel: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow's "same": output ceil(size / stride), the odd pixel of padding at the end."""
    pads = [max((math.ceil(n / stride) - 1) * stride + kernel - n, 0) for n in size]
    (ph, pw) = pads
    return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)


class DynamicSameConv(nn.Conv2d):
    """Pads in forward with F.pad (efficientnet_lite_pytorch's Conv2dDynamicSamePadding)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[-2:], self.kernel_size[0], self.stride[0]))
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class StaticSameConv(nn.Conv2d):
    """Pads with a ZeroPad2d submodule called in forward (its Conv2dStaticSamePadding)."""

    def __init__(self, *args: object, image_size: tuple[int, int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.static_padding = nn.ZeroPad2d(same_padding(image_size, self.kernel_size[0], self.stride[0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.static_padding(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def block(stem: nn.Module, depthwise: nn.Module, pads: tuple[nn.Module, nn.Module]) -> nn.Sequential:
    """Stem conv (stride 2) → BN → ReLU6, depthwise conv → BN → SiLU, 1×1 conv → ReLU, pool, head."""
    return nn.Sequential(
        pads[0], stem, nn.BatchNorm2d(6), nn.ReLU6(),
        pads[1], depthwise, nn.BatchNorm2d(6), nn.SiLU(),
        nn.Conv2d(6, 8, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    )  # fmt: skip


def twin_models(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """The same function twice: padding inside the convs' forward, and as ZeroPad2d modules before them."""
    size = (10, 10)  # stride 2 on an even size: TensorFlow's asymmetric (0, 1) padding
    inner = block(
        DynamicSameConv(3, 6, 3, stride=2),
        StaticSameConv(6, 6, 3, groups=6, image_size=(5, 5)),
        (nn.Identity(), nn.Identity()),
    )
    outer = block(
        nn.Conv2d(3, 6, 3, stride=2),
        nn.Conv2d(6, 6, 3, groups=6),
        (nn.ZeroPad2d(same_padding(size, 3, 2)), nn.ZeroPad2d(same_padding((5, 5), 3, 1))),
    )
    torch.manual_seed(seed)
    for module in inner.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(-1.0, 1.5)  # some negative scales, folded into the terms
    outer.load_state_dict(inner.state_dict())
    return inner.double().eval(), outer.double().eval()


@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_padding_inside_forward_gives_the_explicit_padding_result(rule: str) -> None:
    inner, outer = twin_models()
    torch.manual_seed(1)
    x = torch.rand(2, 3, 10, 10, dtype=torch.float64)
    torch.testing.assert_close(inner(x), outer(x))
    a = deeplift(inner, x, target=[0, 3], baseline="black", rule=rule)
    b = deeplift(outer, x, target=[0, 3], baseline="black", rule=rule)
    torch.testing.assert_close(a.values, b.values, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(a.values.flatten(1).sum(1), a.score - a.baseline_score, rtol=1e-10, atol=1e-12)


def test_reveal_cancel_uses_the_terms_of_a_padding_conv() -> None:
    # Not a fall-back to Rescale's split max(Δx, 0), min(Δx, 0): the terms change the result.
    inner, _ = twin_models(seed=2)
    x = torch.rand(1, 3, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    reveal = deeplift(inner, x, baseline="black", rule="reveal_cancel").values
    rescale = deeplift(inner, x, baseline="black", rule="rescale").values
    assert not torch.allclose(reveal, rescale)


class ScaledConv(nn.Conv2d):
    """Returns more than the weight's op (twice it): its terms are not known, so the split is Rescale's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


def test_a_forward_that_changes_the_ops_output_falls_back_to_rescale() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(ScaledConv(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    model = model.double()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    reveal = deeplift(model, x, baseline=0.0, rule="reveal_cancel")
    rescale = deeplift(model, x, baseline=0.0, rule="rescale")
    torch.testing.assert_close(reveal.values, rescale.values, rtol=1e-12, atol=1e-14)
    assert float(reveal.delta.abs().max()) < 1e-10


class Broken(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F.conv2d(x, self.weight)
        raise RuntimeError("broken conv")


def test_a_raising_forward_leaves_no_recording_mode_behind() -> None:
    model = nn.Sequential(Broken(1, 1, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)).double()
    depth = torch._C._len_torch_function_stack()
    with pytest.raises(RuntimeError, match="broken conv"):
        deeplift(model, torch.rand(1, 1, 2, 2, dtype=torch.float64), target=0, rule="reveal_cancel")
    assert torch._C._len_torch_function_stack() == depth


@pytest.mark.slow
@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_efficientnet_lite0_adds_up(rule: str) -> None:
    # The demo model whose "same" padding broke RevealCancel. Measured on the cat photo, black
    # baseline, float32: Σ values − (F(x) − F(x′)) = −3.8e-6 (Rescale) and −1.9e-6 (RevealCancel)
    # for F(x) − F(x′) = 8.50, relative gaps of 4e-7 and 2e-7.
    pytest.importorskip("efficientnet_lite_pytorch")
    demo = pytest.importorskip("attrwidgets.demo")
    model = demo.load_efficientnet_lite0()
    x = demo.photos()["chelsea"][None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no summation-to-delta warning
        attr = deeplift(model, x, baseline="black", rule=rule, preprocess=demo.imagenet_preprocess())
    assert bool(torch.isfinite(attr.values).all())
    span = attr.score - attr.baseline_score
    assert float(span.abs()) > 1.0
    torch.testing.assert_close(attr.values.flatten(1).sum(1, dtype=torch.float64), span.double(), rtol=1e-5, atol=1e-5)
