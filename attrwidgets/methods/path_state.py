"""The state of Integrated Gradients' paths: the points evaluated, what each gave, and the trace.

:class:`Path` evaluates points x′_i + α (x_i − x′_i) through the engine, keeps per point what the
curves and maps need in blocks allocated once per batch of points, runs a fixed rule or the
adaptive mesh, and assembles the :class:`~attrwidgets.attribution.Trace`.
:func:`cumulative_maps` is the trace's largest part, shared with Expected Gradients.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from attrwidgets._warn import warn
from attrwidgets.attribution import Trace, reduce_channels
from attrwidgets.methods._engine import Chunk, Points, Targets, accumulator_dtype, evaluate, forward_outputs
from attrwidgets.methods.quadrature import AdaptiveMesh

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from attrwidgets.model import Explained

__all__ = ["Path", "cumulative_maps"]


def cumulative_maps(count: int, weighted: Callable[[int], torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """(N, K, ...) float16: per input i, the running sum over its K points of ``weighted(i)``.

    ``weighted(i)`` returns a fresh (K, ...) float32 tensor of input i's weighted per-point maps
    (it is summed in place). One input at a time: the maps are the trace's largest part (1000
    points of 224² are 300 MB) and this keeps one input's worth of temporaries.
    """
    first = weighted(0)
    out = torch.empty((count, *first.shape), dtype=torch.float16, device=like.device)
    out[0] = first.cumsum_(dim=0)
    for i in range(1, count):
        out[i] = weighted(i).cumsum_(dim=0)
    return out


@dataclass
class Block:
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
              grads: bool) -> Block:  # fmt: skip
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


class Path:
    """Points on the straight paths x′_i + α (x_i − x′_i), evaluated in chunks; what they give is kept.

    ``target``: the (N,) classes explained, or a :class:`~attrwidgets.methods._engine.Targets` of the
    user's targets, checked against the first chunk's output (a path that is its own pass at the
    inputs, :attr:`ends` with no pass before it: see :meth:`target_tensor`).
    """

    def __init__(
        self,
        explained: Explained,
        x: torch.Tensor,
        base: torch.Tensor,
        target: torch.Tensor | Targets,
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
        self.blocks: list[Block] = []
        # per input: α -> (block, row) of the point
        self.where: list[dict[float, tuple[int, int]]] = [{} for _ in range(len(x))]
        self.evaluations = 0

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

    def _new_block(self, index: list[int], alpha: list[float]) -> Block:
        block = Block.empty(index, alpha, self.x, self.acc_dtype, maps=self.keep_maps, grads=self.keep_grads)
        number = len(self.blocks)
        self.blocks.append(block)
        for row, (i, a) in enumerate(zip(index, alpha, strict=True)):
            self.where[i][a] = (number, row)
        return block

    def _store(
        self,
        block: Block,
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

    def _point(self, i: int, a: float) -> tuple[Block, int]:
        number, row = self.where[i][a]
        return self.blocks[number], row

    def _scores_at(self, a: float) -> torch.Tensor:
        """(N,) F at every input's point α = ``a`` (evaluated)."""
        return torch.stack([block.score[row] for block, row in (self._point(i, a) for i in range(len(self.x)))])

    def record_first(self, score: torch.Tensor, grad: torch.Tensor | None, predicted: torch.Tensor) -> None:
        """The first pass evaluated every input at α = 1 (stored by the rule, once it knows what to keep).

        ``grad=None``: the first pass was a forward only, and the path evaluates α = 1 (and α = 0,
        for F(x′)) with its own points (see :attr:`ends`).
        """
        self.first = (score, grad, predicted)
        if grad is not None:
            self.evaluations += len(self.x)

    @property
    def ends(self) -> bool:
        """Whether α = 0 and α = 1 are evaluated with the rule's points rather than in passes of their own."""
        return self.first[1] is None

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
            target = self.target.points(i) if isinstance(self.target, Targets) else self.target[i]
            return Points(self.base[i] + alpha_t[start:stop].view(shape) * self.diff[i], target, i, rows=i)

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
        """A fixed rule for every input; α = 1, evaluated in the first pass, is not evaluated again.

        With :attr:`ends`, α = 1 and α = 0 (weight 0 where the rule has no such node) are
        evaluated in the same chunks as the rule's points: the trace's ends and F(x′) for the price
        of two more points, not of a backward and a forward of their own.
        """
        n = len(self.x)
        points = list(zip(alphas, weights, strict=True))
        if self.ends:
            points += [(a, 0.0) for a in (0.0, 1.0) if a not in alphas]
        else:
            points = [(a, w) for a, w in points if a != 1.0]
        self._plan_maps(len(points) + (0 if self.ends else 1))
        if not self.ends:
            self._first_block()
        todo = [(i, a, w) for i in range(n) for a, w in points]
        self.total = n + len(todo)
        self.evaluate([t[0] for t in todo], [t[1] for t in todo], [t[2] for t in todo])
        if 1.0 in alphas and not self.ends:
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
        if not self.ends:
            self._first_block()
        meshes = [AdaptiveMesh() for _ in range(n)]
        active = list(range(n))
        reached = True
        while active:
            todo = [(i, p) for i in active for p in meshes[i].missing() if self.ends or p != meshes[i].scale]
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
    def target_tensor(self) -> torch.Tensor:
        """The (N,) classes explained (resolved by the first chunk when given as Targets)."""
        if isinstance(self.target, Targets):
            self.target = self.target.resolved
        return self.target

    def finish(self, weights: list[dict[float, float]], score: torch.Tensor | None) -> dict[str, Any]:
        """values, scores, delta and the trace, from the points and their final weights.

        ``score=None``: F(x) is the path's own point at α = 1 (:attr:`ends` without a pass before).
        """
        target = self.target_tensor()
        if score is None:
            score = self._scores_at(1.0)
        values = (self.acc * self.diff.to(self.acc_dtype)).to(self.x.dtype)
        if all(0.0 in w for w in self.where):
            baseline_score = self._scores_at(0.0)
        elif not self.explained.needs_rows:  # α = 0 is not a node of the rule: F(x′) by forwards
            outputs = forward_outputs(self.explained, self.base, memory=self.memory, per_point=self.per_point)
            baseline_score = outputs.gather(1, target.view(-1, 1))[:, 0].to(self.x.dtype)
        else:  # the same, each baseline with its input's forward arguments
            baseline_score = torch.empty(len(self.x), dtype=self.x.dtype, device=self.x.device)

            def consume(chunk: Chunk) -> None:
                baseline_score[chunk.start : chunk.stop] = chunk.score

            def build(start: int, stop: int) -> Points:
                rows = torch.arange(start, stop, device=self.x.device)
                return Points(self.base[start:stop], target[start:stop], rows=rows)

            evaluate(self.explained, len(self.x), build, consume, grad=False, memory=self.memory,
                     per_point=self.per_point)  # fmt: skip
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
            gx = joined("gx_map")
            weight_shape = (-1,) + (1,) * (gx.dim() - 1)
            cumulative = cumulative_maps(len(index), lambda i: gx[index[i]].mul_(w_t[i].view(weight_shape)), gx)
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
