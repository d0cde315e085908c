"""``Explorer.save_html`` writes one file that works from ``file://`` with no kernel and no network:
the canvas is drawn, the α scrubber and the final panel's channel menu redraw it."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def html_file(tmp_path_factory):
    from attrwidgets import explore
    from attrwidgets.demo import imagenet_labels, imagenet_preprocess, load_efficientnet_lite0, photos

    image = photos()["chelsea"]
    ex = explore(
        load_efficientnet_lite0(),
        image,
        preprocess=imagenet_preprocess(),
        labels=imagenet_labels(),
        steps=8,  # a short path is enough to scrub along; keeps the suite fast on 2 cores
        sync=True,
    )
    path = tmp_path_factory.mktemp("static") / "explorer.html"
    ex.save_html(path)
    return path


def test_static_html_scrubber_offline(html_file, page, offline, explorer_view, artifacts):
    outside = offline
    page.goto(html_file.as_uri())
    view = explorer_view(page)
    page.wait_for_selector(".aw-root[data-drawn]:not([data-drawn='0'])", timeout=20_000)
    drawn = view.canvas()
    view.assert_not_blank(drawn, "the exported canvas")
    view.assert_not_blank(view.canvas(view.CURVE), "the exported saturation curve")
    for name in ("input", "grad", "cumulative", "final"):
        view.assert_not_blank(view.panel(name), f"the exported {name} panel")

    before = view.state()["drawn"]
    view.drag_alpha(0.9, 0.2)
    view.wait_drawn_after(before)
    scrubbed = view.canvas()
    assert scrubbed["hash"] != drawn["hash"], "the α scrubber does not redraw in the static export"
    view.assert_not_blank(scrubbed, "the exported canvas at α≈0.2")
    # the readout names both the slider's α and the path point the images show
    readout = view.alpha_text.text_content()
    slider = int(view.alpha.input_value()) / 1000
    assert readout.startswith(f"α = {slider:.3f}") and "path point" in readout and "of 9" in readout, readout
    page.screenshot(path=str(artifacts / "explorer_static.png"), full_page=True)

    # The final panel's channel menu works offline. A magnitude (L2 over channels) has no sign:
    # the sign menu then changes the gradient panel but not the final one.
    final_signed = view.panel("final")
    before = view.state()["drawn"]
    view.reduction.select_option("l2")
    view.wait_drawn_after(before)
    final_l2 = view.panel("final")
    view.assert_not_blank(final_l2, "the exported final panel, L2 over channels")
    assert final_l2["hash"] != final_signed["hash"], "the channel menu did not redraw the final panel"
    grad_both = view.panel("grad")
    before = view.state()["drawn"]
    page.locator("select.aw-sign").select_option("negative")
    view.wait_drawn_after(before)
    assert view.panel("grad")["hash"] != grad_both["hash"], "the sign menu did not change the gradient panel"
    assert view.panel("final")["hash"] == final_l2["hash"], "a magnitude was split by sign"
    page.screenshot(path=str(artifacts / "explorer_static_l2.png"), full_page=True)

    # Kernel-only controls are disabled in the export; the front-end ones are not.
    assert view.baseline.is_disabled(), "the baseline menu needs a kernel and should be disabled"
    assert view.alpha.is_enabled() and view.opacity.is_enabled()

    # The PNG button saves what is shown (panels and curves side by side), offline too
    with page.expect_download() as download:
        page.locator("button.aw-png").click()
    saved = artifacts / "explorer_png_button.png"
    download.value.save_as(saved)
    png = saved.read_bytes()
    assert png[:4] == b"\x89PNG"
    width = int.from_bytes(png[16:20], "big")
    assert width > page.evaluate("() => document.querySelector('canvas.aw-canvas').width"), "panels and curves"

    assert outside == [], f"the static export reached for the network: {outside}"
    assert page.aw_errors == []


NASTY = "<!--<script>x</script>"


@pytest.fixture(scope="module")
def nasty_html_file(tmp_path_factory):
    """An export whose labels and title open an HTML comment and a script inside the data block."""
    import torch
    from torch import nn

    from attrwidgets import explore

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 4)
    ).eval()
    image = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(0))
    labels = [f"{NASTY} {i}" for i in range(4)]
    ex = explore(model, image, labels=labels, title=NASTY, steps=8, sync=True)
    path = tmp_path_factory.mktemp("static-nasty") / "explorer.html"
    ex.save_html(path, title=NASTY)
    return path


def test_static_html_renders_with_script_like_labels(nasty_html_file, page, explorer_view):
    page.context.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())
    page.goto(nasty_html_file.as_uri())
    view = explorer_view(page)
    page.wait_for_selector(".aw-root[data-drawn]:not([data-drawn='0'])", timeout=20_000)
    view.assert_not_blank(view.canvas(), "the exported canvas")
    options = page.locator("select.aw-target option").all_text_contents()
    assert options and all(o.startswith(NASTY) for o in options), options
    assert NASTY in page.locator(".aw-title").first.text_content()
    assert page.title() == NASTY
    # the page's own two scripts and nothing else: the labels were not parsed as markup
    assert page.evaluate("() => document.scripts.length") == 2
    assert page.aw_errors == []
