"""The method registry: name → function, the controls it takes, and what it produces.

Widgets generate their controls from it and tests iterate over it (as zennit's ``COMPOSITES``).
Each method module registers its function with :func:`register`; the registry key is the
function's name and the ``Attribution.method`` it returns.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["REGISTRY", "Control", "Method", "register"]

KINDS = ("int", "float", "choice", "bool", "baseline", "module", "tensor", "steps", "seed")
PRODUCTS = ("trace", "delta", "parts", "score", "convergence")
AXIOMS = ("completeness", "sensitivity", "implementation_invariance", "linearity", "symmetry", "dummy")


@dataclass(frozen=True)
class Control:
    """One option of a method, as a widget would show it.

    ``kind`` is one of int, float, choice, bool, baseline, module, tensor, steps (an int or
    "auto"), seed. ``low``/``high`` bound numbers (the kernel clamps to them, whatever a front end
    sends); ``choices`` lists a choice's values.

    ``unit``: ``"fraction"`` for a float that is a fraction of the input's value range (a widget
    shows it in percent), else ``""``. ``none``: what a ``module`` control's None means, in a word
    ("inputs", "default"). ``when``: the control matters only while another control has a value,
    ``("steps", "auto")``, or does not, ``("steps", "!auto")``; a widget hides it otherwise.
    ``auto``: for a control whose good default depends on the input, a function of the input's
    shape giving it (used when the function's default is None).
    """

    name: str
    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    doc: str = ""
    unit: str = ""
    none: str = "default"
    when: tuple[str, Any] | None = None
    auto: Callable[[tuple[int, ...]], Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            msg = f"control {self.name!r}: kind {self.kind!r} is not one of {KINDS}"
            raise ValueError(msg)
        if self.unit not in ("", "fraction"):
            msg = f"control {self.name!r}: unit {self.unit!r} is not '' or 'fraction'"
            raise ValueError(msg)
        if self.when is not None and (len(self.when) != 2 or not isinstance(self.when[0], str)):
            msg = f"control {self.name!r}: when={self.when!r} is not (control name, value)"
            raise ValueError(msg)

    def applies(self, options: dict[str, Any]) -> bool:
        """Whether this control matters with ``options`` (see ``when``)."""
        if self.when is None:
            return True
        name, value = self.when
        if isinstance(value, str) and value.startswith("!"):
            return options.get(name) != value[1:]
        return options.get(name) == value

    def default_for(self, shape: tuple[int, ...]) -> Any:
        """The default for inputs of ``shape``: ``auto(shape)`` where the default is None."""
        if self.default is None and self.auto is not None:
            return self.auto(tuple(shape))
        return self.default

    def clamp(self, value: Any) -> Any:
        """A value from an untrusted front end, made valid: numbers (or their text) clamped to
        ``low``/``high``; NaN, ±inf, numbers no float holds, unknown choices and non-booleans refused
        with a ``ValueError`` that names the control and what it accepts."""
        if self.kind == "choice":
            if value not in self.choices:
                msg = f"{self.name}={_short(value)} is not one of {self.choices}"
                raise ValueError(msg)
            return value
        if self.kind == "bool":
            if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                return bool(value)
            msg = f"{self.name}={_short(value)} is not true or false"
            raise ValueError(msg)
        if self.kind == "steps" and isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if self.kind in ("int", "float", "seed", "steps"):
            number = _number(self.name, value, "'auto' or a number" if self.kind == "steps" else "a number")
            if self.low is not None:
                number = max(self.low, number)
            if self.high is not None:
                number = min(self.high, number)
            return number if self.kind == "float" else round(number)
        return value

    @property
    def fraction_of_range(self) -> bool:
        """Whether the value is a fraction of the input's value range (shown as a percentage)."""
        return self.unit == "fraction"


def _short(value: object, limit: int = 40) -> str:
    """A repr short enough for a message (a front end may send a 400-digit integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(name: str, value: object, expected: str) -> float:
    """``value`` (a number or its text) as a finite float, or a ValueError that says why not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        msg = f"{name}={_short(value)} is not {expected}"
        raise ValueError(msg)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except OverflowError:
        msg = f"{name} must be a finite number; {_short(value)} is beyond the range of a float"
        raise ValueError(msg) from None
    except ValueError:
        msg = f"{name}={_short(value)} is not {expected}"
        raise ValueError(msg) from None
    if not math.isfinite(number):
        msg = f"{name} must be a finite number, not {_short(value)}"
        raise ValueError(msg)
    return number


@dataclass(frozen=True)
class Method:
    """A registered method: its function, controls, paper, the axioms it claims, what it fills in."""

    name: str
    fn: Callable[..., Any]
    controls: tuple[Control, ...] = ()
    paper: str = ""
    axioms: tuple[str, ...] = ()
    produces: tuple[str, ...] = ("score",)
    needs: tuple[str, ...] = field(default=())  # "layer", "references", "baseline"

    @property
    def takes_baseline(self) -> bool:
        """Whether one of the controls is a baseline (the explorers' shared baseline menu applies)."""
        return any(c.kind == "baseline" for c in self.controls)

    @property
    def options(self) -> set[str]:
        """Keyword-only options the function accepts."""
        params = inspect.signature(self.fn).parameters.values()
        return {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


REGISTRY: dict[str, Method] = {}


def register(
    *,
    controls: tuple[Control, ...] = (),
    paper: str = "",
    axioms: tuple[str, ...] = (),
    produces: tuple[str, ...] = ("score",),
    needs: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add the function to :data:`REGISTRY` under its own name.

    The registered function runs with inference mode off: a caller under ``torch.inference_mode()``
    would otherwise make every tensor the method allocates an inference tensor, which autograd
    refuses to save.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        for axiom in axioms:
            if axiom not in AXIOMS:
                msg = f"{fn.__name__}: unknown axiom {axiom!r}; known: {AXIOMS}"
                raise ValueError(msg)
        for product in produces:
            if product not in PRODUCTS:
                msg = f"{fn.__name__}: unknown product {product!r}; known: {PRODUCTS}"
                raise ValueError(msg)

        @functools.wraps(fn)
        def method(*args: Any, **kwargs: Any) -> Any:
            with torch.inference_mode(mode=False):
                return fn(*args, **kwargs)

        entry = Method(fn.__name__, method, tuple(controls), paper, tuple(axioms), tuple(produces), needs)
        REGISTRY[fn.__name__] = entry
        return method

    return decorate
