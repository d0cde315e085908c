"""Baselines in pixel space: black, white, constant colour, uniform, gaussian, blurred,
maximum distance, and drawn from a training set.

A baseline is what "absence of signal" means for a path method, and it changes the answer
(Sturmfels, Lundberg & Lee, "Visualizing the Impact of Feature Attribution Baselines", Distill
2020). Every baseline here is defined on the image a person sees (values in ``value_range``,
(0, 1) by default), so black is black whatever normalisation the model applies inside.

Use a name with default options (``baseline="blur"``), a factory with options
(``baseline=blur(sigma=5)``), a tensor, or any callable ``inputs -> tensor``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attrwidgets.sampling import sample_generator

__all__ = [
    "BASELINES",
    "black",
    "blur",
    "constant",
    "gaussian",
    "make_baseline",
    "max_distance",
    "references",
    "resolve_baseline",
    "uniform",
    "white",
]

Range = tuple[float, float]


@dataclass(frozen=True)
class Baseline:
    """A named, parameterised baseline: call it with the inputs to get the baseline tensor."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    options: dict

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.fn(inputs)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if k != "references")
        return f"{self.name}({opts})"


def _one_draw(x: torch.Tensor, seed: int, draw: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
    """One draw of the shape of one input, from the seed alone, used for every input of the batch.

    An input therefore gets the same baseline alone as in any batch, whatever else the batch holds
    (the same convention as SmoothGrad's noise: one pattern per seed, each input its own scale).
    """
    return draw(sample_generator(seed, 0, x.device)).expand_as(x)


def black(value_range: Range = (0.0, 1.0)) -> Baseline:
    """All values at the bottom of the range (black for images)."""
    return Baseline("black", lambda x: torch.full_like(x, value_range[0]), {"value_range": value_range})


def white(value_range: Range = (0.0, 1.0)) -> Baseline:
    """All values at the top of the range (white for images)."""
    return Baseline("white", lambda x: torch.full_like(x, value_range[1]), {"value_range": value_range})


def constant(color: float | Sequence[float] = 0.5) -> Baseline:
    """One value everywhere, or one per channel (e.g. ``(0.485, 0.456, 0.406)``, the ImageNet mean)."""
    values = [float(color)] if isinstance(color, (int, float)) else [float(c) for c in color]

    def fn(x: torch.Tensor) -> torch.Tensor:
        if len(values) == 1:
            return torch.full_like(x, values[0])
        if x.dim() < 2 or x.shape[1] != len(values):
            msg = f"constant colour has {len(values)} values but the inputs {tuple(x.shape)} have {x.shape[1]} channels"
            raise ValueError(msg)
        shape = (1, len(values)) + (1,) * (x.dim() - 2)
        return torch.tensor(values, dtype=x.dtype, device=x.device).view(shape).expand_as(x).clone()

    return Baseline("constant", fn, {"color": tuple(values)})


def uniform(seed: int = 0, value_range: Range = (0.0, 1.0)) -> Baseline:
    """Uniform noise over the range, one pattern per seed for every input (the same alone as in a batch)."""
    low, high = value_range

    def fn(x: torch.Tensor) -> torch.Tensor:
        noise = _one_draw(x, seed, lambda g: torch.rand(x.shape[1:], generator=g, device=x.device, dtype=x.dtype))
        return low + (high - low) * noise

    return Baseline("uniform", fn, {"seed": seed, "value_range": value_range})


def gaussian(sigma: float = 0.1, seed: int = 0, value_range: Range = (0.0, 1.0)) -> Baseline:
    """The input plus gaussian noise of standard deviation ``sigma`` × (range width), clipped to the range."""
    _check_sigma(sigma, "a fraction of the input range")
    low, high = value_range

    def fn(x: torch.Tensor) -> torch.Tensor:
        noise = _one_draw(x, seed, lambda g: torch.randn(x.shape[1:], generator=g, device=x.device, dtype=x.dtype))
        return (x + sigma * (high - low) * noise).clamp(low, high)

    return Baseline("gaussian", fn, {"sigma": sigma, "seed": seed, "value_range": value_range})


def blur(sigma: float = 10.0) -> Baseline:
    """The input blurred by a gaussian of ``sigma`` pixels over its last two axes (reflect padding)."""
    _check_sigma(sigma, "pixels")
    return Baseline("blur", lambda x: gaussian_blur(x, sigma), {"sigma": sigma})


def max_distance(value_range: Range = (0.0, 1.0)) -> Baseline:
    """Each value moved to the farther end of the range: the baseline at maximum L1 distance."""
    low, high = value_range
    mid = (low + high) / 2
    return Baseline(
        "max_distance", lambda x: torch.where(x < mid, high, low).to(x.dtype), {"value_range": value_range}
    )


def references(data: torch.Tensor, seed: int = 0) -> Baseline:
    """One example drawn at random (seeded) from ``data``, a tensor of training inputs, for every input.

    Expected Gradients averages over many such draws; for Integrated Gradients this picks one.
    """
    if not isinstance(data, torch.Tensor) or data.dim() < 2:
        msg = "references must be a tensor of training inputs shaped (M, ...) like the inputs"
        raise TypeError(msg)

    def fn(x: torch.Tensor) -> torch.Tensor:
        if data.shape[1:] != x.shape[1:]:
            msg = (
                f"references have shape {tuple(data.shape)} but the inputs {tuple(x.shape)}: "
                "they must match after the first axis"
            )
            raise ValueError(msg)
        # one example from the seed alone, drawn on the CPU (the same on every device), for every
        # input: an input gets the same reference alone as in any batch
        index = int(torch.randint(len(data), (1,), generator=sample_generator(seed, 0)))
        return data[index].to(device=x.device, dtype=x.dtype).expand_as(x)

    return Baseline("references", fn, {"seed": seed, "references": data})


BASELINES: dict[str, Callable[..., Baseline]] = {
    "black": black,
    "white": white,
    "constant": constant,
    "uniform": uniform,
    "gaussian": gaussian,
    "blur": blur,
    "max_distance": max_distance,
    "references": references,
}


def make_baseline(
    name: str,
    inputs: torch.Tensor,
    *,
    sigma: float | None = None,
    color: float | Sequence[float] | None = None,
    references: torch.Tensor | None = None,
    seed: int = 0,
    value_range: Range = (0.0, 1.0),
) -> torch.Tensor:
    """The baseline tensor for a named baseline and its options (those that do not apply are ignored)."""
    return _named(name, sigma=sigma, color=color, refs=references, seed=seed, value_range=value_range)(inputs)


def _named(name: str, *, sigma, color, refs, seed, value_range) -> Baseline:
    if name not in BASELINES:
        msg = f"unknown baseline {name!r}: choose one of {sorted(BASELINES)}, or pass a tensor or a callable"
        raise ValueError(msg)
    if name == "references":
        if refs is None:
            msg = 'baseline="references" needs training inputs: pass baseline=attrwidgets.baselines.references(data)'
            raise ValueError(msg)
        return BASELINES[name](refs, seed=seed)
    if name == "constant":
        return constant(0.5 if color is None else color)
    if name in ("gaussian",):
        return gaussian(0.1 if sigma is None else sigma, seed=seed, value_range=value_range)
    if name == "blur":
        return blur(10.0 if sigma is None else sigma)
    if name == "uniform":
        return uniform(seed=seed, value_range=value_range)
    return BASELINES[name](value_range=value_range)


def resolve_baseline(baseline: object, inputs: torch.Tensor) -> tuple[torch.Tensor, object]:
    """The baseline tensor, broadcast to the inputs' shape and on their device, and a printable description.

    Raises ``ValueError`` naming both shapes when the baseline does not broadcast to the inputs.
    """
    described: object = baseline
    if isinstance(baseline, str):
        spec = _named(baseline, sigma=None, color=None, refs=None, seed=0, value_range=(0.0, 1.0))
        described = repr(spec)
        tensor = spec(inputs)
    elif isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        largest = torch.finfo(inputs.dtype).max
        try:
            value = float(baseline)
        except OverflowError:  # an int beyond any float
            value = math.inf
        if not math.isfinite(value) or abs(value) > largest:
            msg = (
                f"baseline={baseline!r} is not a finite {inputs.dtype} value (they reach ±{largest:.4g}): "
                "give a value inside the inputs' range, e.g. 0.0 for black"
            )
            raise ValueError(msg)
        tensor = torch.full_like(inputs, value)
    elif isinstance(baseline, torch.Tensor):
        tensor = baseline.detach()
        described = f"tensor{tuple(baseline.shape)}"
    elif callable(baseline):
        tensor = baseline(inputs)
        described = repr(baseline)
        if not isinstance(tensor, torch.Tensor):
            msg = f"baseline callable {baseline!r} returned {type(tensor).__name__}, not a tensor"
            raise TypeError(msg)
        tensor = tensor.detach()
    else:
        msg = f"baseline must be a name {sorted(BASELINES)}, a number, a tensor or a callable, not {baseline!r}"
        raise TypeError(msg)
    try:
        shape = torch.broadcast_shapes(tensor.shape, inputs.shape)
    except RuntimeError:
        shape = None
    if shape != inputs.shape:
        msg = (
            f"baseline of shape {tuple(tensor.shape)} does not broadcast to the inputs' shape "
            f"{tuple(inputs.shape)}: give one baseline per input, or one that broadcasts "
            f"(e.g. {tuple(inputs.shape[1:])})"
        )
        raise ValueError(msg)
    tensor = tensor.to(device=inputs.device, dtype=inputs.dtype).expand(inputs.shape)
    if not bool(torch.isfinite(tensor).all()):
        msg = "baseline contains non-finite values (nan or inf)"
        raise ValueError(msg)
    return tensor, described


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur of the last two axes of (N, C, H, W) inputs (σ in pixels, reflect padding)."""
    if sigma == 0:
        return x.clone()
    if x.dim() != 4:
        msg = f"blur needs image inputs shaped (N, C, H, W), got {tuple(x.shape)}"
        raise ValueError(msg)
    radius = max(1, math.ceil(3 * sigma))
    grid = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (grid / sigma) ** 2)
    kernel = kernel / kernel.sum()
    n, c, h, w = x.shape
    out = x.reshape(n * c, 1, h, w)
    # reflect padding needs pad < size; beyond that the image is padded by replicating its edge
    mode_h = "reflect" if radius < h else "replicate"
    mode_w = "reflect" if radius < w else "replicate"
    out = F.conv2d(F.pad(out, (0, 0, radius, radius), mode=mode_h), kernel.view(1, 1, -1, 1))
    out = F.conv2d(F.pad(out, (radius, radius, 0, 0), mode=mode_w), kernel.view(1, 1, 1, -1))
    return out.reshape(n, c, h, w)


def _check_sigma(sigma: float, unit: str) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma < 0:
        msg = f"sigma must be a finite number >= 0 ({unit}), got {sigma!r}"
        raise ValueError(msg)
