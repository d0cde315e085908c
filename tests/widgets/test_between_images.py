"""explore(model, x, baseline=<another image>): the path runs from the other image to this one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attrwidgets as aw
from attrwidgets.widgets import explore
from attrwidgets.widgets._wire import decode


def test_another_image_is_the_baseline_of_the_path(model, image):
    other = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(7))
    ex = explore(model, image, baseline=other, steps=8, sync=True)
    assert ex.baseline == "image" and "image" in ex.baselines
    direct = aw.integrated_gradients(model, image[None], ex.target, baseline=other[None], steps=8)
    torch.testing.assert_close(ex.attribution.values, direct.values)
    assert ex.attribution.baseline_score == pytest.approx(direct.baseline_score)
    sent = decode(ex.result["baseline_image"])  # the front end draws the path's images from these pixels
    assert np.abs(sent.astype(float) / 255 - other.permute(1, 2, 0).numpy()).max() <= 1 / 255 + 1e-6
    notes = " ".join(ex.result["notes"])
    assert "another image" in notes and "positive" in notes.lower()
    ex.baseline = "black"  # the menu moves between the other image and the named baselines
    assert ex.attribution.baseline_score != pytest.approx(direct.baseline_score)
    ex.baseline = "image"
    torch.testing.assert_close(ex.attribution.values, direct.values)
    ex.close()


def test_another_size_is_resized_with_a_note(model, image):
    other = np.random.default_rng(0).integers(0, 256, size=(40, 48, 3), dtype=np.uint8)  # (H, W, C), uint8
    ex = explore(model, image, baseline=other, steps=4, sync=True)
    assert any("resized" in n and "40×48" in n for n in ex.result["notes"])
    ex.close()


@pytest.mark.parametrize(
    ("bad", "words"),
    [(torch.rand(1, 20, 24), "channels"), (torch.full((3, 20, 24), float("nan")), "NaN"), ([1, 2, 3], "baseline")],
)
def test_a_bad_baseline_image_is_refused_up_front(model, image, bad, words):
    with pytest.raises((ValueError, TypeError), match=words):
        explore(model, image, baseline=bad, sync=True)


def test_the_image_baseline_is_offered_only_when_given(model, image):
    ex = explore(model, image, steps=4, sync=True)
    assert "image" not in ex.baselines
    with pytest.raises(Exception, match="baseline"):
        ex.baseline = "image"
    ex.close()


def test_the_png_shows_both_images(model, image, tmp_path):
    # save_png draws what the widget shows: the other image beside the input, with what the model
    # sees in it; with a named baseline there is no such panel
    from matplotlib.image import imread

    other = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(7))
    ex = explore(model, image, baseline=other, steps=8, sync=True)
    seen = ex._explainer.label(int(model(other[None]).argmax()))
    assert ex._explainer.baseline_label == seen
    both = imread(ex.save_png(tmp_path / "both.png", dpi=50))
    ex.baseline = "black"
    one = imread(ex.save_png(tmp_path / "one.png", dpi=50))
    ex.close()
    assert both.shape[0] == one.shape[0]
    assert both.shape[1] - one.shape[1] == pytest.approx(4.2 * 50, abs=2)  # one more panel, 4.2 in wide
