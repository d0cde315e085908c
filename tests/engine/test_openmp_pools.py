"""release_pool: the calling thread's OpenMP workers are freed; the widgets' sessions free the right thread's."""

from __future__ import annotations

import os
import threading

import pytest
import torch

import attrwidgets as aw
from attrwidgets import _omp
from attrwidgets.widgets import session as session_module
from attrwidgets.widgets.session import Session, Stage


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _parallel_work() -> None:
    a = torch.rand(2_000_000)
    for _ in range(3):
        (a * 1.5 + 1).exp_().sum()


needs_libgomp = pytest.mark.skipif(_omp._pause() is None, reason="torch's OpenMP runtime here is not GNU libgomp")


@needs_libgomp
def test_the_calling_threads_workers_are_joined_and_come_back_when_needed(monkeypatch) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _parallel_work()
        with_pool = _threads()
        assert _omp.release_pool() is True
        assert _threads() == with_pool - 1, "the pool's one worker thread is gone"
        _parallel_work()  # the next parallel region makes the pool again
        assert _threads() == with_pool
        monkeypatch.setattr(aw.config, "release_openmp", False)
        assert _omp.release_pool() is False
        assert _threads() == with_pool, "turned off: the pool stays"
    finally:
        torch.set_num_threads(before)


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
