"""Integrated Gradients along the straight path from a baseline, with its trace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from attrwidgets._warn import warn
from attrwidgets.attribution import Attribution
from attrwidgets.baselines import resolve_baseline
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import Targets, check_progress, first_pass, known_cost, remember_cost
from attrwidgets.methods.gradients import LAYER
from attrwidgets.methods.layer import ZERO, check_layer_baseline, layer_baseline, layer_outputs
from attrwidgets.methods.path_state import Path
from attrwidgets.methods.quadrature import QUADRATURE_RULES, rule_points
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["integrated_gradients"]

#: A fixed rule whose relative completeness gap exceeds this gets a warning naming the gap.
WARN_GAP = 0.05
#: Points per input at most for an int ``steps`` (and ``max_steps``): beyond it a call would run
#: for hours and its trace not fit in memory; Gauss-Legendre nodes cost O(n³) to compute.
STEPS_LIMIT = 4096


@register(
    controls=(
        Control("baseline", "baseline", "black", doc="what absence of signal means; see attrwidgets.baselines"),
        Control("steps", "steps", "auto", 1, 1024, doc="points on the path per input, or 'auto'"),
        Control("rule", "choice", "gausslegendre", choices=QUADRATURE_RULES, doc="quadrature rule for an int steps",
                when=("steps", "!auto")),
        Control("tolerance", "float", 0.01, 1e-4, 0.5, doc="relative completeness gap for steps='auto'",
                when=("steps", "auto")),
        Control("max_steps", "int", 512, 9, 4096, doc="points per input at most for steps='auto'",
                when=("steps", "auto")),
        LAYER,
    ),
    paper="Sundararajan, Taly & Yan, Axiomatic Attribution for Deep Networks, ICML 2017 (arXiv:1703.01365)",
    axioms=("completeness", "sensitivity", "implementation_invariance", "linearity", "symmetry", "dummy"),
    produces=("score", "delta", "trace"),
    needs=("baseline",),
)
@shared_docs
def integrated_gradients(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    baseline: object = "black",
    steps: int | str = "auto",
    rule: str = "gausslegendre",
    layer: torch.nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    trace: bool = True,
    tolerance: float = 0.01,
    max_steps: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> Attribution:
    r"""Integrated Gradients: the path integral of the gradient from a baseline to the input.

    .. math:: \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1
              \frac{\partial F(x' + \alpha (x - x'))}{\partial x_i} \, d\alpha

    approximated by :math:`(x_i - x'_i) \sum_k w_k \, \partial_i F(x' + \alpha_k (x - x'))`.
    Completeness makes the attributions add up to :math:`F(x) - F(x')`; ``delta`` reports the gap.

    Parameters
    ----------
    {model_inputs_target}
    baseline : str, number, tensor or callable
        See :mod:`attrwidgets.baselines`: "black" (default), "white", "uniform", "gaussian",
        "blur", "max_distance", a factory such as ``blur(sigma=5)``, a tensor or a callable.
    steps : int or "auto"
        Points per input on the path. ``"auto"`` (the default) bisects an adaptive trapezoid mesh where each
        panel's own completeness check fails until the relative gap is below ``tolerance``,
        spending at most ``max_steps`` points per input (a warning says when that was not enough).
    rule : str
        Fixed rule for an int ``steps``: "gausslegendre" (default), "riemann_left",
        "riemann_right", "riemann_middle", "riemann_trapezoid" (weights that sum to 1; Captum's
        sum to 1 − 1/n).
    {layer}
    {forward_kwargs}
    preprocess : callable, optional
        Applied to every point before the model (e.g. normalisation), inside the differentiated function.
    {memory}
    trace : bool
        Keep per-point maps (gradient and accumulated attribution, channel sums, float16).
        The curves (scores, gradient magnitude, path derivative) are always kept.
    tolerance, max_steps :
        Relative completeness gap and point cap for ``steps="auto"``.
    {progress}

    Returns
    -------
    Attribution
        ``values`` (shape of the inputs, or of the layer's output with ``layer``), ``score`` F(x),
        ``baseline_score`` F(x′), ``delta``, ``trace`` (α, weights, scores, gradient magnitude,
        path derivative, maps, evaluations).

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017, arXiv:1703.01365.

    Notes
    -----
    At a layer the path runs between the layer's outputs at the baseline and at the input, as in
    Captum's ``LayerIntegratedGradients``; the points are evaluated with the layer's output
    replaced (a forward hook), so completeness holds at the layer: Σ values = F(x) − F(x′).
    Captum's ``riemann_trapezoid`` weights sum to 1 − 1/n, ours to 1 (see the rule above).

    Examples
    --------
    >>> attr = integrated_gradients(model, images, baseline="black", steps=50)   # doctest: +SKIP
    >>> attr.values.shape, attr.relative_delta                                    # doctest: +SKIP
    (torch.Size([1, 3, 224, 224]), tensor([0.004]))
    >>> attr = integrated_gradients(model, ids, target=1, layer=model.embedding, baseline="zero",
    ...                             forward_kwargs={"attention_mask": mask})      # doctest: +SKIP
    >>> attr.values.shape, attr.token_scores.shape                                # doctest: +SKIP
    (torch.Size([1, 12, 32]), torch.Size([1, 12]))
    """
    explained = Explained(model, inputs, preprocess, layer=layer, forward_kwargs=forward_kwargs)
    nodes = check_steps(steps, rule, tolerance, max_steps)  # the fixed rule's nodes, computed once
    adaptive = nodes is None
    progress = check_progress(progress)
    if isinstance(baseline, str) and baseline == ZERO and layer is None:
        baseline = 0.0
    if layer is None:
        base, described = resolve_baseline(baseline, explained.inputs)
    else:
        check_layer_baseline(baseline, explained)
    memory_bytes = parse_memory(memory)
    # Points that are not images (token ids at their embeddings, feature vectors) are small: the
    # whole path is about one chunk, so α = 1 and α = 0 ride in it for two points' cost, and the
    # pass at the input is a forward only (it gives F(x), the target and, at a layer, the layer's
    # output). Images keep the backward at the input and F(x′) apart (for a 224² photo, in chunks
    # of ten, two more points cost about what those two passes do).
    # With the target given and the cost of a point known from an earlier call of the same kind
    # (same model, layer and shapes), even that forward is skipped: the path's point at α = 1 gives
    # F(x) and checks the target, and at a layer the layer's output at the inputs comes from a
    # forward that stops at the layer.
    ends = explained.inputs.dim() < 4
    with ModelGuard(explained.module):
        known = known_cost(explained) if ends and target is not None else None
        if known is None:
            at_x = first_pass(explained, explained.inputs, target, memory=memory_bytes, backward=not ends)
            target_t, score, grad, predicted = at_x.target, at_x.score, at_x.grad, at_x.predicted
            x, per_point = at_x.z, at_x.per_point  # the inputs, or the layer's output at them
            if ends:
                remember_cost(explained, per_point)
        else:
            target_t, per_point = Targets(target, len(explained.inputs)), known
            score = grad = predicted = None
            x = explained.inputs if layer is None else layer_outputs(explained, explained.inputs, memory_bytes, known)
        if layer is not None:
            base, described = layer_baseline(explained, baseline, x, memory_bytes, per_point)
        path = Path(explained, x, base, target_t, memory_bytes, per_point, trace=trace, progress=progress)
        path.record_first(score, grad, predicted)
        if adaptive:
            weights, reached = path.adaptive(tolerance, max_steps)
        else:
            alphas, w = nodes
            weights = path.fixed(alphas.tolist(), w.tolist())
            reached = True
        result = path.finish(weights, score)
        target_t = path.target_tensor()
    params: dict[str, Any] = {
        "baseline": described,
        "steps": steps,
        "rule": "adaptive_trapezoid" if adaptive else rule,
        "memory": memory_bytes,
    }
    if layer is not None:
        params["layer"] = explained.layer_name
    if adaptive:
        # max_steps as used: the memory budget can lower it (every point's gradient is kept until
        # the mesh is final, to be weighted then)
        params |= {"tolerance": tolerance, "max_steps": path.cap, "converged": reached}
    attribution = Attribution(method="integrated_gradients", target=target_t, params=params, **result)
    _warn_gap(attribution, adaptive=adaptive, reached=reached, tolerance=tolerance)
    return attribution


def check_steps(steps: object, rule: str, tolerance: float, max_steps: int):
    """None for ``steps="auto"`` (after checking its options), else the fixed rule's (points, weights)."""
    if isinstance(steps, str) and steps == "auto":
        if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
            msg = f"tolerance must be a fraction in (0, 1), e.g. 0.01 for 1 %, got {tolerance!r}"
            raise ValueError(msg)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or not 9 <= max_steps <= STEPS_LIMIT:
            msg = (
                f"max_steps must be an int from 9 (the first mesh has 9 points) to {STEPS_LIMIT}, "
                f"got {max_steps!r}"
            )
            raise ValueError(msg)
        return None
    if isinstance(steps, str):
        msg = f"steps must be a positive int or 'auto', got {steps!r}"
        raise ValueError(msg)
    if rule not in QUADRATURE_RULES:
        msg = f"unknown rule {rule!r}: choose one of {QUADRATURE_RULES}"
        raise ValueError(msg)
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > STEPS_LIMIT:
        msg = (
            f"steps={steps} is more than the limit of {STEPS_LIMIT} points per input: the integral converges "
            f"long before (Gauss-Legendre is exact for polynomials of degree < 2 * steps); use fewer steps, "
            "or steps='auto', which stops once the completeness gap is below tolerance"
        )
        raise ValueError(msg)
    return rule_points(rule, steps)  # validates steps for the rule


def _warn_gap(attribution: Attribution, *, adaptive: bool, reached: bool, tolerance: float) -> None:
    relative = attribution.relative_delta
    worst = float(relative.max()) if relative is not None and relative.numel() else 0.0
    if adaptive and not reached:
        warn(
            f"steps='auto' stopped at max_steps={attribution.params['max_steps']} points per input with a "
            f"relative completeness gap of {100 * worst:.3g} % (tolerance {100 * tolerance:.3g} %); "
            "raise max_steps, or memory= "
            "(the budget limits how many points' gradients can be kept)"
        )
    elif not adaptive and worst > WARN_GAP:
        warn(
            f"integrated_gradients: relative completeness gap {worst:.1%} with steps="
            f"{attribution.params['steps']} ({attribution.params['rule']}); the attributions do not add up "
            "to F(x) - F(x'). Raise steps, or use steps='auto'"
        )
