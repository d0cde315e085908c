"""ROAR on a tiny synthetic task where only four known pixels carry the label: the true map beats random."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attrwidgets.evaluate import RoarResult, fit_classifier, roar

pytest.importorskip("zarr")  # ROAR's maps go through attribute_dataset, which writes Zarr

SIDE = 6
INFORMATIVE = [(1, 1), (1, 4), (4, 1), (4, 4)]


def task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform noise everywhere but the four informative pixels, which hold the label (0 or 1) ± 0.1."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    x = torch.rand(n, 1, SIDE, SIDE, generator=generator)
    for r, c in INFORMATIVE:
        x[:, 0, r, c] = labels.float() + 0.1 * torch.randn(n, generator=generator)
    return x, labels


def make_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 16), nn.ReLU(), nn.Linear(16, 2))


def true_map(model, inputs, target=None):
    """The ground truth: the informative pixels, a callable with the methods' signature."""
    mask = torch.zeros(1, 1, SIDE, SIDE)
    for r, c in INFORMATIVE:
        mask[0, 0, r, c] = 1.0
    return mask.expand(len(inputs), -1, -1, -1).clone()


def fit(model, images, labels, seed):
    return fit_classifier(model, images, labels, seed=seed, epochs=15, batch_size=32, lr=1e-2)


def test_true_map_beats_random_under_roar(tmp_path):
    rng_before = torch.get_rng_state()
    result = roar(make_model, task(200, 0), task(150, 1), {"truth": true_map, "gradient": "gradient"},
                  fractions=(0.1, 0.5), seeds=(0, 1), fit=fit, store=str(tmp_path), progress=False)  # fmt: skip
    assert torch.equal(torch.get_rng_state(), rng_before)  # seeded inside, restored after
    assert isinstance(result, RoarResult)
    assert set(result.accuracy) == {"truth", "gradient", "random"}
    assert result.accuracy["truth"].shape == (2, 2) and result.fractions == (0.1, 0.5)
    assert result.base_accuracy > 0.95
    truth, rand = result.mean()["truth"], result.mean()["random"]
    # 10 % of 36 pixels = 4: the true map removes exactly the informative ones, so chance is left
    assert truth[0] < 0.7 and truth[1] < 0.7
    assert rand[0] > 0.9 and bool((truth < rand - 0.2).all())
    assert (tmp_path / "truth.zarr").exists() and (tmp_path / "gradient.zarr").exists()
    table = result.table()
    assert "| truth |" in table and "10%" in table and "±" in table


def test_roar_is_seeded():
    kwargs = {"fractions": (0.5,), "seeds": (3,), "fit": fit, "progress": False}
    a = roar(make_model, task(120, 0), task(60, 1), {"truth": true_map}, **kwargs)
    b = roar(make_model, task(120, 0), task(60, 1), {"truth": true_map}, **kwargs)
    assert a.accuracy.keys() == b.accuracy.keys()
    for name in a.accuracy:
        assert (a.accuracy[name] == b.accuracy[name]).all()
    assert a.base_accuracy == b.base_accuracy


def test_roar_takes_datasets_and_checks_its_arguments():
    train = torch.utils.data.TensorDataset(*task(60, 0))
    result = roar(make_model, train, task(40, 1), ["gradient"], fractions=(0.5,), seeds=(0,), fit=fit,
                  control=False, progress=False)  # fmt: skip
    assert list(result.accuracy) == ["gradient"]
    with pytest.raises(ValueError, match="empty"):
        roar(make_model, task(20, 0), task(20, 1), [], progress=False)
    with pytest.raises(ValueError, match="replace"):
        roar(make_model, task(20, 0), task(20, 1), ["gradient"], replace="blur", progress=False)
    with pytest.raises(ValueError, match="label"):
        roar(make_model, torch.utils.data.TensorDataset(task(20, 0)[0]), task(20, 1), ["gradient"], progress=False)
