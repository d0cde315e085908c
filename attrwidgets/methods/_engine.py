"""The chunked engine: evaluate the explained score and its input gradient at many points.

One forward and one backward per chunk; the chunk size is derived from the memory budget (the
per-point cost is measured on the first pass, from the tensors autograd saves for backward) and
from what runs fastest on the device (about ten points per chunk on a CPU), and halved on an
out-of-memory error. Every method that evaluates many points (paths, noise, samples) goes through
:func:`run_chunks`, so they share one memory policy.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from attrwidgets.config import config, parse_memory
from attrwidgets.model import grad_enabled, resolve_target

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from attrwidgets.model import Explained

__all__ = ["Budget", "Pass", "chunked", "first_pass", "forward_chunks", "run_chunks"]


class _SavedBytes:
    """Counts the bytes autograd saves for backward in one forward, parameters excluded.

    ``total`` is their sum and ``largest`` the largest single storage: backward frees the saved
    tensors as it goes while it holds a few gradient buffers as large as an activation, so its
    peak is about ``total + 3 * largest`` (see :func:`point_bytes`).
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.skip = {p.untyped_storage().data_ptr() for p in module.parameters()}
        self.skip |= {b.untyped_storage().data_ptr() for b in module.buffers()}
        self.seen: set[int] = set()
        self.total = 0
        self.largest = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        try:
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key not in self.skip and key not in self.seen:
                self.seen.add(key)
                self.total += storage.nbytes()
                self.largest = max(self.largest, storage.nbytes())
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. some subclasses)
            pass
        return tensor

    @staticmethod
    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        return tensor


class Budget:
    """How many points go in one chunk, within ``memory`` bytes and the device's preferred size."""

    def __init__(self, memory: int | str | None, device: torch.device, per_point: int, fixed: int = 0) -> None:
        self.memory = parse_memory(memory)
        self.device = device
        self.per_point = max(1, per_point)
        self.fixed = fixed

    def chunk(self, count: int) -> int:
        """Points per chunk for ``count`` points: balanced chunks no larger than the cap."""
        preferred = config.cpu_chunk if self.device.type == "cpu" else config.gpu_chunk
        room = max(self.memory - self.fixed, 0)
        cap = max(1, min(preferred, room // self.per_point))
        chunks = math.ceil(max(count, 1) / cap)
        return max(1, math.ceil(count / chunks))


def _saving_forward(explained: Explained, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Forward at ``x`` with autograd on: (z, output with its graph, bytes per point)."""
    counter = _SavedBytes(explained.module)
    z = x.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
        output = explained.logits(z)
    return z, output, point_bytes(counter, x)


def point_bytes(counter: _SavedBytes, x: torch.Tensor, rows: int | None = None) -> int:
    """Bytes one point costs in a forward and backward, from what ``counter`` saw for ``x``.

    The saved tensors, three gradient buffers as large as the largest of them (grad_output,
    grad_input and a temporary of the layer being differentiated), and four input-sized buffers
    (the point, its gradient, the accumulator, a copy). Measured against peak RSS in
    ``benchmarks/`` (EfficientNet-Lite0: 92 MiB estimated, 83–92 MiB measured per point).
    """
    rows = len(x) if rows is None else rows
    return (counter.total + 3 * counter.largest) // rows + 4 * x[0].numel() * x.element_size()


def _counted_forward(explained: Explained, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Forward at ``x`` with autograd on: (z, output with its graph, bytes per point).

    This first forward also settles the memory format of the call's batches: channels-last where
    ``config.channels_last`` allows it, unless the model raises a layout error on it (then
    contiguous, remembered for the model and this input shape; the retry runs outside the
    ``except`` block so the failed graph is freed first).
    """
    failed = False
    if explained.channels_last_candidate():
        explained.memory_format = torch.channels_last
        try:
            return _saving_forward(explained, x)
        except RuntimeError as error:
            if not _is_layout_error(error):
                raise
            failed = True
    if failed:
        explained.refuse_channels_last()
    return _saving_forward(explained, x)


@dataclass
class Pass:
    """What a pass at the inputs gives: per input its target, score F(x), predicted class, gradient."""

    target: torch.Tensor
    score: torch.Tensor
    predicted: torch.Tensor
    grad: torch.Tensor | None
    per_point: int


def first_pass(
    explained: Explained,
    x: torch.Tensor,
    target: object,
    *,
    memory: int | str | None = None,
    backward: bool = True,
) -> Pass:
    """Forward (and backward) at the inputs ``x``, in chunks under the memory budget.

    The first input goes alone: its forward settles the memory format, measures the bytes one
    point costs (from the tensors autograd saves) and checks ``target`` against the output, so a
    bad target fails after a single forward. The other inputs follow in chunks sized from that
    cost, so a large batch stays within ``memory`` too. ``backward=False``: forward only (the
    graph is recorded for the first input alone, to measure it).
    """
    n = len(x)
    with grad_enabled():
        z, output, per_point = _counted_forward(explained, x[:1])
        resolved = None if target is None else resolve_target(target, output.detach().expand(n, -1))
        head = _score(output, resolved, 0, 1)
        score = [head[0].detach()]
        predicted = [output.detach().argmax(dim=1)]
        targets = [head[1]]
        grad = None
        if backward:
            first = _grad(head[0], z)
            grad = torch.empty(x.shape, dtype=first.dtype, device=first.device)
            grad[:1] = first
        del z, output, head
    if n > 1:

        def step(start: int, stop: int) -> tuple[torch.Tensor, ...]:
            with grad_enabled(), torch.set_grad_enabled(backward):
                zs = x[start:stop].detach().requires_grad_(backward)
                out = explained.logits(zs)
                value, rows_target = _score(out, resolved, start, stop)
                g = _grad(value, zs) if backward else None
            return value.detach(), rows_target, out.detach().argmax(dim=1), g

        def consume(start: int, stop: int, value, rows_target, rows_predicted, g) -> None:
            score.append(value)
            targets.append(rows_target)
            predicted.append(rows_predicted)
            if g is not None:
                grad[start:stop] = g

        fixed = 0 if grad is None else grad.numel() * grad.element_size()
        budget = Budget(memory, explained.device or x.device, per_point, fixed)
        chunked(n - 1, budget.chunk(n - 1), lambda a, b: step(a + 1, b + 1), lambda a, b, *r: consume(a + 1, b + 1, *r))
    return Pass(torch.cat(targets), torch.cat(score), torch.cat(predicted), grad, per_point)


def _score(output: torch.Tensor, resolved: torch.Tensor | None, start: int, stop: int):
    """(F at rows start..stop with its graph, their targets); None targets: each row's predicted class."""
    rows_target = resolve_target(None, output) if resolved is None else resolved[start:stop]
    return output.gather(1, rows_target.view(-1, 1)).squeeze(1), rows_target


def _grad(score: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    if score.grad_fn is None:
        msg = (
            "the model's output does not depend on its input through autograd (no grad_fn): "
            "check for .detach(), .numpy() or torch.no_grad() inside the model's forward"
        )
        raise RuntimeError(msg)
    (grad,) = torch.autograd.grad(score.sum(), z, allow_unused=True)
    if grad is None:
        return torch.zeros_like(z)
    return grad


def _is_layout_error(error: RuntimeError) -> bool:
    """Whether ``error`` is a model's complaint about the memory layout of its input.

    E.g. "view size is not compatible with input tensor's size and stride (at least one dimension
    spans across two contiguous subspaces). Use .reshape(...) instead." Any other error is the
    model's own and reaches the user unchanged, without a retry.
    """
    text = str(error).lower()
    return not _is_oom(error) and any(
        word in text for word in ("stride", "contiguous", "memory format", "memory_format", "channels_last")
    )


def _is_oom(error: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def chunked(
    count: int,
    chunk: int,
    step: Callable[[int, int], tuple],
    consume: Callable[..., None],
    *,
    device: torch.device | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """``consume(start, stop, *step(start, stop))`` over ``count`` points; returns the chunk size that worked.

    On an out-of-memory error the chunk is halved and retried, outside the ``except`` block so the
    failed chunk's tensors (held by the traceback until then) are freed first (pytorch#18853).
    One chunk that still does not fit raises the error.
    """
    start = 0
    while start < count:
        stop = min(count, start + chunk)
        result = None
        try:
            result = step(start, stop)
        except (RuntimeError, MemoryError) as error:
            if not _is_oom(error) or chunk == 1:
                raise
        if result is None:
            gc.collect()
            if device is not None and device.type == "cuda":
                torch.cuda.empty_cache()
            chunk = max(1, chunk // 2)
            continue
        consume(start, stop, *result)
        start = stop
        if progress is not None:
            progress(start)
    return chunk


def run_chunks(
    explained: Explained,
    count: int,
    build: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]],
    consume: Callable[..., None],
    *,
    chunk: int,
    progress: Callable[[int], None] | None = None,
    predicted: bool = False,
) -> int:
    """Scores and input gradients at ``count`` points, one forward and one backward per chunk.

    ``build(start, stop)`` gives the points (B, ...) and their targets (B,); ``consume(start, stop,
    scores, grads)`` takes the results (the gradients in the memory format of the batch fed to the
    model, see ``Explained.memory_format``), with the (B,) predicted class as a fifth argument when
    ``predicted`` is true (free: the logits are there). Returns the chunk size that worked.
    """

    def step(start: int, stop: int) -> tuple[torch.Tensor, ...]:
        with grad_enabled():
            z, target = build(start, stop)
            z = z.detach().requires_grad_(True)
            output = explained.logits(z)
            score = output.gather(1, target.view(-1, 1)).squeeze(1)
            grad = _grad(score, z)
        if predicted:
            return score.detach(), grad, output.detach().argmax(dim=1)
        return score.detach(), grad

    return chunked(count, chunk, step, consume, device=explained.device, progress=progress)


def forward_chunks(
    explained: Explained,
    count: int,
    build: Callable[[int, int], tuple[torch.Tensor, torch.Tensor | None]],
    consume: Callable[[int, int, torch.Tensor], None],
    *,
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Scores (no gradients) at ``count`` points in chunks; returns the chunk size that worked.

    ``build(start, stop)`` gives the points (B, ...) and their targets (B,), or None for the whole
    output; ``consume(start, stop, scores)`` takes the (B,) scores (or the (B, classes) output).
    """

    def step(start: int, stop: int) -> tuple[torch.Tensor]:
        with grad_enabled(), torch.no_grad():
            z, target = build(start, stop)
            return (explained.logits(z) if target is None else explained.scores(z, target),)

    return chunked(count, chunk, step, consume, device=explained.device, progress=progress)
