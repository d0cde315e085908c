"""The engine's warnings become the explorer's notes without touching anybody else's warnings.

The worker thread must not use ``warnings.catch_warnings``: that swaps process-wide state, so
warnings raised meanwhile on the main thread land in the explorer's notes, filters added meanwhile
are thrown away on exit, and a ``catch_warnings`` block of the user's gets the engine's warnings.
Each test holds the worker inside a computation with a gate (no sleeps) and acts on the main thread.
"""

from __future__ import annotations

import inspect
import warnings

from attrwidgets.widgets import explore

GAP = "completeness gap"  # the engine's warning for 4 left-Riemann points on the tiny model


def _explore_held(gate, image, dispatch):
    ex = explore(gate, image, steps=4, rule="riemann_left", dispatch=dispatch)
    assert gate.entered.wait(60), "the worker never started computing"
    return ex


def test_main_thread_warnings_and_filters_are_left_alone_while_the_worker_computes(gate, image, dispatch):
    shown = []

    def show(message, category, filename, lineno, file=None, line=None):
        shown.append((str(message), filename, lineno))

    with warnings.catch_warnings():  # undoes this test's own changes afterwards
        warnings.showwarning = show
        ex = _explore_held(gate, image, dispatch)
        warnings.filterwarnings("ignore", message="silenced by the user")
        line = inspect.currentframe().f_lineno + 1
        warnings.warn("raised on the main thread", UserWarning, stacklevel=1)
        gate.release.set()
        assert ex.session.wait(60)
        dispatch.pump()

        notes = ex.result["notes"]
        assert any(GAP in n for n in notes), f"the engine's warning is not in the notes: {notes}"
        assert not any("main thread" in n for n in notes), f"the user's warning went into the notes: {notes}"
        assert shown == [("raised on the main thread", __file__, line)], "reaches the user's handler, same place"
        assert any(
            f[0] == "ignore" and f[1] is not None and f[1].pattern == "silenced by the user" for f in warnings.filters
        )
        warnings.warn("silenced by the user", UserWarning, stacklevel=1)
        assert [m for m, _, _ in shown] == ["raised on the main thread"], "the user's filter still works"
        ex.close()


def test_a_users_catch_warnings_block_gets_none_of_the_engines_warnings(gate, image, dispatch):
    ex = _explore_held(gate, image, dispatch)
    with warnings.catch_warnings(record=True) as mine:
        warnings.simplefilter("always")
        gate.release.set()  # the engine warns while this block is open
        assert ex.session.wait(60)
        warnings.warn("the user's own", UserWarning, stacklevel=1)
    dispatch.pump()
    assert [str(w.message) for w in mine] == ["the user's own"]
    assert any(GAP in n for n in ex.result["notes"]), ex.result["notes"]
    ex.close()


def test_engine_warnings_are_noted_every_time_whatever_the_filters(model, image):
    # pyproject's filterwarnings turns attrwidgets' warnings into errors: the engine's own still
    # become notes (as with catch_warnings + "always" before), in sync mode too, and repeatedly
    before = list(warnings.filters)
    ex = explore(model, image, steps=4, rule="riemann_left", sync=True)
    assert any(GAP in n for n in ex.result["notes"])
    ex.baseline = "white"
    ex.baseline = "black"  # the same computation again: the same note again
    assert any(GAP in n for n in ex.result["notes"]), "a repeated warning is noted again"
    assert warnings.filters == before
