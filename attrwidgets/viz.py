"""Static numpy/matplotlib rendering of attributions: :func:`show`, its overlays and colour scales.

The demo's figures (gradient vs IG, saturation, completeness, baseline grid) are drawn with these
helpers in :mod:`attrwidgets.demo.figures`.

Figures are built as :class:`matplotlib.figure.Figure` objects, never through pyplot, so nothing
is left open in pyplot's figure manager and no backend is needed to save them (Jupyter's inline
backend still displays a returned figure).

Scales follow one convention: a signed map (``reduce="sum"``) uses a diverging colormap on a
symmetric range ``[−v, v]`` and a magnitude (``"abs_sum"``, ``"l2"``) a sequential colormap on
``[0, v]``, where ``v`` is the ``clip`` percentile of the map's absolute values (so a few extreme
pixels do not wash out the rest). An all-zero map gets ``v = 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.figure import Figure

from attrwidgets.attribution import reduce_channels

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.image import AxesImage

    from attrwidgets.attribution import Attribution

__all__ = ["show"]

SIGNED_CMAP = "RdBu_r"
"""Diverging colormap for signed maps: red is positive, blue negative, white zero."""
MAGNITUDE_CMAP = "inferno"
"""Sequential colormap for magnitudes, black at zero."""
_SIGNED = ("sum",)
#: ``sign=`` of :func:`show`: the part of a signed map drawn, as a magnitude ("both" keeps the sign).
_SIGN_PARTS = {
    "both": lambda heat: heat,
    "positive": lambda heat: np.clip(heat, 0.0, None),
    "negative": lambda heat: np.clip(-heat, 0.0, None),
    "absolute": np.abs,
}
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
    cmap: str | Colormap | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    sign: str = "both",
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
    cmap : str or Colormap, optional
        A matplotlib colormap (or its name); default ``"RdBu_r"`` for signed maps, ``"inferno"``
        otherwise.
    ax : Axes, optional
        Draw into this axes (and its figure); by default a new figure is made.
    title : str, optional
        Default: the method name and the target.
    sign : {"both", "positive", "negative", "absolute"}
        With ``reduce="sum"``: the signed map (default), only its positive part, the size of its
        negative part (−Σ where Σ < 0, else 0) or |Σ|; the last three are magnitudes. The
        explorer's sign menu, for its PNG.

    Returns
    -------
    Figure
        The figure; its heatmap is the last image of the axes (``ax.images[-1]``).
    """
    if sign not in _SIGN_PARTS:
        msg = f"sign must be one of {sorted(_SIGN_PARTS)}, not {sign!r}"
        raise ValueError(msg)
    heat = _heat(attribution.values, index, reduce)
    label = None
    if reduce in _SIGNED and sign != "both":
        heat, label = _SIGN_PARTS[sign](heat), f"Σ over channels, {sign} part" if sign != "absolute" else None
        reduce = "abs_sum"  # a part of the sign, or |Σ|: a magnitude
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
    _colorbar(fig, im, ax, f"{label or _COLORBAR_LABELS[reduce]} (clipped at {clip:g}th pct)")
    if title is None:
        title = f"{attribution.method}, {_target_text(attribution, index)}"
    ax.set_title(title, fontsize=10)
    return fig
