"""The explorer in a real JupyterLab 4: the demo notebook runs, the canvas is drawn, the α scrubber
and the final panel's channel menu redraw without a message to the kernel, and a new baseline
brings a new result from the kernel."""

from __future__ import annotations

QUIET_MS = 500  # after a front-end-only interaction, how long we listen for a stray kernel message


def test_explorer_in_jupyterlab(lab_server, open_demo):
    # Run All as a person would, until the explorer's canvas is drawn (see open_demo).
    nbp, view, first, drawn = open_demo(lab_server)
    page = nbp.page
    view.assert_not_blank(view.canvas(view.CURVE), "the saturation curve")
    for name in ("input", "grad", "cumulative", "final"):
        view.assert_not_blank(view.panel(name), f"the {name} panel")
    # at α = 1 the accumulated attribution is the final one: one colour scale for both panels
    # (also after the coarse preview was drawn first)
    scales = view.scales()
    assert scales["final"] == scales["cumulative"] > 0, scales
    nbp.screenshot("explorer_lab.png")

    # α scrubber: a mouse drag redraws the canvas from data already in the browser. The kernel
    # hears nothing (test_smoke proves the recorder does see comm messages when there are some).
    comm_before = len(nbp.sent("comm_msg"))
    value_before = int(view.alpha.input_value())
    view.drag_alpha(0.9, 0.25)
    view.wait_drawn_after(first["drawn"])
    page.wait_for_timeout(QUIET_MS)
    value_after = int(view.alpha.input_value())
    assert value_after != value_before and 150 <= value_after <= 350, (value_before, value_after)
    scrubbed = view.canvas()
    assert scrubbed["hash"] != drawn["hash"], "dragging α did not change the canvas"
    view.assert_not_blank(scrubbed, "the canvas at α≈0.25")
    stray = nbp.sent("comm_msg")[comm_before:]
    assert stray == [], f"dragging α sent {len(stray)} comm message(s) to the kernel: {stray[:3]}"

    # Opacity is front-end only too.
    drawn_count = view.state()["drawn"]
    view.opacity.fill("15")
    view.wait_drawn_after(drawn_count)
    page.wait_for_timeout(QUIET_MS)
    faded = view.canvas()
    assert faded["hash"] != scrubbed["hash"], "changing the opacity did not change the canvas"
    stray = nbp.sent("comm_msg")[comm_before:]
    assert stray == [], f"changing the opacity sent comm message(s) to the kernel: {stray[:3]}"

    # The channel reduction of the final panel: only that panel changes, and the kernel hears nothing.
    final_before, input_before = view.panel("final"), view.panel("input")
    drawn_count = view.state()["drawn"]
    view.reduction.select_option("max_abs")
    view.wait_drawn_after(drawn_count)
    page.wait_for_timeout(QUIET_MS)
    final_after = view.panel("final")
    view.assert_not_blank(final_after, "the final panel with max |channel|")
    assert final_after["hash"] != final_before["hash"], "the channel menu did not redraw the final panel"
    assert view.panel("input")["hash"] == input_before["hash"], "the channel menu changed the input panel"
    stray = nbp.sent("comm_msg")[comm_before:]
    assert stray == [], f"changing the channel reduction sent comm message(s) to the kernel: {stray[:3]}"
    scrubbed = view.canvas()

    # Baseline: needs new gradients, so it goes to the kernel and comes back as a newer result.
    current = view.baseline.input_value()
    options = view.baseline.locator("option").evaluate_all("os => os.map(o => o.value)")
    choice = "white" if "white" in options and current != "white" else next(o for o in options if o != current)
    before = view.state()
    view.baseline.select_option(choice)
    after = view.wait_result(newer_than=before["result"], timeout=90_000)
    assert after["drawn"] > before["drawn"]
    rebased = view.canvas()
    view.assert_not_blank(rebased, f"the canvas with the {choice} baseline")
    assert rebased["hash"] != scrubbed["hash"], f"the {choice} baseline result drew the same pixels"
    assert len(nbp.sent("comm_msg")) > comm_before, "the baseline change never reached the kernel"
    view.root.scroll_into_view_if_needed()
    nbp.screenshot("explorer_lab_baseline.png")

    assert page.aw_errors == []
