"""Real-browser tests: Debian's Chromium driven by Playwright against real Jupyter servers.

Session fixtures start, on first use and once per test session,
- ``chromium``: the path of a Chromium binary (found, installed with apt when running as root,
  or the tests fail with the command to install it);
- ``lab_server`` / ``nb7_server``: a JupyterLab 4 / Notebook 7 server on 127.0.0.1, on a free port,
  with its configuration, runtime, settings and workspace directories in a temporary directory;
- ``browser``: a headless Chromium launched by Playwright (never ``playwright install``).

Per test: ``page`` (records page errors and every kernel message sent and received),
``open_notebook(server, notebook)`` (copies it in, opens it, waits for its kernel; stops the
kernels afterwards), ``explorer_view(page)``, which reads the explorer through its DOM contract,
and ``open_demo(server)``, which runs ``notebooks/explore_demo.ipynb`` until the explorer is drawn.
A failing test leaves ``artifacts/FAILED-<test>.png`` behind.

Every test in this directory gets the ``ui`` marker, so ``pytest -m "not ui"`` skips them.
See ``/work/shared/recipes/browser-testing.md`` for where the flags and selectors come from.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from tests.ui.chromium_flags import CHROMIUM_ARGS, CHROMIUM_CANDIDATES

UI_DIR = Path(__file__).parent
REPO_ROOT = UI_DIR.parent.parent
ARTIFACTS = UI_DIR / "artifacts"
DEMO_NOTEBOOK = REPO_ROOT / "notebooks" / "explore_demo.ipynb"

APT_TIMEOUT = 300  # seconds for apt-get update + install together
SERVER_START_TIMEOUT = 60
KERNEL_IDLE_TIMEOUT = 60_000  # ms, Playwright unit
INSTALL_HINT = (
    "Chromium is needed for the browser tests (tests/ui) and was not found at "
    f"{' or '.join(CHROMIUM_CANDIDATES)}. Install it with\n"
    "    sudo apt-get update && sudo apt-get install -y chromium\n"
    "or point AW_CHROMIUM at a Chromium/Chrome binary, or skip these tests with  -m 'not ui'."
)


# --------------------------------------------------------------------------- markers
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ui: real-browser test (Chromium + Playwright + a Jupyter server); slow")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if UI_DIR in item.path.parents:
            item.add_marker(pytest.mark.ui)


# --------------------------------------------------------------------------- chromium
def _find_chromium() -> str | None:
    explicit = os.environ.get("AW_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return None


def _install_chromium() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    deadline = time.monotonic() + APT_TIMEOUT
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        remaining = deadline - time.monotonic()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=max(remaining, 1), check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`{' '.join(cmd)}` took longer than {APT_TIMEOUT} s.\n{INSTALL_HINT}")
        if proc.returncode != 0:
            pytest.fail(
                f"`{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{proc.stderr[-2000:]}\n{INSTALL_HINT}"
            )


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium binary; installs Debian's ``chromium`` with apt when root and missing."""
    path = _find_chromium()
    if path is None and not os.environ.get("AW_CHROMIUM") and os.geteuid() == 0:
        _install_chromium()
        path = _find_chromium()
    if path is None and os.environ.get("AW_CHROMIUM"):
        pytest.fail(f"AW_CHROMIUM={os.environ['AW_CHROMIUM']} is not an executable file.", pytrace=False)
    if path is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser(chromium: str):
    """A headless Chromium driven by Playwright's bundled driver (no ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def decode_kernel_frame(payload: bytes | str) -> dict:
    """``{"channel", "msg_type", "content"}`` of one kernel websocket frame.

    JupyterLab 4 / Notebook 7 speak ``v1.kernel.websocket.jupyter.org``: a binary frame starts
    with n (uint64 LE), then n uint64 offsets; the parts between them are the channel name, then
    the header, parent header, metadata and content as JSON, then the binary buffers. Older
    servers send one JSON text frame per message; both are handled.
    """
    try:
        if isinstance(payload, str):
            msg = json.loads(payload)
            return {
                "channel": msg.get("channel"),
                "msg_type": msg.get("header", {}).get("msg_type"),
                "content": msg.get("content"),
            }
        n = int.from_bytes(payload[:8], "little")
        offsets = [int.from_bytes(payload[8 + 8 * i : 16 + 8 * i], "little") for i in range(n)]
        parts = [payload[a:b] for a, b in itertools.pairwise(offsets)]
        channel, header, content = parts[0].decode(), json.loads(parts[1]), json.loads(parts[4])
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        # Keep it visible in the recording rather than raise inside Playwright's event loop.
        return {"channel": None, "msg_type": f"<undecodable: {exc}>", "content": None}
    return {"channel": channel, "msg_type": header.get("msg_type"), "content": content}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"aw_report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request):
    """A fresh page in its own context.

    ``page.aw_errors`` collects uncaught page errors; ``page.aw_sent`` every message the page
    sends to a kernel (decoded with :func:`decode_kernel_frame`), recorded from the first load;
    ``page.aw_received`` the messages it receives from kernels (same form).
    """
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.aw_errors = []
    pg.aw_sent = []
    pg.aw_received = []
    pg.on("pageerror", lambda exc: pg.aw_errors.append(str(exc)))

    def on_websocket(ws) -> None:
        if "/api/kernels/" in ws.url and "/channels" in ws.url:
            ws.on("framesent", lambda payload: pg.aw_sent.append(decode_kernel_frame(payload)))
            ws.on("framereceived", lambda payload: pg.aw_received.append(decode_kernel_frame(payload)))

    pg.on("websocket", on_websocket)
    yield pg
    screenshot_if_failed(pg, request)
    context.close()


def screenshot_if_failed(pg, request: pytest.FixtureRequest) -> bool:
    """Save what the browser showed when the test failed, for the person reading the failure."""
    report = getattr(request.node, "aw_report_call", None)
    if report is None or not report.failed or pg.is_closed():
        return False
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"FAILED-{request.node.name}.png"
    try:
        pg.screenshot(path=str(shot))
        print(f"screenshot of the failure: {shot}")
    except Exception as exc:  # best effort: never hide the real failure behind this one
        print(f"could not take a failure screenshot: {exc}")
    return True


# --------------------------------------------------------------------------- jupyter servers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterServer:
    """A running Jupyter server; notebooks go in ``root`` (Lab autosaves, so copy them there)."""

    kind: str  # "lab" or "notebook"
    port: int
    root: Path
    proc: subprocess.Popen
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str) -> str:
        """URL that opens notebook ``name`` (a path relative to ``root``)."""
        if self.kind == "lab":
            return f"{self.base}/lab/tree/{name}?reset"
        return f"{self.base}/notebooks/{name}"

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def put_notebook(self, name: str, nb: nbformat.NotebookNode | Path) -> str:
        """Write a notebook (a node, or a copy of a file) into the server's root; return ``name``."""
        dest = self.root / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, Path):
            shutil.copyfile(nb, dest)
        else:
            nbformat.write(nb, dest)
        return name

    def shutdown_kernels(self) -> None:
        """Stop every session and kernel, so one test's kernel does not eat the next test's CPU."""
        try:
            for s in self.api("/api/sessions"):
                self.api(f"/api/sessions/{s['id']}", method="DELETE")
            for k in self.api("/api/kernels"):
                self.api(f"/api/kernels/{k['id']}", method="DELETE")
        except (urllib.error.URLError, OSError):
            pass

    def log_tail(self, n: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def _start_server(kind: str, tmp: Path) -> JupyterServer:
    root = tmp / "nb"
    root.mkdir(parents=True)
    dirs = {
        "JUPYTER_CONFIG_DIR": tmp / "config",
        "JUPYTER_RUNTIME_DIR": tmp / "runtime",
        "JUPYTER_DATA_DIR": tmp / "data",
        "JUPYTERLAB_SETTINGS_DIR": tmp / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": tmp / "workspaces",
        "IPYTHONDIR": tmp / "ipython",
    }
    for d in dirs.values():
        d.mkdir(parents=True)
    # No "get notified about Jupyter news?" toast over the notebook.
    notif = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()}}
    # The kernel runs in the temporary root: make the working tree's package importable there
    # (it also works once attrwidgets is pip-installed, since this only prepends).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("JUPYTER_TOKEN", None)

    port = _free_port()
    module = "jupyterlab" if kind == "lab" else "notebook"
    cmd = [
        sys.executable, "-m", module, "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
        "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp / "server.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = JupyterServer(kind=kind, port=port, root=root, proc=proc, log=log)

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{module} server exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            server.api("/api/status")
            return server
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                _stop_server(server)
                pytest.fail(f"{module} server did not answer in {SERVER_START_TIMEOUT} s:\n{server.log_tail()}")
            time.sleep(0.25)


def _stop_server(server: JupyterServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(5)


def _server_fixture(kind: str):
    @pytest.fixture(scope="session")
    def fixture():
        with tempfile.TemporaryDirectory(prefix=f"aw-ui-{kind}-") as tmp:
            server = _start_server(kind, Path(tmp))
            try:
                yield server
            finally:
                _stop_server(server)

    fixture.__doc__ = f"A {kind} server on 127.0.0.1, isolated in a temporary directory."
    return fixture


lab_server = _server_fixture("lab")
nb7_server = _server_fixture("notebook")


# --------------------------------------------------------------------------- driving a notebook
class NotebookPage:
    """One notebook open in a page: run cells, wait for the kernel, read canvases."""

    def __init__(self, page, server: JupyterServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name

    def open(self) -> NotebookPage:
        """Load the notebook and wait until its kernel has answered the page.

        The execution indicator says ``idle`` before any kernel is connected, and a Run All
        clicked then executes nothing, silently. So wait for the first ``kernel_info_reply`` on
        the page's kernel websocket too.
        """
        self.page.goto(self.server.url(self.name))
        deadline = time.monotonic() + KERNEL_IDLE_TIMEOUT / 1000
        while not any(m["msg_type"] == "kernel_info_reply" for m in self.page.aw_received):
            if time.monotonic() > deadline:
                pytest.fail(f"the kernel did not answer {self.name} within {KERNEL_IDLE_TIMEOUT} ms")
            self.page.wait_for_timeout(100)  # lets Playwright deliver websocket events
        self.wait_idle()
        return self

    def wait_idle(self, timeout: float = KERNEL_IDLE_TIMEOUT) -> None:
        self.page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout)

    def run_all(self) -> None:
        """Run > Run All Cells, through the menu as a person would."""
        self.page.click("li.lm-MenuBar-item:has-text('Run')")
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    def cell(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def run_cell(self, index: int) -> None:
        """Run one cell in place (Ctrl+Enter: no new cell is added after the last one)."""
        self.cell(index).locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Control+Enter")

    def sent(self, msg_type: str | None = None) -> list[dict]:
        """Messages this page has sent to kernels so far, optionally of one ``msg_type``."""
        return [m for m in self.page.aw_sent if msg_type is None or m["msg_type"] == msg_type]

    def screenshot(self, filename: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / filename
        self.page.screenshot(path=str(path), full_page=False)
        return path


@pytest.fixture
def open_notebook(page, request):
    """``open_notebook(server, name_or_node_or_path)`` copies the notebook in and opens it."""
    used: list[JupyterServer] = []

    def _open(server: JupyterServer, nb, name: str | None = None) -> NotebookPage:
        if name is None:
            name = nb.name if isinstance(nb, Path) else "test.ipynb"
        server.put_notebook(name, nb)
        used.append(server)
        return NotebookPage(page, server, name).open()

    yield _open
    if screenshot_if_failed(page, request):
        for server in used:
            print(f"--- end of the {server.kind} server log ---\n{server.log_tail()}")
        print(f"--- messages the page sent to kernels ---\n{[m['msg_type'] for m in page.aw_sent]}")
    page.close()  # before the kernels go, so the page does not try to restart them
    for server in used:
        server.shutdown_kernels()


def canvas_stats(page, selector: str, rect: list[int] | None = None) -> dict:
    """Pixel summary of the first canvas matching ``selector`` (or of ``rect`` = [x, y, w, h] in
    its pixels): size, distinct colours, opaque pixels, a hash."""
    return page.evaluate(
        """([sel, rect]) => {
            const c = document.querySelector(sel);
            if (!c) return null;
            const [rx, ry, rw, rh] = rect || [0, 0, c.width, c.height];
            const d = c.getContext('2d').getImageData(rx, ry, rw, rh).data;
            const colours = new Set();
            let h = 2166136261 >>> 0, opaque = 0;
            for (let i = 0; i < d.length; i += 4) {
                const v = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
                if (colours.size < 4096) colours.add(v);
                if (d[i + 3] > 0) opaque++;
                h = Math.imul(h ^ v, 16777619) >>> 0;
            }
            return {width: rw, height: rh, colours: colours.size, opaque, hash: h};
        }""",
        [selector, rect],
    )


# --------------------------------------------------------------------------- the explorer's DOM
def assert_not_blank(stats: dict, what: str = "canvas") -> None:
    """A drawn picture: a real size, opaque pixels, and many colours (not one flat fill)."""
    assert stats["width"] >= 64 and stats["height"] >= 64, f"{what} is tiny: {stats}"
    assert stats["opaque"] > 0.5 * stats["width"] * stats["height"], f"{what} is transparent: {stats}"
    assert stats["colours"] >= 64, f"{what} looks blank (only {stats['colours']} colours): {stats}"


class ExplorerView:
    """The explorer widget as the browser shows it, read through its DOM contract only.

    ``.aw-root`` carries ``data-drawn`` (count of canvas draws) and ``data-result`` (generation of
    the result drawn); ``canvas.aw-canvas`` holds the four image panels, its ``data-panels``
    their rectangles in canvas pixels (``input``, ``grad``, ``cumulative``, ``final``) and its
    ``data-scales`` the value at the end of each colour bar;
    ``input.aw-alpha`` is the α scrubber (0..1000) and ``.aw-alpha-value`` its readout;
    ``select.aw-baseline``; ``.aw-status[data-state=idle|computing|error]``; ``canvas.aw-curve``;
    ``.aw-completeness``; ``input.aw-opacity``; ``select.aw-reduction`` (channels of the final panel).
    """

    CANVAS = "canvas.aw-canvas"
    CURVE = "canvas.aw-curve"
    assert_not_blank = staticmethod(assert_not_blank)

    def __init__(self, page) -> None:
        self.page = page
        self.root = page.locator(".aw-root").first
        self.alpha = page.locator("input.aw-alpha").first
        self.baseline = page.locator("select.aw-baseline").first
        self.opacity = page.locator("input.aw-opacity").first
        self.reduction = page.locator("select.aw-reduction").first
        self.alpha_text = page.locator(".aw-alpha-value").first
        self.status = page.locator(".aw-status").first
        self.completeness = page.locator(".aw-completeness").first

    def state(self) -> dict | None:
        """``{drawn, result, status, message}`` read from the DOM, or None before the widget exists."""
        return self.page.evaluate(
            """() => {
                const r = document.querySelector('.aw-root');
                const s = document.querySelector('.aw-status');
                if (!r) return null;
                return {
                    drawn: Number(r.getAttribute('data-drawn') || 0),
                    result: r.hasAttribute('data-result') ? Number(r.getAttribute('data-result')) : null,
                    status: s ? s.getAttribute('data-state') : null,
                    message: s ? s.textContent : null,
                };
            }"""
        )

    def wait_result(self, newer_than: float = -1, timeout: float = 120_000) -> dict:
        """Wait until a result newer than ``newer_than`` is drawn and the status is idle.

        Fails at once if the widget's status turns to ``error`` (with its message) or, in a
        notebook, if a cell raised (with the exception the kernel sent).
        """
        seen_errors = sum(m["msg_type"] == "error" for m in getattr(self.page, "aw_received", []))
        deadline = time.monotonic() + timeout / 1000
        while True:
            st = self.state()
            if st and st["status"] == "error":
                pytest.fail(f"the explorer reports an error: {st['message']}", pytrace=False)
            if (
                st
                and st["status"] == "idle"
                and st["result"] is not None
                and st["result"] > newer_than
                and st["drawn"] > 0
            ):
                return st
            errors = [m for m in getattr(self.page, "aw_received", []) if m["msg_type"] == "error"]
            if len(errors) > seen_errors:
                c = errors[-1]["content"]
                tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(c.get("traceback", [])))
                pytest.fail(f"a cell raised {c.get('ename')}: {c.get('evalue')}\n{tb}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"no result newer than {newer_than} within {timeout} ms; last state {st}")
            self.page.wait_for_timeout(100)

    def wait_drawn_after(self, drawn: int, timeout: float = 10_000) -> None:
        """Wait until the canvas has been drawn again since the count ``drawn``."""
        self.page.wait_for_function(
            "(n) => Number(document.querySelector('.aw-root').getAttribute('data-drawn')) > n",
            arg=drawn,
            timeout=timeout,
        )

    def canvas(self, selector: str = CANVAS) -> dict:
        """Pixel summary of the main canvas (or of ``selector``), see :func:`canvas_stats`."""
        stats = canvas_stats(self.page, selector)
        assert stats is not None, f"no {selector} in the page"
        return stats

    def panel(self, name: str) -> dict:
        """Pixel summary of one image panel of the main canvas (``input``, ``grad``, ``cumulative``, ``final``)."""
        rects = self.page.evaluate(
            "() => JSON.parse(document.querySelector('canvas.aw-canvas').dataset.panels || '{}')"
        )
        assert name in rects, f"no panel {name!r} on the canvas: {rects}"
        stats = canvas_stats(self.page, self.CANVAS, rects[name])
        assert stats is not None
        return stats

    def scales(self) -> dict:
        """The value at the end of each panel's colour bar: ``{grad, cumulative, final}``."""
        return self.page.evaluate("() => JSON.parse(document.querySelector('canvas.aw-canvas').dataset.scales)")

    def drag_alpha(self, start: float, end: float, steps: int = 12) -> None:
        """Drag the α scrubber with the mouse: press at fraction ``start`` of the track, move to ``end``."""
        self.alpha.scroll_into_view_if_needed()
        box = self.alpha.bounding_box()
        assert box and box["width"] > 20, f"the α slider is not visible: {box}"
        y = box["y"] + box["height"] / 2
        thumb = 8  # half of Chromium's default range thumb: the track starts and ends that far in

        def x_at(fraction: float) -> float:
            return box["x"] + thumb + fraction * (box["width"] - 2 * thumb)

        mouse = self.page.mouse
        mouse.move(x_at(start), y)
        mouse.down()
        mouse.move(x_at(end), y, steps=steps)
        mouse.up()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``tests/ui/artifacts``: screenshots a person looks at (not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def keep_shot(target, path: Path, copy_as: str | None = None) -> Path:
    """Screenshot ``target`` (a page or a locator) to ``path`` for a person to look at, and copy it
    into ``$AW_SHOTS`` (as ``copy_as``, default the same name) when that is set."""
    target.screenshot(path=str(path))
    extra = os.environ.get("AW_SHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / (copy_as or path.name))
    return path


@pytest.fixture
def offline(page):
    """The page refuses every request that would leave the machine; the list of what it refused."""
    outside: list[str] = []
    page.context.route(
        re.compile(r"^(https?|wss?)://"), lambda route: (outside.append(route.request.url), route.abort())
    )
    return outside


@pytest.fixture(scope="session")
def explorer_view():
    """``explorer_view(page)`` → an :class:`ExplorerView`; ``.assert_not_blank(stats)`` checks pixels."""
    return ExplorerView


@pytest.fixture
def open_demo(open_notebook, explorer_view):
    """``open_demo(server)`` → ``(notebook_page, view, first, drawn)`` for the demo notebook.

    Opens ``notebooks/explore_demo.ipynb``, runs all its cells as a person would (the kernel loads
    torch and the model, then computes the trace) and waits for the explorer's first result:
    ``first`` is the explorer's state then and ``drawn`` its canvas, already checked not blank.
    """

    def _open(server: JupyterServer) -> tuple[NotebookPage, ExplorerView, dict, dict]:
        nbp = open_notebook(server, DEMO_NOTEBOOK)
        view = explorer_view(nbp.page)
        nbp.run_all()
        first = view.wait_result(timeout=90_000)
        view.root.scroll_into_view_if_needed()
        drawn = view.canvas()
        view.assert_not_blank(drawn, "the explorer's canvas")
        return nbp, view, first, drawn

    return _open
