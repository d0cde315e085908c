"""Pick the baseline's colour by clicking the image: the segment's mean colour, or one pixel's (shift-click)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attrwidgets as aw
from attrwidgets.widgets import explore
from attrwidgets.widgets._wire import decode


@pytest.fixture
def halves() -> torch.Tensor:
    """Left half red-ish, right half blue-ish, with a little texture: two obvious segments."""
    g = torch.Generator().manual_seed(0)
    x = torch.empty(3, 24, 32)
    x[:, :, :16] = torch.tensor([0.9, 0.2, 0.1]).view(3, 1, 1)
    x[:, :, 16:] = torch.tensor([0.1, 0.3, 0.8]).view(3, 1, 1)
    return (x + 0.02 * torch.rand(3, 24, 32, generator=g)).clamp(0, 1)


@pytest.mark.filterwarnings("ignore:.*completeness gap")
def test_a_click_takes_the_segments_mean_colour_exactly(model, halves):
    ex = explore(model, halves, steps=8, sync=True)
    ex._on_message(ex, {"type": "pick", "x": 0.2, "y": 0.5}, [])
    picked = ex.picked
    assert ex.baseline == "constant" and picked["segment"] >= 0 and ex.color == picked["hex"]
    seg = decode(ex.segments)
    assert seg.shape == (24, 32), "display size: the image is small enough to be shown whole"
    inside = torch.from_numpy(seg == picked["segment"])
    assert inside[12, 6] and not inside[:, 16:].any(), "the segment under the click, on the left half only"
    expected = halves[:, inside].double().mean(dim=1)
    assert picked["color"] == pytest.approx(expected.tolist(), abs=1e-12)
    # the baseline the method got is that colour exactly, not its #rrggbb rounding
    direct = aw.integrated_gradients(model, halves[None], ex.target, steps=8,
                                     baseline=aw.baselines.constant(picked["color"]))  # fmt: skip
    torch.testing.assert_close(ex.attribution.values, direct.values)
    ex.close()


def test_shift_click_takes_the_pixels_own_colour(model, halves):
    ex = explore(model, halves, steps=4, sync=True)
    picked = ex.pick(0.9, 0.1, pixel=True)
    assert picked["segment"] == -1
    assert picked["color"] == pytest.approx(halves[:, 2, 28].double().tolist())
    ex.close()


def test_segments_are_deterministic(model, halves):
    a = explore(model, halves, steps=4, sync=True)
    b = explore(model, halves, steps=4, sync=True)
    a.pick(0.5, 0.5)
    b.pick(0.1, 0.9)
    assert np.array_equal(decode(a.segments), decode(b.segments))
    a.close()
    b.close()


@pytest.mark.parametrize(
    "bad",
    [{"x": float("nan"), "y": 0.5}, {"x": "left", "y": 0.5}, {"y": 0.5}, {"x": 10**400, "y": 0.5},
     {"x": True, "y": 0.5}, {"x": [0.5], "y": 0.5}, {"x": float("inf"), "y": 0.5}],
)
def test_a_bad_pick_from_the_browser_is_refused(model, halves, bad):
    ex = explore(model, halves, steps=4, sync=True)
    generation = ex.result["generation"]
    ex._on_message(ex, {"type": "pick", **bad}, [])
    assert ex.status["state"] == "error" and "pick" in ex.status["message"]
    assert ex.baseline == "black" and ex.result["generation"] == generation
    ex.close()


def test_a_method_without_a_baseline_says_so(model, halves):
    ex = explore(model, halves, method="grad_cam", sync=True)
    with pytest.raises(ValueError, match="takes no baseline"):
        ex.pick(0.5, 0.5)
    ex.close()
