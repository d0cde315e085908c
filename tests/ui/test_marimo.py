"""The explorer in marimo (``mo.ui.anywidget``): it renders, the sample scrubber redraws with no
request to the server, and the method menu reaches the kernel and comes back with a new view.
Skipped where marimo is not installed (``pip install marimo``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

marimo = pytest.importorskip("marimo")

REPO = Path(__file__).parents[2]
APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    from attrwidgets import explore
    from attrwidgets.demo import digits_data, load_digits_cnn

    images, _ = digits_data()
    ex = explore(load_digits_cnn(), images[3], method="smoothgrad", samples=16)
    widget = mo.ui.anywidget(ex)
    widget
    return


if __name__ == "__main__":
    app.run()
'''
HASH_JS = """(c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261 >>> 0;
    for (let i = 0; i < d.length; i += 4) {
        h = Math.imul(h ^ ((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]), 16777619) >>> 0;
    }
    return h;
}"""


@pytest.fixture
def marimo_app(tmp_path):
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--host", "127.0.0.1", "--port", str(port),
           "--no-token", "--no-sandbox", "--session-ttl", "0"]  # fmt: skip
    log = (tmp_path / "marimo.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if b"healthy" in r.read():
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"marimo did not start:\n{(tmp_path / 'marimo.log').read_text()[-2000:]}")
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}/", tmp_path / "marimo.log"
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _wait_attr(locator, name, value, timeout=90.0):
    deadline = time.monotonic() + timeout
    while locator.get_attribute(name) != value:
        if time.monotonic() > deadline:
            pytest.fail(f"{name} is {locator.get_attribute(name)!r}, not {value!r}")
        time.sleep(0.1)


def test_explorer_in_marimo(marimo_app, page, artifacts):
    url, log = marimo_app
    posts = []
    page.on("request", lambda r: posts.append(r.url) if "set_model_value" in r.url else None)
    page.goto(url)
    root = page.locator(".aw-root").first
    root.wait_for(timeout=90_000)
    _wait_attr(root, "data-view", "samples")
    page.locator(".aw-status[data-state='idle']").first.wait_for(timeout=90_000)
    canvas = page.locator("canvas.aw-canvas").first
    before = canvas.evaluate(HASH_JS)
    sent = len(posts)
    page.locator("input.aw-samples").first.fill("0")
    page.wait_for_timeout(500)
    assert canvas.evaluate(HASH_JS) != before, "the sample scrubber redraws"
    assert len(posts) == sent, "scrubbing samples sends nothing to the server"
    page.locator("select.aw-method").first.select_option("grad_cam")
    _wait_attr(root, "data-view", "map")
    assert len(posts) > sent, "the method menu reaches the kernel"
    page.screenshot(path=str(artifacts / "explorer_marimo.png"))
    assert not page.aw_errors, (page.aw_errors, log.read_text()[-1500:])
