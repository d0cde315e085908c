"""The browser-test machinery itself works: a throwaway anywidget renders in JupyterLab and talks
to the kernel. When this fails, the explorer tests cannot mean anything."""

from __future__ import annotations

import nbformat
from playwright.sync_api import expect

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

COUNTER = '''\
import anywidget
import traitlets


class Counter(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const button = document.createElement("button");
      button.className = "smoke-counter";
      const update = () => {
        button.textContent = `count is ${model.get("value")}`;
        el.dataset.value = String(model.get("value"));
      };
      button.addEventListener("click", () => {
        model.set("value", model.get("value") + 1);
        model.save_changes();
      });
      model.on("change:value", update);
      update();
      el.classList.add("smoke-root");
      el.appendChild(button);
      return () => model.off("change:value", update);
    }
    export default { render };
    """
    value = traitlets.Int(0).tag(sync=True)


counter = Counter()
counter'''


def counter_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [
        nbformat.v4.new_code_cell(COUNTER),
        nbformat.v4.new_code_cell('print("PY_VALUE", counter.value)'),
    ]
    return nb


def test_inline_anywidget_round_trip(lab_server, open_notebook):
    nbp = open_notebook(lab_server, counter_notebook(), name="smoke.ipynb")
    page = nbp.page
    nbp.run_all()
    button = page.locator("button.smoke-counter")
    expect(button).to_have_text("count is 0", timeout=30_000)

    before = len(nbp.sent("comm_msg"))
    button.click()
    button.click()
    expect(button).to_have_text("count is 2")
    # The websocket recorder sees the two updates: the explorer tests rely on it to prove
    # that front-end-only controls send nothing.
    page.wait_for_timeout(200)
    updates = [m["content"]["data"] for m in nbp.sent("comm_msg")[before:]]
    assert [u["state"] for u in updates if u.get("method") == "update"] == [{"value": 1}, {"value": 2}]

    nbp.wait_idle()
    nbp.run_cell(1)
    expect(nbp.cell(1).locator(".jp-OutputArea-output")).to_contain_text("PY_VALUE 2")
    assert page.aw_errors == []
