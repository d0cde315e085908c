"""The explorer's evaluation panel: how fast the model's output falls as the map's pixels go.

A map that points at what the model uses should lose the class faster than a random ranking of
the same pixels (RISE's deletion), or, removing the *least* salient pixels first, change the output
less (the FullGrad paper's pixel perturbation). The panel shows the current map's curve against a
band of :data:`RANDOM_MAPS` random rankings. Map and random rankings go through one call of
:mod:`attrwidgets.evaluate` (one batch of inputs: the forward at the unperturbed image is spent once
per row, the perturbed copies in chunks under the memory budget).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from attrwidgets import evaluate
from attrwidgets.attribution import Attribution, reduce_channels
from attrwidgets.sampling import sample_generator

__all__ = ["EVALUATIONS", "RANDOM_MAPS", "evaluation_payload", "on_pixels"]

EVALUATIONS = ("off", "deletion", "pixel_perturbation")
"""What the panel can show: nothing, a deletion curve, or a pixel-perturbation curve."""
RANDOM_MAPS = 4
"""Random rankings behind the band (its mean, lowest and highest curve)."""
_TEXT = {
    "deletion": {
        "title": "Deletion: most salient pixels removed first (black)",
        "x": "fraction of pixels removed",
        "y": "probability of the class",
    },
    "pixel_perturbation": {
        "title": "Pixel perturbation: least salient pixels removed first (black)",
        "x": "fraction of pixels removed",
        "y": "|change of the score| / |score|",
    },
}


def on_pixels(values: torch.Tensor, image: torch.Tensor) -> bool:
    """Whether a map ranks the image's pixels: the image's shape, or one channel of it (Grad-CAM)."""
    return values.shape == image.shape or (
        values.dim() == image.dim() == 4 and values.shape[1] == 1 and values.shape[2:] == image.shape[2:]
    )


def evaluation_payload(
    model: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    attribution: Attribution,
    kind: str,
    *,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The panel's data for ``attribution`` (a map of ``image``, (1, C, H, W)): the map's curve and
    the random band, their areas (lower is better for both tests) and the words to draw."""
    if kind not in EVALUATIONS[1:]:
        msg = f"evaluation={kind!r} is not one of {EVALUATIONS[1:]}"
        raise ValueError(msg)
    if not on_pixels(attribution.values, image):
        msg = (
            f"the map has shape {tuple(attribution.values.shape)}, the image {tuple(image.shape)}: "
            "evaluate a map at the inputs"
        )
        raise ValueError(msg)
    own = reduce_channels(attribution.values.detach(), "abs_sum").to(torch.float64)  # (1, H, W)
    randoms = [torch.rand(own.shape[1:], generator=sample_generator(seed, i), dtype=torch.float64)
               for i in range(RANDOM_MAPS)]  # fmt: skip
    maps = torch.cat([own.cpu(), torch.stack(randoms)]).to(image.device)
    inputs = image.expand(1 + RANDOM_MAPS, *image.shape[1:])
    target = [int(attribution.target[0])] * (1 + RANDOM_MAPS)
    test = evaluate.deletion if kind == "deletion" else evaluate.pixel_perturbation
    curve = test(model, inputs, maps, target=target, preprocess=preprocess, seed=seed, progress=progress)
    ys = getattr(curve, curve.measure).to(torch.float64)  # (1 + R, K)
    band = ys[1:]
    return {
        "kind": kind,
        "measure": curve.measure,
        "better": "lower",
        "method": attribution.method,
        "fractions": curve.fractions.tolist(),
        "map": ys[0].tolist(),
        "map_auc": float(curve.auc[0]),
        "random_mean": band.mean(0).tolist(),
        "random_low": band.min(0).values.tolist(),
        "random_high": band.max(0).values.tolist(),
        "random_auc": float(curve.auc[1:].mean()),
        "random_count": RANDOM_MAPS,
        "forwards": int(len(inputs) * (len(curve.fractions) + 1)),
        **_TEXT[kind],
    }
