"""Steps default to "auto" with a coarse Gauss-Legendre preview; σ follows the baseline; Cancel."""

from __future__ import annotations

import threading

import pytest
import torch

import attrwidgets as aw
from attrwidgets.widgets import explore
from attrwidgets.widgets.explorer import COARSE_RULE, COARSE_STEPS, STEPS_CHOICES, Explorer
from attrwidgets.widgets.session import Session, Stage


def test_steps_default_to_auto_everywhere(model, image):
    ex = explore(model, image, sync=True)
    assert ex.steps == "auto"
    r = ex.result
    assert r["params"]["steps"] == "auto"
    assert r["rule_used"] == "adaptive_trapezoid"
    assert r["converged"] is True and r["relative_delta"] <= 0.01
    assert "auto" in STEPS_CHOICES and STEPS_CHOICES[0] == "auto"


def test_auto_plans_a_coarse_gauss_legendre_preview_then_the_full_result():
    plan = Explorer._plan({"steps": "auto", "rule": "riemann_left", "baseline": "black"})
    assert [s.name for s in plan] == ["coarse", "full"]
    assert plan[0].params["steps"] == COARSE_STEPS and 2 <= COARSE_STEPS <= 8
    assert plan[0].params["rule"] == COARSE_RULE == "gausslegendre"
    assert plan[1].params["steps"] == "auto" and plan[1].params["rule"] == "riemann_left"
    assert [s.name for s in Explorer._plan({"steps": COARSE_STEPS, "rule": "gausslegendre"})] == ["full"]


def test_async_auto_delivers_coarse_then_full(model, image, dispatch):
    ex = explore(model, image, dispatch=dispatch)
    seen = []
    ex.observe(lambda c: seen.append((c.new["stage"], c.new["steps"], c.new["rule_used"])), names="result")
    assert ex.session.wait(60)
    dispatch.pump()
    assert seen[0] == ("coarse", COARSE_STEPS + 1, "gausslegendre"), "the coarse GL points + the first pass at α = 1"
    assert seen[-1][0] == "full" and seen[-1][2] == "adaptive_trapezoid"
    assert ex.result["final"] and ex.status["state"] == "idle"
    assert set(ex.result["timings"]) == {"attribution", "payload"}
    ex.close()


def test_steps_from_the_browser_are_validated(model, image, dispatch):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    ex.send_state = lambda key=None: None
    ex.set_state({"steps": "auto"})
    assert ex.steps == "auto"
    ex.set_state({"steps": 32.0})
    assert ex.steps == 32
    ex.set_state({"steps": "lots"})
    assert ex.steps == 32 and ex.status["state"] == "error" and "refused steps" in ex.status["message"]
    ex.set_state({"steps": [1, 2]})
    assert ex.steps == 32
    ex.close()


def test_a_new_baseline_starts_from_its_own_sigma(model, image):
    ex = explore(model, image, steps=4, sync=True, baseline="blur")
    ex.sigma = 30.0
    assert ex.result["params"]["sigma"] == 30.0
    generation = ex.result["generation"]
    ex.baseline = "gaussian"  # 30 px would be clamped to 1.0 of the range: reset instead
    assert ex.sigma is None
    assert ex.result["params"]["sigma"] is None and ex.result["params"]["baseline"] == "gaussian"
    assert ex.result["generation"] == generation + 1, "one request, not one per changed trait"


def test_session_cancel_stops_the_running_computation(dispatch):
    started, release = threading.Event(), threading.Event()
    stopped, results, statuses = [], [], []

    def compute(params, stage, progress):
        started.set()
        release.wait(10)
        try:
            progress(1, 2)
        except Exception:
            stopped.append(stage)
            raise
        return stage

    session = Session(
        compute,
        on_result=lambda *a: results.append(a),
        on_status=lambda *a: statuses.append(a),
        plan=lambda p: [Stage("coarse", p), Stage("full", p)],
        dispatch=dispatch,
    )
    session.request({})
    assert started.wait(10)
    session.cancel()
    release.set()
    assert session.wait(10)
    dispatch.pump()
    assert stopped == ["coarse"] and results == []
    assert statuses[-1][0] == "idle" and "cancelled" in statuses[-1][1]
    session.close()


def test_cancel_message_from_the_browser(model, image, dispatch):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    assert ex.session.wait(60)
    dispatch.pump()
    good = ex.result["generation"]
    model.fail = True  # would error if it ran: a cancelled request must not run at all
    ex.session._pending = None
    ex._on_message(ex, {"type": "cancel"}, [])
    ex._on_message(ex, {"type": "something else"}, [])
    dispatch.pump()
    assert ex.status["state"] == "idle" and "cancelled" in ex.status["message"]
    assert ex.result["generation"] == good, "the last result stays"
    ex.close()


@pytest.mark.parametrize("bad", [True, None, {"a": 1}])
def test_steps_refuses_non_numbers(model, image, bad, dispatch):
    ex = explore(model, image, steps=4, dispatch=dispatch)
    with pytest.raises(Exception, match="steps"):
        ex.steps = bad
    ex.close()


class _Gate(torch.nn.Module):
    """Wraps a model; its ``hold``-th forward waits for ``go`` (so a test can cancel mid-call)."""

    def __init__(self, inner: torch.nn.Module, hold: int) -> None:
        super().__init__()
        self.inner, self.hold, self.calls = inner, hold, 0
        self.inside, self.go = threading.Event(), threading.Event()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.hold:
            self.inside.set()
            self.go.wait(30)
        return self.inner(x)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("integrated_gradients", {"steps": 64}),
        ("integrated_gradients", {"steps": "auto"}),
        ("smoothgrad", {"samples": 200}),
        ("expected_gradients", {"samples": 200}),
        ("occlusion", {"window": 2, "stride": 1}),
    ],
)
def test_cancel_stops_within_the_chunk_in_flight(model, image, dispatch, method, options, monkeypatch):
    # the "one of nine tries ran on to the end": after Cancel no further model call may start
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)  # chunks of cpu_chunk points: several of them
    gate = _Gate(model, hold=4)
    refs = torch.rand(8, *image.shape, generator=torch.Generator().manual_seed(2))
    ex = explore(gate, image, method=method, dispatch=dispatch, references=refs, **options)
    assert gate.inside.wait(30), "the computation reached its fourth forward"
    ex._on_message(ex, {"type": "cancel"}, [])
    at_cancel = gate.calls
    gate.go.set()
    assert ex.session.wait(30)
    dispatch.pump()
    assert gate.calls == at_cancel, f"{gate.calls - at_cancel} forwards ran after Cancel"
    assert ex.status["state"] == "idle" and "cancelled" in ex.status["message"]
    ex.close()
