"""The compare grid and the side-by-side view: payload size, one colour scale on the bytes sent,
every panel equal to its method called directly, progressive filling, errors, exports."""

from __future__ import annotations

import json
import re

import matplotlib as mpl
import numpy as np
import pytest
import torch

import attrwidgets as aw
from attrwidgets.baselines import make_baseline
from attrwidgets.widgets._compare import DRAWS, panel_colours
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, decode, payload_bytes
from attrwidgets.widgets.compare import DEFAULT_BASELINES, compare, compare_inputs
from tests.widgets.conftest import TinyCNN

pytestmark = pytest.mark.filterwarnings("ignore:.*completeness gap:UserWarning")

LABELS = [f"class {i}" for i in range(5)] + ["<img src=x onerror=alert(1)>"]
LUT = (mpl.colormaps["coolwarm"](np.linspace(0, 1, 256))[:, :3] * 255).round()


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def grid():
    """One 7 × 2 grid (the six baselines and the training set) shared by the tests that only read it."""
    torch.manual_seed(0)
    model = TinyCNN().eval()
    image = torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(1))
    refs = torch.rand(5, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    w = compare(model, image, references=refs, labels=LABELS, steps=6, samples=6, sync=True)
    w.test_model, w.test_image = model, image
    yield w
    w.close()


def test_payload_of_a_6x2_grid_stays_under_2_mib_at_display_size():
    torch.manual_seed(0)  # a cheap model: what is measured is the payload, at an ImageNet size
    cheap = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(3 * 28 * 28, 6)).eval()
    big = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(3))
    w = compare(cheap, big, steps=9, samples=9, sync=True)
    try:
        result = w.result
        assert result["done"] == result["total"] == 12
        sent = payload_bytes(result)
        assert sent <= MAX_UPDATE_BYTES, sent
        h, wd = result["size"]
        assert h * wd >= 180 * 180, "maps are downsampled only as far as the room needs"
        assert all(decode(p["map"]).shape == (h, wd) for p in result["panels"])
        assert all("frames" in p for p in result["panels"]), "both methods have α frames"
        assert payload_bytes(w.grid) <= MAX_UPDATE_BYTES
    finally:
        w.close()


def test_many_path_panels_share_the_room_instead_of_overflowing_it():
    torch.manual_seed(0)
    cheap = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 6)).eval()
    image = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(4))
    w = compare_inputs(cheap, [image] * 12, steps=9, sync=True)  # 24 path panels of 8 or 9 frames
    try:
        assert w.result["done"] == 24
        assert payload_bytes(w.result) <= MAX_UPDATE_BYTES, payload_bytes(w.result)
        frames = decode(w.result["panels"][0]["frames"]["maps"])
        assert frames.shape[0] >= 8
        assert frames.shape[1] * frames.shape[2] < 64 * 64, "the frames gave up pixels: they take half the room"
        assert tuple(w.result["size"]) == (64, 64), "the final maps keep theirs"
    finally:
        w.close()


def test_one_scale_one_value_one_colour_on_the_bytes_sent(grid):
    result = grid.result

    def pairs(per_panel: bool) -> dict[bytes, set[tuple]]:
        seen: dict[bytes, set[tuple]] = {}
        for i, panel in enumerate(result["panels"]):
            values = decode(panel["map"]).ravel()
            colours = panel_colours(result, i, per_panel=per_panel, lut=LUT).reshape(-1, 3)
            for v, c in zip(values, colours, strict=True):
                seen.setdefault(v.tobytes(), set()).add(tuple(np.round(c, 6)))
        return seen

    locked = pairs(per_panel=False)
    assert len(locked) > 100
    assert all(len(c) == 1 for c in locked.values()), "locked: each value has one colour in every panel"
    own = pairs(per_panel=True)
    assert any(len(c) > 1 for c in own.values()), "per-panel scales colour some value differently"
    clips = {p["clip"] for p in result["panels"]}
    assert len(clips) > 1
    assert result["locked"] == pytest.approx(
        np.percentile(np.abs(np.concatenate([decode(p["map"]).astype(np.float64).ravel() for p in result["panels"]])),
                      99), rel=1e-3)  # fmt: skip


def test_every_panel_equals_its_method_called_directly(grid):
    model, x = grid.test_model, grid.test_image[None]
    refs = grid._grid.references
    target = grid.target
    assert target == int(model(x).argmax())
    for (row, col), attribution in grid.attributions.items():
        name = grid.grid["columns"][col]["title"]
        if row == 0:
            base = make_baseline(name, x, references=refs, seed=0)
            direct = aw.integrated_gradients(model, x, target, baseline=base, steps=6, rule="gausslegendre")
        else:
            if name == "references":
                draws = refs
            elif name in ("uniform", "gaussian"):
                draws = torch.cat([make_baseline(name, x, seed=k) for k in range(DRAWS)])
            else:
                draws = make_baseline(name, x, references=refs, seed=0)
            direct = aw.expected_gradients(model, x, target, references=draws, samples=6, seed=0)
        torch.testing.assert_close(attribution.values, direct.values, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(attribution.delta, direct.delta, rtol=1e-4, atol=1e-7)
    assert len(grid.attributions) == 2 * (len(DEFAULT_BASELINES) + 1)


def test_panels_fill_one_by_one_and_the_newest_request_wins(model, image):
    posted = []
    w = compare(model, image, steps=4, samples=4, dispatch=posted.append, methods=["integrated_gradients"])
    seen = []
    w.observe(lambda c: seen.append((c.new["done"], c.new["panels"][0]["target"], c.new["final"])), names="result")
    w.target = 3  # a new request while the first may be running
    assert w.wait(60)
    assert seen[-1] == (6, 3, True), seen
    new = [s for s in seen if s[1] == 3]
    assert [s[0] for s in new] == list(range(1, 7)), "every panel of the newest request arrives, in order"
    assert w.status["state"] == "idle"
    w.close()


def test_quick_answers_first_then_every_panel_refined(model, image):
    # the first column's panels and Expected Gradients' (a prefix of its full answer) come first
    w = compare(model, image, steps=9, samples=9, dispatch=lambda callback: None, baselines=["black", "white"])
    levels = []
    w.observe(lambda c: levels.append([(p["row"], p["col"], p["level"]) for p in c.new["panels"]]), names="result")
    assert w.wait(60)
    ig, eg = 0, 1
    assert [len(s) for s in levels] == [1, 2, 3, 4, 4, 4, 4], "3 quick answers, the blank panel, 3 refined"
    assert levels[2] == [(ig, 0, "coarse"), (eg, 0, "coarse"), (eg, 1, "coarse")], "no quick IG past column 0"
    assert levels[3] == [(ig, 0, "coarse"), (eg, 0, "coarse"), (ig, 1, "full"), (eg, 1, "coarse")]
    assert levels[4] == [(ig, 0, "full"), (eg, 0, "coarse"), (ig, 1, "full"), (eg, 1, "coarse")]
    assert levels[-1] == [(r, c, "full") for c in range(2) for r in range(2)]
    assert w.result["full"] == w.result["total"] == 4
    w.close()


def test_compare_inputs_explains_each_own_class_and_the_picked_one(model, image):
    other = image.flip(-1) * 0.5
    w = compare_inputs(model, [image, other], labels=LABELS, picked=2, sync=True, steps=4)
    try:
        by = {(p["row"], p["col"]): p for p in w.result["panels"]}
        for i, x in enumerate((image, other)):
            assert by[(i, 0)]["target"] == int(model(x[None]).argmax())
            assert by[(i, 1)]["target"] == 2
        assert len(w.grid["rows"][0]["lines"]) == 5
        own = {k: v for k, v in w._grid._cache.items() if k[3] != 2}
        w.picked = 4  # recomputes the picked column only: the own-class panels come from the cache
        after = {(p["row"], p["col"]): p for p in w.result["panels"]}
        assert after[(0, 1)]["target"] == after[(1, 1)]["target"] == 4
        assert all(k in w._grid._cache for k in own)
        assert after[(0, 0)]["seconds"] == by[(0, 0)]["seconds"]
        assert w.result["locked"] > 0
    finally:
        w.close()


def test_a_method_without_a_baseline_is_computed_once_per_row(model, image):
    w = compare(model, image, methods=["gradient"], baselines=["black", "white"], sync=True)
    try:
        first, second = w.result["panels"]
        assert decode(first["map"]).tobytes() == decode(second["map"]).tobytes()
        assert first["seconds"] == second["seconds"], "the second column comes from the cache"
        assert len(w._grid._cache) == 1
    finally:
        w.close()


def test_a_failing_model_shows_in_the_status_and_keeps_the_error(model, image, tmp_path):
    w = compare(model, image, methods=["integrated_gradients"], baselines=["black"], steps=4, sync=True)
    model.fail = True
    with pytest.raises(RuntimeError, match="broke on purpose"):
        w.target = 2
    assert w.status["state"] == "error"
    assert "broke on purpose" in w.status["message"]
    assert isinstance(w.error, RuntimeError)
    with pytest.raises(RuntimeError, match="nothing was written"):
        w.save_npz(tmp_path / "never.npz")
    assert not (tmp_path / "never.npz").exists()
    w.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"baselines": ["black", "pink"]}, ValueError, ["baselines", "'pink'", "choose from"]),
        ({"baselines": "black"}, TypeError, ["baselines must be a list"]),
        ({"baselines": []}, ValueError, ["baselines is empty"]),
        ({"baselines": ["black", "black"]}, ValueError, ["twice"]),
        ({"methods": ["integrated_gradient"]}, ValueError, ["methods", "'integrated_gradient'", "choose from"]),
        ({"baselines": ["references"]}, ValueError, ["references=train_images"]),
        ({"target": 6}, ValueError, ["target=6", "0..5"]),
        ({"labels": ["a", "b"]}, ValueError, ["labels has 2 names", "6 classes"]),
        ({"steps": 0}, ValueError, ["steps must be"]),
        ({"scale": "global"}, ValueError, ["scale must be one of"]),
        ({"references": torch.rand(3, 20, 20)}, ValueError, ["references must be a (M, C, H, W)"]),
    ],
)
def test_bad_arguments_say_what_and_what_to_do(model, image, kwargs, error, words):
    with pytest.raises(error) as caught:
        compare(model, image, sync=True, **kwargs)
    for word in words:
        assert word in str(caught.value)


def test_bad_inputs_of_compare_inputs(model, image):
    with pytest.raises(TypeError, match="inputs must be a list of images"):
        compare_inputs(model, image)
    with pytest.raises(ValueError, match="inputs is empty"):
        compare_inputs(model, [])
    with pytest.raises(ValueError, match="one shape"):
        compare_inputs(model, [image, image[:, :10]])
    with pytest.raises(ValueError, match="picked=9"):
        compare_inputs(model, [image], picked=9)
    with pytest.raises(ValueError, match="method: 'gradcam'"):
        compare_inputs(model, [image], method="gradcam")
    with pytest.raises(TypeError, match=r"image must be a torch\.Tensor"):
        compare(model, "cat.png")


def test_the_browser_may_not_write_kernel_traits(grid):
    before = grid.result["generation"]
    grid.set_state({"result": {}, "scale": "panel", "opacity": float("nan")})
    assert grid.result["generation"] == before
    assert grid.scale == "panel"
    assert grid.opacity == 0.8
    assert "refused" in grid.status["message"]
    grid.scale = "locked"


def test_exports_are_valid_files(grid, tmp_path):
    image = grid.test_image
    png = grid.save_png(tmp_path / "grid.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 600
    npz = grid.save_npz(tmp_path / "grid.npz")
    with np.load(npz) as data:
        panels = json.loads(str(data["panels"]))
        assert len(panels) == 14
        for p in panels:
            values = data[f"values_r{p['row']}_c{p['col']}"]
            assert values.shape == (1, 3, 20, 20)
            np.testing.assert_allclose(values, grid.attributions[(p["row"], p["col"])].values.numpy(), rtol=1e-6)
            assert p["params"]
        np.testing.assert_allclose(data["input_0"][0], image.numpy())
    page = grid.save_html(tmp_path / "grid.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page, "labels travel escaped"
    assert "js/compare.js" in page
    state = re.search(r'<script type="application/json" id="aw-state">(.*?)</script>', page, re.DOTALL).group(1)
    loaded = json.loads(state)
    assert loaded["interactive"] is False
    assert len(loaded["result"]["panels"]) == 14


def test_the_misclassified_demo_pair_really_is_misclassified():
    from attrwidgets.demo import imagenet_labels, imagenet_preprocess, load_efficientnet_lite0
    from attrwidgets.demo.mistakes import MISTAKE, zoomed_pair

    model, pre, labels = load_efficientnet_lite0(), imagenet_preprocess(), imagenet_labels()
    photo, zoom = zoomed_pair()
    with torch.no_grad():
        said = [labels[int(model(pre(x[None])).argmax())] for x in (photo, zoom)]
    assert said == [MISTAKE["right"], MISTAKE["wrong"]]


def test_the_grid_tests_every_panels_map_together():
    # issue 13 item 3: the curves of several methods together, each against random rankings
    import attrwidgets as aw
    from attrwidgets.widgets._evaluation import RANDOM_MAPS

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 3)).eval()  # fmt: skip
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    w = aw.compare(model, image, baselines=["black", "white"], methods=["integrated_gradients", "gradient"],
                   sync=True, evaluation="deletion")  # fmt: skip
    r = w.evaluation_result
    assert {(c["row"], c["col"]) for c in r["curves"]} == {(0, 0), (1, 0), (0, 1), (1, 1)}
    assert len(r["random"]) == 1 and r["random"][0]["count"] == RANDOM_MAPS, "one input, one class: one band"
    ig_black = next(c for c in r["curves"] if c["label"] == "integrated_gradients · black")
    direct = aw.evaluate.deletion(model, image[None], w.attributions[(0, 0)], progress=False)
    assert ig_black["values"] == pytest.approx(direct.probabilities[0].tolist())
    assert r["forwards"] == (4 + RANDOM_MAPS) * (len(r["fractions"]) + 1), "one batch for the maps and the band"
    w.evaluation = "off"
    assert w.evaluation_result is None
    debug = aw.compare_inputs(model, [image, image.flip(-1)], sync=True, evaluation="pixel_perturbation")
    assert sorted({b["input"] for b in debug.evaluation_result["random"]}) == [0, 1], "a band per input"
    with pytest.raises(ValueError, match="evaluation"):
        aw.compare(model, image, evaluation="roar")


def _gradient_rows(model: torch.nn.Module) -> list[int]:
    """Rows of every forward of ``model`` whose input wants a gradient."""
    seen: list[int] = []
    model.register_forward_pre_hook(lambda m, args: seen.append(len(args[0]) if args[0].requires_grad else 0))
    return seen


def test_the_pass_at_the_input_is_made_once_for_the_grid(image):
    torch.manual_seed(0)
    grid_model, direct_model = TinyCNN().eval(), TinyCNN().eval()
    direct_model.load_state_dict(grid_model.state_dict())
    in_grid, direct = _gradient_rows(grid_model), _gradient_rows(direct_model)
    w = compare(grid_model, image, methods=["integrated_gradients"], baselines=["black", "white", "blur"], steps=5,
                sync=True)  # fmt: skip
    target = w.target
    w.close()
    x = image[None]
    for name in ("black", "white", "blur"):
        aw.integrated_gradients(direct_model, x, target, baseline=make_baseline(name, x, seed=0), steps=5)
    assert sum(direct) == 3 * (1 + 5), "each call: the input and five points"
    assert sum(in_grid) == 1 + 3 * 5, "the grid: the input once, five points per panel"


def test_a_given_pass_stands_only_for_its_own_model_inputs_and_target(model, image):
    from attrwidgets.methods._engine import first_pass, given_pass
    from attrwidgets.model import Explained

    x = image[None]
    explained = Explained(model, x)
    made = first_pass(explained, explained.inputs, 1)
    with given_pass(model, None, made):
        assert first_pass(Explained(model, x.clone()), x.clone(), 1) is made, "equal inputs, same target"
        assert first_pass(Explained(model, x), x, 2) is not made, "another target"
        assert first_pass(Explained(model, x * 0.5), x * 0.5, 1) is not made, "other inputs"
        assert first_pass(Explained(model, x, preprocess=lambda z: z), x, 1) is not made, "another preprocess"
        other = TinyCNN().eval()
        assert first_pass(Explained(other, x), x, 1) is not made, "another model"
    assert first_pass(Explained(model, x), x, 1) is not made, "outside the block"


def _forward_rows(model: torch.nn.Module) -> list[int]:
    """Rows of every forward of ``model`` that wants no gradient (F at a baseline or a reference)."""
    seen: list[int] = []
    model.register_forward_pre_hook(
        lambda m, args: seen.append(0 if args[0].requires_grad and torch.is_grad_enabled() else len(args[0]))
    )
    return seen


def test_a_baselines_output_is_computed_once_for_the_columns_panels(image):
    # F(x′) of a column's baseline: IG needs it for its gap, Expected Gradients over that one
    # baseline for its mean reference score; the grid evaluates it once
    torch.manual_seed(0)
    model = TinyCNN().eval()
    rows = _forward_rows(model)
    w = compare(model, image, methods=["integrated_gradients", "expected_gradients"], baselines=["black", "white"],
                steps=5, samples=6, sync=True)  # fmt: skip
    target = w.target
    ig, eg = w.attributions[(0, 0)], w.attributions[(1, 0)]
    w.close()
    # the grid's forward at the input (its top classes), then F(black) and F(white) once each (5 without sharing)
    assert sum(rows) == 1 + 2, rows
    x = image[None]
    for col, name in enumerate(("black", "white")):
        with torch.no_grad():
            expected = model(make_baseline(name, x, seed=0))[0, target]
        for row in (0, 1):
            got = w.attributions[(row, col)].baseline_score
            torch.testing.assert_close(got, expected.view(1), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ig.baseline_score, eg.baseline_score, rtol=1e-6, atol=0)  # EG: a mean of 6 draws of it


def test_shared_outputs_are_found_by_value_for_their_own_model_only(model, image):
    from attrwidgets.methods._engine import Outputs, forward_outputs, shared_outputs
    from attrwidgets.model import Explained

    x = torch.stack([image, image * 0.5])
    seen = _forward_rows(model)
    kept = Outputs(model, None)
    with shared_outputs(kept):
        first = forward_outputs(Explained(model, x), x, memory=None, per_point=1)
        assert seen == [2] and len(kept.rows) == 2
        again = forward_outputs(Explained(model, x.flip(0).clone()), x.flip(0).clone(), memory=None, per_point=1)
        assert seen == [2], "equal points are read"
        torch.testing.assert_close(again, first.flip(0))
        mixed = torch.stack([image * 0.5, image * 0.25])
        forward_outputs(Explained(model, mixed), mixed, memory=None, per_point=1)
        assert seen == [2, 1], "only the new point is evaluated"
        forward_outputs(Explained(model, x, preprocess=lambda z: z), x, memory=None, per_point=1)
        assert seen == [2, 1, 2], "another preprocess: evaluated"
    forward_outputs(Explained(model, x), x, memory=None, per_point=1)
    assert seen == [2, 1, 2, 2], "outside the block: evaluated"
