"""The explorer's evaluation panel: how fast the model's output falls as the map's pixels go.

A map that points at what the model uses should lose the class faster than a random ranking of
the same pixels (RISE's deletion), or, removing the *least* salient pixels first, change the output
less (the FullGrad paper's pixel perturbation). The panel shows the current map's curve against a
band of :data:`RANDOM_MAPS` random rankings. Map and random rankings go through one call of
:mod:`attrwidgets.evaluate` (one batch of inputs: the forward at the unperturbed image is spent once
per row, the perturbed copies in chunks under the memory budget).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from attrwidgets import evaluate
from attrwidgets.attribution import Attribution, reduce_channels

__all__ = ["EVALUATIONS", "RANDOM_MAPS", "curves_payload", "evaluation_payload", "on_pixels"]

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


def curves_payload(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: Sequence[torch.Tensor],
    maps: Sequence[dict[str, Any]],
    kind: str,
    *,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None,
    progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The curves of several maps and a random band for each (input, class) they explain.

    ``images``: the inputs, each (1, C, H, W). ``maps``: ``{"label", "input" (index into images),
    "attribution", ...}`` (other keys are copied into the curve, e.g. a grid's row and column).
    One call of :mod:`attrwidgets.evaluate` per input ranks its maps and its :data:`RANDOM_MAPS`
    random rankings per class together. Lower areas are better for both tests.
    """
    if kind not in EVALUATIONS[1:]:
        msg = f"evaluation={kind!r} is not one of {EVALUATIONS[1:]}"
        raise ValueError(msg)
    test = evaluate.deletion if kind == "deletion" else evaluate.pixel_perturbation
    curves: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    forwards, fractions, measure = 0, None, None
    for i, image in enumerate(images):
        mine = [m for m in maps if m["input"] == i]
        if not mine:
            continue
        rows, targets, labels = [], [], []
        for m in mine:
            values = m["attribution"].values
            if not on_pixels(values, image):
                msg = (
                    f"the map {m['label']!r} has shape {tuple(values.shape)}, the image {tuple(image.shape)}: "
                    "evaluate a map at the inputs"
                )
                raise ValueError(msg)
            rows.append(reduce_channels(values.detach(), "abs_sum")[0].to(torch.float64).cpu())
            targets.append(int(m["attribution"].target[0]))
        classes = sorted(set(targets), key=targets.index)
        for c in classes:
            rows += list(evaluate.random_maps(tuple(rows[0].shape), seed, RANDOM_MAPS))
            targets += [c] * RANDOM_MAPS
            labels.append(c)
        inputs = image.expand(len(rows), *image.shape[1:])
        curve = test(model, inputs, torch.stack(rows).to(image.device), target=targets, preprocess=preprocess,
                     seed=seed, progress=progress)  # fmt: skip
        ys = getattr(curve, curve.measure).to(torch.float64)
        fractions, measure = curve.fractions.tolist(), curve.measure
        forwards += int(len(inputs) * (len(fractions) + 1))
        for k, m in enumerate(mine):
            extra = {key: value for key, value in m.items() if key not in ("attribution",)}
            curves.append({**extra, "target": targets[k], "values": ys[k].tolist(), "auc": float(curve.auc[k])})
        for j, c in enumerate(classes):
            band = slice(len(mine) + j * RANDOM_MAPS, len(mine) + (j + 1) * RANDOM_MAPS)
            ys_band = ys[band]
            bands.append({"input": i, "target": c, "mean": ys_band.mean(0).tolist(),
                          "low": ys_band.min(0).values.tolist(), "high": ys_band.max(0).values.tolist(),
                          "auc": float(curve.auc[band].mean()), "count": RANDOM_MAPS})  # fmt: skip
    return {"kind": kind, "measure": measure, "better": "lower", "fractions": fractions, "curves": curves,
            "random": bands, "forwards": forwards, **_TEXT[kind]}  # fmt: skip


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
    """The explorer's panel: :func:`curves_payload` of one map of ``image`` (1, C, H, W)."""
    maps = [{"label": attribution.method, "method": attribution.method, "input": 0, "attribution": attribution}]
    out = curves_payload(model, [image], maps, kind, preprocess=preprocess, progress=progress, seed=seed)
    return {**out, "method": attribution.method}
