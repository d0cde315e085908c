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
from attrwidgets.registry import REGISTRY, _short
from attrwidgets.widgets._capture import capture, install
from attrwidgets.widgets._evaluation import evaluation_payload, on_pixels
from attrwidgets.widgets._methods import OPTION_KINDS, view_of
from attrwidgets.widgets._samples import Recorder, RunningMeans
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, display_size, downsample, encode

__all__ = ["PathExplainer", "as_image", "select_frames"]

EVALUATE = "evaluate"
"""The name of the stage that evaluates the final map (see :mod:`._evaluation`)."""
REF_PIXELS = 96 * 96
"""Most pixels of one of Expected Gradients' per-reference maps in the explorer's strip."""
STRIP_CLIP = 0.99
"""The strip's colour scale: this quantile of the magnitudes of all its maps."""
PICTURE_PIXELS = 48 * 48
"""Most pixels of the picture of a reference beside its map."""


def _map_key(params: dict[str, Any]) -> str:
    """What decides a map: every parameter but the evaluation's own choice."""
    return repr(sorted((k, repr(v)) for k, v in params.items() if k != "evaluation"))


SEGMENTS = 64
"""About how many segments the image is cut into for picking a baseline colour by a click."""
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
        self.baseline_image: torch.Tensor | None = None
        self.baseline_label: str | None = None  # what the model sees in that other image
        self.baseline_notes: list[str] = []

    # -- segments, for picking a baseline colour by clicking the image ---------------------------------
    def segments(self) -> np.ndarray:
        """(h, w) segment ids of the image at display size (SLIC superpixels, about
        :data:`SEGMENTS` of them; deterministic: SLIC draws nothing at random), computed once."""
        if getattr(self, "_segments", None) is None:
            from skimage.segmentation import slic

            pixels = _to_pixels(self.image, self.display).astype(np.float64) / 255
            gray = pixels.shape[-1] == 1
            self._segments = slic(pixels[..., 0] if gray else pixels, n_segments=SEGMENTS, compactness=10.0,
                                  start_label=0, channel_axis=None if gray else -1).astype(np.int32)  # fmt: skip
        return self._segments

    def segments_payload(self) -> dict[str, Any]:
        """:meth:`segments` for the front end: uint8 ids when they fit, else int32."""
        seg = self.segments()
        return encode(seg, "uint8" if seg.max() < 256 else "int32")

    def pick(self, x: float, y: float, *, pixel: bool) -> dict[str, Any]:
        """The colour at (x, y) ∈ [0, 1]² of the image (fractions of its width and height): the mean
        colour of the segment there (at the image's full resolution), or with ``pixel`` that pixel's
        own. Returns ``{"segment", "color" (floats in [0, 1], one per channel), "x", "y"}``."""
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
        try:
            fx, fy = (float(x), float(y)) if numbers else (math.nan, math.nan)
        except OverflowError:  # an integer no float holds, as a browser may send
            fx = fy = math.nan
        if not (math.isfinite(fx) and math.isfinite(fy)):
            msg = f"pick: x and y must be finite numbers in [0, 1], not {_short(x)}, {_short(y)}"
            raise ValueError(msg)
        x, y = min(max(fx, 0.0), 1.0), min(max(fy, 0.0), 1.0)
        height, width = self.image.shape[-2:]
        row, col = min(int(y * height), height - 1), min(int(x * width), width - 1)
        if pixel:
            color = self.image[0, :, row, col]
            return {"segment": -1, "color": color.double().cpu().tolist(), "x": x, "y": y}
        seg = torch.from_numpy(self.segments())
        h, w = seg.shape
        full = seg[(torch.arange(height) * h // height)[:, None], (torch.arange(width) * w // width)[None, :]]
        segment = int(full[row, col])
        inside = (full == segment).to(self.image.device)
        color = self.image[0][:, inside].double().mean(dim=1)
        return {"segment": segment, "color": color.cpu().tolist(), "x": x, "y": y}

    def set_baseline_image(self, other: object) -> None:
        """Another image as the baseline ("image" in the menu): the path runs from it to the image.

        Same channels required; another size is resized (bilinear, antialiased) to the image's,
        with a note. What the model sees in it is said in the notes.
        """
        try:
            pixels = as_image(other).to(self.image.device, self.image.dtype)
        except (TypeError, ValueError) as error:
            msg = f"baseline: give a baseline's name or another image (a tensor or array like the image): {error}"
            raise ValueError(msg) from None
        if pixels.shape[1] != self.image.shape[1]:
            msg = (
                f"baseline: the other image has {pixels.shape[1]} channels and the image {self.image.shape[1]}; "
                "give both in the same colour format"
            )
            raise ValueError(msg)
        notes = []
        if pixels.shape[-2:] != self.image.shape[-2:]:
            size = tuple(int(v) for v in self.image.shape[-2:])
            notes.append(f"the baseline image ({pixels.shape[-2]}×{pixels.shape[-1]}) was resized to the image's "
                         f"{size[0]}×{size[1]} (bilinear)")  # fmt: skip
            pixels = torch.nn.functional.interpolate(pixels, size=size, mode="bilinear", antialias=True,
                                                     align_corners=False).clamp(0, 1)  # fmt: skip
        if not torch.isfinite(pixels).all():
            msg = "baseline: the other image holds NaN or infinite values"
            raise ValueError(msg)
        seen = self._forward(pixels)[0].float().cpu()
        label = self.label(int(seen.argmax()))
        notes.append(
            f"baseline: another image (the model sees “{label}” in it). Positive "
            "attributions: what this image has that raises the score over the other one; negative: what the "
            "other has that this one lacks"
        )
        self.baseline_image, self.baseline_label, self.baseline_notes = pixels, label, notes

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
        if name == "image":
            if self.baseline_image is None:
                msg = 'baseline "image" needs another image: pass baseline=<image> to explore()'
                raise ValueError(msg)
            return self.baseline_image
        return make_baseline(
            name,
            self.image,
            sigma=params.get("baseline_sigma", params.get("sigma")),
            color=params.get("color"),
            references=self.references,
            seed=int(params.get("seed", 0)),
        )

    def __call__(self, params: dict[str, Any], stage: str, progress: Callable[[int, int], None]) -> dict[str, Any]:
        """Run ``params["method"]`` (default Integrated Gradients) and return its result payload.

        The payload's ``view`` (see :func:`~attrwidgets.widgets._methods.view_of`) says which panels
        the front end draws: "path", "samples" or "map".
        """
        if stage == EVALUATE:
            return self._evaluation(params, progress)
        name = params.get("method") or "integrated_gradients"
        method = REGISTRY[name]
        view = view_of(method)
        options = {c.name: params[c.name] for c in method.controls if c.name in params and c.kind in OPTION_KINDS}
        started = time.perf_counter()
        kwargs, base = self._kwargs(method, options, params)
        running = None
        model, preprocess = self.model, self.preprocess
        at_layer = any(c.kind == "module" and options.get(c.name) is not None for c in method.controls)
        if view == "samples" and not at_layer:
            running = RunningMeans(name, self.image, options, self.references)
            if running.supported() and isinstance(self.model, nn.Module):
                model, preprocess = Recorder(self.model, self.preprocess, running), None
            else:
                running = None
        if "progress" in method.options:
            kwargs["progress"] = progress
        with capture() as caught:  # this thread's warnings only: see _capture.py
            attribution = method.fn(model, self.image, params.get("target"), preprocess=preprocess, **kwargs)
        notes = [str(w.message) for w in caught]
        if kwargs.get("baseline") is not None and params.get("baseline") == "image":
            notes += self.baseline_notes
        if isinstance(self.model, nn.Module) and self.model.training:
            notes.append("the model is in training mode: it was evaluated in eval mode (dropout off, batch-norm "
                         "statistics fixed) and put back in training mode afterwards")  # fmt: skip
        computed = time.perf_counter()
        if view == "path":
            payload = self._path_payload(attribution, base, params, stage, notes)
        else:
            payload = self._map_payload(attribution, base, params, stage, notes)
            if view == "samples":
                if at_layer:
                    notes.append("running means over samples are kept at the inputs; at a layer, only the final map")
                self._add_samples(payload, attribution, running, notes)
        self._last_map = (_map_key(params), attribution)
        payload["view"] = view
        payload["method"] = name
        payload["timings"] = {
            "attribution": computed - started,
            "payload": time.perf_counter() - computed,
        }
        return payload

    def _evaluation(self, params: dict[str, Any], progress: Callable[[int, int], None]) -> dict[str, Any]:
        """The evaluation panel's payload for the map of ``params`` (computed by the stage before,
        on this thread; computed here when it is not that one)."""
        key = _map_key(params)
        last = getattr(self, "_last_map", None)
        if last is None or last[0] != key:
            self(params, "full", progress)
            last = self._last_map
        attribution = last[1]
        started = time.perf_counter()
        if not on_pixels(attribution.values, self.image):
            return {"evaluation": {"kind": params.get("evaluation"), "unavailable":
                    "this map lives at a layer, not on the image's pixels: no pixels to remove"}}  # fmt: skip
        out = evaluation_payload(self.model, self.image, attribution, params["evaluation"],
                                 preprocess=self.preprocess, progress=progress)  # fmt: skip
        out["seconds"] = time.perf_counter() - started
        out["target_label"] = self.label(int(attribution.target[0]))
        return {"evaluation": out}

    def _kwargs(
        self, method: Any, options: dict[str, Any], params: dict[str, Any]
    ) -> tuple[dict[str, Any], torch.Tensor | None]:
        """The method's keyword arguments from the validated options, generically by control kind."""
        kwargs: dict[str, Any] = {}
        base = None
        modules = dict(self.model.named_modules()) if isinstance(self.model, nn.Module) else {}
        for control in method.controls:
            if control.kind == "baseline":
                base = self.baseline(params)
                kwargs[control.name] = base
            elif control.kind == "tensor":
                if self.references is None:
                    msg = f"{method.name} needs {control.name}: pass {control.name}=... to explore()"
                    raise ValueError(msg)
                kwargs[control.name] = self.references
            elif control.name in options:
                value = options[control.name]
                kwargs[control.name] = modules[value] if control.kind == "module" and value is not None else value
        return kwargs, base

    def _path_payload(
        self, attribution: Any, base: torch.Tensor, params: dict[str, Any], stage: str, notes: list[str]
    ) -> dict[str, Any]:
        trace = attribution.trace
        if trace is None or trace.grad_maps is None or trace.cumulative_maps is None:
            msg = f"{attribution.method} returned no trace maps; the explorer's path view needs them"
            raise RuntimeError(msg)
        alphas = trace.alphas[0].double().cpu()
        frames = select_frames(alphas.tolist(), self.max_frames)
        predicted = trace.predicted[0, frames].tolist()  # kept by the engine, no extra forward
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
        return {
            **self._summary(attribution, params, stage, notes),
            "evaluations": int(trace.evaluations),
            "rule_used": str(attribution.params.get("rule", params.get("rule", ""))),
            "converged": bool(attribution.params.get("converged", True)),
            "max_steps": int(attribution.params.get("max_steps", 0) or 0),
            "steps": int(trace.alphas.shape[1]),
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

    # -- methods without a path: one map (with its parts), or running means over samples -----------
    def _final_map(self, values: torch.Tensor, room: int) -> dict[str, Any]:
        """The attribution per channel at display size (float16, divided by ``scale``), in at most ``room`` bytes."""
        final = values[0]
        if final.dim() == 2:
            final = final[None]
        channels = int(final.shape[0])
        height, width = final.shape[-2:]
        size = display_size(
            int(height), int(width), min(self.display[0] * self.display[1], max(16, room // (2 * channels)))
        )
        small = downsample(final, size)
        scale = _frame_scales(small[None])[0]
        return {"channels": encode(small / scale, "float16"), "scale": float(scale)}

    def _parts(self, attribution: Any) -> list[dict[str, Any]]:
        """Each part of the decomposition: its name, its sum and, when it is a map, the map (channel sum)."""
        out = []
        for name, tensor in attribution.parts.items():
            part = tensor[0].detach()
            entry: dict[str, Any] = {"name": str(name), "sum": float(part.double().sum()), "shape": list(part.shape)}
            if part.dim() in (2, 3) and min(part.shape[-2:]) > 1:
                spatial = part.sum(0) if part.dim() == 3 else part
                h, w = spatial.shape
                small = downsample(spatial, display_size(int(h), int(w), 160 * 160))
                scale = _frame_scales(small[None])[0]
                entry["map"] = encode(small / scale, "float16")
                entry["scale"] = float(scale)
            out.append(entry)
        return out

    def _summary(self, attribution: Any, params: dict[str, Any], stage: str, notes: list[str]) -> dict[str, Any]:
        """What every payload says of its result: the target, F(x), F(x′), Σ values and the gap."""
        target = int(attribution.target[0])
        relative = attribution.relative_delta
        return {
            "stage": stage,
            "params": _shown(params),
            "target": target,
            "target_label": self.label(target),
            "score": float(attribution.score[0]) if attribution.score is not None else math.nan,
            "baseline_score": float(attribution.baseline_score[0]) if attribution.baseline_score is not None else None,
            "sum": float(attribution.values[0].double().sum()),
            "delta": float(attribution.delta[0]) if attribution.delta is not None else None,
            "relative_delta": float(relative[0]) if relative is not None else None,
            "notes": notes,
        }

    def _map_payload(
        self, attribution: Any, base: torch.Tensor | None, params: dict[str, Any], stage: str, notes: list[str]
    ) -> dict[str, Any]:
        room = self.max_bytes - _MARGIN
        baseline_pixels = None
        if base is not None and tuple(base.shape) == tuple(self.image.shape):
            baseline_pixels = encode(_to_pixels(base, self.display))
            room -= len(baseline_pixels["view"])
        target = int(attribution.target[0])
        method = REGISTRY.get(attribution.method)
        parts = self._parts(attribution)
        return {
            **self._summary(attribution, params, stage, notes),
            "final_map": self._final_map(attribution.values, room // 2),
            "baseline_image": baseline_pixels,
            "parts": parts,
            "parts_add_up": bool(parts and method is not None and "completeness" in method.axioms),
            "labels": {str(target): self.label(target)},
            "_attribution": attribution,
        }

    def _add_samples(
        self, payload: dict[str, Any], attribution: Any, running: RunningMeans | None, notes: list[str]
    ) -> None:
        """Running means at 1, 2, 4, …, n samples (see _samples.py), their relative change and, where
        the method has one, the completeness gap after every sample."""
        values = attribution.values.detach()
        n = int(attribution.params.get("samples", 1))
        frames = running.frames(values) if running is not None else None
        if frames is None:
            if running is not None and attribution.params.get("sigma", 1) != 0:
                notes.append(
                    "the running means over samples could not be taken from this run; only the final map is shown"
                )
            counts, stack = [n], values[:1].to(torch.float64 if values.dtype == torch.float64 else torch.float32)
        else:
            counts, stack = frames
        flat = stack.flatten(1).double()
        change = [math.nan] + [
            float((flat[i] - flat[i - 1]).norm() / flat[i].norm().clamp_min(1e-30)) for i in range(1, len(counts))
        ]
        used = sum(len(v) for v in _views(payload))
        room = max(0, self.max_bytes - _MARGIN - used)
        sample_image = None
        if running is not None and running.first_point is not None:
            sample_image = encode(_to_pixels(running.first_point.clamp(0, 1), self.display))
            room -= len(sample_image["view"])
        k, channels = len(counts), int(stack.shape[1])
        height, width = stack.shape[-2:]
        pixels = max(16, room // (2 * k * channels))
        size = display_size(int(height), int(width), min(self.display[0] * self.display[1], pixels))
        small = downsample(stack, size)
        scales = _frame_scales(small)
        samples: dict[str, Any] = {
            "n": n,
            "counts": encode(np.asarray(counts, dtype=np.int32)),
            "maps": encode(small / scales.view(-1, 1, 1, 1), "float16"),
            "scales": encode(scales, "float32"),
            "rel_change": encode(np.asarray(change, dtype=np.float32)),
            "sample_image": sample_image,
        }
        conv = attribution.convergence
        if "running_sum" in conv and "running_baseline_score" in conv and attribution.score is not None:
            span = attribution.score[0].double() - conv["running_baseline_score"][0].double()
            gap = conv["running_sum"][0].double() - span
            samples["gap"] = encode(gap.float(), "float32")
            samples["relative_gap"] = encode((gap.abs() / span.abs().clamp_min(1e-12)).float(), "float32")
        refs = running.per_reference() if running is not None and frames is not None else None
        if refs is not None and self.references is not None:
            samples["references"] = self._reference_strip(refs, values)
        payload["samples"] = samples
        payload["evaluations"] = n

    def _reference_strip(self, refs: dict[str, Any], values: torch.Tensor) -> dict[str, Any]:
        """Expected Gradients' per-reference maps for the strip under the panels: each reference's
        map (the mean over its draws) and the mean over all draws (the final map's channel sum), at
        most 96×96 each on one colour scale (float16, divided by ``scale``: the 99th percentile of
        their magnitudes, as the panels clip; larger values saturate), and the pictures of the
        references (uint8 RGB, at most 48×48)."""
        maps = refs["maps"]
        height, width = maps.shape[-2:]
        size = display_size(int(height), int(width), REF_PIXELS)
        mean = values[0].detach().sum(0) if values.dim() == 4 else values[0].detach()
        small = downsample(torch.cat([mean[None].to(maps), maps]), size)
        magnitudes = small.abs().flatten().float()
        scale = float(torch.quantile(magnitudes, STRIP_CLIP)) if magnitudes.numel() else 0.0
        if not math.isfinite(scale) or scale <= 0:  # mostly zeros: the largest value instead
            scale = float(_frame_scales(small.flatten()[None])[0])
        pictures = self.references[torch.tensor(refs["index"])].to(device=self.image.device, dtype=self.image.dtype)
        picture_size = display_size(int(pictures.shape[-2]), int(pictures.shape[-1]), PICTURE_PIXELS)
        return {
            "index": refs["index"],
            "count": refs["count"],
            "draws": refs["draws"],
            "distinct": refs["distinct"],
            "mean": encode(small[0] / scale, "float16"),
            "maps": encode(small[1:] / scale, "float16"),
            "scale": scale,
            "pictures": encode(np.stack([_to_pixels(p[None], picture_size) for p in pictures])),
        }


def _views(value: object) -> list[bytes]:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return [value]
    if isinstance(value, dict):
        return [b for v in value.values() for b in _views(v)]
    if isinstance(value, (list, tuple)):
        return [b for v in value for b in _views(v)]
    return []


def _shown(params: dict[str, Any]) -> dict[str, Any]:
    """The request's params that JSON can carry (the browser shows them)."""
    return {k: v for k, v in params.items() if isinstance(v, (int, float, str, list)) or v is None}
