"""The chunked engine: every model evaluation of every method goes through :func:`evaluate`.

One forward (and one backward, where gradients are wanted) per chunk; the chunk size comes from
the memory budget (the per-point cost is measured on the first point, from the tensors autograd
saves for backward) and from what runs fastest on the device (on a CPU about
``config.cpu_chunk_bytes`` of points and at least ten: ten 224² photos, hundreds of 28² digits
or of a sentence's embeddings: :class:`Budget`), and is halved on
an out-of-memory error. The first forward of a call also settles the memory
format of its batches (channels-last where it pays, contiguous when the model refuses it); a
layout failure in any later chunk falls back the same way, for that chunk and the rest.

What the engine promises the methods:

* ``build(start, stop)`` is called once per chunk attempt and returns :class:`Points`; whatever
  the method needs to consume the chunk travels in ``Points.context``, so no method keeps state
  between ``build`` and ``consume``.
* ``consume(chunk)`` is called once per chunk, in order, with a :class:`Chunk`: the scores, the
  predicted classes, the requested gradients and the context. Only ``consume``'s side effects
  survive; nothing of a chunk is held by the engine afterwards.
* No host synchronisation in the loop beyond what ``build``/``consume`` themselves do.

Attribution at a layer and per-example forward arguments (see :class:`~attrwidgets.model.Explained`)
live in the one forward the engine calls, ``explained.forward(z, rows, inputs)``: every point says
which input it belongs to (``Points.rows``), so a mask is indexed with the chunk's rows and the
layer's output is replaced by the point in a forward on those inputs. ``Points.z=None`` at a
layer keeps the layer's own output as the point, returned in ``Chunk.z`` with its gradient.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import math
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from attrwidgets.config import config, parse_memory
from attrwidgets.model import grad_enabled, resolve_target

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator

    from attrwidgets.model import Explained

__all__ = [
    "Budget",
    "Chunk",
    "Outputs",
    "Pass",
    "Points",
    "Targets",
    "accumulator_dtype",
    "check_progress",
    "evaluate",
    "first_pass",
    "forward_outputs",
    "given_pass",
    "input_gradient",
    "known_cost",
    "progress_reporter",
    "remember_cost",
    "remembered_costs",
    "shared_outputs",
]


def accumulator_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype sums over points are kept in: float64 for float64 inputs, float32 otherwise.

    Half-precision inputs accumulate in float32 (a sum of many float16 gradients loses digits
    fast); float64 is never chosen for lower-precision inputs, so the rule holds on devices
    without float64 (MPS) too.
    """
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_progress(progress: object) -> Callable[[int, int], None] | None:
    """``progress`` itself when it is None or callable; a clear error up front, not after a chunk."""
    if progress is not None and not callable(progress):
        msg = (
            "progress must be a callable progress(done, total), e.g. lambda done, total: bar.update(...), "
            f"not {type(progress).__name__} {progress!r}"
        )
        raise TypeError(msg)
    return progress


def progress_reporter(progress: object, total: int) -> Callable[[int], None] | None:
    """``progress(done, total)`` as the engine's ``report(done)``, checked as :func:`check_progress` does."""
    checked = check_progress(progress)
    return None if checked is None else (lambda done: checked(done, total))


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


def point_bytes(counter: _SavedBytes, z: torch.Tensor, points: int) -> int:
    """Bytes one point costs in a forward and backward, from what ``counter`` saw for ``points`` points ``z``.

    (A point may be more than one row of ``z``: DeepLIFT feeds each input with its reference.)
    The saved tensors, three gradient buffers as large as the largest of them (grad_output,
    grad_input and a temporary of the layer being differentiated), and four input-sized buffers
    (the point, its gradient, the accumulator, a copy). Checked against peak RSS in
    ``benchmarks/`` (see RESULTS.md).
    """
    points = max(1, points)
    return (counter.total + 3 * counter.largest) // points + 4 * z.numel() * z.element_size() // points


class Budget:
    """How many points go in one chunk, within ``memory`` bytes and the device's preferred size.

    The preferred size on a CPU (see ``attrwidgets.config``) is as many points as
    ``config.cpu_chunk_bytes`` holds at ``per_point`` bytes each, and never fewer than
    ``config.cpu_chunk``: ten 224² photos through a real network (25–100 MiB a point), more
    of smaller points (a 28² digit, 64² or 112² images, a sentence's embeddings). On an
    accelerator it is ``config.gpu_chunk``. The memory budget (``memory`` less the ``fixed``
    bytes already held) caps every chunk.
    """

    def __init__(self, memory: int | str | None, device: torch.device, per_point: int, fixed: int = 0) -> None:
        self.memory = parse_memory(memory)
        self.device = device
        self.per_point = max(1, per_point)
        self.fixed = fixed

    def preferred(self) -> int:
        """The most points per chunk the device runs fastest with, before the memory budget."""
        if self.device.type != "cpu":
            return config.gpu_chunk
        return max(config.cpu_chunk, config.cpu_chunk_bytes // self.per_point)

    def chunk(self, count: int) -> int:
        """Points per chunk for ``count`` points: balanced chunks no larger than the cap."""
        room = max(self.memory - self.fixed, 0)
        cap = max(1, min(self.preferred(), room // self.per_point))
        chunks = math.ceil(max(count, 1) / cap)
        return max(1, math.ceil(count / chunks))


@dataclass
class Points:
    """What ``build`` gives for one chunk.

    ``z``: the (B, ...) points in pixel space. ``target``: the (B,) output index explained at each
    point; None for a forward-only pass that wants the whole output (``Chunk.output``); or a
    callable ``output -> (B,)`` resolved once the output is known (see :class:`Targets`).
    ``score``: how the explained score is read from the output, ``score(output, target) -> (B,)``;
    by default ``output[i, target[i]]``. ``context``: anything, handed back in ``Chunk.context``.
    ``rows``: the (B,) index of the input each point belongs to, on the inputs' device; needed when
    the call has a layer or per-example ``forward_kwargs`` (indexed with it), else optional.
    At a layer, ``z`` may be None (the layer's own output at ``inputs`` is the point, see
    :meth:`~attrwidgets.model.Explained.forward`), and ``inputs`` are what the model is fed below
    the layer (default: the inputs ``rows``; with ``rows=None`` per-example arguments are left out).
    ``until_layer`` (at a layer, ``z=None``, no target, no gradient): only the layer's output is
    wanted, so the forward stops once the layer has run (``Chunk.output`` and ``predicted`` None).
    """

    z: torch.Tensor | None
    target: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None
    context: Any = None
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    rows: torch.Tensor | None = None
    inputs: torch.Tensor | None = None
    until_layer: bool = False


@dataclass
class Chunk:
    """What one chunk gave: rows ``start..stop`` of the points, all detached.

    ``score`` (B,) F at each point (None when no target was given), ``target`` (B,), ``output``
    (B, classes) the model's raw output, ``predicted`` (B,) its argmax, ``grad`` what the ``grad``
    option asked for (the gradient at the points, in the memory format of the batch fed to the
    model), ``context`` what ``build`` put in :class:`Points`, ``z`` the points themselves
    (detached; at a layer with ``Points.z=None``, the layer's output).
    """

    start: int
    stop: int
    score: torch.Tensor | None
    target: torch.Tensor | None
    output: torch.Tensor | None
    predicted: torch.Tensor | None
    grad: Any
    context: Any
    z: torch.Tensor | None = None


#: ``grad=`` of :func:`evaluate`: True (the input gradient), False (forward only) or a callable
#: ``grad(score, z, context) -> anything`` for methods that differentiate with respect to
#: something else too (a layer's output, bias terms) or want the graph themselves.
GradSpec = "bool | Callable[[torch.Tensor, torch.Tensor, Any], Any]"


def evaluate(
    explained: Explained,
    count: int,
    build: Callable[[int, int], Points],
    consume: Callable[[Chunk], None],
    *,
    grad: bool | Callable[[torch.Tensor, torch.Tensor, Any], Any] = True,
    memory: int | str | None = None,
    per_point: int | None = None,
    fixed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Evaluate ``count`` points in chunks; returns the bytes one point costs (measured or given).

    ``per_point=None``: the first point goes alone and is measured (the tensors autograd saves),
    which also settles the memory format of the call's batches; the rest follow in chunks sized
    from that cost, ``fixed`` bytes being held already. ``progress(done)`` before the first chunk
    (``done`` = 0) and after every chunk.
    """
    memory_bytes = parse_memory(memory)
    device = explained.device or explained.inputs.device
    done = 0
    if count <= 0:
        return per_point or 1
    if progress is not None:
        progress(0)  # before any work: a caller that wants to stop (the explorer's Cancel) can, here
    remembered = _remembered(explained, build, grad) if per_point is None else None
    if remembered is not None:
        table, key = remembered
        if key not in table:  # measured on a probe whose result is dropped: every call chunks alike
            table[key] = (_attempt(explained, 0, 1, build, _drop, grad, measure=True), explained.memory_format)
        per_point, memory_format = table[key]
        if explained.memory_format is not memory_format:  # the model refused channels-last before
            explained.refuse_channels_last()
    elif per_point is None:
        per_point = _attempt(explained, 0, 1, build, consume, grad, measure=True)
        done = 1
        if progress is not None:
            progress(done)
    chunk = Budget(memory_bytes, device, per_point, fixed).chunk(count - done)
    while done < count:
        stop = min(count, done + chunk)
        if _attempt(explained, done, stop, build, consume, grad, measure=False) is None:
            _release(device)  # out of memory: half the chunk, after the failed one is freed
            chunk = max(1, chunk // 2)
            continue
        done = stop
        if progress is not None:
            progress(done)
    return per_point


_REMEMBERED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("attrwidgets_costs", default=None)


@contextlib.contextmanager
def remembered_costs(table: dict | None = None) -> Iterator[None]:
    """Within the block, :func:`evaluate` measures the bytes a point costs once per kind of call.

    A call that would measure its first point alone is measured once per kind of call (model,
    preprocessing, layer, per-example input and forward-argument shapes, dtype, device, point
    builder and gradient), on a one-point probe whose result is dropped; every call of that kind
    in the block, the first included, reuses the measurement (and its memory-format decision)
    and sends all its points in full chunks. So a batch is chunked the same in every call, and
    its numbers are the same bits whichever call computes it (a resumed run, any Ray actor).
    Private: :func:`~attrwidgets.attribute_dataset` runs one method on batch after batch of
    equal inputs, where a one-point pass per batch measures what is known (about 6 % of a
    gradient batch of 128 digits). ``table``: a dict kept by the caller across blocks (a Ray
    actor's, over its calls).
    """
    token = _REMEMBERED.set({} if table is None else table)
    try:
        yield
    finally:
        _REMEMBERED.reset(token)


def _drop(chunk: Chunk) -> None:
    """The probe's result: not kept."""


def _kind(explained: Explained) -> tuple | None:
    """What a point's cost depends on besides the model and the method: preprocessing, layer, the
    shapes and dtypes of one input and of its per-example forward arguments, the device. None when
    it cannot be told (other keyword arguments may cost more; an unhashable preprocess)."""
    if explained.fixed_kwargs:
        return None
    x = explained.inputs
    key = (
        explained.preprocess,
        explained.layer,
        tuple(x.shape[1:]),
        x.dtype,
        x.device,
        tuple((k, tuple(v.shape[1:]), v.dtype) for k, v in sorted(explained.per_example.items())),
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _remembered(explained: Explained, build: Callable, grad: object) -> tuple[dict, tuple] | None:
    """The block's table of costs and this call's key in it; None outside :func:`remembered_costs`."""
    table = _REMEMBERED.get()
    kind = None if table is None else _kind(explained)
    if kind is None:
        return None
    code = (getattr(build, "__code__", build), grad if isinstance(grad, bool) else getattr(grad, "__code__", grad))
    key = (explained.model, *kind, *code)
    try:
        hash(key)
    except TypeError:  # an unhashable model: measured as usual
        return None
    return table, key


#: Per model, the bytes a point of a small (non-image) input costs, by :func:`_kind` and the
#: model's make-up: see :func:`known_cost`.
_COSTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _make_up(module: torch.nn.Module) -> tuple[int, int]:
    """What of a model changes a point's cost when the object stays the same: its parameters'
    count and sizes (a layer replaced by a larger one). Its mode does not: methods run it in eval."""
    sizes = [p.numel() for p in module.parameters()]
    return (len(sizes), sum(sizes))


def known_cost(explained: Explained) -> int | None:
    """The bytes a point cost in an earlier call of this kind (:func:`remember_cost`), or None.

    For a small input's pass at the inputs that is only a forward (Integrated Gradients at
    the embeddings of a sentence): knowing the cost, a method can skip that pass and take F(x) from
    its own point at α = 1 (the pass measured one point, about 16 ms of a 0.26 s call of IG on a
    21-token sentence through all-MiniLM-L6-v2: ``benchmarks/RESULTS-text.md``).
    """
    kind = _kind(explained)
    if kind is None:
        return None
    try:
        table = _COSTS.get(explained.model)
    except TypeError:  # a model that cannot be weakly referenced
        return None
    if table is None:
        return None
    return table.get((*kind, _make_up(explained.module)))


def remember_cost(explained: Explained, per_point: int) -> None:
    """Keep the bytes a point of this call's kind costs, for :func:`known_cost`."""
    kind = _kind(explained)
    if kind is None:
        return
    try:
        table = _COSTS.setdefault(explained.model, {})
    except TypeError:
        return
    if len(table) > 64:  # many input shapes (sentence lengths): the oldest go
        table.pop(next(iter(table)))
    # the key leaves the model out (it is the table's weak key): holding it would keep it alive
    table[(*kind, _make_up(explained.module))] = per_point


def _attempt(explained: Explained, start: int, stop: int, build, consume, grad, *, measure: bool) -> int | None:
    """One chunk, consumed: the bytes per point when ``measure`` (else 0); None when it ran out of memory.

    A layout failure on a channels-last batch switches the call to contiguous batches and retries
    the chunk; an out-of-memory error of a one-point chunk is raised; every other error (the
    user's model, their callbacks) passes through unchanged. Retries happen outside the ``except``
    block, so the failed chunk's graph (held by the traceback until then) is freed first
    (pytorch#18853), and ``consume`` runs once, after the chunk succeeded.
    """
    while True:
        failure = None
        try:
            chunk, cost = _forward_backward(explained, start, stop, build, grad, measure=measure)
        except (RuntimeError, MemoryError) as error:
            if _is_oom(error):
                if stop - start == 1:
                    raise
                failure = "oom"
            elif explained.memory_format is torch.channels_last and _is_layout_error(error):
                failure = "layout"
            else:
                raise
        if failure is None:
            consume(chunk)
            return cost
        if failure == "oom":
            return None
        explained.refuse_channels_last()


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _forward_backward(explained: Explained, start: int, stop: int, build, grad, *, measure: bool) -> tuple[Chunk, int]:
    """Build, forward (its saved tensors counted when ``measure``) and backward of one chunk."""
    counter = _SavedBytes(explained.module) if measure else None
    wants_graph = grad is not False or counter is not None
    with grad_enabled():  # the caller may be under no_grad or inference_mode; build's tensors too
        points = build(start, stop)
    if points.rows is None and points.inputs is None and explained.per_example:
        msg = "internal: per-example forward_kwargs need each point's input row (Points.rows)"
        raise RuntimeError(msg)
    with grad_enabled(), torch.set_grad_enabled(wants_graph):
        run = (points.z, points.rows, points.inputs)
        until = {"until_layer": True} if points.until_layer else {}
        if counter is not None:
            with torch.autograd.graph.saved_tensors_hooks(counter.pack, counter.unpack):
                output, z = explained.forward(*run, requires_grad=wants_graph, **until)
        else:
            output, z = explained.forward(*run, requires_grad=wants_graph, **until)
        if output is None:  # stopped at the layer: its output is all this chunk gives
            cost = point_bytes(counter, z, stop - start) if counter is not None else 0
            return Chunk(start, stop, None, None, None, None, None, points.context, z.detach()), cost
        target = points.target(output) if callable(points.target) else points.target
        if target is None:
            score = None
        elif points.score is not None:
            score = points.score(output, target)
        else:
            score = output.gather(1, target.view(-1, 1)).squeeze(1)
        result = None
        if grad is True:
            result = input_gradient(score, z)
        elif callable(grad):
            result = grad(score, z, points.context)
    cost = point_bytes(counter, z, stop - start) if counter is not None else 0
    detached = output.detach()
    chunk = Chunk(
        start,
        stop,
        None if score is None else score.detach(),
        target,
        detached,
        detached.argmax(dim=1),
        result,
        points.context,
        z.detach(),
    )
    return chunk, cost


def input_gradient(score: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
    """∂ Σ score / ∂ z (zeros where the score does not reach ``z``); a clear error without a graph."""
    if score is None or score.grad_fn is None:
        msg = (
            "the model's output does not depend on its input through autograd (no grad_fn): "
            "check for .detach(), .numpy() or torch.no_grad() inside the model's forward"
        )
        raise RuntimeError(msg)
    (grad,) = torch.autograd.grad(score.sum(), z, allow_unused=True)
    if grad is None:
        return torch.zeros_like(z)
    return grad


class Targets:
    """The user's ``target`` for ``n`` inputs, resolved against the model's output as chunks arrive.

    It is checked once, against the first chunk's output (so a bad target fails after one forward
    of one input); None gives each row's predicted class. ``rows(start, stop)`` is the callable
    :attr:`Points.target` takes for inputs ``start..stop``; ``take`` says which rows of the output
    are the inputs' (DeepLIFT's output holds their references too).
    """

    def __init__(self, target: object, n: int) -> None:
        self.target, self.n = target, n
        self.resolved: torch.Tensor | None = None

    def points(self, index: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The callable :attr:`Points.target` takes for points of the inputs ``index`` ((B,)): each
        point's input's target. Not for ``target=None``, whose classes are the inputs' own (a point
        on a path has a prediction of its own)."""
        if self.target is None:
            msg = "Targets.points needs the targets given: with target=None resolve them at the inputs"
            raise ValueError(msg)

        def pick(output: torch.Tensor) -> torch.Tensor:
            if self.resolved is None:
                self.resolved = resolve_target(self.target, output.detach()[:1].expand(self.n, -1))
            return self.resolved[index]

        return pick

    def rows(self, start: int, stop: int, take: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        def pick(output: torch.Tensor) -> torch.Tensor:
            out = output if take is None else output[:take]
            if self.target is None:
                return resolve_target(None, out)
            if self.resolved is None:
                self.resolved = resolve_target(self.target, out.detach()[:1].expand(self.n, -1))
            return self.resolved[start:stop]

        return pick


@dataclass
class Pass:
    """What a pass at the inputs gives: per input its target, score F(x), predicted class, gradient.

    ``z``: the inputs in the space attributions live in: the inputs themselves, or at a layer
    the layer's output at the inputs (the gradient ``grad`` is taken there).
    """

    target: torch.Tensor
    score: torch.Tensor
    predicted: torch.Tensor
    grad: torch.Tensor | None
    per_point: int
    z: torch.Tensor


_GIVEN: contextvars.ContextVar[tuple[object, object, Pass] | None] = contextvars.ContextVar(
    "attrwidgets_given_pass", default=None
)


@contextlib.contextmanager
def given_pass(model: object, preprocess: object, at_x: Pass) -> Iterator[None]:
    """Within the block, :func:`first_pass` through ``model`` and ``preprocess`` at inputs equal to
    ``at_x.z`` for its target returns ``at_x`` instead of evaluating them again (private: the compare
    grid makes the pass at its input once for all its panels). Anything else (another model,
    other inputs or target, a layer, forward arguments, a gradient ``at_x`` lacks) is evaluated."""
    token = _GIVEN.set((model, preprocess, at_x))
    try:
        yield
    finally:
        _GIVEN.reset(token)


def _plain(explained: Explained, model: object, preprocess: object) -> bool:
    """Whether the call runs ``model`` after ``preprocess`` on its inputs alone (no layer, no
    forward arguments): what a result made before for that model can stand in for."""
    return (
        explained.model is model
        and explained.preprocess is preprocess
        and explained.layer is None
        and not explained.per_example
        and not explained.fixed_kwargs
    )


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same values, shape, dtype and device."""
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device and torch.equal(a, b)


def _given(explained: Explained, x: torch.Tensor, target: object, backward: bool) -> Pass | None:
    given = _GIVEN.get()
    if given is None:
        return None
    model, preprocess, at_x = given
    if not _plain(explained, model, preprocess) or (backward and at_x.grad is None) or not _equal(at_x.z, x):
        return None
    if target is None:
        same = torch.equal(at_x.target, at_x.predicted)
    elif isinstance(target, int) and not isinstance(target, bool):
        same = bool((at_x.target == target).all())
    else:  # lists and tensors: evaluated as usual
        same = False
    return at_x if same else None


class Outputs:
    """The model's outputs at single inputs, found by value (private: the compare grid's).

    Within :func:`shared_outputs`, :func:`forward_outputs` reads the output at a point equal to one
    kept here instead of evaluating it, and keeps those it evaluates: the grid's Integrated
    Gradients and Expected Gradients panels of one baseline column both need F(x′) at the same
    baseline, and it is computed once. Only for ``model`` and ``preprocess`` with no layer and no
    forward arguments; at most :attr:`LIMIT` points (the oldest go).
    """

    LIMIT = 64

    def __init__(self, model: object, preprocess: object) -> None:
        self.model, self.preprocess = model, preprocess
        self.rows: list[tuple[torch.Tensor, torch.Tensor]] = []

    def serves(self, explained: Explained) -> bool:
        return _plain(explained, self.model, self.preprocess)

    def find(self, z: torch.Tensor) -> torch.Tensor | None:
        return next((output for kept, output in self.rows if _equal(kept, z)), None)

    def add(self, z: torch.Tensor, output: torch.Tensor) -> None:
        if len(self.rows) >= self.LIMIT:
            self.rows.pop(0)
        self.rows.append((z.detach().clone(), output.detach()))


_OUTPUTS: contextvars.ContextVar[Outputs | None] = contextvars.ContextVar("attrwidgets_outputs", default=None)


@contextlib.contextmanager
def shared_outputs(outputs: Outputs) -> Iterator[None]:
    """Within the block, :func:`forward_outputs` reads and keeps outputs in ``outputs``."""
    token = _OUTPUTS.set(outputs)
    try:
        yield
    finally:
        _OUTPUTS.reset(token)


def forward_outputs(
    explained: Explained, points: torch.Tensor, *, memory: int | str | None, per_point: int, fixed: int = 0
) -> torch.Tensor:
    """(B, outputs) the model's raw output at ``points`` (forward only, through :func:`evaluate`;
    no per-example arguments: each point is fed alone of any input). Inside :func:`shared_outputs`
    points seen before are read, not evaluated again."""
    shared = _OUTPUTS.get()
    if shared is not None and not shared.serves(explained):
        shared = None
    found = [shared.find(z) for z in points] if shared is not None else [None] * len(points)
    todo = [i for i, out in enumerate(found) if out is None]
    if todo:
        fresh = points if len(todo) == len(points) else points[torch.tensor(todo, device=points.device)]
        parts: list[torch.Tensor] = []
        evaluate(explained, len(fresh), lambda a, b: Points(fresh[a:b]), lambda c: parts.append(c.output),
                 grad=False, memory=memory, per_point=per_point, fixed=fixed)  # fmt: skip
        computed = torch.cat(parts)
        for k, i in enumerate(todo):
            found[i] = computed[k]
            if shared is not None:
                shared.add(points[i], computed[k])
        if len(todo) == len(points):
            return computed
    return torch.stack(found)


def first_pass(
    explained: Explained,
    x: torch.Tensor,
    target: object,
    *,
    memory: int | str | None = None,
    backward: bool = True,
) -> Pass:
    """Forward (and backward) at the inputs ``x``, through :func:`evaluate`.

    The first input goes alone: it settles the memory format, measures the bytes one point costs
    and checks ``target`` against the output, so a bad target fails after a single forward.
    ``backward=False``: forward only (the graph is recorded for the first input alone, to measure).
    At a layer, ``x`` are the inputs fed to the model and the layer's outputs come back in ``Pass.z``.
    Inside :func:`given_pass` a pass made before at these inputs is returned instead.
    """
    given = _given(explained, x, target, backward)
    if given is not None:
        return given
    n = len(x)
    device = x.device
    layer = explained.layer is not None
    score_dtype = x.dtype if x.is_floating_point() else None
    kept: dict[str, torch.Tensor] = {}
    targets_of = Targets(target, n)

    def build(start: int, stop: int) -> Points:
        rows = torch.arange(start, stop, device=device)
        if layer:
            return Points(None, targets_of.rows(start, stop), rows=rows)
        return Points(x[start:stop], targets_of.rows(start, stop), rows=rows)

    def keep(name: str, rows: slice, value: torch.Tensor, dtype: torch.dtype | None = None) -> None:
        if name not in kept:
            kept[name] = torch.empty((n, *value.shape[1:]), dtype=dtype or value.dtype, device=value.device)
        kept[name][rows] = value

    def consume(chunk: Chunk) -> None:
        rows = slice(chunk.start, chunk.stop)
        keep("score", rows, chunk.score, score_dtype)
        keep("predicted", rows, chunk.predicted)
        keep("target", rows, chunk.target)
        if chunk.grad is not None:
            keep("grad", rows, chunk.grad)
        if layer:
            keep("z", rows, chunk.z)

    per_point = evaluate(explained, n, build, consume, grad=backward, memory=memory,
                         fixed=x.numel() * x.element_size() if backward else 0)  # fmt: skip
    return Pass(kept["target"], kept["score"], kept["predicted"], kept.get("grad"), per_point, kept.get("z", x))


def _is_layout_error(error: BaseException) -> bool:
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
    return isinstance(error, (RuntimeError, MemoryError)) and (
        isinstance(error, MemoryError) or "out of memory" in text or "can't allocate memory" in text
    )
