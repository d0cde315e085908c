"""Every registered method in the explorer, in JupyterLab 4, chosen from the widget's own menu.

On the bundled digits CNN (small, fast on a CPU): switch to each method and see a new map drawn;
scrub the sample count of SmoothGrad and see the canvas change with no kernel message; a
screenshot of each method at 1280×800 goes to ``tests/ui/artifacts/methods/`` (and ``$AW_SHOTS``
when set) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from attrwidgets.registry import REGISTRY
from attrwidgets.widgets._methods import view_of
from tests.ui.conftest import keep_shot

QUIET_MS = 500
SETUP = """\
import torch
from attrwidgets import explore
from attrwidgets.demo import digits_data, load_digits_cnn

model = load_digits_cnn()
images, labels = digits_data()
ex = explore(model, images[3], references=images[100:140], labels=[str(i) for i in range(10)])
ex
"""


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    return nb


def _shot(nbp, view, name: str, artifacts: Path) -> Path:
    view.root.scroll_into_view_if_needed()
    nbp.page.evaluate("() => document.querySelector('.aw-root').scrollIntoView({block: 'start'})")
    folder = artifacts / "methods"
    folder.mkdir(exist_ok=True)
    return keep_shot(nbp.page, folder / f"{name}.png", copy_as=f"lab_{name}.png")


def open_method(server, open_notebook, explorer_view, method: str, samples: int, name: str, timeout: float = 180_000):
    """The digits explorer opened on ``method`` with ``samples`` at 1280×800, run, its first result
    drawn: (notebook page, page, explorer view, state)."""
    nb = _notebook()
    nb.cells[0].source = SETUP.replace("labels=[", f'method="{method}", samples={samples}, labels=[')
    nbp = open_notebook(server, nb, name=name)
    page = nbp.page
    page.set_viewport_size({"width": 1280, "height": 800})
    view = explorer_view(page)
    nbp.run_all()
    state = view.wait_result(timeout=timeout)
    return nbp, page, view, state


def _panel_difference(page, a: str, b: str) -> dict:
    """Mean and largest per-channel difference (0..255) between two panels of the canvas; the
    same data drawn at two places may differ by a few levels where the browser scales the image."""
    return page.evaluate(
        """([a, b]) => {
            const c = document.querySelector('canvas.aw-canvas');
            const r = JSON.parse(c.dataset.panels);
            const get = (k) => c.getContext('2d').getImageData(...r[k]).data;
            const x = get(a), y = get(b);
            let sum = 0, max = 0;
            for (let i = 0; i < x.length; i++) { const d = Math.abs(x[i] - y[i]); sum += d; if (d > max) max = d; }
            return {mean: sum / x.length, max};
        }""",
        [a, b],
    )


def test_every_method_from_the_menu(lab_server, open_notebook, explorer_view, artifacts):
    nbp = open_notebook(lab_server, _notebook(), name="methods.ipynb")
    page = nbp.page
    page.set_viewport_size({"width": 1280, "height": 800})
    view = explorer_view(page)
    nbp.run_all()
    state = view.wait_result(timeout=90_000)
    offered = page.eval_on_selector_all("select.aw-method option", "els => els.map(e => e.value)")
    assert offered == list(REGISTRY), "the menu lists every registered method, in order"

    previous = view.canvas()["hash"]
    for name in REGISTRY:
        if name != page.locator("select.aw-method").input_value():
            page.locator("select.aw-method").select_option(name)
            state = view.wait_result(newer_than=state["result"], timeout=90_000)
        expected = view_of(REGISTRY[name])
        assert view.root.get_attribute("data-view") == expected, name
        labels = page.eval_on_selector_all(".aw-controls label", "els => els.map(e => e.dataset.control)")
        shown = [c.name for c in REGISTRY[name].controls if c.kind not in ("tensor", "baseline")]
        assert labels == shown, f"{name}: the kernel row shows its controls"
        assert page.locator(".aw-baseline-box").is_visible() == ("baseline" in REGISTRY[name].needs), name
        assert page.locator("input.aw-alpha").is_visible() == (expected == "path"), f"{name}: α only for paths"
        stats = view.canvas()
        view.assert_not_blank(stats, f"the canvas of {name}")
        view.assert_not_blank(view.panel("final"), f"the map of {name}")
        assert stats["hash"] != previous, f"{name}: a new map was drawn"
        previous = stats["hash"]
        _shot(nbp, view, name, artifacts)
    assert not page.aw_errors, page.aw_errors


def test_sample_scrubber_redraws_with_no_kernel_message(lab_server, open_notebook, explorer_view):
    nb = _notebook()
    nb.cells[0].source = SETUP.replace("labels=[", 'method="smoothgrad", samples=32, labels=[')
    nbp = open_notebook(lab_server, nb, name="samples.ipynb")
    page = nbp.page
    view = explorer_view(page)
    nbp.run_all()
    view.wait_result(timeout=180_000)
    assert view.root.get_attribute("data-view") == "samples"
    scrubber = page.locator("input.aw-samples")
    assert scrubber.get_attribute("max") == "5", "1, 2, 4, 8, 16, 32 samples"
    full = view.canvas()["hash"]
    apart = _panel_difference(page, "running", "final")
    assert apart["mean"] < 0.5 and apart["max"] <= 8, f"at n samples the running mean is the final map: {apart}"
    sent = len(nbp.sent("comm_msg"))
    drawn = view.state()["drawn"]
    scrubber.fill("0")
    view.wait_drawn_after(drawn)
    assert "first 1 of 32" in page.locator(".aw-samples-value").text_content()
    assert view.canvas()["hash"] != full, "the running-mean panel changed"
    scrubber.fill("3")
    page.wait_for_timeout(QUIET_MS)
    assert "first 8 of 32" in page.locator(".aw-samples-value").text_content()
    assert len(nbp.sent("comm_msg")) == sent, "scrubbing samples never talks to the kernel"
    assert not page.aw_errors, page.aw_errors


def test_expected_gradients_shows_each_references_map(lab_server, open_notebook, explorer_view, artifacts):
    """EG over 40 training digits: the strip under the panels holds the mean and the most drawn
    references' maps with their pictures; scrubbing the samples does not redraw it."""
    _, page, _, _ = open_method(lab_server, open_notebook, explorer_view, "expected_gradients", 24, "eg_refs.ipynb")
    page.wait_for_function("() => document.querySelector('.aw-refs')?.dataset.count > 0", timeout=30_000)
    box = page.locator(".aw-refs")
    assert box.is_visible()
    count = int(box.get_attribute("data-count"))
    assert 2 <= count <= 8, count
    assert page.locator(".aw-ref").count() == count + 1, "the mean and one cell per reference"
    assert page.locator(".aw-ref-picture").count() == count
    captions = page.eval_on_selector_all(".aw-ref-caption", "els => els.map(e => e.textContent)")
    assert captions[0] == "mean of all 24 draws (the final map)"
    draws = [int(c.split(" · ")[1].split(" of ")[0]) for c in captions[1:]]
    assert draws == sorted(draws, reverse=True) and all(c.endswith("of 24 draws") for c in captions[1:])
    inked = page.eval_on_selector_all(
        ".aw-ref-map",
        """els => els.map(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let lo = 255, hi = 0;
            for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
            return hi - lo; })""",
    )
    assert all(spread > 20 for spread in inked), f"every map is drawn, not blank: {inked}"
    drawn = box.get_attribute("data-drawn")
    page.locator("input.aw-samples").fill("0")
    page.wait_for_timeout(QUIET_MS)
    assert box.get_attribute("data-drawn") == drawn, "the strip is not redrawn on a sample scrub"
    box.scroll_into_view_if_needed()
    path = artifacts / "methods" / "expected_gradients_references.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path))
    page.locator("select.aw-method").select_option("smoothgrad")
    page.wait_for_function("() => document.querySelector('.aw-refs').hidden", timeout=90_000)
    assert not page.aw_errors, page.aw_errors


def test_sigma_box_applies_on_enter(lab_server, open_notebook, explorer_view):
    # σ: a slider applied on release, and its box on Enter. The result stamp is read before Enter:
    # read after it, a fast kernel's new result was already the stamp and the wait never ended.
    nb = _notebook()
    nb.cells[0].source = SETUP.replace("labels=[", 'method="smoothgrad", samples=8, labels=[')
    nbp = open_notebook(lab_server, nb, name="sigma.ipynb")
    page = nbp.page
    view = explorer_view(page)
    nbp.run_all()
    view.wait_result(timeout=180_000)
    box = page.locator("input.aw-opt-sigma-box")
    assert box.input_value() == "15", "σ shown as a percentage of the input range"
    before = view.state()["result"]
    box.fill("25")
    box.press("Enter")
    view.wait_result(newer_than=before, timeout=180_000)
    assert page.locator("input.aw-opt-sigma-box").input_value() == "25"
    assert not page.aw_errors, page.aw_errors
