"""ROAR's stacked trainer: K models trained at once equal K runs of fit_classifier, or it refuses and roar
trains them one by one."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from attrwidgets import _ensemble
from attrwidgets._ensemble import fit_stacked, stack_refusal
from attrwidgets.evaluate import _Removed, _seeded_rng, fit_classifier, roar

SEEDS = (0, 1, 2)
OPTIONS = {"epochs": 3, "batch_size": 16, "lr": 1e-2}


def small_cnn() -> nn.Module:
    """Every layer kind the stacked network translates, nested once: 8×8 images, 3 classes."""
    features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.Tanh(), nn.AvgPool2d(2))  # fmt: skip
    return nn.Sequential(features, nn.Flatten(), nn.Linear(24, 8), nn.LeakyReLU(0.1), nn.Linear(8, 3)).double()


def fresh(make, seed: int) -> nn.Module:
    context = _seeded_rng(seed)
    try:
        return make()
    finally:
        context.__exit__(None, None, None)


def images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=generator)
    x = torch.rand(n, 1, 8, 8, generator=generator, dtype=torch.float64)
    x[:, 0, 2, 2] += labels.double()  # one pixel carries the label
    return x, labels


def test_stacked_models_equal_models_trained_one_by_one():
    x, y = images(70, 0)  # 70 = 4 batches of 16 and one of 6
    data = [x, x.flip(-1), x * 0.5]  # each model its own training set
    pairs = zip(SEEDS, data, strict=True)
    one_by_one = [fit_classifier(fresh(small_cnn, s), d, y, seed=s, **OPTIONS) for s, d in pairs]
    rng = torch.get_rng_state()
    stacked = fit_stacked([fresh(small_cnn, s) for s in SEEDS], data, y, SEEDS, **OPTIONS)
    assert torch.equal(torch.get_rng_state(), rng)
    assert stacked is not None and not any(m.training for m in stacked)
    for a, b in zip(one_by_one, stacked, strict=True):
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            assert p.shape == q.shape
            torch.testing.assert_close(q, p, rtol=0, atol=1e-9, msg=name)  # float64: rounding only
    # each model kept its own seed's shuffle and data: the models differ from each other
    assert (stacked[0][2].weight - stacked[1][2].weight).abs().max() > 1e-3


def test_stacked_digits_cnn_in_float32_matches_fit_classifier():
    from attrwidgets.demo import DigitsCNN

    x, y = torch.rand(48, 1, 28, 28, generator=torch.Generator().manual_seed(3)), torch.arange(48) % 10
    one_by_one = [fit_classifier(fresh(DigitsCNN, s), x, y, seed=s, epochs=1, batch_size=16) for s in SEEDS[:2]]
    stacked = fit_stacked([fresh(DigitsCNN, s) for s in SEEDS[:2]], [x, x], y, SEEDS[:2], epochs=1, batch_size=16,
                          lr=3e-3)  # fmt: skip
    assert stacked is not None
    for a, b in zip(one_by_one, stacked, strict=True):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            # float32: Adam divides by √v, so a near-zero gradient's rounding moves its weight by a
            # fraction of one step (lr = 3e-3); a wrong shuffle or gradient moves them by whole steps
            torch.testing.assert_close(q, p, rtol=0, atol=3e-4)


class Overridden(nn.Sequential):
    def forward(self, x):
        return super().forward(x) * 2


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(72, 3)), "BatchNorm2d"),
        (lambda: nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 3)), "Dropout"),
        (lambda: Overridden(nn.Flatten(), nn.Linear(64, 3)), "plain nn.Sequential"),
        (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Flatten()), "padding_mode"),
    ],
)
def test_models_it_cannot_translate_are_refused_and_left_untouched(make, reason):
    x, y = images(20, 0)
    x = x.float()
    models = [fresh(make, s) for s in SEEDS]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in models]
    assert reason in stack_refusal(models)
    assert fit_stacked(models, [x] * 3, y, SEEDS, **OPTIONS) is None
    for model, state in zip(models, before, strict=True):
        for k, v in model.state_dict().items():
            assert torch.equal(v, state[k])


def test_a_hook_or_a_different_architecture_is_refused():
    models = [fresh(small_cnn, s) for s in SEEDS]
    handle = models[1][0][0].register_forward_hook(lambda m, i, o: o)
    assert "hooks" in stack_refusal(models)
    handle.remove()
    assert stack_refusal(models) is None
    models[2] = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).double()
    assert "architecture" in stack_refusal(models)


def test_a_stacked_forward_that_does_not_reproduce_the_model_falls_back():
    # A Linear applied to (B, C, H, W) maps: the stacked network refuses it on the first batch.
    def make():
        return nn.Sequential(nn.Linear(8, 3), nn.Flatten(), nn.Linear(24, 3)).double()

    x, y = images(20, 0)
    models = [fresh(make, s) for s in SEEDS]
    assert stack_refusal(models) is None
    assert fit_stacked(models, [x] * 3, y, SEEDS, **OPTIONS) is None


def test_removed_is_torch_where_over_the_whole_set():
    x, _ = images(10, 0)
    place = torch.stack([torch.randperm(64, generator=torch.Generator().manual_seed(i)) for i in range(10)])
    fill = torch.full_like(x, 0.25)
    whole = torch.where((place < 20).reshape(10, 1, 8, 8), fill, x)
    removed = _Removed(x, fill, place, 20, (8, 8))
    rows = torch.tensor([7, 2, 2, 9])
    assert torch.equal(removed[rows], whole[rows]) and torch.equal(removed.tensor(), whole)


# -- roar with the stacked trainer ------------------------------------------------------------------
pytest.importorskip("zarr")


def true_map(model, inputs, target=None):
    mask = torch.zeros(1, 1, 8, 8, dtype=inputs.dtype)
    mask[0, 0, 2, 2] = 1.0
    return mask.expand(len(inputs), -1, -1, -1).clone()


def test_roar_with_the_stacked_trainer_equals_roar_one_by_one(monkeypatch):
    calls = []
    original = _ensemble.fit_stacked
    monkeypatch.setattr(_ensemble, "fit_stacked", lambda *a, **k: calls.append(original(*a, **k)) or calls[-1])
    kwargs = {"fractions": (0.05, 0.5), "seeds": SEEDS, "progress": False}
    rng = torch.get_rng_state()
    stacked = roar(small_cnn, images(90, 0), images(60, 1), {"truth": true_map}, fit_options=OPTIONS, **kwargs)
    assert torch.equal(torch.get_rng_state(), rng)
    assert calls and all(c is not None for c in calls)  # the stacked trainer ran, for every model
    assert sum(len(c) for c in calls) == 2 * 2 * 3
    stacks = len(calls)
    fit = functools.partial(fit_classifier, **OPTIONS)
    one_by_one = roar(small_cnn, images(90, 0), images(60, 1), {"truth": true_map}, fit=fit, **kwargs)
    assert len(calls) == stacks  # fit= given: no stacked training
    assert stacked.base_accuracy == one_by_one.base_accuracy
    for name in ("truth", "random"):
        assert (stacked.accuracy[name] == one_by_one.accuracy[name]).all(), name


def test_roar_trains_a_batchnorm_model_one_by_one_and_calls_a_custom_fit_per_model(monkeypatch):
    def make():
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                             nn.Linear(128, 3)).double()  # fmt: skip

    kwargs = {"fractions": (0.5,), "seeds": (0, 1), "progress": False, "control": False}
    default = roar(make, images(40, 0), images(30, 1), {"truth": true_map}, fit_options=OPTIONS, **kwargs)
    seen = []

    def fit(model, x, y, seed):
        seen.append(seed)
        return fit_classifier(model, x, y, seed=seed, **OPTIONS)

    custom = roar(make, images(40, 0), images(30, 1), {"truth": true_map}, fit=fit, **kwargs)
    assert seen == [0, 0, 1]  # the base model, then one call per retrained model
    assert (default.accuracy["truth"] == custom.accuracy["truth"]).all()
    with pytest.raises(ValueError, match="fit_options"):
        roar(make, images(40, 0), images(30, 1), {"truth": true_map}, fit=fit, fit_options=OPTIONS, **kwargs)
    with pytest.raises(TypeError, match="momentum"):
        roar(make, images(40, 0), images(30, 1), {"truth": true_map}, fit_options={"momentum": 0.9}, **kwargs)
