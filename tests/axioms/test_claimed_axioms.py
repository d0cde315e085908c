"""Every axiom a registry entry claims, checked on a model built for it (Sundararajan, Taly & Yan 2017, §2-3).

Each test is parametrised over the methods whose ``axioms`` name it, so a new claim gets its test
for free and a false claim fails here:

- completeness: Σ attributions = F(x) − F(x′) for methods with ``delta`` (and the reported delta is
  that gap); Σ of the parts = F(x) for methods that decompose the score (FullGrad).
- sensitivity(a): input and baseline differ in one feature and the outputs differ → that feature
  gets a non-zero attribution.
- implementation invariance: two networks computing the same function, built differently, get
  the same attributions.
- linearity: the attributions of a·f1 + b·f2 are a·A(f1) + b·A(f2).
- symmetry-preserving: f symmetric in two features, input and baseline equal in both → equal
  attributions.
- dummy: a feature f does not depend on gets exactly zero.

Models are float64 so that "equal" can mean equal to rounding. Methods run with their defaults
except what a test needs (a baseline, a fixed quadrature where exactness is the point, few samples).
The last test checks the other way round: where a well-known counter-example shows a method does
not have an axiom, the registry must not claim it.
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn

import attrwidgets.methods  # noqa: F401 - fills the registry
from attrwidgets.registry import AXIOMS, REGISTRY
from tests.probes import Fn, OneBigReLU, TwoReLUs, linear, make_cnn

F64 = torch.float64
STEPS = 16  # fixed quadrature for the path methods where exactness (not the default accuracy) is the point
SAMPLES = 16

#: Extra option sets run for each claimant besides its defaults (the claim is the method's, whatever its options).
VARIANTS: dict[str, list[dict]] = {
    "deeplift": [{}, {"rule": "reveal_cancel"}],
    "smoothgrad": [
        {},
        {"variant": "smoothgrad_sq"},
        {"variant": "vargrad"},
        {"base": "input_x_gradient"},
        {"base": "integrated_gradients", "base_options": {"steps": 8}},
    ],
}

coarse = pytest.mark.filterwarnings("ignore:.*relative completeness gap")


def claimants(axiom: str) -> list:
    """(name, options) for every method claiming ``axiom``, one case per option set."""
    assert axiom in AXIOMS
    cases = []
    for name in sorted(REGISTRY):
        if axiom in REGISTRY[name].axioms:
            for options in VARIANTS.get(name, [{}]):
                label = "-".join(f"{k}={v}" for k, v in options.items() if k != "base_options")
                cases.append(pytest.param(name, options, id=f"{name}-{label}" if label else name))
    return cases


def explain(name: str, model, x: torch.Tensor, target, baseline: torch.Tensor | None = None, **options):
    """Run a registered method with what it needs and few samples.

    ``baseline`` (one row for all inputs, or one per input) goes in as ``baseline=``, or as the
    ``references=`` of Expected Gradients (one row: EG over a one-point distribution, IG with
    random α); occlusion gets one-element windows on (N, L) inputs.
    """
    entry = REGISTRY[name]
    kwargs: dict = {}
    if baseline is not None and "baseline" in entry.options:
        kwargs["baseline"] = baseline.expand_as(x) if len(baseline) == 1 else baseline
    if "references" in entry.options:
        kwargs["references"] = torch.zeros_like(x[:1]) if baseline is None else baseline
    if "samples" in entry.options:
        kwargs["samples"] = SAMPLES
    if "window" in entry.options:
        kwargs |= {"window": 1, "stride": 1} if x.dim() == 2 else {"window": 4, "stride": 2}
    if "trace" in entry.options:
        kwargs["trace"] = False
    kwargs |= options
    return entry.fn(model, x, target, **kwargs)


def fixed_steps(name: str, options: dict) -> dict:
    """A fixed quadrature for path methods (an adaptive mesh depends on the model, so is only
    approximately linear); other methods unchanged."""
    if "steps" in REGISTRY[name].options and "steps" not in options:
        return {"steps": STEPS, **options}
    return options


def mlp(seed: int, sizes: tuple[int, ...] = (4, 6, 3), act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layer = nn.Linear(a, b).double()
        with torch.no_grad():
            layer.weight.copy_(torch.randn(b, a, generator=generator, dtype=F64))
            layer.bias.copy_(torch.randn(b, generator=generator, dtype=F64) * 0.5)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers).eval()


def rand(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64) * scale


def scores(model, x: torch.Tensor, target: int) -> torch.Tensor:
    with torch.no_grad():
        return model(x)[:, target]


def flat_relu() -> nn.Module:
    """f(x) = 1 − ReLU(1 − x), with an nn.ReLU module (so that module rules reach it): flat for x > 1."""
    return nn.Sequential(linear([[-1.0]], [1.0]), nn.ReLU(), linear([[-1.0]], [1.0]))


# -- completeness ---------------------------------------------------------------------------------
COMPLETENESS_CASES = {
    "linear": lambda: (nn.Linear(6, 3).double(), torch.randn(3, 6, dtype=F64), torch.randn(3, 6, dtype=F64), 2),
    "relu_mlp": lambda: (mlp(1, (5, 8, 6, 3)), torch.randn(3, 5, dtype=F64), torch.randn(3, 5, dtype=F64) * 0.3, 1),
    "small_cnn": lambda: (make_cnn(), rand(2, 3, 12, 12, seed=3), rand(2, 3, 12, 12, seed=4, scale=0.3), 3),
}


@pytest.mark.parametrize("case", sorted(COMPLETENESS_CASES))
@pytest.mark.parametrize(("name", "options"), claimants("completeness"))
def test_completeness(name: str, options: dict, case: str) -> None:
    # Piecewise-linear models (linear layers, ReLU, max-pool, BatchNorm in eval mode): the domain
    # where FullGrad's decomposition is exact; IG and DeepLIFT hold on any model.
    torch.manual_seed(0)
    model, x, base, target = COMPLETENESS_CASES[case]()
    attr = explain(name, model, x, target, base, **options)
    at_x = scores(model, x, target)
    torch.testing.assert_close(attr.score, at_x, rtol=1e-12, atol=1e-12)
    total = attr.values.flatten(1).sum(1)
    produces = REGISTRY[name].produces
    if "delta" in produces:
        at_base = scores(model, base, target)
        torch.testing.assert_close(attr.baseline_score, at_base, rtol=1e-12, atol=1e-12)
        span = at_x - at_base
        # the method's own accuracy target where it has one (IG's steps="auto" tolerance), else exact
        tolerance = attr.params.get("tolerance", 0.0) if attr.params.get("steps") == "auto" else 0.0
        gap = (total - span).abs()
        assert (gap <= tolerance * span.abs() + 1e-9 * (1 + span.abs())).all(), (gap, span)
        torch.testing.assert_close(attr.delta, total - span, rtol=1e-9, atol=1e-10)  # the reported gap is honest
    else:
        assert "parts" in produces, f"{name} claims completeness but fills neither delta nor parts"
        parts = sum(p.flatten(1).sum(1) for p in attr.parts.values())
        torch.testing.assert_close(parts, at_x, rtol=1e-10, atol=1e-12)


# -- sensitivity(a) -------------------------------------------------------------------------------
@coarse
@pytest.mark.parametrize(("name", "options"), claimants("sensitivity"))
def test_sensitivity_paper_example(name: str, options: dict) -> None:
    # f(x) = 1 − ReLU(1 − x), x = 2, baseline 0: f(2) − f(0) = 1, the gradient at 2 is 0 (§2.1).
    x, base = torch.tensor([[2.0]], dtype=F64), torch.tensor([[0.0]], dtype=F64)
    attr = explain(name, flat_relu(), x, 0, base, **options)
    assert abs(float(attr.values)) > 1e-3


@coarse
@pytest.mark.parametrize(("name", "options"), claimants("sensitivity"))
def test_sensitivity_one_feature_differs(name: str, options: dict) -> None:
    # Random tanh / ReLU networks; input and baseline equal except in feature k.
    checked = 0
    for seed, act in [(0, nn.Tanh), (1, nn.ReLU), (2, nn.Tanh), (3, nn.ReLU)]:
        model = mlp(seed, (4, 8, 2), act)
        base = torch.randn(1, 4, generator=torch.Generator().manual_seed(10 + seed), dtype=F64)
        for k in range(4):
            x = base.clone()
            x[0, k] += 1.5
            change = float(scores(model, x, 1) - scores(model, base, 1))
            if abs(change) < 1e-2:
                continue
            attr = explain(name, model, x, 1, base, **options)
            assert abs(float(attr.values[0, k])) > 1e-3 * abs(change), (seed, k, change)
            checked += 1
    assert checked >= 8


# -- implementation invariance --------------------------------------------------------------------
def split_hidden_pair() -> tuple[nn.Module, nn.Module]:
    """Two ReLU networks with different weights and widths computing the same function: each
    hidden unit of the first is two copies in the second, its outgoing weight split 0.3 / 0.7."""
    a = mlp(5, (4, 3, 2))
    b = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)).double().eval()
    with torch.no_grad():
        b[0].weight.copy_(torch.cat([a[0].weight, a[0].weight]))
        b[0].bias.copy_(torch.cat([a[0].bias, a[0].bias]))
        b[2].weight.copy_(torch.cat([0.3 * a[2].weight, 0.7 * a[2].weight], dim=1))
        b[2].bias.copy_(a[2].bias)
    return a, b


def folded_bn_pair() -> tuple[nn.Module, nn.Module]:
    """The small CNN, and a copy with its BatchNorm folded into the convolution before it."""
    a = make_cnn()
    b = copy.deepcopy(a)
    conv, bn = b.features[0], b.features[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
    b.features[1] = nn.Identity()
    return a, b


INVARIANCE_CASES = {
    # the paper's pair (appendix B; the DeepLIFT lecture's example): ReLU(x1 − ReLU(x2) − 1) and
    # ReLU(ReLU(x1 − 1) − ReLU(x2)), at the paper's x = (3, 1) and at random points, baseline 0
    "paper_pair": lambda: (
        OneBigReLU(),
        TwoReLUs(),
        torch.cat([torch.tensor([[3.0, 1.0]], dtype=F64), torch.randn(5, 2, dtype=F64) * 3]),
        torch.zeros(6, 2, dtype=F64),
        0,
    ),
    "split_hidden": lambda: (*split_hidden_pair(), torch.randn(5, 4, dtype=F64), torch.zeros(5, 4, dtype=F64), 1),
    "folded_batchnorm": lambda: (
        *folded_bn_pair(),
        rand(1, 3, 12, 12, seed=5),
        torch.zeros(1, 3, 12, 12, dtype=F64),
        2,
    ),
}


@coarse
@pytest.mark.parametrize("case", sorted(INVARIANCE_CASES))
@pytest.mark.parametrize(("name", "options"), claimants("implementation_invariance"))
def test_implementation_invariance(name: str, options: dict, case: str) -> None:
    torch.manual_seed(0)
    f, g, x, base, target = INVARIANCE_CASES[case]()
    probe = torch.cat([x, torch.randn(50, *x.shape[1:], dtype=F64) * 3])
    with torch.no_grad():
        torch.testing.assert_close(f(probe), g(probe), rtol=1e-12, atol=1e-12)  # the same function
    a = explain(name, f, x, target, base, **fixed_steps(name, options))
    b = explain(name, g, x, target, base, **fixed_steps(name, options))
    assert a.values.abs().max() > 0
    torch.testing.assert_close(a.values, b.values, rtol=1e-9, atol=1e-12)


# -- linearity ------------------------------------------------------------------------------------
class Mix(nn.Module):
    """a·f1 + b·f2, a module with both as submodules."""

    def __init__(self, f1: nn.Module, f2: nn.Module, a: float, b: float) -> None:
        super().__init__()
        self.f1, self.f2, self.a, self.b = f1, f2, a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * self.f1(x) + self.b * self.f2(x)


LINEARITY_CASES = {
    "mlp": lambda: (
        mlp(7, (5, 8, 3), nn.Tanh),
        mlp(8, (5, 6, 3)),
        torch.randn(3, 5, dtype=F64),
        torch.randn(1, 5, dtype=F64),
    ),
    "small_cnn": lambda: (make_cnn(seed=1), make_cnn(seed=2), rand(2, 3, 12, 12, seed=6), rand(1, 3, 12, 12, seed=7)),
}


@coarse
@pytest.mark.parametrize("case", sorted(LINEARITY_CASES))
@pytest.mark.parametrize(("name", "options"), claimants("linearity"))
def test_linearity(name: str, options: dict, case: str) -> None:
    torch.manual_seed(0)
    f1, f2, x, base = LINEARITY_CASES[case]()
    options = fixed_steps(name, options)
    combined = explain(name, Mix(f1, f2, 2.0, -0.5), x, 1, base, **options).values
    a1, a2 = explain(name, f1, x, 1, base, **options).values, explain(name, f2, x, 1, base, **options).values
    separate = 2.0 * a1 - 0.5 * a2
    assert combined.abs().max() > 0
    torch.testing.assert_close(combined, separate, rtol=1e-9, atol=1e-12)


# -- symmetry-preserving --------------------------------------------------------------------------
def symmetric_mlp() -> nn.Module:
    """g(x) + g(x with features 0 and 1 swapped): symmetric in features 0 and 1."""
    g = mlp(9, (4, 8, 2), nn.Tanh)
    swap = torch.tensor([1, 0, 2, 3])
    return Fn(lambda x: g(x) + g(x[:, swap]))


SYMMETRY_CASES = {
    "tanh_product": lambda: (
        Fn(lambda x: torch.tanh(x[:, 0] * x[:, 1] + x[:, 2]).unsqueeze(1)),
        torch.tensor([[0.7, 0.7, 0.2]], dtype=F64),
        torch.zeros(1, 3, dtype=F64),
    ),
    "symmetric_mlp": lambda: (
        symmetric_mlp(),
        torch.tensor([[0.9, 0.9, -0.4, 1.3]], dtype=F64),
        torch.tensor([[-0.5, -0.5, 0.2, 0.1]], dtype=F64),
    ),
}


@coarse
@pytest.mark.parametrize("case", sorted(SYMMETRY_CASES))
@pytest.mark.parametrize(("name", "options"), claimants("symmetry"))
def test_symmetry_preserving(name: str, options: dict, case: str) -> None:
    model, x, base = SYMMETRY_CASES[case]()
    probe = torch.randn(50, x.shape[1], generator=torch.Generator().manual_seed(0), dtype=F64)
    swapped = probe[:, [1, 0, *range(2, x.shape[1])]]
    torch.testing.assert_close(scores(model, swapped, 0), scores(model, probe, 0), rtol=0, atol=0)  # symmetric
    attr = explain(name, model, x, 0, base, **options)
    assert abs(float(attr.values[0, 0])) > 0
    assert float(attr.values[0, 0]) == pytest.approx(float(attr.values[0, 1]), rel=1e-12, abs=1e-15)


# -- dummy ----------------------------------------------------------------------------------------
def masked_channel_cnn() -> nn.Module:
    """The small CNN on the inputs with channel 1 multiplied by 0."""
    cnn = make_cnn()
    mask = torch.tensor([1.0, 0.0, 1.0], dtype=F64).view(1, 3, 1, 1)
    return Fn(lambda x: cnn(x * mask))


def zero_column_mlp() -> nn.Module:
    model = mlp(11, (5, 8, 3), nn.Tanh)
    with torch.no_grad():
        model[0].weight[:, 3] = 0.0  # feature 3 enters nothing
    return model


DUMMY_CASES = {
    # (model, inputs, references / baseline, index of the dummy feature(s))
    "unused_slice": lambda: (
        Fn(lambda x: (x[:, :2] ** 2).sum(1, keepdim=True)),
        torch.tensor([[0.5, -1.0, 3.0], [1.5, 0.2, -2.0]], dtype=F64),
        torch.randn(1, 3, dtype=F64),
        (slice(None), 2),
    ),
    "zero_weight": lambda: (
        zero_column_mlp(),
        torch.randn(3, 5, dtype=F64),
        torch.randn(1, 5, dtype=F64),
        (slice(None), 3),
    ),
    "masked_channel": lambda: (
        masked_channel_cnn(),
        rand(2, 3, 12, 12, seed=8),
        rand(1, 3, 12, 12, seed=9),
        (slice(None), 1),
    ),
}


@coarse
@pytest.mark.parametrize("case", sorted(DUMMY_CASES))
@pytest.mark.parametrize(("name", "options"), claimants("dummy"))
def test_dummy_feature_gets_zero(name: str, options: dict, case: str) -> None:
    torch.manual_seed(0)
    model, x, base, dummy = DUMMY_CASES[case]()
    attr = explain(name, model, x, 0, base, **options)
    assert attr.values.abs().max() > 0
    assert torch.equal(attr.values[dummy], torch.zeros_like(attr.values[dummy]))


# -- the other way round: no claim where a counter-example is known ---------------------------------
def _gradient_is_blind_at_a_flat_point(name: str) -> bool:
    # sensitivity(a) fails: f(x) = 1 − ReLU(1 − x) at x = 2 (baseline 0) changes by 1, the map is 0
    attr = explain(name, flat_relu(), torch.tensor([[2.0]], dtype=F64), 0)
    return float(attr.values) == 0.0


def _deeplift_differs_on_the_paper_pair(name: str) -> bool:
    # implementation invariance fails: (1.5, −0.5) on one network, (2, −1) on the other
    x = torch.tensor([[3.0, 1.0]], dtype=F64)
    a = explain(name, OneBigReLU(), x, 0, torch.zeros_like(x)).values
    b = explain(name, TwoReLUs(), x, 0, torch.zeros_like(x)).values
    return (a - b).abs().max() > 0.1


COUNTER_EXAMPLES = [
    ("gradient", "sensitivity", _gradient_is_blind_at_a_flat_point),
    ("input_x_gradient", "sensitivity", _gradient_is_blind_at_a_flat_point),
    ("guided_backprop", "sensitivity", _gradient_is_blind_at_a_flat_point),
    ("deconvnet", "sensitivity", _gradient_is_blind_at_a_flat_point),
    ("smoothgrad", "sensitivity", _gradient_is_blind_at_a_flat_point),
    ("deeplift", "implementation_invariance", _deeplift_differs_on_the_paper_pair),
]


@pytest.mark.parametrize(
    ("name", "axiom", "violated"), COUNTER_EXAMPLES, ids=[f"{n}-{a}" for n, a, _ in COUNTER_EXAMPLES]
)
def test_no_claim_against_a_known_counter_example(name: str, axiom: str, violated) -> None:
    assert violated(name), f"the counter-example to {name}'s {axiom} no longer holds: update the test"
    assert axiom not in REGISTRY[name].axioms, f"{name} claims {axiom}, which the counter-example disproves"
