"""Every registered method leaves the model, its hooks and the caller's tensors exactly as it found them.

Each method runs normally, with a bad target and with a module that raises inside the forward (an
exception and a KeyboardInterrupt, at the first and at the last forward of the call). Afterwards:
no hook of ours remains (the user's are still there), each submodule's training flag, each
parameter's ``requires_grad`` and ``.grad`` (the same tensor object, the same values), parameters
and buffers, and the input tensor (values, ``requires_grad``, ``.grad``) are unchanged
(Captum's tests/attr/test_hook_removal.py, RELIABILITY items 1, 2, 6, 8, 9, 10).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules import module as torch_module

import attrwidgets.methods  # noqa: F401 - fills the registry
from attrwidgets.registry import REGISTRY
from tests.probes import SmallCNN

# This file checks state, not numbers: the methods' own warnings (e.g. few samples) are beside the point.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

METHODS = sorted(REGISTRY)
HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
)
GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


class Boom(Exception):
    """Raised by the trap module; must reach the caller unchanged."""


class Trap(nn.Module):
    """Identity that counts its calls and raises ``error`` at call number ``fail_at``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fail_at: int | None = None
        self.error: BaseException | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise self.error
        return x


class Net(SmallCNN):
    """The probes' small CNN with a :class:`Trap` between its features and its head, so an error
    is raised inside the model, after the features' hooks have run."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        super().__init__()
        self.trap = Trap()
        self.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trap(self.features(x)).flatten(1))


def _model() -> Net:
    """Train mode with one submodule in eval, a frozen parameter, pre-set .grad tensors, user hooks."""
    model = Net().train()
    model.features[3].eval()
    model.features[0].weight.requires_grad_(False)
    model.head.weight.grad = torch.full_like(model.head.weight, 0.25)
    model.features[0].weight.grad = torch.full_like(model.features[0].weight, -1.0)
    model.head.register_forward_hook(lambda m, i, o: None)
    model.features[0].register_forward_pre_hook(lambda m, i: None)
    model.head.register_full_backward_hook(lambda m, gi, go: None)
    return model


def _inputs(requires_grad: bool) -> torch.Tensor:
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    if requires_grad:
        x.requires_grad_(True)
        x.grad = torch.full_like(x, 0.5)
    return x


def _kwargs(name: str) -> dict:
    """Small, valid options for any registered method: references when needed, few samples and steps."""
    options = REGISTRY[name].options
    kwargs: dict = {}
    if "references" in options or "references" in REGISTRY[name].needs:
        kwargs["references"] = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    if "samples" in options:
        kwargs["samples"] = 4
    if "steps" in options:
        kwargs["steps"] = 8
    return kwargs


def _snapshot(model: nn.Module, x: torch.Tensor) -> dict:
    params = dict(model.named_parameters())
    return {
        "hooks": {(name, attr): dict(getattr(m, attr, {})) for name, m in model.named_modules() for attr in HOOK_DICTS},
        "global": {attr: dict(getattr(torch_module, attr)) for attr in GLOBAL_HOOKS},
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in params.items()},
        "grad": {name: (p.grad, None if p.grad is None else p.grad.clone()) for name, p in params.items()},
        "values": {name: t.detach().clone() for name, t in [*params.items(), *model.named_buffers()]},
        "x": (x.detach().clone(), x.requires_grad, x.grad, None if x.grad is None else x.grad.clone()),
        "grad_mode": torch.is_grad_enabled(),
        "modes": torch._C._len_torch_function_stack(),
    }


def _assert_restored(model: nn.Module, x: torch.Tensor, before: dict) -> None:
    after = _snapshot(model, x)
    assert after["hooks"] == before["hooks"], "hooks left on (or user hooks removed from) modules"
    assert after["global"] == before["global"]
    assert sum(len(h) for h in after["hooks"].values()) == 3  # the user's three hooks are still there
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    for name, (grad, values) in before["grad"].items():
        now = dict(model.named_parameters())[name].grad
        assert now is grad, f"{name}.grad was replaced"
        if grad is not None:
            assert torch.equal(now, values), f"{name}.grad changed"
    for name, value in before["values"].items():
        assert torch.equal(after["values"][name], value), f"{name} changed"
    x0, requires_grad, grad, grad_values = before["x"]
    assert torch.equal(x.detach(), x0)
    assert x.requires_grad == requires_grad
    assert x.grad is grad
    if grad is not None:
        assert torch.equal(x.grad, grad_values)
    assert after["grad_mode"] == before["grad_mode"]
    assert after["modes"] == before["modes"], "a torch function mode was left on the stack"


@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain_input", "input_with_grad"])
@pytest.mark.parametrize("name", METHODS)
def test_normal_call(name: str, requires_grad: bool) -> None:
    model, x = _model(), _inputs(requires_grad)
    before = _snapshot(model, x)
    attr = REGISTRY[name].fn(model, x, target=1, **_kwargs(name))
    assert attr.method == name
    assert torch.isfinite(attr.values).all()
    assert attr.target.tolist() == [1, 1]
    _assert_restored(model, x, before)


@pytest.mark.parametrize("name", METHODS)
def test_bad_target(name: str) -> None:
    model, x = _model(), _inputs(True)
    before = _snapshot(model, x)
    with pytest.raises(ValueError, match=r"valid targets are 0\.\.4"):
        REGISTRY[name].fn(model, x, target=99, **_kwargs(name))
    _assert_restored(model, x, before)


@pytest.mark.parametrize(
    ("error", "where"),
    [(Boom("boom"), "first"), (Boom("boom"), "last"), (KeyboardInterrupt(), "last")],
    ids=["exception_first_forward", "exception_last_forward", "keyboard_interrupt"],
)
@pytest.mark.parametrize("name", METHODS)
def test_raising_module(name: str, error: BaseException, where: str) -> None:
    model, x = _model(), _inputs(True)
    REGISTRY[name].fn(model, x, target=1, **_kwargs(name))
    forwards = model.trap.calls  # how many forwards one call makes
    model.trap.calls = 0
    model.trap.fail_at, model.trap.error = (1 if where == "first" else forwards), error
    before = _snapshot(model, x)
    with pytest.raises(type(error)) as caught:
        REGISTRY[name].fn(model, x, target=1, **_kwargs(name))
    assert caught.value is error  # propagated unchanged, not wrapped or swallowed
    _assert_restored(model, x, before)


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
@pytest.mark.parametrize("name", METHODS)
def test_under_no_grad(name: str, context) -> None:
    model, x = _model(), _inputs(False)
    expected = REGISTRY[name].fn(model, x, target=1, **_kwargs(name))
    before = _snapshot(model, x)
    with context():
        got = REGISTRY[name].fn(model, x, target=1, **_kwargs(name))
        assert not torch.is_grad_enabled()
    torch.testing.assert_close(got.values, expected.values)
    _assert_restored(model, x, before)


def test_two_threads_on_one_model_take_turns():
    # Two explorers on one model (two worker threads): one's layer hook fired in the other's
    # forward ("ran more than once"), and the one leaving last restored the other's eval mode.
    import threading

    import attrwidgets as aw

    torch.manual_seed(0)
    emb = torch.nn.Embedding(20, 6)
    model = torch.nn.Sequential(emb, torch.nn.Flatten(), torch.nn.Dropout(0.0), torch.nn.Linear(6 * 5, 3))
    model.train()
    ids = torch.tensor([[1, 4, 2, 7, 3]])
    alone = aw.integrated_gradients(model, ids, 1, layer=emb, baseline="zero", steps=64).values
    errors, results = [], []
    start = threading.Barrier(2)

    def work():
        try:
            start.wait()
            for _ in range(5):
                results.append(aw.integrated_gradients(model, ids, 1, layer=emb, baseline="zero", steps=64).values)
        except Exception as error:  # the test reports whatever a thread raised
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(results) == 10
    for values in results:
        torch.testing.assert_close(values, alone)
    assert model.training and all(m.training for m in model.modules()), "the user's train mode is back"
