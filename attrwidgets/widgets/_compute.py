"""What the explorer computes for one model and one image, turned into wire-ready payloads.

:class:`PathExplainer` holds the model, the image (on the model's device) and the options that do
not change; calling it with the kernel-side controls (baseline, σ, colour, steps, rule, target)
runs Integrated Gradients and returns one payload dict whose binary parts stay within
:data:`~attrwidgets.widgets._wire.MAX_UPDATE_BYTES`: the curves at every α of the trace; the final
attribution (α = 1) per colour channel at display size (``final_map``: ``channels`` (C, h, w)
float16 divided by ``scale``; at most half of the room, so the browser can reduce the channels as
it likes); and the per-α maps (channel sums) at up to ``max_frames`` points, area-downsampled to
fit what is left.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from attrwidgets.baselines import make_baseline
from attrwidgets.hooks import ModelGuard
from attrwidgets.model import Explained, grad_enabled, model_device
from attrwidgets.widgets._capture import capture, install
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, display_size, downsample, encode

__all__ = ["PathExplainer", "as_image", "select_frames"]

DISPLAY_PIXELS = 360 * 360
"""Most pixels of the image shown in the browser (larger images are downsampled for display)."""
MAX_FRAMES = 25
"""Most α points whose maps are sent (the curves use every point)."""
_MARGIN = 64 * 1024  # room for the curves and the JSON part of an update


def as_image(image: object) -> torch.Tensor:
    """One image as a float (1, C, H, W) tensor in [0, 1], from the shapes people pass.

    Accepts a tensor or numpy array shaped (H, W), (C, H, W), (1, C, H, W) or, for numpy,
    (H, W, C) with C ∈ {1, 3, 4} (alpha dropped); uint8 values are divided by 255.
    """
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4) and arr.shape[0] not in (1, 3):
            arr = np.moveaxis(arr[..., :3] if arr.shape[-1] == 4 else arr, -1, 0)
        tensor = torch.from_numpy(np.ascontiguousarray(arr))
    elif isinstance(image, torch.Tensor):
        tensor = image.detach()
    else:
        msg = f"image must be a torch.Tensor or a numpy array, not {type(image).__name__}"
        raise TypeError(msg)
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255.0
    elif not tensor.is_floating_point():
        msg = f"image has dtype {tensor.dtype}: pass floats in [0, 1] or uint8"
        raise TypeError(msg)
    if tensor.dim() == 2:
        tensor = tensor[None]
    if tensor.dim() == 3:
        tensor = tensor[None]
    if tensor.dim() != 4 or tensor.shape[0] != 1:
        msg = (
            f"image has shape {tuple(image.shape)}: explore() takes one image, (C, H, W), (1, C, H, W) "
            "or (H, W); for a batch, call it once per image"
        )
        raise ValueError(msg)
    if tensor.shape[1] not in (1, 3):
        msg = f"image has {tensor.shape[1]} channels; explore() shows grey (1) or RGB (3) images"
        raise ValueError(msg)
    return tensor


def select_frames(alphas: Sequence[float], count: int) -> list[int]:
    """Indices of at most ``count`` points spread evenly in α (always the first and the last)."""
    n = len(alphas)
    if n <= count:
        return list(range(n))
    grid = np.linspace(float(alphas[0]), float(alphas[-1]), count)
    values = np.asarray(alphas, dtype=np.float64)
    picked = sorted({int(np.abs(values - g).argmin()) for g in grid} | {0, n - 1})
    return picked


def _to_pixels(image: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(1, C, H, W) in [0, 1] → (h, w, C) uint8 at ``size``."""
    small = downsample(image[0], size).clamp(0, 1)
    return (small.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()


def _frame_scales(maps: torch.Tensor) -> torch.Tensor:
    peak = maps.abs().flatten(1).amax(dim=1)
    return torch.where(torch.isfinite(peak) & (peak > 0), peak, torch.ones_like(peak))


class PathExplainer:
    """Integrated Gradients of one image for the explorer; see the module docstring.

    Parameters
    ----------
    model : nn.Module
        The classifier; its device decides where the image goes.
    image : tensor or array
        One image in pixel space, see :func:`as_image`.
    preprocess : callable, optional
        Normalisation applied inside the differentiated function.
    references : tensor, optional
        Training inputs for the "references" baseline.
    labels : sequence of str, optional
        Class names.
    max_frames, display_pixels, max_bytes : int
        Limits of what travels to the browser.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        image: object,
        *,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        references: torch.Tensor | None = None,
        labels: Sequence[str] | None = None,
        max_frames: int = MAX_FRAMES,
        display_pixels: int = DISPLAY_PIXELS,
        max_bytes: int = MAX_UPDATE_BYTES,
    ) -> None:
        install()  # the hooks that route the worker's warnings to the notes, from the creating thread
        pixels = as_image(image)
        device = (model_device(model) if isinstance(model, nn.Module) else None) or torch.device("cpu")
        self.model = model
        self.preprocess = preprocess
        self.explained = Explained(model, pixels.to(device), preprocess)
        self.image = self.explained.inputs
        self.references = references
        self.labels = list(labels) if labels is not None else None
        self.max_frames = max(2, int(max_frames))
        self.max_bytes = int(max_bytes)
        h, w = self.image.shape[-2:]
        self.display = display_size(int(h), int(w), display_pixels)
        self.logits = self._forward(self.image)[0].float().cpu()
        self.classes = int(self.logits.numel())

    # -- facts about the image -------------------------------------------------------------------
    def label(self, index: int) -> str:
        """The class name of ``index`` (its number when no labels were given)."""
        if self.labels is not None and 0 <= index < len(self.labels):
            return str(self.labels[index])
        return f"class {index}"

    def top_classes(self, k: int = 5, include: Sequence[int] = ()) -> list[dict[str, Any]]:
        """The ``k`` highest-scoring classes (plus ``include``): index, label, score (logit), probability."""
        probs = torch.softmax(self.logits.double(), dim=0)
        order = torch.argsort(self.logits, descending=True)[: max(1, k)].tolist()
        order += [i for i in include if i not in order and 0 <= i < self.classes]
        return [
            {
                "index": int(i),
                "label": self.label(int(i)),
                "score": float(self.logits[i]),
                "prob": float(probs[i]),
            }
            for i in order
        ]

    def image_payload(self) -> dict[str, Any]:
        """The image at display size, (h, w, C) uint8."""
        return encode(_to_pixels(self.image, self.display))

    def _forward(self, z: torch.Tensor) -> torch.Tensor:
        module = self.explained.module
        with ModelGuard(module), grad_enabled(), torch.no_grad():
            return self.explained.logits(z).detach()

    # -- one computation -------------------------------------------------------------------------
    def baseline(self, params: dict[str, Any]) -> torch.Tensor:
        """The baseline tensor for the kernel-side controls in ``params``."""
        name = params.get("baseline", "black")
        return make_baseline(
            name,
            self.image,
            sigma=params.get("sigma"),
            color=params.get("color"),
            references=self.references,
            seed=int(params.get("seed", 0)),
        )

    def __call__(self, params: dict[str, Any], stage: str, progress: Callable[[int, int], None]) -> dict[str, Any]:
        """Run Integrated Gradients with ``params`` and return the result payload (see the module doc)."""
        from attrwidgets.methods.paths import integrated_gradients

        base = self.baseline(params)
        target = params.get("target")
        steps = params.get("steps", 50)
        rule = params.get("rule", "gausslegendre")
        started = time.perf_counter()
        with capture() as caught:  # this thread's warnings only: see _capture.py
            attribution = integrated_gradients(
                self.model,
                self.image,
                target,
                baseline=base,
                steps=steps,
                rule=rule,
                preprocess=self.preprocess,
                progress=progress,
            )
        notes = [str(w.message) for w in caught]
        trace = attribution.trace
        if trace is None or trace.grad_maps is None or trace.cumulative_maps is None:
            msg = "integrated_gradients returned no trace maps; the explorer needs trace=True"
            raise RuntimeError(msg)
        computed = time.perf_counter()
        alphas = trace.alphas[0].double().cpu()
        frames = select_frames(alphas.tolist(), self.max_frames)
        predicted = trace.predicted[0, frames].tolist()  # kept by the engine, no extra forward
        payload = self._payload(attribution, base, frames, predicted, params, stage, notes)
        payload["timings"] = {
            "attribution": computed - started,
            "payload": time.perf_counter() - computed,
        }
        return payload

    def _payload(
        self,
        attribution: Any,
        base: torch.Tensor,
        frames: list[int],
        predicted: list[int],
        params: dict[str, Any],
        stage: str,
        notes: list[str],
    ) -> dict[str, Any]:
        trace = attribution.trace
        baseline_pixels = encode(_to_pixels(base, self.display))
        room = self.max_bytes - len(baseline_pixels["view"]) - _MARGIN
        height, width = self.image.shape[-2:]
        display_pixels = self.display[0] * self.display[1]
        # the final attribution per channel (float16) at display size, but never more than half
        # of the room; the per-α maps (2 stacks of k float16 maps) share what is left
        final = attribution.values[0]
        channels = int(final.shape[0])
        final_pixels = max(16, room // (2 * 2 * channels))
        final_size = self.display
        if final_pixels < display_pixels:
            final_size = display_size(int(height), int(width), final_pixels)
        final_map = downsample(final, final_size)
        final_scale = _frame_scales(final_map[None])[0]
        room -= 2 * channels * final_size[0] * final_size[1]
        k = len(frames)
        map_pixels = max(16, room // (2 * 2 * k))
        size = display_size(int(height), int(width), min(map_pixels, display_pixels))
        grad = downsample(trace.grad_maps[0, frames], size)
        cumulative = downsample(trace.cumulative_maps[0, frames], size)
        grad_scale = _frame_scales(grad)
        cum_scale = _frame_scales(cumulative)
        target = int(attribution.target[0])
        score = float(attribution.score[0])
        baseline_score = float(attribution.baseline_score[0])
        total = float(attribution.values[0].double().sum())
        relative = attribution.relative_delta
        return {
            "stage": stage,
            "params": {k: v for k, v in params.items() if isinstance(v, (int, float, str, list)) or v is None},
            "target": target,
            "target_label": self.label(target),
            "score": score,
            "baseline_score": baseline_score,
            "sum": total,
            "delta": float(attribution.delta[0]),
            "relative_delta": float(relative[0]) if relative is not None else math.nan,
            "evaluations": int(trace.evaluations),
            "rule_used": str(attribution.params.get("rule", params.get("rule", ""))),
            "converged": bool(attribution.params.get("converged", True)),
            "max_steps": int(attribution.params.get("max_steps", 0) or 0),
            "steps": int(trace.alphas.shape[1]),
            "notes": notes,
            "curve": {
                "alphas": encode(trace.alphas[0], "float32"),
                "scores": encode(trace.scores[0], "float32"),
                "grad_norm": encode(trace.grad_norm[0], "float32"),
                "cumulative": encode(trace.cumulative[0], "float32"),
            },
            "frames": {
                "alphas": encode(trace.alphas[0, frames], "float32"),
                "predicted": encode(np.asarray(predicted, dtype=np.int32)),
                "grad": encode(grad / grad_scale.view(-1, 1, 1), "float16"),
                "grad_scale": encode(grad_scale, "float32"),
                "cumulative": encode(cumulative / cum_scale.view(-1, 1, 1), "float16"),
                "cumulative_scale": encode(cum_scale, "float32"),
            },
            "final_map": {
                "channels": encode(final_map / final_scale, "float16"),
                "scale": float(final_scale),
            },
            "baseline_image": baseline_pixels,
            "labels": {str(c): self.label(c) for c in sorted(set(predicted) | {target})},
            "_attribution": attribution,  # kept in the kernel (Explorer.attribution), never sent
        }
