"""The explorer's compute session: one worker thread, latest-wins requests, progressive answers.

A :class:`Session` knows nothing about widgets. It is given a ``compute(params, stage, progress)``
function and two callbacks, ``on_result`` and ``on_status``, and it guarantees:

- **One worker thread** runs every computation (torch is not asked to run two at once), so the
  kernel's main thread stays free to receive the next request. The thread that hands over a
  request frees its OpenMP workers, and the worker frees its own when it goes idle
  (:func:`attrwidgets._omp.release_pool`: two pools on the cores slow both).
- **Latest wins.** Every :meth:`Session.request` gets a new generation number and replaces any
  request still waiting. A running computation notices at its next ``progress`` call that it is
  stale and stops; a stale result that finished anyway is dropped before it reaches ``on_result``.
- **Progressive answers.** A request runs in stages (by default a coarse one with few steps, then
  the full one); each finished stage is delivered.
- **Status.** ``on_status(state, message, progress, hint)`` with ``state`` ∈ idle / computing /
  error; progress is reported at most ``progress_hz`` times a second; errors carry the message and
  what to do, and the exception stays in :attr:`Session.error` (never swallowed).
- **Callbacks on the kernel's thread.** Results and statuses are handed to ``dispatch`` (by default
  the kernel's IO loop ``add_callback``, which is thread-safe), so traits are never set from the
  worker thread. They wait in order in an outbox; :meth:`Session.flush` delivers them at once on the
  calling thread, for code that needs the answer before the IO loop runs again (a cell that saves
  the page it has just created: the loop is that cell's own thread, busy running it).
- **A synchronous mode** (``sync=True``) runs the last stage inline, for tests and ``nbconvert``,
  and raises errors after reporting them.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attrwidgets._omp import release_pool

__all__ = ["Session", "Stage", "Superseded", "kernel_dispatch"]

log = logging.getLogger(__name__)

STATES = ("idle", "computing", "error")


class Superseded(Exception):
    """Raised inside ``progress`` when a newer request has arrived: the computation stops."""


@dataclass(frozen=True)
class Stage:
    """One step of a progressive answer: a name ("coarse", "full") and the params to compute with.

    ``extra``: a stage that follows the answer and is not part of it (an evaluation of the final
    map): the last stage that is not extra is the final one, and extra stages run after it.
    """

    name: str
    params: dict[str, Any]
    extra: bool = False


def _final_index(stages: tuple[Stage, ...]) -> int:
    """The index of the final answer's stage (the last that is not extra), -1 when all are extra."""
    return max((i for i, s in enumerate(stages) if not s.extra), default=-1)


@dataclass(frozen=True)
class _Request:
    generation: int
    stages: tuple[Stage, ...]


def kernel_dispatch() -> Callable[[Callable[[], None]], None] | None:
    """``add_callback`` of the running IPython kernel's IO loop, or None outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    loop = getattr(kernel, "io_loop", None)
    return getattr(loop, "add_callback", None)


def describe_error(error: BaseException) -> str:
    """What a person can do about an error raised by a computation."""
    text = str(error).lower()
    if isinstance(error, MemoryError) or "out of memory" in text:
        return "Lower the steps, or give the engine a smaller budget: attrwidgets.config.memory = '512MiB'."
    if "baseline" in text or "reference" in text:
        return "Pick another baseline, or pass references=... to explore() for the training-set baseline."
    if "target" in text:
        return "Pick a target from the list of top classes."
    return "See explorer.error for the traceback; change a control to try again."


class Session:
    """Runs ``compute`` off the kernel's main thread, newest request first; see the module docstring.

    Parameters
    ----------
    compute : callable
        ``compute(params, stage_name, progress) -> payload``. It must call ``progress(done, total)``
        now and then (between chunks) and let :class:`Superseded` propagate.
    on_result : callable
        ``on_result(generation, stage_name, payload, final)``, on the dispatch thread, only for the
        newest request.
    on_status : callable
        ``on_status(state, message, progress, hint, generation)``.
    plan : callable, optional
        ``plan(params) -> list[Stage]``; default one "full" stage.
    sync : bool
        Compute inline in :meth:`request` (the last stage only) and raise errors.
    dispatch : callable, optional
        Runs a callback on the kernel's thread; default :func:`kernel_dispatch`, else inline.
    progress_hz : float
        Most status updates per second while computing.
    """

    def __init__(
        self,
        compute: Callable[[dict[str, Any], str, Callable[[int, int], None]], Any],
        *,
        on_result: Callable[[int, str, Any, bool], None],
        on_status: Callable[[str, str, float | None, str, int], None],
        plan: Callable[[dict[str, Any]], list[Stage]] | None = None,
        sync: bool = False,
        dispatch: Callable[[Callable[[], None]], None] | None = None,
        progress_hz: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._on_result = on_result
        self._on_status = on_status
        self._plan = plan or (lambda params: [Stage("full", dict(params))])
        self.sync = bool(sync)
        self._dispatch = dispatch if dispatch is not None else (kernel_dispatch() or _inline)
        self._interval = 1.0 / progress_hz if progress_hz > 0 else 0.0
        self._clock = clock
        self._lock = threading.Condition()
        self._generation = 0
        self._pending: _Request | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._outbox: collections.deque[Callable[[], None]] = collections.deque()
        self._delivering = threading.RLock()
        self.error: BaseException | None = None
        """The last exception a computation raised (with its ``__traceback__``), or None."""
        self.dropped = 0
        """How many finished results were dropped because a newer request had arrived."""

    # -- requests ------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The number of the newest request (0 before the first)."""
        return self._generation

    def request(self, params: dict[str, Any], stages: list[Stage] | None = None) -> int:
        """Ask for a computation with ``params`` (in ``stages``, default ``plan(params)``); returns
        its generation. Newer requests win."""
        stages = tuple(self._plan(dict(params)) if stages is None else stages)
        if not stages:
            msg = "plan() returned no stages"
            raise ValueError(msg)
        with self._lock:
            if self._closed:
                msg = "this session is closed"
                raise RuntimeError(msg)
            self._generation += 1
            request = _Request(self._generation, stages)
            if not self.sync:
                self._pending = request
                self._ensure_thread()
                self._lock.notify_all()
        if not self.sync and threading.current_thread() is not self._thread:
            release_pool()  # this thread's idle OpenMP workers would slow the worker's (see _omp.py)
        if self.sync:  # the final stage and what follows it
            self._run(request, stages[max(0, _final_index(stages)) :], inline=True)
        return request.generation

    @property
    def busy(self) -> bool:
        """Whether a request is waiting or running."""
        with self._lock:
            return self._pending is not None or self._busy

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no request is waiting or running; True if that happened within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending is not None or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def cancel(self, message: str = "cancelled: the last result stays; change a control to compute again") -> int:
        """Stop the running computation at its next progress call and drop any waiting request.

        Cooperative: the computation stops between chunks (``progress`` raises :class:`Superseded`).
        The status becomes idle with ``message``; returns the generation it is reported under.
        """
        with self._lock:
            self._generation += 1
            self._pending = None
            generation = self._generation
            self._lock.notify_all()
        self._post(lambda: self._status(generation, "idle", message, None, ""))
        return generation

    def flush(self) -> int:
        """Deliver now, on the calling thread and in order, the results and statuses still waiting
        for the dispatch thread; returns how many. Call it from the thread that owns the callbacks'
        targets (the kernel's main thread). What is delivered here is not delivered again."""
        return self._deliver()

    def close(self) -> None:
        """Stop the worker thread (a running computation stops at its next progress call)."""
        with self._lock:
            self._closed = True
            self._generation += 1
            self._pending = None
            self._lock.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    # -- delivery --------------------------------------------------------------------------------
    def _post(self, callback: Callable[[], None]) -> None:
        self._outbox.append(callback)  # deque.append is atomic: safe from the worker thread
        self._dispatch(self._deliver)

    def _deliver(self) -> int:
        count = 0
        with self._delivering:  # one deliverer at a time, so the order holds
            while True:
                try:
                    callback = self._outbox.popleft()
                except IndexError:
                    return count
                callback()
                count += 1

    # -- worker ----------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._worker, name="attrwidgets-session", daemon=True)
            self._thread.start()

    def _worker(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                request, self._pending = self._pending, None
                self._busy = True
            try:
                self._run(request, request.stages, inline=False)
            finally:
                with self._lock:
                    self._busy = False
                    idle = self._pending is None
                    self._lock.notify_all()
            if idle:  # nothing waiting: free this thread's OpenMP workers for the user's own cells
                release_pool()

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._closed

    def _run(self, request: _Request, stages: tuple[Stage, ...], *, inline: bool) -> None:
        gen = request.generation
        post = _inline if inline else self._post
        last_report = [-float("inf")]

        final_index = _final_index(stages)
        for number, stage in enumerate(stages):
            final = number == final_index
            label = f"{stage.name} ({number + 1}/{len(stages)})" if len(stages) > 1 else stage.name

            def progress(done: int, total: int, label: str = label) -> None:
                if not self._current(gen):
                    raise Superseded
                now = self._clock()
                if now - last_report[0] >= self._interval:
                    last_report[0] = now
                    fraction = min(1.0, max(0.0, done / total)) if total else None
                    post(lambda f=fraction: self._status(gen, "computing", f"computing {label}", f, ""))

            if not self._current(gen):
                return
            post(lambda label=label: self._status(gen, "computing", f"computing {label}", 0.0, ""))
            try:
                payload = self._compute(dict(stage.params), stage.name, progress)
            except Superseded:
                return
            except Exception as error:  # reported to the widget and kept: never swallowed
                self.error = error
                log.debug("attrwidgets session: computation failed\n%s", traceback.format_exc())
                message = f"{type(error).__name__}: {error}"
                hint = describe_error(error)
                post(lambda m=message, h=hint: self._status(gen, "error", m, None, h))
                if inline:
                    raise
                return
            post(lambda p=payload, s=stage.name, f=final: self._result(gen, s, p, f))
        post(lambda: self._status(gen, "idle", "", None, ""))

    # -- on the kernel's thread ------------------------------------------------------------------------
    def _result(self, generation: int, stage: str, payload: Any, final: bool) -> None:
        if not self._current(generation):
            self.dropped += 1
            return
        if final:
            self.error = None
        self._on_result(generation, stage, payload, final)

    def _status(self, generation: int, state: str, message: str, progress: float | None, hint: str) -> None:
        if self._current(generation):
            self._on_status(state, message, progress, hint, generation)


def _inline(callback: Callable[[], None]) -> None:
    callback()
