"""DeepLIFT: contributions of differences from a reference, with the Rescale and RevealCancel rules.

The rules themselves (the hooks and the backward passes they install) are in
:mod:`attrwidgets.methods.deeplift_rules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from attrwidgets._warn import warn
from attrwidgets.attribution import Attribution
from attrwidgets.baselines import resolve_baseline
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import Chunk, Points, Targets, accumulator_dtype, evaluate, input_gradient
from attrwidgets.methods.deeplift_rules import DEEPLIFT_RULES, _Rules, rescale_multiplier
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["DEEPLIFT_RULES", "deeplift", "rescale_multiplier"]

#: A summation-to-delta gap above this fraction of |F(x) − F(x′)| (plus rounding) gets a warning naming the cause.
SUMMATION_GAP_WARN = 1e-3


@register(
    controls=(
        Control("baseline", "baseline", "black", doc="the reference input x′; see attrwidgets.baselines"),
        Control("rule", "choice", "rescale", choices=DEEPLIFT_RULES, doc="multiplier rule at nonlinearities"),
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
@shared_docs
def deeplift(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    baseline: object = "black",
    rule: str = "rescale",
    normalize_softmax: bool = False,
    forward_kwargs: dict[str, Any] | None = None,
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
    {forward_kwargs}
    {memory}

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
    eval mode (folded into the weights). The terms are those of the one ``F.linear`` /
    ``F.conv*d`` call that applies the module's weight in its ``forward``, on the tensor that call
    receives, so padding done inside ``forward`` ("same" padding of TensorFlow ports) is part of
    them; a forward that returns anything but that call's output counts as "anything else".
    Where the input comes from anything else (a sum of
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
    if rule not in DEEPLIFT_RULES:
        msg = f"unknown rule {rule!r}: choose one of {DEEPLIFT_RULES}"
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
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    x = explained.inputs
    base, described = resolve_baseline(baseline, x)
    memory_bytes = parse_memory(memory)
    n = len(x)
    targets = Targets(target, n)
    parts: list[tuple[torch.Tensor, ...]] = []

    def normalised(output: torch.Tensor) -> torch.Tensor:
        return output - output.mean(dim=1, keepdim=True) if normalize_softmax else output

    def build(start: int, stop: int) -> Points:
        """Each input with its reference, cat([x, x′]) in one forward: a point is two rows."""
        k = stop - start
        rules.begin(k)
        z = torch.cat([x[start:stop], base[start:stop]])

        def score(output: torch.Tensor, target_rows: torch.Tensor) -> torch.Tensor:
            if output.shape[0] != 2 * k:
                msg = f"the model returned {output.shape[0]} rows for {2 * k} inputs: one row per input is needed"
                raise ValueError(msg)
            # only the input rows are scored, so the multipliers reach the inputs through z[:k]
            return normalised(output[:k]).gather(1, target_rows.view(-1, 1)).squeeze(1)

        rows = torch.arange(start, stop, device=x.device).repeat(2)  # each input's reference gets its arguments
        return Points(z, targets.rows(start, stop, take=k), context=k, score=score, rows=rows)

    def multipliers(score: torch.Tensor, z: torch.Tensor, k: int) -> torch.Tensor:
        try:
            return input_gradient(score, z)[:k]
        finally:
            rules.end()

    def consume(chunk: Chunk) -> None:
        rows = slice(chunk.start, chunk.stop)
        k = chunk.context
        ref_score = normalised(chunk.output[k:]).gather(1, chunk.target.view(-1, 1)).squeeze(1)
        values = chunk.grad * (x[rows] - base[rows])
        parts.append((values, chunk.target, chunk.score, ref_score))

    with ModelGuard(model, hooks=True) as guard:
        rules = _Rules(guard, model, rule)
        guard.store["deeplift"] = rules
        evaluate(explained, n, build, consume, grad=multipliers, memory=memory_bytes)
        seen = rules.seen
    values, target_t, score, ref_score = (torch.cat(p) for p in zip(*parts, strict=True))
    total = values.flatten(1).sum(1, dtype=accumulator_dtype(values.dtype))
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


def _warn_gap(attribution: Attribution, seen: int) -> None:
    gap = attribution.delta.abs()
    span = (attribution.score - attribution.baseline_score).abs().to(gap.dtype)
    # rounding: each value and both scores carry a relative error of about eps of their dtype
    size = attribution.values.abs().flatten(1).sum(1, dtype=gap.dtype)
    size = size + attribution.score.abs().to(gap.dtype) + attribution.baseline_score.abs().to(gap.dtype)
    allowed = SUMMATION_GAP_WARN * span + 50 * torch.finfo(attribution.values.dtype).eps * size + 1e-9
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
    warn(
        f"deeplift: the attributions miss F(x) - F(x') by up to {float(gap.max()):.3g} ({worst:.1%}): {cause}. "
        "Use nn.Module activations, or integrated_gradients"
    )
