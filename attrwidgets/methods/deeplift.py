"""DeepLIFT: contributions of differences from a reference, with the Rescale and RevealCancel rules."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from attrwidgets.attribution import Attribution
from attrwidgets.baselines import resolve_baseline
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._engine import Budget, _grad, _SavedBytes, chunked, point_bytes
from attrwidgets.model import Explained, grad_enabled, resolve_target
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["RULES", "deeplift", "rescale_multiplier"]

RULES = ("rescale", "reveal_cancel")

#: Elementwise nonlinearities: the Rescale / RevealCancel rules replace their gradient.
ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish,
    nn.LogSigmoid, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold,
)  # fmt: skip
#: Layers whose positive and negative contributions RevealCancel splits (Linear rule, §3.5.1).
LINEAR = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
MAXPOOLS = {
    nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d, nn.MaxPool3d: F.max_pool3d,
    nn.AdaptiveMaxPool1d: F.adaptive_max_pool1d, nn.AdaptiveMaxPool2d: F.adaptive_max_pool2d,
    nn.AdaptiveMaxPool3d: F.adaptive_max_pool3d,
}  # fmt: skip

#: |Δx| at or below ABS_TINY + REL_TINY · eps(dtype) · max(|x|, |x′|) counts as no change: the gradient is used.
ABS_TINY = 1e-10
REL_TINY = 16
#: A summation-to-delta gap above this fraction of |F(x) − F(x′)| (plus rounding) gets a warning naming the cause.
WARN_GAP = 1e-3


@register(
    controls=(
        Control("baseline", "baseline", "black", doc="the reference input x′; see attrwidgets.baselines"),
        Control("rule", "choice", "rescale", choices=RULES, doc="multiplier rule at nonlinearities"),
        Control("normalize_softmax", "bool", False, doc="explain z_t − mean_j z_j (the softmax correction)"),
    ),
    paper=(
        "Shrikumar, Greenside & Kundaje, Learning Important Features Through Propagating Activation "
        "Differences, ICML 2017 (arXiv:1704.02685)"
    ),
    axioms=("completeness",),
    produces=("score", "delta"),
    needs=("baseline",),
)
def deeplift(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    baseline: object = "black",
    rule: str = "rescale",
    normalize_softmax: bool = False,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""DeepLIFT: each input's contribution to F(x) − F(x′), propagated with multipliers.

    Every neuron's difference from its reference value, Δy = y(x) − y(x′), is explained by
    multipliers m = C/Δx chained backwards like gradients (the chain rule for multipliers, §3.3):

    - **Linear rule** (linear, convolution, pooling by averaging, BatchNorm in eval mode): the weights,
      i.e. ordinary backpropagation.
    - **Rescale rule** at an elementwise nonlinearity y = f(x): :math:`m = \Delta y / \Delta x`.
    - **RevealCancel rule**: Δx is split into the sums of the positive and negative terms
      :math:`c_i = w_i \Delta a_i` of the linear layer feeding the nonlinearity,
      :math:`\Delta x^+ = \sum_i [c_i > 0] c_i`, :math:`\Delta x^- = \sum_i [c_i < 0] c_i`, and

      .. math:: \Delta y^+ = \tfrac12 (f(x' + \Delta x^+) - f(x'))
                           + \tfrac12 (f(x' + \Delta x^- + \Delta x^+) - f(x' + \Delta x^-)),

      :math:`\Delta y^-` the same with + and − exchanged, :math:`m^\pm = \Delta y^\pm / \Delta x^\pm`;
      the positive terms of the linear layer are carried back with :math:`m^+` and the negative
      ones with :math:`m^-` (terms with :math:`c_i = 0` with their mean, §3.5.1).

    Where :math:`|\Delta x|` is tiny (relative to the dtype's precision) the multiplier is the
    gradient at x. The attributions are :math:`m_{\Delta x_i \Delta t} \, (x_i - x'_i)` and add up to
    :math:`F(x) - F(x')` (summation-to-delta); ``delta`` reports what is left.

    Parameters
    ----------
    model : nn.Module
        Its activation modules (``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``, ``nn.SiLU``, ``nn.GELU``, …)
        get the rule; the raw output (a logit) is explained.
    inputs : (N, ...) float tensor
        Inputs in pixel space, on the model's device.
    target : None, int, list of int or tensor
        The output index to explain; None is the predicted class.
    baseline : str, number, tensor or callable
        The reference input x′ (see :mod:`attrwidgets.baselines`); "black" by default.
    rule : {"rescale", "reveal_cancel"}
        Multiplier rule at the nonlinearities.
    normalize_softmax : bool
        Explain :math:`z_t - \frac1K \sum_j z_j` instead of :math:`z_t`: the paper's softmax
        correction (§3.6), which removes the part of every contribution shared by all classes.
    preprocess : callable, optional
        Applied before the model (e.g. normalisation), inside the explained function.
    memory : int or str, optional
        Budget for this call beyond the model itself (default ``attrwidgets.config.memory``).

    Returns
    -------
    Attribution
        ``values`` (shape of the inputs), ``score`` F(x) and ``baseline_score`` F(x′) of the
        explained score (with ``normalize_softmax`` that is z_t − mean_j z_j), ``delta``.

    Notes
    -----
    Each input and its baseline run through the model in one forward (the batch ``cat([x, x′])``),
    so the model must treat batch rows independently (eval mode, which the call sets).

    Differences from Captum's ``DeepLift`` (its Rescale matches ours to rounding on ReLU networks):

    - RevealCancel, which Captum does not implement.
    - A reused activation module (one ``nn.ReLU`` called twice) works: every call gets its own
      multipliers, because they are attached to the call's output tensor rather than stored on
      the module (Captum raises or gives wrong values).
    - Max pooling: each window's Δy goes to the argmax of x when it grew and to the argmax of x′
      when it fell (the same routing as Captum's, so the two agree where Captum's hooks work); when
      a ReLU feeds the max pooling directly, Captum's result misses summation-to-delta (its
      convergence delta is of the order of the attributions), ours does not.
    - The threshold for a tiny Δx scales with the dtype (Captum's fixed 1e-10 is 0 in float16, which
      gives nan); multipliers are computed in float32 at least.

    RevealCancel needs the terms of the linear layer: they are taken from an ``nn.Linear`` or
    ``nn.Conv1d/2d/3d`` whose output is the nonlinearity's input, possibly through a BatchNorm in
    eval mode (folded into the weights). Where the input comes from anything else (a sum of
    branches, a pooling, a functional op) the split is Δx⁺ = max(Δx, 0), Δx⁻ = min(Δx, 0), which
    makes RevealCancel equal to Rescale at that nonlinearity. Functional activations
    (``F.relu``, ``torch.sigmoid`` inside ``forward``) and other nonlinear modules (softmax, layer
    norm) cannot be reached and pass their gradient: summation-to-delta then fails, and a warning
    names the gap.

    References
    ----------
    Shrikumar, Greenside & Kundaje, "Learning Important Features Through Propagating Activation
    Differences", ICML 2017, arXiv:1704.02685.

    Examples
    --------
    >>> attr = deeplift(model, images, baseline="black", rule="reveal_cancel")   # doctest: +SKIP
    >>> attr.values.shape, attr.delta                                           # doctest: +SKIP
    (torch.Size([1, 3, 224, 224]), tensor([1.2e-06]))
    """
    if rule not in RULES:
        msg = f"unknown rule {rule!r}: choose one of {RULES}"
        raise ValueError(msg)
    if not isinstance(normalize_softmax, bool):
        msg = f"normalize_softmax must be True or False, got {normalize_softmax!r}"
        raise TypeError(msg)
    if not isinstance(model, nn.Module):
        msg = (
            f"deeplift needs an nn.Module to find its activation modules, got {type(model).__name__}: "
            "wrap the callable in an nn.Module whose forward calls the model (its submodules are then found)"
        )
        raise TypeError(msg)
    explained = Explained(model, inputs, preprocess)
    x = explained.inputs
    base, described = resolve_baseline(baseline, x)
    memory_bytes = parse_memory(memory)
    n = len(x)
    resolved: list[torch.Tensor] = []

    def targets(output: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        if target is None:
            return resolve_target(None, output)
        if not resolved:  # validated once, for all inputs, after the first forward
            resolved.append(resolve_target(target, output[:1].expand(n, -1)))
        return resolved[0][start:stop]

    with ModelGuard(model, hooks=True) as guard:
        rules = _Rules(guard, model, rule)
        guard.store["deeplift"] = rules
        first = _pair_pass(explained, rules, x[:1], base[:1], lambda out: targets(out, 0, 1), normalize_softmax)
        parts = [first[:4]]
        budget = Budget(memory_bytes, x.device, first[4])
        # each input costs two points (x and x′ in one forward)
        chunked(
            n - 1,
            max(1, budget.chunk(2 * (n - 1)) // 2),
            lambda a, b: (
                _pair_pass(
                    explained, rules, x[1 + a : 1 + b], base[1 + a : 1 + b],
                    lambda out: targets(out, 1 + a, 1 + b), normalize_softmax,
                )[:4],
            ),
            lambda a, b, result: parts.append(result),
            device=x.device,
        )  # fmt: skip
        seen = rules.seen
    values, target_t, score, ref_score = (torch.cat(p) for p in zip(*parts, strict=True))
    total = values.flatten(1).sum(1, dtype=_compute_dtype(values.dtype))
    delta = total - (score - ref_score).to(total.dtype)
    params: dict[str, Any] = {
        "baseline": described,
        "rule": rule,
        "normalize_softmax": normalize_softmax,
        "memory": memory_bytes,
    }
    attribution = Attribution(
        values=values,
        target=target_t,
        method="deeplift",
        params=params,
        score=score,
        baseline_score=ref_score,
        delta=delta,
    )
    _warn_gap(attribution, seen)
    return attribution


def _pair_pass(
    explained: Explained,
    rules: _Rules,
    x: torch.Tensor,
    base: torch.Tensor,
    target_fn: Callable[[torch.Tensor], torch.Tensor],
    normalize: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """One forward of cat([x, x′]) and one backward: (values, target, F(x), F(x′), bytes per point)."""
    k = len(x)
    counter = _SavedBytes(explained.module)
    rules.begin(k)
    try:
        with grad_enabled():
            z = torch.cat([x, base]).detach().requires_grad_(True)
            with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
                output = explained.logits(z)
            if output.shape[0] != 2 * k:
                msg = f"the model returned {output.shape[0]} rows for {2 * k} inputs: one row per input is needed"
                raise ValueError(msg)
            target = target_fn(output[:k])
            if normalize:
                output = output - output.mean(dim=1, keepdim=True)
            both = output.gather(1, torch.cat([target, target]).view(-1, 1)).squeeze(1)
            score, ref_score = both[:k], both[k:]
            # Only the input rows are scored, so the multipliers reach the inputs through z[:k].
            grad = _grad(score, z)[:k]
    finally:
        rules.end()
    values = (grad * (x - base)).detach()
    per_point = point_bytes(counter, x, rows=k)  # a point is an input with its reference row
    return values, target, score.detach(), ref_score.detach(), per_point


def _warn_gap(attribution: Attribution, seen: int) -> None:
    gap = attribution.delta.abs()
    span = (attribution.score - attribution.baseline_score).abs().to(gap.dtype)
    # rounding: each value and both scores carry a relative error of about eps of their dtype
    size = attribution.values.abs().flatten(1).sum(1, dtype=gap.dtype)
    size = size + attribution.score.abs().to(gap.dtype) + attribution.baseline_score.abs().to(gap.dtype)
    allowed = WARN_GAP * span + 50 * torch.finfo(attribution.values.dtype).eps * size + 1e-9
    if not bool((gap > allowed).any()):
        return
    worst = float((gap / span.clamp_min(1e-12)).max())
    cause = (
        "no activation module (nn.ReLU, nn.Sigmoid, ...) was called, so functional activations "
        "(F.relu, torch.sigmoid inside forward) passed their gradient"
        if seen == 0
        else "some nonlinearity is not an activation module the rules reach (a functional F.relu, "
        "softmax, layer norm, ...) and passed its gradient"
    )
    warnings.warn(
        f"deeplift: the attributions miss F(x) - F(x') by up to {float(gap.max()):.3g} ({worst:.1%}): {cause}. "
        "Use nn.Module activations, or integrated_gradients",
        stacklevel=3,
    )


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other dtype computes multipliers in float32 (float16 eps underflows)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


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
    dtype = _compute_dtype(torch.promote_types(dx.dtype, dy.dtype))
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


class _LinearTerms:
    """A linear map without bias, W·a (Linear or Conv, optionally followed by an eval BatchNorm)."""

    def __init__(self, module: nn.Module, src: torch.Tensor, scale: torch.Tensor | None = None) -> None:
        self.module = module
        self.src = src  # the layer's input: RevealCancel's backward goes straight to it
        self.scale = scale

    def composed(self, norm: nn.Module) -> _LinearTerms:
        scale = torch.rsqrt(norm.running_var.detach() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach()
        if self.scale is not None:
            scale = scale * self.scale
        return _LinearTerms(self.module, self.src, scale)

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        w = self.module.weight.detach().to(dtype)
        if self.scale is not None:
            w = w * self.scale.to(dtype).view((-1,) + (1,) * (w.dim() - 1))
        return w

    def apply(self, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if isinstance(self.module, nn.Linear):
            return F.linear(a, w)
        return self.module._conv_forward(a, w, None)

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
        self.terms: dict[int, tuple[torch.Tensor, _LinearTerms]] = {}
        for module in model.modules():
            if isinstance(module, ELEMENTWISE) or type(module) in MAXPOOLS:
                guard.forward_pre_hook(module, self.before)
                guard.forward_hook(module, self.after)
            elif rule == "reveal_cancel" and isinstance(module, LINEAR):
                guard.forward_hook(module, self.record_linear)
            elif rule == "reveal_cancel" and isinstance(module, NORMS):
                guard.forward_hook(module, self.record_norm)

    def begin(self, rows: int) -> None:
        self.rows, self.pending, self.terms = rows, {}, {}

    def end(self) -> None:
        self.pending, self.terms = {}, {}

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
    def record_linear(self, module: nn.Module, args: tuple, out: object) -> None:
        if args and self._check(module, args[0]) and isinstance(out, torch.Tensor):
            self.terms[id(out)] = (out, _LinearTerms(module, args[0]))

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
        dtype = _compute_dtype(src.dtype)
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
        dtype = _compute_dtype(src.dtype)
        y_x, y_ref = y[:k].to(dtype), y[k:].to(dtype)
        top = torch.maximum(y_x, y_ref)
        x, x_ref = src[:k].to(dtype), src[k:].to(dtype)
        tiny = _tiny(x - x_ref, x, x_ref, src.dtype)
        return _MaxPool(x - x_ref, top - y_ref, y_x - top, idx[:k], idx[k:], tiny)
