"""Attributing a whole data set: a ``Dataset`` or ``DataLoader`` in, a chunked Zarr store out; local or on Ray.

:func:`attribute_dataset` runs one attribution method over every batch of a data set and writes
what each batch gives (the maps, the explained targets, the scores and completeness gaps, the
labels) into a Zarr group; a chunk holds a group of consecutive batches (about 4 MiB of maps),
written together from a background thread while the next batches compute. A batch is marked done
only after its arrays are written, so a run that was interrupted (Ctrl-C, a crash, a lost node)
resumes where it stopped without redoing a written batch: a Ctrl-C writes the batches already
computed first, a killed process loses at most the groups not yet written. ``engine="ray"`` runs
the same per-batch function, :func:`attribute_batch`, in Ray Data actors (one model per actor, a
GPU each where the cluster has them); the driver writes the same store. Zarr and Ray are optional extras:
``pip install "attrwidgets[zarr]"`` and ``pip install "attrwidgets[ray]"``.
"""

from __future__ import annotations

import asyncio
import copy
import numbers
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from attrwidgets.attribution import Attribution
from attrwidgets.methods._engine import remembered_costs
from attrwidgets.model import model_device

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["Progress", "attribute_batch", "attribute_dataset", "ray_actors", "run_method"]

_DTYPES = {"float32": np.float32, "float16": np.float16}
_ENGINES = ("local", "ray")


# -- progress -------------------------------------------------------------------------------------
class Progress:
    """Progress of a long loop outside the widgets.

    ``progress=True``: a ``tqdm.auto`` bar when tqdm is installed (nothing otherwise; tqdm hides it
    where the output is neither a terminal nor a notebook); ``False`` or None: nothing; a callable:
    ``progress(done, total)`` after every step. A context manager; ``update(done)`` after each step.
    """

    def __init__(self, progress: bool | Callable[[int, int], None] | None, total: int, desc: str) -> None:
        if progress is not None and not isinstance(progress, bool) and not callable(progress):
            msg = f"progress must be True, False or a callable progress(done, total), not {progress!r}"
            raise TypeError(msg)
        self.total = total
        self.callback = progress if callable(progress) and not isinstance(progress, bool) else None
        self.bar = None
        if progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is optional
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=desc, leave=False, disable=None)

    def update(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        if self.callback is not None:
            self.callback(done, self.total)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> bool:
        if self.bar is not None:
            self.bar.close()
        return False


# -- one method call --------------------------------------------------------------------------------
def method_name(method: object) -> str:
    """The name a method is stored under: the registry key, or a callable's qualified name."""
    if isinstance(method, str):
        return method
    return getattr(method, "__qualname__", None) or type(method).__name__


def run_method(
    method: str | Callable[..., Attribution | torch.Tensor],
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: object = None,
    *,
    options: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    """Run a registered method by name, or any callable ``fn(model, inputs, target, **options)``.

    A callable may return an :class:`Attribution` or a bare tensor of maps; a bare tensor is
    wrapped (its target: ``target`` resolved at the inputs' output, the predicted class for None).
    ``preprocess`` and ``memory`` go to registered methods (all take them), not to callables.
    """
    from attrwidgets.registry import REGISTRY

    options = dict(options or {})
    if isinstance(method, str):
        if method not in REGISTRY:
            msg = f"unknown method {method!r}; registered: {sorted(REGISTRY)} (or pass a callable)"
            raise ValueError(msg)
        entry = REGISTRY[method]
        allowed = entry.options  # a set built on every access: once per batch, not three times
        for name, value in (("preprocess", preprocess), ("memory", memory)):
            if name in allowed and value is not None:
                options.setdefault(name, value)
        unknown = set(options) - allowed
        if unknown:
            msg = f"{method} takes no option(s) {sorted(unknown)}; its options: {sorted(allowed)}"
            raise TypeError(msg)
        return entry.fn(model, inputs, target, **options)
    if not callable(method):
        msg = f"method must be a registered name or a callable fn(model, inputs, target), not {method!r}"
        raise TypeError(msg)
    result = method(model, inputs, target, **options)
    if isinstance(result, Attribution):
        return result
    if not isinstance(result, torch.Tensor):
        msg = f"the method {method_name(method)} returned {type(result).__name__}: return an Attribution or a tensor"
        raise TypeError(msg)
    return Attribution(values=result.detach(), target=predicted_target(model, inputs, target, preprocess),
                       method=method_name(method))  # fmt: skip


def predicted_target(model: Callable, inputs: torch.Tensor, target: object, preprocess=None) -> torch.Tensor:
    """``target`` resolved against the model's output at ``inputs`` (one forward, through the engine)."""
    from attrwidgets.hooks import ModelGuard
    from attrwidgets.methods._engine import first_pass
    from attrwidgets.model import Explained

    explained = Explained(model, inputs, preprocess)
    with ModelGuard(explained.module):
        return first_pass(explained, explained.inputs, target, backward=False).target


# -- the data ---------------------------------------------------------------------------------------
@dataclass
class _Source:
    """A map-style data set read in fixed batches: batch ``b`` holds items ``b·size … (b+1)·size − 1``."""

    dataset: Any
    n: int
    size: int
    collate: Callable[[list[Any]], Any]
    workers: int = 0

    @property
    def batches(self) -> int:
        return -(-self.n // self.size)

    def rows(self, b: int) -> range:
        return range(b * self.size, min(self.n, (b + 1) * self.size))

    @property
    def tensors(self) -> tuple[torch.Tensor, ...] | None:
        """A plain ``TensorDataset``'s tensors (a batch is then a slice of each), else None."""
        from torch.utils.data import TensorDataset
        from torch.utils.data._utils.collate import default_collate

        plain = type(self.dataset) is TensorDataset and self.collate is default_collate and not self.workers
        return self.dataset.tensors if plain else None

    def load(self, b: int) -> Any:
        rows = self.rows(b)
        if self.tensors is not None:  # what default_collate would stack, without 2·size indexing calls
            return [t[rows.start : rows.stop] for t in self.tensors]
        return self.collate([self.dataset[i] for i in rows])

    def stream(self, pending: Sequence[int]) -> Iterator[Any]:
        """The pending batches in order, through a DataLoader (its workers, if the user's had any)."""
        if self.tensors is not None:
            return (self.load(b) for b in pending)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=[list(self.rows(b)) for b in pending], collate_fn=self.collate,
            num_workers=self.workers, generator=torch.Generator().manual_seed(0),  # not the global RNG
        )  # fmt: skip
        return iter(loader)


def _source(data: object, batch_size: int | None) -> _Source:
    from torch.utils.data import DataLoader, Dataset, IterableDataset, SequentialSampler, TensorDataset
    from torch.utils.data._utils.collate import default_collate

    if isinstance(data, torch.Tensor):
        data = TensorDataset(data)
    elif isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        data = TensorDataset(*data)
    if isinstance(data, DataLoader):
        if isinstance(data.dataset, IterableDataset) or data.batch_size is None:
            msg = (
                "attribute_dataset needs a DataLoader over a map-style Dataset with a batch_size (batches are "
                "written by index so that a run can resume); pass the Dataset itself with batch_size="
            )
            raise TypeError(msg)
        if not isinstance(data.sampler, SequentialSampler):
            msg = (
                f"the DataLoader's sampler is {type(data.sampler).__name__}: attribute_dataset writes batch b to "
                "rows b·batch_size… and resumes by batch, so the order must be fixed; use shuffle=False"
            )
            raise ValueError(msg)
        size = batch_size or data.batch_size
        return _Source(data.dataset, len(data.dataset), size, data.collate_fn, data.num_workers)
    if isinstance(data, IterableDataset) or (not isinstance(data, Dataset) and not hasattr(data, "__getitem__")):
        msg = (
            f"data must be a map-style torch Dataset (with __len__ and __getitem__), a DataLoader over one, "
            f"a tensor or a tuple of tensors, not {type(data).__name__}"
        )
        raise TypeError(msg)
    size = 64 if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        msg = f"batch_size must be a positive int, got {batch_size!r}"
        raise ValueError(msg)
    n = len(data)
    if n == 0:
        msg = "data is empty: nothing to attribute"
        raise ValueError(msg)
    return _Source(data, n, int(size), default_collate)


def split_batch(batch: object) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The inputs and the labels (None when there are none) of a collated batch."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, dict):
        inputs = next((batch[k] for k in ("inputs", "image", "images", "x", "pixel_values") if k in batch), None)
        labels = next((batch[k] for k in ("label", "labels", "target", "y") if k in batch), None)
    elif isinstance(batch, (tuple, list)) and batch:
        inputs, labels = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
        inputs, labels = None, None
    if not isinstance(inputs, torch.Tensor):
        msg = (
            f"a batch of the data is a {type(batch).__name__}; expected a tensor of inputs, a tuple "
            "(inputs, labels, ...) or a dict with 'inputs'/'image' and 'label'"
        )
        raise TypeError(msg)
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dim() != 1:
        labels = None
    return inputs, labels


# -- the per-batch function -------------------------------------------------------------------------
def attribute_batch(
    method: str | Callable[..., Any],
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    target: object = None,
    options: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    dtype: str = "float32",
    device: torch.device | str | None = None,
) -> dict[str, np.ndarray]:
    """What one batch writes to the store: ``values``, ``target``, ``score``, ``delta`` (NaN where none), ``label``.

    The inputs go to ``device`` (default: the model's). ``target="label"`` explains each input's
    label; None the predicted class; an int or a tensor as for every method.
    """
    device = (
        torch.device(device) if device is not None else model_device(model) if isinstance(model, nn.Module) else None
    )
    x = inputs if device is None else inputs.to(device)
    if isinstance(target, str):
        if target != "label":
            msg = f"target={target!r}: give None (the predicted class), 'label', an int or a tensor"
            raise ValueError(msg)
        if labels is None:
            msg = "target='label' but the data's batches carry no integer labels (a tuple (inputs, labels))"
            raise ValueError(msg)
        target = labels
    if isinstance(target, torch.Tensor) and device is not None:
        target = target.to(device)
    attr = run_method(method, model, x, target, options=options, preprocess=preprocess, memory=memory)
    values = attr.values.detach().to("cpu", torch.float32).numpy()
    if dtype == "float16" and np.abs(values).max(initial=0.0) > np.finfo(np.float16).max:
        msg = (
            f"{method_name(method)}: attributions exceed the range of {dtype} (largest |value| "
            f"{float(attr.values.abs().max()):.3g}); write them as dtype='float32'"
        )
        raise ValueError(msg)
    values = values.astype(_DTYPES[dtype], copy=False)
    n = len(x)

    def column(t: torch.Tensor | None) -> np.ndarray:
        return np.full(n, np.nan) if t is None else t.detach().to("cpu", torch.float64).numpy()

    return {
        "values": values,
        "target": attr.target.detach().cpu().numpy().astype(np.int64),
        "score": column(attr.score),
        "delta": column(attr.delta),
        "label": np.full(n, -1, np.int64) if labels is None else labels.cpu().numpy().astype(np.int64),
    }


# -- the store --------------------------------------------------------------------------------------
def _zarr():
    try:
        import zarr
    except ImportError:
        msg = 'attribute_dataset writes a Zarr store: pip install "attrwidgets[zarr]" (or zarr>=3)'
        raise ImportError(msg) from None
    return zarr


def _describe(value: object) -> object:
    """A JSON-able description of an option (tensors by shape and dtype, modules by class)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)} {value.dtype}"
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_describe(v) for v in value]
    if isinstance(value, nn.Module):
        return type(value).__name__
    return repr(value)


#: A chunk of the store holds the maps of about this many bytes' worth of consecutive batches
#: (a *group*: at least one batch, at most _GROUP_BATCHES). Every Zarr write costs about a
#: millisecond of CPU whatever its size and a batch fills five arrays and a done flag, so the
#: gradient of the digits CNN (~30 ms a batch of 128) spent half as long again writing as computing
#: when each batch was its own chunk; a group of 10 batches writes six times in all.
_GROUP_BYTES = 4 * 2**20
_GROUP_BATCHES = 16
_COLUMNS = ("values", "target", "label", "score", "delta")


class _Store:
    """The Zarr group of one run: a chunk holds one group of ``k`` consecutive batches, ``done`` a flag per batch.

    The arrays are made by the first write, once the maps' shape is known (``k`` is chosen from the
    first batch's maps), and opened once; a resumed store keeps its own ``k`` (the ``done`` chunks).
    """

    def __init__(self, out: object, run: dict[str, Any], source: _Source, *, resume: bool) -> None:
        zarr = _zarr()
        self.source = source
        path = os.fspath(out) if isinstance(out, (str, os.PathLike)) else out
        existing = None
        new_folder = isinstance(path, str) and "://" not in path and not os.path.exists(path)  # nothing to resume
        if resume and not new_folder:
            try:
                existing = zarr.open_group(path, mode="r")
            except (FileNotFoundError, KeyError, ValueError, zarr.errors.GroupNotFoundError):
                existing = None
        self.arrays: dict[str, Any] = {}
        if existing is not None and "attrwidgets_run" in existing.attrs:
            before = existing.attrs["attrwidgets_run"]
            if before != run:
                differ = sorted(k for k in set(before) | set(run) if before.get(k) != run.get(k))
                msg = (
                    f"{path!s} holds another run (it differs in {differ}: {[before.get(k) for k in differ]} "
                    f"there, {[run.get(k) for k in differ]} now); give a new out= or resume=False to overwrite"
                )
                raise ValueError(msg)
            self.group, self.fresh = zarr.open_group(path, mode="a"), False
            if all(name in self.group for name in (*_COLUMNS, "done")):  # else no write got that far
                self.arrays = {name: self.group[name].async_array for name in (*_COLUMNS, "done")}
        else:
            self.group, self.fresh = zarr.open_group(path, mode="w", attributes={"attrwidgets_run": run}), True
        self.dtype = run["dtype"]
        self.k: int | None = self.arrays["done"].chunks[0] if self.arrays else None
        self.map_shape = tuple(self.arrays["values"].shape[1:]) if self.arrays else None

    def pending(self) -> list[int]:
        if not self.arrays:
            return list(range(self.source.batches))
        done = _sync(self.arrays["done"].getitem(slice(None)))
        return [b for b in range(self.source.batches) if not done[b]]

    def accept(self, b: int, result: dict[str, np.ndarray]) -> int:
        """Check one batch's result against the store (the first one fixes the maps' shape and ``k``); its group."""
        rows = self.source.rows(b)
        values = result["values"]
        if len(values) != len(rows):
            msg = f"batch {b} gave {len(values)} maps for {len(rows)} inputs"
            raise RuntimeError(msg)
        if self.map_shape is None:
            self.map_shape = tuple(values.shape[1:])
            batch_bytes = max(1, values.nbytes // max(1, len(values)) * self.source.size)
            self.k = max(1, min(_GROUP_BATCHES, self.source.batches, _GROUP_BYTES // batch_bytes))
        elif tuple(values.shape[1:]) != self.map_shape:
            msg = (
                f"batch {b} gave maps of shape {tuple(values.shape[1:])} but the store holds "
                f"{self.map_shape}: every input must have the same shape"
            )
            raise ValueError(msg)
        return b // self.k

    def create(self) -> None:
        """The arrays, chunked by group, made together (the maps uncompressed: zstd saved 12 % on the digits' maps)."""
        from zarr.api.asynchronous import create_array

        n, rows = self.source.n, min(self.source.n, self.k * self.source.size)
        specs = {
            "values": ((n, *self.map_shape), (rows, *self.map_shape), self.dtype, 0, {"compressors": None}),
            "target": ((n,), (rows,), "int64", -1, {}),
            "label": ((n,), (rows,), "int64", -1, {}),
            "score": ((n,), (rows,), "float64", np.nan, {}),
            "delta": ((n,), (rows,), "float64", np.nan, {}),
            "done": ((self.source.batches,), (self.k,), "bool", False, {}),
        }

        def make(name: str):  # write_empty_chunks: else Zarr compares each chunk with the fill value first
            shape, chunks, dtype, fill, extra = specs[name]
            return create_array(self.group.store_path, name=name, shape=shape, chunks=chunks, dtype=dtype,
                                fill_value=fill, config={"write_empty_chunks": True}, overwrite=not self.fresh,
                                **extra)  # fmt: skip

        async def make_all() -> dict[str, Any]:  # a store is resumed from its arrays only once all six exist
            names = (*_COLUMNS, "done")
            return dict(zip(names, await asyncio.gather(*(make(name) for name in names)), strict=True))

        self.arrays = _sync(make_all())

    def write(self, part: list[tuple[int, dict[str, np.ndarray]]]) -> None:
        """Consecutive batches of one group: the five arrays written together, then their done flags."""
        if not self.arrays:
            self.create()
        first, last = part[0][0], part[-1][0]
        where = slice(self.source.rows(first).start, self.source.rows(last).stop)

        columns = {name: np.concatenate([result[name] for _, result in part]) for name in _COLUMNS}

        async def put() -> None:
            await asyncio.gather(*(self.arrays[name].setitem(where, columns[name]) for name in _COLUMNS))
            # only now: a batch counts as written once all its arrays are
            await self.arrays["done"].setitem(slice(first, last + 1), np.ones(last + 1 - first, bool))

        _sync(put())


def _sync(coroutine: Any) -> Any:
    """Run a Zarr coroutine on Zarr's own I/O loop, where its synchronous API runs them too.

    Several writes gathered in one coroutine cost one round trip to that loop instead of one
    each (``zarr.core.sync`` is not in Zarr's documented API, but every ``zarr.Array`` call goes
    through it).
    """
    from zarr.core.sync import sync

    return sync(coroutine)


class _Writer:
    """Gathers the batches of each group and writes each group from a background thread, as one chunk per array.

    A group is handed to the thread once all its pending batches are in (they may come in any
    order: Ray's do); the caller waits only when two groups are still being written. Zarr's
    writes then overlap the next batches' forward and backward passes where a core is free (on
    the busy two-core test machine they gained nothing: benchmarks/RESULTS-evaluation.md). On
    exit, also after an error or an interrupt, the batches of unfinished groups are written too,
    each marked done after its arrays, and every write has finished before the exit returns; a
    write's own error is raised. So a Ctrl-C loses only the batch being computed, and a killed
    process at most the groups not yet written.
    """

    def __init__(self, store: _Store, pending: Sequence[int]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.store, self.pending = store, list(pending)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attrwidgets-zarr")
        self.wanted: dict[int, int] | None = None  # group → its pending batches, once k is known
        self.buffer: dict[int, dict[int, dict[str, np.ndarray]]] = {}
        self.writing: list[Any] = []

    def put(self, b: int, result: dict[str, np.ndarray]) -> None:
        g = self.store.accept(b, result)
        if self.wanted is None:
            self.wanted = {}
            for p in self.pending:
                self.wanted[p // self.store.k] = self.wanted.get(p // self.store.k, 0) + 1
        self.buffer.setdefault(g, {})[b] = result
        if len(self.buffer[g]) == self.wanted[g]:
            self.flush(g)
            while len(self.writing) > 2:
                self.writing.pop(0).result()

    def flush(self, g: int) -> None:
        """Hand group ``g``'s buffered batches to the thread: one write per run of consecutive batches."""
        results = self.buffer.pop(g)
        part: list[tuple[int, dict[str, np.ndarray]]] = []
        for b in sorted(results):
            if part and b != part[-1][0] + 1:
                self.writing.append(self.pool.submit(self.store.write, part))
                part = []
            part.append((b, results[b]))
        self.writing.append(self.pool.submit(self.store.write, part))

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> bool:
        try:
            for g in sorted(self.buffer):
                self.flush(g)
            for future in self.writing:
                error = future.exception()  # waits for the write
                if error is not None and exc[0] is None:
                    raise error
        finally:
            self.pool.shutdown(wait=True)
        return False


# -- the entry point --------------------------------------------------------------------------------
def attribute_dataset(
    method: str | Callable[..., Any],
    model: nn.Module,
    data: object,
    out: str | os.PathLike | Any,
    *,
    target: object = None,
    options: dict[str, Any] | None = None,
    batch_size: int | None = None,
    dtype: str = "float32",
    engine: str = "local",
    resume: bool = True,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = True,
    actors: int | None = None,
    actor_options: dict[str, Any] | None = None,
):
    """Attribute every input of a data set and write the results to a chunked Zarr store.

    Batch ``b`` (items ``b·batch_size`` to ``(b+1)·batch_size − 1``) is attributed with
    ``method``; consecutive batches are gathered into groups of about 4 MiB of maps (at most 16
    batches), and each group is written as one chunk of each array, then its batches are marked
    done. Rerunning the same call after an interrupt skips every batch already written and
    computes only the rest: a Ctrl-C or an error first writes the batches already computed; a
    killed process loses the groups it had not written.

    Parameters
    ----------
    method : str or callable
        A registered method name (``"integrated_gradients"``, …) or any callable
        ``fn(model, inputs, target, **options)`` returning an :class:`Attribution` or a tensor.
    model : nn.Module
        The model, on the device the local engine should use (on Ray each actor gets a copy).
    data : Dataset, DataLoader, tensor or tuple of tensors
        A map-style ``Dataset`` whose items are inputs or ``(inputs, label, ...)`` tuples; a
        ``DataLoader`` over one without shuffling (its batch size, collate function and workers are
        used); a tensor of inputs; or ``(inputs, labels)``.
    out : path or Zarr store
        Where the group goes (a directory, created). An existing store of the same run is resumed;
        one of a different run (method, options, size, batch size, dtype, target) is refused.
    target : None, "label", int or tensor
        None explains each input's predicted class, ``"label"`` its label from the data.
    options : dict, optional
        The method's own options (``{"steps": 32}``); ``preprocess`` and ``memory`` go to it too.
    batch_size : int, optional
        Inputs per batch (a chunk of the store holds a whole number of batches). Default: the
        DataLoader's, or 64.
    dtype : {"float32", "float16"}
        How the maps are stored (uncompressed); float16 halves the store (a value beyond its range is an
        error).
    engine : {"local", "ray"}
        ``"local"``: batches in this process, in order. ``"ray"``: Ray Data ``map_batches`` with a
        pool of actors, each holding one copy of the model, on a GPU of its own when the cluster
        reports GPUs (see :func:`ray_actors`); connects to the cluster ``ray.init()`` finds
        (``RAY_ADDRESS``, or one connected before the call with ``ray.init(address=...)``), else
        starts a local one.
    resume : bool
        False: overwrite whatever is at ``out``.
    progress : bool or callable
        A tqdm bar (True), nothing (False), or ``progress(done_batches, total_batches)``.
    actors, actor_options : Ray only
        The number of actors (default: one per GPU, else one per CPU but one) and what each
        reserves, over the defaults: ``num_gpus=1`` where the cluster has GPUs, else 0, and one CPU
        (a fraction where there are too few to leave one to Ray Data). ``{"num_gpus": 0.5}``: two
        actors share a GPU; ``{"num_gpus": 0}``: CPUs only; Ray's other per-actor arguments
        (``memory``, ``accelerator_type``, ...) pass through to ``map_batches``.

    Returns
    -------
    zarr.Group
        Opened read-only, with arrays ``values`` (N, *map shape), ``target``, ``label`` (−1 where
        the data has none), ``score`` and ``delta`` (NaN where the method gives none), ``done``
        (per batch, chunked by group); the run's description in ``attrs["attrwidgets_run"]``.

    Examples
    --------
    >>> store = attribute_dataset("gradient", model, TensorDataset(images, labels), "grads.zarr",
    ...                           target="label", batch_size=128)          # doctest: +SKIP
    >>> store["values"].shape, store["values"].chunks                      # doctest: +SKIP
    ((1797, 1, 28, 28), (1280, 1, 28, 28))
    """
    if engine not in _ENGINES:
        msg = f"engine={engine!r} is not one of {_ENGINES}"
        raise ValueError(msg)
    if dtype not in _DTYPES:
        msg = f"dtype={dtype!r} is not one of {tuple(_DTYPES)}"
        raise ValueError(msg)
    if not isinstance(model, nn.Module):
        msg = f"model must be an nn.Module (copied to each worker), not {type(model).__name__}"
        raise TypeError(msg)
    if isinstance(target, (torch.Tensor, list, tuple)):
        msg = "attribute_dataset takes target=None, 'label' or one int for the whole data set"
        raise TypeError(msg)
    source = _source(data, batch_size)
    run = {
        "method": method_name(method),
        "options": _describe(options or {}),
        "n": source.n,
        "batch_size": source.size,
        "dtype": dtype,
        "target": _describe(target),
        "preprocess": _describe(preprocess),
    }
    store = _Store(out, run, source, resume=resume)
    pending = store.pending()
    spec = {"target": target, "options": options, "preprocess": preprocess, "memory": memory, "dtype": dtype}
    done = source.batches - len(pending)
    with Progress(progress, source.batches, f"{run['method']} over {source.n} inputs") as bar:
        bar.update(done)
        if pending:
            results = (_ray_results if engine == "ray" else _local_results)(
                method, model, source, pending, spec, actors=actors, actor_options=actor_options
            )
            # each kind of pass measured once for the data set; a group is written while the next batches compute
            with remembered_costs(), _Writer(store, pending) as writer:
                for b, result in results:
                    writer.put(b, result)
                    done += 1
                    bar.update(done)
    return _zarr().open_group(store.group.store, mode="r")


def _local_results(method, model, source: _Source, pending, spec, **_: Any) -> Iterator[tuple[int, dict]]:
    for b, batch in zip(pending, source.stream(pending), strict=False):
        inputs, labels = split_batch(batch)
        yield b, attribute_batch(method, model, inputs, labels, **spec)


class _RayWorker:
    """A Ray Data actor: one copy of the model, reading and attributing whole batches by index."""

    def __init__(self, method, model, source: _Source, spec: dict, threads: int, use_gpu: bool) -> None:
        torch.set_num_threads(max(1, threads))
        if use_gpu and not torch.cuda.is_available():
            msg = (
                "this Ray actor was given a GPU but torch.cuda.is_available() is False in it (a CPU build of "
                'torch on the worker?); install a CUDA build there, or pass actor_options={"num_gpus": 0}'
            )
            raise RuntimeError(msg)
        self.device = torch.device("cuda") if use_gpu else torch.device("cpu")  # Ray sets CUDA_VISIBLE_DEVICES
        self.method, self.source, self.spec = method, source, spec
        self.model = copy.deepcopy(model).to(self.device)
        self.costs: dict = {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list[np.ndarray]] = {}
        with remembered_costs(self.costs):  # the one-point measuring pass once per actor, not per batch
            for b in batch["batch"]:
                inputs, labels = split_batch(self.source.load(int(b)))
                result = attribute_batch(self.method, self.model, inputs, labels, device=self.device, **self.spec)
                result["batch"] = np.array(int(b))
                for name, value in result.items():
                    out.setdefault(name, []).append(value)
        return {name: np.stack(values) if name == "batch" else _ragged(values) for name, values in out.items()}


def _ragged(values: list[np.ndarray]) -> np.ndarray:
    """One row per batch: a stacked array, or an object array when the last batch is shorter."""
    if len({v.shape for v in values}) == 1:
        return np.stack(values)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def ray_actors(
    resources: dict[str, float], batches: int, *, actors: int | None = None, actor_options: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """How many Ray Data actors attribute ``batches`` batches, and what each reserves, on a cluster of ``resources``.

    ``resources`` is what ``ray.cluster_resources()`` reports (``{"CPU": 8.0, "GPU": 2.0, ...}``).
    Where the cluster has GPUs, each actor gets one (``num_gpus=1``: one actor per GPU) and puts its
    model there; without, the actors share the CPUs. One CPU is left to Ray Data's own tasks (which
    read the batch indices and collect the results; with every CPU taken by actors the pipeline
    stalls for good), so an actor reserves a fraction of a CPU when there are too few to give each
    one. ``actor_options`` overrides any of this (``{"num_gpus": 0.5}``: two actors share a GPU;
    ``{"num_gpus": 0}``: CPUs only on a GPU cluster); it also takes Ray's other per-actor
    arguments (``memory``, ``resources``, ``accelerator_type``, ...), passed on to ``map_batches``.

    Returns the number of actors (at most ``batches``) and the options for ``map_batches``, with
    ``num_cpus`` and ``num_gpus`` always set.
    """
    import warnings

    given = dict(actor_options or {})
    for name in ("num_cpus", "num_gpus"):
        value = given.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0):
            msg = f"actor_options[{name!r}] must be a number ≥ 0, got {value!r}"
            raise ValueError(msg)
    if actors is not None and (isinstance(actors, bool) or not isinstance(actors, numbers.Integral) or actors < 1):
        msg = f"actors must be a positive int (or None: one per GPU, else one per CPU but one), got {actors!r}"
        raise ValueError(msg)
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    num_gpus = float(given.pop("num_gpus", min(1.0, gpus)))
    if num_gpus > gpus:
        warnings.warn(
            f"actor_options asks for num_gpus={num_gpus:g} an actor but the cluster reports {gpus:g} GPUs: Ray "
            "Data waits until GPU nodes join (an autoscaler adds them), else forever",
            stacklevel=3,
        )
    spare = cpus - 1 if cpus >= 2 else cpus / 2  # the CPUs not left to Ray Data's own tasks
    num_cpus = given.pop("num_cpus", None)
    if actors is None:
        if num_gpus > 0:
            actors = max(1, int(gpus // num_gpus))
        else:
            actors = max(1, int(spare // (num_cpus or min(1.0, spare) or 1)))
    actors = max(1, min(actors, batches))
    if num_cpus is None:
        num_cpus = min(1.0, spare / actors) if spare > 0 else 1.0
    return actors, {**given, "num_cpus": float(num_cpus), "num_gpus": num_gpus}


def _ray_results(method, model, source: _Source, pending, spec, *, actors, actor_options) -> Iterator[tuple[int, dict]]:
    try:
        import ray
        import ray.data
    except ImportError:
        msg = 'engine="ray" needs Ray Data: pip install "attrwidgets[ray]" (or "ray[data]")'
        raise ImportError(msg) from None
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS or an existing local cluster if there is one, else a new local one
    actors, options = ray_actors(ray.cluster_resources(), len(pending), actors=actors, actor_options=actor_options)
    threads = max(1, int(options["num_cpus"]))
    use_gpu = options["num_gpus"] > 0
    cpu_model = copy.deepcopy(model).cpu()
    dataset = ray.data.from_items([{"batch": b} for b in pending], override_num_blocks=len(pending))
    mapped = dataset.map_batches(
        _RayWorker,
        fn_constructor_args=(method, cpu_model, source, spec, threads, use_gpu),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        **options,
    )
    for rows in mapped.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=1):
        b = int(rows["batch"][0])
        yield b, {name: rows[name][0] for name in ("values", "target", "score", "delta", "label")}
