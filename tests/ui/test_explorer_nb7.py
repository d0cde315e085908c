"""The same demo notebook renders the explorer in Notebook 7, and its α scrubber works there."""

from __future__ import annotations

# Notebook 7.6 logs this once on every page load, with or without widgets (see the testing recipe).
KNOWN_NB7_ERRORS = ("Cannot read properties of undefined (reading 'schema')",)


def test_explorer_in_notebook7(nb7_server, open_demo):
    nbp, view, first, drawn = open_demo(nb7_server)
    page = nbp.page
    nbp.screenshot("explorer_nb7.png")

    comm_before = len(nbp.sent("comm_msg"))
    view.drag_alpha(0.9, 0.25)
    view.wait_drawn_after(first["drawn"])
    assert view.canvas()["hash"] != drawn["hash"], "dragging α did not change the canvas"
    assert nbp.sent("comm_msg")[comm_before:] == []

    errors = [e for e in page.aw_errors if not any(k in e for k in KNOWN_NB7_ERRORS)]
    assert errors == []
