"""SmoothGrad, SmoothGrad² and VarGrad: σ = 0 is the base method, seeded noise of the requested
variance, a slow reference from the recorded noisy points, Captum's NoiseTunnel at σ = 0."""

from __future__ import annotations

import math

import pytest
import torch
from captum.attr import InputXGradient, NoiseTunnel, Saliency
from torch import nn

from attrwidgets.methods import gradient, input_x_gradient, integrated_gradients, smoothgrad
from attrwidgets.registry import REGISTRY
from tests.conftest import DEVICES
from tests.probes import Raising, Recorder, leaves_no_trace, make_cnn


def make_images(n: int = 3, device: str = "cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 8, 8, generator=generator, dtype=torch.float64).to(device)


# -- σ = 0 is the base method, exactly ------------------------------------------------------------
@pytest.mark.parametrize("variant", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_sigma_zero_is_the_gradient_exactly(variant: str) -> None:
    model, x = make_cnn(), make_images()
    grad = gradient(model, x, 1).values
    attr = smoothgrad(model, x, 1, sigma=0, variant=variant)
    expected = {"smoothgrad": grad, "smoothgrad_sq": grad * grad, "vargrad": torch.zeros_like(grad)}[variant]
    assert torch.equal(attr.values, expected)


@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")  # 8 steps: coarse on purpose
def test_sigma_zero_is_input_x_gradient_and_ig_exactly() -> None:
    model, x = make_cnn(), make_images()
    attr = smoothgrad(model, x, 2, sigma=0.0, base="input_x_gradient")
    assert torch.equal(attr.values, input_x_gradient(model, x, 2).values)
    attr = smoothgrad(model, x, 2, sigma=0.0, base="integrated_gradients", base_options={"steps": 8})
    assert torch.equal(attr.values, integrated_gradients(model, x, 2, steps=8).values)


# -- Captum's NoiseTunnel at stdevs = 0 -----------------------------------------------------------
# Captum's stdevs is absolute and its nt_samples defaults to 5; at σ = 0 both are irrelevant and the
# three statistics must agree with ours. (Captum's Saliency takes |grad| by default: abs=False.)
@pytest.mark.parametrize("variant", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_matches_captum_noise_tunnel_at_sigma_zero(variant: str) -> None:
    model, x = make_cnn(), make_images()
    ours = smoothgrad(model, x, 3, sigma=0.0, variant=variant)
    theirs = NoiseTunnel(Saliency(model)).attribute(x, target=3, nt_type=variant, nt_samples=5, stdevs=0.0, abs=False)
    torch.testing.assert_close(ours.values, theirs, rtol=1e-10, atol=1e-15)
    ours = smoothgrad(model, x, 3, sigma=0.0, variant=variant, base="input_x_gradient")
    theirs = NoiseTunnel(InputXGradient(model)).attribute(x, target=3, nt_type=variant, nt_samples=5, stdevs=0.0)
    torch.testing.assert_close(ours.values, theirs, rtol=1e-10, atol=1e-15)


# -- the noise ------------------------------------------------------------------------------------
def test_noise_has_the_requested_variance() -> None:
    probe = Recorder(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).double())
    x = make_images(n=2)
    x[1] = 3 * x[1] - 1  # a different range: σ is a fraction of each input's own range
    sigma, samples = 0.2, 200
    attr = smoothgrad(probe, x, 0, sigma=sigma, samples=samples)
    # the first two calls are the clean forward that resolves the target (first input, then the other)
    assert [len(s) for s in probe.seen[:2]] == [1, 1]
    points = torch.cat(probe.seen[2:])
    assert len(points) == 2 * samples
    for i in range(2):
        noise = (points[i::2] - x[i]).flatten()  # copy k is sample k // n of input k % n
        span = float(x[i].max() - x[i].min())
        expected = sigma * span
        count = noise.numel()
        # sample std of `count` normal draws: standard error ≈ σ/√(2·count); mean: σ/√count (5 s.e.)
        assert abs(float(noise.std()) - expected) < 5 * expected / math.sqrt(2 * count)
        assert abs(float(noise.mean())) < 5 * expected / math.sqrt(count)
        assert attr.params["noise_std"][i] == pytest.approx(expected)
    # every input of a batch sees the same standard-normal pattern, scaled by its own σ
    standard = [(points[i::2] - x[i]) / attr.params["noise_std"][i] for i in range(2)]
    torch.testing.assert_close(standard[0], standard[1])


def test_same_seed_same_map_other_seed_other_map() -> None:
    model, x = make_cnn(), make_images()
    a = smoothgrad(model, x, sigma=0.15, samples=8, seed=5)
    b = smoothgrad(model, x, sigma=0.15, samples=8, seed=5)
    c = smoothgrad(model, x, sigma=0.15, samples=8, seed=6)
    assert torch.equal(a.values, b.values)
    assert not torch.allclose(a.values, c.values)
    assert a.params["seed"] == 5


def test_draws_ignore_global_rng_chunks_and_batch() -> None:
    model, x = make_cnn(), make_images()
    torch.manual_seed(123)
    a = smoothgrad(model, x, [0, 1, 2], samples=12, variant="vargrad")
    torch.manual_seed(456)
    b = smoothgrad(model, x, [0, 1, 2], samples=12, variant="vargrad", memory=1)  # one point per chunk
    torch.testing.assert_close(a.values, b.values, rtol=1e-10, atol=1e-15)
    for i in range(len(x)):  # an input alone gets the same noise as in the batch
        one = smoothgrad(model, x[i : i + 1], i, samples=12, variant="vargrad")
        torch.testing.assert_close(one.values[0], a.values[i], rtol=1e-10, atol=1e-15)


# -- a slow reference from the recorded noisy points ------------------------------------------------
@pytest.mark.parametrize("base", ["gradient", "input_x_gradient"])
def test_matches_the_definition_at_the_recorded_points(base: str) -> None:
    model, x = make_cnn(), make_images(n=2)
    probe = Recorder(model)
    samples = 16
    results, seen = {}, []
    for variant in ("smoothgrad", "smoothgrad_sq", "vargrad"):
        probe.seen.clear()
        results[variant] = smoothgrad(probe, x, 4, sigma=0.2, samples=samples, variant=variant, base=base)
        seen.append(torch.cat(probe.seen[2:]))  # after the clean forward (first input, then the other)
    points = seen[0]
    assert len(points) == 2 * samples
    assert all(torch.equal(points, other) for other in seen[1:])  # the same seed, the same points
    for i in range(2):
        maps = []
        for z in points[i::2]:  # one noisy copy at a time, as the paper writes it
            z = z.unsqueeze(0).requires_grad_(True)
            (g,) = torch.autograd.grad(model(z)[0, 4], z)
            maps.append((g * z if base == "input_x_gradient" else g)[0].detach())
        maps = torch.stack(maps)
        mean, mean_sq = maps.mean(0), (maps**2).mean(0)
        torch.testing.assert_close(results["smoothgrad"].values[i], mean, rtol=1e-9, atol=1e-14)
        torch.testing.assert_close(results["smoothgrad_sq"].values[i], mean_sq, rtol=1e-9, atol=1e-14)
        torch.testing.assert_close(results["vargrad"].values[i], maps.var(0, unbiased=False), rtol=1e-7, atol=1e-14)


def test_ig_base_on_a_linear_model_is_noisy_input_times_weight() -> None:
    # IG from a black baseline on F = w·z + b is w ⊙ z exactly, so SmoothGrad over IG equals
    # SmoothGrad over input × gradient with the same noise
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)).double()
    x = make_images(n=2)
    ig = smoothgrad(model, x, 1, samples=10, base="integrated_gradients", base_options={"steps": 4})
    ixg = smoothgrad(model, x, 1, samples=10, base="input_x_gradient")
    torch.testing.assert_close(ig.values, ixg.values, rtol=1e-10, atol=1e-14)
    assert not torch.allclose(ig.values, input_x_gradient(model, x, 1).values)  # the noise did something


# -- on a small CNN: finite, devices, target, state ---------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_finite_on_device(device: str) -> None:
    model, x = make_cnn(device=device, dtype=torch.float32), make_images(device=device).float()
    attr = smoothgrad(model, x, samples=6)
    assert attr.values.device.type == device
    assert attr.values.dtype == torch.float32
    assert torch.isfinite(attr.values).all()
    assert attr.values.abs().max() > 0


def test_target_is_resolved_at_the_clean_input() -> None:
    model, x = make_cnn(), make_images()
    predicted = model(x).argmax(1)
    attr = smoothgrad(model, x, sigma=1.0, samples=4)  # noise large enough to flip predictions
    assert torch.equal(attr.target, predicted)
    torch.testing.assert_close(attr.score, model(x).gather(1, predicted.view(-1, 1)).squeeze(1).detach())


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"sigma": -0.1}, ValueError, "sigma must be a finite number >= 0"),
        ({"sigma": float("nan")}, ValueError, "sigma must be"),
        ({"samples": 0}, ValueError, "samples must be a positive int"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"variant": "mean"}, ValueError, "unknown variant 'mean'"),
        ({"base": "deeplift"}, ValueError, "unknown base 'deeplift'"),
        ({"base_options": {"steps": 8}}, ValueError, "it takes none"),
        ({"base": "integrated_gradients", "base_options": {"trace": True}}, ValueError, "accepts"),
    ],
)
def test_bad_options_raise(options: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        smoothgrad(make_cnn(), make_images(), **options)


def test_bad_target_raises() -> None:
    with pytest.raises(ValueError, match=r"valid targets are 0\.\.4"):
        smoothgrad(make_cnn(), make_images(), 5)


@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")  # 4 steps: coarse on purpose
@pytest.mark.parametrize("base", ["gradient", "integrated_gradients"])
@pytest.mark.parametrize("case", ["normal", "bad_target", "raising"])
def test_hooks_gone_and_state_restored(case: str, base: str) -> None:
    inner = make_cnn().train()
    inner.head.weight.requires_grad_(False)
    inner.head.bias.grad = torch.ones_like(inner.head.bias)
    model = Raising(inner, at=3 if case == "raising" else -1)
    x = make_images()
    options = {"samples": 4, "base": base, "memory": 1}  # one point per chunk: the raise comes mid-pass
    if base == "integrated_gradients":
        options |= {"base_options": {"steps": 4}, "memory": None}
    with leaves_no_trace(model, x):
        if case == "normal":
            assert torch.isfinite(smoothgrad(model, x, **options).values).all()
        else:
            with pytest.raises((ValueError, RuntimeError), match="boom" if case == "raising" else "valid targets"):
                smoothgrad(model, x, 9 if case == "bad_target" else None, **options)


def test_registered() -> None:
    entry = REGISTRY["smoothgrad"]
    assert entry.fn is smoothgrad
    assert {c.name for c in entry.controls} <= entry.options
    sigma = next(c for c in entry.controls if c.name == "sigma")
    assert (sigma.default, sigma.low, sigma.high) == (0.15, 0.0, 1.0)
