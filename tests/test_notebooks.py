"""The notebooks run from top to bottom in a fresh kernel, and Binder can install what they need.

- ``test_notebook_runs`` (slow) executes every notebook in ``notebooks/`` with nbclient in a fresh
  kernel, in a temporary folder. It fails on any error output, when the notebook shows fewer
  figures than :data:`FIGURES` says, or fewer than it wrote to ``figures/``. Every figure shown is also written to
  ``<tmp_path>/outputs/<notebook>-<cell>-<n>.png`` so a person can look at them
  (``pytest -m slow tests/test_notebooks.py --basetemp=nb-out`` keeps them in ``nb-out/``).
- ``test_notebooks_are_stripped``: notebooks are committed without outputs.
- The Binder tests read ``binder/requirements.txt``: CPU-only torch from PyTorch's CPU index,
  torch and torchvision pins that pair and satisfy the package's own requirements, the package
  itself with its demo extra, JupyterLab. What needs the internet (the CPU index, a full install)
  is resolved as far as the configured indexes allow and skipped, saying why, where they cannot.

On a machine whose load is above its core count the kernels get ``OMP_NUM_THREADS=1`` (unless it
is set): OpenMP threads spinning against other processes made the notebooks several times slower.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BINDER = ROOT / "binder" / "requirements.txt"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FIRST_LECTURE = "notebooks/01_why_this_prediction.ipynb"

#: The figures (PNG outputs) each notebook must show; a new notebook must be listed here.
FIGURES = {
    "integrated_gradients.ipynb": 4,
    "explore_demo.ipynb": 0,
    "01_why_this_prediction.ipynb": 3,
    "02_axioms.ipynb": 1,
    "03_quadrature.ipynb": 2,
    "04_baselines.ipynb": 2,
    "05_expected_gradients.ipynb": 3,
    "06_deeplift.ipynb": 3,
    "07_smoothgrad.ipynb": 3,
    "08_grad_cam.ipynb": 2,
    "09_fullgrad.ipynb": 5,
    "10_text.ipynb": 4,
    "11_debugging_a_mistake.ipynb": 4,
}


def _pngs(notebook: nbformat.NotebookNode) -> list[tuple[int, bytes]]:
    return [
        (index, base64.b64decode(output["data"]["image/png"]))
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    assert path.name in FIGURES, f"{path.name}: add the number of figures it shows to FIGURES"
    if "OMP_NUM_THREADS" not in os.environ and os.getloadavg()[0] > (os.cpu_count() or 1):
        # On a machine already busier than its cores, torch's OpenMP threads spin against the other
        # processes: one thread per kernel ran the SmoothGrad notebook 3.5x faster here (134 s vs 471 s).
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    # run in tmp_path, so the figures a notebook writes land there
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
    images = _pngs(notebook)
    out = tmp_path / "outputs"
    out.mkdir()
    counts: dict[int, int] = {}
    for cell, data in images:
        counts[cell] = counts.get(cell, 0) + 1
        assert data.startswith(b"\x89PNG"), f"cell {cell}: an image/png output that is not a PNG"
        (out / f"{path.stem}-{cell:02d}-{counts[cell]}.png").write_bytes(data)
    assert len(images) >= FIGURES[path.name], f"{len(images)} figures shown, expected {FIGURES[path.name]}"
    written = sorted((tmp_path / "figures").glob("*.png")) if (tmp_path / "figures").is_dir() else []
    assert len(images) >= len(written), f"{len(written)} figures written to figures/ but only {len(images)} shown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stripped(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {index} has outputs: strip them before committing"
            assert cell.execution_count is None, f"cell {index} has an execution count"


def test_every_notebook_is_listed() -> None:
    assert sorted(p.name for p in NOTEBOOKS) == sorted(FIGURES)


# -- Binder ----------------------------------------------------------------------------------------
def _binder_lines() -> list[str]:
    lines = [line.split(" #")[0].strip() for line in BINDER.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _pins() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in _binder_lines() if not line.startswith(("-", "."))]
    return {r.name.lower(): r for r in reqs}


def _pinned_version(name: str) -> Version:
    (spec,) = _pins()[name].specifier
    assert spec.operator == "==", f"{name} must be pinned exactly (==), got {spec}"
    return Version(spec.version)


def _dependencies() -> dict[str, Requirement]:
    """The package's own requirements (not its extras'), from its installed metadata."""
    reqs = [Requirement(r) for r in importlib.metadata.requires("attrwidgets") or []]
    return {r.name.lower(): r for r in reqs if r.marker is None}


def test_binder_installs_cpu_torch() -> None:
    lines = _binder_lines()
    assert f"--extra-index-url {CPU_INDEX}" in lines or f"--index-url {CPU_INDEX}" in lines
    for name in ("torch", "torchvision"):
        version = _pinned_version(name)
        assert version.local == "cpu", f"{name} must be pinned to a +cpu build, got {version}"
    torch, vision = _pinned_version("torch"), _pinned_version("torchvision")
    # torchvision 0.N pairs with torch 2.(N - 15): 0.16 <-> 2.1, ..., 0.28 <-> 2.13
    assert (torch.major, torch.minor) == (2, vision.minor - 15), f"torch {torch} and torchvision {vision} do not pair"


def test_binder_pins_satisfy_the_package() -> None:
    wanted = _dependencies()
    for name in ("torch", "torchvision"):
        version = _pinned_version(name)
        assert wanted[name].specifier.contains(version, prereleases=True), f"{name} {version} vs {wanted[name]}"
    lines = _binder_lines()
    package = [line for line in lines if line.startswith(("-e .", "."))]
    assert package, "binder/requirements.txt must install the package from the repository (-e .[demo])"
    extras = set(re.findall(r"\[([^\]]+)\]", package[0])[0].split(",")) if "[" in package[0] else set()
    assert "demo" in extras and extras <= set(importlib.metadata.metadata("attrwidgets").get_all("Provides-Extra"))
    assert "jupyterlab" in _pins()


def test_binder_badge_opens_the_first_lecture() -> None:
    readme = (ROOT / "README.md").read_text()
    badge = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", readme)
    assert badge, "README.md has no Binder launch badge"
    labpath = re.search(r"labpath=([^)&\s]+)", badge.group(0))
    assert labpath and labpath.group(1).replace("%2F", "/") == FIRST_LECTURE
    assert (ROOT / FIRST_LECTURE).exists()


def _pip(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_binder_requirements_resolve(tmp_path: Path) -> None:
    """Resolve binder/requirements.txt with pip (``--dry-run``, nothing installed) as far as the
    configured indexes allow. Offline, PyPI's mirror and the CPU index may lack the +cpu wheels:
    then each pin is resolved on its own where it can be, the rest with the pins' public versions,
    and the test says which part could not be checked."""
    report = tmp_path / "report.json"
    full = _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), "-r", str(BINDER))
    if full.returncode == 0:
        installed = {
            item["metadata"]["name"].lower(): item["metadata"]["version"]
            for item in json.loads(report.read_text())["install"]
        }
        assert installed["torch"].endswith("+cpu"), installed["torch"]
        assert not any(name.startswith("nvidia-") for name in installed), "a CUDA library would be installed"
        return
    missing = []
    for name in ("torch", "torchvision"):
        one = _pip(
            "install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet", f"{name}=={_pinned_version(name)}"
        )
        if one.returncode != 0:
            missing.append(f"{name}=={_pinned_version(name)}")
    # the rest, with the pins' public versions (the same requirements and dependencies as the +cpu builds)
    public = tmp_path / "public.txt"
    text = BINDER.read_text().replace("+cpu", "")
    public.write_text(re.sub(r"^--extra-index-url .*$", "", text, flags=re.M).replace("-e .", f"-e {ROOT}"))
    rest = _pip("install", "--dry-run", "--ignore-installed", "--quiet", "-r", str(public))
    assert rest.returncode == 0, rest.stderr[-2000:]
    if missing:
        pytest.skip(
            f"the rest of binder/requirements.txt resolves; {', '.join(missing)} cannot be resolved from the "
            f"indexes this machine reaches ({CPU_INDEX} needs the internet)"
        )
