"""Large CPU blocks kept in the heap while an attribution runs (Linux with glibc; elsewhere nothing).

glibc serves every allocation above its mmap threshold (128 KiB at first, adapting up to 32 MiB)
with pages of its own from the kernel and unmaps them on free. A chunk's activations of a 224²
photo are such blocks, so every chunk maps them afresh and touches each page for the first time:
about a million minor page faults and 2 s of system time in one call of IG with 32 points on
EfficientNet-Lite0 (``benchmarks/RESULTS.md``, "Numbers quoted in the code"). While a call runs,
:func:`held` raises the mmap and trim thresholds, so a freed chunk's blocks serve the next chunk
from the heap. Once no call has run for :data:`TRIM_DELAY` seconds, the thresholds go to glibc's
adapted steady state (mmap above 32 MiB, trim above 64 MiB) and ``malloc_trim(0)`` gives the free
memory back to the kernel, so the process does not keep a chunk's worth of memory between calls.
Both happen on a timer thread, not when the call ends: the trim costs a few milliseconds (4 of a
0.3 s IG call on a sentence), and calls that follow each other at once (an explorer's preview and
its full answer, the compare grid's twelve panels) would otherwise map everything afresh in
between. Restoring the thresholds at the call's end is not enough to keep the memory: the first
free after it that reaches the heap's top trims the top above 64 MiB at once (the grid's panels
took 30–60 thousand minor page faults each that way).

``attrwidgets.config.malloc_tuning = False`` leaves the allocator alone. The settings are the
process's, not a thread's: one depth count for every thread, the outermost exit restores them.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
from typing import TYPE_CHECKING

from attrwidgets.config import config

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

__all__ = ["held"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: during a call: blocks up to 1 GiB from the heap, and no trimming until the call ends
HELD_MMAP, HELD_TRIM = 1 << 30, (1 << 31) - 1
#: after a call: where glibc's own adaptation settles once large blocks have been freed
AFTER_MMAP, AFTER_TRIM = 32 << 20, 64 << 20

#: seconds without a call before the free memory goes back to the kernel
TRIM_DELAY = 1.0

_lock = threading.Lock()
_depth = 0
_raised = False  # the thresholds are HELD_*: from a call's start until its trim
_generation = 0  # calls entered so far: a trim scheduled before the latest one is dropped
_timer: threading.Timer | None = None
_libc: object = None  # None: not looked up yet; False: no glibc


def _glibc() -> object:
    """The C library when it is glibc (mallopt and malloc_trim), else False."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)
                libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl does not)
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = libc
            except (OSError, AttributeError):
                pass
    return _libc


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Large blocks stay in the heap inside the block and until :data:`TRIM_DELAY` seconds after the
    outermost exit, when the thresholds are restored and the heap trimmed.

    Nothing happens without glibc or with ``config.malloc_tuning`` off.
    """
    global _depth, _generation, _timer, _raised
    libc = _glibc() if config.malloc_tuning else False
    if not libc:
        yield
        return
    with _lock:
        _depth += 1
        _generation += 1
        if _timer is not None:  # a trim still waiting is moot now: no sleeping thread per call
            _timer.cancel()
        if not _raised:
            libc.mallopt(M_MMAP_THRESHOLD, HELD_MMAP)
            libc.mallopt(M_TRIM_THRESHOLD, HELD_TRIM)
            _raised = True
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _timer = threading.Timer(TRIM_DELAY, _trim, args=(libc, _generation))
                _timer.daemon = True
                _timer.start()


def _trim(libc: object, generation: int) -> None:
    """The timer's work: restore the thresholds and give the free memory back, unless a call ran
    (or runs) since it was set."""
    global _raised
    with _lock:
        if _depth != 0 or _generation != generation or not _raised:
            return
        libc.mallopt(M_MMAP_THRESHOLD, AFTER_MMAP)
        libc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM)
        _raised = False
    libc.malloc_trim(0)
