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

__all__ = ["Budget", "first_pass", "run_chunks"]

Build = "Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]"
Consume = "Callable[[int, int, torch.Tensor, torch.Tensor], None]"
Progress = "Callable[[int, int], None] | None"


class _SavedBytes:
    """Counts the bytes autograd saves for backward in one forward, parameters excluded."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.skip = {p.untyped_storage().data_ptr() for p in module.parameters()}
        self.skip |= {b.untyped_storage().data_ptr() for b in module.buffers()}
        self.seen: set[int] = set()
        self.total = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        try:
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key not in self.skip and key not in self.seen:
                self.seen.add(key)
                self.total += storage.nbytes()
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


def first_pass(
    explained: Explained, x: torch.Tensor, target_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Forward and backward at ``x``: (target, scores, gradient, bytes per point).

    ``target_fn(output)`` resolves the target from the (N, classes) output before any further
    work, so a bad target fails after a single forward. The bytes autograd saves for backward are
    counted on the way and give the per-point memory cost used to size later chunks.
    """
    counter = _SavedBytes(explained.module)
    with grad_enabled():
        z = x.detach().requires_grad_(True)
        with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
            output = explained.logits(z)
        target = target_fn(output)
        score = output.gather(1, target.view(-1, 1)).squeeze(1)
        grad = _grad(score, z)
    # Backward needs about as much again as the saved tensors; the point itself, its gradient and
    # the accumulator add a few input-sized buffers.
    per_point = 2 * counter.total // len(x) + 4 * x[0].numel() * x.element_size()
    return target, score.detach(), grad, per_point


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


def run_chunks(
    explained: Explained,
    count: int,
    build: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]],
    consume: Callable[[int, int, torch.Tensor, torch.Tensor], None],
    *,
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Evaluate ``count`` points in chunks; returns the chunk size that worked.

    ``build(start, stop)`` gives the points (B, ...) and their targets (B,); ``consume(start, stop,
    scores, grads)`` takes the results. On an out-of-memory error the chunk is halved and retried,
    outside the ``except`` block so the failed chunk's tensors are freed first.
    """
    start = 0
    while start < count:
        stop = min(count, start + chunk)
        failed = False
        try:
            with grad_enabled():
                z, target = build(start, stop)
                z = z.detach().requires_grad_(True)
                score = explained.scores(z, target)
                grad = _grad(score, z)
        except (RuntimeError, MemoryError) as error:
            if not _is_oom(error) or chunk == 1:
                raise
            failed = True
        if failed:
            z = target = score = grad = None  # drop the failed chunk's tensors before retrying
            gc.collect()
            if explained.device is not None and explained.device.type == "cuda":
                torch.cuda.empty_cache()
            chunk = max(1, chunk // 2)
            continue
        consume(start, stop, score.detach(), grad)
        start = stop
        if progress is not None:
            progress(start)
    return chunk
