"""Quadrature rules: exact weights, convergence orders on a smooth path, and the adaptive mesh."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.methods.quadrature import QUADRATURE_RULES, AdaptiveMesh, rule_points


class Smooth1D(nn.Module):
    """F(x) = sin(3x) + x³/2 on a scalar input: along the path from 0 to 1, IG = F(1) − F(0) exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(3 * x) + x**3 / 2


EXACT = math.sin(3.0) + 0.5


@pytest.mark.parametrize("rule", QUADRATURE_RULES)
@pytest.mark.parametrize("steps", [2, 3, 10, 50])
def test_weights_sum_to_one_and_points_in_range(rule: str, steps: int) -> None:
    alphas, weights = rule_points(rule, steps)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert len(alphas) == steps
    assert np.all((alphas >= 0) & (alphas <= 1)) and np.all(np.diff(alphas) > 0)


def _error(rule: str, steps: int) -> float:
    x = torch.ones(1, 1, dtype=torch.float64)
    attr = aw.integrated_gradients(Smooth1D(), x, baseline=0.0, steps=steps, rule=rule, trace=False)
    return abs(float(attr.values) - EXACT)


@pytest.mark.parametrize(
    ("rule", "order"),
    [("riemann_left", 1), ("riemann_right", 1), ("riemann_middle", 2), ("riemann_trapezoid", 2)],
)
@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")
def test_convergence_order(rule: str, order: int) -> None:
    # Doubling the number of intervals divides the error by 2**order.
    n = 64
    intervals = lambda m: m + 1 if rule == "riemann_trapezoid" else m  # noqa: E731 - trapezoid counts points
    ratio = _error(rule, intervals(n)) / _error(rule, intervals(2 * n))
    assert ratio == pytest.approx(2**order, rel=0.05)


def test_gauss_legendre_converges_much_faster() -> None:
    assert _error("gausslegendre", 4) < 1e-3
    assert _error("gausslegendre", 10) < 1e-12
    assert _error("gausslegendre", 10) < _error("riemann_trapezoid", 200) * 1e-6


def test_trapezoid_differs_from_captum_by_n_over_n_minus_1() -> None:
    # Captum's riemann_trapezoid weights sum to 1 − 1/n; ours sum to 1. On a linear model ours is
    # exact and Captum's is short by the factor (n − 1)/n: a 2 % gap at n = 50.
    from captum.attr import IntegratedGradients

    torch.manual_seed(0)
    model = nn.Linear(5, 2).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    n = 50
    ours = aw.integrated_gradients(model, x, target=1, baseline=0.0, steps=n, rule="riemann_trapezoid").values
    theirs = IntegratedGradients(model).attribute(x, target=1, n_steps=n, method="riemann_trapezoid")
    torch.testing.assert_close(ours, model.weight[1].detach() * x)
    torch.testing.assert_close(theirs, ours * (n - 1) / n)


def test_trapezoid_converges_to_the_integral_and_captums_does_not_at_fixed_n() -> None:
    errors = [_error("riemann_trapezoid", n) for n in (11, 21, 41, 81)]
    assert all(b < a for a, b in itertools.pairwise(errors))
    assert errors[-1] < 1e-4


def test_adaptive_mesh_weights_are_composite_trapezoid() -> None:
    mesh = AdaptiveMesh(initial_panels=2)
    scale = mesh.scale
    assert mesh.weights() == {0: 0.25, scale // 2: 0.5, scale: 0.25}
    for p, f in ((0, 0.0), (scale // 2, 1.0), (scale, 1.5)):
        mesh.record(p, f, 0.0)  # F′ = 0 but F changes on both panels: both checks fail
    mesh.values[0] = (0.0, 0.0)
    assert mesh.panel_errors() == [-1.0, -0.5]
    assert mesh.refine(budget=1)  # the worse panel [0, 1/2] is bisected first
    assert mesh.panels[:2] == [(0, scale // 4), (scale // 4, scale // 2)]
    weights = mesh.weights()
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights[scale // 4] == pytest.approx(0.25) and weights[scale // 2] == pytest.approx(0.375)


def test_adaptive_refines_where_the_score_rises() -> None:
    # A sharp sigmoid step at α ≈ 0.7: the mesh must put its points there, and reach the tolerance.
    class Step(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(60 * (x - 0.7))

    x = torch.ones(1, 1, dtype=torch.float64)
    attr = aw.integrated_gradients(Step(), x, baseline=0.0, steps="auto", tolerance=1e-4)
    alphas = attr.trace.alphas[0]
    near = ((alphas > 0.6) & (alphas < 0.8)).sum()
    far = (alphas < 0.2).sum()
    assert near > 3 * far
    assert float(attr.relative_delta) < 1e-4
    assert attr.params["converged"] is True
    # evaluations counts every point including α = 1 from the first pass
    assert attr.trace.evaluations == len(alphas)
    assert attr.trace.weights.sum() == pytest.approx(1.0)


def test_adaptive_warns_when_cap_is_reached() -> None:
    class Rough(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sin(200 * x) + 5 * torch.relu(x - 0.31)

    x = torch.ones(1, 1, dtype=torch.float64)
    with pytest.warns(UserWarning, match="stopped at max_steps=21"):
        attr = aw.integrated_gradients(Rough(), x, baseline=0.0, steps="auto", tolerance=1e-6, max_steps=21)
    assert attr.params["converged"] is False
    assert attr.trace.evaluations <= 21


@pytest.mark.parametrize("seed", range(4))
def test_adaptive_meets_tolerance_on_relu_networks(seed: int) -> None:
    # A ReLU network's path derivative is piecewise constant with hundreds of jumps: rough, as in
    # real classifiers. Whether it spends fewer points than a uniform rule there is measured on a
    # real model in benchmarks/; here it must meet the tolerance and account for what it spent.
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)).double()
    x = 3 * torch.randn(1, 64, dtype=torch.float64)
    attr = aw.integrated_gradients(model, x, baseline=0.0, steps="auto", tolerance=0.01)
    assert float(attr.relative_delta) < 0.01
    assert attr.trace.evaluations == attr.trace.alphas.shape[1] <= 512
    assert float(attr.trace.weights.sum()) == pytest.approx(1.0)
    assert float(attr.trace.cumulative[0, -1]) == pytest.approx(float(attr.values.sum()), rel=1e-9)
