"""The registry: every public method is in it, and every control is an accepted option of its function."""

from __future__ import annotations

import inspect

import pytest

import attrwidgets as aw
from attrwidgets.registry import REGISTRY

PUBLIC_METHODS = [
    name for name in aw.__all__ if callable(getattr(aw, name)) and name in aw.methods.__all__
]


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
