"""The compare grid in JupyterLab 4 and in its static export, on the bundled digits CNN.

In Lab: every one of the 6 × 2 panels is drawn (a coarse first answer, then refined), hovering one
panel shows a readout and a marker in every panel at once, toggling per-panel scales changes the
colours with no kernel message, and a label holding HTML stays text. Expected Gradients' panels
over several references (the random baselines' draws, the training set in a second grid) open
their per-reference maps: one map per reference drawn beside the mean, on the panel's colour
scale. Offline, from ``file://``: the exported grid draws, hovers, toggles, opens the
per-reference maps, scrubs α and saves a PNG with no request leaving the machine. Screenshots at
1280×800 go to ``tests/ui/artifacts/compare*.png`` (and ``$AW_SHOTS`` when set).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from tests.ui.conftest import canvas_stats, keep_shot

EVIL = "<img src=x onerror=alert(1)>"
SETUP = f"""\
import torch
from attrwidgets import compare
from attrwidgets.demo import digits_data, load_digits_cnn

model = load_digits_cnn()
images, _ = digits_data()
image = images[3]
labels = [str(i) for i in range(10)]
labels[int(model(image[None]).argmax())] = {EVIL!r}
w = compare(model, image, labels=labels, steps=12, samples=12)
w
"""
TRAINING = """\
w2 = compare(model, image, references=images[:40], baselines=["black", "references"], labels=labels, steps=12,
             samples=12, title="Expected Gradients over the training set")
w2
"""
PANELS = 12


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(TRAINING)]
    return nb


STATS = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let h = 2166136261 >>> 0;
    for (let i = 0; i < d.length; i += 4) {
        const v = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
        if (colours.size < 4096) colours.add(v);
        h = Math.imul(h ^ v, 16777619) >>> 0;
    }
    return {colours: colours.size, hash: h};
}"""


def _open_references(page, root, row: int, col: int) -> int:
    """Open the per-reference maps of panel (row, col) of the grid ``root``; check that the mean and
    every reference's map are drawn, the mean on the panel's own pixels; the number of references."""
    root.locator(f".aw-cmp-cell[data-row='{row}'][data-col='{col}'] button.aw-cmp-refs-toggle").click()
    box = root.locator(".aw-cmp-refs")
    box.wait_for(state="visible")
    assert (box.get_attribute("data-row"), box.get_attribute("data-col")) == (str(row), str(col))
    count = int(box.get_attribute("data-count"))
    maps = box.locator("canvas.aw-cmp-ref-map")
    assert count > 1
    assert maps.count() == count + 1, "the mean, then one map per reference"
    assert box.locator("canvas.aw-cmp-ref-picture").count() == count, "each map beside its reference"
    stats = [maps.nth(k).evaluate(STATS) for k in range(count + 1)]
    assert all(st["colours"] >= 16 for st in stats), stats
    panel = root.locator(f"canvas.aw-cmp-panel[data-row='{row}'][data-col='{col}']").evaluate(STATS)
    assert stats[0]["hash"] == panel["hash"], "the mean is the panel, drawn on the same scale"
    assert len({st["hash"] for st in stats[1:]}) > 1, "each reference has its own map"
    captions = box.locator(".aw-cmp-ref-caption").all_text_contents()
    assert captions[0] == "mean (the panel)"
    assert all(re.fullmatch(r"reference \d+ · \d+ of 12 draws?", c) for c in captions[1:]), captions
    assert sum(int(c.split(" · ")[1].split()[0]) for c in captions[1:]) == 12, "every draw is in one map"
    return count


def _hashes(page) -> list[int]:
    return [
        canvas_stats(page, f"canvas.aw-cmp-panel[data-row='{r}'][data-col='{c}']")["hash"]
        for r in range(2)
        for c in range(PANELS // 2)
    ]


def _check_panels(page) -> None:
    for r in range(2):
        for c in range(PANELS // 2):
            stats = canvas_stats(page, f"canvas.aw-cmp-panel[data-row='{r}'][data-col='{c}']")
            assert stats["opaque"] == stats["width"] * stats["height"], (r, c, stats)
            assert stats["colours"] >= 32, f"panel ({r}, {c}) looks blank: {stats}"


def _hover_everywhere(page) -> list[str]:
    box = page.locator("canvas.aw-cmp-panel").nth(2).bounding_box()
    page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.4 * box["height"])
    page.wait_for_function("[...document.querySelectorAll('.aw-cmp-readout')].every(e => e.textContent)")
    shown = page.eval_on_selector_all(".aw-cmp-marker", "els => els.map(e => getComputedStyle(e).display)")
    assert shown == ["block"] * PANELS, "a marker on every panel"
    return page.eval_on_selector_all(".aw-cmp-readout", "els => els.map(e => e.textContent)")


def _toggle_changes_colours(page) -> None:
    before = _hashes(page)
    drawn = int(page.locator(".aw-compare").get_attribute("data-drawn"))
    page.locator("input.aw-cmp-scale").check()
    page.wait_for_function(f"Number(document.querySelector('.aw-compare').dataset.drawn) > {drawn}")
    after = _hashes(page)
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    assert changed >= PANELS - 1, f"per-panel scales recoloured only {changed} of {PANELS} panels"
    assert "within a panel" in page.locator(".aw-cmp-scale-note").text_content()


def _shot(page, artifacts: Path, name: str) -> None:
    page.evaluate("() => document.querySelector('.aw-compare').scrollIntoView({block: 'start'})")
    keep_shot(page, artifacts / f"{name}.png")


def test_compare_grid_in_lab(lab_server, open_notebook, artifacts):
    nbp = open_notebook(lab_server, _notebook(), name="compare.ipynb")
    page = nbp.page
    page.set_viewport_size({"width": 1280, "height": 800})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    nbp.run_cell(0)
    page.wait_for_selector(".aw-compare[data-done='12']", timeout=90_000)
    page.wait_for_function(
        "document.querySelector('.aw-cmp-status').textContent === 'all 12 panels computed'", timeout=90_000
    )
    assert page.locator(".aw-cmp-cell[data-level='full']").count() == PANELS
    _check_panels(page)
    readouts = _hover_everywhere(page)
    assert all(text.startswith("value ") for text in readouts), readouts
    assert len(set(readouts)) > 1, "each panel reads its own value at the same pixel"
    assert all("gap" in g for g in page.eval_on_selector_all(".aw-cmp-gap", "els => els.map(e => e.textContent)"))

    sent = len(nbp.sent("comm_msg"))
    _toggle_changes_colours(page)
    page.wait_for_timeout(300)
    assert len(nbp.sent("comm_msg")) <= sent + 1, "the toggle redraws in the browser (one trait sync at most)"

    options = page.eval_on_selector_all("select.aw-cmp-picked option", "els => els.map(e => e.textContent)")
    assert any(EVIL in text for text in options), options
    assert page.locator(".aw-compare img").count() == 0, "a label is text, never markup"
    assert not dialogs
    _shot(page, artifacts, "compare_lab")

    # Expected Gradients over the 16 draws of a uniform baseline (column 2): the map of each
    grid = page.locator(".aw-compare").first
    toggles = grid.locator("button.aw-cmp-refs-toggle:visible")
    assert toggles.count() == 2, "the uniform and gaussian columns' EG panels: several references each"
    _open_references(page, grid, 1, 2)

    # ... and over the training set, in a second grid
    nbp.run_cell(1)
    second = page.locator(".aw-compare").nth(1)
    second.locator(".aw-cmp-cell[data-row='1'][data-col='1'][data-level='full']").wait_for(timeout=90_000)
    count = _open_references(page, second, 1, 1)
    assert count >= 6, "12 draws from 40 training images: mostly distinct"
    page.evaluate("() => document.querySelectorAll('.aw-compare')[1].querySelector('.aw-cmp-refs')"
                  ".scrollIntoView({block: 'end'})")  # fmt: skip
    keep_shot(page, artifacts / "compare_refs_lab.png")
    assert not page.aw_errors, page.aw_errors


def test_compare_grid_static_export_offline(page, offline, artifacts, tmp_path):
    from attrwidgets import compare
    from attrwidgets.demo import digits_data, load_digits_cnn

    model = load_digits_cnn()
    images, _ = digits_data()
    labels = [str(i) for i in range(9)] + [EVIL]
    w = compare(model, images[3], labels=labels, steps=12, samples=12, sync=True)
    path = w.save_html(tmp_path / "grid.html")
    w.close()

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(path.as_uri())
    page.wait_for_selector(".aw-compare[data-drawn]", timeout=20_000)
    _check_panels(page)
    readouts = _hover_everywhere(page)
    assert all(text.startswith("value ") for text in readouts), readouts
    _toggle_changes_colours(page)
    assert page.locator(".aw-compare img").count() == 0
    _open_references(page, page.locator(".aw-compare"), 1, 4)  # the gaussian column, per-panel scale
    # α moves every path panel together (both methods keep a trace), with no kernel
    before = _hashes(page)
    page.locator("input.aw-cmp-alpha").fill("300")
    alphas = page.eval_on_selector_all("canvas.aw-cmp-panel", "els => els.map(e => Number(e.dataset.alpha))")
    assert all(0 < a < 0.6 for a in alphas), alphas
    assert sum(a != b for a, b in zip(before, _hashes(page), strict=True)) >= PANELS - 1
    with page.expect_download() as download:
        page.locator("button.aw-cmp-png").click()
    saved = tmp_path / "button.png"
    download.value.save_as(saved)
    assert saved.read_bytes()[:4] == b"\x89PNG"
    _shot(page, artifacts, "compare_static")
    assert not offline, f"the static page asked the network for {offline}"
    assert not page.aw_errors, page.aw_errors
