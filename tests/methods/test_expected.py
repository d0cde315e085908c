"""Expected Gradients: the linear-model answer within sampling error, a slow reference from the
recorded points, seeded draws, the running mean, one backward per sample and no more."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attrwidgets.methods import expected_gradients
from attrwidgets.registry import REGISTRY
from tests.conftest import DEVICES
from tests.probes import Raising, Recorder, leaves_no_trace, make_cnn


def make_data(n: int = 3, m: int = 8, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, 8, 8, generator=generator, dtype=torch.float64)
    refs = torch.rand(m, 3, 8, 8, generator=generator, dtype=torch.float64)
    return x.to(device), refs.to(device)


def make_linear() -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).double()


# -- the linear model: w · (x − mean(references)) --------------------------------------------------
def test_linear_model_equals_w_times_x_minus_mean_reference_within_sampling_error() -> None:
    model = make_linear()
    generator = torch.Generator().manual_seed(7)
    x = torch.rand(2, 3, 8, 8, generator=generator, dtype=torch.float64)
    refs = torch.rand(400, 3, 8, 8, generator=generator, dtype=torch.float64)
    samples = 400
    attr = expected_gradients(model, x, 2, references=refs, samples=samples)
    w = model[1].weight[2].detach().view(3, 8, 8)
    expected = w * (x - refs.mean(0))
    # EG_i − w_i (x_i − E[x']_i) = w_i (E[x']_i − mean of the drawn x'_i): standard error |w_i| sd(x'_i)/√n
    bound = 5 * w.abs() * refs.std(0) / math.sqrt(samples) + 1e-12
    assert ((attr.values - expected).abs() <= bound).all()
    assert (attr.values - expected).abs().max() > 1e-6  # sampled, not computed from the mean
    # completeness is exact for a linear model against the mean score of the drawn references
    torch.testing.assert_close(attr.delta, torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)


def test_draws_are_uniform() -> None:
    model = make_linear()
    x, refs = make_data(n=1, m=5)
    recorder = Recorder(model)
    samples = 1000
    attr = expected_gradients(recorder, x, 0, references=refs, samples=samples, trace=False)
    alphas = attr.trace.alphas[0]
    assert torch.all(alphas[1:] >= alphas[:-1])
    # Kolmogorov–Smirnov distance of the α's to U(0, 1): below the 0.1 % critical value 1.95/√n
    grid = torch.arange(1, samples + 1, dtype=torch.float64) / samples
    ks = torch.maximum(grid - alphas, alphas - (grid - 1 / samples)).max()
    assert float(ks) < 1.95 / math.sqrt(samples)
    # the references: recover which one each point lies on (z = x' + α (x − x')), count them
    assert len(recorder.seen[1]) == 5  # every distinct reference drawn, evaluated once, forward only
    points = torch.cat(recorder.seen[2:]).flatten(1)  # (samples, D)
    r = refs.flatten(1)  # (M, D)
    d = x.flatten(1) - r
    alpha = torch.einsum("smd,md->sm", points[:, None] - r, d) / (d * d).sum(1)
    residual = (points[:, None] - r - alpha[..., None] * d).abs().amax(-1)
    assert float(residual.min(1).values.max()) < 1e-12
    counts = torch.bincount(residual.argmin(1), minlength=5).double()
    chi2 = float(((counts - samples / 5) ** 2 / (samples / 5)).sum())
    assert chi2 < 18.47  # χ² with 4 degrees of freedom, 0.1 % level (seed 0 gives 14.7)


# -- a slow reference from the recorded points -----------------------------------------------------
def test_matches_the_definition_at_the_recorded_points() -> None:
    model = make_cnn()
    x, refs = make_data(n=2, m=6)
    recorder = Recorder(model)
    samples = 12
    attr = expected_gradients(recorder, x, 3, references=refs, samples=samples)
    assert recorder.backward_rows == 2 * samples  # one backward per (input, sample), nothing else
    # calls: the clean forward (the first input alone, then the other), the forward-only pass over
    # the distinct references, then the points
    assert [len(s) for s in recorder.seen[:2]] == [1, 1]
    distinct = recorder.seen[2]
    assert all(any(torch.equal(d, r) for r in refs) for d in distinct)
    points = torch.cat(recorder.seen[3:])
    assert len(points) == 2 * samples
    alphas, rows, drawn = [], [], []
    for i in range(2):
        total = torch.zeros_like(x[i])
        for z in points[i::2]:  # point k is sample k // n of input k % n
            # which reference and α: z = x' + α (x − x') for exactly one reference x'
            fits = []
            for r in refs:
                d = x[i] - r
                a = float(((z - r) * d).sum() / (d * d).sum())
                fits.append((float((z - r - a * d).abs().max()), a, r))
            residual, a, r = min(fits, key=lambda f: f[0])
            assert residual < 1e-12
            assert 0 <= a <= 1
            alphas.append(a)
            if i == 0:
                drawn.append(r)
            zz = z.unsqueeze(0).requires_grad_(True)
            (g,) = torch.autograd.grad(model(zz)[0, 3], zz)
            total += (x[i] - r) * g[0]
        rows.append(total / samples)
    torch.testing.assert_close(attr.values, torch.stack(rows), rtol=1e-9, atol=1e-14)
    # every input gets the same draws; the trace holds them sorted by α
    assert alphas[:samples] == pytest.approx(alphas[samples:], abs=1e-9)
    torch.testing.assert_close(attr.trace.alphas[0], torch.tensor(sorted(alphas[:samples]), dtype=torch.float64))
    # the mean reference score is over the references drawn, and delta is measured against it
    with torch.no_grad():
        expected_baseline = model(torch.stack(drawn))[:, 3].mean()
    torch.testing.assert_close(attr.baseline_score, expected_baseline.expand(2))
    torch.testing.assert_close(attr.delta, attr.values.flatten(1).sum(1) - (attr.score - expected_baseline))


# -- seeds, running mean, trace ------------------------------------------------------------------
def test_same_seed_same_values_other_seed_other_values() -> None:
    model = make_cnn()
    x, refs = make_data()
    torch.manual_seed(1)
    a = expected_gradients(model, x, references=refs, samples=8, seed=3)
    torch.manual_seed(2)  # the global RNG plays no part
    b = expected_gradients(model, x, references=refs, samples=8, seed=3)
    c = expected_gradients(model, x, references=refs, samples=8, seed=4)
    assert torch.equal(a.values, b.values)
    assert not torch.allclose(a.values, c.values)
    assert a.params["seed"] == 3


def test_running_mean_is_the_result_with_fewer_samples() -> None:
    model = make_cnn()
    x, refs = make_data()
    full = expected_gradients(model, x, 1, references=refs, samples=20)
    few = expected_gradients(model, x, 1, references=refs, samples=7)  # the first 7 draws of the 20
    running, base = full.convergence["running_sum"], full.convergence["running_baseline_score"]
    assert running.shape == base.shape == (3, 20)
    torch.testing.assert_close(running[:, 6], few.values.flatten(1).sum(1), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(base[:, 6], few.baseline_score, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(running[:, -1], full.values.flatten(1).sum(1), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(base[:, -1], full.baseline_score)
    torch.testing.assert_close(full.delta, running[:, -1] - (full.score - base[:, -1]))
    # the trace: sorted α, weights 1/n, its cumulative sum ends at Σ values
    trace = full.trace
    assert trace.alphas.shape == trace.weights.shape == trace.scores.shape == (3, 20)
    torch.testing.assert_close(trace.weights.sum(1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(trace.cumulative[:, -1], full.values.flatten(1).sum(1), rtol=1e-9, atol=1e-12)
    assert trace.grad_maps.shape == trace.cumulative_maps.shape == (3, 20, 8, 8)
    torch.testing.assert_close(
        trace.cumulative_maps[:, -1].double(), full.heatmap().to(torch.float16).double(), rtol=1e-2, atol=1e-4
    )
    assert trace.evaluations == 60


def test_batch_chunks_and_devices_of_references_do_not_change_the_result() -> None:
    model = make_cnn()
    x, refs = make_data()
    batch = expected_gradients(model, x, [0, 1, 2], references=refs, samples=10)
    chunked = expected_gradients(model, x, [0, 1, 2], references=refs, samples=10, memory=1, trace=False)
    torch.testing.assert_close(chunked.values, batch.values, rtol=1e-10, atol=1e-14)
    assert chunked.trace.grad_maps is None
    for i in range(len(x)):
        one = expected_gradients(model, x[i : i + 1], i, references=refs, samples=10)
        torch.testing.assert_close(one.values[0], batch.values[i], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("device", DEVICES)
def test_finite_on_device_with_references_on_the_cpu(device: str) -> None:
    model = make_cnn(device=device, dtype=torch.float32)
    x, refs = make_data()
    attr = expected_gradients(model, x.float().to(device), references=refs, samples=6)  # float64 CPU references
    assert attr.values.device.type == device
    assert attr.values.dtype == torch.float32
    assert torch.isfinite(attr.values).all()
    assert torch.isfinite(attr.delta).all()
    if device != "cpu":  # the draws are made on the CPU: the same on every device
        cpu = expected_gradients(make_cnn(device="cpu", dtype=torch.float32), x.float(), references=refs, samples=6)
        torch.testing.assert_close(attr.values.cpu(), cpu.values, rtol=1e-3, atol=1e-5)


# -- errors and state ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"references": [1.0]}, TypeError, "references must be a tensor"),
        ({"references": torch.zeros(4, 3, 8, 8, dtype=torch.long)}, TypeError, "floating-point"),
        ({"references": torch.zeros(4, 3, 9, 8)}, ValueError, r"shaped \(M, 3, 8, 8\)"),
        ({"references": torch.zeros(0, 3, 8, 8)}, ValueError, "at least one reference"),
        ({"references": torch.full((2, 3, 8, 8), float("nan"))}, ValueError, "non-finite"),
        ({"samples": 0}, ValueError, "samples must be a positive int"),
        ({"seed": "a"}, TypeError, "seed must be an int"),
    ],
)
def test_bad_options_raise(options: dict, error: type, words: str) -> None:
    x, refs = make_data()
    with pytest.raises(error, match=words):
        expected_gradients(make_cnn(), x, **({"references": refs} | options))


def test_references_are_required() -> None:
    x, _ = make_data()
    with pytest.raises(TypeError, match="references"):
        expected_gradients(make_cnn(), x)  # type: ignore[call-arg]


def test_bad_target_raises() -> None:
    x, refs = make_data()
    with pytest.raises(ValueError, match=r"valid targets are 0\.\.4"):
        expected_gradients(make_cnn(), x, [0, 1, 5], references=refs)


@pytest.mark.parametrize("case", ["normal", "bad_target", "raising_reference_pass", "raising_gradient_pass"])
def test_hooks_gone_and_state_restored(case: str) -> None:
    inner = make_cnn().train()
    inner.head.weight.requires_grad_(False)
    inner.head.bias.grad = torch.ones_like(inner.head.bias)
    at = {"raising_reference_pass": 2, "raising_gradient_pass": 5}.get(case, -1)
    model = Raising(inner, at=at)
    x, refs = make_data()
    with leaves_no_trace(model, x, refs):
        if case == "normal":
            assert torch.isfinite(expected_gradients(model, x, references=refs, samples=4).values).all()
        else:
            target = 9 if case == "bad_target" else None
            with pytest.raises((ValueError, RuntimeError), match="valid targets" if case == "bad_target" else "boom"):
                expected_gradients(model, x, target, references=refs, samples=4, memory=1, trace=False)


def test_registered() -> None:
    entry = REGISTRY["expected_gradients"]
    assert entry.fn is expected_gradients
    assert entry.needs == ("references",)
    assert {c.name for c in entry.controls} <= entry.options
    samples = next(c for c in entry.controls if c.name == "samples")
    assert (samples.default, samples.low, samples.high) == (50, 1, 1000)
