"""The static export of a SmoothGrad view scrubs the sample count offline (no kernel, no network),
and the path view's α = 1 panels agree: the accumulated attribution at α = 1 is the final map."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def model_and_image():
    from attrwidgets.demo import digits_data, load_digits_cnn

    images, _ = digits_data()
    return load_digits_cnn(), images[3]


def test_static_smoothgrad_scrubs_samples_offline(model_and_image, tmp_path, page, offline, explorer_view, artifacts):
    from attrwidgets import explore

    model, image = model_and_image
    ex = explore(model, image, method="smoothgrad", samples=16, sync=True)
    path = ex.save_html(tmp_path / "smoothgrad.html")
    outside = offline
    page.goto(path.as_uri())
    view = explorer_view(page)
    page.wait_for_selector(".aw-root[data-view='samples'][data-drawn]:not([data-drawn='0'])", timeout=20_000)
    full = view.canvas()
    view.assert_not_blank(full, "the exported canvas")
    view.assert_not_blank(view.canvas(view.CURVE), "the exported convergence curve")
    scrubber = page.locator("input.aw-samples")
    assert scrubber.get_attribute("max") == "4", "1, 2, 4, 8, 16 samples"
    before = view.state()["drawn"]
    scrubber.fill("1")
    view.wait_drawn_after(before)
    assert view.canvas()["hash"] != full["hash"], "the sample scrubber redraws in the static export"
    assert "first 2 of 16" in page.locator(".aw-samples-value").text_content()
    page.screenshot(path=str(artifacts / "explorer_static_samples.png"))
    assert not outside and not page.aw_errors, (outside, page.aw_errors)


def test_static_path_at_alpha_one_the_panels_agree(model_and_image, tmp_path, page, offline, explorer_view):
    from attrwidgets import explore

    model, image = model_and_image
    ex = explore(model, image, steps=16, sync=True)
    path = ex.save_html(tmp_path / "ig.html")
    page.goto(path.as_uri())
    explorer_view(page)
    page.wait_for_selector(".aw-root[data-view='path'][data-drawn]:not([data-drawn='0'])", timeout=20_000)
    apart = page.evaluate(
        """() => {
            const c = document.querySelector('canvas.aw-canvas');
            const r = JSON.parse(c.dataset.panels);
            const get = (k) => c.getContext('2d').getImageData(...r[k]).data;
            const x = get('cumulative'), y = get('final');
            let sum = 0, max = 0;
            for (let i = 0; i < x.length; i++) { const d = Math.abs(x[i] - y[i]); sum += d; if (d > max) max = d; }
            return {mean: sum / x.length, max};
        }"""
    )
    assert apart["mean"] < 0.5 and apart["max"] <= 16, f"α = 1: accumulated and final differ by {apart}"
