"""The explorer in JupyterLab 4: pick the baseline's colour by clicking the input image (the baselines
poster's figure), and the check menu's deletion curve of the map."""

from __future__ import annotations

import nbformat

SETUP = """\
from attrwidgets import explore
from attrwidgets.demo import digits_data, load_digits_cnn

model = load_digits_cnn()
images, labels = digits_data()
ex = explore(model, images[3], steps=16, labels=[str(i) for i in range(10)])
ex
"""


def _explorer(lab_server, open_notebook, explorer_view, name: str):
    """The digits explorer in a notebook of its own, run, its first result drawn: (page, view, state)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    nbp = open_notebook(lab_server, nb, name=name)
    view = explorer_view(nbp.page)
    nbp.run_all()
    return nbp.page, view, view.wait_result(timeout=180_000)


def test_a_click_on_the_input_outlines_a_segment_and_recomputes_from_its_colour(
    lab_server, open_notebook, explorer_view, artifacts
):
    page, view, before = _explorer(lab_server, open_notebook, explorer_view, "pick.ipynb")
    canvas = page.locator("canvas.aw-canvas")
    rect = page.evaluate("() => JSON.parse(document.querySelector('canvas.aw-canvas').dataset.panels).input")
    dpr = page.evaluate("() => window.devicePixelRatio || 1")
    # the middle of the digit's panel (device pixels → CSS pixels of the canvas)
    canvas.click(position={"x": (rect[0] + rect[2] * 0.5) / dpr, "y": (rect[1] + rect[3] * 0.5) / dpr})
    after = view.wait_result(newer_than=before["result"], timeout=120_000)
    assert page.locator("select.aw-baseline").input_value() == "constant", "the picked colour is the baseline"
    page.wait_for_function("() => Number(document.querySelector('canvas.aw-canvas').dataset.outline || 0) > 0")
    assert after["status"] == "idle"
    swatch = page.locator("input.aw-color")
    assert swatch.is_visible() and swatch.input_value().startswith("#"), "the picked colour shows as a swatch"
    view.root.screenshot(path=str(artifacts / "picked_segment.png"))  # for a person to look at
    assert not page.aw_errors, page.aw_errors


def test_the_check_menu_draws_the_deletion_curve_of_the_map(lab_server, open_notebook, explorer_view, artifacts):
    page, _, _ = _explorer(lab_server, open_notebook, explorer_view, "check.ipynb")
    assert not page.locator(".aw-eval").is_visible(), "off by default"
    page.locator("select.aw-evaluation").select_option("deletion")
    page.wait_for_selector(".aw-eval[data-drawn]", timeout=120_000)
    assert "lower is better" in page.locator(".aw-eval-text").text_content()
    page.locator(".aw-eval").screenshot(path=str(artifacts / "explorer_deletion_panel.png"))
    page.locator("select.aw-evaluation").select_option("off")
    page.wait_for_selector(".aw-eval", state="hidden", timeout=30_000)
    assert not page.aw_errors, page.aw_errors
