"""Warnings raised on one thread, collected for that thread only: the explorer's notes.

``warnings.catch_warnings`` swaps process-wide state (the filter list, ``showwarning``), so using
it in the explorer's worker thread caught the warnings the user raised meanwhile on the main
thread, threw away the filters the user added meanwhile, and let a ``catch_warnings`` block of the
user's collect the engine's warnings. Here instead two thread-aware hooks are installed once, from
the thread that creates an explorer, and never removed:

- around ``warnings.warn``: on a thread inside :func:`capture`, a warning is recorded as it is
  raised, whatever the filters say (as ``catch_warnings`` + ``simplefilter("always")`` did before:
  the notes show every warning of every computation, and ``-W error`` does not break the explorer);
- around ``warnings._showwarnmsg``, the one function that both the C and the Python
  ``warn_explicit`` call to show a warning that passed the filters (``catch_warnings`` saves and
  restores ``showwarning``, and with ``record=True`` bypasses it, so a hook there would get lost or
  skipped): warnings raised by C code (torch's own, say) on a capturing thread are recorded too.

On every other thread both hooks hand the call to what they wrapped, unchanged (``warn`` with one
more ``stacklevel`` for its own frame, so the warning points at the same line); the filter list
is never touched.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["capture", "install"]

_local = threading.local()
_install_lock = threading.Lock()


def _sink() -> list[warnings.WarningMessage] | None:
    return getattr(_local, "sink", None)


class _Warn:
    """Stands in for ``warnings.warn``; see the module docstring."""

    def __init__(self, wrapped: Callable[..., None]) -> None:
        self.wrapped = wrapped
        self.__doc__ = getattr(wrapped, "__doc__", None)

    def __call__(
        self,
        message: object,
        category: type[Warning] | None = None,
        stacklevel: int = 1,
        source: object = None,
        **kwargs: Any,
    ) -> None:
        sink = _sink()
        if sink is None:
            self.wrapped(message, category, stacklevel + 1, source, **kwargs)
            return
        if isinstance(message, Warning):
            category = type(message)
        else:
            category = UserWarning if category is None else category
            message = category(message)
        try:
            frame = sys._getframe(max(1, stacklevel))
            filename, lineno = frame.f_code.co_filename, frame.f_lineno
        except ValueError:  # stacklevel beyond the stack, as warnings.warn puts it
            filename, lineno = "sys", 1
        sink.append(warnings.WarningMessage(message, category, filename, lineno, source=source))


class _Show:
    """Stands in for ``warnings._showwarnmsg``; see the module docstring."""

    def __init__(self, wrapped: Callable[[warnings.WarningMessage], None]) -> None:
        self.wrapped = wrapped

    def __call__(self, msg: warnings.WarningMessage) -> None:
        sink = _sink()
        if sink is None:
            self.wrapped(msg)
        else:
            sink.append(msg)


def install() -> None:
    """Put the two hooks in place (once; again only if somebody replaced them since)."""
    with _install_lock:
        if not isinstance(warnings.warn, _Warn):
            warnings.warn = _Warn(warnings.warn)
        show = getattr(warnings, "_showwarnmsg", None)
        if show is not None and not isinstance(show, _Show):
            warnings._showwarnmsg = _Show(show)


@contextmanager
def capture() -> Iterator[list[warnings.WarningMessage]]:
    """Collect the warnings raised on this thread inside the block (other threads are unaffected).

    :func:`install` must have run (the explorer does it on the thread that creates it); if the
    hooks are gone, warnings take their usual way to the user instead of the list.
    """
    caught: list[warnings.WarningMessage] = []
    outer = _sink()
    _local.sink = caught
    try:
        yield caught
    finally:
        _local.sink = outer
