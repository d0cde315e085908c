"""DeepLIFT (Shrikumar, Greenside & Kundaje 2017): the lecture's worked examples, summation-to-delta,
a slow RevealCancel reference written from the paper, Captum's Rescale, and the robustness items."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attrwidgets as aw
from attrwidgets.methods.deeplift import DEEPLIFT_RULES, deeplift, rescale_multiplier
from attrwidgets.registry import REGISTRY
from tests.probes import OneBigReLU, Raising, TwoReLUs, linear

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# -- small models ---------------------------------------------------------------------------------
class MinNet(nn.Module):
    """min(i1, i2) = i1 − ReLU(i1 − i2), with i1 = h1, i2 = h2 the outputs of a first ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.relu_in = nn.ReLU()
        self.diff = linear([[1.0, -1.0]])
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu_in(x)
        return h[:, :1] - self.relu(self.diff(h))


class MixedCNN(nn.Module):
    """Conv-BN-ReLU-maxpool, conv-sigmoid, conv-tanh, SiLU/GELU head: every rule path at once."""

    def __init__(self, classes: int = 5, inplace: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.relu = nn.ReLU(inplace=inplace)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.sigmoid = nn.Sigmoid()
        self.conv3 = nn.Conv2d(6, 8, 3, stride=2)
        self.tanh = nn.Tanh()
        self.fc = nn.Linear(8 * 1 * 1, 16)
        self.silu = nn.SiLU(inplace=inplace)
        self.gelu = nn.GELU()
        self.out = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.relu(self.bn(self.conv1(x))))
        h = self.tanh(self.conv3(self.sigmoid(self.conv2(h))))
        return self.out(self.gelu(self.silu(self.fc(h.flatten(1)))))


def mixed_cnn(seed: int = 0, dtype: torch.dtype = torch.float64, device: str = "cpu", **kw: bool) -> MixedCNN:
    torch.manual_seed(seed)
    model = MixedCNN(**kw).to(device=device, dtype=dtype).eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 1.5)
        model.bn.weight.uniform_(-1.0, 1.5)  # some negative scales: RevealCancel folds them into the terms
        for layer in (model.conv2, model.conv3, model.fc, model.out):
            layer.weight.mul_(3.0)  # out of the sigmoid's and tanh's linear range: a real difference to explain
    return model


def images(n: int = 3, seed: int = 1, device: str = "cpu") -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device)


# -- the lecture's worked examples ----------------------------------------------------------------
@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_threshold_relu_gives_epsilon(rule: str) -> None:
    # f(x) = max(0, x − 10) at x = 10 + ε, reference 0: the ReLU's input goes from −10 to ε, its
    # output from 0 to ε. Rescale: m = ε / (10 + ε), so the contribution is m · (10 + ε) = ε.
    # RevealCancel: the one term w·Δx = 10 + ε is positive, Δx⁺ = 10 + ε, Δx⁻ = 0, and
    # Δy⁺ = ½(f(−10 + 10 + ε) − f(−10)) + ½(f(ε) − f(−10 + 0)) = ε: again ε.
    eps = 2.0**-10
    model = nn.Sequential(linear([[1.0]], [-10.0]), nn.ReLU())
    x = torch.tensor([[10.0 + eps]], dtype=torch.float64)
    attr = deeplift(model, x, baseline=0.0, rule=rule)
    assert float(attr.values) == pytest.approx(eps, rel=1e-12)
    assert float(attr.delta) == pytest.approx(0.0, abs=1e-15)
    assert float(aw.input_x_gradient(model, x).values) == 10.0 + eps  # the gradient sees a slope of 1


@pytest.mark.parametrize(("i1", "i2"), [(3.0, 1.0), (5.0, 2.0), (0.75, 0.5)])
def test_min_network_rescale_and_reveal_cancel(i1: float, i2: float) -> None:
    # o = h1 − ReLU(h1 − h2), h = ReLU(i), references 0, i1 > i2 > 0.
    # The first ReLU passes Δh = Δi (multiplier 1). Its input is not a linear layer's output, so
    # RevealCancel splits it as max(Δ, 0), min(Δ, 0) = Rescale there.
    # Rescale at the second ReLU: input 0 → i1 − i2, output 0 → i1 − i2, m = 1, so
    #   C(i1) = 1 − 1·1 = 0 per unit of i1, C(i2) = +i2            → (0, i2).
    # RevealCancel: terms of (h1 − h2): Δx⁺ = i1, Δx⁻ = −i2, x′ = 0,
    #   Δy⁺ = ½(f(i1) − f(0)) + ½(f(i1 − i2) − f(−i2)) = i1 − ½ i2,   m⁺ = (i1 − ½ i2) / i1
    #   Δy⁻ = ½(f(−i2) − f(0)) + ½(f(i1 − i2) − f(i1)) = −½ i2,       m⁻ = ½
    #   C(i1) = i1 − m⁺ i1 = ½ i2,   C(i2) = −m⁻ (−i2) = ½ i2            → (½ i2, ½ i2).
    x = torch.tensor([[i1, i2]], dtype=torch.float64)
    rescale = deeplift(MinNet(), x, baseline=0.0, rule="rescale").values
    reveal = deeplift(MinNet(), x, baseline=0.0, rule="reveal_cancel").values
    torch.testing.assert_close(rescale, torch.tensor([[0.0, i2]], dtype=torch.float64), rtol=0, atol=1e-14)
    torch.testing.assert_close(reveal, torch.tensor([[i2 / 2, i2 / 2]], dtype=torch.float64), rtol=0, atol=1e-14)


@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")
def test_implementation_invariance_counter_example() -> None:
    # f = ReLU(x1 − ReLU(x2) − 1) and g = ReLU(ReLU(x1 − 1) − ReLU(x2)) are the same function
    # (for x1 < 1 both are 0). At x = (3, 1), reference 0, F(x) − F(x′) = 1:
    #   f: ReLU(x2) has m = 1; the outer ReLU goes −1 → 1 in, 0 → 1 out: m = ½ → (1.5, −0.5).
    #   g: ReLU(x1 − 1) goes −1 → 2 in, 0 → 2 out: m = ⅔; the outer one 0 → 1, m = 1 → (2, −1).
    # IG integrates the same gradient along the path for both: 1{α > ½}·(1, −1)·(3, 1) = (1.5, −0.5),
    # exact with 100 midpoints (50 of them above ½).
    f, g = OneBigReLU(), TwoReLUs()
    probe = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    torch.testing.assert_close(f(probe), g(probe), rtol=0, atol=1e-12)
    x = torch.tensor([[3.0, 1.0]], dtype=torch.float64)
    expected_f = torch.tensor([[1.5, -0.5]], dtype=torch.float64)
    expected_g = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    torch.testing.assert_close(deeplift(f, x, baseline=0.0).values, expected_f, rtol=0, atol=1e-14)
    torch.testing.assert_close(deeplift(g, x, baseline=0.0).values, expected_g, rtol=0, atol=1e-14)
    for model in (f, g):
        ig = aw.integrated_gradients(model, x, baseline=0.0, steps=100, rule="riemann_middle", trace=False)
        torch.testing.assert_close(ig.values, expected_f, rtol=0, atol=1e-12)


def test_tiny_difference_falls_back_to_the_gradient() -> None:
    # s = x1 − x2 is 0 at both x = (1, 1) and x′ = 0: Δs = 0, so Rescale uses σ′(0) = ¼ and the
    # attributions are (¼ · 1, −¼ · 1), which still add up to σ(0) − σ(0) = 0.
    model = nn.Sequential(linear([[1.0, -1.0]]), nn.Sigmoid())
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    attr = deeplift(model, x, baseline=0.0, rule="rescale")
    torch.testing.assert_close(attr.values, torch.tensor([[0.25, -0.25]], dtype=torch.float64), rtol=0, atol=1e-15)
    # RevealCancel sees the parts: Δs⁺ = 1, Δs⁻ = −1, s′ = 0, so
    # Δy⁺ = ½(σ(1) − σ(0)) + ½(σ(0) − σ(−1)) = σ(1) − ½ = m⁺ and Δy⁻ = −(σ(1) − ½), m⁻ = σ(1) − ½.
    attr = deeplift(model, x, baseline=0.0, rule="reveal_cancel")
    half_swing = torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)) - 0.5
    torch.testing.assert_close(attr.values[0], torch.stack([half_swing, -half_swing]), rtol=0, atol=1e-15)


# -- RevealCancel against a slow reference written from the paper ---------------------------------
def reveal_cancel_reference(w1, b1, w2, a, a_ref, f):
    """y = w2 · f(w1 a + b1), one hidden layer, loops over units and terms (§3.5.1 and §3.5.3)."""
    w1, b1, w2 = w1.detach(), b1.detach(), w2.detach()
    contributions = torch.zeros_like(a)
    for j in range(w1.shape[0]):
        terms = [float(w1[j, i] * (a[i] - a_ref[i])) for i in range(len(a))]
        dpos = sum(t for t in terms if t > 0)
        dneg = sum(t for t in terms if t < 0)
        x_ref = float(w1[j] @ a_ref + b1[j])
        fx = lambda v: float(f(torch.tensor(v, dtype=torch.float64)))  # noqa: E731
        dy_pos = 0.5 * (fx(x_ref + dpos) - fx(x_ref)) + 0.5 * (fx(x_ref + dneg + dpos) - fx(x_ref + dneg))
        dy_neg = 0.5 * (fx(x_ref + dneg) - fx(x_ref)) + 0.5 * (fx(x_ref + dpos + dneg) - fx(x_ref + dpos))
        m_pos = dy_pos / dpos if dpos else 0.0
        m_neg = dy_neg / dneg if dneg else 0.0
        for i, t in enumerate(terms):
            contributions[i] += float(w2[j]) * (m_pos * t if t > 0 else m_neg * t)
    return contributions


@pytest.mark.parametrize("act", [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.SiLU, nn.ELU])
def test_reveal_cancel_matches_slow_reference(act: type[nn.Module]) -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 7), act(), nn.Linear(7, 1)).double()
    x = torch.randn(1, 5, dtype=torch.float64)
    ref = torch.randn(1, 5, dtype=torch.float64)
    attr = deeplift(model, x, baseline=ref, rule="reveal_cancel")
    expected = reveal_cancel_reference(model[0].weight, model[0].bias, model[2].weight[0], x[0], ref[0], act())
    torch.testing.assert_close(attr.values[0], expected, rtol=1e-10, atol=1e-12)
    assert abs(float(attr.delta)) < 1e-12
    assert not torch.allclose(attr.values, deeplift(model, x, baseline=ref, rule="rescale").values)


def test_reveal_cancel_folds_batchnorm_into_the_terms() -> None:
    # Linear → BatchNorm (eval) → ReLU has the terms of the folded linear map scale·W: the same
    # attributions as one Linear with those weights (bias folded too).
    torch.manual_seed(5)
    lin, bn = nn.Linear(4, 6).double(), nn.BatchNorm1d(6).double().eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    head = nn.Linear(6, 2).double()
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = nn.Linear(4, 6).double()
    with torch.no_grad():
        folded.weight.copy_(lin.weight * scale[:, None])
        folded.bias.copy_((lin.bias - bn.running_mean) * scale + bn.bias)
    a = nn.Sequential(lin, bn, nn.ReLU(), head)
    b = nn.Sequential(folded, nn.ReLU(), head)
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x))
    da = deeplift(a, x, target=1, baseline=0.0, rule="reveal_cancel")
    db = deeplift(b, x, target=1, baseline=0.0, rule="reveal_cancel")
    torch.testing.assert_close(da.values, db.values, rtol=1e-10, atol=1e-12)


# -- summation-to-delta ---------------------------------------------------------------------------
@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
@pytest.mark.parametrize("device", DEVICES)
def test_summation_to_delta_mixed_cnn(rule: str, device: str) -> None:
    model, x = mixed_cnn(device=device), images(device=device)
    attr = deeplift(model, x, rule=rule)
    assert attr.values.shape == x.shape
    assert attr.values.device.type == device
    assert bool(torch.isfinite(attr.values).all())
    span = attr.score - attr.baseline_score
    assert float(span.abs().min()) > 1e-4  # a real difference to explain
    torch.testing.assert_close(attr.values.flatten(1).sum(1), span, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(attr.delta, torch.zeros_like(attr.delta), rtol=0, atol=1e-12)
    torch.testing.assert_close(attr.score, model(x).gather(1, attr.target[:, None])[:, 0])
    assert attr.method == "deeplift"
    assert attr.params["rule"] == rule and attr.params["baseline"] == "black(value_range=(0.0, 1.0))"


@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_summation_to_delta_with_random_baseline_and_preprocess(rule: str) -> None:
    model, x = mixed_cnn(seed=2), images(2, seed=3)
    mean = torch.tensor([0.4, 0.5, 0.6], dtype=torch.float64).view(1, 3, 1, 1)
    attr = deeplift(model, x, target=[0, 4], baseline="uniform", rule=rule, preprocess=lambda z: (z - mean) / 0.2)
    assert float(attr.delta.abs().max()) < 1e-11
    assert attr.target.tolist() == [0, 4]


def test_normalize_softmax_explains_the_centred_logit() -> None:
    model, x = mixed_cnn(), images(2)
    attr = deeplift(model, x, target=2, normalize_softmax=True)
    z, z_ref = model(x), model(torch.zeros_like(x))
    centred = (z - z.mean(1, keepdim=True))[:, 2] - (z_ref - z_ref.mean(1, keepdim=True))[:, 2]
    torch.testing.assert_close(attr.values.flatten(1).sum(1), centred, rtol=1e-10, atol=1e-12)
    # Multipliers are linear in the output gradient: the correction subtracts the mean contribution.
    per_class = torch.stack([deeplift(model, x, target=c).values for c in range(5)])
    torch.testing.assert_close(attr.values, per_class[2] - per_class.mean(0), rtol=1e-10, atol=1e-12)
    assert attr.params["normalize_softmax"] is True


# -- Captum ---------------------------------------------------------------------------------------
def test_rescale_matches_captum_on_relu_cnn() -> None:
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 5),
    ).double().eval()  # fmt: skip
    x = images(3)
    ours = deeplift(model, x, baseline="black")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns that it sets requires_grad on the inputs
        theirs = captum.DeepLift(model, multiply_by_inputs=True).attribute(
            x.clone(), baselines=torch.zeros_like(x), target=ours.target
        )
    torch.testing.assert_close(ours.values, theirs.detach(), rtol=1e-10, atol=1e-14)


def test_relu_into_maxpool_keeps_summation_where_captum_does_not() -> None:
    # Same max-pool routing as Captum, but Captum's hooks misfire when a ReLU feeds the max pooling
    # directly: its convergence delta is of the order of the attributions. Ours adds up.
    captum = pytest.importorskip("captum.attr")
    torch.manual_seed(3)
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1, 1)).double().eval()
    x = torch.tensor([[[[-0.394, 1.6762], [0.7625, 1.4948]]]], dtype=torch.float64)
    ref = torch.tensor([[[[-0.5175, -0.4186], [-0.9309, 0.4139]]]], dtype=torch.float64)
    ours = deeplift(model, x, baseline=ref)
    # By hand: the max grew from 0.4139 (at 3) to 1.6762 (at 1), so Δy = 1.2623 goes to position 1.
    w = float(model[3].weight.detach())
    torch.testing.assert_close(ours.values.flatten(), torch.tensor([0, w * 1.2623, 0, 0], dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, captum_delta = captum.DeepLift(model).attribute(
            x.clone(), baselines=ref, target=0, return_convergence_delta=True
        )
    assert abs(float(captum_delta)) > 0.1
    assert abs(float(ours.delta)) < 1e-14


# -- robustness -----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_batch_of_one_and_chunks_agree(rule: str) -> None:
    model, x = mixed_cnn(), images(3)
    full = deeplift(model, x, rule=rule)
    for i in range(len(x)):
        one = deeplift(model, x[i : i + 1], rule=rule)
        torch.testing.assert_close(one.values[0], full.values[i], rtol=1e-12, atol=1e-14)
    tight = deeplift(model, x, rule=rule, memory=20_000)  # a budget of a few points per chunk
    torch.testing.assert_close(tight.values, full.values, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_inplace_activations_match_out_of_place(rule: str) -> None:
    x = images(2)
    a = deeplift(mixed_cnn(inplace=False), x, rule=rule)
    b = deeplift(mixed_cnn(inplace=True), x, rule=rule)
    torch.testing.assert_close(a.values, b.values, rtol=1e-12, atol=1e-14)


class EditsActivations(nn.Module):
    """Changes the activations' outputs in place (h.add_, h.mul_) inside its forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.relu, self.tanh, self.fc2 = nn.Linear(3, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.fc1(x))
        h.add_(1.0)
        h = self.tanh(h)
        h.mul_(2.0)
        return self.fc2(h)


@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_in_place_edits_of_activation_outputs(rule: str) -> None:
    model = EditsActivations().double()
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    attr = deeplift(model, x, rule=rule)
    assert float(attr.delta.abs().max()) < 1e-12


class Reused(nn.Module):
    def __init__(self, shared: bool) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 6), nn.Linear(6, 6), nn.Linear(6, 3)
        self.act1 = nn.ReLU()
        self.act2 = self.act1 if shared else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))


@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_reused_activation_module_works(rule: str) -> None:
    # Every call of the shared ReLU gets its own multipliers (they travel with its output tensor).
    x = torch.randn(4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    shared, separate = Reused(shared=True).double(), Reused(shared=False).double()
    a = deeplift(shared, x, baseline=0.0, rule=rule, target=1)
    b = deeplift(separate, x, baseline=0.0, rule=rule, target=1)
    torch.testing.assert_close(a.values, b.values, rtol=1e-12, atol=1e-14)
    assert float(a.delta.abs().max()) < 1e-12


def test_float16_multipliers_stay_finite() -> None:
    # Captum's eps = 1e-10 is 0 in float16, so Δy/Δx at Δx = 0 is 0/0 = nan (captum#835).
    dx = torch.zeros(3, dtype=torch.float16)
    dy = torch.zeros(3, dtype=torch.float16)
    grad = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float16)
    naive_tiny = dx.abs() < torch.tensor(1e-10, dtype=torch.float16)
    assert not bool(naive_tiny.any())  # the underflow
    m = rescale_multiplier(dx, dy, grad, dx.abs() <= 1e-3)
    assert m.dtype == torch.float32
    torch.testing.assert_close(m, grad.float())
    # A float16 model on the CPU, with input rows equal to the baseline in part of the image.
    model = mixed_cnn(dtype=torch.float32)
    x = images(2).float()
    x[:, :, :4] = 0.0
    for rule in DEEPLIFT_RULES:
        ref = deeplift(model, x, rule=rule, target=1)
        half = deeplift(model.half(), x.half(), rule=rule, target=1)
        model.float()
        assert half.values.dtype == torch.float16
        assert bool(torch.isfinite(half.values).all())
        scale = float(ref.values.abs().max())
        torch.testing.assert_close(half.values.float(), ref.values, rtol=0, atol=0.05 * scale)


def test_functional_activation_gets_a_warning() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = linear([[1.0, -2.0]], [0.5])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.relu(self.fc(x)) * 2.0 - F.relu(-self.fc(x))

    x = torch.tensor([[3.0, 1.0]], dtype=torch.float64)
    with pytest.warns(UserWarning, match="no activation module"):
        deeplift(Functional(), x, baseline=torch.tensor([[0.0, 1.0]], dtype=torch.float64))


def hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("rule", DEEPLIFT_RULES)
def test_hooks_removed_and_state_restored(rule: str) -> None:
    model, x = mixed_cnn(), images(2)
    model.train()
    model.conv1.weight.requires_grad_(False)
    sentinel = torch.ones_like(model.fc.weight)
    model.fc.weight.grad = sentinel
    x_before = x.clone()
    before = {name: m.training for name, m in model.named_modules()}
    deeplift(model, x, rule=rule)
    with pytest.raises(ValueError, match="out of range"):
        deeplift(model, x, target=7, rule=rule)
    model.boom = Raising(nn.Identity(), at=1)
    model.tanh.register_forward_hook(lambda m, i, o: model.boom(o))
    with pytest.raises(RuntimeError, match="boom"):
        deeplift(model, x, rule=rule)
    model.tanh._forward_hooks.clear()
    del model.boom
    assert hook_count(model) == 0
    assert {name: m.training for name, m in model.named_modules()} == before
    assert model.conv1.weight.requires_grad is False
    assert model.fc.weight.grad is sentinel
    assert model.conv2.weight.grad is None
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    assert not x.requires_grad


def test_clear_errors() -> None:
    model, x = mixed_cnn(), images(2)
    with pytest.raises(ValueError, match="unknown rule"):
        deeplift(model, x, rule="revealcancel")
    with pytest.raises(ValueError, match="got 3 targets for 2 inputs"):
        deeplift(model, x, target=[0, 1, 2])
    with pytest.raises(TypeError, match=r"nn\.Module"):
        deeplift(lambda z: model(z), x)
    with pytest.raises(TypeError, match="normalize_softmax"):
        deeplift(model, x, normalize_softmax="yes")
    with pytest.raises(ValueError, match="does not broadcast"):
        deeplift(model, x, baseline=torch.zeros(3, 5, 5))

    class Folds(nn.Module):  # moves the batch out of the first axis before its nonlinearity
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.Tanh()

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.act(z.reshape(1, -1)).reshape(len(z), -1)[:, :2]

    with pytest.raises(ValueError, match="'act'"):
        deeplift(Folds(), x)


def test_registered() -> None:
    entry = REGISTRY["deeplift"]
    assert entry.fn is deeplift
    assert {c.name for c in entry.controls} <= entry.options
    assert "completeness" in entry.axioms and "delta" in entry.produces and entry.needs == ("baseline",)
    assert {c.name: c.choices for c in entry.controls}["rule"] == DEEPLIFT_RULES
