"""Numbers a front end may send that no float holds: integers beyond ±1.8e308, NaN and ±inf.

Python's JSON reader turns ``1e400`` into inf and a 400-digit literal into an int that ``float()``
cannot convert. Every numeric trait must refuse them as it refuses any other bad value: no
exception out of ``set_state``, the previous value kept, the browser told the kernel's value, the
status line says why, and nothing new is computed.
"""

from __future__ import annotations

import math

import pytest
import traitlets as t

from attrwidgets.widgets import Explorer, explore

VALID = {"target": 2, "steps": 24, "sigma": 0.5, "alpha": 0.4, "opacity": 0.6, "clip": 97.0}
"""Every numeric trait of the explorer, with a valid value other than its default."""
BAD = {
    "huge_int": 10**400,
    "huge_negative_int": -(10**400),
    "nan": math.nan,
    "inf": math.inf,
    "minus_inf": -math.inf,
}


def numeric_traits() -> list[str]:
    names = []
    for name, trait in Explorer.class_own_traits().items():
        kinds = trait.trait_types if isinstance(trait, t.Union) else [trait]
        if not name.startswith("_") and any(isinstance(k, (t.Int, t.Float)) for k in kinds):
            names.append(name)
    return sorted(names)


def test_every_numeric_trait_is_tested():
    assert numeric_traits() == sorted(VALID)


def _refused(ex, name, bad, sent):
    generation = ex.session.generation
    ex.set_state({name: bad})  # must not raise
    assert getattr(ex, name) == VALID[name], "the previous valid value stays"
    assert name in sent, "the browser gets the kernel's value back"
    status = ex.status
    assert status["state"] == "error" and f"refused {name}=" in status["message"], status
    assert "finite number" in status["message"], status
    assert len(status["message"]) < 300, f"the status line spells out the number: {status['message'][:80]}..."
    assert ex.session.generation == generation, "nothing new is computed"


@pytest.mark.parametrize("name", sorted(VALID))
@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_numbers_no_float_holds_are_refused(model, image, dispatch, name, bad):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    sent = []
    ex.send_state = lambda key=None: sent.append(key)
    setattr(ex, name, VALID[name])
    assert getattr(ex, name) == VALID[name]
    _refused(ex, name, bad, sent)
    # the same values set from Python raise a TraitError (not OverflowError) and change nothing
    with pytest.raises(t.TraitError, match="finite number"):
        setattr(ex, name, bad)
    assert getattr(ex, name) == VALID[name]
    ex.close()


@pytest.mark.parametrize("text", ["1e400", "-1e400", "nan", "inf", "-Infinity", "1" + "0" * 400])
def test_steps_as_text_that_no_float_holds_is_refused(model, image, dispatch, text):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    sent = []
    ex.send_state = lambda key=None: sent.append(key)
    ex.steps = VALID["steps"]
    _refused(ex, "steps", text, sent)
    ex.close()


def test_a_refused_number_leaves_the_other_values_of_the_update(model, image, dispatch):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    ex.send_state = lambda key=None: None
    ex.set_state({"opacity": 0.3, "clip": math.nan, "alpha": 0.25})
    assert (ex.opacity, ex.clip, ex.alpha) == (0.3, 99.0, 0.25)
    assert "refused clip=nan" in ex.status["message"]
    ex.close()
