"""Sanity checks (Adebayo et al. 2018): randomise the layers from the top; a faithful map changes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrwidgets.evaluate import SanityCheck, sanity_check, spearman
from tests.probes import leaves_no_trace, make_cnn


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 24), nn.ReLU(), nn.Linear(24, 3)).double().eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def edge_detector(model, inputs, target=None):
    """A "method" that never looks at the model: the input itself (Adebayo et al.'s edge-detector case)."""
    return inputs.clone()


def test_layers_are_randomised_from_the_top_and_the_model_is_left_alone(x):
    model = mlp()
    with leaves_no_trace(model, x):
        check = sanity_check(model, x, "gradient", progress=False)
    assert isinstance(check, SanityCheck)
    assert check.layers == ("3", "1")  # the output layer first
    assert check.spearman.shape == check.spearman_abs.shape == (16, 2)
    assert check.heatmaps.shape == (3, 16, 4, 4)
    assert check.cascade and check.method == "gradient"


def test_gradient_decorrelates_once_the_top_layer_is_random(x):
    check = sanity_check(mlp(), x, "gradient", progress=False)
    top = check.spearman_abs[:, 0]
    assert float(top.mean()) < 0.5  # the map depends on the learnt top layer
    assert float(check.spearman[:, 0].abs().mean()) < 0.5


def test_a_map_that_ignores_the_model_fails_the_check(x):
    check = sanity_check(mlp(), x, edge_detector, progress=False)
    torch.testing.assert_close(check.spearman_abs, torch.ones(16, 2, dtype=torch.float64))
    torch.testing.assert_close(check.spearman, torch.ones(16, 2, dtype=torch.float64))


def test_only_the_top_layer_and_independent_randomisation(x):
    model = mlp()
    top_only = sanity_check(model, x, "gradient", layers=["3"], progress=False)
    assert top_only.layers == ("3",)
    full = sanity_check(model, x, "gradient", progress=False)
    torch.testing.assert_close(top_only.spearman, full.spearman[:, :1])  # the same seeded draw for step 0
    independent = sanity_check(model, x, "gradient", cascade=False, progress=False)
    assert not independent.cascade
    torch.testing.assert_close(independent.spearman[:, 0], full.spearman[:, 0])
    # the bottom layer alone randomised leaves the top layer's weights: a different map from the cascade's
    assert not torch.allclose(independent.heatmaps[2], full.heatmaps[2])


def test_seeded_and_target_held_fixed(x):
    model = mlp()
    a = sanity_check(model, x, "gradient", target=1, seed=4, progress=False)
    b = sanity_check(model, x, "gradient", target=1, seed=4, progress=False)
    torch.testing.assert_close(a.spearman, b.spearman)
    assert a.target.tolist() == [1] * 16
    c = sanity_check(model, x, "gradient", target=1, seed=5, progress=False)
    assert not torch.equal(a.spearman, c.spearman)


def test_on_a_cnn_with_batchnorm_and_a_registered_option():
    model = make_cnn()
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with leaves_no_trace(model, x):
        check = sanity_check(model, x, "smoothgrad", options={"samples": 3, "seed": 1}, progress=False)
    assert check.layers == ("head", "features.4", "features.1", "features.0")
    assert bool(torch.isfinite(check.spearman_abs).all())


def test_spearman_with_ties():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 3.0]])
    b = torch.tensor([[10.0, 20.0, 30.0, 40.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 2.0, 3.0]])
    rho = spearman(a, b)
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(-1.0)
    # average ranks [1.5, 1.5, 3, 4] and [1, 2.5, 2.5, 4]: Pearson of those
    ra, rb = torch.tensor([1.5, 1.5, 3, 4]), torch.tensor([1, 2.5, 2.5, 4])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    assert float(rho[2]) == pytest.approx(float((ra * rb).sum() / (ra.norm() * rb.norm())))
    assert torch.isnan(spearman(torch.ones(1, 4), a[:1]))[0]  # a flat map has no ranking


def test_errors(x):
    with pytest.raises(TypeError, match=r"nn\.Module"):
        sanity_check(lambda z: z.flatten(1), x, "gradient")
    with pytest.raises(ValueError, match="not modules"):
        sanity_check(mlp(), x, "gradient", layers=["fc9"])
