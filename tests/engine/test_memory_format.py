"""config.channels_last: channels-last batches where they are faster, never a change in the answer."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import attrwidgets as aw
from attrwidgets.model import Explained
from tests.conftest import DEVICES, make_cnn

# few steps on purpose: these tests compare layouts, not quadratures
pytestmark = pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")


class Recorder(nn.Module):
    """Wraps a model and records, per forward, whether its batch arrived channels-last."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.formats: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.formats.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return self.inner(x)


class ViewNet(nn.Module):
    """Flattens a conv map with .view, which raises on a channels-last map (a common older idiom)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 4, 3, padding=1, dtype=torch.float64)
        self.fc = nn.Linear(4 * 12 * 12, 5, dtype=torch.float64)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(torch.relu(self.conv(x)).view(len(x), -1))


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_default_is_auto_and_bad_values_are_refused() -> None:
    assert aw.config.channels_last == "auto"
    with pytest.raises(ValueError, match="'auto', True or False"):
        aw.config.channels_last = "yes"
    assert aw.config.channels_last == "auto"


@pytest.mark.parametrize(
    "method",
    [
        lambda m, x: aw.integrated_gradients(m, x, steps=16, rule="riemann_trapezoid"),
        lambda m, x: aw.smoothgrad(m, x, samples=12, seed=1),
        lambda m, x: aw.expected_gradients(m, x, references=x.flip(0), samples=12, seed=1),
        lambda m, x: aw.gradient(m, x),
    ],
    ids=["ig", "smoothgrad", "expected_gradients", "gradient"],
)
def test_conv_model_on_cpu_gets_channels_last_and_the_same_answer(method, images, monkeypatch) -> None:
    if not torch.backends.mkldnn.is_available():
        pytest.skip("auto uses channels-last only where oneDNN runs the convolutions")
    model = Recorder(make_cnn())
    fast = method(model, images)
    assert model.formats and all(model.formats), model.formats  # every batch, first pass included
    assert fast.values.is_contiguous()  # what the user gets back is in the usual layout

    monkeypatch.setattr(aw.config, "channels_last", False)
    model.formats.clear()
    plain = method(model, images)
    assert model.formats and not any(model.formats)
    torch.testing.assert_close(fast.values, plain.values, rtol=1e-9, atol=1e-12)


def test_a_model_that_cannot_take_channels_last_falls_back_once_per_call(images, monkeypatch) -> None:
    # Decided per call, with no cache keyed by the user's model: one failed one-input trial per call.
    if not torch.backends.mkldnn.is_available():
        pytest.skip("auto uses channels-last only where oneDNN runs the convolutions")
    model = ViewNet()
    with pytest.raises(RuntimeError, match="view"):  # the failure the fallback exists for
        model(images.contiguous(memory_format=torch.channels_last))
    monkeypatch.setattr(aw.config, "channels_last", False)
    model.calls = 0
    plain = aw.integrated_gradients(model, images, steps=8, rule="riemann_trapezoid")
    forwards = model.calls
    monkeypatch.setattr(aw.config, "channels_last", "auto")
    model.calls = 0
    attr = aw.integrated_gradients(model, images, steps=8, rule="riemann_trapezoid")
    assert model.calls == forwards + 1  # the first input's channels-last trial, then contiguous
    model.calls = 0
    again = aw.integrated_gradients(model, images, steps=8, rule="riemann_trapezoid")
    assert model.calls == forwards + 1
    torch.testing.assert_close(attr.values, plain.values, rtol=0, atol=0)
    torch.testing.assert_close(again.values, plain.values, rtol=0, atol=0)


class MnistNet(nn.Module):
    """The classic MNIST net: one input channel, flattened with .view after the convolutions."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = nn.Conv2d(1, 4, 3, dtype=torch.float64)
        self.conv2 = nn.Conv2d(4, 8, 3, dtype=torch.float64)
        self.fc = nn.Linear(8 * 5 * 5, 10, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 2)
        return self.fc(x.view(x.shape[0], -1))


@pytest.mark.parametrize(
    "method",
    [
        lambda m, x: aw.smoothgrad(m, x, samples=12, seed=1),
        lambda m, x: aw.smoothgrad(m, x, samples=12, seed=1, base="input_x_gradient"),
        lambda m, x: aw.integrated_gradients(m, x, steps=12, rule="riemann_trapezoid"),
        lambda m, x: aw.expected_gradients(m, x, references=x.flip(0), samples=12, seed=1),
        lambda m, x: aw.occlusion(m, x, window=3, stride=3),
    ],
    ids=["smoothgrad", "smoothgrad_ixg", "ig", "expected_gradients", "occlusion"],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_one_channel_images_with_a_view_flatten_work_in_every_chunk(method, batch, monkeypatch) -> None:
    # Issue 9, item 11: with C = 1 the first pass cannot tell channels-last from contiguous; a later
    # chunk's layout failure must fall back the same way, and every chunk use the settled layout.
    x = torch.rand(batch, 1, 14, 14, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    model = MnistNet()
    got = method(model, x)
    monkeypatch.setattr(aw.config, "channels_last", False)
    plain = method(model, x)
    torch.testing.assert_close(got.values, plain.values, rtol=1e-9, atol=1e-12)


def test_an_error_that_is_not_about_the_layout_reaches_the_user_without_a_retry(images) -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3, dtype=torch.float64)
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            msg = "shapes do not match in the user's model"
            raise RuntimeError(msg)

    model = Broken()
    with pytest.raises(RuntimeError, match="shapes do not match"):
        aw.integrated_gradients(model, images, steps=4)
    assert model.calls == 1


@pytest.mark.parametrize("device", DEVICES)
def test_auto_is_for_convolutions_on_a_cpu_only(device, images, monkeypatch) -> None:
    # On CUDA channels-last pays off mainly in half precision; auto leaves GPUs alone.
    cnn = make_cnn(device=device)
    expected = device == "cpu" and torch.backends.mkldnn.is_available()
    assert Explained(cnn, images.to(device)).channels_last_candidate() is expected
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 5, dtype=torch.float64)).to(device)
    assert not Explained(mlp, images.to(device)).channels_last_candidate()  # no convolution
    assert not Explained(mlp, images.flatten(1).to(device)).channels_last_candidate()  # not 4-D
    monkeypatch.setattr(aw.config, "channels_last", True)
    assert Explained(mlp, images.to(device)).channels_last_candidate()
    assert not Explained(mlp, images.flatten(1).to(device)).channels_last_candidate()
    monkeypatch.setattr(aw.config, "channels_last", False)
    assert not Explained(cnn, images.to(device)).channels_last_candidate()


class LateViewNet(ViewNet):
    """Takes channels-last for its first forward, then (in a later chunk) raises a layout error on it."""

    def __init__(self) -> None:
        super().__init__()
        self.formats: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.formats.append(not x.is_contiguous())
        h = torch.relu(self.conv(x))
        flat = h.reshape(len(x), -1) if len(self.formats) == 1 else h.view(len(x), -1)
        return self.fc(flat)


def test_a_layout_failure_in_a_later_chunk_falls_back_for_the_rest_of_the_call(images, monkeypatch) -> None:
    if not torch.backends.mkldnn.is_available():
        pytest.skip("auto uses channels-last only where oneDNN runs the convolutions")
    model = LateViewNet()
    attr = aw.integrated_gradients(model, images, steps=8, rule="riemann_trapezoid")
    assert model.formats[0] and model.formats[1]  # the first input, then the failing chunk's trial
    assert not any(model.formats[2:])  # every chunk after the failure went contiguous
    monkeypatch.setattr(aw.config, "channels_last", False)
    model.formats.clear()
    plain = aw.integrated_gradients(model, images, steps=8, rule="riemann_trapezoid")
    torch.testing.assert_close(attr.values, plain.values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("setting", ["auto", False])
def test_channels_last_model_and_inputs_of_the_user_give_the_same_answer(setting, images, monkeypatch) -> None:
    # RELIABILITY 21 (pytorch#107199): a user's channels-last model or inputs change nothing.
    monkeypatch.setattr(aw.config, "channels_last", setting)
    plain = make_cnn()
    expected = {name: fn(plain, images) for name, fn in METHODS.items()}
    converted = make_cnn().to(memory_format=torch.channels_last)
    inputs = images.contiguous(memory_format=torch.channels_last)
    for name, fn in METHODS.items():
        got = fn(converted, inputs)
        torch.testing.assert_close(got.values, expected[name].values, rtol=1e-9, atol=1e-12, msg=name)
    assert inputs.is_contiguous(memory_format=torch.channels_last)  # the caller's tensor untouched


METHODS = {
    "ig": lambda m, x: aw.integrated_gradients(m, x, steps=8, rule="gausslegendre"),
    "smoothgrad": lambda m, x: aw.smoothgrad(m, x, samples=6),
    "guided_backprop": aw.guided_backprop,
    "grad_cam": aw.grad_cam,
    "deeplift": aw.deeplift,
    "fullgrad": aw.fullgrad,
    "occlusion": lambda m, x: aw.occlusion(m, x, window=4, stride=4),
}
