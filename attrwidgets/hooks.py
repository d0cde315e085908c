"""The one context manager that owns every hook a method registers and the model state it changes."""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from attrwidgets._malloc import held

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["ModelGuard"]

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _lock_for(model: nn.Module) -> threading.RLock:
    """One re-entrant lock per model object, made on first use and dropped with the model."""
    with _LOCKS_LOCK:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


class ModelGuard:
    """Put a model in eval mode, own the hooks registered through it, and restore everything on exit.

    On exit (normal, exception or KeyboardInterrupt) every handle registered through the guard is
    removed, each submodule's ``training`` flag, each parameter's ``requires_grad`` and ``.grad`` are
    put back exactly, and the per-call ``store`` is emptied. Exceptions are never swallowed.

    One thread at a time: the guard holds a lock of the model (re-entrant, so a method may call
    another inside its guard). Two explorers on one model compute in turn, not together, so one's
    hooks never fire in the other's forward and neither restores a state the other changed.

    Per-call tensors that hooks need go in ``guard.store`` (a dict owned by the guard), never on the
    user's modules.

    Examples
    --------
    >>> with ModelGuard(model) as guard:                      # doctest: +SKIP
    ...     guard.forward_hook(model.layer4, lambda m, i, o: guard.store.__setitem__("act", o))
    ...     model(x)
    """

    def __init__(self, model: nn.Module, *, eval_mode: bool = True, hooks: bool = False) -> None:
        if hooks and isinstance(model, torch.jit.ScriptModule):
            msg = (
                f"{type(model).__name__} is a TorchScript module: this method changes backward rules "
                "with module hooks, which TorchScript does not run. Pass the original nn.Module."
            )
            raise TypeError(msg)
        self.model = model
        self.eval_mode = eval_mode
        self.store: dict[str, Any] = {}
        self._handles: list[Any] = []
        self._training: list[tuple[nn.Module, bool]] = []
        self._params: list[tuple[torch.Tensor, bool, torch.Tensor | None]] = []

    def __enter__(self) -> ModelGuard:
        self._lock = _lock_for(self.model)
        self._lock.acquire()
        self._heap = held()  # large blocks reused from the heap for the call (glibc; see _malloc.py)
        self._heap.__enter__()
        try:
            self._training = [(m, m.training) for m in self.model.modules()]
            self._params = [(p, p.requires_grad, p.grad) for p in self.model.parameters()]
            if self.eval_mode:
                self.model.eval()
        except BaseException:
            self._heap.__exit__(None, None, None)
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> bool:
        try:
            self.remove()
            for module, flag in self._training:
                module.training = flag
            for param, requires_grad, grad in self._params:
                if param.requires_grad != requires_grad:
                    param.requires_grad_(requires_grad)
                if param.grad is not grad:
                    param.grad = grad
            self.store.clear()
        finally:
            try:
                self._heap.__exit__(None, None, None)
            finally:
                self._lock.release()
        return False

    def remove(self) -> None:
        """Remove every hook registered through this guard (safe to call twice)."""
        while self._handles:
            self._handles.pop().remove()

    def add(self, handle: Any) -> Any:
        """Take ownership of a removable handle (from any ``register_*`` call)."""
        self._handles.append(handle)
        return handle

    def forward_hook(self, module: nn.Module, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``module.register_forward_hook(fn)``, removed on exit."""
        return self.add(module.register_forward_hook(fn, **kwargs))

    def forward_pre_hook(self, module: nn.Module, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``module.register_forward_pre_hook(fn)``, removed on exit."""
        return self.add(module.register_forward_pre_hook(fn, **kwargs))

    def backward_hook(self, module: nn.Module, fn: Callable[..., Any]) -> Any:
        """``module.register_full_backward_hook(fn)``, removed on exit."""
        return self.add(module.register_full_backward_hook(fn))

    def backward_pre_hook(self, module: nn.Module, fn: Callable[..., Any]) -> Any:
        """``module.register_full_backward_pre_hook(fn)``, removed on exit."""
        return self.add(module.register_full_backward_pre_hook(fn))

    def tensor_hook(self, tensor: torch.Tensor, fn: Callable[..., Any]) -> Any:
        """``tensor.register_hook(fn)``, removed on exit."""
        return self.add(tensor.register_hook(fn))
