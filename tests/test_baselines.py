"""Every baseline's definition, in pixel space, seeded where random."""

from __future__ import annotations

import pytest
import torch

from attrwidgets import baselines as bl


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_black_white_constant(x: torch.Tensor) -> None:
    assert torch.equal(bl.make_baseline("black", x), torch.zeros_like(x))
    assert torch.equal(bl.make_baseline("white", x), torch.ones_like(x))
    grey = bl.constant((0.1, 0.5, 0.9))(x)
    assert grey.shape == x.shape and torch.equal(grey[:, 1], torch.full_like(x[:, 1], 0.5))
    with pytest.raises(ValueError, match="3 channels"):
        bl.constant((0.1, 0.2))(x)


def test_uniform_is_seeded_and_in_range(x: torch.Tensor) -> None:
    a, b = bl.uniform(seed=1)(x), bl.uniform(seed=1)(x)
    assert torch.equal(a, b) and not torch.equal(a, bl.uniform(seed=2)(x))
    assert a.min() >= 0 and a.max() <= 1
    assert float(a.mean()) == pytest.approx(0.5, abs=0.02)
    assert float(a.var()) == pytest.approx(1 / 12, rel=0.05)
    state = torch.random.get_rng_state()
    bl.uniform(seed=3)(x)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone


def test_gaussian_adds_clipped_noise_of_the_requested_sigma(x: torch.Tensor) -> None:
    mid = torch.full((1, 3, 200, 200), 0.5, dtype=torch.float64)
    noisy = bl.gaussian(sigma=0.1, seed=0)(mid)
    assert float((noisy - mid).std()) == pytest.approx(0.1, rel=0.02)
    clipped = bl.gaussian(sigma=2.0, seed=0)(x)
    assert clipped.min() >= 0 and clipped.max() <= 1
    assert torch.equal(bl.gaussian(sigma=0.0)(x), x)


def test_blur_is_a_normalised_gaussian_filter(x: torch.Tensor) -> None:
    assert torch.equal(bl.blur(0)(x), x)
    flat = torch.full_like(x, 0.3)
    torch.testing.assert_close(bl.blur(3)(flat), flat)  # a constant image stays constant
    blurred = bl.blur(2)(x)
    assert blurred.var() < x.var() / 4
    impulse = torch.zeros(1, 1, 21, 21, dtype=torch.float64)
    impulse[0, 0, 10, 10] = 1
    response = bl.gaussian_blur(impulse, 2.0)[0, 0]
    assert float(response.sum()) == pytest.approx(1.0)
    grid = torch.arange(21, dtype=torch.float64) - 10
    expected_row = torch.exp(-0.5 * (grid / 2) ** 2) * (grid.abs() <= 6)  # kernel radius ceil(3σ) = 6
    torch.testing.assert_close(response[10] / response[10, 10], expected_row, rtol=1e-12, atol=1e-12)
    huge = bl.blur(50)(x)  # radius beyond the image size still works
    assert torch.isfinite(huge).all()


def test_max_distance_goes_to_the_far_end(x: torch.Tensor) -> None:
    far = bl.make_baseline("max_distance", x)
    torch.testing.assert_close(far, (x < 0.5).to(x.dtype))
    assert bool(((far - x).abs() >= 0.5).all())


def test_references_draws_training_examples(x: torch.Tensor) -> None:
    data = torch.rand(10, 3, 20, 24, dtype=torch.float64)
    drawn = bl.references(data, seed=0)(x)
    assert all(any(torch.equal(d, r) for r in data) for d in drawn)
    assert torch.equal(drawn, bl.references(data, seed=0)(x))
    with pytest.raises(ValueError, match="must match after the first axis"):
        bl.references(data[:, :, :5], seed=0)(x)
    with pytest.raises(ValueError, match="needs training inputs"):
        bl.make_baseline("references", x)


def test_resolve_accepts_names_numbers_tensors_callables(x: torch.Tensor) -> None:
    for spec in ("black", 0.0, torch.zeros(3, 1, 1), bl.black(), lambda inputs: inputs * 0):
        tensor, _ = bl.resolve_baseline(spec, x)
        assert tensor.shape == x.shape and torch.equal(tensor, torch.zeros_like(x))
    with pytest.raises(TypeError, match="returned str"):
        bl.resolve_baseline(lambda inputs: "no", x)
    with pytest.raises(ValueError, match="non-finite"):
        bl.resolve_baseline(torch.tensor(float("inf")), x)


def test_bad_sigma() -> None:
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        bl.blur(-1)
    with pytest.raises(ValueError, match="fraction of the input range"):
        bl.gaussian(float("nan"))
