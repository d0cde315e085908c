"""The token explorer (aw.explore_text) in JupyterLab 4 and in its static export, on the review classifier.

Chips drawn, one colour scale for every sentence, the α scrubber changing the chips with no kernel
message, a new sentence from the text box, and a token ``<img src=x onerror=alert(1)>`` shown as
text (no img element, no dialog). A screenshot at 1280×800 goes to ``tests/ui/artifacts/text_lab.png``.
"""

from __future__ import annotations

import inspect

import nbformat
import pytest

from attrwidgets.demo.text import review_classifier, tokenize

HOSTILE = "<img src=x onerror=alert(1)>"


def tok(text, vocab=None):
    """The demo's tokenizer with "beautifully" in two WordPiece pieces and a hostile token at the end."""
    words = [p for w in tokenize(text) for p in (["beautiful", "##ly"] if w == "beautifully" else [w])]
    return [*vocab.ids(words), 1], [*words, "<img src=x onerror=alert(1)>"]


SETUP = f"""\
import functools
import attrwidgets as aw
from attrwidgets.demo.text import LABELS, review_classifier, tokenize

model, vocab = review_classifier()
{inspect.getsource(tok)}
w = aw.explore_text(model, ["a moving , beautifully acted film .", "boring and predictable"],
                    tokenizer=functools.partial(tok, vocab=vocab),
                    labels=LABELS, steps=16, rule="riemann_trapezoid")
w
"""
CHIPS = """() => Array.from(document.querySelectorAll('.aw-text-row')).map(r =>
    Array.from(r.querySelectorAll('.aw-chip')).map(c =>
        [c.textContent, Number(c.dataset.score), c.style.background]))"""


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    return nb


def _check_chips(page, dialogs: list[str]) -> list[list[list]]:
    rows = page.evaluate(CHIPS)
    assert [len(r) for r in rows] == [9, 4], f"one chip per token and the hostile one: {rows}"
    assert [r[-1][0] for r in rows] == [HOSTILE, HOSTILE], "the hostile token is shown as its text"
    assert page.locator(".aw-root img").count() == 0, "no img element from a token"
    assert not dialogs, f"a token ran script: {dialogs}"
    assert len({c[2] for r in rows for c in r}) >= 6, "chips shaded by their scores"
    # one scale for both sentences: at clip 100 its end is the largest |score| over every chip
    scale = float(page.locator(".aw-root").get_attribute("data-scale"))
    assert scale == pytest.approx(max(abs(c[1]) for r in rows for c in r), rel=1e-6)
    return rows


def _scrub(page, view) -> None:
    final = page.evaluate(CHIPS)
    drawn = view.state()["drawn"]
    view.drag_alpha(0.9, 0.25)
    view.wait_drawn_after(drawn)
    scrubbed = page.evaluate(CHIPS)
    assert [c[1] for c in scrubbed[0]] != [c[1] for c in final[0]], "the chips follow α"
    # accumulated up to α < 1: less than at α = 1 in total, same sign as the final sum for this path
    assert abs(sum(c[1] for c in scrubbed[0])) < abs(sum(c[1] for c in final[0]))
    page.locator("input.aw-alpha").fill("1000")
    page.wait_for_timeout(100)
    assert page.evaluate(CHIPS) == final, "α = 1 shows the final scores"
    page.locator("select.aw-show").select_option("gradient")
    page.locator("input.aw-alpha").fill("0")
    page.wait_for_timeout(100)
    assert page.evaluate(CHIPS) != final, "the gradient at α = 0"
    page.locator("select.aw-show").select_option("attribution")


def _merge(page) -> None:
    pieces = page.evaluate(CHIPS)[0]
    page.locator("input.aw-merge").check()
    merged = page.evaluate(CHIPS)[0]
    assert [c[0] for c in merged][:5] == ["a", "moving", ",", "beautifully", "acted"]
    assert merged[3][1] == pytest.approx(pieces[3][1] + pieces[4][1], abs=1e-6), "a word's score: its pieces' sum"
    page.locator("input.aw-merge").uncheck()
    assert page.evaluate(CHIPS)[0] == pieces


def test_text_explorer_in_lab(lab_server, open_notebook, explorer_view, artifacts):
    nbp = open_notebook(lab_server, _notebook(), name="text.ipynb")
    page = nbp.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_viewport_size({"width": 1280, "height": 800})
    view = explorer_view(page)
    nbp.run_all()
    state = view.wait_result(timeout=90_000)
    page.wait_for_function("() => document.querySelector('.aw-root').dataset.view === 'path'")
    _check_chips(page, dialogs)
    view.assert_not_blank(view.canvas(view.CURVE), "the saturation curves")
    assert "gap" in view.completeness.text_content()

    sent = len(nbp.sent("comm_msg"))
    _scrub(page, view)
    _merge(page)
    page.wait_for_timeout(300)
    assert len(nbp.sent("comm_msg")) == sent, "α, show and merge never talk to the kernel"
    page.locator("input.aw-alpha").fill("500")
    page.evaluate("() => document.querySelector('.aw-root').scrollIntoView({block: 'start'})")
    page.screenshot(path=str(artifacts / "text_lab.png"))

    box = page.locator("textarea.aw-text-input")
    box.fill("the best movie of the year")
    box.press("Enter")
    view.wait_result(newer_than=state["result"], timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.aw-text-row').length === 1")
    words = page.evaluate(CHIPS)[0]
    assert [c[0] for c in words] == ["the", "best", "movie", "of", "the", "year", HOSTILE]
    assert len(nbp.sent("comm_msg")) > sent, "a new sentence is computed by the kernel"

    # the target picker: the top classes, and every sentence explained for the one picked
    offered = page.eval_on_selector_all("select.aw-target option", "els => els.map(e => e.textContent)")
    assert offered[0].startswith("predicted") and {o.split(" — ")[0] for o in offered[1:]} == {"fresh", "rotten"}
    state = view.state()
    page.locator("select.aw-target").select_option("0")
    state = view.wait_result(newer_than=state["result"], timeout=60_000)
    assert "explaining rotten" in page.locator(".aw-text-pred").first.text_content()
    # the method menu: the registry's text-capable methods; one without a path has no α scrubber
    methods = page.eval_on_selector_all("select.aw-method option", "els => els.map(e => e.value)")
    assert "integrated_gradients" in methods and "input_x_gradient" in methods and "grad_cam" not in methods
    page.locator("select.aw-method").select_option("input_x_gradient")
    view.wait_result(newer_than=state["result"], timeout=60_000)
    assert view.root.get_attribute("data-view") == "map"
    assert not page.locator("input.aw-alpha").is_visible() and not page.locator("canvas.aw-curve").is_visible()
    assert len(page.evaluate(CHIPS)[0]) == 7
    assert not dialogs and not page.aw_errors, (dialogs, page.aw_errors)


@pytest.fixture(scope="module")
def text_page(tmp_path_factory):
    import functools

    import attrwidgets as aw

    model, vocab = review_classifier()
    labels = ["<img src=y onerror=alert(2)>", "fresh"]  # class names are text too
    w = aw.explore_text(model, ["a moving , beautifully acted film .", "boring and predictable"],
                        tokenizer=functools.partial(tok, vocab=vocab), title="<img src=z onerror=alert(3)>",
                        labels=labels, steps=16, rule="riemann_trapezoid", sync=True)  # fmt: skip
    return w.save_html(tmp_path_factory.mktemp("text") / "text.html")


def test_text_export_offline(text_page, page, offline, explorer_view):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(text_page.as_uri())
    page.wait_for_selector(".aw-root[data-drawn]:not([data-drawn='0'])", timeout=20_000)
    view = explorer_view(page)
    _check_chips(page, dialogs)
    assert page.locator(".aw-text-pred").nth(1).text_content().startswith("2. <img src=y")
    assert page.title().endswith("<img src=z onerror=alert(3)>")
    assert page.locator(".aw-title").text_content() == "<img src=z onerror=alert(3)>"
    view.assert_not_blank(view.canvas(view.CURVE), "the exported curves")
    assert page.locator("select.aw-method").is_disabled() and page.locator("textarea.aw-text-input").is_disabled()
    _scrub(page, view)
    _merge(page)
    assert not offline, f"the page asked the network for {offline}"
    assert not dialogs and not page.aw_errors, (dialogs, page.aw_errors)
