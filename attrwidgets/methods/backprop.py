"""Modified backward rules on ReLUs: Guided Backpropagation and DeconvNet."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from attrwidgets._warn import warn
from attrwidgets.attribution import Attribution
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import first_pass
from attrwidgets.model import Explained
from attrwidgets.registry import register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["deconvnet", "guided_backprop"]

#: The functional ReLUs a module hook cannot reach (what ``nn.ReLU.forward`` calls is among them).
_FUNCTIONAL_RELUS = frozenset({F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_})
#: Rectifiers the rules apply to: piecewise-linear with slope 0 or 1 (ReLU6 is a ReLU capped at 6).
_RECTIFIERS = (nn.ReLU, nn.ReLU6)
#: Other rectifier-like activations: they keep their plain gradient, and the call says so.
_UNRULED = (nn.LeakyReLU, nn.PReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Softplus)

_RULE_NAMES = {True: "Guided Backprop", False: "DeconvNet"}


@register(
    paper="Springenberg, Dosovitskiy, Brox & Riedmiller, Striving for Simplicity: The All Convolutional Net, "
    "ICLR-W 2015 (arXiv:1412.6806)",
)
@shared_docs
def guided_backprop(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""Guided Backpropagation: the gradient with every ReLU passing only positive signal both ways.

    At each ``nn.ReLU`` with input :math:`x` and incoming gradient :math:`g` (from the layer above),
    the backward pass sends

    .. math:: R = \mathbb{1}[x > 0] \cdot \mathbb{1}[g > 0] \cdot g

    instead of the gradient's :math:`\mathbb{1}[x > 0] \, g`; every other layer backpropagates its
    ordinary gradient. The result is in the inputs' shape (signed: negative values come only from
    the layers below the first ReLU).

    The rule is applied to the model's ``nn.ReLU`` and ``nn.ReLU6`` modules (in-place ones included).

    Parameters
    ----------
    {model_inputs_target}
    {preprocess}
    {forward_kwargs}
    {memory}

    {relu_rule_returns}

    Notes
    -----
    The rule is applied to ``nn.ReLU`` and ``nn.ReLU6`` modules (EfficientNet-Lite and MobileNet use
    ReLU6; its mask is 1[0 < x < 6]); other activations (LeakyReLU, GELU, SiLU, ...) keep their
    plain gradient, with a warning, and a model with no rectifier gets exactly the gradient.
    Same values as Captum's ``GuidedBackprop``, which replaces each ReLU's input gradient with a
    full backward hook; here a tensor hook on each ReLU's output clamps the gradient arriving there
    and the ReLU's own backward applies the mask, so in-place ReLUs need no copy and the forward
    does no extra work.

    References
    ----------
    Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All Convolutional
    Net", ICLR workshop 2015, arXiv:1412.6806.

    Examples
    --------
    >>> attr = guided_backprop(model, images)        # doctest: +SKIP
    >>> attr.values.shape                            # doctest: +SKIP
    torch.Size([1, 3, 224, 224])
    """
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    return rule_gradient("guided_backprop", explained, target, guided=True, memory=memory)


@register(
    paper="Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014 (arXiv:1311.2901)",
)
@shared_docs
def deconvnet(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""DeconvNet: the gradient with every ReLU applied to the backward signal instead of masked by the input.

    At each ``nn.ReLU`` the backward pass sends :math:`R = \max(g, 0)`, whatever the sign of the
    ReLU's input :math:`x` in the forward pass (the gradient would send :math:`\mathbb{1}[x > 0] \, g`).
    Convolutions backpropagate with their transposed filters and max-pooling through its
    switches, which is what Zeiler & Fergus's deconvolutional network does; so the ReLU rule is
    the only difference from the gradient.

    The rule is applied to the model's ``nn.ReLU`` and ``nn.ReLU6`` modules (in-place ones included).

    Parameters
    ----------
    {model_inputs_target}
    {preprocess}
    {forward_kwargs}
    {memory}

    {relu_rule_returns}

    Notes
    -----
    Same values as Captum's ``Deconvolution``. Each ReLU's output is recomputed by a function whose
    backward is the rule and goes straight to the ReLU's input (an in-place ReLU runs on a copy of
    its input, so the original keeps its place in the graph).

    References
    ----------
    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
    arXiv:1311.2901.

    Examples
    --------
    >>> attr = deconvnet(model, images)              # doctest: +SKIP
    """
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    return rule_gradient("deconvnet", explained, target, guided=False, memory=memory)


def rule_gradient(
    method: str,
    explained: Explained,
    target: object,
    *,
    guided: bool,
    memory: int | str | None = None,
) -> Attribution:
    """The input gradient with the Guided Backprop (``guided=True``) or DeconvNet rule on every nn.ReLU.

    """
    watch = _ReluWatch()
    unruled = sorted({type(m).__name__ for m in explained.module.modules() if isinstance(m, _UNRULED)})
    if unruled:
        warn(
            f"{method}: the rule applies to ReLU and ReLU6 modules; the model's {', '.join(unruled)} "
            "activations keep their plain gradient, so the map is partly an ordinary gradient there."
        )
    with ModelGuard(explained.module, hooks=True) as guard:
        for module in explained.module.modules():
            if isinstance(module, _RECTIFIERS):
                _install_rule(guard, module, watch, guided=guided)
        guard.forward_pre_hook(explained.module, watch.new_forward)
        with watch:
            at_x = first_pass(explained, explained.inputs, target, memory=memory)
    if watch.unreached:
        warn(
            f"{method}: the model's forward called torch.relu / F.relu / Tensor.relu {watch.per_forward} time(s) "
            f"outside an nn.ReLU module; module hooks cannot reach those calls, so the {_RULE_NAMES[guided]} "
            "rule is not applied there: these parts of the model get the plain gradient. Use nn.ReLU modules "
            "(e.g. self.relu = nn.ReLU() and self.relu(x) instead of F.relu(x)) for the rule to apply everywhere."
        )
    return Attribution(values=at_x.grad.detach(), target=at_x.target, method=method, score=at_x.score)


class _DeconvRelu(torch.autograd.Function):
    """ReLU (or ReLU6: ``upper=6``) forward; backward max(g, 0), whatever the input (DeconvNet)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, upper: float | None) -> torch.Tensor:
        return x.clamp(min=0, max=upper)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.clamp(min=0), None


def _positive(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(min=0)


class _ReluWatch(TorchFunctionMode):
    """Counts functional ReLU calls made outside the hooked nn.ReLU modules during a forward."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0  # > 0 while a hooked nn.ReLU module runs
        self.unreached = 0
        self.forwards = 0  # a large batch goes through the model in chunks

    def new_forward(self, *_: object) -> None:
        self.forwards += 1

    @property
    def per_forward(self) -> int:
        """Unreached calls in one forward (the model's own forward is not seen for a plain callable)."""
        return self.unreached // max(1, self.forwards)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if self.inside == 0 and func in _FUNCTIONAL_RELUS:
            self.unreached += 1
        return func(*args, **(kwargs or {}))


def _install_rule(guard: ModelGuard, module: nn.ReLU, watch: _ReluWatch, *, guided: bool) -> None:
    """Hook the rule onto one nn.ReLU module (called any number of times, in-place or not).

    Guided Backprop keeps the module's output and clamps the gradient arriving at it with a tensor
    hook; the module's own ReLU backward then applies the forward mask 1[x > 0]. In-place ReLUs need
    nothing more, and no extra forward work is done.

    DeconvNet must not apply the forward mask, so the module's output is replaced by
    :class:`_DeconvRelu` of the module's original input (kept from the pre-hook on a stack, so a
    module called twice works), whose backward goes straight to that input. An in-place ReLU runs
    on a copy, so its original input keeps its values and its place in the graph.
    """
    pending = guard.store.setdefault(("relu_inputs", id(module)), [])

    def before(mod: nn.Module, args: tuple) -> tuple | None:
        watch.inside += 1
        if guided:
            return None
        pending.append(args[0])
        if getattr(mod, "inplace", False):
            return (args[0].clone(), *args[1:])
        return None

    def after(mod: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        watch.inside -= 1
        if not guided:
            return _DeconvRelu.apply(pending.pop(), 6.0 if isinstance(mod, nn.ReLU6) else None)
        if output.requires_grad:
            guard.tensor_hook(output, _positive)
        return None

    guard.forward_pre_hook(module, before)
    guard.forward_hook(module, after)
