"""One OpenMP pool at a time: free the calling thread's pool when another thread is about to compute.

Torch's CPU kernels (Linux wheels: GNU libgomp) run their parallel regions on a pool of worker
threads per thread that starts them. The widgets compute on a worker thread of their own (the
kernel's main thread must stay free for the browser's messages), while the user's main thread
has a pool too, from loading the model or any torch call in a cell. With two pools on a machine
of two cores libgomp counts more threads than cores and stops letting its workers spin between
regions, so every one of a network's few hundred small regions waits for a sleeping worker to
wake: Integrated Gradients on the demo photo took 2.2–2.6 s on a worker thread while the main
thread's pool lived, 1.2–1.4 s once it was freed, 1.3–1.4 s on the main thread alone
(``benchmarks/RESULTS-widget.md``, "One OpenMP pool").

:func:`release_pool` frees the calling thread's pool (``omp_pause_resource_all(omp_pause_soft)``,
OpenMP 5.0, which in libgomp joins only the caller's workers); the thread gets a new one at its
next parallel region, which costs well under a millisecond. A session frees the main thread's
pool when it hands a request to its worker and the worker's own when it goes idle, so neither
the widget's computations nor the user's cells run beside an idle pool. Only GNU libgomp is
touched, where the call concerns the calling thread alone; every loaded copy is asked, since a
library may bring its own (scikit-learn's wheels do, and its path sorts before torch's). With
another OpenMP runtime (LLVM's pauses the whole process), on macOS or Windows, it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Callable

from attrwidgets.config import config

__all__ = ["release_pool"]

_OMP_PAUSE_SOFT = 1


def _pause() -> tuple[Callable[[int], int], ...]:
    """``omp_pause_resource_all`` of every GNU libgomp loaded (torch's, and any other library's own
    copy: scikit-learn's wheels bring one), looked up once torch is loaded; empty elsewhere."""
    if "torch" not in sys.modules:  # nothing loaded yet: look again next time
        return ()
    return _found()


@functools.cache
def _found() -> tuple[Callable[[int], int], ...]:
    if not sys.platform.startswith("linux"):
        return ()
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libgomp" in line}
    except OSError:
        return ()
    found = []
    for path in sorted(paths):
        if not os.path.basename(path).startswith("libgomp"):
            continue
        try:
            function = ctypes.CDLL(path).omp_pause_resource_all
        except (OSError, AttributeError):  # an older libgomp without OpenMP 5.0
            continue
        function.argtypes = [ctypes.c_int]
        function.restype = ctypes.c_int
        found.append(function)
    return tuple(found)


def release_pool() -> bool:
    """Free the calling thread's OpenMP worker threads (libgomp only); True if a runtime released them.

    Every loaded copy of libgomp is asked (each frees only this thread's pool of its own), so the
    one torch runs on is among them whatever else brought a copy. Call it outside any parallel
    region (from Python, always) on a thread that is about to wait while another thread
    computes. ``config.release_openmp = False`` turns it off.
    """
    if not config.release_openmp:
        return False
    results = [pause(_OMP_PAUSE_SOFT) == 0 for pause in _pause()]
    return any(results)
