"""The method menu and the sample scrubber in Notebook 7 (the same front end as in JupyterLab)."""

from __future__ import annotations

from tests.ui.test_methods_lab import QUIET_MS, open_method

# Notebook 7.6 logs this once on every page load, with or without widgets (see the testing recipe).
KNOWN_NB7_ERRORS = ("Cannot read properties of undefined (reading 'schema')",)


def test_methods_in_notebook7(nb7_server, open_notebook, explorer_view, artifacts):
    nbp, page, view, state = open_method(nb7_server, open_notebook, explorer_view, "smoothgrad", 16,
                                         "methods_nb7.ipynb", timeout=90_000)  # fmt: skip
    assert view.root.get_attribute("data-view") == "samples"
    sent = len(nbp.sent("comm_msg"))
    drawn, before = view.state()["drawn"], view.canvas()["hash"]
    page.locator("input.aw-samples").fill("0")
    view.wait_drawn_after(drawn)
    page.wait_for_timeout(QUIET_MS)
    assert view.canvas()["hash"] != before and len(nbp.sent("comm_msg")) == sent, "scrubbed in the browser only"
    page.locator("select.aw-method").select_option("grad_cam")
    view.wait_result(newer_than=state["result"], timeout=60_000)
    assert view.root.get_attribute("data-view") == "map"
    assert page.locator("select.aw-opt-layer").is_visible(), "Grad-CAM's layer picker"
    view.assert_not_blank(view.panel("final"), "the Grad-CAM map")
    view.root.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "methods_nb7.png"))
    errors = [e for e in page.aw_errors if not any(k in e for k in KNOWN_NB7_ERRORS)]
    assert not errors, errors
