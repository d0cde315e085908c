"""release_pool: the calling thread's OpenMP workers are freed; the widgets' sessions free the right thread's."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import attrwidgets as aw
from attrwidgets import _omp
from attrwidgets.widgets import session as session_module
from attrwidgets.widgets.session import Session, Stage

needs_libgomp = pytest.mark.skipif(not _omp._pause(), reason="torch's OpenMP runtime here is not GNU libgomp")

# In a fresh process, where no other thread (a test's timer, a closing session) comes or goes.
COUNT_THREADS = """
import os, sys, torch
if "sklearn" in sys.argv:  # a second libgomp (scikit-learn's own copy), found first by path
    import sklearn.utils._openmp_helpers
from attrwidgets import _omp, config
torch.set_num_threads(2)
threads = lambda: len(os.listdir("/proc/self/task"))
def work():
    a = torch.rand(2_000_000)
    for _ in range(3):
        (a * 1.5 + 1).exp_().sum()
work(); with_pool = threads()
released = _omp.release_pool(); after = threads()
work(); again = threads()
config.release_openmp = False
off = _omp.release_pool(); kept = threads()
print(with_pool, released, after, again, off, kept)
"""


@needs_libgomp
@pytest.mark.parametrize("other", ["", "sklearn"])
def test_the_calling_threads_workers_are_joined_and_come_back_when_needed(other: str) -> None:
    if other:
        pytest.importorskip(other)
    out = subprocess.run([sys.executable, "-c", COUNT_THREADS, other], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)  # fmt: skip
    with_pool, released, after, again, off, kept = out.stdout.split()
    assert released == "True" and int(after) == int(with_pool) - 1, "the pool's one worker thread is gone"
    assert int(again) == int(with_pool), "the next parallel region makes the pool again"
    assert off == "False" and int(kept) == int(with_pool), "turned off: the pool stays"


def test_config_takes_only_a_bool() -> None:
    with pytest.raises(TypeError, match="release_openmp must be True or False"):
        aw.config.release_openmp = "yes"
    assert aw.config.release_openmp is True


def test_a_session_frees_the_requesting_threads_pool_then_the_workers_when_idle(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(session_module, "release_pool", lambda: calls.append(threading.current_thread().name))
    done = threading.Event()

    def compute(params, stage, progress):
        progress(0, 1)
        return params

    session = Session(compute, on_result=lambda *a: done.set() if a[3] else None,
                      on_status=lambda *a: None, dispatch=lambda cb: cb())  # fmt: skip
    try:
        session.request({"x": 1}, [Stage("full", {"x": 1})])
        assert done.wait(10) and session.wait(10)
        for _ in range(100):  # the worker frees its pool right after it marks itself idle
            if len(calls) == 2:
                break
            threading.Event().wait(0.01)
        assert calls == [threading.current_thread().name, "attrwidgets-session"]
    finally:
        session.close()
    calls.clear()
    inline = Session(compute, on_result=lambda *a: None, on_status=lambda *a: None, sync=True)
    inline.request({"x": 2})
    assert calls == [], "computing inline on this thread: nothing to free"
