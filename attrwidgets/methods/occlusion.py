"""Occlusion: how much the score drops when a sliding window of the input is replaced by a baseline.

Forward passes only, in chunks through the engine's :func:`~attrwidgets.methods._engine.evaluate`.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from attrwidgets.attribution import Attribution, channel_axis
from attrwidgets.baselines import resolve_baseline
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import Chunk, Points, accumulator_dtype, evaluate, first_pass, progress_reporter
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["occlusion"]


#: With ``window=None`` the window's side is the shortest spatial side over this (at least 1), and
#: ``stride=None`` half the window: about 15 × 15 positions on an image of any size (225 forwards,
#: seconds on a CPU for a 224² photo, where an 8-pixel window with stride 4 is 3025).
AUTO_WINDOW_FRACTION = 8


def auto_window(shape: tuple[int, ...]) -> int:
    """The default window side for inputs of ``shape`` (N, ...): see :data:`AUTO_WINDOW_FRACTION`."""
    axes, _ = _spatial_axes(torch.empty(shape, device="meta"))
    return max(1, round(min(shape[a] for a in axes) / AUTO_WINDOW_FRACTION))


def auto_stride(shape: tuple[int, ...]) -> int:
    """The default stride for inputs of ``shape``: half the default window (at least 1)."""
    return max(1, auto_window(shape) // 2)


# -- occlusion -------------------------------------------------------------------------------------
@register(
    controls=(
        Control("window", "int", None, 1, 4096, doc="window side in pixels (an int, or a tuple per spatial axis)",
                auto=auto_window),
        Control("stride", "int", None, 1, 4096, doc="step between windows in pixels; at most the window",
                auto=auto_stride),
        Control("baseline", "baseline", 0.0, doc="what an occluded region is replaced with"),
    ),
    paper="Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014 (arXiv:1311.2901)",
    axioms=("implementation_invariance",),
    produces=("score", "parts"),
    needs=("baseline",),
)
@shared_docs
def occlusion(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    window: int | tuple[int, ...] | None = None,
    stride: int | tuple[int, ...] | None = None,
    baseline: object = 0.0,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    r"""Occlusion: the mean drop of the score over the sliding windows that cover each element.

    For every window position :math:`p` the inputs inside the window are replaced by the baseline
    (:math:`x^{(p)} = x \odot (1 - M_p) + x' \odot M_p`) and

    .. math:: \mathrm{Occ}_i(x) = \frac{\sum_{p \,:\, i \in M_p} \big(F(x) - F(x^{(p)})\big)}
                                       {\#\{p : i \in M_p\}} .

    Windows start at multiples of ``stride`` along each spatial axis, up to the first one that
    reaches the far edge; the last one is cut at the edge, so every element is covered. For image
    inputs (N, C, H, W) the window spans all channels and slides over H and W; for (N, T, E)
    embeddings it spans E and slides over T; for (N, L) it slides over L. Only forward passes
    are spent, :math:`N \cdot \prod_d (\lceil (D_d - w_d)/s_d \rceil + 1)` of them, in chunks
    under the memory budget.

    Parameters
    ----------
    {model_inputs_target}
    window : int or tuple of int, optional
        Window size in elements along each spatial axis (an int is used on every axis). At least
        1 and at most the input's size. Default: the shortest spatial side / 8 (28 on a 224²
        image, 4 on 28², 1 on 8²), so the number of forwards does not grow with the image.
    stride : int or tuple of int, optional
        Step between window positions; at least 1 and at most the window where the window is
        smaller than the input (larger steps would leave elements that no window covers).
        Default: half the window (at least 1).
    baseline : number, str, tensor or callable
        What the occluded region is replaced with (see :mod:`attrwidgets.baselines`): 0.0
        (default, black), "blur", a tensor, ...
    preprocess : callable, optional
        Applied to every occluded copy before the model (e.g. normalisation).
    {forward_kwargs}
    {memory}
    {progress}

    Returns
    -------
    Attribution
        ``values`` (shape of the inputs, the same value on every channel of a pixel), ``score``
        F(x), ``parts["score_drop"]``: F(x) − F(x^{(p)}) per window position, shape
        (N, positions along each spatial axis...), the raw map before it is spread over pixels.

    References
    ----------
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
    arXiv:1311.2901.

    Notes
    -----
    The definition is Captum's ``Occlusion`` with ``sliding_window_shapes=(C, wh, ww)``,
    ``strides=(C, sh, sw)``: the same window positions (cut at the far edge), the same
    mean over covering windows. Differences: ``window`` and ``stride`` name only the spatial axes
    (a window always spans the channels); chunks are sized by the memory budget rather than
    ``perturbations_per_eval``; the baseline may be a named one such as "blur"; the per-window
    drops are kept in ``parts``; bad windows raise ``ValueError`` (Captum asserts).

    Examples
    --------
    >>> attr = occlusion(model, images, window=16, stride=8)     # doctest: +SKIP
    >>> attr.values.shape, attr.parts["score_drop"].shape          # doctest: +SKIP
    (torch.Size([1, 3, 224, 224]), torch.Size([1, 27, 27]))
    """
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    x = explained.inputs
    axes, covered = _spatial_axes(x)
    sizes = tuple(x.shape[a] for a in axes)
    win = _as_sizes("window", auto_window(tuple(x.shape)) if window is None else window, sizes)
    step = _as_sizes("stride", auto_stride(tuple(x.shape)) if stride is None else stride, sizes)
    _check_window(win, step, sizes)
    base, described = resolve_baseline(baseline, x)
    memory_bytes = parse_memory(memory)
    counts = tuple(math.ceil((d - w) / s) + 1 for d, w, s in zip(sizes, win, step, strict=True))
    positions = math.prod(counts)
    report = progress_reporter(progress, len(x) * positions)
    n = len(x)
    acc_dtype = accumulator_dtype(x.dtype)
    drops = torch.zeros(n * positions, dtype=acc_dtype, device=x.device)

    with ModelGuard(explained.module):
        at_x = first_pass(explained, x, target, memory=memory_bytes, backward=False)
        target_t, score, per_point = at_x.target, at_x.score, at_x.per_point

        def build(start: int, stop: int) -> Points:
            k = torch.arange(start, stop, device=x.device)
            rows = k // positions
            inside = _window_mask(k % positions, counts, win, step, axes, x.shape)
            return Points(torch.where(inside, base[rows], x[rows]), target_t[rows], rows, rows=rows)

        def consume(chunk: Chunk) -> None:
            drops[chunk.start : chunk.stop] = (score[chunk.context] - chunk.score).to(acc_dtype)

        evaluate(explained, n * positions, build, consume, grad=False, memory=memory_bytes, per_point=per_point,
                 fixed=drops.numel() * drops.element_size(), progress=report)  # fmt: skip

    grid = drops.view(n, 1, *counts)
    values = (_spread(grid, win, step, sizes) / _spread(torch.ones_like(grid), win, step, sizes)).squeeze(1)
    if covered is not None:
        values = values.unsqueeze(covered).expand(x.shape)
    params: dict[str, Any] = {"window": win, "stride": step, "baseline": described, "memory": memory_bytes}
    return Attribution(
        values=values.to(x.dtype).contiguous(),
        target=target_t,
        method="occlusion",
        params=params,
        score=score,
        parts={"score_drop": grid.squeeze(1)},
    )


def _spatial_axes(x: torch.Tensor) -> tuple[tuple[int, ...], int | None]:
    """The axes the window slides over, and the feature axis it spans (None for (N, L))."""
    if x.dim() > 5:
        msg = (
            f"occlusion slides a window over at most 3 spatial axes; the inputs have shape {tuple(x.shape)}. "
            "Reshape them to (N, C, H, W), (N, C, D, H, W), (N, T, E) or (N, L)"
        )
        raise ValueError(msg)
    axis = channel_axis(x)
    if x.dim() == 5:
        axis = 1
    if axis is None:
        return (1,), None
    axis %= x.dim()
    return tuple(a for a in range(1, x.dim()) if a != axis), axis


def _as_sizes(name: str, value: object, sizes: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (int(value),) * len(sizes)
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        if len(value) != len(sizes):
            msg = (
                f"{name}={tuple(value)!r} has {len(value)} sizes but the inputs have {len(sizes)} spatial "
                f"axes of sizes {sizes}: give one size per spatial axis (the window always spans the "
                "channels), or one int for all"
            )
            raise ValueError(msg)
        return tuple(int(v) for v in value)
    msg = f"{name} must be a positive int or a tuple of positive ints (one per spatial axis), not {value!r}"
    raise TypeError(msg)


def _check_window(win: tuple[int, ...], step: tuple[int, ...], sizes: tuple[int, ...]) -> None:
    if any(w < 1 for w in win) or any(s < 1 for s in step):
        msg = f"window={win} and stride={step} must be at least 1 on every axis"
        raise ValueError(msg)
    if any(w > d for w, d in zip(win, sizes, strict=True)):
        msg = (
            f"window={win} is larger than the inputs' spatial size {sizes}: "
            f"use a window of at most {sizes} (the whole input is occluded at window={sizes})"
        )
        raise ValueError(msg)
    gaps = [s > w and w < d for w, s, d in zip(win, step, sizes, strict=True)]
    if any(gaps):
        msg = (
            f"stride={step} is larger than window={win}: the elements between windows would never be "
            "occluded; use a stride of at most the window"
        )
        raise ValueError(msg)


def _window_mask(
    position: torch.Tensor,
    counts: tuple[int, ...],
    win: tuple[int, ...],
    step: tuple[int, ...],
    axes: tuple[int, ...],
    shape: torch.Size,
) -> torch.Tensor:
    """(B, ...) bool mask, broadcastable to the inputs, of the windows at ``position`` (row-major over ``counts``)."""
    inside = None
    rest = position
    for d in reversed(range(len(counts))):
        rest, k = torch.div(rest, counts[d], rounding_mode="floor"), rest % counts[d]
        view = [1] * len(shape)
        view[axes[d]] = shape[axes[d]]
        coord = torch.arange(shape[axes[d]], device=position.device).view(view)
        first = (k * step[d]).view((-1,) + (1,) * (len(shape) - 1))
        along = (coord >= first) & (coord < first + win[d])
        inside = along if inside is None else inside & along
    return inside


def _spread(grid: torch.Tensor, win: tuple[int, ...], step: tuple[int, ...], sizes: tuple[int, ...]) -> torch.Tensor:
    """Σ over window positions of grid[p] on the elements window p covers, (N, 1, *sizes)."""
    conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[len(win) - 1]
    ones = torch.ones((1, 1, *win), dtype=grid.dtype, device=grid.device)
    out = conv(grid, ones, stride=step)
    return out[(..., *(slice(0, d) for d in sizes))]
