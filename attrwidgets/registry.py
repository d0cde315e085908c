"""The method registry: name → function, the controls it takes, and what it produces.

Widgets generate their controls from it and tests iterate over it (as zennit's ``COMPOSITES``).
Each method module registers its function with :func:`register`; the registry key is the
function's name and the ``Attribution.method`` it returns.
"""

from __future__ import annotations

import functools
import inspect
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
    """

    name: str
    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            msg = f"control {self.name!r}: kind {self.kind!r} is not one of {KINDS}"
            raise ValueError(msg)

    def clamp(self, value: Any) -> Any:
        """A value from an untrusted front end, made valid (numbers clamped, unknown choices refused)."""
        if self.kind == "choice":
            if value not in self.choices:
                msg = f"{self.name}={value!r} is not one of {self.choices}"
                raise ValueError(msg)
            return value
        if self.kind in ("int", "float", "seed") or (self.kind == "steps" and value != "auto"):
            number = float(value)
            if self.low is not None:
                number = max(self.low, number)
            if self.high is not None:
                number = min(self.high, number)
            return number if self.kind == "float" else round(number)
        return value


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
