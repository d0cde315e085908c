"""The explorer widget for every registered method: method menu, its controls, heatmaps, scrubbers, curves.

:class:`Explorer` holds only synced traits and their validation; the computing is done by a
:class:`~attrwidgets.widgets.session.Session` around a
:class:`~attrwidgets.widgets._compute.PathExplainer`. The method menu and each method's controls
come from :data:`attrwidgets.registry.REGISTRY` (see :mod:`attrwidgets.widgets._methods`). The
front end is ``js/widget.js``.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import torch
import traitlets as t

from attrwidgets.baselines import BASELINES
from attrwidgets.methods.quadrature import QUADRATURE_RULES
from attrwidgets.registry import REGISTRY
from attrwidgets.widgets import _methods, _snapshot, export
from attrwidgets.widgets._bundle import bundle
from attrwidgets.widgets._compute import EVALUATE, PathExplainer
from attrwidgets.widgets._evaluation import EVALUATIONS
from attrwidgets.widgets._methods import STEPS_CHOICES, STEPS_MAX, view_of
from attrwidgets.widgets.session import Session, Stage

__all__ = ["Explorer", "explore"]

COARSE_STEPS = 3
"""Gauss-Legendre points of the quick first answer: few, so it arrives quickly on a CPU for an
ImageNet model (3 points + the input's own gradient + one forward at the baseline; the goal and
its measurement: ``benchmarks/RESULTS-widget.md``)."""
COARSE_RULE = "gausslegendre"
"""Rule of the quick first answer: the one that converges fastest with few points."""
SIGMA_MAX = {"gaussian": 1.0, "blur": 100.0}
"""Largest σ per baseline: a fraction of the input range for gaussian noise, pixels for the blur."""


def sigma_vocabulary() -> dict[str, dict[str, Any]]:
    """σ of the baselines that have one, for the front end: unit, default (the baseline's own),
    input step, largest value and what it means; ``factor`` scales the value shown (a fraction of
    the range is shown in percent). Sent once in the ``vocabulary`` trait."""
    from attrwidgets import baselines

    def default(fn: Callable[..., Any]) -> float:
        return float(inspect.signature(fn).parameters["sigma"].default)

    return {
        "blur": {"unit": "px", "default": default(baselines.blur), "step": 1, "max": SIGMA_MAX["blur"],
                 "title": "σ of the gaussian blur, in pixels of the input"},
        "gaussian": {"unit": "% of range", "factor": 100, "default": default(baselines.gaussian), "step": 0.01,
                     "max": SIGMA_MAX["gaussian"],
                     "title": "σ of the noise added to the image, in % of the value range"},
    }  # fmt: skip


MATPLOTLIB_NAMES = {"coolwarm": "coolwarm", "purplegreen": "PRGn", "inferno": "inferno", "viridis": "viridis",
                    "hot": "hot", "gray": "gray"}  # fmt: skip
"""The front end's colour maps (js/colormap.js) and the matplotlib tables they are."""


def colormap_tables() -> dict[str, dict[str, Any]]:
    """matplotlib's 256-entry RGB tables of the front end's colour maps, wire-encoded (uint8, (256, 3))."""
    import matplotlib as mpl
    import numpy as np

    from attrwidgets.widgets._wire import encode

    out = {}
    for name, mpl_name in MATPLOTLIB_NAMES.items():
        rgba = mpl.colormaps[mpl_name](np.linspace(0.0, 1.0, 256))
        out[name] = encode((rgba[:, :3] * 255).round().astype(np.uint8))
    return out


SIGN_MODES = ("both", "positive", "negative", "absolute")
COLORMAPS = ("auto", "coolwarm", "purplegreen", "inferno", "viridis", "hot", "gray")
REDUCTIONS = ("sum", "abs_sum", "sum_abs", "max_abs", "l2")
"""How the final map reduces the colour channels (js/channels.js): Σ (signed), |Σ|, Σ |·|, max |·|, L2."""
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
COARSE_SAMPLES = 4
"""Samples of the quick first answer of a sampling method (SmoothGrad, Expected Gradients)."""
_KERNEL_CONTROLS = ("method", "options", "baseline", "sigma", "color", "steps", "rule", "target")
_MIRRORED = ("steps", "rule")
"""Options that also have a trait of their own (``ex.steps``, ``ex.rule``: the IG explorer's API)."""
_KERNEL_OWNED = ("image", "result", "status", "targets", "baselines", "rules", "methods", "vocabulary", "interactive",
                 "evaluation_result", "segments", "picked")  # fmt: skip
"""Traits only the kernel writes: a browser's values for them are refused."""
_DISPLAY_OPTIONS = ("opacity", "cmap", "sign", "clip", "reduction", "alpha", "sample", "title")
_OPTIONS = (*_DISPLAY_OPTIONS, "top_k", "sigma", "color", "max_frames", "dispatch", "evaluation")
_NUMERIC = ("target", "steps", "sigma", "alpha", "opacity", "clip")
"""The numeric traits: their values must be finite numbers (see :func:`_finite`)."""


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _show(value: object, limit: int = 40) -> str:
    """A short repr for messages: a front end may send a 400-digit integer or a megabyte of text."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}<an integer of about {digits} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(name: str, value: float | str) -> float:
    """``value`` as a float, or a TraitError when no float holds it: NaN, ±inf, or an integer beyond
    ±1.8e308 (``float()`` would raise OverflowError, which traitlets does not roll back)."""
    try:
        number = float(value)
    except OverflowError:
        msg = f"{name} must be a finite number; {_show(value)} is beyond the range of a float"
        raise t.TraitError(msg) from None
    if not math.isfinite(number):
        msg = f"{name} must be a finite number, not {_show(value)}"
        raise t.TraitError(msg)
    return number


class _FiniteFloat(t.Float):
    """A Float that refuses NaN, ±inf and integers no float holds, with a TraitError."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = _finite(self.name, value)
        return super().validate(obj, value)


class _FiniteInt(t.Int):
    """An Int that says "must be a finite number" for NaN and ±inf (other floats: "expected an int")."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, float):
            _finite(self.name, value)
        return super().validate(obj, value)


class Explorer(anywidget.AnyWidget):
    """The explorer for one image and one model; create it with :func:`explore`.

    Display traits (``alpha``, ``opacity``, ``cmap``, ``sign``, ``clip``, ``reduction``) give the initial view;
    the browser changes them without telling the kernel. Kernel traits (``baseline``, ``sigma``,
    ``color``, ``steps``, ``rule``, ``target``) start a new computation when they change; values are
    validated and clamped here, whatever the browser sends.
    """

    _esm = bundle()

    # -- data the kernel sends ---------------------------------------------------------------------
    image = t.Dict().tag(sync=True)
    """The image at display size as ``{view, dtype: "uint8", shape: (h, w, C)}``."""
    result = t.Dict().tag(sync=True)
    """The newest answer: curves, per-α maps, completeness numbers, ``generation`` and ``stage``."""
    status = t.Dict({"state": "idle", "message": "", "progress": None, "hint": "", "generation": 0}).tag(sync=True)
    """``state`` ∈ idle / computing / error, ``message``, ``progress`` (0..1 or None), ``hint``."""
    targets = t.List().tag(sync=True)
    """The top classes: ``{index, label, score, prob}``."""
    baselines = t.List(t.Unicode()).tag(sync=True)
    """Baseline names offered (``references`` only when references were given)."""
    rules = t.List(t.Unicode(), default_value=list(QUADRATURE_RULES)).tag(sync=True)
    """Quadrature rules offered."""
    interactive = t.Bool(True).tag(sync=True)
    """False in the static HTML export, where kernel controls are disabled."""
    title = t.Unicode("").tag(sync=True)
    """Heading shown above the widget ("": the method's name)."""
    methods = t.List().tag(sync=True)
    """The method menu: every registry entry with its controls (see ``_methods.spec``)."""
    vocabulary = t.Dict().tag(sync=True)
    """Tables defined here once and read by the front end: ``sigma`` (per baseline), ``steps_choices``,
    ``colormaps`` (matplotlib's 256-entry tables)."""

    # -- kernel controls -----------------------------------------------------------------------------
    method = t.Unicode("integrated_gradients").tag(sync=True)
    """The registry name of the method shown. Default "integrated_gradients"."""
    options = t.Dict().tag(sync=True)
    """The method's own controls (``REGISTRY[method].controls``, baselines and tensors aside), validated
    and clamped by the registry; a new method starts from its defaults."""
    baseline = t.Unicode("black").tag(sync=True)
    """Baseline name. Default "black"."""
    sigma = _FiniteFloat(None, allow_none=True).tag(sync=True)
    """σ of the gaussian (fraction of the range) or blur (pixels) baseline; None = the baseline's default."""
    color = t.Unicode("#808080").tag(sync=True)
    """Colour of the "constant" baseline, ``#rrggbb``."""
    steps = t.Union([t.Unicode(), t.Int(), t.Float()], default_value="auto").tag(sync=True)
    """Points on the path: "auto" (default: refine until the completeness gap is below 1 %) or 1..STEPS_MAX."""
    rule = t.Unicode("gausslegendre").tag(sync=True)
    """Quadrature rule."""
    target = _FiniteInt(0).tag(sync=True)
    """Class explained."""
    segments = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    """The image's segments at display size (written by the kernel at the first pick by a click)."""
    picked = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    """The last colour picked by a click on the image (written by the kernel): ``segment`` (-1 for
    one pixel), ``color`` (floats, one per channel), ``hex``, ``x``/``y`` (fractions of the image)."""
    evaluation = t.Unicode("off").tag(sync=True)
    """The evaluation panel: "off" (default), "deletion" or "pixel_perturbation" of the final map
    against random rankings (forwards only, after the map; see attrwidgets/widgets/_evaluation.py)."""
    evaluation_result = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    """What the evaluation panel shows (written by the kernel): the map's curve, the random band and
    their areas; ``{}`` while it is computed, None when the panel is off."""

    # -- display (front end only) --------------------------------------------------------------------
    alpha = _FiniteFloat(1.0).tag(sync=True)
    """Initial α, 0..1."""
    opacity = _FiniteFloat(0.8).tag(sync=True)
    """Heatmap opacity, 0..1 (of the strongest values; weaker ones fade in, see js/heatmap.js)."""
    cmap = t.Unicode("auto").tag(sync=True)
    """Colour map; "auto" is diverging for signed maps and sequential for magnitudes."""
    sign = t.Unicode("both").tag(sync=True)
    """both / positive / negative / absolute."""
    clip = _FiniteFloat(99.0).tag(sync=True)
    """Percentile of |values| where the colour scale ends, 50..100."""
    reduction = t.Unicode("sum").tag(sync=True)
    """How the final-attribution panel reduces the colour channels: sum (signed, as Captum), abs_sum
    (|Σ|), sum_abs (Σ |·|, as PAIR saliency), max_abs (max |·|, as Simonyan et al.), l2 (L2 norm)."""
    sample = t.Unicode("last").tag(sync=True)
    """Initial position of the sample scrubber of a sampling method: "last" (all samples) or "first"."""

    def __init__(
        self,
        explainer: PathExplainer,
        *,
        sync: bool = False,
        top_k: int = 5,
        dispatch: Callable[[Callable[[], None]], None] | None = None,
        **traits: Any,
    ) -> None:
        check_keywords(Explorer, traits, _KERNEL_OWNED)
        self._explainer = explainer
        self._classes = explainer.classes
        self._layers = _methods.layer_names(explainer.model)
        self._resetting = False
        self._asked: dict[int, dict[str, Any]] = {}
        self.attribution = None
        """The :class:`~attrwidgets.Attribution` of the newest full result (None until it arrives)."""
        names = [b for b in BASELINES if b != "references" or explainer.references is not None]
        if explainer.baseline_image is not None:
            names.append("image")
        menu = _methods.specs(layers=self._layers, references=explainer.references is not None)
        method = traits.pop("method", "integrated_gradients")
        options = traits.pop("options", {})
        self._resetting = True  # no requests while the traits are first set
        vocabulary = {"sigma": sigma_vocabulary(), "steps_choices": list(STEPS_CHOICES), "colormaps": colormap_tables()}
        super().__init__(
            baselines=names, methods=menu, vocabulary=vocabulary, image=explainer.image_payload(), **traits
        )
        self.method = method
        self.options = {**self._mirror_values(), **options}
        self._resetting = False
        self.targets = explainer.top_classes(top_k, include=[self.target])
        self.session = Session(
            explainer,
            on_result=self._on_result,
            on_status=self._on_status,
            plan=self._plan,
            sync=sync,
            dispatch=dispatch,
        )
        self.observe(self._request, names=list(_KERNEL_CONTROLS))
        self.observe(self._on_evaluation, names=["evaluation"])
        self.on_msg(self._on_message)
        self._request()

    # -- validation: the kernel decides, whatever the browser sends --------------------------------
    @t.validate("steps")
    def _valid_steps(self, proposal: t.Bunch) -> int | str:
        value = proposal.value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            msg = f"steps {_show(value)} is neither 'auto' nor a number of points (1..{STEPS_MAX})"
            raise t.TraitError(msg)
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return "auto"
            try:
                value = float(text)
            except ValueError:
                msg = f"steps {_show(proposal.value)} is neither 'auto' nor a number of points (1..{STEPS_MAX})"
                raise t.TraitError(msg) from None
            if not math.isfinite(value):
                value = proposal.value  # said as the browser wrote it
        return round(_clamp(_finite("steps", value), 1, STEPS_MAX))

    @t.validate("method")
    def _valid_method(self, proposal: t.Bunch) -> str:
        name = proposal.value
        if name not in REGISTRY:
            msg = f"method {_show(name)} is not registered; the methods are {sorted(REGISTRY)}"
            raise t.TraitError(msg)
        entry = next((m for m in self.methods if m["name"] == name), None)
        if entry is None:  # registered after this explorer was made: it joins the menu
            entry = _methods.spec(
                REGISTRY[name], layers=self._layers, references=self._explainer.references is not None
            )
            self.methods = [*self.methods, entry]
        if not entry["available"]:
            msg = f"method {name!r} {entry['why']}"
            raise t.TraitError(msg)
        return name

    @t.validate("options")
    def _valid_options(self, proposal: t.Bunch) -> dict[str, Any]:
        value = proposal.value
        if not isinstance(value, dict):
            msg = f"options must be a dict of the method's controls, not {_show(value)}"
            raise t.TraitError(msg)
        try:
            shape = tuple(self._explainer.image.shape)
            return _methods.validate(REGISTRY[self.method], value, layers=self._layers, shape=shape)
        except (ValueError, TypeError) as error:
            raise t.TraitError(str(error)) from None

    @t.observe("method")
    def _method_changed(self, change: t.Bunch) -> None:
        # a new method starts from its own defaults (one request, made by _request afterwards)
        resetting, self._resetting = self._resetting, True
        try:
            self.options = self._mirror_values()
        finally:
            self._resetting = resetting

    @t.observe("options")
    def _options_changed(self, change: t.Bunch) -> None:
        resetting, self._resetting = self._resetting, True
        try:
            for name in _mirrored(self.method):
                if name in change.new and getattr(self, name) != change.new[name]:
                    setattr(self, name, change.new[name])
        finally:
            self._resetting = resetting

    @t.observe(*_MIRRORED)
    def _mirrored_changed(self, change: t.Bunch) -> None:
        if change.name in _mirrored(self.method) and self.options.get(change.name) != change.new:
            resetting, self._resetting = self._resetting, True
            try:
                self.options = {**self.options, change.name: change.new}
            finally:
                self._resetting = resetting

    def _mirror_values(self) -> dict[str, Any]:
        """The mirrored traits' values for the current method's options that have them."""
        return {name: getattr(self, name) for name in _mirrored(self.method)}

    def _on_evaluation(self, change: t.Bunch) -> None:
        if change.new == "off":
            self.evaluation_result = None
        elif self.attribution is not None and not self.session.busy:  # the map on screen: evaluate it alone
            self.evaluation_result = {}
            params = self._params()
            self.session.request(params, [Stage(EVALUATE, params, extra=True)])
        else:
            self._request()  # the map and then its curves (the request says "computing")

    @t.validate("target")
    def _valid_target(self, proposal: t.Bunch) -> int:
        _finite("target", proposal.value)  # an int no float holds is refused, not clamped
        return int(_clamp(proposal.value, 0, self._classes - 1))

    @t.validate("sigma")
    def _valid_sigma(self, proposal: t.Bunch) -> float | None:
        if proposal.value is None:
            return None
        return _clamp(proposal.value, 0.0, SIGMA_MAX.get(self.baseline, max(SIGMA_MAX.values())))

    @t.validate("baseline", "rule", "sign", "cmap", "reduction", "evaluation")
    def _valid_choice(self, proposal: t.Bunch) -> str:
        name = proposal.trait.name
        options = {
            "baseline": self.baselines,
            "rule": QUADRATURE_RULES,
            "sign": SIGN_MODES,
            "cmap": COLORMAPS,
            "reduction": REDUCTIONS,
            "evaluation": EVALUATIONS,
        }[name]
        if proposal.value not in options:
            msg = f"{name} {_show(proposal.value)} is not one of {list(options)}"
            raise t.TraitError(msg)
        return proposal.value

    @t.validate("color")
    def _valid_color(self, proposal: t.Bunch) -> str:
        if not _HEX.fullmatch(proposal.value):
            msg = f"color {_show(proposal.value)} is not a #rrggbb colour"
            raise t.TraitError(msg)
        return proposal.value.lower()

    @t.validate("opacity", "alpha")
    def _valid_unit(self, proposal: t.Bunch) -> float:
        return _clamp(proposal.value, 0.0, 1.0)

    @t.validate("clip")
    def _valid_clip(self, proposal: t.Bunch) -> float:
        return _clamp(proposal.value, 50.0, 100.0)

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply values from the browser one by one; a value that fails validation is refused
        (the trait keeps its value, the browser gets it back) and reported in the status line."""
        controls = {c.name for c in REGISTRY[self.method].controls}
        for name, value in sync_data.items():
            if name in _KERNEL_OWNED:
                self.send_state(name)
                self._on_status("error", f"refused {name}: only the kernel writes it", None, "", 0)
                continue
            try:
                if name not in self.trait_names() and name in controls:
                    self.options = {**self.options, name: value}
                    continue
                super().set_state({name: value})
            except (t.TraitError, TypeError, ValueError) as error:
                self.send_state(name)
                hint = "Give a finite number." if name in _NUMERIC else "Pick a value from the list."
                self._on_status("error", f"refused {name}={_show(value)}: {error}", None, hint, 0)

    # -- requests and answers --------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        color = self.color
        sigma = self.sigma
        if sigma is not None and self.baseline in SIGMA_MAX:
            sigma = min(sigma, SIGMA_MAX[self.baseline])
        params: dict[str, Any] = {"method": self.method, "target": self.target}
        entry = REGISTRY[self.method]
        if entry.takes_baseline:
            params |= {"baseline": self.baseline, "baseline_sigma": sigma, "sigma": sigma}
            params["color"] = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
            picked = getattr(self, "_picked_exact", None)
            if picked is not None and picked[0] == color:  # the picked colour itself, not its #rrggbb
                params["color"] = list(picked[1])
        return params | dict(self.options) | {"evaluation": self.evaluation}

    @staticmethod
    def _plan(params: dict[str, Any]) -> list[Stage]:
        """A coarse answer first unless the full one is about as cheap: a few Gauss-Legendre points
        for a path, a few samples for a sampling method; one stage for the others. With the
        evaluation panel on, its curves follow the final map (an extra stage)."""
        stages = Explorer._stages(params)
        if params.get("evaluation", "off") != "off":
            stages.append(Stage(EVALUATE, params, extra=True))
        return stages

    @staticmethod
    def _stages(params: dict[str, Any]) -> list[Stage]:
        view = view_of(REGISTRY[params.get("method") or "integrated_gradients"])
        steps = params.get("steps")
        if view == "path" and steps is not None and (steps == "auto" or steps > 2 * COARSE_STEPS):
            coarse = {**params, "steps": COARSE_STEPS, "rule": COARSE_RULE}
            return [Stage("coarse", coarse), Stage("full", params)]
        samples = params.get("samples")
        if view == "samples" and isinstance(samples, int) and samples > 2 * COARSE_SAMPLES:
            return [Stage("coarse", {**params, "samples": COARSE_SAMPLES}), Stage("full", params)]
        return [Stage("full", params)]

    def _request(self, change: t.Bunch | None = None) -> int | None:
        if self._resetting:
            return None
        if change is not None and change.get("name") == "baseline" and self.sigma is not None:
            # σ means pixels for one baseline and a fraction of the range for another: a new
            # baseline starts from its own default instead of a value meant for the old one
            self._resetting = True
            try:
                self.sigma = None
            finally:
                self._resetting = False
        controls = self._controls()
        if self.evaluation != "off":
            self.evaluation_result = {}  # the curves of the old map would mislead: computing
        generation = self.session.request(self._params())
        self._asked[generation] = controls
        for old in [g for g in self._asked if g < generation - 8]:
            del self._asked[old]
        return generation

    def _controls(self) -> dict[str, Any]:
        """The kernel controls as they are now (what a request asks for)."""
        return {"method": self.method, "options": dict(self.options), "baseline": self.baseline,
                "sigma": self.sigma, "color": self.color, "target": self.target}  # fmt: skip

    def cancel(self) -> None:
        """Stop the running computation (at its next chunk); the last result stays on screen, and
        the kernel controls go back to what that result was computed with (so they show what the
        maps show)."""
        self.session.cancel()
        shown = self._asked.get(int(self.result.get("generation", -1))) if self.result else None
        if shown is None:
            return
        resetting, self._resetting = self._resetting, True
        try:
            for name in ("method", "options", "baseline", "sigma", "color", "target"):
                if getattr(self, name) != shown[name]:
                    setattr(self, name, shown[name])
        finally:
            self._resetting = resetting

    def _on_message(self, _widget: object, content: object, _buffers: object) -> None:
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()
        elif isinstance(content, dict) and content.get("type") == "pick":
            try:
                self.pick(content.get("x"), content.get("y"), pixel=bool(content.get("pixel", False)))
            except ValueError as error:
                self._on_status("error", f"refused {error}", None, "Click inside the input image.", 0)

    def pick(self, x: float, y: float, *, pixel: bool = False) -> dict[str, Any]:
        """Take the baseline's colour from the image, as a click on it does (the baselines poster):
        the mean colour of the segment at (x, y) (fractions of the image's width and height), or
        with ``pixel`` (shift-click) that pixel's own; the baseline becomes that constant colour,
        exactly (not rounded to ``#rrggbb``), and the map is recomputed. Returns ``picked``."""
        if not REGISTRY[self.method].takes_baseline:
            msg = f"pick: {self.method} takes no baseline; choose a method that does (e.g. integrated_gradients)"
            raise ValueError(msg)
        found = self._explainer.pick(x, y, pixel=pixel)
        if self.segments is None:
            self.segments = self._explainer.segments_payload()
        rgb = found["color"] * 3 if len(found["color"]) == 1 else found["color"][:3]
        hexed = "#" + "".join(f"{round(min(max(v, 0.0), 1.0) * 255):02x}" for v in rgb)
        self._picked_exact = (hexed, found["color"])
        self.picked = {**found, "hex": hexed, "pixel": bool(pixel)}
        resetting, self._resetting = self._resetting, True
        try:
            self.color = hexed
            self.baseline = "constant"
        finally:
            self._resetting = resetting
        self._request()
        return self.picked

    def _on_result(self, generation: int, stage: str, payload: dict[str, Any], final: bool) -> None:
        if stage == EVALUATE:
            self.evaluation_result = payload["evaluation"] if self.evaluation != "off" else None
            return
        attribution = payload.pop("_attribution", None)
        if final and attribution is not None:
            self.attribution = attribution
        self.result = {**payload, "generation": generation, "final": final}

    def _on_status(self, state: str, message: str, progress: float | None, hint: str, generation: int) -> None:
        self.status = {"state": state, "message": message, "progress": progress, "hint": hint, "generation": generation}

    @property
    def error(self) -> BaseException | None:
        """The exception of the last failed computation (with its traceback), or None."""
        return self.session.error

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the newest request is computed and its answer is in ``result``, ``status`` and
        ``attribution``; True if that happened within ``timeout`` seconds (None: no limit).

        For scripts and for the cell that created the explorer: the answers travel through the
        kernel's IO loop, which runs that cell and so cannot deliver them before it ends; here they
        are delivered at once. In a later cell, just look.
        """
        done = self.session.wait(timeout)
        self.session.flush()
        return done

    def close(self) -> None:
        """Stop the worker thread and close the widget."""
        session = getattr(self, "session", None)  # absent when __init__ failed early
        if session is not None:
            session.close()
        super().close()

    # -- static export -----------------------------------------------------------------------------------
    def save_html(self, path: str | Path, *, title: str | None = None, timeout: float | None = 300.0) -> Path:
        """Write one self-contained HTML file that works offline from ``file://``.

        The file holds the front-end module, the current data (base64) and a small model shim, and
        needs no kernel, no widget manager and no network (see :mod:`attrwidgets.widgets.export`).
        The α scrubber, the display controls and the curves work; controls that need new gradients
        are disabled with a note.

        A computation still running (``ex = explore(...); ex.save_html(path)`` in one cell or a
        script) is waited for, up to ``timeout`` seconds (None: as long as it takes), so the page
        holds its result; if it runs out, TimeoutError is raised and nothing is written.
        """
        self._ready("save_html", timeout)
        state = {name: getattr(self, name) for name in Explorer.class_own_traits() if not name.startswith("_")}
        state |= {"interactive": False, "status": {**self.status, "state": "idle"}}
        return export.write(path, state, title=title or f"attrwidgets explorer: {self.title}")

    def save_png(self, path: str | Path, *, timeout: float | None = 300.0, dpi: int = 100) -> Path:
        """A PNG drawn with matplotlib from the same data: the input, the final map over it with the
        widget's colour map, clip, opacity and channel reduction, the saturation curve (path
        methods) and the evaluation panel's curves (when on). Waits for a running computation as
        :meth:`save_html` does."""
        self._ready("save_png", timeout, needs_map=True)
        return _snapshot.save_png(self, path, dpi=dpi)

    def save_npz(self, path: str | Path, *, timeout: float | None = 300.0) -> Path:
        """The attribution at full resolution (``values``), the image, the method's parts and path
        trace, and the parameters (JSON in ``params``), in one ``numpy.savez_compressed`` file.
        Waits for a running computation as :meth:`save_html` does."""
        self._ready("save_npz", timeout, needs_map=True)
        return _snapshot.save_npz(self, path)

    def _ready(self, what: str, timeout: float | None, *, needs_map: bool = False) -> None:
        if not self.wait(timeout):
            msg = (
                f"{what}: the explorer is still computing after {timeout:g} s, so the file would miss "
                "its result; nothing was written. Pass a longer timeout= (None waits as long as it takes), "
                "or call cancel() first to save the last result shown."
            )
            raise TimeoutError(msg)
        if needs_map and self.attribution is None:
            msg = f"{what}: no map yet (the computation failed: see .error); nothing was written"
            raise RuntimeError(msg)


def check_keywords(widget: type, traits: dict[str, Any], owned: Sequence[str]) -> None:
    """Refuse keywords that are not ``widget``'s own traits (nor the kernel-owned ones), naming the valid ones."""
    allowed = {name for name in widget.class_own_traits() if not name.startswith("_")} - set(owned)
    unknown = sorted(set(traits) - allowed)
    if unknown:
        valid = sorted(allowed | {"sync", "top_k"})
        msg = f"{widget.__name__} got unknown keyword(s) {unknown}; the options are {valid}"
        raise TypeError(msg)


def explore(
    model: Callable[[torch.Tensor], torch.Tensor],
    image: object,
    target: int | None = None,
    *,
    method: str = "integrated_gradients",
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    labels: Sequence[str] | None = None,
    baseline: object = "black",
    references: torch.Tensor | None = None,
    sync: bool = False,
    **kw: Any,
) -> Explorer:
    """Open the explorer for ``model`` on one ``image``, with any registered ``method``.

    Parameters
    ----------
    model : nn.Module
        A classifier returning (N, classes) scores; on any device (the image is moved there).
    image : tensor or array
        One image in pixel space [0, 1]: (C, H, W), (1, C, H, W), (H, W), or numpy (H, W, C);
        uint8 is divided by 255. Any size.
    target : int, optional
        Class to explain; default the predicted class.
    method : str
        A name of :data:`attrwidgets.registry.REGISTRY` (default "integrated_gradients"); the
        widget's menu offers them all, and ``.method`` switches from Python.
    preprocess : callable, optional
        Normalisation applied inside the model call (e.g. ImageNet mean/std), so baselines and
        attributions stay in pixel space.
    labels : sequence of str, optional
        Class names for the target picker and the curve.
    baseline : str or image
        Initial baseline of the methods that take one: a name of the menu ("black", "blur", ...),
        or another image (tensor or array, like ``image``; resized to its size with a note): the
        path then runs from that image to this one (the baselines poster's goldfinch and pencil),
        and the menu offers it as "another image".
    references : tensor, optional
        Training inputs (M, C, H, W): enables the "references" baseline and Expected Gradients.
    sync : bool
        Compute in the calling thread (tests, ``nbconvert``, Voilà); default computes in a worker
        thread, a coarse answer first, and the notebook stays responsive.
    **kw :
        One keyword per control of the method (``REGISTRY[method].controls``: for Integrated
        Gradients ``steps`` ("auto", the default, refines the path until the completeness gap is below
        1 %; an int fixes the points, 1..512) and ``rule``; for SmoothGrad ``sigma`` (a fraction of the
        input range), ``samples``, ``seed``, ``variant``, ``base``; for Grad-CAM ``layer`` (a module or
        its name); ...), checked against the registry. Display options ``opacity``, ``cmap``,
        ``sign``, ``clip``, ``reduction``, ``alpha``, ``title``; ``sigma`` and ``color`` of the
        baseline (for methods without a ``sigma`` of their own); ``top_k`` (classes in the target
        picker, default 5); ``max_frames`` (α points whose maps are sent, default 25);
        ``evaluation`` ("deletion" or "pixel_perturbation": a panel with the final map's curve
        against random rankings; default "off"). Unknown names raise TypeError listing the valid ones.

    Returns
    -------
    Explorer
        The widget; display it by leaving it last in a cell. ``.attribution`` holds the newest full
        :class:`~attrwidgets.Attribution`, ``.options`` the method's controls, ``.save_html(path)``
        writes a static page.
    """
    if method not in REGISTRY:
        msg = f"method={method!r} is not registered; the methods are {sorted(REGISTRY)}"
        raise ValueError(msg)
    entry = REGISTRY[method]
    controls = {c.name: c for c in entry.controls if c.kind in _methods.OPTION_KINDS}
    options = {name: kw.pop(name) for name in list(kw) if name in controls}
    unknown = sorted(set(kw) - set(_OPTIONS))
    if unknown:
        valid = sorted(
            {*controls, *_OPTIONS, "baseline", "references", "preprocess", "labels", "sync", "target"} - {"dispatch"}
        )
        msg = f"explore() got unknown keyword(s) {unknown} for method={method!r}; the options are {valid}"
        raise TypeError(msg)
    frames = {"max_frames": kw.pop("max_frames")} if "max_frames" in kw else {}
    explainer = PathExplainer(model, image, preprocess=preprocess, references=references, labels=labels, **frames)
    if not isinstance(baseline, str):  # another image: integrate between the two
        explainer.set_baseline_image(baseline)
        baseline = "image"
    if target is None:
        target = int(explainer.logits.argmax())
    elif not 0 <= int(target) < explainer.classes:
        msg = f"target={target} is not a class of this model: give 0..{explainer.classes - 1}"
        raise ValueError(msg)
    layers = _methods.layer_names(model)
    modules = {id(m): name for name, m in model.named_modules()} if hasattr(model, "named_modules") else {}
    for name, value in options.items():
        control = controls[name]
        if control.kind == "module" and not isinstance(value, str):
            if id(value) not in modules:
                msg = (
                    f"{name}={type(value).__name__} is not a module of this model; give one of {layers} (or the module)"
                )
                raise ValueError(msg)
            options[name] = value = modules[id(value)]
        _check_keyword(control, value)
    options = _methods.validate(entry, options, layers=layers, shape=tuple(explainer.image.shape))
    mirrored = {name: options[name] for name in _mirrored(method)}
    return Explorer(
        explainer, sync=sync, target=int(target), baseline=baseline, method=method, options=options, **mirrored, **kw
    )


def _mirrored(method: str) -> list[str]:
    """The options of ``method`` that the ``steps``/``rule`` traits stand for (same vocabulary)."""
    out = []
    for control in REGISTRY[method].controls:
        if control.name == "steps" and control.kind == "steps":
            out.append("steps")
        if control.name == "rule" and control.choices and set(control.choices) <= set(QUADRATURE_RULES):
            out.append("rule")
    return out


def _check_keyword(control: Any, value: object) -> None:
    """A keyword of explore(): out of range is an error (the browser's values are clamped instead)."""
    if control.kind == "steps":
        if value == "auto":
            return
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"{control.name} must be an int (1..{STEPS_MAX}) or 'auto', not {value!r}"
            raise TypeError(msg)
        high = min(control.high or STEPS_MAX, STEPS_MAX)
        if not control.low <= value <= high:
            msg = f"{control.name}={value} is out of range: give {control.low:g}..{high:g} or 'auto'"
            raise ValueError(msg)
        return
    if control.kind in ("int", "float", "seed") and not isinstance(value, bool) and isinstance(value, (int, float)):
        low = -math.inf if control.low is None else control.low
        high = math.inf if control.high is None else control.high
        if not low <= value <= high:
            msg = f"{control.name}={value} is out of range: give {low:g}..{high:g}"
            raise ValueError(msg)
