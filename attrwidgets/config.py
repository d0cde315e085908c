"""Global defaults: the memory budget and the preferred chunk sizes on a CPU and an accelerator."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["config", "parse_memory"]

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_memory(memory: int | str | None) -> int:
    """Bytes from ``memory``: an int, or a string such as ``"512MiB"`` or ``"2GB"``; None → the default."""
    if memory is None:
        return config.memory
    if isinstance(memory, bool):
        msg = f"memory={memory!r}: give a number of bytes or a string such as '1GiB'"
        raise TypeError(msg)
    if isinstance(memory, int):
        value = memory
    elif isinstance(memory, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", memory)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            msg = f"memory={memory!r} is not a size: write e.g. '512MiB', '2GB' or a number of bytes"
            raise ValueError(msg)
        value = int(float(match.group(1)) * _UNITS[unit])
    else:
        msg = f"memory must be bytes (int) or a string such as '1GiB', not {type(memory).__name__}"
        raise TypeError(msg)
    if value <= 0:
        msg = f"memory={memory!r} must be positive"
        raise ValueError(msg)
    return value


@dataclass
class Config:
    """Process-wide defaults; change them with ``attrwidgets.config.memory = "2GiB"`` etc.

    Attributes
    ----------
    memory : int
        Budget in bytes for what one attribution call holds beyond the model itself
        (activations of a chunk, gradients, the trace). Default 1 GiB.
    cpu_chunk : int
        The fewest points per forward/backward on a CPU (the memory budget may still lower it):
        ten 224² photos through a real network (25–100 MiB a point) run faster in chunks of ten
        than in one big batch (measured: ``benchmarks/RESULTS.md``, section 1).
    cpu_chunk_bytes : int
        A CPU chunk takes as many points as fit in this many bytes of what one point costs (the
        tensors autograd saves for it, measured on the first point), at least ``cpu_chunk``; the
        memory budget still caps it. Small points run through short matrix products and
        convolutions, so larger chunks of them are faster: the 50 points of IG on a 21-token
        sentence through all-MiniLM-L6-v2 (3.5 MiB a point) go in one chunk, not five of ten
        (``benchmarks/RESULTS-text.md``, "Pretrained encoder"); IG on 28² digits ran 1.1–2.7× and
        on 64² and 112² images through ResNet-18 1.1–2× faster than in chunks of ten
        (``benchmarks/RESULTS.md``, "Numbers quoted in the code"), while a 224² photo keeps
        chunks of ten. Default 256 MiB; accepts strings such as ``"512MiB"``; 0 gives every input
        ``cpu_chunk`` points per chunk.
    gpu_chunk : int
        The largest chunk on an accelerator, where larger batches are faster; the budget caps it.
    channels_last : "auto", True or False
        Memory format of the image batches the engine feeds the model. ``"auto"`` (default): on a
        CPU with oneDNN, 4-D inputs to a model with ``Conv2d`` layers go in channels-last, which
        runs a forward and backward faster there (measured: ``benchmarks/RESULTS.md``, "Numbers
        quoted in the code"); a model that cannot take it (e.g. ``x.view(n, -1)`` on a conv map)
        is noticed on the first forward and fed contiguous batches from then on. ``True`` on any
        device, ``False`` never. Values agree with the contiguous run to float32 rounding.
    malloc_tuning : bool
        On Linux with glibc, while an attribution call runs, large blocks (a chunk's
        activations) are reused from the heap instead of being mapped afresh by the kernel for
        every chunk (a million page faults in one IG call on a 224² photo); at the end of the
        call the free memory goes back to the kernel (see ``attrwidgets/_malloc.py``). Default
        True; False leaves the allocator alone. Elsewhere it does nothing.
    release_openmp : bool
        With torch's GNU OpenMP runtime (Linux), the widgets free the kernel's main thread's
        OpenMP worker threads when they start computing on their own thread, and their thread's
        when they are done, so that two pools of workers do not share the cores (on two cores an
        explorer's Integrated Gradients ran 1.6–1.9× slower beside an idle pool; see
        ``attrwidgets/_omp.py``). Default True; False leaves the pools alone.
    """

    memory: int = 1 << 30
    cpu_chunk: int = 10
    cpu_chunk_bytes: int = 256 << 20
    gpu_chunk: int = 256
    channels_last: bool | str = "auto"
    malloc_tuning: bool = True
    release_openmp: bool = True

    def __setattr__(self, name: str, value: object) -> None:
        if name == "memory" or (name == "cpu_chunk_bytes" and not (type(value) is int and value == 0)):
            value = parse_memory(value)  # type: ignore[arg-type]
        elif name in ("malloc_tuning", "release_openmp") and not isinstance(value, bool):
            msg = f"config.{name} must be True or False, not {value!r}"
            raise TypeError(msg)
        elif name == "channels_last" and value not in ("auto", True, False):
            msg = f"config.channels_last must be 'auto', True or False, not {value!r}"
            raise ValueError(msg)
        super().__setattr__(name, value)


config = Config()
