"""The same demo notebook renders the explorer in Notebook 7, and its α scrubber works there."""

from __future__ import annotations

from pathlib import Path

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "explore_demo.ipynb"
# Notebook 7.6 logs this once on every page load, with or without widgets (see the testing recipe).
KNOWN_NB7_ERRORS = ("Cannot read properties of undefined (reading 'schema')",)


def test_explorer_in_notebook7(nb7_server, open_notebook, explorer_view):
    nbp = open_notebook(nb7_server, NOTEBOOK)
    page = nbp.page
    view = explorer_view(page)

    nbp.run_all()
    first = view.wait_result(timeout=90_000)
    view.root.scroll_into_view_if_needed()
    drawn = view.canvas()
    view.assert_not_blank(drawn, "the explorer's canvas")
    nbp.screenshot("explorer_nb7.png")

    comm_before = len(nbp.sent("comm_msg"))
    view.drag_alpha(0.9, 0.25)
    view.wait_drawn_after(first["drawn"])
    assert view.canvas()["hash"] != drawn["hash"], "dragging α did not change the canvas"
    assert nbp.sent("comm_msg")[comm_before:] == []

    errors = [e for e in page.aw_errors if not any(k in e for k in KNOWN_NB7_ERRORS)]
    assert errors == []
