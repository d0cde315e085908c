"""The explorer for every registered method: menu, controls and validation come from the registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import attrwidgets as aw
from attrwidgets.attribution import Attribution
from attrwidgets.registry import REGISTRY, Control, register
from attrwidgets.widgets import explore
from attrwidgets.widgets._methods import VIEWS, view_of
from attrwidgets.widgets._samples import MOST_REFERENCES, RunningMeans, sample_counts
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, decode, payload_bytes
from attrwidgets.widgets.explorer import COARSE_SAMPLES


@pytest.fixture
def refs() -> torch.Tensor:
    return torch.rand(6, 3, 20, 24, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registry_entry_renders(model, image, refs, name):
    ex = explore(model, image, method=name, sync=True, references=refs)
    r = ex.result
    assert r["method"] == name and r["view"] == view_of(REGISTRY[name]) in VIEWS
    assert r["final"] and ex.status["state"] == "idle"
    channels = decode(r["final_map"]["channels"])
    assert channels.ndim == 3 and np.isfinite(channels).all()
    assert payload_bytes(r) <= MAX_UPDATE_BYTES
    assert ex.attribution.method == name
    menu = {m["name"]: m for m in ex.methods}
    assert set(menu) == set(REGISTRY), "every registered method is in the menu"
    shown = {c["name"] for c in menu[name]["controls"]}
    assert shown == {c.name for c in REGISTRY[name].controls if c.kind != "tensor"}
    assert set(ex.options) == {c.name for c in REGISTRY[name].controls if c.kind not in ("tensor", "baseline")}
    ex.close()


@pytest.fixture
def spy_method():
    """A method registered inside the test (and removed after): records the options it was called with."""
    calls = []

    @register(
        controls=(
            Control("gain", "float", 2.0, 0.5, 4.0, doc="multiplies the gradient"),
            Control("mode", "choice", "plain", choices=("plain", "squared")),
            Control("flip", "bool", False),
        ),
        paper="A test, 2026",
    )
    def spy_saliency(model, inputs, target=None, *, gain=2.0, mode="plain", flip=False, preprocess=None, memory=None):
        calls.append({"gain": gain, "mode": mode, "flip": flip})
        base = aw.gradient(model, inputs, target, preprocess=preprocess)
        values = base.values * gain
        values = values**2 if mode == "squared" else values
        return Attribution(
            values=-values if flip else values, target=base.target, method="spy_saliency", score=base.score
        )

    yield calls
    REGISTRY.pop("spy_saliency", None)


def test_a_method_registered_in_the_test_appears_with_its_controls(model, image, spy_method):
    ex = explore(model, image, method="spy_saliency", gain=3.0, sync=True)
    entry = next(m for m in ex.methods if m["name"] == "spy_saliency")
    assert entry["title"] == "Spy Saliency" and entry["view"] == "map" and entry["available"]
    assert [(c["name"], c["kind"]) for c in entry["controls"]] == [
        ("gain", "float"),
        ("mode", "choice"),
        ("flip", "bool"),
    ]
    assert entry["controls"][0]["low"] == 0.5 and entry["controls"][0]["high"] == 4.0
    assert spy_method[-1] == {"gain": 3.0, "mode": "plain", "flip": False}
    # from the browser: clamped into range, choices checked, every value reaches the function
    ex.send_state = lambda key=None: None
    ex.set_state({"options": {"gain": 99.0, "mode": "squared", "flip": True}})
    assert spy_method[-1] == {"gain": 4.0, "mode": "squared", "flip": True}
    ex.set_state({"options": {"gain": 1.0, "mode": "cubed"}})
    assert ex.status["state"] == "error" and "cubed" in ex.status["message"]
    assert ex.options["mode"] == "squared", "a refused update changes nothing"
    ex.set_state({"gain": -5})  # a control's name on its own reaches options too
    assert ex.options["gain"] == 0.5 and spy_method[-1]["gain"] == 0.5


def test_a_method_registered_after_the_explorer_joins_its_menu(model, image, spy_method):
    ex = explore(model, image, method="gradient", sync=True)
    REGISTRY["spy_later"] = dataclasses.replace(REGISTRY["spy_saliency"], name="spy_later")
    try:
        ex.method = "spy_later"
        assert "spy_later" in [m["name"] for m in ex.methods]
        assert ex.options == {"gain": 2.0, "mode": "plain", "flip": False}
    finally:
        REGISTRY.pop("spy_later")


def test_explore_keywords_are_checked_against_the_registry(model, image):
    with pytest.raises(
        TypeError, match=r"unknown keyword\(s\) \['steps'\] for method='smoothgrad'.*'samples'.*'sigma'"
    ):
        explore(model, image, method="smoothgrad", steps=8)
    with pytest.raises(ValueError, match=r"samples=5000 is out of range: give 1\.\.1000"):
        explore(model, image, method="smoothgrad", samples=5000)
    with pytest.raises(ValueError, match="variant"):
        explore(model, image, method="smoothgrad", variant="smoothgrad_cubed")
    with pytest.raises(ValueError, match="is not registered"):
        explore(model, image, method="lime")
    ex = explore(model, image, method="smoothgrad", sigma=0.2, samples=12, sync=True)
    assert ex.options["sigma"] == 0.2 and ex.options["samples"] == 12
    assert ex.attribution.params["sigma"] == 0.2 and ex.attribution.params["samples"] == 12
    assert ex.sigma is None, "SmoothGrad's σ is its own option, not the baseline's"


def test_switching_method_from_python(model, image):
    ex = explore(model, image, steps=6, sync=True)
    assert ex.result["view"] == "path"
    ex.method = "grad_cam"
    assert ex.result["view"] == "map" and ex.result["method"] == "grad_cam"
    assert ex.options == {"layer": None} and ex.attribution.params["layer"] == "body.2", "its own default"
    controls = next(m for m in ex.methods if m["name"] == "grad_cam")["controls"]
    assert controls[0]["choices"] == [None, "body.0", "body.2"], "a picker of the model's convolutions"
    ex.options = {"layer": "body.0"}
    assert ex.attribution.params["layer"] == "body.0"
    cam = next(p for p in ex.result["parts"] if p["name"] == "cam")
    assert cam["shape"] == [1, 20, 24] and "map" in cam
    with pytest.raises(Exception, match="not a 2-D convolution"):
        ex.options = {"layer": "body.6"}
    generation = ex.result["generation"]
    ex.method = "integrated_gradients"
    assert ex.result["generation"] == generation + 1, "one request per switch"
    assert ex.result["view"] == "path" and ex.options["steps"] == 6 == ex.steps


def test_layer_as_a_module(model, image):
    ex = explore(model, image, method="grad_cam", layer=model.body[0], sync=True)
    assert ex.options == {"layer": "body.0"}
    with pytest.raises(ValueError, match="not a module of this model"):
        explore(model, image, method="grad_cam", layer=torch.nn.Conv2d(3, 3, 1))


def test_methods_that_need_references_say_so(model, image):
    ex = explore(model, image, steps=4, sync=True)
    eg = next(m for m in ex.methods if m["name"] == "expected_gradients")
    assert not eg["available"] and "references=..." in eg["why"]
    with pytest.raises(Exception, match="references"):
        ex.method = "expected_gradients"
    assert ex.method == "integrated_gradients"


def test_kernel_owned_traits_are_refused_from_the_browser(model, image):
    ex = explore(model, image, steps=4, sync=True)
    before = ex.result
    sent = []
    ex.send_state = lambda key=None: sent.append(key)
    for name in ("result", "status", "image", "methods", "targets", "interactive"):
        ex.set_state({name: {"forged": True}})
        assert name in sent
    assert ex.result is before and ex.interactive is True
    assert "only the kernel writes it" in ex.status["message"]


@pytest.mark.parametrize("name", ["smoothgrad", "expected_gradients"])
def test_running_means_end_on_the_final_map(model, image, refs, name):
    ex = explore(model, image, method=name, samples=20, sync=True, references=refs)
    s = ex.result["samples"]
    counts = decode(s["counts"]).tolist()
    assert counts == sample_counts(20) == [1, 2, 4, 8, 16, 20]
    maps = decode(s["maps"]).astype(np.float64) * decode(s["scales"])[:, None, None, None]
    final = ex.attribution.values[0].double().numpy()
    np.testing.assert_allclose(maps[-1], final, atol=2e-3 * np.abs(final).max())
    change = decode(s["rel_change"])
    assert np.isnan(change[0]) and (change[1:] > 0).all()
    assert s["sample_image"]["shape"] == [20, 24, 3]
    assert not ex.result["notes"]
    if name == "expected_gradients":
        gap = decode(s["gap"])
        assert gap.shape == (20,)
        assert gap[-1] == pytest.approx(ex.result["delta"], abs=1e-4), "the gap after n samples is delta"


def test_running_means_cost_no_extra_forwards(model, image):
    rows = []

    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            rows.append(len(x))
            return self.inner(x)

    counting = Counting().eval()
    aw.smoothgrad(counting, image[None], samples=16)
    direct = sum(rows)
    ex = explore(counting, image, method="smoothgrad", samples=16, sync=True)
    rows.clear()
    ex.options = {**ex.options, "seed": 1}
    assert sum(rows) == direct, "the same forwards as the method alone"
    assert len(decode(ex.result["samples"]["counts"])) == 5


def test_a_sampling_method_previews_a_few_samples_first(model, image, dispatch):
    ex = explore(model, image, method="smoothgrad", samples=40, dispatch=dispatch)
    seen = []
    ex.observe(lambda c: seen.append((c.new["stage"], c.new["samples"]["n"])), names="result")
    assert ex.session.wait(60)
    dispatch.pump()
    assert seen == [("coarse", COARSE_SAMPLES), ("full", 40)]
    ex.close()


def test_a_model_in_training_mode_is_said_to_be_evaluated_in_eval_mode(model, image):
    model.train()
    ex = explore(model, image, method="gradient", sync=True)
    assert any("training mode" in note and "eval mode" in note for note in ex.result["notes"])
    assert model.training, "and it is put back"


def test_the_sigma_table_is_sent_from_python(model, image):
    from attrwidgets import baselines

    ex = explore(model, image, steps=4, sync=True)
    sigma = ex.vocabulary["sigma"]
    assert sigma["blur"]["default"] == 10.0 == baselines.blur().options["sigma"]
    assert sigma["gaussian"]["default"] == 0.1 == baselines.gaussian().options["sigma"]
    assert sigma["gaussian"]["max"] == 1.0 and sigma["blur"]["unit"] == "px"


@pytest.mark.parametrize("name", ["smoothgrad", "fullgrad", "grad_cam"])
def test_large_image_payloads_stay_within_two_mebibytes(model, name):
    big = torch.rand(3, 400, 560, generator=torch.Generator().manual_seed(0))
    ex = explore(model, big, method=name, sync=True, **({"samples": 64} if name == "smoothgrad" else {}))
    assert payload_bytes(ex.result) <= MAX_UPDATE_BYTES
    if name == "smoothgrad":
        assert decode(ex.result["samples"]["counts"]).tolist() == [1, 2, 4, 8, 16, 32, 64]
        assert not ex.result["notes"]


def test_after_cancel_the_controls_show_what_the_maps_show(model, image, dispatch):
    ex = explore(model, image, method="smoothgrad", samples=12, dispatch=dispatch)
    assert ex.session.wait(60)
    dispatch.pump()
    shown = ex.result["generation"]
    ex.method = "integrated_gradients"
    ex.steps = 64
    ex.cancel()
    assert ex.session.wait(60)
    dispatch.pump()
    assert ex.result["generation"] == shown and ex.result["method"] == "smoothgrad"
    assert ex.method == "smoothgrad" and ex.options["samples"] == 12, "the controls are those of the maps"
    assert "cancelled" in ex.status["message"]
    ex.close()


def test_a_sampling_method_at_a_layer_says_why_it_has_no_running_means(model, image):
    ex = explore(model, image, method="smoothgrad", samples=8, layer="body.0", sync=True)
    assert ex.attribution.values.shape[1] == 4, "attributed at the layer's output"
    assert decode(ex.result["samples"]["counts"]).tolist() == [8]
    assert any("at a layer" in note for note in ex.result["notes"])


def test_colour_maps_are_matplotlibs_own_tables(model, image):
    import matplotlib as mpl

    ex = explore(model, image, steps=4, sync=True)
    tables = ex.vocabulary["colormaps"]
    assert set(tables) == {"coolwarm", "purplegreen", "inferno", "viridis", "hot", "gray"}
    inferno = decode(tables["inferno"])
    assert inferno.shape == (256, 3) and inferno.dtype == np.uint8
    expected = (np.asarray(mpl.colormaps["inferno"](0.5)[:3]) * 255).round()
    np.testing.assert_allclose(inferno[128], expected, atol=2)


def test_controls_say_their_unit_and_when_they_apply(model, image):
    ex = explore(model, image, sync=True)
    menu = {m["name"]: {c["name"]: c for c in m["controls"]} for m in ex.methods}
    ig = menu["integrated_gradients"]
    assert ig["tolerance"]["when"] == ["steps", "auto"] and ig["max_steps"]["when"] == ["steps", "auto"]
    assert ig["rule"]["when"] == ["steps", "!auto"] and ig["steps"]["when"] is None
    assert menu["smoothgrad"]["sigma"]["percent"] is True, "σ is a fraction of the input range: shown in percent"
    assert menu["smoothgrad"]["samples"]["percent"] is False
    assert menu["gradient"]["layer"]["none"] == "inputs" and menu["grad_cam"]["layer"]["none"] == "default"
    rule = REGISTRY["integrated_gradients"].controls
    by_name = {c.name: c for c in rule}
    assert by_name["tolerance"].applies({"steps": "auto"}) and not by_name["tolerance"].applies({"steps": 32})
    assert by_name["rule"].applies({"steps": 32}) and not by_name["rule"].applies({"steps": "auto"})
    with pytest.raises(ValueError, match="unit"):
        Control("x", "float", 0.1, unit="percent")
    ex.close()


def test_occlusion_defaults_scale_with_the_image(model):
    # window 8 / stride 4 was 3025 windows on a 224² photo (198 s in the explorer on this CPU)
    from attrwidgets.methods.occlusion import auto_stride, auto_window

    assert (auto_window((1, 3, 224, 224)), auto_stride((1, 3, 224, 224))) == (28, 14)
    assert (auto_window((1, 1, 28, 28)), auto_stride((1, 1, 28, 28))) == (4, 2)
    assert (auto_window((2, 1, 8, 8)), auto_stride((2, 1, 8, 8))) == (1, 1)
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    attr = aw.occlusion(model, x)
    assert attr.parts["score_drop"].shape == (1, 19, 23), "window 5, stride 2 on 40 × 48"
    explicit = aw.occlusion(model, x, window=5, stride=2)
    torch.testing.assert_close(attr.values, explicit.values)
    ex = explore(model, x[0], method="occlusion", sync=True)
    assert ex.options["window"] == 5 and ex.options["stride"] == 2
    ex.options = {**ex.options, "window": 8}
    assert ex.options == {"window": 8, "stride": 2}
    ex.close()


def test_expected_gradients_sends_the_map_of_each_reference(model, image, refs):
    """The strip under the panels: per reference drawn, the mean of its maps; weighted by draws, the final map."""
    ex = explore(model, image, method="expected_gradients", samples=20, sync=True, references=refs)
    strip = ex.result["samples"]["references"]
    runs = RunningMeans("expected_gradients", image[None], {"samples": 20, "seed": 0}, refs)
    drawn = runs.drawn
    assert strip["draws"] == 20 and strip["distinct"] == len(set(drawn)) > 1
    assert strip["index"] == sorted(set(drawn), key=lambda r: (-drawn.count(r), r))[:MOST_REFERENCES]
    assert strip["count"] == [drawn.count(r) for r in strip["index"]]
    maps = decode(strip["maps"]).astype(np.float64) * strip["scale"]
    mean = decode(strip["mean"]).astype(np.float64) * strip["scale"]
    assert maps.shape == (len(strip["index"]), 20, 24) and mean.shape == (20, 24)
    both = np.abs(np.concatenate([maps.ravel(), mean.ravel()]))
    assert np.quantile(both, 0.99) == pytest.approx(strip["scale"], rel=2e-3)  # one scale: their p99
    final = ex.attribution.values[0].double().sum(0).numpy()
    np.testing.assert_allclose(mean, final, atol=2e-3 * np.abs(final).max())
    if strip["distinct"] == len(strip["index"]):  # every reference kept: the weighted mean is the final map
        weighted = (maps * np.array(strip["count"])[:, None, None]).sum(0) / 20
        np.testing.assert_allclose(weighted, final, atol=4e-3 * np.abs(final).max())
    pictures = decode(strip["pictures"])
    assert pictures.dtype == np.uint8 and pictures.shape == (len(strip["index"]), 20, 24, 3)
    expected = (refs[strip["index"][0]].permute(1, 2, 0).clamp(0, 1) * 255).round().numpy()
    np.testing.assert_allclose(pictures[0], expected, atol=1)


def test_one_reference_or_smoothgrad_sends_no_strip(model, image, refs):
    ex = explore(model, image, method="expected_gradients", samples=8, sync=True, references=refs[:1])
    assert "references" not in ex.result["samples"]
    ex.method = "smoothgrad"
    assert "references" not in ex.result["samples"]
