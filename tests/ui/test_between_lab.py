"""The explorer in JupyterLab 4 with another image as the baseline (the baselines poster's goldfinch
and pencil): the α scrubber walks from the other image to this one, both are on screen, and the
sign menu splits the map into what this image adds and what the other one has.

On the bundled digits CNN: a "3" explained from a "7". A screenshot goes to
``tests/ui/artifacts/between*.png`` (and ``$AW_SHOTS`` when set) for a person to look at.
"""

from __future__ import annotations

import nbformat
import numpy as np

from attrwidgets.demo import digits_data
from tests.ui.conftest import keep_shot

INPUT, OTHER = 3, 7  # indices into digits_data(): two digits of different classes
SETUP = f"""\
from attrwidgets import explore
from attrwidgets.demo import digits_data, load_digits_cnn

model = load_digits_cnn()
images, labels = digits_data()
ex = explore(model, images[{INPUT}], baseline=images[{OTHER}], steps=16, labels=[str(i) for i in range(10)])
ex
"""


def _grid(page, rect_name: str, size: int) -> np.ndarray:
    """The mean brightness of a canvas panel on a ``size`` × ``size`` grid of blocks (0..255)."""
    values = page.evaluate(
        """([name, n]) => {
            const c = document.querySelector('canvas.aw-canvas');
            const [x, y, w, h] = JSON.parse(c.dataset.panels)[name];
            const d = c.getContext('2d').getImageData(x, y, w, h).data;
            const sums = new Float64Array(n * n), counts = new Float64Array(n * n);
            for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
                const k = Math.min(n - 1, Math.floor(r * n / h)) * n + Math.min(n - 1, Math.floor(q * n / w));
                const i = 4 * (r * w + q);
                sums[k] += (d[i] + d[i + 1] + d[i + 2]) / 3; counts[k] += 1;
            }
            return Array.from(sums, (s, k) => s / counts[k]);
        }""",
        [rect_name, size],
    )
    return np.asarray(values).reshape(size, size)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_the_path_walks_from_the_other_image_to_this_one(lab_server, open_notebook, explorer_view, artifacts):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    nbp = open_notebook(lab_server, nb, name="between.ipynb")
    page = nbp.page
    page.set_viewport_size({"width": 1280, "height": 900})
    view = explorer_view(page)
    nbp.run_all()
    first = view.wait_result(timeout=180_000)
    assert view.baseline.input_value() == "image"
    assert "another image" in view.baseline.locator("option:checked").text_content()

    images, _ = digits_data()
    this, other = images[INPUT, 0].numpy(), images[OTHER, 0].numpy()
    size = this.shape[-1]
    assert abs(_correlation(this, other)) < 0.5, "the two digits must look different for this test"

    def blocks(img: np.ndarray) -> np.ndarray:  # the digit on the same grid as the panel
        return img.reshape(size, 1, size, 1).mean(axis=(1, 3))

    # α = 0: the input panel shows the other image; α = 1: this one; halfway, both at once
    seen = {}
    for value in ("0", "500", "1000"):
        drawn = view.state()["drawn"]
        view.alpha.fill(value)
        view.wait_drawn_after(drawn)
        seen[value] = _grid(page, "input", size)
    assert _correlation(seen["0"], blocks(other)) > 0.9 > _correlation(seen["0"], blocks(this))
    assert _correlation(seen["1000"], blocks(this)) > 0.9 > _correlation(seen["1000"], blocks(other))
    assert _correlation(seen["500"], blocks(this) + blocks(other)) > 0.9
    # the other image stays on screen while α moves: the thumbnail beside the input
    thumb = page.locator("canvas.aw-baseline-thumb")
    assert thumb.is_visible(), "the other image is shown beside the input"
    assert "the baseline" in (thumb.get_attribute("title") or "")
    keep_shot(view.root, artifacts / "between.png")

    # the sign menu splits the final map: positive (this image's pixels) and negative (the other's)
    finals = {}
    for sign in ("positive", "negative"):
        drawn = view.state()["drawn"]
        page.locator("select.aw-sign").select_option(sign)
        view.wait_drawn_after(drawn)
        finals[sign] = view.panel("final")["hash"]
    assert finals["positive"] != finals["negative"]
    keep_shot(view.root, artifacts / "between_negative.png")
    note = page.locator(".aw-root").text_content()
    assert "another image" in note and "Positive" in note, "the note says what the signs mean"
    assert view.state()["result"] == first["result"], "α and the sign are drawn in the browser"
    assert not page.aw_errors, page.aw_errors
