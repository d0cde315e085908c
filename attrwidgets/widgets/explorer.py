"""The explorer widget: α scrubber, baseline choice, heatmap overlay and saturation curves.

:class:`Explorer` holds only synced traits and their validation; the computing is done by a
:class:`~attrwidgets.widgets.session.Session` around a
:class:`~attrwidgets.widgets._compute.PathExplainer`. The front end is ``js/widget.js``.
"""

from __future__ import annotations

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
from attrwidgets.widgets import export
from attrwidgets.widgets._bundle import bundle
from attrwidgets.widgets._compute import PathExplainer
from attrwidgets.widgets.session import Session, Stage

__all__ = ["Explorer", "explore"]

STEPS_MAX = 512
"""Most points per path the explorer computes, whatever a front end asks for."""
STEPS_CHOICES = ("auto", 8, 16, 32, 64, 128, 256)
"""What the steps menu offers ("auto": refine until the completeness gap is below 1 %)."""
COARSE_STEPS = 3
"""Gauss-Legendre points of the quick first answer: few, so it arrives quickly on a CPU for an
ImageNet model (3 points + the input's own gradient + one forward at the baseline; the goal and
its measurement: ``benchmarks/RESULTS-widget.md``)."""
COARSE_RULE = "gausslegendre"
"""Rule of the quick first answer: the one that converges fastest with few points."""
SIGMA_MAX = {"gaussian": 1.0, "blur": 100.0}
"""Largest σ per baseline: a fraction of the input range for gaussian noise, pixels for the blur."""
SIGN_MODES = ("both", "positive", "negative", "absolute")
COLORMAPS = ("auto", "coolwarm", "purplegreen", "inferno", "viridis", "hot", "gray")
REDUCTIONS = ("sum", "abs_sum", "sum_abs", "max_abs", "l2")
"""How the final map reduces the colour channels (js/channels.js): Σ (signed), |Σ|, Σ |·|, max |·|, L2."""
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_KERNEL_CONTROLS = ("baseline", "sigma", "color", "steps", "rule", "target")
_DISPLAY_OPTIONS = ("opacity", "cmap", "sign", "clip", "reduction", "alpha", "title")
_OPTIONS = (*_DISPLAY_OPTIONS, "top_k", "sigma", "color", "max_frames", "dispatch")
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
    title = t.Unicode("Integrated Gradients").tag(sync=True)
    """Heading shown above the widget."""

    # -- kernel controls -----------------------------------------------------------------------------
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

    def __init__(
        self,
        explainer: PathExplainer,
        *,
        sync: bool = False,
        top_k: int = 5,
        dispatch: Callable[[Callable[[], None]], None] | None = None,
        **traits: Any,
    ) -> None:
        allowed = {name for name in Explorer.class_own_traits() if not name.startswith("_")} - {
            "image",
            "result",
            "status",
            "targets",
            "baselines",
            "rules",
            "interactive",
        }
        unknown = sorted(set(traits) - allowed)
        if unknown:
            msg = f"Explorer got unknown keyword(s) {unknown}; the options are {sorted(allowed | {'sync', 'top_k'})}"
            raise TypeError(msg)
        self._explainer = explainer
        self._classes = explainer.classes
        self.attribution = None
        """The :class:`~attrwidgets.Attribution` of the newest full result (None until it arrives)."""
        names = [b for b in BASELINES if b != "references" or explainer.references is not None]
        super().__init__(baselines=names, image=explainer.image_payload(), **traits)
        self.targets = explainer.top_classes(top_k, include=[self.target])
        self.session = Session(
            explainer,
            on_result=self._on_result,
            on_status=self._on_status,
            plan=self._plan,
            sync=sync,
            dispatch=dispatch,
        )
        self._resetting = False
        self.observe(self._request, names=list(_KERNEL_CONTROLS))
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

    @t.validate("target")
    def _valid_target(self, proposal: t.Bunch) -> int:
        _finite("target", proposal.value)  # an int no float holds is refused, not clamped
        return int(_clamp(proposal.value, 0, self._classes - 1))

    @t.validate("sigma")
    def _valid_sigma(self, proposal: t.Bunch) -> float | None:
        if proposal.value is None:
            return None
        return _clamp(proposal.value, 0.0, SIGMA_MAX.get(self.baseline, max(SIGMA_MAX.values())))

    @t.validate("baseline", "rule", "sign", "cmap", "reduction")
    def _valid_choice(self, proposal: t.Bunch) -> str:
        name = proposal.trait.name
        options = {
            "baseline": self.baselines,
            "rule": QUADRATURE_RULES,
            "sign": SIGN_MODES,
            "cmap": COLORMAPS,
            "reduction": REDUCTIONS,
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
        for name, value in sync_data.items():
            try:
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
        return {
            "baseline": self.baseline,
            "sigma": sigma,
            "color": [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)],
            "steps": self.steps,
            "rule": self.rule,
            "target": self.target,
        }

    @staticmethod
    def _plan(params: dict[str, Any]) -> list[Stage]:
        """A coarse answer first (a few Gauss-Legendre points) unless the full one is about as cheap."""
        steps = params["steps"]
        if steps == "auto" or steps > 2 * COARSE_STEPS:
            coarse = {**params, "steps": COARSE_STEPS, "rule": COARSE_RULE}
            return [Stage("coarse", coarse), Stage("full", params)]
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
        return self.session.request(self._params())

    def cancel(self) -> None:
        """Stop the running computation (at its next chunk); the last result stays on screen."""
        self.session.cancel()

    def _on_message(self, _widget: object, content: object, _buffers: object) -> None:
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()

    def _on_result(self, generation: int, stage: str, payload: dict[str, Any], final: bool) -> None:
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
        if not self.wait(timeout):
            msg = (
                f"save_html: the explorer is still computing after {timeout:g} s, so the page would miss "
                "its result; nothing was written. Pass a longer timeout= (None waits as long as it takes), "
                "or call cancel() first to save the last result shown."
            )
            raise TimeoutError(msg)
        state = {name: getattr(self, name) for name in Explorer.class_own_traits() if not name.startswith("_")}
        state |= {"interactive": False, "status": {**self.status, "state": "idle"}}
        return export.write(path, state, title=title or f"attrwidgets explorer: {self.title}")


def explore(
    model: Callable[[torch.Tensor], torch.Tensor],
    image: object,
    target: int | None = None,
    *,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    labels: Sequence[str] | None = None,
    baseline: str = "black",
    steps: int | str = "auto",
    rule: str = "gausslegendre",
    references: torch.Tensor | None = None,
    sync: bool = False,
    **kw: Any,
) -> Explorer:
    """Open the Integrated Gradients explorer for ``model`` on one ``image``.

    Parameters
    ----------
    model : nn.Module
        A classifier returning (N, classes) scores; on any device (the image is moved there).
    image : tensor or array
        One image in pixel space [0, 1]: (C, H, W), (1, C, H, W), (H, W), or numpy (H, W, C);
        uint8 is divided by 255. Any size.
    target : int, optional
        Class to explain; default the predicted class.
    preprocess : callable, optional
        Normalisation applied inside the model call (e.g. ImageNet mean/std), so baselines and
        attributions stay in pixel space.
    labels : sequence of str, optional
        Class names for the target picker and the curve.
    baseline, steps, rule :
        Initial kernel controls. ``steps="auto"`` (the default) refines the path until the
        completeness gap is below 1 %; an int fixes the number of points (1..512).
    references : tensor, optional
        Training inputs (M, C, H, W): enables the "references" baseline.
    sync : bool
        Compute in the calling thread (tests, ``nbconvert``, Voilà); default computes in a worker
        thread, a coarse answer first, and the notebook stays responsive.
    **kw :
        Display options ``opacity``, ``cmap``, ``sign``, ``clip``, ``reduction`` (channels of the
        final map: "sum", "abs_sum", "sum_abs", "max_abs", "l2"), ``alpha``, ``title``; ``sigma``
        and ``color`` of the baseline; ``top_k`` (classes in the target picker, default 5);
        ``max_frames`` (α points whose maps are sent, default 25). Unknown names raise TypeError.

    Returns
    -------
    Explorer
        The widget; display it by leaving it last in a cell. ``.attribution`` holds the newest full
        :class:`~attrwidgets.Attribution`, ``.save_html(path)`` writes a static page.
    """
    unknown = sorted(set(kw) - set(_OPTIONS))
    if unknown:
        msg = f"explore() got unknown keyword(s) {unknown}; the options are {sorted(_OPTIONS)}"
        raise TypeError(msg)
    frames = {"max_frames": kw.pop("max_frames")} if "max_frames" in kw else {}
    explainer = PathExplainer(model, image, preprocess=preprocess, references=references, labels=labels, **frames)
    if target is None:
        target = int(explainer.logits.argmax())
    elif not 0 <= int(target) < explainer.classes:
        msg = f"target={target} is not a class of this model: give 0..{explainer.classes - 1}"
        raise ValueError(msg)
    if steps == "auto":
        pass
    elif isinstance(steps, bool) or not isinstance(steps, int):
        msg = f"steps must be an int (1..{STEPS_MAX}) or 'auto', not {steps!r}"
        raise TypeError(msg)
    elif not 1 <= steps <= STEPS_MAX:
        msg = f"steps={steps} is out of range: give 1..{STEPS_MAX} or 'auto'"
        raise ValueError(msg)
    return Explorer(explainer, sync=sync, target=int(target), baseline=baseline, steps=steps, rule=rule, **kw)
