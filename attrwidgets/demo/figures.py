"""The demo's figures: the IG paper's and the Distill baselines article's views, written as PNG files.

:mod:`attrwidgets.demo` (``python -m attrwidgets.demo``) and the Integrated Gradients notebook draw
these; they are built from :mod:`attrwidgets.viz`'s rendering (overlays, colour scales, colour bars)
and follow its scale convention. Like :func:`attrwidgets.viz.show` they make
:class:`matplotlib.figure.Figure` objects, never through pyplot.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.figure import Figure

from attrwidgets.viz import (
    _COLORBAR_LABELS,
    _SIGNED,
    MAGNITUDE_CMAP,
    SIGNED_CMAP,
    _as_image,
    _colorbar,
    _draw_heat,
    _draw_image,
    _heat,
    _limit,
    _limits,
    _scalar,
    _to_numpy,
)

if TYPE_CHECKING:  # pragma: no cover
    from attrwidgets.attribution import Attribution, Trace

__all__ = [
    "figure_baseline_grid",
    "figure_completeness",
    "figure_gradient_vs_ig",
    "figure_saturation",
]

_DPI = 110


def _baseline_image(baseline: torch.Tensor | np.ndarray, picture: np.ndarray, index: int) -> np.ndarray:
    """A baseline as an image like ``picture`` (H, W, 3) or (H, W), broadcasting smaller shapes.

    A (N, C, H, W) tensor gives its input ``index``; a (C, 1, 1) colour or a scalar fills the frame.
    """
    if not isinstance(baseline, torch.Tensor):
        return np.clip(np.broadcast_to(_as_image(baseline), picture.shape), 0.0, 1.0)
    b = baseline.detach().cpu().float()
    if b.dim() == 4:  # (N, C, H, W)
        b = b[index if b.shape[0] > 1 else 0]
    channels = 1 if picture.ndim == 2 else 3
    try:
        b = b.broadcast_to((channels, *picture.shape[:2]))
    except RuntimeError as err:
        image_shape = (channels, *picture.shape[:2])
        msg = f"baseline of shape {tuple(baseline.shape)} does not broadcast to the image's shape {image_shape}"
        raise ValueError(msg) from err
    return _as_image(b)


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as an image file (PNG by the suffix) and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", facecolor="white")
    return path


def figure_gradient_vs_ig(
    image: torch.Tensor | np.ndarray,
    grad_attr: Attribution,
    ig_attr: Attribution,
    path: str | Path,
    *,
    label: str | None = None,
    index: int = 0,
    clip: float = 99.0,
) -> Path:
    """Image | gradient at the image | integrated gradients, side by side (Sundararajan et al. 2017, Fig. 2).

    Both maps are ``|Σ_c ·|`` clipped at the ``clip`` percentile, on a sequential colormap,
    each with its own colour bar (their units differ: ∂F/∂x versus a share of F(x) − F(x′)).

    Parameters
    ----------
    image : tensor or ndarray
        The input in [0, 1], as for :func:`show`.
    grad_attr, ig_attr : Attribution
        The plain gradient and the integrated gradients of the same input and target.
    path : str or Path
        Where to write the PNG.
    label : str, optional
        The explained class's name, for the titles.
    index : int
        Which input of the batch. Default 0.
    clip : float
        Percentile that saturates the colour scales. Default 99.

    Returns
    -------
    Path
        ``path``.
    """
    fig = Figure(figsize=(11.5, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    _draw_image(axes[0], _as_image(image, index), f"Input: {label}" if label else "Input")
    panels = ((axes[1], grad_attr, "Gradient at the input"), (axes[2], ig_attr, "Integrated gradients"))
    for ax, attr, name in panels:
        heat = _heat(attr.values, index, "abs_sum")
        im = _draw_heat(ax, heat, _limits(heat, "abs_sum", clip), MAGNITUDE_CMAP)
        rel = attr.relative_delta
        gap = f"\ncompleteness gap {100 * _scalar(rel, index):.2g} %" if rel is not None else ""
        ax.set_title(f"{name}{gap}", fontsize=10)
        _colorbar(fig, im, ax, f"|Σ over channels| (clipped at {clip:g}th pct)", shrink=0.9)
    if label:
        fig.suptitle(f"Attributions for the class “{label}”", fontsize=11)
    return _save(fig, path)


def figure_saturation(trace: Trace, path: str | Path, *, index: int = 0, label: str | None = None) -> Path:
    """The score and the gradient magnitude along the IG path, on twin axes (the IG paper's saturation plot).

    Left axis: F(x′ + α(x − x′)) against α. Right axis: mean |∂F/∂x| at each α divided by its
    maximum along the path (:attr:`Trace.grad_norm`). When the score flattens early while the
    gradient shrinks, the gradient at the input says little, which is what IG corrects.

    Parameters
    ----------
    trace : Trace
        From a path method (``alphas``, ``scores``, ``grad_mean_abs``).
    path : str or Path
        Where to write the PNG.
    index : int
        Which input of the batch. Default 0.
    label : str, optional
        The explained class's name, for the axis label and title.

    Returns
    -------
    Path
        ``path``.
    """
    alphas = _to_numpy(trace.alphas[index])
    scores = _to_numpy(trace.scores[index])
    grads = _to_numpy(trace.grad_norm[index])
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    twin = ax.twinx()
    what = f"score of “{label}”" if label else "score"
    left = ax.plot(alphas, scores, "o-", color="tab:blue", ms=3, label=f"{what} F(x′ + α(x − x′))")
    right = twin.plot(alphas, grads, "s-", color="tab:orange", ms=3, label="mean |∂F/∂x| / its maximum")
    ax.set_xlabel("α (0 = baseline, 1 = input)")
    ax.set_ylabel(what, color="tab:blue")
    twin.set_ylabel("normalised gradient magnitude", color="tab:orange")
    twin.set_ylim(0.0, 1.05)
    ax.set_xlim(0.0, 1.0)
    ax.grid(alpha=0.3)
    lines = left + right
    ax.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize=8)
    ax.set_title("Saturation along the path" + (f": “{label}”" if label else ""), fontsize=11)
    return _save(fig, path)


def figure_completeness(
    trace: Trace,
    score: torch.Tensor | float,
    baseline_score: torch.Tensor | float,
    path: str | Path,
    *,
    index: int = 0,
) -> Path:
    """The attributions accumulated up to each α against F(x) − F(x′) (the Distill baselines article's check).

    The curve is :attr:`Trace.cumulative` (Σ of the quadrature terms up to α, starting from 0
    at α = 0); completeness says its end meets the horizontal line F(x) − F(x′).

    Parameters
    ----------
    trace : Trace
        From a path method (``alphas``, ``weights``, ``path_derivative``).
    score, baseline_score : tensor or float
        F(x) and F(x′), per input (``index`` is taken) or as numbers.
    path : str or Path
        Where to write the PNG.
    index : int
        Which input of the batch. Default 0.

    Returns
    -------
    Path
        ``path``.
    """
    alphas = np.concatenate([[0.0], _to_numpy(trace.alphas[index])])
    total = np.concatenate([[0.0], _to_numpy(trace.cumulative[index])])
    span = _scalar(score, index) - _scalar(baseline_score, index)
    gap = total[-1] - span
    rel = abs(gap) / max(abs(span), 1e-12)
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(alphas, total, "o-", ms=3, color="tab:green", label="Σ attributions accumulated up to α")
    ax.axhline(span, color="black", ls="--", lw=1.2, label=f"F(x) − F(x′) = {span:.4g}")
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("α (0 = baseline, 1 = input)")
    ax.set_ylabel("Σ attributions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"Completeness: Σ attributions = {total[-1]:.4g}, gap {gap:.2g} ({100 * rel:.2g} %)", fontsize=10)
    return _save(fig, path)


def figure_baseline_grid(
    image: torch.Tensor | np.ndarray,
    results: dict[str, tuple[torch.Tensor, Attribution]],
    path: str | Path,
    *,
    index: int = 0,
    reduce: str = "abs_sum",
    clip: float = 99.0,
    alpha: float = 0.8,
    label: str | None = None,
) -> Path:
    """One column per baseline: the baseline on top, its IG heatmap over the input below.

    Each heatmap is divided by its own ``clip`` percentile, so the columns share one colour bar
    (the maps' absolute sizes differ because F(x) − F(x′) differs); the column title gives the
    relative completeness gap |Σ attributions − (F(x) − F(x′))| / |F(x) − F(x′)|.

    Parameters
    ----------
    image : tensor or ndarray
        The input in [0, 1], as for :func:`show`.
    results : dict
        Baseline name → ``(baseline, attribution)``; the baseline is an image tensor in pixel
        space that broadcasts to the input's shape.
    path : str or Path
        Where to write the PNG.
    index : int
        Which input of the batch. Default 0.
    reduce : {"abs_sum", "l2", "sum"}
        Channel reduction of the heatmaps. Default ``"abs_sum"`` (the Distill article's display).
    clip : float
        Percentile that sets each column's scale. Default 99.
    alpha : float
        Opacity of the strongest pixels over the input. Default 0.8.
    label : str, optional
        The explained class's name, for the title.

    Returns
    -------
    Path
        ``path``.
    """
    if not results:
        msg = "results is empty; give at least one baseline name → (baseline, attribution)"
        raise ValueError(msg)
    picture = _as_image(image, index)
    signed = reduce in _SIGNED
    cmap = SIGNED_CMAP if signed else MAGNITUDE_CMAP
    limits = (-1.0, 1.0) if signed else (0.0, 1.0)
    n = len(results)
    fig = Figure(figsize=(2.5 * n + 1.0, 5.6), layout="constrained")
    axes = np.asarray(fig.subplots(2, n, squeeze=False))
    for col, (name, (baseline, attr)) in enumerate(results.items()):
        _draw_image(axes[0, col], _baseline_image(baseline, picture, index), f"baseline: {name}")
        heat = _heat(attr.values, index, reduce)
        heat = heat / _limit(heat, clip)
        im = _draw_heat(axes[1, col], heat, limits, cmap, under=picture, alpha=alpha)
        rel = attr.relative_delta
        title = f"IG, gap {100 * _scalar(rel, index):.2g} %" if rel is not None else "IG"
        axes[1, col].set_title(title + (" (all zero)" if not heat.any() else ""), fontsize=10)
    _colorbar(fig, im, list(axes[1]), f"{_COLORBAR_LABELS[reduce]} / its {clip:g}th pct of |·|", shrink=0.9)
    fig.suptitle("Integrated gradients with different baselines" + (f": “{label}”" if label else ""), fontsize=11)
    return _save(fig, path)
