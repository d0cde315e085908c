"""Integrated Gradients along the straight path from a baseline, with its trace."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch

from attrwidgets.attribution import Attribution, Trace, reduce_channels
from attrwidgets.baselines import resolve_baseline
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._engine import Budget, first_pass, run_chunks
from attrwidgets.methods.quadrature import RULES, AdaptiveMesh, rule_points
from attrwidgets.model import Explained, grad_enabled, resolve_target
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["integrated_gradients"]

#: A fixed rule whose relative completeness gap exceeds this gets a warning naming the gap.
WARN_GAP = 0.05


@register(
    controls=(
        Control("baseline", "baseline", "black", doc="what absence of signal means; see attrwidgets.baselines"),
        Control("steps", "steps", "auto", 1, 1024, doc="points on the path per input, or 'auto'"),
        Control("rule", "choice", "gausslegendre", choices=RULES, doc="quadrature rule for an int steps"),
        Control("tolerance", "float", 0.01, 1e-4, 0.5, doc="relative completeness gap for steps='auto'"),
        Control("max_steps", "int", 512, 17, 4096, doc="points per input at most for steps='auto'"),
    ),
    paper="Sundararajan, Taly & Yan, Axiomatic Attribution for Deep Networks, ICML 2017 (arXiv:1703.01365)",
    axioms=("completeness", "sensitivity", "implementation_invariance", "linearity", "symmetry", "dummy"),
    produces=("score", "delta", "trace"),
    needs=("baseline",),
)
def integrated_gradients(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    baseline: object = "black",
    steps: int | str = "auto",
    rule: str = "gausslegendre",
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
    model : nn.Module or callable
        Maps (preprocessed) inputs to (N, classes) scores; the raw output (a logit) is explained.
    inputs : (N, ...) float tensor
        Inputs in pixel space, on the model's device.
    target : None, int, list of int or tensor
        The output index to explain; None is the predicted class.
    baseline : str, number, tensor or callable
        See :mod:`attrwidgets.baselines`: "black" (default), "white", "uniform", "gaussian",
        "blur", "max_distance", a factory such as ``blur(sigma=5)``, a tensor or a callable.
    steps : int or "auto"
        Points per input on the path. ``"auto"`` (the default) bisects an adaptive Simpson mesh where each
        panel's own completeness check fails until the relative gap is below ``tolerance``,
        spending at most ``max_steps`` points per input (a warning says when that was not enough).
    rule : str
        Fixed rule for an int ``steps``: "gausslegendre" (default), "riemann_left",
        "riemann_right", "riemann_middle", "riemann_trapezoid" (weights that sum to 1; Captum's
        sum to 1 − 1/n).
    preprocess : callable, optional
        Applied to every point before the model (e.g. normalisation), inside the differentiated function.
    memory : int or str, optional
        Budget for this call beyond the model itself (default ``attrwidgets.config.memory``, 1 GiB).
    trace : bool
        Keep per-point maps (gradient and accumulated attribution, channel sums, float16).
        The curves (scores, gradient magnitude, path derivative) are always kept.
    tolerance, max_steps :
        Relative completeness gap and point cap for ``steps="auto"``.
    progress : callable, optional
        ``progress(done, total)`` after every chunk; raise from it to cancel.

    Returns
    -------
    Attribution
        ``values`` (shape of the inputs), ``score`` F(x), ``baseline_score`` F(x′), ``delta``,
        ``trace`` (α, weights, scores, gradient magnitude, path derivative, maps, evaluations).

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017, arXiv:1703.01365.

    Examples
    --------
    >>> attr = integrated_gradients(model, images, baseline="black", steps=50)   # doctest: +SKIP
    >>> attr.values.shape, attr.relative_delta                                    # doctest: +SKIP
    (torch.Size([1, 3, 224, 224]), tensor([0.004]))
    """
    explained = Explained(model, inputs, preprocess)
    x = explained.inputs
    adaptive = _check_steps(steps, rule, tolerance, max_steps)
    base, described = resolve_baseline(baseline, x)
    memory_bytes = parse_memory(memory)
    with ModelGuard(explained.module):
        at_input: dict[str, torch.Tensor] = {}

        def resolve(output: torch.Tensor) -> torch.Tensor:
            at_input["predicted"] = output.detach().argmax(dim=1)
            return resolve_target(target, output)

        target_t, score, grad_x, per_point = first_pass(explained, x, resolve)
        path = _Path(explained, x, base, target_t, memory_bytes, per_point, trace=trace, progress=progress)
        path.record_first(score, grad_x, at_input["predicted"])
        if adaptive:
            weights, reached = path.adaptive(tolerance, max_steps)
        else:
            alphas, w = rule_points(rule, steps)
            weights = path.fixed(alphas.tolist(), w.tolist(), grad_x)
            reached = True
        result = path.finish(weights, score)
    params: dict[str, Any] = {
        "baseline": described,
        "steps": steps,
        "rule": "adaptive_simpson" if adaptive else rule,
        "memory": memory_bytes,
    }
    if adaptive:
        # max_steps as used: the memory budget can lower it (every point's gradient is kept until
        # the mesh is final, to be weighted then)
        params |= {"tolerance": tolerance, "max_steps": path.cap, "converged": reached}
    attribution = Attribution(method="integrated_gradients", target=target_t, params=params, **result)
    _warn_gap(attribution, adaptive=adaptive, reached=reached, tolerance=tolerance)
    return attribution


def _check_steps(steps: object, rule: str, tolerance: float, max_steps: int) -> bool:
    if steps == "auto":
        if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
            msg = f"tolerance must be a fraction in (0, 1), e.g. 0.01 for 1 %, got {tolerance!r}"
            raise ValueError(msg)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 17:
            msg = f"max_steps must be an int >= 17 (the first mesh has 17 points), got {max_steps!r}"
            raise ValueError(msg)
        return True
    if isinstance(steps, str):
        msg = f"steps must be a positive int or 'auto', got {steps!r}"
        raise ValueError(msg)
    if rule not in RULES:
        msg = f"unknown rule {rule!r}: choose one of {RULES}"
        raise ValueError(msg)
    rule_points(rule, steps)  # validates steps for the rule
    return False


def _warn_gap(attribution: Attribution, *, adaptive: bool, reached: bool, tolerance: float) -> None:
    relative = attribution.relative_delta
    worst = float(relative.max()) if relative is not None and relative.numel() else 0.0
    if adaptive and not reached:
        warnings.warn(
            f"steps='auto' stopped at max_steps={attribution.params['max_steps']} points per input with a "
            f"relative completeness gap of {worst:.2%} (tolerance {tolerance:.2%}); raise max_steps, or memory= "
            "(the budget limits how many points' gradients can be kept)",
            stacklevel=3,
        )
    elif not adaptive and worst > WARN_GAP:
        warnings.warn(
            f"integrated_gradients: relative completeness gap {worst:.1%} with steps="
            f"{attribution.params['steps']} ({attribution.params['rule']}); the attributions do not add up "
            "to F(x) - F(x'). Raise steps, or use steps='auto'",
            stacklevel=3,
        )


class _Path:
    """Points on the straight paths x′_i + α (x_i − x′_i), evaluated in chunks; what they give is kept."""

    def __init__(
        self,
        explained: Explained,
        x: torch.Tensor,
        base: torch.Tensor,
        target: torch.Tensor,
        memory: int,
        per_point: int,
        *,
        trace: bool,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.explained, self.x, self.base, self.target = explained, x, base, target
        self.diff = x - base
        self.acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        self.acc = torch.zeros(x.shape, dtype=self.acc_dtype, device=x.device)
        self.memory, self.per_point = memory, per_point
        self.keep_maps = trace
        self.progress = progress
        self.done = len(x)
        self.total = len(x)
        # per input: alpha -> (score, path derivative, mean |grad|, grad map, grad·diff map)
        self.points: list[dict[float, tuple]] = [{} for _ in range(len(x))]
        self.grads: dict[tuple[int, float], torch.Tensor] | None = None
        self.evaluations = len(x)

    # -- bookkeeping -----------------------------------------------------------------------
    def _map_bytes(self) -> int:
        return 2 * 2 * int(reduce_channels(self.x[:1]).numel())

    def _plan_maps(self, points: int) -> None:
        if self.keep_maps and points * self._map_bytes() > self.memory // 2:
            warnings.warn(
                f"trace maps for {points} points would exceed half the memory budget "
                f"({self.memory / 2**20:.0f} MiB): only the curves are kept. Pass trace=False to silence "
                "this, fewer steps, or a larger memory=",
                stacklevel=4,
            )
            self.keep_maps = False

    def _store(
        self, index: torch.Tensor, alpha: list[float], score: torch.Tensor, grad: torch.Tensor, predicted: torch.Tensor
    ) -> None:
        diff = self.diff[index]
        gx = grad * diff
        derivative = gx.flatten(1).sum(1)
        magnitude = grad.abs().flatten(1).mean(1)
        if self.keep_maps:
            grad_map = reduce_channels(grad).to(torch.float16)
            gx_map = reduce_channels(gx).to(torch.float32)
        for j, (i, a) in enumerate(zip(index.tolist(), alpha, strict=True)):
            maps = (grad_map[j], gx_map[j]) if self.keep_maps else (None, None)
            self.points[i][a] = (score[j], derivative[j], magnitude[j], *maps, predicted[j])
            if self.grads is not None:
                self.grads[(i, a)] = grad[j].to(self.acc_dtype)

    def record_first(self, score: torch.Tensor, grad: torch.Tensor, predicted: torch.Tensor) -> None:
        """The first pass evaluated every input at α = 1."""
        index = torch.arange(len(self.x), device=self.x.device)
        self._plan_maps(1)
        self.first_grad = grad
        self._store(index, [1.0] * len(self.x), score, grad, predicted)

    def evaluate(self, index: list[int], alpha: list[float], weight: list[float] | None) -> None:
        """Evaluate the points (input index, α); with weights, accumulate Σ w ∇F on the way."""
        if not index:
            return
        device, dtype = self.x.device, self.x.dtype
        index_t = torch.tensor(index, device=device)
        alpha_t = torch.tensor(alpha, device=device, dtype=dtype)
        weight_t = None if weight is None else torch.tensor(weight, device=device, dtype=self.acc_dtype)
        shape = (-1,) + (1,) * (self.x.dim() - 1)

        def build(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
            i = index_t[start:stop]
            return self.base[i] + alpha_t[start:stop].view(shape) * self.diff[i], self.target[i]

        def consume(start: int, stop: int, score: torch.Tensor, grad: torch.Tensor, predicted: torch.Tensor) -> None:
            i = index_t[start:stop]
            if weight_t is not None:
                # index_put_ with accumulate: index_add_ is slow under thread contention on small CPUs
                self.acc.index_put_((i,), grad.to(self.acc_dtype) * weight_t[start:stop].view(shape), accumulate=True)
            self._store(i, alpha[start:stop], score, grad, predicted)

        fixed = self.acc.numel() * self.acc.element_size() + self._stored_bytes()
        budget = Budget(self.memory, device, self.per_point, fixed)
        base_done = self.done

        def report(done: int) -> None:
            self.done = base_done + done
            if self.progress is not None:
                self.progress(self.done, max(self.total, self.done))

        self.total = max(self.total, self.done + len(index))
        run_chunks(
            self.explained, len(index), build, consume, chunk=budget.chunk(len(index)), progress=report, predicted=True
        )
        self.evaluations += len(index)

    def _stored_bytes(self) -> int:
        maps = sum(len(p) for p in self.points) * self._map_bytes() if self.keep_maps else 0
        grads = 0 if self.grads is None else len(self.grads) * self.x[0].numel() * self.acc.element_size()
        return maps + grads

    # -- rules -----------------------------------------------------------------------------
    def fixed(self, alphas: list[float], weights: list[float], grad_x: torch.Tensor) -> list[dict[float, float]]:
        """A fixed rule for every input; α = 1, evaluated in the first pass, is not evaluated again."""
        n = len(self.x)
        self._plan_maps(len(alphas) + 1)
        todo = [(i, a, w) for i in range(n) for a, w in zip(alphas, weights, strict=True) if a != 1.0]
        self.total = n + len(todo)
        self.evaluate([t[0] for t in todo], [t[1] for t in todo], [t[2] for t in todo])
        if 1.0 in alphas:
            w_one = weights[alphas.index(1.0)]
            self.acc += w_one * grad_x.to(self.acc_dtype)
        return [dict(zip(alphas, weights, strict=True)) for _ in range(n)]

    def adaptive(self, tolerance: float, max_steps: int) -> tuple[list[dict[float, float]], bool]:
        """Adaptive Simpson per input until the relative completeness gap is below ``tolerance``."""
        n = len(self.x)
        point_bytes = self.x[0].numel() * self.acc.element_size() + (self._map_bytes() if self.keep_maps else 0)
        affordable = max(17, (self.memory // 2) // max(1, n * point_bytes))
        cap = self.cap = min(max_steps, affordable)
        self._plan_maps(cap)
        self.grads = {(i, 1.0): self.first_grad[i].to(self.acc_dtype) for i in range(n)}
        meshes = [AdaptiveMesh() for _ in range(n)]
        active = list(range(n))
        reached = True
        while active:
            todo = [(i, p) for i in active for p in meshes[i].missing() if p != meshes[i].scale]
            self.total = self.done + len(todo)
            self.evaluate([i for i, _ in todo], [p / meshes[i].scale for i, p in todo], None)
            still = []
            for i in active:
                mesh = meshes[i]
                for p in mesh.nodes():
                    score, derivative, *_ = self.points[i][p / mesh.scale]
                    mesh.record(p, float(score), float(derivative))
                gap, span = mesh.gap()
                if abs(gap) <= tolerance * max(abs(span), 1e-12):
                    continue
                room = cap - len(mesh.nodes())
                if room < 2 or not mesh.refine(room):
                    reached = False
                    continue
                still.append(i)
            active = still
        weights = []
        for i, mesh in enumerate(meshes):
            w = {p / mesh.scale: v for p, v in mesh.weights().items()}
            weights.append(w)
            for a, v in w.items():
                self.acc[i] += v * self.grads[(i, a)]
        return weights, reached

    # -- result ----------------------------------------------------------------------------
    def finish(self, weights: list[dict[float, float]], score: torch.Tensor) -> dict[str, Any]:
        """values, scores, delta and the trace, from the points and their final weights."""
        values = (self.acc * self.diff.to(self.acc_dtype)).to(self.x.dtype)
        if all(0.0 in p for p in self.points):
            baseline_score = torch.stack([p[0.0][0] for p in self.points])
        else:
            with grad_enabled(), torch.no_grad():
                baseline_score = self.explained.scores(self.base, self.target)
        delta = values.flatten(1).sum(1).to(self.acc_dtype) - (score - baseline_score).to(self.acc_dtype)
        return {
            "values": values,
            "score": score,
            "baseline_score": baseline_score.detach(),
            "delta": delta,
            "trace": self._trace(weights),
        }

    def _trace(self, weights: list[dict[float, float]]) -> Trace:
        rows = []
        for i, points in enumerate(self.points):
            alphas = sorted(points)
            rows.append((alphas, [weights[i].get(a, 0.0) for a in alphas]))
        width = max(len(a) for a, _ in rows)
        device = self.x.device
        fields: dict[str, list] = {
            k: [] for k in ("alphas", "weights", "scores", "grad", "deriv", "gmap", "cmap", "predicted")
        }
        for i, (alphas, w) in enumerate(rows):
            pad = width - len(alphas)  # pad with copies of the α = 1 point at weight 0
            alphas, w = alphas + [alphas[-1]] * pad, w + [0.0] * pad
            recs = [self.points[i][a] for a in alphas]
            fields["alphas"].append(torch.tensor(alphas, dtype=self.acc_dtype, device=device))
            w_t = torch.tensor(w, dtype=self.acc_dtype, device=device)
            fields["weights"].append(w_t)
            fields["scores"].append(torch.stack([r[0] for r in recs]))
            fields["deriv"].append(torch.stack([r[1] for r in recs]))
            fields["grad"].append(torch.stack([r[2] for r in recs]))
            fields["predicted"].append(torch.stack([r[5] for r in recs]))
            if self.keep_maps:
                fields["gmap"].append(torch.stack([r[3] for r in recs]))
                contrib = torch.stack([r[4] for r in recs]).to(self.acc_dtype)
                contrib = contrib * w_t.view((-1,) + (1,) * (contrib.dim() - 1))
                fields["cmap"].append(torch.cumsum(contrib, dim=0).to(torch.float16))
        stack = {k: torch.stack(v).detach() if v else None for k, v in fields.items()}
        return Trace(
            alphas=stack["alphas"],
            weights=stack["weights"],
            scores=stack["scores"],
            grad_mean_abs=stack["grad"],
            path_derivative=stack["deriv"].to(self.acc_dtype),
            grad_maps=stack["gmap"],
            cumulative_maps=stack["cmap"],
            predicted=stack["predicted"],
            evaluations=self.evaluations,
        )
