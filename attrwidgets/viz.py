"""Static numpy/matplotlib rendering of attributions: :func:`show` and the demo's figures.

Figures are built as :class:`matplotlib.figure.Figure` objects, never through pyplot, so nothing
is left open in pyplot's figure manager and no backend is needed to save them (Jupyter's inline
backend still displays a returned figure).

Scales follow one convention: a signed map (``reduce="sum"``) uses a diverging colormap on a
symmetric range ``[−v, v]`` and a magnitude (``"abs_sum"``, ``"l2"``) a sequential colormap on
``[0, v]``, where ``v`` is the ``clip`` percentile of the map's absolute values (so a few extreme
pixels do not wash out the rest). An all-zero map gets ``v = 1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.figure import Figure

from attrwidgets.attribution import reduce_channels

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

    from attrwidgets.attribution import Attribution, Trace

__all__ = [
    "figure_baseline_grid",
    "figure_completeness",
    "figure_gradient_vs_ig",
    "figure_saturation",
    "show",
]

SIGNED_CMAP = "RdBu_r"
"""Diverging colormap for signed maps: red is positive, blue negative, white zero."""
MAGNITUDE_CMAP = "inferno"
"""Sequential colormap for magnitudes, black at zero."""
_DPI = 110
_SIGNED = ("sum",)
_COLORBAR_LABELS = {
    "sum": "Σ over channels (signed)",
    "abs_sum": "|Σ over channels|",
    "l2": "‖·‖₂ over channels",
}


# ---------------------------------------------------------------------------------------------
# small helpers


def _to_numpy(x: torch.Tensor | np.ndarray | float) -> np.ndarray:
    """A float64 numpy copy of a tensor, array or number (detached, on the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _scalar(x: torch.Tensor | np.ndarray | float, index: int) -> float:
    """Element ``index`` of a per-input vector, or the number itself."""
    a = _to_numpy(x).reshape(-1)
    return float(a[index if a.size > 1 else 0])


def _limit(heat: np.ndarray, clip: float) -> float:
    """The ``clip`` percentile of |heat| (ignoring non-finite values); never zero or NaN."""
    mags = np.abs(heat[np.isfinite(heat)])
    if mags.size == 0:
        return 1.0
    v = float(np.percentile(mags, clip))
    if v <= 0.0:
        v = float(mags.max())
    return v if v > 0.0 else 1.0


def _limits(heat: np.ndarray, reduce: str, clip: float) -> tuple[float, float]:
    """``(vmin, vmax)``: symmetric for signed reductions, from zero for magnitudes."""
    v = _limit(heat, clip)
    return (-v, v) if reduce in _SIGNED else (0.0, v)


def _heat(values: torch.Tensor, index: int, reduce: str) -> np.ndarray:
    """The (H, W) map of input ``index`` reduced over channels."""
    if reduce == "none":
        msg = 'reduce="none" keeps the channels; a heatmap needs "sum", "abs_sum" or "l2"'
        raise ValueError(msg)
    heat = reduce_channels(values.detach(), reduce)[index]
    if heat.dim() != 2:  # (H, W)
        msg = (
            f"a heatmap needs image-shaped values (N, C, H, W) or (N, H, W); got values of shape {tuple(values.shape)}"
        )
        raise ValueError(msg)
    return _to_numpy(heat)


def _as_image(image: torch.Tensor | np.ndarray, index: int = 0) -> np.ndarray:
    """An image as numpy (H, W, 3) or (H, W) in [0, 1] for ``imshow``.

    Accepts tensors (C, H, W) or (N, C, H, W) with C = 1 or 3, and numpy (H, W, 3) or (H, W).
    Values are clipped to [0, 1] (a Gaussian-noise baseline, say, leaves that range).
    """
    if isinstance(image, torch.Tensor):
        x = image.detach().cpu().float()
        if x.dim() == 4:  # (N, C, H, W)
            x = x[index if x.shape[0] > 1 else 0]
        if x.dim() != 3 or x.shape[0] not in (1, 3):  # (C, H, W)
            msg = f"image tensor must be (C, H, W) or (N, C, H, W) with C = 1 or 3; got {tuple(image.shape)}"
            raise ValueError(msg)
        a = x.permute(1, 2, 0).numpy()
    else:
        a = np.asarray(image)
        a = a / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3):
        msg = f"image array must be (H, W, 3) or (H, W); got {a.shape}"
        raise ValueError(msg)
    return np.clip(a, 0.0, 1.0)


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


def _grey(image: np.ndarray) -> np.ndarray:
    """Luminance of an (H, W, 3) image, or the (H, W) image itself."""
    if image.ndim == 2:
        return image
    return image @ np.array([0.299, 0.587, 0.114])


def _draw_image(ax: Axes, image: np.ndarray, title: str | None = None) -> None:
    """Draw an (H, W, 3) or (H, W) image in [0, 1] without ticks."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image)
    _no_ticks(ax)
    if title:
        ax.set_title(title, fontsize=10)


def _draw_heat(
    ax: Axes,
    heat: np.ndarray,
    limits: tuple[float, float],
    cmap: str,
    *,
    under: np.ndarray | None = None,
    alpha: float = 0.6,
) -> AxesImage:
    """Draw a heatmap (over a dimmed grey ``under`` image when given); returns its image artist.

    Over an image, each pixel's opacity is ``alpha · min(|value| / v, 1)``, so pixels with no
    attribution stay see-through.
    """
    vmin, vmax = limits
    if under is not None and under.shape[:2] != heat.shape:
        (ih, iw), (hh, hw) = under.shape[:2], heat.shape
        msg = f"the image is {ih}×{iw} pixels but the attribution map is {hh}×{hw}; give the attributed input"
        raise ValueError(msg)
    if under is None:
        im = ax.imshow(heat, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(0.25 + 0.5 * _grey(under), cmap="gray", vmin=0.0, vmax=1.0)
        opacity = alpha * np.clip(np.abs(np.nan_to_num(heat)) / max(abs(vmin), abs(vmax)), 0.0, 1.0)
        im = ax.imshow(heat, cmap=cmap, vmin=vmin, vmax=vmax, alpha=opacity, interpolation="nearest")
    _no_ticks(ax)
    return im


def _no_ticks(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _colorbar(fig: Figure, im: AxesImage, ax: Axes | list[Axes], label: str, **kwargs: object) -> None:
    """A colour bar for ``im`` whose colours are fully opaque (an overlay's alpha is not kept)."""
    cbar = fig.colorbar(im, ax=ax, **kwargs)
    cbar.solids.set_alpha(1.0)
    cbar.set_label(label, fontsize=9)
    cbar.ax.tick_params(labelsize=8)


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as an image file (PNG by the suffix) and return the path."""
    path = Path(path)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", facecolor="white")
    return path


def _target_text(attribution: Attribution, index: int) -> str:
    target = attribution.target.reshape(-1)
    return f"target {int(target[index if target.numel() > 1 else 0])}"


# ---------------------------------------------------------------------------------------------
# public API


def show(
    attribution: Attribution,
    image: torch.Tensor | np.ndarray | None = None,
    *,
    index: int = 0,
    reduce: str = "sum",
    clip: float = 99.0,
    alpha: float = 0.6,
    cmap: str | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draw one input's attribution heatmap with a colour bar, over its image when given.

    Parameters
    ----------
    attribution : Attribution
        Image-shaped values, (N, C, H, W) or (N, H, W).
    image : tensor or ndarray, optional
        The input in [0, 1]: (3, H, W), (N, 3, H, W) (``index`` is taken), a 1-channel
        equivalent, or numpy (H, W, 3). Drawn in dimmed grey under the heatmap.
    index : int
        Which input of the batch. Default 0.
    reduce : {"sum", "abs_sum", "l2"}
        Channel reduction (:func:`attrwidgets.attribution.reduce_channels`). ``"sum"`` is signed
        and drawn with a diverging colormap on the symmetric range [−v, v] (unless the map has no
        negative value, as Grad-CAM's: then it is a magnitude); the others are magnitudes drawn
        with a sequential colormap on [0, v].
    clip : float
        Percentile of |map| (0–100) that sets v; larger values saturate. Default 99.
    alpha : float
        Opacity of the strongest pixels over the image (0–1). Default 0.6.
    cmap : str, optional
        A matplotlib colormap name; default ``"RdBu_r"`` for signed maps, ``"inferno"`` otherwise.
    ax : Axes, optional
        Draw into this axes (and its figure); by default a new figure is made.
    title : str, optional
        Default: the method name and the target.

    Returns
    -------
    Figure
        The figure; its heatmap is the last image of the axes (``ax.images[-1]``).
    """
    heat = _heat(attribution.values, index, reduce)
    if reduce in _SIGNED and heat.min() >= 0 < heat.max():
        reduce = "abs_sum"  # a map with no negative values (Grad-CAM, FullGrad) is a magnitude
    limits = _limits(heat, reduce, clip)
    cmap = cmap or (SIGNED_CMAP if reduce in _SIGNED else MAGNITUDE_CMAP)
    if ax is None:
        fig = Figure(figsize=(4.6, 3.8), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    under = None if image is None else _as_image(image, index)
    im = _draw_heat(ax, heat, limits, cmap, under=under, alpha=alpha)
    _colorbar(fig, im, ax, f"{_COLORBAR_LABELS[reduce]} (clipped at {clip:g}th pct)")
    if title is None:
        title = f"{attribution.method}, {_target_text(attribution, index)}"
    ax.set_title(title, fontsize=10)
    return fig


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
