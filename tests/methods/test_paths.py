"""Integrated Gradients and plain gradients: Captum cross-checks, chunking, by-products, the trace."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.methods.quadrature import QUADRATURE_RULES
from tests.probes import Fn, Recorder, make_cnn

captum_attr = pytest.importorskip("captum.attr")


def test_gradient_and_input_x_gradient_match_captum(cnn: nn.Module, images: torch.Tensor) -> None:
    ours = aw.gradient(cnn, images, target=2)
    theirs = captum_attr.Saliency(cnn).attribute(images, target=2, abs=False)
    torch.testing.assert_close(ours.values, theirs)
    ixg = aw.input_x_gradient(cnn, images, target=[0, 1, 2])
    torch.testing.assert_close(ixg.values, captum_attr.InputXGradient(cnn).attribute(images, target=[0, 1, 2]))
    torch.testing.assert_close(ours.score, cnn(images)[:, 2])


@pytest.mark.parametrize("rule", QUADRATURE_RULES)
@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")
def test_integrated_gradients_match_captum(rule: str, cnn: nn.Module, images: torch.Tensor) -> None:
    # Same points, same weights: equal up to rounding, except the trapezoid rule (see quadrature.py):
    # Captum's weights sum to 1 − 1/n, ours to 1, so ours = Captum's × n/(n − 1).
    n = 20
    base = torch.full_like(images, 0.25)
    preprocess = lambda x: (x - 0.5) / 0.25  # noqa: E731 - composed in front, as a user's Normalize
    ours = aw.integrated_gradients(cnn, images, target=1, baseline=base, steps=n, rule=rule, preprocess=preprocess)
    composed = nn.Sequential(Fn(preprocess), cnn)
    theirs, delta = captum_attr.IntegratedGradients(composed).attribute(
        images, baselines=base, target=1, n_steps=n, method=rule, return_convergence_delta=True
    )
    scale = n / (n - 1) if rule == "riemann_trapezoid" else 1.0
    # Captum keeps its step sizes in float32, so agreement is to ~1e-10, not to the last bit.
    torch.testing.assert_close(ours.values, theirs * scale, rtol=1e-6, atol=1e-9)
    if rule != "riemann_trapezoid":
        torch.testing.assert_close(ours.delta, delta, rtol=1e-6, atol=1e-9)


def test_one_step_is_gradient_times_difference(cnn: nn.Module, images: torch.Tensor) -> None:
    ig = aw.integrated_gradients(cnn, images, target=0, baseline="black", steps=1, rule="riemann_right")
    grad = aw.gradient(cnn, images, target=0).values
    torch.testing.assert_close(ig.values, grad * images)


@pytest.mark.parametrize("steps", [12, "auto"])
def test_chunk_invariance(
    steps: int | str, cnn: nn.Module, images: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One point per chunk and everything at once give the same attributions.
    monkeypatch.setattr(aw.config, "cpu_chunk", 1)
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)  # one point a chunk, however small
    tiny = aw.integrated_gradients(cnn, images, steps=steps, trace=False)
    monkeypatch.setattr(aw.config, "cpu_chunk", 1000)
    large = aw.integrated_gradients(cnn, images, steps=steps, trace=False)
    torch.testing.assert_close(tiny.values, large.values, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(tiny.delta, large.delta, rtol=1e-8, atol=1e-12)


def test_memory_budget_sets_the_chunk_size(cnn: nn.Module, images: torch.Tensor) -> None:
    probe = Recorder(cnn)
    aw.integrated_gradients(probe, images[:1], steps=30, memory=1, trace=False)
    assert probe.batches[0] == 1  # the first pass at x
    assert max(probe.batches[1:]) == 1
    probe.batches.clear()
    aw.integrated_gradients(probe, images[:1], steps=30, trace=False)
    assert probe.batches == [1, 30, 1]  # small points: cpu_chunk_bytes holds all 30 in one chunk


def test_batch_invariance(cnn: nn.Module, images: torch.Tensor) -> None:
    together = aw.integrated_gradients(cnn, images, target=[0, 3, 4], steps=16)
    for i, t in enumerate([0, 3, 4]):
        alone = aw.integrated_gradients(cnn, images[i : i + 1], target=t, steps=16)
        torch.testing.assert_close(together.values[i : i + 1], alone.values, rtol=1e-10, atol=1e-13)
        torch.testing.assert_close(together.trace.scores[i : i + 1], alone.trace.scores)


@pytest.mark.parametrize(
    ("rule", "expected_rows"),
    [
        ("gausslegendre", 1 + 10 + 1),  # x; 10 interior points; baseline score by a forward alone
        ("riemann_middle", 1 + 10 + 1),
        ("riemann_left", 1 + 10),  # α = 0 is on the path: no separate baseline forward
        ("riemann_right", 1 + 9 + 1),  # α = 1 was the first pass: not evaluated again
        ("riemann_trapezoid", 1 + 9),  # both ends are shared
    ],
)
def test_no_point_is_evaluated_twice(rule: str, expected_rows: int, cnn: nn.Module, images: torch.Tensor) -> None:
    probe = Recorder(cnn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ten points may leave a large gap; not the point here
        aw.integrated_gradients(probe, images[:1], steps=10, rule=rule)
    assert sum(probe.batches) == expected_rows


def test_tiny_memory_budget_caps_auto_and_says_so(cnn: nn.Module, images: torch.Tensor) -> None:
    with pytest.warns(UserWarning, match="stopped at max_steps"):
        attr = aw.integrated_gradients(cnn, images[:1], steps="auto", tolerance=1e-6, memory="40KiB")
    assert attr.trace.evaluations == 9  # the first mesh


def test_out_of_memory_halves_the_chunk_and_gives_the_same_result(cnn: nn.Module, images: torch.Tensor) -> None:
    reference = aw.integrated_gradients(cnn, images[:2], steps=16, trace=False)
    probe = Recorder(cnn, fail_above=3)
    result = aw.integrated_gradients(probe, images[:2], steps=16, trace=False)
    torch.testing.assert_close(result.values, reference.values, rtol=1e-10, atol=1e-13)
    assert max(b for b in probe.batches[1:] if b <= 3) <= 3


def test_out_of_memory_at_one_point_is_raised(cnn: nn.Module, images: torch.Tensor) -> None:
    probe = Recorder(cnn, fail_above=0)
    with pytest.raises(torch.OutOfMemoryError):
        aw.integrated_gradients(probe, images[:1], steps=4)


def test_trace_holds_the_by_products(cnn: nn.Module, images: torch.Tensor) -> None:
    attr = aw.integrated_gradients(cnn, images[:2], steps=24, rule="riemann_trapezoid")
    trace = attr.trace
    assert trace.alphas.shape == (2, 24)
    assert trace.alphas[0, 0] == 0 and trace.alphas[0, -1] == 1
    torch.testing.assert_close(trace.scores[:, -1], attr.score)
    torch.testing.assert_close(trace.scores[:, 0], attr.baseline_score)
    assert trace.grad_maps.shape == (2, 24, 12, 12) and trace.grad_maps.dtype == torch.float16
    assert trace.cumulative_maps.shape == (2, 24, 12, 12)
    # the last accumulated map is the attribution summed over channels (float16 storage)
    torch.testing.assert_close(
        trace.cumulative_maps[:, -1].double(), attr.values.sum(1), rtol=2e-3, atol=2e-3 * attr.values.abs().max()
    )
    torch.testing.assert_close(trace.cumulative[:, -1], attr.values.flatten(1).sum(1))
    assert float(trace.grad_norm.max()) == 1.0
    # the predicted class at every point, from the logits the engine already had
    torch.testing.assert_close(trace.predicted[:, -1], cnn(images[:2]).argmax(1))
    points = images[:2, None] * trace.alphas[..., None, None, None]  # black baseline: α x
    expected = torch.stack([cnn(p).argmax(1) for p in points])
    assert torch.equal(trace.predicted, expected)
    # gradient map at α = 1 is the plain gradient at the input
    grad = aw.gradient(cnn, images[:2], target=attr.target).values.sum(1)
    torch.testing.assert_close(trace.grad_maps[:, -1].double(), grad, rtol=2e-3, atol=1e-4)


def test_trace_maps_stay_small_at_224() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 5, stride=4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    model(torch.zeros(1, 3, 224, 224))
    attr = aw.integrated_gradients(model, torch.rand(1, 3, 224, 224), steps=50)
    trace = attr.trace
    size = trace.grad_maps.numel() * trace.grad_maps.element_size()
    size += trace.cumulative_maps.numel() * trace.cumulative_maps.element_size()
    assert size < 12 * 2**20  # 51 points × 2 maps × 224² × 2 bytes ≈ 10 MB


def test_trace_can_be_turned_off(cnn: nn.Module, images: torch.Tensor) -> None:
    attr = aw.integrated_gradients(cnn, images, steps=8, trace=False)
    assert attr.trace.grad_maps is None and attr.trace.cumulative_maps is None
    assert attr.trace.scores.shape == (3, 9)


def test_progress_is_reported_and_can_cancel(cnn: nn.Module, images: torch.Tensor) -> None:
    seen: list[tuple[int, int]] = []
    aw.integrated_gradients(cnn, images[:1], steps=30, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] == 31
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        aw.integrated_gradients(cnn, images[:1], steps=30, progress=cancel)


def test_large_gap_is_warned_with_its_value() -> None:
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    torch.manual_seed(0)
    with torch.no_grad():
        model[0].weight.fill_(20.0)
    with pytest.warns(UserWarning, match=r"gap \d+\.\d%"):
        aw.integrated_gradients(model, torch.ones(1, 2), steps=2, rule="riemann_left")


def test_works_under_no_grad_and_inference_mode(cnn: nn.Module, images: torch.Tensor) -> None:
    expected = aw.integrated_gradients(cnn, images, steps=8).values
    with torch.no_grad():
        torch.testing.assert_close(aw.integrated_gradients(cnn, images, steps=8).values, expected)
    with torch.inference_mode():
        inference_images = images.clone()
        torch.testing.assert_close(aw.integrated_gradients(cnn, inference_images, steps=8).values, expected)


def test_device_agnostic(device: str) -> None:
    # Runs on every available device; on CUDA the result stays on CUDA and matches the CPU.
    model = make_cnn(device=device)
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).to(device)
    for baseline in ("black", "uniform", "blur", "gaussian", "max_distance"):
        attr = aw.integrated_gradients(model, x, steps=8, baseline=baseline)
        assert attr.values.device == x.device and attr.trace.grad_maps.device == x.device
        cpu = aw.integrated_gradients(make_cnn(), x.cpu(), steps=8, baseline=baseline)
        torch.testing.assert_close(attr.values.cpu(), cpu.values, rtol=1e-6, atol=1e-9)
