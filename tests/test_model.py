"""Model wrapping: every bad input gets a clear error, and nothing of the user's is changed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import attrwidgets as aw
from tests.conftest import make_cnn


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        (np.zeros((1, 3, 12, 12)), TypeError, "torch.from_numpy"),
        (torch.zeros(1, 3, 12, 12, dtype=torch.long), TypeError, "attribute the embeddings"),
        (torch.zeros(1, 3, 12, 12, dtype=torch.uint8), TypeError, r"images.float\(\) / 255"),
        (torch.zeros(12), ValueError, r"unsqueeze\(0\)"),
        (torch.full((1, 3, 12, 12), float("nan"), dtype=torch.float64), ValueError, "non-finite"),
    ],
)
def test_bad_inputs(inputs: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        aw.integrated_gradients(make_cnn(), inputs)


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        (5, ValueError, r"valid targets are 0\.\.4 for model output of shape \(2, 5\)"),
        (-1, ValueError, "out of range"),
        ([0, 1, 2], ValueError, "got 3 targets for 2 inputs"),
        (torch.tensor([0.5, 1.0]), TypeError, "integers"),
        ("cat", TypeError, "must be None, an int"),
        (True, TypeError, "must be None, an int"),
    ],
)
@pytest.mark.parametrize("method", [aw.gradient, aw.input_x_gradient, aw.integrated_gradients])
def test_bad_targets_fail_after_one_forward(target: object, error: type, match: str, method) -> None:
    calls: list[int] = []
    model = make_cnn()
    model.register_forward_pre_hook(lambda m, a: calls.append(len(a[0])))
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    with pytest.raises(error, match=match):
        method(model, x, target=target)
    assert calls == [1]  # one forward of the first input: the target is checked before any further work


@pytest.mark.parametrize(
    "method",
    [aw.gradient, aw.input_x_gradient, aw.guided_backprop, aw.deconvnet, aw.integrated_gradients, aw.smoothgrad],
)
def test_a_batch_goes_through_the_model_in_chunks_within_the_budget(method) -> None:
    calls: list[int] = []
    model = make_cnn()
    x = torch.rand(7, 3, 12, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    options = {"steps": 4, "rule": "gausslegendre"} if method is aw.integrated_gradients else {}
    options |= {"samples": 3} if method is aw.smoothgrad else {}
    whole = method(model, x, target=[0, 1, 2, 3, 4, 0, 1], **options)
    model.register_forward_pre_hook(lambda m, a: calls.append(len(a[0])))
    tight = method(model, x, target=[0, 1, 2, 3, 4, 0, 1], memory=1, **options)
    assert calls[:7] == [1] * 7  # the pass at the inputs: one input per forward under a 1-byte budget
    torch.testing.assert_close(tight.values, whole.values, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(tight.score, whole.score, rtol=1e-12, atol=1e-14)
    assert tight.target.tolist() == [0, 1, 2, 3, 4, 0, 1]


def test_targets_as_int_list_and_tensor_agree(cnn: nn.Module, images: torch.Tensor) -> None:
    a = aw.gradient(cnn, images, target=[1, 1, 1]).values
    torch.testing.assert_close(aw.gradient(cnn, images, target=1).values, a)
    torch.testing.assert_close(aw.gradient(cnn, images, target=torch.tensor([1, 1, 1])).values, a)
    torch.testing.assert_close(aw.gradient(cnn, images, target=torch.tensor(1)).values, a)
    predicted = cnn(images).argmax(1)
    assert aw.gradient(cnn, images).target.tolist() == predicted.tolist()


def test_one_output_model_uses_index_zero() -> None:
    model = nn.Sequential(nn.Linear(3, 1))
    assert aw.gradient(model, torch.rand(2, 3)).target.tolist() == [0, 0]
    flat = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))  # output shape (N,)
    assert aw.gradient(flat, torch.rand(2, 3)).target.tolist() == [0, 0]


def test_model_returning_a_tuple_gets_a_clear_error() -> None:
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    with pytest.raises(TypeError, match="wrap it so it returns"):
        aw.gradient(Pair(), torch.rand(2, 3))


def test_device_mismatch_says_what_to_do() -> None:
    model = make_cnn()
    meta_inputs = torch.rand(1, 3, 12, 12, dtype=torch.float64, device="meta")
    with pytest.raises(ValueError, match=r"move them with inputs.to\('cpu'\)"):
        aw.integrated_gradients(model, meta_inputs)


def test_model_without_parameters_works() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Softplus())
    attr = aw.integrated_gradients(model, torch.rand(1, 4, dtype=torch.float64), target=2, steps=16)
    assert torch.isfinite(attr.values).all()


def test_non_differentiable_forward_raises() -> None:
    class Detached(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.detach() * 2

    with pytest.raises(RuntimeError, match="does not depend on its input"):
        aw.gradient(Detached(), torch.rand(1, 3))


def test_baseline_shape_mismatch_names_both_shapes(cnn: nn.Module, images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"\(3, 5, 5\) does not broadcast to the inputs' shape \(3, 3, 12, 12\)"):
        aw.integrated_gradients(cnn, images, baseline=torch.zeros(3, 5, 5))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "positive int or 'auto'"),
        ({"steps": "many"}, "positive int or 'auto'"),
        ({"steps": 1, "rule": "riemann_trapezoid"}, "steps >= 2"),
        ({"rule": "simpson", "steps": 10}, "unknown rule"),
        ({"tolerance": 2.0}, "tolerance must be a fraction"),
        ({"max_steps": 4}, "max_steps must be an int from 9"),
        ({"memory": "lots"}, "is not a size"),
        ({"memory": -5}, "must be positive"),
        ({"baseline": "grey"}, "unknown baseline 'grey'"),
        ({"baseline": [0.1, 0.2]}, "baseline must be a name"),
    ],
)
def test_bad_options(kwargs: dict, match: str, cnn: nn.Module, images: torch.Tensor) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        aw.integrated_gradients(cnn, images, **kwargs)


def _state(model: nn.Module) -> tuple:
    return (
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else (id(p.grad), p.grad.clone()) for p in model.parameters()],
        [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def _assert_same_state(before: tuple, after: tuple) -> None:
    assert before[0] == after[0]
    assert before[1] == after[1]
    for b, a in zip(before[2], after[2], strict=True):
        assert (b is None) == (a is None)
        if b is not None:
            assert b[0] == a[0] and torch.equal(b[1], a[1])
    assert before[3] == after[3]
    for k in before[4]:
        assert torch.equal(before[4][k], after[4][k]), k


@pytest.mark.parametrize("method", [aw.gradient, aw.input_x_gradient, aw.integrated_gradients])
def test_nothing_of_the_users_changes(method, images: torch.Tensor) -> None:
    model = make_cnn()
    model.train()
    model.head.eval()  # a mixed state that model.train() would not restore
    model.features[0].weight.requires_grad_(False)
    model.head.weight.grad = torch.ones_like(model.head.weight)
    user_hook = model.head.register_forward_hook(lambda m, i, o: None)
    x = images.clone().requires_grad_(True)
    x_before = x.detach().clone()
    before = _state(model)
    method(model, x)
    _assert_same_state(before, _state(model))
    assert torch.equal(x.detach(), x_before) and x.requires_grad and x.grad is None
    assert len(model.head._forward_hooks) == 1
    user_hook.remove()


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_state_restored_when_the_forward_raises(exc: BaseException, images: torch.Tensor) -> None:
    model = make_cnn()
    model.train()
    calls = {"n": 0}

    def explode(module: nn.Module, args: tuple) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # inside the path, after the first pass
            raise exc

    handle = model.head.register_forward_pre_hook(explode)
    before = _state(model)
    with pytest.raises(type(exc)):
        aw.integrated_gradients(model, images, steps=40)
    handle.remove()
    after = _state(model)
    before[3][-1], after[3][-1] = None, None  # the user's own hook was removed by the user
    _assert_same_state(before, after)


def test_evaluation_in_eval_mode_even_for_a_training_model(images: torch.Tensor) -> None:
    trained = make_cnn()
    training = make_cnn()
    training.train()  # BatchNorm and dropout would make the result batch-dependent in train mode
    torch.testing.assert_close(
        aw.integrated_gradients(training, images, steps=8).values,
        aw.integrated_gradients(trained, images, steps=8).values,
    )
    assert training.training


def test_final_softmax_is_warned() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1))
    with pytest.warns(UserWarning, match="Explain the logits"):
        aw.gradient(model, torch.rand(1, 3))


def test_torchscript_refused_by_hook_methods() -> None:
    from attrwidgets.hooks import ModelGuard

    scripted = torch.jit.script(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="TorchScript"):
        ModelGuard(scripted, hooks=True)
