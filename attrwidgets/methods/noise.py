"""The SmoothGrad family: a base attribution averaged over noisy copies of the input."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from attrwidgets.attribution import Attribution
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import (
    Chunk,
    Points,
    accumulator_dtype,
    check_progress,
    evaluate,
    first_pass,
    progress_reporter,
)
from attrwidgets.methods.gradients import LAYER
from attrwidgets.methods.paths import check_steps, integrated_gradients
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register
from attrwidgets.sampling import check_samples, check_seed, sample_generator

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["smoothgrad"]

VARIANTS = ("smoothgrad", "smoothgrad_sq", "vargrad")
BASES = ("gradient", "input_x_gradient", "integrated_gradients")
#: Options ``base_options`` may set for ``base="integrated_gradients"``.
IG_OPTIONS = ("baseline", "steps", "rule", "tolerance", "max_steps")

@register(
    controls=(
        Control("sigma", "float", 0.15, 0.0, 1.0, doc="noise standard deviation as a fraction of the input range",
                unit="fraction"),
        Control("samples", "int", 50, 1, 1000, doc="noisy copies per input"),
        Control("seed", "seed", 0, 0, 2**31 - 1, doc="seed of the noise"),
        Control("variant", "choice", "smoothgrad", choices=VARIANTS, doc="how the noisy maps are combined"),
        Control("base", "choice", "gradient", choices=BASES, doc="attribution computed at each noisy copy"),
        LAYER,
    ),
    paper=(
        "Smilkov, Thorat, Kim, Viégas & Wattenberg, SmoothGrad: removing noise by adding noise, "
        "ICML-W 2017 (arXiv:1706.03825)"
    ),
    axioms=("implementation_invariance", "dummy"),
    produces=("score",),
)
@shared_docs
def smoothgrad(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    sigma: float = 0.15,
    samples: int = 50,
    seed: int = 0,
    variant: str = "smoothgrad",
    base: str = "gradient",
    base_options: dict[str, Any] | None = None,
    layer: torch.nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    r"""SmoothGrad, SmoothGrad² and VarGrad: statistics of a base map over noisy copies of the input.

    With noisy copies :math:`z_j = x + \varepsilon_j`, :math:`\varepsilon_j \sim
    \mathcal{N}(0, \sigma_x^2 I)`, :math:`\sigma_x = \sigma \cdot (\max x - \min x)`, and the base
    map :math:`m(z)` (the gradient :math:`\partial F(z)/\partial z` by default):

    .. math::
        \mathrm{SG}(x) = \frac{1}{n}\sum_j m(z_j), \qquad
        \mathrm{SG^2}(x) = \frac{1}{n}\sum_j m(z_j)^2, \qquad
        \mathrm{VarGrad}(x) = \mathrm{SG^2}(x) - \mathrm{SG}(x)^2 .

    Parameters
    ----------
    model : nn.Module or callable
        Maps (preprocessed) inputs to (N, classes) scores; the raw output (a logit) is explained.
    inputs : (N, ...) float tensor
        Inputs in pixel space, on the model's device.
    target : None, int, list of int or tensor
        The output index to explain, resolved at the clean input (None: its predicted class);
        every noisy copy explains the same index.
    sigma : float
        Noise standard deviation as a FRACTION of each input's range ``max − min`` (so the noise
        does not depend on the pixel scale). Smilkov et al. recommend 10–20 % (0.1–0.2); the
        default is 0.15. ``sigma=0`` gives the base method exactly (evaluated once).
    samples : int
        Noisy copies per input (default 50).
    seed : int
        Seeds a generator of the call's own (never the global RNG); stored in ``params``.
    variant : {"smoothgrad", "smoothgrad_sq", "vargrad"}
        Mean of the maps, mean of their squares, or their (population) variance.
    base : {"gradient", "input_x_gradient", "integrated_gradients"}
        The map at each noisy copy: its gradient, noisy input × gradient, or Integrated
        Gradients from the noisy copy (through :func:`attrwidgets.integrated_gradients`).
    base_options : dict, optional
        Options of the base method; for integrated_gradients ``baseline``, ``steps``, ``rule``,
        ``tolerance``, ``max_steps`` (e.g. ``{"steps": 16}``). The others take none.
    {layer}
        The noise is added there, σ being a fraction of the range of the layer's output.
    {forward_kwargs}
    preprocess : callable, optional
        Applied to every noisy copy before the model (e.g. normalisation).
    {memory}
    {progress}

    Returns
    -------
    Attribution
        ``values`` (shape of the inputs) and ``score`` F(x) at the clean input; ``params`` hold
        the options, the seed and ``noise_std``, the absolute σ_x used for each input.

    References
    ----------
    Smilkov, Thorat, Kim, Viégas & Wattenberg, "SmoothGrad: removing noise by adding noise",
    ICML Workshop on Visualization for Deep Learning 2017, arXiv:1706.03825.
    Hooker, Erhan, Kindermans & Kim, "A Benchmark for Interpretability Methods in Deep Neural
    Networks", NeurIPS 2019, arXiv:1806.10758 (SmoothGrad-Squared).
    Adebayo, Gilmer, Goodfellow & Kim, "Local Explanation Methods for Deep Neural Networks Lack
    Sensitivity to Parameter Values", ICLR Workshop 2018, arXiv:1810.03307 (VarGrad).

    Notes
    -----
    Differences from Captum's ``NoiseTunnel``, on purpose:

    * ``sigma`` is a fraction of the input range, as in the paper; Captum's ``stdevs`` is absolute
      (``stdevs = sigma * (x.max() - x.min())`` gives the same noise level).
    * ``samples`` defaults to 50 (the paper's choice); Captum's ``nt_samples`` defaults to 5.
    * The noise comes from a generator seeded per (seed, sample index), never from the global RNG
      (Captum uses ``torch.normal`` on the global RNG), so results are reproducible and an input
      gets the same noise alone or in a batch (every input of a batch sees the same standard-normal
      pattern ε_j, scaled by its own σ_x).
    * ``sigma=0`` evaluates the base method once instead of ``samples`` identical times.
    * The copies are evaluated in chunks sized by the memory budget (Captum: ``nt_samples_batch_size``).
    The statistics themselves are Captum's (its ``vargrad`` is also E[m²] − E[m]²).

    Examples
    --------
    >>> attr = smoothgrad(model, images, sigma=0.15, samples=50)          # doctest: +SKIP
    >>> attr.values.shape                                                   # doctest: +SKIP
    torch.Size([1, 3, 224, 224])
    """
    explained = Explained(model, inputs, preprocess, layer=layer, forward_kwargs=forward_kwargs)
    sigma = _check_sigma(sigma)
    samples = check_samples(samples)
    seed = check_seed(seed)
    if variant not in VARIANTS:
        msg = f"unknown variant {variant!r}: choose one of {VARIANTS}"
        raise ValueError(msg)
    options = _check_base(base, base_options)
    if base == "integrated_gradients":  # the base's own options, checked before any forward
        check_steps(options.get("steps", "auto"), options.get("rule", "gausslegendre"),
                     options.get("tolerance", 0.01), options.get("max_steps", 512))  # fmt: skip
    if layer is not None and base == "integrated_gradients":
        msg = (
            "smoothgrad with layer= takes base='gradient' or 'input_x_gradient'; for Integrated Gradients at a "
            "layer use integrated_gradients(..., layer=...)"
        )
        raise ValueError(msg)
    memory_bytes = parse_memory(memory)
    progress = check_progress(progress)
    with ModelGuard(explained.module):
        at_x = first_pass(explained, explained.inputs, target, memory=memory_bytes, backward=sigma == 0)
    target_t, score, per_point = at_x.target, at_x.score, at_x.per_point
    x = at_x.z  # the inputs, or the layer's output at them: the noise is added there
    n = len(x)
    flat = x.flatten(1)
    noise_std = sigma * (flat.amax(dim=1) - flat.amin(dim=1))
    params: dict[str, Any] = {
        "sigma": sigma,
        "samples": samples,
        "seed": seed,
        "variant": variant,
        "base": base,
        "base_options": options,
        "memory": memory_bytes,
        "noise_std": noise_std.tolist(),
    }
    if layer is not None:
        params["layer"] = explained.layer_name
    acc_dtype = accumulator_dtype(x.dtype)

    if sigma == 0:  # every copy is x: the base method once
        maps = _base_maps(base, options, explained, x, target_t, at_x.grad, memory_bytes)
        return Attribution(
            values=_combine(variant, maps.to(acc_dtype), maps.to(acc_dtype) ** 2, 1).to(x.dtype),
            target=target_t,
            method="smoothgrad",
            params=params,
            score=score,
        )

    total = n * samples
    shape = (-1,) + (1,) * (x.dim() - 1)
    sums = torch.zeros(x.shape, dtype=acc_dtype, device=x.device)
    squares = torch.zeros_like(sums) if variant != "smoothgrad" else None

    spare: list[torch.Tensor] = []  # one buffer of noisy copies, reused chunk after chunk

    def points(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy copies number start..stop; copy k is sample k // n of input k % n."""
        rows = torch.arange(start, stop, device=x.device) % n
        sample = [k // n for k in range(start, stop)]  # in Python: no device-to-host copy
        if not spare or len(spare[0]) < len(sample):
            # Fresh pages cost more than the copy itself on a CPU; the model's memory format
            # spares it a conversion.
            size = (len(sample), *x.shape[1:])
            layout = explained.memory_format if layer is None else torch.contiguous_format
            spare[:] = [torch.empty(size, dtype=x.dtype, device=x.device, memory_format=layout)]
        z = spare[0][: len(sample)]
        drawn: dict[int, int] = {}
        for i, j in enumerate(sample):  # one draw per sample in the chunk
            z[i] = z[drawn[j]] if j in drawn else _noise(seed, j, x)
            drawn.setdefault(j, i)
        return z.mul_(noise_std[rows].view(shape)).add_(x[rows]), rows

    def accumulate(rows: torch.Tensor, maps: torch.Tensor) -> None:
        if n == 1:  # every row is input 0: sum in the accumulator's precision, no copies
            sums.add_(maps.sum(0, keepdim=True, dtype=acc_dtype))
            if squares is not None:
                squares.add_((maps * maps).sum(0, keepdim=True, dtype=acc_dtype))
            return
        maps = maps.to(acc_dtype)
        sums.index_put_((rows,), maps, accumulate=True)  # index_add_ is slow on busy CPUs (OpenMP)
        if squares is not None:
            squares.index_put_((rows,), maps * maps, accumulate=True)

    with ModelGuard(explained.module):
        if base == "integrated_gradients":
            _ig_copies(explained, x, target_t, options, points, accumulate, total, memory_bytes, progress)
        else:

            def build(start: int, stop: int) -> Points:
                z, rows = points(start, stop)
                return Points(z, target_t[rows], (z, rows), rows=rows)

            def consume(chunk: Chunk) -> None:
                z, rows = chunk.context
                accumulate(rows, chunk.grad * z if base == "input_x_gradient" else chunk.grad)

            fixed = (2 if squares is not None else 1) * sums.numel() * sums.element_size()
            evaluate(explained, total, build, consume, memory=memory_bytes, per_point=per_point, fixed=fixed,
                     progress=progress_reporter(progress, total))  # fmt: skip
    values = _combine(variant, sums, squares, samples).to(x.dtype)
    return Attribution(values=values, target=target_t, method="smoothgrad", params=params, score=score)


def _noise(seed: int, sample: int, x: torch.Tensor) -> torch.Tensor:
    """Standard-normal noise of sample ``sample``, shape of one input, on the inputs' device."""
    generator = sample_generator(seed, sample, x.device)
    return torch.randn(x.shape[1:], generator=generator, device=x.device, dtype=x.dtype)


def _combine(variant: str, sums: torch.Tensor, squares: torch.Tensor | None, samples: int) -> torch.Tensor:
    mean = sums / samples
    if variant == "smoothgrad":
        return mean
    mean_sq = squares / samples
    if variant == "smoothgrad_sq":
        return mean_sq
    return (mean_sq - mean * mean).clamp_min(0)


def _check_sigma(sigma: object) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        msg = f"sigma must be a finite number >= 0, a fraction of the input range (0.1-0.2 recommended), got {sigma!r}"
        raise ValueError(msg)
    return float(sigma)


def _check_base(base: str, options: dict[str, Any] | None) -> dict[str, Any]:
    if base not in BASES:
        msg = f"unknown base {base!r}: choose one of {BASES}"
        raise ValueError(msg)
    if options is not None and not isinstance(options, Mapping):
        msg = (
            f"base_options must be a dict of the base method's options, e.g. {{'steps': 16}}, "
            f"not {type(options).__name__} {options!r}"
        )
        raise TypeError(msg)
    options = {} if options is None else dict(options)
    allowed = IG_OPTIONS if base == "integrated_gradients" else ()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        accepted = f"it accepts {allowed}" if allowed else "it takes none"
        msg = f"base_options {unknown} are not options of base={base!r}: {accepted}"
        raise ValueError(msg)
    return options


def _base_maps(
    base: str,
    options: dict[str, Any],
    explained: Explained,
    x: torch.Tensor,
    target: torch.Tensor,
    grad: torch.Tensor,
    memory: int,
) -> torch.Tensor:
    """The base method's map at ``x`` itself (used for sigma = 0)."""
    if base == "gradient":
        return grad.detach()
    if base == "input_x_gradient":
        return (grad * x).detach()
    return _ig(explained, x, target, options, memory, torch.arange(len(x), device=x.device)).values


def _ig(
    explained: Explained,
    z: torch.Tensor,
    target: torch.Tensor,
    options: dict[str, Any],
    memory: int,
    rows: torch.Tensor,
) -> Attribution:
    """Integrated Gradients from copies ``z`` of the inputs ``rows`` (their forward arguments go with them)."""
    kwargs = explained.kwargs_for(rows) if explained.per_example or explained.fixed_kwargs else None
    return integrated_gradients(
        explained.model, z, target, preprocess=explained.preprocess, memory=memory, trace=False,
        forward_kwargs=kwargs, **options,
    )  # fmt: skip


def _ig_copies(
    explained: Explained,
    x: torch.Tensor,
    target: torch.Tensor,
    options: dict[str, Any],
    points: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]],
    accumulate: Callable[[torch.Tensor, torch.Tensor], None],
    total: int,
    memory: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Integrated Gradients at the noisy copies, as many per call as a quarter of the budget holds."""
    copy_bytes = 4 * x[0].numel() * x.element_size()  # the copy, its baseline, difference, accumulator
    group = max(1, min(total, (memory // 4) // copy_bytes))
    for start in range(0, total, group):
        stop = min(total, start + group)
        z, rows = points(start, stop)
        accumulate(rows, _ig(explained, z, target[rows], options, memory, rows).values)
        if progress is not None:
            progress(stop, total)
