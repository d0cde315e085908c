"""The registry: every public method is in it, and every control is an accepted option of its function."""

from __future__ import annotations

import inspect

import pytest
import torch

import attrwidgets as aw
from attrwidgets.registry import PRODUCTS, REGISTRY
from tests.probes import make_cnn

PUBLIC_METHODS = [name for name in aw.__all__ if callable(getattr(aw, name)) and name in aw.methods.__all__]


def test_every_public_method_is_registered() -> None:
    assert len(PUBLIC_METHODS) == 12
    assert set(PUBLIC_METHODS) == set(REGISTRY)
    for name, entry in REGISTRY.items():
        assert entry.fn is getattr(aw, name)
        assert entry.paper, name


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_controls_are_accepted_options(name: str) -> None:
    entry = REGISTRY[name]
    params = list(inspect.signature(entry.fn).parameters)
    assert params[:3] == ["model", "inputs", "target"], name
    for control in entry.controls:
        assert control.name in entry.options, f"{name}: control {control.name!r} is not a keyword-only option"
        default = inspect.signature(entry.fn).parameters[control.name].default
        if default is inspect.Parameter.empty:  # a required option (EG's references)
            assert control.default is None, name
        elif control.kind != "module":
            assert control.default == default, f"{name}.{control.name}: registry {control.default!r} vs {default!r}"


def test_clamp_never_trusts_the_front_end() -> None:
    steps = next(c for c in REGISTRY["integrated_gradients"].controls if c.name == "steps")
    assert steps.clamp(10**9) == 1024 and steps.clamp(-3) == 1 and steps.clamp("auto") == "auto"
    rule = next(c for c in REGISTRY["integrated_gradients"].controls if c.name == "rule")
    with pytest.raises(ValueError, match="is not one of"):
        rule.clamp("simpson")


# -- what each entry says it produces is what its Attribution fills --------------------------------
#: How to tell that an Attribution filled a product; every product the registry knows must be here.
FILLED = {
    "score": lambda attr: attr.score is not None,
    "delta": lambda attr: attr.delta is not None,
    "parts": lambda attr: bool(attr.parts),
    "trace": lambda attr: attr.trace is not None,
    "convergence": lambda attr: bool(getattr(attr, "convergence", None)),
}


def test_every_product_has_a_check() -> None:
    assert set(PRODUCTS) <= set(FILLED), f"no check for {set(PRODUCTS) - set(FILLED)}: add one to FILLED"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_needs_are_options(name: str) -> None:
    entry = REGISTRY[name]
    for need in entry.needs:
        assert need in entry.options, f"{name} needs {need!r}, which is not a keyword-only option"


@pytest.mark.filterwarnings("ignore:.*relative completeness gap")  # few steps and samples: not the point here
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_produces_is_what_the_attribution_fills(name: str) -> None:
    entry = REGISTRY[name]
    model = make_cnn()
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    kwargs: dict = {}
    if "references" in entry.options:
        kwargs["references"] = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    if "layer" in entry.options:
        kwargs["layer"] = model.features[4]
    if "samples" in entry.options:
        kwargs["samples"] = 4
    if "steps" in entry.options:
        kwargs["steps"] = 8
    attr = entry.fn(model, x, 1, **kwargs)
    assert attr.method == name
    assert len(attr.values) == len(x)
    filled = {product for product, check in FILLED.items() if check(attr)}
    assert filled == set(entry.produces), f"{name}: claims {sorted(entry.produces)}, fills {sorted(filled)}"
    if "delta" in entry.produces:  # a gap against a baseline: its score is there too
        assert attr.baseline_score is not None
