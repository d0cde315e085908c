"""DeepLIFT's multiplier rules: Rescale, RevealCancel and the max-pooling routing, hooked onto a model.

:func:`attrwidgets.methods.deeplift.deeplift` is the method; this module holds what it installs on the
model's modules for one call (:class:`_Rules`) and the backward passes that replace their gradient.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._engine import accumulator_dtype  # multipliers: float16 eps underflows
from attrwidgets.model import grad_enabled

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["DEEPLIFT_RULES", "rescale_multiplier"]

#: The multiplier rules at nonlinearities that :func:`~attrwidgets.methods.deeplift.deeplift` offers.
DEEPLIFT_RULES = ("rescale", "reveal_cancel")

#: Elementwise nonlinearities: the Rescale / RevealCancel rules replace their gradient.
ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish,
    nn.LogSigmoid, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold,
)  # fmt: skip
#: Layers whose positive and negative contributions RevealCancel splits (Linear rule, §3.5.1).
LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: The functional ops that apply such a layer's weight; their call inside the layer's forward is recorded.
FUNCTIONAL_LINEAR = (F.linear, F.conv1d, F.conv2d, F.conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
MAXPOOLS = {
    nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d, nn.MaxPool3d: F.max_pool3d,
    nn.AdaptiveMaxPool1d: F.adaptive_max_pool1d, nn.AdaptiveMaxPool2d: F.adaptive_max_pool2d,
    nn.AdaptiveMaxPool3d: F.adaptive_max_pool3d,
}  # fmt: skip

#: |Δx| at or below ABS_TINY + REL_TINY · eps(dtype) · max(|x|, |x′|) counts as no change: the gradient is used.
ABS_TINY = 1e-10
REL_TINY = 16


def _tiny(dx: torch.Tensor, x: torch.Tensor, x_ref: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Where a difference is below what ``dtype`` resolves at the magnitude of x and x′."""
    scale = torch.maximum(x.abs(), x_ref.abs())
    return dx.abs() <= ABS_TINY + REL_TINY * torch.finfo(dtype).eps * scale


def rescale_multiplier(
    dx: torch.Tensor, dy: torch.Tensor, gradient: torch.Tensor | Callable[[], torch.Tensor], tiny: torch.Tensor
) -> torch.Tensor:
    """Δy/Δx where ``tiny`` is False, the gradient where it is True; computed in float32 at least.

    ``gradient`` may be a callable that computes it, called only when some ``tiny`` is True.
    """
    dtype = accumulator_dtype(torch.promote_types(dx.dtype, dy.dtype))
    dx, dy = dx.to(dtype), dy.to(dtype)
    ratio = dy / torch.where(tiny, torch.ones_like(dx), dx)
    if not bool(tiny.any()):
        return ratio
    grad = gradient() if callable(gradient) else gradient
    return torch.where(tiny, grad.to(dtype), ratio)


def _derivative(module: nn.Module, at: torch.Tensor) -> torch.Tensor:
    """The elementwise derivative f′ of an activation module at ``at`` (hooks bypassed)."""
    with grad_enabled():
        t = at.detach().requires_grad_(True)
        y = module.forward(t.clone())  # a clone: in-place activations must not touch a leaf
        if not y.requires_grad:
            return torch.zeros_like(t)
        (g,) = torch.autograd.grad(y, t, torch.ones_like(y))
    return g


class _Multiply(torch.autograd.Function):
    """Identity in the forward (returns the recorded output); backward multiplies by the multipliers."""

    @staticmethod
    def forward(ctx: Any, src: torch.Tensor, multiplier: torch.Tensor, box: tuple[torch.Tensor]) -> torch.Tensor:
        ctx.save_for_backward(multiplier)
        return box[0]  # not an input of the Function, so downstream in-place ops on it stay legal

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (multiplier,) = ctx.saved_tensors
        return (grad.to(multiplier.dtype) * multiplier).to(grad.dtype), None, None


class _Custom(torch.autograd.Function):
    """Identity in the forward; backward is ``rule.backward(grad)``, for rules that mix positions."""

    @staticmethod
    def forward(ctx: Any, src: torch.Tensor, rule: Any, box: tuple[torch.Tensor]) -> torch.Tensor:
        ctx.rule = rule
        return box[0]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        rule, ctx.rule = ctx.rule, None
        return rule.backward(grad), None, None


class _LinearCall(TorchFunctionMode):
    """Records, during one linear module's forward, the functional op that applies its weight.

    The op's own input is recorded, not the module's: a forward may pad first ("same" padding
    computed in ``forward``, as TensorFlow ports do), and the terms W·a must be those of the
    tensor the weight really meets.
    """

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight
        self.calls: list[tuple[Callable[..., torch.Tensor], torch.Tensor, tuple, dict, object]] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in FUNCTIONAL_LINEAR:
            named = dict(zip(("input", "weight", "bias"), args, strict=False)) | kwargs
            weight = named.get("weight")
            # a kernel derived from the module's weight (``conv_weight``) stands for it
            if (weight is self.weight or getattr(weight, "_aw_weight_of", None) is self.weight) and isinstance(
                named.get("input"), torch.Tensor
            ):
                rest = {k: v for k, v in kwargs.items() if k not in ("input", "weight", "bias")}
                self.calls.append((func, named["input"], args[3:], rest, out))
        return out


class _LinearTerms:
    """A linear map without bias, W·a (Linear or Conv, optionally followed by an eval BatchNorm).

    ``op(a, w, None, *args, **kwargs)`` is the functional call recorded in the module's forward and
    ``src`` the input it received there.
    """

    def __init__(
        self,
        module: nn.Module,
        src: torch.Tensor,
        op: tuple[Callable[..., torch.Tensor], tuple, dict],
        scale: torch.Tensor | None = None,
    ) -> None:
        self.module = module
        self.src = src  # the op's input: RevealCancel's backward goes straight to it
        self.op = op
        self.scale = scale

    def composed(self, norm: nn.Module) -> _LinearTerms:
        scale = torch.rsqrt(norm.running_var.detach() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach()
        if self.scale is not None:
            scale = scale * self.scale
        return _LinearTerms(self.module, self.src, self.op, scale)

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        w = self.module.weight.detach().to(dtype)
        transform = getattr(self.module, "conv_weight", None)  # the kernel its forward really applies
        if transform is not None:
            w = transform(w)
        if self.scale is not None:
            w = w * self.scale.to(dtype).view((-1,) + (1,) * (w.dim() - 1))
        return w

    def apply(self, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        func, args, kwargs = self.op
        return func(a, w, None, *args, **kwargs)

    def transpose(self, g: torch.Tensor, w: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Wᵀ g (the vector-Jacobian product of the linear map) for a stack of gradients."""
        with grad_enabled():
            a = torch.zeros(shape, dtype=g.dtype, device=g.device, requires_grad=True)
            (out,) = torch.autograd.grad(self.apply(a, w), a, g)
        return out


class _RevealCancel:
    """Backward of one RevealCancel nonlinearity, straight to the input of the linear layer before it."""

    def __init__(self, terms: _LinearTerms, d_src: torch.Tensor, m_pos: torch.Tensor, m_neg: torch.Tensor) -> None:
        self.terms, self.d_src, self.m_pos, self.m_neg = terms, d_src, m_pos, m_neg

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        k = len(self.d_src)
        dtype = self.m_pos.dtype
        g = grad[:k].to(dtype)  # the reference rows get no gradient: only the input rows are scored
        w = self.terms.weight(dtype)
        shape = (2 * k, *self.d_src.shape[1:])
        gs = torch.cat([g * self.m_pos, g * self.m_neg])
        through_pos = self.terms.transpose(gs, w.clamp(min=0), shape)  # [W⁺ᵀ g⁺; W⁺ᵀ g⁻]
        through_neg = self.terms.transpose(gs, w.clamp(max=0), shape)  # [W⁻ᵀ g⁺; W⁻ᵀ g⁻]
        # A term w·Δa is positive where w and Δa have the same sign.
        when_up = through_pos[:k] + through_neg[k:]  # Δa > 0: W⁺ terms are positive, W⁻ terms negative
        when_down = through_pos[k:] + through_neg[:k]  # Δa < 0: the other way round
        d = self.d_src
        out = torch.where(d > 0, when_up, torch.where(d < 0, when_down, 0.5 * (when_up + when_down)))
        return torch.cat([out, torch.zeros_like(out)]).to(grad.dtype)


class _MaxPool:
    """Backward of a max pooling: each window's Δy goes to the argmax of x if it grew, of x′ if it fell."""

    def __init__(
        self,
        d_in: torch.Tensor,
        d_up: torch.Tensor,
        d_down: torch.Tensor,
        idx: torch.Tensor,
        idx_ref: torch.Tensor,
        tiny: torch.Tensor,
    ) -> None:
        self.d_in, self.d_up, self.d_down = d_in, d_up, d_down
        self.idx, self.idx_ref, self.tiny = idx, idx_ref, tiny

    def _unpool(self, values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        shape = self.d_in.shape
        flat = torch.zeros(*shape[:2], math.prod(shape[2:]), dtype=values.dtype, device=values.device)
        flat.scatter_add_(2, index.flatten(2), values.flatten(2))
        return flat.view(shape)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        k = len(self.d_in)
        g = grad[:k].to(self.d_in.dtype)
        routed = self._unpool(g * self.d_up, self.idx) + self._unpool(g * self.d_down, self.idx_ref)
        safe = torch.where(self.tiny, torch.ones_like(self.d_in), self.d_in)
        out = torch.where(self.tiny, self._unpool(g, self.idx), routed / safe)
        return torch.cat([out, torch.zeros_like(out)]).to(grad.dtype)


class _Rules:
    """The hooks of one call: record each nonlinearity's input and replace its backward by the rule."""

    def __init__(self, guard: ModelGuard, model: nn.Module, rule: str) -> None:
        self.rule = rule
        self.names = {id(m): name or type(m).__name__ for name, m in model.named_modules()}
        self.rows = 0
        self.seen = 0
        self.pending: dict[int, list[torch.Tensor]] = {}
        self.watching: dict[int, list[_LinearCall]] = {}
        self.terms: dict[int, tuple[torch.Tensor, _LinearTerms]] = {}
        for module in model.modules():
            if isinstance(module, ELEMENTWISE) or type(module) in MAXPOOLS:
                guard.forward_pre_hook(module, self.before)
                guard.forward_hook(module, self.after)
            elif rule == "reveal_cancel" and isinstance(module, LINEAR):
                guard.forward_pre_hook(module, self.watch_linear)
                guard.forward_hook(module, self.record_linear, always_call=True)
            elif rule == "reveal_cancel" and isinstance(module, NORMS):
                guard.forward_hook(module, self.record_norm)

    def begin(self, rows: int) -> None:
        self.rows, self.pending, self.terms, self.watching = rows, {}, {}, {}

    def end(self) -> None:
        self.pending, self.terms, self.watching = {}, {}, {}

    def _check(self, module: nn.Module, tensor: object) -> bool:
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            return False
        if tensor.dim() == 0 or tensor.shape[0] != 2 * self.rows:
            shape = tuple(tensor.shape)
            msg = (
                f"deeplift pairs each input with its baseline along the batch axis (2 x {self.rows} rows), but "
                f"module {self.names.get(id(module))!r} ({type(module).__name__}) received shape {shape}: "
                "the model must keep the batch as the first axis up to its nonlinearities"
            )
            raise ValueError(msg)
        return True

    # -- RevealCancel: the terms of linear layers --------------------------------------------------
    def watch_linear(self, module: nn.Module, args: tuple) -> None:
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor):
            mode = _LinearCall(weight)
            mode.__enter__()
            self.watching.setdefault(id(module), []).append(mode)

    def record_linear(self, module: nn.Module, args: tuple, out: object) -> None:
        stack = self.watching.get(id(module))
        if not stack:
            return
        mode = stack.pop()
        mode.__exit__(None, None, None)  # always called (also when the forward raised): the mode never leaks
        # The terms are known when the module's output is exactly what one call of its weight returned.
        if len(mode.calls) != 1 or not isinstance(out, torch.Tensor):
            return
        func, src, extra, kwargs, result = mode.calls[0]
        if result is out and self._check(module, src):
            self.terms[id(out)] = (out, _LinearTerms(module, src, (func, extra, kwargs)))

    def record_norm(self, module: nn.Module, args: tuple, out: object) -> None:
        if module.training or module.running_var is None or not args or not isinstance(out, torch.Tensor):
            return  # batch statistics: not a fixed affine map
        found = self.terms.get(id(args[0]))
        if found is not None and found[0] is args[0]:
            self.terms[id(out)] = (out, found[1].composed(module))

    # -- nonlinearities ----------------------------------------------------------------------------
    def before(self, module: nn.Module, args: tuple) -> tuple | None:
        if not args or not self._check(module, args[0]):
            return None
        self.pending.setdefault(id(module), []).append(args[0])
        if getattr(module, "inplace", False):  # let the module work on a copy: its input stays intact
            return (args[0].clone(), *args[1:])
        return None

    def after(self, module: nn.Module, args: tuple, out: object) -> torch.Tensor | None:
        stack = self.pending.get(id(module))
        if not stack:
            return None
        src = stack.pop()
        if not isinstance(out, torch.Tensor) or not src.requires_grad:
            return None  # a tuple output (return_indices=True) or a branch that does not depend on the input
        self.seen += 1
        k = self.rows
        y = out.detach()
        if type(module) in MAXPOOLS:
            if src.dim() < 3:  # (N, L) would be read as one unbatched plane: keep the gradient
                return None
            return _Custom.apply(src, self._maxpool(module, src.detach(), y), (y,))
        found = self.terms.get(id(src)) if self.rule == "reveal_cancel" else None
        if found is not None and found[0] is src:
            return _Custom.apply(found[1].src, self._reveal_cancel(module, found[1], src.detach(), y), (y,))
        x, x_ref = src.detach()[:k], src.detach()[k:]
        tiny = _tiny(x - x_ref, x, x_ref, src.dtype)
        m = rescale_multiplier(x - x_ref, y[:k] - y[k:], lambda: _derivative(module, x), tiny)
        return _Multiply.apply(src, torch.cat([m, m]), (y,))

    def _reveal_cancel(
        self, module: nn.Module, terms: _LinearTerms, src: torch.Tensor, y: torch.Tensor
    ) -> _RevealCancel:
        k = self.rows
        dtype = accumulator_dtype(src.dtype)
        a = terms.src.detach()
        d_src = a[:k].to(dtype) - a[k:].to(dtype)
        w = terms.weight(dtype)
        up, down = d_src.clamp(min=0), d_src.clamp(max=0)
        dx_pos = terms.apply(up, w.clamp(min=0)) + terms.apply(down, w.clamp(max=0))
        dx_neg = terms.apply(down, w.clamp(min=0)) + terms.apply(up, w.clamp(max=0))
        x, x_ref = src[:k].to(dtype), src[k:].to(dtype)
        y_x, y_ref = y[:k].to(dtype), y[k:].to(dtype)

        def f(t: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return module.forward(t.to(src.dtype)).to(dtype)

        f_pos, f_neg = f(x_ref + dx_pos), f(x_ref + dx_neg)
        dy_pos = 0.5 * (f_pos - y_ref) + 0.5 * (y_x - f_neg)
        dy_neg = 0.5 * (f_neg - y_ref) + 0.5 * (y_x - f_pos)
        derivative: list[torch.Tensor] = []

        def gradient() -> torch.Tensor:
            if not derivative:
                derivative.append(_derivative(module, src[:k]))
            return derivative[0]

        m_pos = rescale_multiplier(dx_pos, dy_pos, gradient, _tiny(dx_pos, x, x_ref, src.dtype))
        m_neg = rescale_multiplier(dx_neg, dy_neg, gradient, _tiny(dx_neg, x, x_ref, src.dtype))
        return _RevealCancel(terms, d_src, m_pos, m_neg)

    def _maxpool(self, module: nn.Module, src: torch.Tensor, y: torch.Tensor) -> _MaxPool:
        k = self.rows
        pool = MAXPOOLS[type(module)]
        if "adaptive" in pool.__name__:
            _, idx = pool(src, module.output_size, return_indices=True)
        else:
            opts = (module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode)
            _, idx = pool(src, *opts, return_indices=True)
        dtype = accumulator_dtype(src.dtype)
        y_x, y_ref = y[:k].to(dtype), y[k:].to(dtype)
        top = torch.maximum(y_x, y_ref)
        x, x_ref = src[:k].to(dtype), src[k:].to(dtype)
        tiny = _tiny(x - x_ref, x, x_ref, src.dtype)
        return _MaxPool(x - x_ref, top - y_ref, y_x - top, idx[:k], idx[k:], tiny)
