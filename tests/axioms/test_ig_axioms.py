"""The axioms of Integrated Gradients (Sundararajan, Taly & Yan 2017, §2-3), each on a model built for it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.methods.quadrature import QUADRATURE_RULES
from tests.probes import Fn, make_cnn


def test_completeness_default_steps_small_cnn(device: str) -> None:
    model = make_cnn(device=device)
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(device)
    attr = aw.integrated_gradients(model, x)
    assert attr.values.device.type == device
    assert float(attr.relative_delta.max()) < 0.01
    total = attr.values.flatten(1).sum(1)
    torch.testing.assert_close(total - (attr.score - attr.baseline_score), attr.delta)


def test_sensitivity_paper_example() -> None:
    # f(x) = 1 - ReLU(1 - x): at x = 2 the gradient is 0, yet f(2) - f(0) = 1 (the paper's §2.1 example).
    model = Fn(lambda x: 1 - torch.relu(1 - x))
    x = torch.tensor([[2.0]], dtype=torch.float64)
    assert float(aw.gradient(model, x).values) == 0.0
    for rule in QUADRATURE_RULES:
        steps = 1000 if rule.startswith("riemann") else 64
        ig = aw.integrated_gradients(model, x, baseline=0.0, steps=steps, rule=rule)
        assert float(ig.values) == pytest.approx(1.0, abs=2e-3), rule
    assert float(aw.integrated_gradients(model, x, baseline=0.0, steps="auto").values) == pytest.approx(1.0, abs=1e-2)


def test_sensitivity_differs_in_one_feature() -> None:
    # Input and baseline differ in one feature and the outputs differ: that feature gets non-zero attribution.
    model = Fn(lambda x: torch.sigmoid(3 * x[:, :1] - 1) + 0 * x[:, 1:])
    x = torch.tensor([[0.9, 0.4]], dtype=torch.float64)
    base = torch.tensor([[0.0, 0.4]], dtype=torch.float64)
    attr = aw.integrated_gradients(model, x, baseline=base, steps=64)
    assert abs(float(attr.values[0, 0])) > 0.1
    assert float(attr.values[0, 1]) == 0.0


@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")
def test_implementation_invariance() -> None:
    # Two networks with different weights computing the same function: hidden units split in two.
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    b = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double()
    with torch.no_grad():
        b[0].weight.copy_(torch.cat([a[0].weight, a[0].weight]))
        b[0].bias.copy_(torch.cat([a[0].bias, a[0].bias]))
        b[2].weight.copy_(torch.cat([0.3 * a[2].weight, 0.7 * a[2].weight], dim=1))
        b[2].bias.copy_(a[2].bias)
    x = torch.randn(5, 4, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x))
    ia = aw.integrated_gradients(a, x, target=1, baseline=0.0, steps=32, rule="riemann_middle", trace=False)
    ib = aw.integrated_gradients(b, x, target=1, baseline=0.0, steps=32, rule="riemann_middle", trace=False)
    torch.testing.assert_close(ia.values, ib.values, rtol=1e-10, atol=1e-12)


def test_linearity() -> None:
    f1, f2 = make_cnn(seed=1), make_cnn(seed=2)
    mix = Fn(lambda x: 2.0 * f1(x) - 0.5 * f2(x))
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    kw = {"target": 3, "steps": 24, "baseline": "black"}
    combined = aw.integrated_gradients(mix, x, **kw).values
    parts = 2.0 * aw.integrated_gradients(f1, x, **kw).values - 0.5 * aw.integrated_gradients(f2, x, **kw).values
    torch.testing.assert_close(combined, parts, rtol=1e-9, atol=1e-12)


def test_symmetry_preserving() -> None:
    # f symmetric in features 0 and 1; input and baseline equal in both -> equal attributions.
    model = Fn(lambda x: torch.tanh(x[:, 0] * x[:, 1] + x[:, 2]).unsqueeze(1))
    x = torch.tensor([[0.7, 0.7, 0.2]], dtype=torch.float64)
    attr = aw.integrated_gradients(model, x, baseline=0.0, steps=50)
    assert float(attr.values[0, 0]) == pytest.approx(float(attr.values[0, 1]), rel=1e-12)


def test_dummy_feature_gets_zero() -> None:
    model = Fn(lambda x: (x[:, :2] ** 2).sum(1, keepdim=True))
    x = torch.tensor([[0.5, -1.0, 3.0]], dtype=torch.float64)
    attr = aw.integrated_gradients(model, x, baseline=0.0, steps=10)
    assert float(attr.values[0, 2]) == 0.0


@pytest.mark.parametrize(
    ("rule", "steps"), [(r, s) for r in QUADRATURE_RULES for s in (1, 2, 7) if (r, s) != ("riemann_trapezoid", 1)]
)
def test_exact_on_linear_models(rule: str, steps: int) -> None:
    torch.manual_seed(0)
    model = nn.Linear(6, 3).double()
    x, base = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
    attr = aw.integrated_gradients(model, x, target=2, baseline=base, steps=steps, rule=rule)
    expected = model.weight[2].detach() * (x - base)
    torch.testing.assert_close(attr.values, expected, rtol=1e-12, atol=1e-12)
    assert float(attr.delta.abs().max()) < 1e-12
