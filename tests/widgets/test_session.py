"""The Session state machine without a browser: latest wins, progressive answers, errors, threads."""

from __future__ import annotations

import threading

import pytest

from attrwidgets.widgets.session import Session, Stage, Superseded


class Recorder:
    def __init__(self) -> None:
        self.results: list[tuple[int, str, object, bool]] = []
        self.statuses: list[tuple[str, str, float | None, str, int]] = []
        self.threads: set[str] = set()

    def on_result(self, generation, stage, payload, final) -> None:
        self.threads.add(threading.current_thread().name)
        self.results.append((generation, stage, payload, final))

    def on_status(self, state, message, progress, hint, generation) -> None:
        self.threads.add(threading.current_thread().name)
        self.statuses.append((state, message, progress, hint, generation))


def progressive(params):
    return [Stage("coarse", {**params, "steps": 2}), Stage("full", params)]


def test_sync_mode_computes_the_last_stage_inline():
    rec = Recorder()
    calls = []

    def compute(params, stage, progress):
        calls.append((stage, params["steps"]))
        progress(1, 1)
        return params["steps"] * 10

    session = Session(compute, on_result=rec.on_result, on_status=rec.on_status, plan=progressive, sync=True)
    assert session.request({"steps": 7}) == 1
    assert calls == [("full", 7)], "sync mode skips the coarse stage"
    assert rec.results == [(1, "full", 70, True)]
    assert rec.statuses[-1][0] == "idle"
    assert rec.threads == {threading.current_thread().name}


def test_progressive_answers_arrive_coarse_then_full(dispatch):
    rec = Recorder()

    def compute(params, stage, progress):
        progress(1, 1)
        return (stage, params["steps"])

    session = Session(compute, on_result=rec.on_result, on_status=rec.on_status, plan=progressive, dispatch=dispatch)
    session.request({"steps": 50})
    assert session.wait(10)
    assert rec.results == [], "nothing reaches the widget outside the kernel's thread"
    dispatch.pump()
    assert [(g, s, p, f) for g, s, p, f in rec.results] == [
        (1, "coarse", ("coarse", 2), False),
        (1, "full", ("full", 50), True),
    ]
    states = [s[0] for s in rec.statuses]
    assert states[0] == "computing" and states[-1] == "idle"
    assert rec.threads == {threading.current_thread().name}, "callbacks run on the dispatching thread"
    session.close()


def test_latest_wins_and_stale_work_is_cancelled(dispatch):
    rec = Recorder()
    started = threading.Event()
    release = threading.Event()
    cancelled = []

    def compute(params, stage, progress):
        if params["n"] == 1:
            started.set()
            release.wait(10)
            try:
                progress(1, 2)  # the first request is stale by now: this raises
            except Superseded:
                cancelled.append(params["n"])
                raise
        progress(1, 1)
        return params["n"]

    session = Session(compute, on_result=rec.on_result, on_status=rec.on_status, dispatch=dispatch)
    session.request({"n": 1})
    assert started.wait(10)
    session.request({"n": 2})  # waits, then is replaced by the next one before it starts
    session.request({"n": 3})
    release.set()
    assert session.wait(10)
    dispatch.pump()
    assert cancelled == [1], "the running stale computation stopped at its next progress call"
    assert [(g, p) for g, _, p, _ in rec.results] == [(3, 3)], "only the newest request is computed and drawn"
    assert rec.statuses[-1][0] == "idle" and rec.statuses[-1][4] == 3
    session.close()


def test_a_result_that_finished_late_is_never_delivered(dispatch):
    rec = Recorder()
    session = Session(
        lambda p, s, progress: p["n"], on_result=rec.on_result, on_status=rec.on_status, dispatch=dispatch
    )
    session.request({"n": 1})
    assert session.wait(10)  # computed; its delivery is still queued for the kernel's thread
    session.request({"n": 2})
    assert session.wait(10)
    dispatch.pump()
    assert [p for _, _, p, _ in rec.results] == [2]
    assert session.dropped == 1
    assert all(s[4] == 2 for s in rec.statuses), "statuses of the stale request are dropped too"
    session.close()


def test_errors_reach_the_status_with_a_hint_and_are_kept(dispatch):
    rec = Recorder()

    def compute(params, stage, progress):
        msg = "baseline of shape (1, 3) does not broadcast"
        raise ValueError(msg)

    session = Session(compute, on_result=rec.on_result, on_status=rec.on_status, dispatch=dispatch)
    session.request({})
    assert session.wait(10)
    dispatch.pump()
    state, message, _, hint, _ = rec.statuses[-1]
    assert state == "error"
    assert "ValueError" in message and "does not broadcast" in message
    assert "baseline" in hint.lower()
    assert isinstance(session.error, ValueError) and session.error.__traceback__ is not None
    assert rec.results == []
    session.close()


def test_sync_mode_raises_after_reporting():
    rec = Recorder()

    def compute(params, stage, progress):
        msg = "out of memory"
        raise RuntimeError(msg)

    session = Session(compute, on_result=rec.on_result, on_status=rec.on_status, sync=True)
    with pytest.raises(RuntimeError, match="out of memory"):
        session.request({})
    assert rec.statuses[-1][0] == "error"
    assert "memory" in rec.statuses[-1][3]


def test_progress_is_reported_at_most_ten_times_a_second(dispatch):
    rec = Recorder()
    now = [0.0]

    def compute(params, stage, progress):
        for i in range(100):  # 100 chunks in 0.5 s of (fake) time
            now[0] += 0.005
            progress(i + 1, 100)
        return None

    session = Session(
        compute, on_result=rec.on_result, on_status=rec.on_status, dispatch=dispatch, clock=lambda: now[0]
    )
    session.request({})
    assert session.wait(10)
    dispatch.pump()
    computing = [s for s in rec.statuses if s[0] == "computing" and s[2] not in (None, 0.0)]
    assert 1 <= len(computing) <= 6, computing
    assert all(0 <= s[2] <= 1 for s in computing)
    session.close()


def test_a_closed_session_refuses_requests():
    session = Session(lambda p, s, progress: None, on_result=lambda *a: None, on_status=lambda *a: None)
    session.close()
    with pytest.raises(RuntimeError, match="closed"):
        session.request({})


def test_flush_delivers_what_waits_for_the_dispatch_thread_once_and_in_order(dispatch):
    # the kernel's IO loop is busy running the cell that asked: flush() delivers on the caller's thread
    rec = Recorder()
    session = Session(
        lambda p, s, progress: (s, p["n"]),
        on_result=rec.on_result,
        on_status=rec.on_status,
        plan=progressive,
        dispatch=dispatch,
    )
    session.request({"n": 1, "steps": 9})
    assert session.wait(10)
    assert rec.results == []
    assert session.flush() >= 3
    assert [(g, s, f) for g, s, _, f in rec.results] == [(1, "coarse", False), (1, "full", True)]
    assert rec.statuses[0][0] == "computing" and rec.statuses[-1][0] == "idle"
    delivered = (list(rec.results), list(rec.statuses))
    dispatch.pump()  # the IO loop's turn comes: nothing is delivered twice
    assert (rec.results, rec.statuses) == delivered
    assert session.flush() == 0
    session.close()
