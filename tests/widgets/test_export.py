"""The static HTML export (attrwidgets/widgets/export.py): text that could end or hide the page's
scripts, and a save that comes before the result has arrived."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from attrwidgets.widgets import explore
from attrwidgets.widgets import export as export_module
from attrwidgets.widgets._bundle import js_dir

NASTY = "<!--<script>x</script>"
STATE = re.compile(r'<script type="application/json" id="aw-state">(.*?)</script>', re.S)


def _state(text: str) -> dict:
    return json.loads(STATE.search(text).group(1))


def test_text_that_opens_a_comment_or_a_script_stays_inside_the_data(model, image, tmp_path):
    # In a <script> element `<!--` followed by `<script` makes the HTML tokenizer ignore the next
    # `</script>`: the data block would swallow the module and the page would stay blank.
    labels = [f"{NASTY} {i}" for i in range(6)]
    labels[1] = "<!--<SCRIPT >y</SCRIPT > & <\u2028"
    ex = explore(model, image, steps=6, sync=True, labels=labels, title=NASTY, top_k=6)
    text = ex.save_html(tmp_path / "nasty.html", title=NASTY).read_text(encoding="utf-8")
    block = STATE.search(text).group(1)
    assert not re.search(r"<!--|<script|</", block, re.IGNORECASE), "the data can end or hide a script"
    state = json.loads(block)
    assert state["title"] == NASTY
    assert {t["label"] for t in state["targets"]} == set(labels), "the labels survive the escaping"
    assert state["result"]["target_label"] in labels
    # after the data block: exactly one module script, closed, then the end of the page
    rest = text[STATE.search(text).end() :]
    assert re.fullmatch(
        r'\s*<script type="module">(?:(?!</script).)*</script>\s*</body>\s*</html>\s*', rest, re.S | re.I
    )
    assert "&lt;!--&lt;script&gt;x&lt;/script&gt;" in text.split("</title>")[0], "the page title is escaped"


def test_script_json_escapes_every_angle_bracket():
    out = export_module.script_json({"a": "</ScRiPt><!--<SCRIPT", "b": [1.5, None]})
    assert "<" not in out and ">" not in out
    assert json.loads(out) == {"a": "</ScRiPt><!--<SCRIPT", "b": [1.5, None]}


def test_script_module_escapes_end_tags_and_refuses_markup():
    assert export_module.script_module('s = "</SCRIPT>" + "</script>";') == 's = "<\\/SCRIPT>" + "<\\/script>";'
    for markup in ("<!--", "<ScRiPt"):
        with pytest.raises(ValueError, match="reads it as markup"):
            export_module.script_module(f'const s = "{markup}";')


def test_the_page_boots_with_the_shim_from_js(model, image, tmp_path):
    ex = explore(model, image, steps=4, sync=True)
    text = ex.save_html(tmp_path / "p.html").read_text(encoding="utf-8")
    module = text.split('<script type="module">', 1)[1]
    shim = (js_dir() / f"{export_module.SHIM}.js").read_text(encoding="utf-8")
    assert "export function createModel" in shim and "function createModel(state)" in module
    assert module.index("// ---- js/widget.js") < module.index(f"// ---- js/{export_module.SHIM}.js")
    assert '.boot(__aw_default, document, {"stateId": "aw-state", "appId": "aw-app"});' in module


def test_save_right_after_explore_holds_the_result(model, image, dispatch, tmp_path):
    # `w = explore(...); w.save_html(path)` in one cell: the worker's answer waits for the kernel's
    # thread, which is busy running this very cell (here: the dispatch queue nobody pumps)
    ex = explore(model, image, steps=6, dispatch=dispatch)
    state = _state(ex.save_html(tmp_path / "now.html").read_text(encoding="utf-8"))
    result = state["result"]
    assert result["generation"] == 1 and result["final"] and result["stage"] == "full"
    assert set(result["frames"]["grad"]["view"]) == {"$b64"} and result["steps"] >= 6
    assert state["status"]["state"] == "idle"
    assert ex.attribution is not None
    # what was queued for the kernel's thread runs later and changes nothing
    seen = []
    ex.observe(seen.append, names=["result", "status"])
    dispatch.pump()
    assert seen == [] and ex.session.dropped == 0
    ex.close()


def test_save_right_after_explore_in_a_script(model, image, tmp_path):
    # outside a kernel: no IO loop at all, the worker delivers on its own thread
    ex = explore(model, image, steps=6)
    state = _state(ex.save_html(tmp_path / "script.html").read_text(encoding="utf-8"))
    assert state["result"]["generation"] == 1 and state["result"]["final"]
    ex.close()


def test_wait_delivers_the_result_in_the_same_cell(model, image, dispatch):
    ex = explore(model, image, steps=6, dispatch=dispatch)
    assert ex.wait(60)
    assert ex.result["generation"] == 1 and ex.attribution is not None
    ex.close()


def test_save_html_gives_up_with_a_clear_message(gate, image, dispatch, tmp_path):
    ex = explore(gate, image, steps=6, dispatch=dispatch)
    assert gate.entered.wait(60)
    with pytest.raises(TimeoutError, match=r"still computing after 0\.01 s.*timeout="):
        ex.save_html(tmp_path / "late.html", timeout=0.01)
    assert not (tmp_path / "late.html").exists(), "no empty page is written"
    gate.release.set()
    ex.close()


@pytest.mark.slow  # starts a kernel (~20 s on 2 cores)
def test_save_in_the_cell_that_explores_under_nbclient(tmp_path):
    # the real thing: a kernel whose IO loop is busy running the cell until save_html returns
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = tmp_path / "cell.html"
    source = f"""
import torch
from torch import nn
from attrwidgets import explore
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 6))
w = explore(model.eval(), torch.rand(3, 20, 24), steps=6)
assert getattr(w.session._dispatch, "__name__", "") == "add_callback", "not the kernel's IO loop"
w.save_html({str(path)!r})
"""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    state = _state(path.read_text(encoding="utf-8"))
    assert state["result"]["generation"] == 1 and state["result"]["final"]


def test_save_png_and_npz_hold_what_the_explorer_shows(model, image, tmp_path):
    import json

    import numpy as np

    ex = explore(model, image, steps=8, sync=True, evaluation="deletion")
    png = ex.save_png(tmp_path / "shown.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    npz = np.load(ex.save_npz(tmp_path / "shown.npz"))
    np.testing.assert_array_equal(npz["values"], ex.attribution.values.numpy())
    assert npz["image"].shape == (1, 3, 20, 24)
    params = json.loads(str(npz["params"]))
    assert params["method"] == "integrated_gradients" and params["target"] == ex.target
    assert params["delta"] == pytest.approx(float(ex.attribution.delta[0]))
    assert npz["trace_alphas"].shape == npz["trace_scores"].shape
    assert json.loads(str(npz["evaluation"]))["kind"] == "deletion"
    ex.method = "grad_cam"  # a map with no path: no trace curves, still a PNG
    ex.evaluation = "off"
    assert ex.save_png(tmp_path / "cam.png").read_bytes()[:4] == b"\x89PNG"
    assert "trace_alphas" not in np.load(ex.save_npz(tmp_path / "cam.npz"))
    ex.close()


def test_save_png_refuses_when_there_is_no_map(model, image, tmp_path):
    import torch

    class FailsOnPaths(torch.nn.Module):  # one image at a time works (the explorer's own look), a batch does not
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if len(x) > 1:
                raise RuntimeError("the model broke on purpose")
            return self.inner(x)

    ex = explore(FailsOnPaths(model), image, steps=4)
    ex.wait(30)
    assert ex.error is not None
    with pytest.raises(RuntimeError, match="no map yet"):
        ex.save_png(tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    ex.close()


@pytest.mark.parametrize(
    ("sign", "cmap", "signed"),
    [
        ("both", "auto", True),
        ("negative", "auto", False),
        ("positive", "purplegreen", False),
        ("both", "viridis", True),
    ],
)
def test_save_png_draws_the_sign_and_colours_the_widget_shows(model, image, tmp_path, monkeypatch, sign, cmap, signed):
    # the front end's "auto" is coolwarm for a signed map and inferno for a part of the sign; a
    # sequential choice for a signed map falls back to coolwarm; a diverging one for a magnitude is
    # its upper half (js/colormap.js). The negative part is drawn as a magnitude, −Σ where Σ < 0.
    from matplotlib.figure import Figure

    from attrwidgets.attribution import reduce_channels

    figures = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (figures.append(self), original(self, *a, **k))[1])
    ex = explore(model, image, steps=8, sync=True, sign=sign, cmap=cmap)
    ex.save_png(tmp_path / "shown.png", dpi=40)
    heat = figures[-1].axes[1].images[-1]
    expected = {"auto": "coolwarm" if signed else "inferno", "purplegreen": "PRGn_upper", "viridis": "coolwarm"}[cmap]
    assert heat.get_cmap().name == expected
    low, high = heat.get_clim()
    assert (low < 0) == signed and high > 0
    summed = reduce_channels(ex.attribution.values, "sum")[0].numpy()
    drawn = np.ma.getdata(heat.get_array())
    part = {"both": summed, "negative": np.clip(-summed, 0, None), "positive": np.clip(summed, 0, None)}[sign]
    np.testing.assert_allclose(drawn, part, rtol=1e-6, atol=1e-9)
    ex.close()
