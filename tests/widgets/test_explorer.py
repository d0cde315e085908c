"""The Explorer widget in the kernel: results, payload sizes, clamping, latest-wins, errors, export."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from attrwidgets.widgets import Explorer, explore
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, decode, payload_bytes
from attrwidgets.widgets.explorer import STEPS_MAX


def test_explore_sync_gives_a_drawn_result(model, image):
    ex = explore(model, image, steps=12, sync=True, labels=[f"class {i}" for i in range(6)])
    assert isinstance(ex, Explorer)
    r = ex.result
    assert r["generation"] == 1 and r["final"] and r["stage"] == "full"
    assert ex.status["state"] == "idle"
    with torch.no_grad():
        predicted = int(model(image[None]).argmax())
    assert ex.target == predicted == r["target"]
    assert r["target_label"] == f"class {predicted}"
    k = decode(r["curve"]["alphas"]).shape[0]
    assert k == r["steps"] >= 12
    frames = decode(r["frames"]["grad"])
    assert frames.dtype == np.float16 and frames.shape[0] == decode(r["frames"]["alphas"]).shape[0]
    assert np.isfinite(frames).all() and np.abs(frames).max() <= 1.0
    assert r["sum"] == pytest.approx(r["score"] - r["baseline_score"] + r["delta"], abs=1e-5)
    assert ex.attribution is not None and ex.attribution.values.shape == (1, 3, 20, 24)
    assert "_attribution" not in r
    assert ex.targets[0]["index"] == predicted


def test_final_attribution_travels_per_channel(model, image):
    ex = explore(model, image, steps=12, sync=True)
    final = ex.result["final_map"]
    channels = decode(final["channels"])
    # a small image travels at full size: the float16 channels times the scale are the attribution
    assert channels.dtype == np.float16 and channels.shape == (3, 20, 24)
    assert np.abs(channels).max() == 1.0, "divided by the largest magnitude"
    values = ex.attribution.values[0].numpy()
    np.testing.assert_allclose(channels.astype(np.float32) * final["scale"], values, rtol=0, atol=1e-3 * final["scale"])
    # its channel sum is the accumulated-attribution frame at α = 1 (the same map, per α)
    cum = decode(ex.result["frames"]["cumulative"])[-1] * decode(ex.result["frames"]["cumulative_scale"])[-1]
    np.testing.assert_allclose(values.sum(axis=0), cum, rtol=0, atol=2e-3 * np.abs(cum).max())


def test_payloads_stay_within_two_mebibytes_for_a_large_image(model):
    big = torch.rand(3, 400, 560, generator=torch.Generator().manual_seed(0))
    ex = explore(model, big, steps=24, sync=True, max_frames=40)
    assert payload_bytes(ex.result) <= MAX_UPDATE_BYTES
    assert payload_bytes(ex.image) <= MAX_UPDATE_BYTES
    h, w, c = ex.image["shape"]
    assert c == 3 and h * w <= 360 * 360 and abs(w / h - 560 / 400) < 0.02, "downsampled, aspect kept"
    # the final attribution per channel at display size, float16, in the same update
    final = ex.result["final_map"]["channels"]
    assert final["dtype"] == "float16" and final["shape"] == [3, h, w]
    assert len(final["view"]) == 3 * h * w * 2
    frames = ex.result["frames"]["grad"]["shape"]
    assert frames[0] == decode(ex.result["frames"]["alphas"]).shape[0] >= 24, "every point of the path has maps"
    assert 0 < frames[1] * frames[2] < h * w, "the per-α maps are downsampled to make room"
    assert ex.attribution.values.shape == (1, 3, 400, 560), "full resolution stays in the kernel"


def test_kernel_clamps_out_of_range_values(model, image, dispatch):
    # asynchronous, so the 512-step requests this makes are superseded instead of computed
    ex = explore(model, image, steps=4, dispatch=dispatch)
    ex.steps = 10**9
    assert ex.steps == STEPS_MAX
    ex.steps = -5
    assert ex.steps == 1
    ex.steps = "AUTO "
    assert ex.steps == "auto"
    ex.steps = "24"
    assert ex.steps == 24
    ex.target = 10**6
    assert ex.target == 5
    ex.target = -3
    assert ex.target == 0
    ex.reduction = "max_abs"
    with pytest.raises(Exception, match="reduction 'mean'"):
        ex.reduction = "mean"
    ex.opacity, ex.alpha, ex.clip = 7.0, -1.0, 3.0
    assert (ex.opacity, ex.alpha, ex.clip) == (1.0, 0.0, 50.0)
    ex.baseline = "gaussian"
    ex.sigma = 40.0
    assert ex.sigma == 1.0
    with pytest.raises(Exception, match="baseline 'nope'"):
        ex.baseline = "nope"
    ex.close()


def test_values_from_the_browser_are_validated(model, image, dispatch):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    sent = []
    ex.send_state = lambda key=None: sent.append(key)
    ex.set_state({"steps": 99999})
    assert ex.steps == STEPS_MAX, "clamped in the kernel"
    ex.set_state({"baseline": "../../etc/passwd"})
    assert ex.baseline == "black"
    assert "baseline" in sent, "the browser gets the kernel's value back"
    assert ex.status["state"] == "error" and "refused baseline" in ex.status["message"]
    ex.set_state({"steps": 6, "baseline": "white"})
    assert ex.session.wait(60)
    dispatch.pump()
    assert ex.status["state"] == "idle" and ex.result["params"]["baseline"] == "white"
    assert ex.result["params"]["steps"] == 6
    ex.close()


def test_unknown_keywords_raise_type_error(model, image):
    with pytest.raises(TypeError, match="unknown keyword"):
        explore(model, image, sync=True, colour_map="viridis")
    ex = explore(model, image, steps=4, sync=True)
    with pytest.raises(TypeError, match="unknown keyword"):
        Explorer(ex._explainer, sync=True, stepz=3)
    with pytest.raises(ValueError, match="target=99"):
        explore(model, image, 99, sync=True)
    with pytest.raises(ValueError, match="steps=0"):
        explore(model, image, steps=0, sync=True)


def test_kernel_controls_start_a_new_generation(model, image):
    ex = explore(model, image, steps=4, sync=True)
    ex.baseline = "white"
    assert ex.result["generation"] == 2 and ex.result["params"]["baseline"] == "white"
    ex.rule = "riemann_trapezoid"
    assert ex.result["generation"] == 3 and ex.result["params"]["rule"] == "riemann_trapezoid"
    ex.target = 2
    assert ex.result["target"] == 2
    ex.opacity = 0.2  # display only: no new computation
    assert ex.result["generation"] == 4


def test_async_requests_are_progressive_and_latest_wins(model, image, dispatch):
    ex = explore(model, image, steps=20, dispatch=dispatch)
    assert ex.session.wait(60)
    dispatch.pump()
    assert ex.result["generation"] == 1 and ex.result["stage"] == "full"
    seen = []
    ex.observe(lambda change: seen.append((change.new["generation"], change.new["stage"])), names="result")
    ex.baseline = "white"
    ex.baseline = "blur"
    ex.baseline = "max_distance"
    assert ex.session.wait(60)
    dispatch.pump()
    assert seen[-1] == (4, "full")
    assert all(g == 4 for g, _ in seen), f"stale generations were drawn: {seen}"
    assert ("4", "coarse") in [(str(g), s) for g, s in seen], "a coarse answer comes first"
    assert ex.status["state"] == "idle"
    assert ex.result["params"]["baseline"] == "max_distance"
    ex.close()


def test_errors_reach_the_status(model, image, dispatch):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    assert ex.session.wait(60)
    dispatch.pump()
    model.fail = True
    ex.steps = 6
    assert ex.session.wait(60)
    dispatch.pump()
    assert ex.status["state"] == "error"
    assert "broke on purpose" in ex.status["message"] and ex.status["hint"]
    assert isinstance(ex.error, RuntimeError)
    assert ex.result["generation"] == 1, "the last good result stays"
    model.fail = False
    ex.steps = 5
    assert ex.session.wait(60)
    dispatch.pump()
    assert ex.status["state"] == "idle" and ex.error is None
    ex.close()


def test_sync_errors_raise(model, image):
    ex = explore(model, image, steps=4, sync=True)
    model.fail = True
    with pytest.raises(RuntimeError, match="broke on purpose"):
        ex.steps = 5
    assert ex.status["state"] == "error"


def test_image_shapes_people_pass(model):
    hwc = (np.random.default_rng(0).random((16, 18, 3)) * 255).astype(np.uint8)
    ex = explore(model, hwc, steps=4, sync=True)
    assert ex.image["shape"] == [16, 18, 3]
    grey_model = type(model)(channels=1).eval()
    ex = explore(grey_model, torch.rand(12, 12), steps=4, sync=True)
    assert ex.image["shape"] == [12, 12, 1]
    with pytest.raises(ValueError, match="one image"):
        explore(model, torch.rand(2, 3, 8, 8), sync=True)


def test_references_baseline_is_offered_only_with_references(model, image):
    assert "references" not in explore(model, image, steps=4, sync=True).baselines
    refs = torch.rand(4, 3, 20, 24)
    ex = explore(model, image, steps=4, sync=True, references=refs, baseline="references")
    assert "references" in ex.baselines and ex.result["params"]["baseline"] == "references"


def test_save_html_is_one_offline_file(model, image, tmp_path):
    ex = explore(model, image, steps=6, sync=True, title="tiny model")
    path = ex.save_html(tmp_path / "explorer.html")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"https?:", text), "no external scripts or styles"
    assert (
        "import "
        not in text.split('<script type="module">', 1)[1].split("__aw_default.render")[0].split("// ---- js/")[0]
    )
    state = json.loads(re.search(r'<script type="application/json" id="aw-state">(.*?)</script>', text, re.S).group(1))
    assert state["interactive"] is False
    assert state["result"]["generation"] == 1
    assert set(state["result"]["frames"]["grad"]["view"]) == {"$b64"}
    assert set(state["result"]["final_map"]["channels"]["view"]) == {"$b64"}, "the final map is exported too"
    assert state["reduction"] == "sum"
    assert "tiny model" in text
