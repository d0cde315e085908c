"""The registry as the explorer sees it: the method menu, each method's controls, their validation.

Nothing here names a method. Every entry of :data:`attrwidgets.registry.REGISTRY` becomes a menu
item; its ``controls`` become the kernel-controls row (``spec``), its ``produces``/``needs`` pick
the view (``view_of``: the discriminator the front end switches its panels on), and the values a
front end or a user sends go through the controls' own ``clamp`` (``validate``). A method
registered inside a running session shows up in the next explorer with its controls.

Two kinds of control are not in ``options``: ``baseline`` (the shared baseline menu, with its σ and
colour, held by the explorer's ``baseline``/``sigma``/``color`` traits) and ``tensor`` (data such
as references, passed to :func:`~attrwidgets.widgets.explore` as a keyword, never through a browser).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from attrwidgets.registry import REGISTRY, Control, Method

__all__ = [
    "OPTION_KINDS",
    "STEPS_CHOICES",
    "STEPS_MAX",
    "VIEWS",
    "defaults",
    "layer_names",
    "method_title",
    "spec",
    "specs",
    "validate",
    "view_of",
]

STEPS_MAX = 512
"""Most points per path the explorer computes, whatever a front end asks for."""
STEPS_CHOICES = ("auto", 8, 16, 32, 64, 128, 256)
"""What a ``steps`` menu offers ("auto": refine until the completeness gap is below 1 %)."""
VIEWS = ("path", "samples", "map")
"""The discriminator of a result: a path with an α scrubber, running means over samples, one map."""
OPTION_KINDS = ("int", "float", "seed", "steps", "choice", "bool", "module")
"""Control kinds whose values travel in ``options`` (baselines and tensors do not)."""
_WORDS = {"cam": "CAM", "deeplift": "DeepLIFT", "fullgrad": "FullGrad", "smoothgrad": "SmoothGrad", "x": "×"}


def method_title(name: str) -> str:
    """A menu name: ``integrated_gradients`` → "Integrated Gradients", ``grad_cam`` → "Grad-CAM"."""
    words = [_WORDS.get(word, word.capitalize()) for word in name.split("_")]
    out: list[str] = []
    for word in words:  # Grad-CAM, Guided Grad-CAM
        if word == "CAM" and out:
            out[-1] += "-CAM"
        else:
            out.append(word)
    return " ".join(out)


def view_of(method: Method) -> str:
    """Which panels a method's result needs: "path" (a trace along a baseline's path), "samples"
    (an average over ``samples`` draws: running means), or "map" (one map, perhaps with parts)."""
    if "trace" in method.produces and "baseline" in method.needs:
        return "path"
    if any(c.name == "samples" and c.kind == "int" for c in method.controls):
        return "samples"
    return "map"


def layer_names(model: object) -> list[str]:
    """Names of the model's layers a ``module`` control may pick (its 2-D convolutions), in order."""
    if not isinstance(model, nn.Module):
        return []
    return [name for name, module in model.named_modules() if name and isinstance(module, nn.Conv2d)]


def _control_spec(control: Control, layers: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": control.name,
        "kind": control.kind,
        "default": control.default,
        "low": control.low,
        "high": control.high,
        "choices": list(control.choices),
        "doc": control.doc,
        "percent": control.fraction_of_range,
        "when": None if control.when is None else list(control.when),
    }
    if control.kind == "steps":
        out["high"] = min(control.high or STEPS_MAX, STEPS_MAX)
        out["choices"] = list(STEPS_CHOICES)
    if control.kind == "module":
        # None first: the method's own default (the inputs, or Grad-CAM's last convolution)
        out["choices"] = [None, *layers]
        out["none"] = control.none
    return out


def spec(method: Method, *, layers: list[str], references: bool) -> dict[str, Any]:
    """What the front end needs to show ``method``: menu name, paper, view, controls, availability."""
    missing = [c.name for c in method.controls if c.kind == "tensor" and c.default is None and not references]
    missing += ["layer"] if "layer" in method.needs and not layers else []
    why = ""
    if missing:
        why = f"needs {', '.join(missing)}: pass " + ", ".join(f"{m}=..." for m in missing) + " to explore()"
        if "layer" in missing:
            why = "needs a model with a 2-D convolution to pick a layer from"
    return {
        "name": method.name,
        "title": method_title(method.name),
        "paper": method.paper,
        "produces": list(method.produces),
        "axioms": list(method.axioms),
        "view": view_of(method),
        "available": not missing,
        "why": why,
        "controls": [_control_spec(c, layers) for c in method.controls if c.kind != "tensor"],
    }


def specs(*, layers: list[str], references: bool) -> list[dict[str, Any]]:
    """Every registered method's :func:`spec`, in registration order."""
    return [spec(m, layers=layers, references=references) for m in REGISTRY.values()]


def _option_controls(method: Method) -> dict[str, Control]:
    return {c.name: c for c in method.controls if c.kind in OPTION_KINDS}


def defaults(method: Method, *, layers: list[str], shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The options a method starts with: the registry's defaults (a layer is None: the method's own
    choice); a control whose default depends on the input (``Control.auto``) gets the one for
    inputs of ``shape`` (N, ...), e.g. an occlusion window sized to the image."""
    return {
        name: control.default if shape is None else control.default_for(shape)
        for name, control in _option_controls(method).items()
    }


def validate(
    method: Method, options: dict[str, Any], *, layers: list[str], shape: tuple[int, ...] | None = None
) -> dict[str, Any]:
    """``options`` checked against the method's controls: unknown names and bad values raise
    ``ValueError`` (naming what is accepted), numbers are clamped to the control's range (steps also
    to :data:`STEPS_MAX`); the result holds every option, defaults (for inputs of ``shape``) filled in."""
    controls = _option_controls(method)
    unknown = sorted(set(options) - set(controls))
    if unknown:
        msg = f"{method.name} has no option {unknown}; its options are {sorted(controls) or 'none'}"
        raise ValueError(msg)
    out = defaults(method, layers=layers, shape=shape)
    for name, value in options.items():
        control = controls[name]
        if control.kind == "module":
            if value is None or value == "":
                out[name] = None
                continue
            if value not in layers:
                msg = f"layer={value!r} is not a 2-D convolution of this model; pick one of {layers}"
                raise ValueError(msg)
            out[name] = value
            continue
        clamped = control.clamp(value)
        if control.kind == "steps" and clamped != "auto":
            clamped = min(clamped, STEPS_MAX)
        out[name] = clamped
    return out
