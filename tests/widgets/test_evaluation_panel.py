"""The explorer's evaluation panel: the final map's deletion / pixel-perturbation curve against random rankings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.widgets import explore
from attrwidgets.widgets._evaluation import RANDOM_MAPS


class OnePixel(nn.Module):
    """Two classes; class 1's logit is 8 × the red value of pixel (3, 5) (the rest barely counts)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        key = 8.0 * x[:, 0, 3, 5]
        rest = 0.01 * x.mean(dim=(1, 2, 3))
        return torch.stack([rest, key + rest], dim=1)


@pytest.fixture
def bright() -> torch.Tensor:
    return torch.full((3, 10, 12), 0.8)


def test_the_panel_shows_the_final_maps_deletion_curve_and_a_random_band(bright):
    ex = explore(OnePixel(), bright, method="gradient", target=1, sync=True, evaluation="deletion")
    r = ex.evaluation_result
    assert r["kind"] == "deletion" and r["method"] == "gradient" and r["random"][0]["count"] == RANDOM_MAPS
    direct = aw.evaluate.deletion(OnePixel(), bright[None], ex.attribution, target=[1], progress=False)
    curve, band = r["curves"][0], r["random"][0]
    assert curve["values"] == pytest.approx(direct.probabilities[0].tolist())
    assert curve["auc"] == pytest.approx(float(direct.auc[0]))
    # the gradient ranks the one pixel first: the class is gone after the first removal step
    assert curve["values"][1] < 0.55 < band["mean"][1]
    assert curve["auc"] < band["auc"], "a map that finds the pixel beats random rankings"
    low, high = torch.tensor(band["low"]), torch.tensor(band["high"])
    mean = torch.tensor(band["mean"])
    assert (low <= mean + 1e-12).all() and (mean <= high + 1e-12).all()
    ex.close()


class Counting(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        return self.inner(x)


def test_turning_the_panel_on_spends_only_the_evaluations_forwards(bright):
    model = Counting(OnePixel())
    ex = explore(model, bright, method="gradient", target=1, sync=True)
    assert ex.evaluation_result is None
    before, generation = model.rows, ex.result["generation"]
    ex.evaluation = "pixel_perturbation"
    r = ex.evaluation_result
    assert r["kind"] == "pixel_perturbation" and r["measure"] == "change"
    assert ex.result["generation"] == generation, "the map on screen is evaluated, not recomputed"
    assert model.rows - before == r["forwards"] == (1 + RANDOM_MAPS) * (len(r["fractions"]) + 1)
    ex.evaluation = "off"
    assert ex.evaluation_result is None
    ex.close()


def test_a_new_map_gets_new_curves(model, image):
    ex = explore(model, image, sync=True, evaluation="deletion", steps=8)
    first = ex.evaluation_result
    assert first["method"] == "integrated_gradients"
    ex.method = "grad_cam"  # a one-channel map at the image's size ranks pixels too
    assert ex.evaluation_result["method"] == "grad_cam"
    assert ex.evaluation_result["curves"][0]["values"] != first["curves"][0]["values"]
    ex.close()


def test_the_browser_can_only_pick_a_known_test(model, image):
    ex = explore(model, image, sync=True, steps=4)
    ex.send_state = lambda key=None: None
    ex.set_state({"evaluation": "<img src=x onerror=alert(1)>"})
    assert ex.evaluation == "off" and ex.status["state"] == "error" and "evaluation" in ex.status["message"]
    ex.set_state({"evaluation_result": {"map": [1, 2]}})
    assert ex.evaluation_result is None and "only the kernel writes it" in ex.status["message"]
    with pytest.raises(Exception, match="evaluation"):
        ex.evaluation = "roar"
    ex.close()


def test_a_map_at_a_layer_says_why_it_has_no_curve():
    emb = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)).eval()
    x = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(0))
    ex = explore(emb, x, method="gradient", layer=emb[0], sync=True, evaluation="deletion")
    assert "layer" in ex.evaluation_result["unavailable"]
    ex.close()
