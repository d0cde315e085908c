"""Hostile numbers: non-finite attributions, baselines no float holds, step counts that would run
for hours, forwards larger than the memory budget's chunk, and random baselines that must not
depend on what else is in the batch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import attrwidgets as aw
from tests.probes import Fn, Recorder, make_cnn


def images(n: int, dtype: torch.dtype = torch.float64, size: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# -- 6. non-finite attributions: a ValueError naming the method and the dtype --------------------
def sqrt_model() -> nn.Module:
    """sqrt of every value, summed (+1) and ReLU'd: finite scores, an infinite gradient at exact zeros."""
    head = nn.Linear(3 * 4 * 4, 2).double()
    with torch.no_grad():
        head.weight.fill_(1.0)
        head.bias.fill_(1.0)
    return nn.Sequential(Fn(lambda z: torch.sqrt(z).flatten(1)), head, nn.ReLU()).eval()


def with_zeros() -> torch.Tensor:
    x = images(2, size=4) + 0.1
    x[:, 0, 0, 0] = 0.0
    return x


NON_FINITE = {
    "gradient": {},
    "input_x_gradient": {},  # 0 × inf = nan
    "smoothgrad": {"sigma": 0.0},
    "smoothgrad-input_x_gradient": {"sigma": 0.0, "base": "input_x_gradient"},
    "integrated_gradients": {"baseline": "black", "steps": 4, "rule": "riemann_left"},  # α = 0: all zeros
    "guided_backprop": {},
    "deconvnet": {},
    "deeplift": {},
    "expected_gradients": {"references": "inputs", "samples": 3},  # zeros where the inputs have them
}


@pytest.mark.parametrize("case", sorted(NON_FINITE))
def test_infinite_gradient_is_a_value_error_naming_method_and_dtype(case: str) -> None:
    name = case.split("-")[0]
    x = with_zeros()
    model = sqrt_model()
    assert torch.isfinite(model(x)).all()  # the scores are finite, the gradient at 0 is not
    opts = dict(NON_FINITE[case])
    if opts.get("references") == "inputs":
        opts["references"] = x.clone()
    with pytest.raises(ValueError, match=rf"^{name}: .*not finite.*torch\.float64"):
        aw.REGISTRY[name].fn(model, x, 0, **opts)


@pytest.mark.parametrize("name", ["gradient", "input_x_gradient", "integrated_gradients", "smoothgrad"])
def test_float16_gradient_overflow_names_float32_as_the_fix(name: str) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 4), nn.Linear(4, 2)).half().eval()
    with torch.no_grad():  # ∂score/∂x = 300 × 300 × ... > 65504: inf in float16; the scores are not
        for layer in model[1:]:
            layer.weight.fill_(300.0)
            layer.bias.zero_()
    x = (images(2, dtype=torch.float32, size=4) * 1e-4).half()
    assert torch.isfinite(model(x)).all()
    opts = {"steps": 4} if name == "integrated_gradients" else {"samples": 2} if name == "smoothgrad" else {}
    with pytest.raises(ValueError, match=rf"^{name}: .*not finite.*torch\.float16.*float32"):
        aw.REGISTRY[name].fn(model, x, 0, **opts)


# -- 7. a baseline no float32 holds ---------------------------------------------------------------
@pytest.mark.parametrize("baseline", [1e39, 10**400, float("inf"), -1e39], ids=["1e39", "10**400", "inf", "-1e39"])
@pytest.mark.parametrize("name", ["integrated_gradients", "deeplift", "occlusion"])
def test_baseline_beyond_float32_is_a_value_error_naming_it(name: str, baseline: float) -> None:
    model = Recorder(make_cnn(dtype=torch.float32))
    x = images(2, dtype=torch.float32)
    opts = {"steps": 4} if name == "integrated_gradients" else {"window": 4} if name == "occlusion" else {}
    with pytest.raises(ValueError, match=r"baseline=.*not a finite torch\.float32.*give a value"):
        aw.REGISTRY[name].fn(model, x, 0, baseline=baseline, **opts)
    assert model.calls == 0


# -- 8. steps beyond the limit; Gauss-Legendre nodes once per call ------------------------------
def test_steps_beyond_the_limit_fail_before_any_forward() -> None:
    model = Recorder(make_cnn())
    with pytest.raises(ValueError, match=r"steps=1000000000 .*limit of 4096"):
        aw.integrated_gradients(model, images(2), steps=10**9, rule="gausslegendre")
    assert model.calls == 0


def test_max_steps_beyond_the_limit_fail_before_any_forward() -> None:
    model = Recorder(make_cnn())
    with pytest.raises(ValueError, match=r"max_steps must be .*to 4096, got 1000000000"):
        aw.integrated_gradients(model, images(2), steps="auto", max_steps=10**9)
    assert model.calls == 0


def test_gauss_legendre_nodes_are_computed_once_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = np.polynomial.legendre.leggauss

    def counting(n: int):
        calls.append(n)
        return original(n)

    monkeypatch.setattr(np.polynomial.legendre, "leggauss", counting)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)).double().eval()  # linear: no gap warning
    aw.integrated_gradients(model, images(2), 0, steps=32, rule="gausslegendre")
    assert calls == [32]


# -- 9. no forward larger than the budget's chunk -------------------------------------------------
IG_RULES = [
    ("integrated_gradients", {"steps": 4, "rule": "gausslegendre"}),
    ("integrated_gradients", {"steps": 4, "rule": "riemann_middle"}),
    ("integrated_gradients", {"steps": 4, "rule": "riemann_right"}),
    ("smoothgrad", {"samples": 2, "base": "integrated_gradients",
                    "base_options": {"steps": 4, "rule": "riemann_middle"}}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "opts"), IG_RULES, ids=["gausslegendre", "riemann_middle", "riemann_right",
                                                          "smoothgrad-ig"])  # fmt: skip
def test_baseline_scores_go_through_the_chunks(monkeypatch: pytest.MonkeyPatch, name: str, opts: dict) -> None:
    """α = 0 is not a node of these rules: F(x′) takes forwards of its own, chunked like the rest."""
    monkeypatch.setattr(aw.config, "cpu_chunk", 2)
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)  # cpu_chunk points a chunk, however small
    torch.manual_seed(0)
    model = Recorder(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).double().eval())  # IG is exact
    x = images(5, size=4)
    attribution = aw.REGISTRY[name].fn(model, x, 0, **opts)
    assert attribution.values.shape == x.shape
    assert max(model.batches) <= 2, model.batches  # the old code scored all 5 baselines in one forward


# -- 10. random baselines: an input's draw does not depend on the rest of the batch -------------
def random_baselines() -> dict[str, object]:
    data = images(7, size=5, seed=3)
    return {
        "uniform": "uniform",
        "gaussian": "gaussian",
        "references": aw.baselines.references(data, seed=4),
    }


@pytest.mark.parametrize("kind", ["uniform", "gaussian", "references"])
def test_random_baseline_rows_do_not_depend_on_the_rest_of_the_batch(kind: str) -> None:
    """One draw per seed for every input: rows 0..n-1 are the same in any batch that starts with the
    same n inputs, whatever follows them and however many, and every row alone gets its own row's."""
    baseline = random_baselines()[kind]
    x = images(3, size=5)
    longer = torch.cat([x, images(2, size=5, seed=8)])
    other = torch.cat([x, images(4, size=5, seed=9)])
    base_x, _ = aw.baselines.resolve_baseline(baseline, x)
    base_longer, _ = aw.baselines.resolve_baseline(baseline, longer)
    base_other, _ = aw.baselines.resolve_baseline(baseline, other)
    base_first, _ = aw.baselines.resolve_baseline(baseline, x[:1])
    torch.testing.assert_close(base_longer[:3], base_x, rtol=0, atol=0)
    torch.testing.assert_close(base_other[:3], base_x, rtol=0, atol=0)
    torch.testing.assert_close(base_first, base_x[:1], rtol=0, atol=0)
    for i in range(1, 3):
        base_alone, _ = aw.baselines.resolve_baseline(baseline, x[i : i + 1])
        torch.testing.assert_close(base_alone, base_x[i : i + 1], rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore::UserWarning")  # steps=8 on a CNN: a completeness-gap warning
@pytest.mark.parametrize("kind", ["uniform", "gaussian", "references"])
def test_integrated_gradients_row_does_not_depend_on_the_other_rows(kind: str) -> None:
    baseline = random_baselines()[kind]
    model = make_cnn()
    x = images(3, size=5)

    def ig(inputs: torch.Tensor) -> torch.Tensor:
        return aw.integrated_gradients(model, inputs, 0, baseline=baseline, steps=8).values

    alone = ig(x)
    first = ig(x[:1])
    with_more = ig(torch.cat([x, images(2, size=5, seed=8)]))[:3]
    with_others = ig(torch.cat([x, images(4, size=5, seed=9)]))[:3]
    torch.testing.assert_close(with_more, alone, rtol=0, atol=1e-10)
    torch.testing.assert_close(with_others, alone, rtol=0, atol=1e-10)
    torch.testing.assert_close(first, alone[:1], rtol=0, atol=1e-10)
    for i in range(1, 3):  # input i alone: the same as in the batch (issue 9, item 10)
        torch.testing.assert_close(ig(x[i : i + 1]), alone[i : i + 1], rtol=0, atol=1e-10)


def test_fullgrad_with_a_non_finite_term_raises_though_its_normalised_map_is_finite() -> None:
    # The normalisation turned the nan input term into a silent all-zero map.
    class Sqrt(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sqrt(z).flatten(1)

    model = nn.Sequential(Sqrt(), nn.Linear(4, 1).double()).eval()
    x = torch.tensor([[[[0.0, 0.5], [0.2, 0.9]]]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"fullgrad: .*parts\['input'\].* not finite .*float64"):
        aw.fullgrad(model, x, 0)
