"""A ready misclassification for :func:`attrwidgets.compare_inputs`: a photo the demo model gets
right and a zoomed-in crop of it that it gets wrong.

Grace Hopper's portrait (matplotlib's sample photo): EfficientNet-Lite0 says "military uniform"
(right: she wears the US Navy's, 38 %), and for the photo zoomed in 1.5× on her face and officer's
cap (centre at 30 % of the height) it says "mortarboard" (62 %), the academic cap.
:func:`zoomed_pair` returns both at 224 × 224; the zoom is cut from the full-resolution photo,
not upsampled from the small one.
"""

from __future__ import annotations

import torch

from attrwidgets.demo.data import _photo_arrays, _resize_center_crop

__all__ = ["MISTAKE", "zoomed", "zoomed_pair"]

MISTAKE = {"photo": "grace_hopper", "factor": 1.5, "center": (0.3, 0.5),
           "right": "military uniform", "wrong": "mortarboard"}  # fmt: skip
"""The example: which photo, the zoom, what the demo model says for each."""


def zoomed(photo: str, factor: float = 2.0, center: tuple[float, float] = (0.5, 0.5), size: int = 224) -> torch.Tensor:
    """The photo ``photo`` (a name of :func:`attrwidgets.demo.photos`) as ``photos(size)`` shows it,
    zoomed in ``factor`` times around ``center`` (fractions of height and width), (3, size, size)."""
    arrays = _photo_arrays()
    if photo not in arrays:
        msg = f"photo {photo!r} is not a demo photo; choose from {sorted(arrays)}"
        raise ValueError(msg)
    if not isinstance(factor, (int, float)) or not 1 <= factor <= 8:
        msg = f"factor must be a number from 1 to 8 (how many times to zoom in), not {factor!r}"
        raise ValueError(msg)
    if not all(0 <= c <= 1 for c in center):
        msg = f"center must be two fractions in [0, 1] (of the height and the width), not {center!r}"
        raise ValueError(msg)
    big = _resize_center_crop(arrays[photo], round(size * factor))
    top = round((big.shape[1] - size) * center[0])
    left = round((big.shape[2] - size) * center[1])
    return big[:, top : top + size, left : left + size].contiguous()


def zoomed_pair(size: int = 224) -> tuple[torch.Tensor, torch.Tensor]:
    """(photo, zoomed crop) of :data:`MISTAKE`: right and wrong for the demo model."""
    photo = _resize_center_crop(_photo_arrays()[MISTAKE["photo"]], size)
    return photo, zoomed(MISTAKE["photo"], MISTAKE["factor"], MISTAKE["center"], size)
