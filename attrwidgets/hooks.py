"""The one context manager that owns every hook a method registers and the model state it changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["ModelGuard"]


class ModelGuard:
    """Put a model in eval mode, own the hooks registered through it, and restore everything on exit.

    On exit (normal, exception or KeyboardInterrupt) every handle registered through the guard is
    removed, each submodule's ``training`` flag, each parameter's ``requires_grad`` and ``.grad`` are
    put back exactly, and the per-call ``store`` is emptied. Exceptions are never swallowed.

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
        self._training = [(m, m.training) for m in self.model.modules()]
        self._params = [(p, p.requires_grad, p.grad) for p in self.model.parameters()]
        if self.eval_mode:
            self.model.eval()
        return self

    def __exit__(self, *exc: object) -> bool:
        self.remove()
        for module, flag in self._training:
            module.training = flag
        for param, requires_grad, grad in self._params:
            if param.requires_grad != requires_grad:
                param.requires_grad_(requires_grad)
            if param.grad is not grad:
                param.grad = grad
        self.store.clear()
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
