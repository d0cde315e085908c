"""Integrated Gradients along the straight path from a baseline, with its trace."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from attrwidgets._warn import warn
from attrwidgets.attribution import Attribution, Trace, reduce_channels
from attrwidgets.baselines import resolve_baseline
from attrwidgets.config import parse_memory
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._engine import Chunk, Points, accumulator_dtype, check_progress, evaluate, first_pass
from attrwidgets.methods.quadrature import QUADRATURE_RULES, AdaptiveMesh, rule_points
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
        Control("rule", "choice", "gausslegendre", choices=QUADRATURE_RULES, doc="quadrature rule for an int steps"),
        Control("tolerance", "float", 0.01, 1e-4, 0.5, doc="relative completeness gap for steps='auto'"),
        Control("max_steps", "int", 512, 9, 4096, doc="points per input at most for steps='auto'"),
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
        Points per input on the path. ``"auto"`` (the default) bisects an adaptive trapezoid mesh where each
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
    nodes = _check_steps(steps, rule, tolerance, max_steps)  # the fixed rule's nodes, computed once
    adaptive = nodes is None
    progress = check_progress(progress)
    base, described = resolve_baseline(baseline, x)
    memory_bytes = parse_memory(memory)
    with ModelGuard(explained.module):
        at_x = first_pass(explained, x, target, memory=memory_bytes)
        target_t, score = at_x.target, at_x.score
        path = _Path(explained, x, base, target_t, memory_bytes, at_x.per_point, trace=trace, progress=progress)
        path.record_first(score, at_x.grad, at_x.predicted)
        if adaptive:
            weights, reached = path.adaptive(tolerance, max_steps)
        else:
            alphas, w = nodes
            weights = path.fixed(alphas.tolist(), w.tolist())
            reached = True
        result = path.finish(weights, score)
    params: dict[str, Any] = {
        "baseline": described,
        "steps": steps,
        "rule": "adaptive_trapezoid" if adaptive else rule,
        "memory": memory_bytes,
    }
    if adaptive:
        # max_steps as used: the memory budget can lower it (every point's gradient is kept until
        # the mesh is final, to be weighted then)
        params |= {"tolerance": tolerance, "max_steps": path.cap, "converged": reached}
    attribution = Attribution(method="integrated_gradients", target=target_t, params=params, **result)
    _warn_gap(attribution, adaptive=adaptive, reached=reached, tolerance=tolerance)
    return attribution


def _check_steps(steps: object, rule: str, tolerance: float, max_steps: int):
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


@dataclass
class _Block:
    """What one batch of points gave, in tensors allocated once for the batch (one row per point).

    Writing each chunk's results into preallocated rows, rather than keeping small per-point
    tensors, matters for memory: small long-lived allocations scattered between the chunks' large
    temporary ones fragment the CPU heap, and the process then grows with the number of steps
    although the engine's own memory does not.
    """

    index: list[int]
    alpha: list[float]
    score: torch.Tensor
    derivative: torch.Tensor
    magnitude: torch.Tensor
    predicted: torch.Tensor
    grad_map: torch.Tensor | None
    gx_map: torch.Tensor | None
    grads: torch.Tensor | None

    @classmethod
    def empty(cls, index: list[int], alpha: list[float], x: torch.Tensor, acc_dtype: torch.dtype, *, maps: bool,
              grads: bool) -> _Block:  # fmt: skip
        count, device = len(index), x.device
        map_shape = tuple(reduce_channels(x[:1]).shape[1:])

        def vector(dtype: torch.dtype = acc_dtype) -> torch.Tensor:
            return torch.empty(count, dtype=dtype, device=device)

        return cls(
            index, alpha, vector(x.dtype), vector(), vector(), vector(torch.long),
            torch.empty((count, *map_shape), dtype=torch.float16, device=device) if maps else None,
            torch.empty((count, *map_shape), dtype=acc_dtype, device=device) if maps else None,
            torch.empty((count, *x.shape[1:]), dtype=acc_dtype, device=device) if grads else None,
        )  # fmt: skip


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
        self.acc_dtype = accumulator_dtype(x.dtype)
        self.acc = torch.zeros(x.shape, dtype=self.acc_dtype, device=x.device)
        self.memory, self.per_point = memory, per_point
        self.keep_maps = trace
        self.keep_grads = False  # the adaptive mode weights every gradient once its mesh is final
        self.progress = progress
        self.done = len(x)
        self.total = len(x)
        self.blocks: list[_Block] = []
        # per input: α -> (block, row) of the point
        self.where: list[dict[float, tuple[int, int]]] = [{} for _ in range(len(x))]
        self.evaluations = len(x)

    # -- bookkeeping -----------------------------------------------------------------------
    def _map_bytes(self) -> int:
        return 3 * 2 * int(reduce_channels(self.x[:1]).numel())  # float16 gradient + float32 grad·diff

    def _plan_maps(self, points: int) -> None:
        if self.keep_maps and points * self._map_bytes() > self.memory // 2:
            warn(
                f"trace maps for {points} points would exceed half the memory budget "
                f"({self.memory / 2**20:.0f} MiB): only the curves are kept. Pass trace=False to silence "
                "this, fewer steps, or a larger memory="
            )
            self.keep_maps = False

    def _new_block(self, index: list[int], alpha: list[float]) -> _Block:
        block = _Block.empty(index, alpha, self.x, self.acc_dtype, maps=self.keep_maps, grads=self.keep_grads)
        number = len(self.blocks)
        self.blocks.append(block)
        for row, (i, a) in enumerate(zip(index, alpha, strict=True)):
            self.where[i][a] = (number, row)
        return block

    def _store(
        self,
        block: _Block,
        rows: slice,
        index: torch.Tensor,
        score: torch.Tensor,
        grad: torch.Tensor,
        predicted: torch.Tensor,
    ) -> None:
        gx = grad * self.diff[index]
        block.score[rows] = score
        block.derivative[rows] = gx.flatten(1).sum(1)
        block.magnitude[rows] = grad.abs().flatten(1).mean(1)
        block.predicted[rows] = predicted
        if block.grad_map is not None:
            block.grad_map[rows] = reduce_channels(grad)
            block.gx_map[rows] = reduce_channels(gx)
        if block.grads is not None:
            block.grads[rows] = grad

    def _point(self, i: int, a: float) -> tuple[_Block, int]:
        number, row = self.where[i][a]
        return self.blocks[number], row

    def record_first(self, score: torch.Tensor, grad: torch.Tensor, predicted: torch.Tensor) -> None:
        """The first pass evaluated every input at α = 1 (stored by the rule, once it knows what to keep)."""
        self.first = (score, grad, predicted)

    def _first_block(self) -> None:
        n = len(self.x)
        score, grad, predicted = self.first
        block = self._new_block(list(range(n)), [1.0] * n)
        self._store(block, slice(0, n), torch.arange(n, device=self.x.device), score, grad, predicted)

    def evaluate(self, index: list[int], alpha: list[float], weight: list[float] | None) -> None:
        """Evaluate the points (input index, α); with weights, accumulate Σ w ∇F on the way."""
        if not index:
            return
        device, dtype = self.x.device, self.x.dtype
        index_t = torch.tensor(index, device=device)
        alpha_t = torch.tensor(alpha, device=device, dtype=dtype)
        weight_t = None if weight is None else torch.tensor(weight, device=device, dtype=self.acc_dtype)
        shape = (-1,) + (1,) * (self.x.dim() - 1)
        fixed = self.acc.numel() * self.acc.element_size() + self._stored_bytes(len(index))
        block = self._new_block(index, alpha)

        def build(start: int, stop: int) -> Points:
            i = index_t[start:stop]
            return Points(self.base[i] + alpha_t[start:stop].view(shape) * self.diff[i], self.target[i], i)

        def consume(chunk: Chunk) -> None:
            start, stop, i, grad = chunk.start, chunk.stop, chunk.context, chunk.grad
            if weight_t is not None:
                # Σ over each input's rows (contiguous): cheaper than index_put_/index_add_, which are
                # slow for a few large rows on small CPUs
                weighted = grad.to(self.acc_dtype) * weight_t[start:stop].view(shape)
                row = 0
                for k, run in itertools.groupby(index[start:stop]):
                    count = len(list(run))
                    self.acc[k] += weighted[row : row + count].sum(dim=0)
                    row += count
            self._store(block, slice(start, stop), i, chunk.score, grad, chunk.predicted)

        base_done = self.done

        def report(done: int) -> None:
            self.done = base_done + done
            if self.progress is not None:
                self.progress(self.done, max(self.total, self.done))

        self.total = max(self.total, self.done + len(index))
        evaluate(self.explained, len(index), build, consume, memory=self.memory, per_point=self.per_point,
                 fixed=fixed, progress=report)  # fmt: skip
        self.evaluations += len(index)

    def _stored_bytes(self, more: int) -> int:
        """Bytes of what the stored points (and ``more`` new ones) hold, with the trace's making.

        Gathering the maps into the trace takes as much again as they hold (one field at a time, in
        place), so the maps count twice.
        """
        points = sum(len(b.index) for b in self.blocks) + more
        maps = 2 * points * self._map_bytes() if self.keep_maps else 0
        grads = points * self.x[0].numel() * self.acc.element_size() if self.keep_grads else 0
        return maps + grads

    # -- rules -----------------------------------------------------------------------------
    def fixed(self, alphas: list[float], weights: list[float]) -> list[dict[float, float]]:
        """A fixed rule for every input; α = 1, evaluated in the first pass, is not evaluated again."""
        n = len(self.x)
        self._plan_maps(len(alphas) + 1)
        self._first_block()
        todo = [(i, a, w) for i in range(n) for a, w in zip(alphas, weights, strict=True) if a != 1.0]
        self.total = n + len(todo)
        self.evaluate([t[0] for t in todo], [t[1] for t in todo], [t[2] for t in todo])
        if 1.0 in alphas:
            w_one = weights[alphas.index(1.0)]
            self.acc += w_one * self.first[1].to(self.acc_dtype)
        return [dict(zip(alphas, weights, strict=True)) for _ in range(n)]

    def adaptive(self, tolerance: float, max_steps: int) -> tuple[list[dict[float, float]], bool]:
        """Adaptive trapezoid mesh per input until the relative completeness gap is below ``tolerance``."""
        n = len(self.x)
        point_bytes = self.x[0].numel() * self.acc.element_size() + (self._map_bytes() if self.keep_maps else 0)
        affordable = max(9, (self.memory // 2) // max(1, n * point_bytes))
        cap = self.cap = min(max_steps, affordable)
        self._plan_maps(cap)
        self.keep_grads = True
        self._first_block()
        meshes = [AdaptiveMesh() for _ in range(n)]
        active = list(range(n))
        reached = True
        while active:
            todo = [(i, p) for i in active for p in meshes[i].missing() if p != meshes[i].scale]
            self.total = self.done + len(todo)
            self.evaluate([i for i, _ in todo], [p / meshes[i].scale for i, p in todo], None)
            scalars = [(b.score.tolist(), b.derivative.tolist()) for b in self.blocks]  # one sync per round
            still = []
            for i in active:
                mesh = meshes[i]
                for p in mesh.missing():
                    number, row = self.where[i][p / mesh.scale]
                    mesh.record(p, scalars[number][0][row], scalars[number][1][row])
                gap, span = mesh.gap()
                if abs(gap) <= tolerance * max(abs(span), 1e-12):
                    continue
                room = cap - len(mesh.nodes())
                if room < 1 or not mesh.refine(room):
                    reached = False
                    continue
                still.append(i)
            active = still
        weights = []
        for i, mesh in enumerate(meshes):
            w = {p / mesh.scale: v for p, v in mesh.weights().items()}
            weights.append(w)
            for a, v in w.items():
                block, row = self._point(i, a)
                self.acc[i] += v * block.grads[row]
        for block in self.blocks:  # weighted: room for the trace's making
            block.grads = None
        return weights, reached

    # -- result ----------------------------------------------------------------------------
    def finish(self, weights: list[dict[float, float]], score: torch.Tensor) -> dict[str, Any]:
        """values, scores, delta and the trace, from the points and their final weights."""
        values = (self.acc * self.diff.to(self.acc_dtype)).to(self.x.dtype)
        if all(0.0 in w for w in self.where):
            baseline_score = torch.stack(
                [block.score[row] for block, row in (self._point(i, 0.0) for i in range(len(self.x)))]
            )
        else:  # α = 0 is not a node of the rule: F(x′) by forwards through the engine
            baseline_score = torch.empty(len(self.x), dtype=self.x.dtype, device=self.x.device)

            def consume(chunk: Chunk) -> None:
                baseline_score[chunk.start : chunk.stop] = chunk.score

            evaluate(self.explained, len(self.x), lambda a, b: Points(self.base[a:b], self.target[a:b]), consume,
                     grad=False, memory=self.memory, per_point=self.per_point)  # fmt: skip
        delta = values.flatten(1).sum(1).to(self.acc_dtype) - (score - baseline_score).to(self.acc_dtype)
        return {
            "values": values,
            "score": score,
            "baseline_score": baseline_score.detach(),
            "delta": delta,
            "trace": self._trace(weights),
        }

    def _trace(self, weights: list[dict[float, float]]) -> Trace:
        """All points, per input sorted by α, gathered from the blocks in one indexing per field."""
        device = self.x.device
        offsets = [0]
        for block in self.blocks:
            offsets.append(offsets[-1] + len(block.index))
        rows, alphas, w = [], [], []
        for i, where in enumerate(self.where):
            order = sorted(where)
            rows.append([offsets[where[a][0]] + where[a][1] for a in order])
            alphas.append(order)
            w.append([weights[i].get(a, 0.0) for a in order])
        width = max(len(r) for r in rows)
        for r, a, v in zip(rows, alphas, w, strict=True):  # pad with copies of the α = 1 point at weight 0
            pad = width - len(r)
            r += [r[-1]] * pad
            a += [a[-1]] * pad
            v += [0.0] * pad
        index = torch.tensor(rows, device=device)
        w_t = torch.tensor(w, dtype=self.acc_dtype, device=device)

        def joined(field: str) -> torch.Tensor | None:
            """The field's rows of every block in one tensor; the blocks' own copy is let go."""
            parts = [getattr(b, field) for b in self.blocks]
            if parts[0] is None:
                return None
            whole = parts[0] if len(parts) == 1 else torch.cat(parts)
            for block in self.blocks:
                setattr(block, field, None)
            return whole

        def gather(field: str) -> torch.Tensor | None:
            whole = joined(field)
            return None if whole is None else whole[index]

        cumulative = None
        if self.keep_maps:
            # One input at a time: the maps are the trace's largest part (1000 points of 224² are
            # 300 MB) and the trace pads every input to the longest path.
            gx = joined("gx_map")
            cumulative = torch.empty((*index.shape, *gx.shape[1:]), dtype=torch.float16, device=device)
            for i in range(len(index)):
                contrib = gx[index[i]]
                contrib.mul_(w_t[i].view(-1, *(1,) * (contrib.dim() - 1)))
                cumulative[i] = contrib.cumsum_(dim=0)
            del gx
        return Trace(
            alphas=torch.tensor(alphas, dtype=self.acc_dtype, device=device),
            weights=w_t,
            scores=gather("score"),
            grad_mean_abs=gather("magnitude"),
            path_derivative=gather("derivative"),
            grad_maps=gather("grad_map"),
            cumulative_maps=cumulative,
            predicted=gather("predicted"),
            evaluations=self.evaluations,
        )
