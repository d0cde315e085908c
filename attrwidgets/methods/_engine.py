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
from typing import TYPE_CHECKING

import torch

from attrwidgets.config import config, parse_memory
from attrwidgets.model import grad_enabled

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from attrwidgets.model import Explained

__all__ = ["Budget", "chunked", "first_pass", "forward_chunks", "forward_pass", "run_chunks"]


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


def _counted_forward(
    explained: Explained, x: torch.Tensor, target_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Forward at ``x`` with autograd on: (z, target, scores with their graph, bytes per point).

    This first forward also settles the memory format of the call's batches: channels-last where
    ``config.channels_last`` allows it, unless the model raises on it (then contiguous, remembered
    for the model; the retry runs outside the ``except`` block so the failed graph is freed first).
    """
    failed = False
    if explained.channels_last_candidate():
        explained.memory_format = torch.channels_last
        try:
            z, output, per_point = _saving_forward(explained, x)
        except RuntimeError as error:
            if _is_oom(error):
                raise
            failed = True
    if failed:
        explained.refuse_channels_last()
    if explained.memory_format is torch.contiguous_format:
        z, output, per_point = _saving_forward(explained, x)
    target = target_fn(output)
    score = output.gather(1, target.view(-1, 1)).squeeze(1)
    return z, target, score, per_point


def first_pass(
    explained: Explained, x: torch.Tensor, target_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Forward and backward at ``x``: (target, scores, gradient, bytes per point).

    ``target_fn(output)`` resolves the target from the (N, classes) output before any further
    work, so a bad target fails after a single forward. The bytes autograd saves for backward are
    counted on the way and give the per-point memory cost used to size later chunks.
    """
    with grad_enabled():
        z, target, score, per_point = _counted_forward(explained, x, target_fn)
        grad = _grad(score, z).contiguous()  # channels-last batches give channels-last gradients
    return target, score.detach(), grad, per_point


def forward_pass(
    explained: Explained, x: torch.Tensor, target_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One forward at ``x``: (target, scores, bytes per point), no backward.

    The graph is recorded only to count the bytes autograd would save (the same per-point cost
    :func:`first_pass` measures, so the budgets agree) and dropped without a backward.
    """
    with grad_enabled():
        _, target, score, per_point = _counted_forward(explained, x, target_fn)
    return target, score.detach(), per_point


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
