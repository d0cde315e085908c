"""What the compare grid and the side-by-side debug view compute, and how their panels travel.

A :class:`Grid` holds the model, one or more images (on the model's device) and a list of
:class:`PanelSpec` (row, column, input, method, baseline, which target). :meth:`Grid.compute`
fills one panel per call (the session calls it once per stage, so panels arrive one by one) and
returns the payload of every panel done so far:

- ``panels``: per panel its channel-summed map at display size (``map``, float16) **in one unit
  for the whole grid** (``unit``: the largest |value| of all maps done), so the same value is the
  same bytes in every panel; ``clip``: the panel's own 99th percentile of |map| in that unit; the
  target, F(x), F(x′), Σ values and the completeness gap.
- ``locked``: the 99th percentile of |map| over every panel done, in the same unit: the one
  colour scale of the locked view (per-panel view: each panel's ``clip``).
- ``frames``: for path methods, the attribution accumulated up to α at a few α (float16, same
  unit), for the α scrubber.
- ``references``: for Expected Gradients over several references (the training set, the draws
  of a random baseline), the map of each distinct reference drawn, the mean over its draws
  (``maps``, (R, h, w) float16, same unit), which reference it is (``index``), its draws
  (``count``, out of ``draws``) and its picture (``pictures``, uint8): the panel's map is their
  mean weighted by ``count / draws``.

The panels are computed in the order of :meth:`Grid.plan`: quick answers first (the first
column's, and Expected Gradients', which later draws complete rather than replace), then every
panel in full; the pass at the input (F(x)) is made once per input and class for the grid, and
the model's output at a baseline once for every panel that needs it (F(x′) of a column's IG and EG).

Each finished panel is cached by everything it depends on, so a new request recomputes only the
panels whose inputs changed (a new picked class recomputes one column, not the grid). The full
attributions stay in the kernel (:attr:`Grid.attributions`) for ``save_npz``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from attrwidgets.baselines import make_baseline
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._engine import Outputs, Pass, first_pass, given_pass, shared_outputs
from attrwidgets.methods.expected import Run
from attrwidgets.model import Explained, grad_enabled, model_device
from attrwidgets.registry import REGISTRY
from attrwidgets.widgets._capture import capture, install
from attrwidgets.widgets._compute import EVALUATE, as_image, select_frames
from attrwidgets.widgets._evaluation import curves_payload
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, decode, display_size, downsample, encode

__all__ = ["CLIP", "DRAWS", "RESUMES", "Grid", "PanelSpec", "heat_rgb", "panel_colours"]

CLIP = 99.0
"""Percentile of |values| where the colour scale ends (as in the Distill baselines article)."""
DRAWS = 16
"""Draws of a random baseline (uniform, gaussian) that Expected Gradients averages over."""
COARSE = {"steps": 4, "samples": 4}
"""Points of the quick first answer (Integrated Gradients' steps, Expected Gradients' samples): of
the first column's panels, and of every panel whose method resumes (:data:`RESUMES`), before any
panel is refined."""
RESUMES = {"expected_gradients": Run}
"""Methods whose quick answer is the start of the full one: Expected Gradients is a mean over a
fixed sequence of draws, so its first draws are shown and then kept (no draw is computed twice).
Another method's quick answer is thrown away when the panel is refined, so only the first column
has one (its goal: on screen within a second)."""
TAKES_PASS = {"integrated_gradients": True, "expected_gradients": False}
"""Methods that take the pass at the input made once for the grid (:func:`given_pass`), and
whether they want its gradient ∇F(x) (IG's point at α = 1) or only F(x)."""
REF_PIXELS = 64 * 64
"""Most pixels of one per-reference map of Expected Gradients."""
PICTURE_PIXELS = 32 * 32
"""Pixels of the picture of a reference beside its map."""
MAX_FRAMES = 9
"""α points of a path panel sent for the α scrubber."""
FRAME_PIXELS = 64 * 64
"""Most pixels of one α frame of one panel."""
_MARGIN = 64 * 1024  # the JSON part of an update
_OVERLAY = {"opacity": 0.8, "knee": 0.4, "floor": 0.2}  # js/heatmap.js OVERLAY, mirrored by heat_rgb


@dataclass(frozen=True)
class PanelSpec:
    """One panel: where it sits, which input, method and baseline, and which target.

    ``target`` is "fixed" (the grid's target), "predicted" (the input's own top class) or
    "picked" (the class the user picks).
    """

    row: int
    col: int
    input: int
    method: str
    baseline: str | None
    target: str = "fixed"


def _quantile(values: np.ndarray, q: float) -> float:
    mags = np.abs(values[np.isfinite(values)])
    if mags.size == 0:
        return 0.0
    return float(np.percentile(mags, q))


def _clip_scale(values: np.ndarray, q: float = CLIP) -> float:
    """js/normalize.js clipScale: the percentile, else the largest magnitude, else 1."""
    scale = _quantile(values, q)
    if not scale > 0:
        scale = float(np.max(np.abs(values))) if values.size else 0.0
    return scale if scale > 0 else 1.0


class Grid:
    """The panels of a compare view; see the module docstring.

    Parameters
    ----------
    model : nn.Module
        The classifier.
    images : sequence
        The inputs, each as :func:`~attrwidgets.widgets._compute.as_image` accepts.
    specs : sequence of PanelSpec
        The panels, in the order they are computed.
    preprocess, references, labels :
        As for :func:`attrwidgets.explore`.
    options : dict
        Per method name, the keyword arguments it is called with (steps, samples, ...).
    seed : int
        Seed of the random baselines.
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        images: Sequence[object],
        specs: Sequence[PanelSpec],
        *,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        references: torch.Tensor | None = None,
        labels: Sequence[str] | None = None,
        options: dict[str, dict[str, Any]] | None = None,
        seed: int = 0,
        display_pixels: int = 224 * 224,
        max_bytes: int = MAX_UPDATE_BYTES,
    ) -> None:
        install()
        device = (model_device(model) if isinstance(model, nn.Module) else None) or torch.device("cpu")
        self.model = model
        self.preprocess = preprocess
        self.references = references
        self.labels = list(labels) if labels is not None else None
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.seed = int(seed)
        self.specs = list(specs)
        self.max_bytes = int(max_bytes)
        self.inputs = [Explained(model, as_image(im).to(device), preprocess).inputs for im in images]
        self.logits = [self._forward(x)[0].float().cpu() for x in self.inputs]
        self.classes = int(self.logits[0].numel())
        # one map size for every panel and one for every α frame: the frames take at most half
        # of the room (FRAME_PIXELS each at most), the final maps what is left (display_pixels at most)
        room = self.max_bytes - _MARGIN
        paths = sum(1 for s in self.specs if "trace" in REGISTRY[s.method].produces)
        # Expected Gradients' per-reference maps (float16, REF_PIXELS each at most) and their
        # references' pictures (uint8 RGB, PICTURE_PIXELS): a sixth of the room at most, inside
        # the α frames' half (the frames shrink first), so the final maps keep at least half
        refs = sum(self.most_references(spec) for spec in self.specs)
        refs_room = min(refs * (2 * REF_PIXELS + 3 * PICTURE_PIXELS), room // 6)
        ref_pixels = (refs_room // refs - 3 * PICTURE_PIXELS) // 2 if refs else REF_PIXELS
        frames_room = min(paths * MAX_FRAMES * FRAME_PIXELS * 2, room // 2 - refs_room)
        frame_pixels = frames_room // (paths * MAX_FRAMES * 2) if paths else FRAME_PIXELS
        per_panel = (room - frames_room - refs_room) // (2 * max(1, len(self.specs)))
        h, w = self.inputs[0].shape[-2:]
        self.size = display_size(int(h), int(w), max(1, min(display_pixels, per_panel)))
        self.frame_size = display_size(int(h), int(w), max(1, frame_pixels))
        self.ref_size = display_size(int(h), int(w), max(1, ref_pixels))
        self.picture_size = display_size(int(h), int(w), PICTURE_PIXELS)
        self._cache: dict[tuple, dict[str, Any]] = {}
        self._runs: dict[tuple, Run] = {}  # panels whose quick answer is resumed, by their full key
        self._passes: dict[tuple[int, int], Pass] = {}  # (input, target) → the pass at the input
        self._outputs = Outputs(model, preprocess)  # F at the baselines, for every panel that needs it
        self.attributions: dict[tuple[int, int], Any] = {}
        """(row, col) → the full :class:`~attrwidgets.Attribution` of the newest request's panels."""
        self.per_reference: dict[tuple[int, int], dict[str, Any]] = {}
        """(row, col) → Expected Gradients' per-reference maps of a panel over several references:
        ``index`` (in the column's references), ``count`` (its draws), ``draws``, ``maps`` (R, H, W)."""

    # -- facts -------------------------------------------------------------------------------------
    def label(self, index: int) -> str:
        if self.labels is not None and 0 <= index < len(self.labels):
            return str(self.labels[index])
        return f"class {index}"

    def predicted(self, i: int) -> int:
        return int(self.logits[i].argmax())

    def top_classes(self, i: int, k: int = 5) -> list[dict[str, Any]]:
        probs = torch.softmax(self.logits[i].double(), dim=0)
        order = torch.argsort(self.logits[i], descending=True)[:k].tolist()
        return [{"index": int(c), "label": self.label(int(c)), "prob": float(probs[c])} for c in order]

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        explained = Explained(self.model, x, self.preprocess)
        with ModelGuard(explained.module), grad_enabled(), torch.no_grad():
            return explained.logits(x).detach()

    def images_payload(self) -> list[dict[str, Any]]:
        """Each input at map size, (h, w, 3) uint8."""
        return [encode(_pixels(x, self.size)) for x in self.inputs]

    def baseline_thumb(self, name: str | None, size: tuple[int, int] = (56, 56)) -> dict[str, Any] | None:
        """A small picture of a baseline (the first draw), or None."""
        if name is None:
            return None
        x = self.inputs[0]
        base = self.references[:1].to(x) if name == "references" else self.baseline(name, x)
        h, w = base.shape[-2:]
        step = max(1, math.ceil(max(h / size[0], w / size[1])))
        small = base[..., ::step, ::step]  # every step-th pixel: noise stays noise (an average would be grey)
        return encode(_pixels(small, tuple(small.shape[-2:])))

    # -- one panel --------------------------------------------------------------------------------
    def baseline(self, name: str, x: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """The baseline tensor ``name`` for input ``x`` (one draw)."""
        return make_baseline(name, x, references=self.references, seed=self.seed if seed is None else seed)

    def draws(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """What Expected Gradients averages over for the column ``name``: the training set for
        "references", ``DRAWS`` draws of a random baseline, the one baseline otherwise."""
        if name == "references":
            return self.references
        if name in ("uniform", "gaussian"):
            return torch.cat([self.baseline(name, x, self.seed + k) for k in range(DRAWS)])
        return self.baseline(name, x)

    def most_references(self, spec: PanelSpec) -> int:
        """How many per-reference maps the panel can have: its method's distinct references drawn
        (at most its samples), 0 when it averages over one reference or none."""
        if spec.method not in RESUMES or (spec.baseline is None and self.references is None):
            return 0
        if spec.baseline == "references" or spec.baseline is None:
            count = len(self.references) if self.references is not None else 0
        else:
            count = DRAWS if spec.baseline in ("uniform", "gaussian") else 1
        samples = self.options.get(spec.method, {}).get("samples", 50)
        count = min(count, samples) if isinstance(samples, int) else count
        return count if count > 1 else 0

    def target_of(self, spec: PanelSpec, target: int, picked: int) -> int:
        if spec.target == "predicted":
            return self.predicted(spec.input)
        if spec.target == "picked":
            return picked
        return target

    def method_options(self, spec: PanelSpec, level: str = "full") -> dict[str, Any]:
        """The method's own options: as given, or fewer points for the "coarse" first answer."""
        options = dict(self.options.get(spec.method, {}))
        if level == "coarse":
            for name in COARSE:
                if isinstance(options.get(name), int):
                    options[name] = min(options[name], COARSE[name])
        return options

    def quick(self, spec: PanelSpec) -> bool:
        """Whether the panel gets a quick first answer: when it is much cheaper than the full one,
        in the first column (any method) or elsewhere when the method resumes it (:data:`RESUMES`)."""
        options = self.options.get(spec.method, {})
        cheaper = any(isinstance(options.get(n), int) and options[n] > 2 * c for n, c in COARSE.items())
        return cheaper and (spec.col == 0 or spec.method in RESUMES)

    def plan(self) -> list[tuple[str, int]]:
        """The order panels are computed in: the quick answers (the first column's, then the
        resumed ones of the other columns), then the panels that show nothing yet, then the
        refinements of the quick answers, each in the order of the specs."""
        quick = [i for i, s in enumerate(self.specs) if self.quick(s)]
        quick.sort(key=lambda i: self.specs[i].col != 0)  # the first column first (a stable sort)
        blank = [i for i in range(len(self.specs)) if i not in quick]
        return [("coarse", i) for i in quick] + [("full", i) for i in blank + sorted(quick)]

    def input_pass(self, i: int, target: int) -> Pass:
        """F(x) (and ∇F(x) when a method wants it) at input ``i`` for ``target``: made once for
        every panel of the grid on that input and class (:data:`TAKES_PASS`), not once per panel."""
        key = (i, target)
        if key not in self._passes:
            explained = Explained(self.model, self.inputs[i], self.preprocess)
            wants_grad = any(TAKES_PASS.get(s.method, False) for s in self.specs)
            with ModelGuard(explained.module):
                self._passes[key] = first_pass(explained, explained.inputs, target, backward=wants_grad)
            if len(self._passes) > 2 * len(self.inputs):
                self._passes.pop(next(iter(self._passes)))
        return self._passes[key]

    def kwargs(self, spec: PanelSpec, level: str = "full") -> dict[str, Any]:
        """The keyword arguments the panel's method is called with (its baseline or references)."""
        method = REGISTRY[spec.method]
        kwargs = self.method_options(spec, level)
        x = self.inputs[spec.input]
        if spec.baseline is not None and "baseline" in method.options:
            kwargs["baseline"] = self.baseline(spec.baseline, x)
        elif spec.baseline is not None and "references" in method.options:
            kwargs["references"] = self.draws(spec.baseline, x)
        elif "references" in method.options:
            kwargs["references"] = self.references
        return kwargs

    def _key(self, spec: PanelSpec, target: int, level: str) -> tuple:
        options = tuple(sorted((k, repr(v)) for k, v in self.method_options(spec, level).items()))
        takes = REGISTRY[spec.method].options & {"baseline", "references"}
        return (spec.input, spec.method, spec.baseline if takes else None, target, options, self.seed)

    def panel(
        self, spec: PanelSpec, target: int, progress: Callable[[int, int], None] | None, level: str = "full"
    ) -> dict[str, Any]:
        """Compute (or take from the cache) one panel."""
        key = self._key(spec, target, level)
        if key in self._cache:
            return self._cache[key]
        started = time.perf_counter()
        with capture() as caught:
            attribution, references = self._attribute(spec, target, progress, level)
        seconds = time.perf_counter() - started
        values = attribution.values[0].detach()
        heat = values.sum(0) if values.dim() == 3 else values
        small = downsample(heat, self.size).cpu().numpy().astype(np.float64)
        entry: dict[str, Any] = {
            "map": small,
            "attribution": attribution,
            "notes": [str(w.message) for w in caught],
            "seconds": seconds,
            "level": level,
        }
        trace = attribution.trace
        if trace is not None and trace.cumulative_maps is not None:
            alphas = trace.alphas[0].double().cpu()
            frames = select_frames(alphas.tolist(), MAX_FRAMES)
            entry["frame_alphas"] = alphas[frames].numpy()
            entry["frames"] = downsample(trace.cumulative_maps[0, frames].float(), self.frame_size).cpu().numpy()
        if references is not None:
            entry["references"] = references
        if len(self._cache) > 4 * max(1, len(self.specs)):
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = entry
        return entry

    def _attribute(
        self, spec: PanelSpec, target: int, progress: Callable[[int, int], None] | None, level: str
    ) -> tuple[Any, dict[str, Any] | None]:
        """The panel's attribution, and Expected Gradients' per-reference maps (or None).

        A method of :data:`RESUMES` keeps its run between the quick answer and the full one: the
        full answer only adds the draws after the quick answer's.
        """
        if spec.method not in TAKES_PASS:
            return self._call(spec, target, progress, level)
        # the pass at the input once for the grid, and F(x′) once per baseline: the IG and EG
        # panels of a column share it (forward_outputs)
        at_x = self.input_pass(spec.input, target)
        with given_pass(self.model, self.preprocess, at_x), shared_outputs(self._outputs):
            return self._call(spec, target, progress, level)

    def _call(
        self, spec: PanelSpec, target: int, progress: Callable[[int, int], None] | None, level: str
    ) -> tuple[Any, dict[str, Any] | None]:
        method = REGISTRY[spec.method]
        kwargs = self.kwargs(spec, level)
        x = self.inputs[spec.input]
        if spec.method not in RESUMES:
            if progress is not None and "progress" in method.options:
                kwargs["progress"] = progress
            return method.fn(self.model, x, target, preprocess=self.preprocess, **kwargs), None
        full = self.method_options(spec, "full")
        stop = int(kwargs.pop("samples", full.get("samples", 50)))
        kwargs["samples"] = int(full.get("samples", stop))
        key = self._key(spec, target, "full")
        run = self._runs.get(key)
        if run is None or run.done >= stop:  # a new run (or the quick answer again, after the full one)
            run = self._runs[key] = RESUMES[spec.method](self.model, x, target, preprocess=self.preprocess, **kwargs)
            if len(self._runs) > 2 * max(1, len(self.specs)):
                self._runs.pop(next(iter(self._runs)))
        attribution = run.advance(stop, progress)
        if run.done == run.samples:
            self._runs.pop(key, None)
        return attribution, self._references(spec, x, run)

    def _references(self, spec: PanelSpec, x: torch.Tensor, run: Run) -> dict[str, Any] | None:
        """Expected Gradients' per-reference maps of one panel at full resolution (R, H, W), the
        references' indices and draw counts and their pictures; None for one reference."""
        found = run.per_reference()
        if found is None or len(found[0]) < 2 or self.most_references(spec) == 0:
            return None
        index, counts, maps = found
        draws = self.kwargs(spec)["references"] if spec.baseline is not None else self.references
        pictures = draws[index.to(draws.device)].to(x)
        return {
            "index": [int(i) for i in index],
            "count": [int(c) for c in counts],
            "draws": int(run.done),
            "maps": maps[0].detach().float().cpu(),
            "small": downsample(maps[0], self.ref_size).cpu().numpy().astype(np.float64),
            "pictures": np.stack([_pixels(p[None], self.picture_size) for p in pictures]),
        }

    # -- a request ----------------------------------------------------------------------------------
    def compute(self, params: dict[str, Any], stage: str, progress: Callable[[int, int], None]) -> dict[str, Any]:
        """Fill step ``params["upto"]`` of :meth:`plan` and return the payload of every panel with a
        result by then (its best level). Only the best level of each panel is computed, so a
        synchronous call of the last step computes each panel once, at full level."""
        if stage == EVALUATE:
            return {"evaluation": self.curves(params["evaluation"], progress)}
        upto = int(params["upto"])
        target, picked = int(params.get("target", 0)), int(params.get("picked", 0))
        best: dict[int, str] = {}
        for level, i in self.plan()[: upto + 1]:
            best[i] = level
        done = []
        for count, (i, level) in enumerate(sorted(best.items())):
            progress(count, len(best))
            spec = self.specs[i]
            done.append((spec, self.panel(spec, self.target_of(spec, target, picked), progress, level)))
        self.attributions = {(s.row, s.col): e["attribution"] for s, e in done}
        self.per_reference = {(s.row, s.col): e["references"] for s, e in done if "references" in e}
        return self.payload(done, stage)

    def curves(self, kind: str, progress: Callable[[int, int], None]) -> dict[str, Any]:
        """Every panel's deletion or pixel-perturbation curve (the panels just computed), with a
        random band per input and class: :func:`~attrwidgets.widgets._evaluation.curves_payload`."""
        maps = []
        for spec in self.specs:
            attribution = self.attributions.get((spec.row, spec.col))
            if attribution is None:
                continue
            if len(self.inputs) == 1:  # the compare grid: a method and a baseline
                label = f"{spec.method} · {spec.baseline}" if spec.baseline else spec.method
            else:  # the debug view: an input and the class it is explained for
                label = f"input {spec.input + 1} · {self.label(int(attribution.target[0]))}"
            maps.append({"label": label, "method": spec.method, "input": spec.input, "row": spec.row, "col": spec.col,
                         "attribution": attribution})  # fmt: skip
        started = time.perf_counter()
        out = curves_payload(self.model, self.inputs, maps, kind, preprocess=self.preprocess, progress=progress)
        return {**out, "seconds": time.perf_counter() - started}

    def payload(self, done: list[tuple[PanelSpec, dict[str, Any]]], stage: str) -> dict[str, Any]:
        """The wire payload of the panels in ``done``; see the module docstring."""
        peak = max((float(np.abs(e["map"]).max()) for _, e in done), default=0.0)
        unit = peak if math.isfinite(peak) and peak > 0 else 1.0
        all_values = np.concatenate([e["map"].ravel() for _, e in done]) / unit if done else np.zeros(1)
        panels = []
        for spec, entry in done:
            a = entry["attribution"]
            rel = a.relative_delta
            target = int(a.target[0])
            # the panel's maps in the grid's unit, encoded once per (panel result, unit): every stage
            # sends every panel done so far, but only a new panel or a new peak changes them
            cached = entry.get("_encoded")
            if cached is None or cached[0] != unit:
                encoded = {"map": encode(entry["map"] / unit, "float16"), "clip": _clip_scale(entry["map"] / unit)}
                if "frames" in entry:
                    encoded["frames"] = {
                        "alphas": encode(entry["frame_alphas"], "float32"),
                        "maps": encode(entry["frames"] / unit, "float16"),
                    }
                refs = entry.get("references")
                if refs is not None:
                    encoded["references"] = {
                        "index": refs["index"],
                        "count": refs["count"],
                        "draws": refs["draws"],
                        "maps": encode(refs["small"] / unit, "float16"),
                        "pictures": encode(refs["pictures"]),
                    }
                cached = entry["_encoded"] = (unit, encoded)
            panel: dict[str, Any] = {
                "row": spec.row,
                "col": spec.col,
                "input": spec.input,
                "method": spec.method,
                "baseline": spec.baseline,
                "map": cached[1]["map"],
                "clip": cached[1]["clip"],
                "target": target,
                "target_label": self.label(target),
                "score": first_number(a.score),
                "baseline_score": first_number(a.baseline_score),
                "sum": float(a.values[0].double().sum()),
                "delta": first_number(a.delta),
                "relative_delta": first_number(rel),
                "seconds": entry["seconds"],
                "level": entry["level"],
                "notes": entry["notes"],
            }
            for name in ("frames", "references"):
                if name in cached[1]:
                    panel[name] = cached[1][name]
            panels.append(panel)
        return {
            "stage": stage,
            "panels": panels,
            "unit": unit,
            "locked": _clip_scale(all_values),
            "done": len(done),
            "full": sum(1 for _, e in done if e["level"] == "full"),
            "total": len(self.specs),
            "size": list(self.size),
        }


def first_number(value: torch.Tensor | None) -> float | None:
    """The first input's value of a per-input tensor (score, delta...) for JSON: None when absent or
    not finite."""
    if value is None:
        return None
    number = float(value[0])
    return number if math.isfinite(number) else None


def json_value(value: object) -> object:
    """A parameter for JSON: numbers, strings, booleans and None as they are, anything else as text."""
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _pixels(image: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(1, C, H, W) in [0, 1] → (h, w, 3) uint8 (grey repeated to RGB)."""
    small = downsample(image[0], size).clamp(0, 1)
    if small.shape[0] == 1:
        small = small.repeat(3, 1, 1)
    return (small.permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()


# -- colours: the same sums as js/heatmap.js (heatOf, blend, ghost) -----------------------------------
def ghost(rgb: np.ndarray, amount: float = 0.5) -> np.ndarray:
    """js/heatmap.js ghost: the image faded towards a light grey of its own luminance."""
    rgb = rgb.astype(np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    grey = 96 + 0.6 * luma
    return rgb + amount * (grey[..., None] - rgb)


def heat_rgb(norm: np.ndarray, base: np.ndarray, lut: np.ndarray, opacity: float = _OVERLAY["opacity"]) -> np.ndarray:
    """js/heatmap.js blend for a signed map ``norm`` in [-1, 1] over ``base`` (h, w, 3), with the
    (256, 3) table ``lut``; returns float RGB 0..255."""
    x = np.nan_to_num(np.clip(norm, -1, 1))
    m = np.abs(x)
    n = len(lut) - 1
    lifted = _OVERLAY["floor"] + (1 - _OVERLAY["floor"]) * m
    t = 0.5 + 0.5 * np.sign(x) * lifted
    index = np.clip(np.round(t * n), 0, n).astype(int)
    alpha = np.where(m == 0, 0.0, opacity * np.minimum(1.0, m / _OVERLAY["knee"]))
    colour = lut[index].astype(np.float64)
    return base + alpha[..., None] * (colour - base)


def panel_colours(result: dict[str, Any], index: int, *, per_panel: bool, lut: np.ndarray) -> np.ndarray:
    """The heat colours (no image under them: a flat grey) of panel ``index`` of a payload, from
    its bytes: what the browser draws in the locked (one scale) or per-panel view."""
    panel = result["panels"][index]
    values = decode(panel["map"]).astype(np.float64)
    scale = panel["clip"] if per_panel else result["locked"]
    base = np.full((*values.shape, 3), 170.0)
    return heat_rgb(values / scale, base, lut)
