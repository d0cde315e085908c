"""The result payload has one definition that both sides' tests read: ``js/fixtures/payload_<view>.json``
are real payloads (one per view) written from this test, and ``js/payload.test.js`` decodes them.

This test compares the shape of today's payloads (keys, dtypes, number of dimensions) with the
fixtures, so a change on the Python side fails here until the fixtures are rewritten
(``AW_WRITE_FIXTURES=1 pytest tests/widgets/test_payload_fixture.py``) and the Node test passes
against them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from attrwidgets.widgets import explore
from attrwidgets.widgets.export import to_jsonable

FIXTURES = Path(__file__).parents[2] / "js" / "fixtures"
CASES = {"path": "integrated_gradients", "samples": "smoothgrad", "map": "grad_cam"}
OPTIONS = {"path": {"steps": 4}, "samples": {"samples": 4}, "map": {}}


def _payload(model, view: str) -> dict:
    image = torch.rand(3, 8, 10, generator=torch.Generator().manual_seed(0))
    ex = explore(model, image, method=CASES[view], sync=True, **OPTIONS[view])
    payload = {k: v for k, v in ex.result.items() if k != "timings"}
    ex.close()
    return to_jsonable(payload)


def _shape(value: object) -> object:
    """The structure of a payload: keys, and for arrays their dtype and number of dimensions."""
    if isinstance(value, dict):
        if "view" in value and "dtype" in value and "shape" in value:
            return {"array": value["dtype"], "ndim": len(value["shape"])}
        return {k: _shape(v) for k, v in sorted(value.items()) if k not in ("notes", "labels", "params")}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


@pytest.mark.parametrize("view", sorted(CASES))
def test_payload_matches_the_shared_fixture(model, view):
    payload = _payload(model, view)
    assert payload["view"] == view
    path = FIXTURES / f"payload_{view}.json"
    if os.environ.get("AW_WRITE_FIXTURES"):
        FIXTURES.mkdir(exist_ok=True)
        path.write_text(json.dumps(payload, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    fixture = json.loads(path.read_text(encoding="utf-8"))
    assert _shape(payload) == _shape(fixture), (
        f"the {view} payload changed shape: rewrite js/fixtures with AW_WRITE_FIXTURES=1 and run node --test js/"
    )
