"""The compare grid (:func:`compare`: rows = methods, columns = baselines) and the side-by-side
debug view (:func:`compare_inputs`: rows = inputs, columns = their own predicted class and a class
the user picks), on one colour scale.

:class:`Compare` holds only synced traits and their validation; the computing is done by a
:class:`~attrwidgets.widgets.session.Session` around a :class:`~attrwidgets.widgets._compare.Grid`,
one panel per stage (the panels fill in one by one; a newer request wins). The front end is
``js/compare.js``. Exports: :meth:`Compare.save_png` (matplotlib, from the payload the browser
draws), :meth:`Compare.save_npz` (full-resolution attributions and their parameters) and
:meth:`Compare.save_html` (a static page).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import torch
import traitlets as t

from attrwidgets.baselines import BASELINES
from attrwidgets.registry import REGISTRY
from attrwidgets.widgets import export
from attrwidgets.widgets._bundle import bundle
from attrwidgets.widgets._compare import Grid, PanelSpec, first_number, ghost, heat_rgb, json_value
from attrwidgets.widgets._compute import EVALUATE, as_image
from attrwidgets.widgets._evaluation import EVALUATIONS
from attrwidgets.widgets._wire import decode
from attrwidgets.widgets.explorer import MATPLOTLIB_NAMES, colormap_tables
from attrwidgets.widgets.session import Session, Stage

__all__ = ["DEFAULT_BASELINES", "DEFAULT_METHODS", "Compare", "compare", "compare_inputs"]

DEFAULT_BASELINES = ("black", "white", "uniform", "blur", "gaussian", "max_distance")
"""The six baselines of the Distill study and the IG student report."""
DEFAULT_METHODS = ("integrated_gradients", "expected_gradients")
SCALES = ("locked", "panel")
_KERNEL_OWNED = ("grid", "result", "status", "vocabulary", "interactive", "classes", "evaluation_result")
_BROWSER = ("scale", "opacity", "alpha", "target", "picked", "title", "evaluation")


class Compare(anywidget.AnyWidget):
    """A grid of attribution panels on one colour scale; create it with :func:`compare` or
    :func:`compare_inputs`.

    ``scale`` ("locked": one scale for every panel, "panel": each its own), ``opacity`` and
    ``alpha`` (the α scrubber of path panels) only change the drawing, in the browser. ``target``
    (the class of the compare grid) and ``picked`` (the picked class of the debug view) recompute.
    """

    _esm = bundle("compare")

    grid = t.Dict().tag(sync=True)
    """What does not change: ``kind`` ("baselines" or "inputs"), ``rows``, ``columns`` (titles,
    baseline thumbnails), ``images`` (each input at map size, uint8)."""
    result = t.Dict().tag(sync=True)
    """The panels done so far (see :mod:`attrwidgets.widgets._compare`), ``generation``, ``final``."""
    status = t.Dict({"state": "idle", "message": "", "progress": None, "hint": "", "generation": 0}).tag(sync=True)
    """``state`` ∈ idle / computing / error, ``message``, ``progress``, ``hint``."""
    classes = t.List().tag(sync=True)
    """Classes offered by the picker: every input's top five, ``{index, label}``."""
    vocabulary = t.Dict().tag(sync=True)
    """``colormaps``: matplotlib's tables of the front end's colour maps."""
    interactive = t.Bool(True).tag(sync=True)
    """False in the static export."""
    title = t.Unicode("").tag(sync=True)
    scale = t.Enum(SCALES, "locked").tag(sync=True)
    """"locked" (one colour scale for every panel, default) or "panel" (each its own 99th percentile)."""
    opacity = t.Float(0.8).tag(sync=True)
    alpha = t.Float(1.0).tag(sync=True)
    """α of the path panels (1: the final attribution)."""
    target = t.Int(0).tag(sync=True)
    """The class every panel of the compare grid explains."""
    picked = t.Int(0).tag(sync=True)
    """The class the "picked class" column of the debug view explains."""
    evaluation = t.Enum(EVALUATIONS, "off").tag(sync=True)
    """"deletion" or "pixel_perturbation": every panel's curve together, against random rankings
    (after the panels; see attrwidgets/widgets/_evaluation.py). Default "off"."""
    evaluation_result = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    """The curves (written by the kernel): ``{}`` while computed, None when off."""

    def __init__(self, grid: Grid, layout: dict[str, Any], *, sync: bool = False,
                 dispatch: Callable[[Callable[[], None]], None] | None = None, **traits: Any) -> None:  # fmt: skip
        self._grid = grid
        self._ready = False
        classes: dict[int, str] = {}
        for i in range(len(grid.inputs)):
            for c in grid.top_classes(i):
                classes.setdefault(c["index"], c["label"])
        super().__init__(
            grid=layout,
            classes=[{"index": k, "label": v} for k, v in classes.items()],
            vocabulary={"colormaps": colormap_tables()},
            **traits,
        )
        self.session = Session(
            grid.compute, on_result=self._on_result, on_status=self._on_status, plan=self._plan,
            sync=sync, dispatch=dispatch,
        )  # fmt: skip
        self._ready = True
        self.observe(self._request, names=["target", "picked", "evaluation"])
        self._request()

    # -- validation ------------------------------------------------------------------------------------
    @t.validate("opacity", "alpha")
    def _valid_unit(self, proposal: t.Bunch) -> float:
        value = float(proposal.value)
        if not math.isfinite(value):
            msg = f"{proposal.trait.name} must be a finite number in [0, 1], not {proposal.value!r}"
            raise t.TraitError(msg)
        return min(1.0, max(0.0, value))

    @t.validate("target", "picked")
    def _valid_class(self, proposal: t.Bunch) -> int:
        value = int(proposal.value)
        if not 0 <= value < self._grid.classes:
            msg = f"{proposal.trait.name}={value} is not a class of this model: give 0..{self._grid.classes - 1}"
            raise t.TraitError(msg)
        return value

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Values from the browser: only the display options and the classes, each validated; what
        is refused goes back to the browser and is named in the status line."""
        refused = []
        for name, value in sync_data.items():
            why = "only the kernel writes it" if name not in _BROWSER else self._try_set(name, value)
            if why:
                self.send_state(name)
                refused.append(f"refused {name}: {why}")
        if refused:
            self._on_status("error", "; ".join(refused), None, "Pick a value the widget offers.", 0)

    def _try_set(self, name: str, value: object) -> str:
        try:
            super().set_state({name: value})
        except (t.TraitError, TypeError, ValueError) as error:
            return str(error)
        return ""

    # -- requests ---------------------------------------------------------------------------------------
    def _plan(self, params: dict[str, Any]) -> list[Stage]:
        specs = self._grid.specs
        plan = self._grid.plan()
        names = [f"{level} {specs[i].method} · {specs[i].baseline or specs[i].target}" for level, i in plan]
        stages = [Stage(name, {**params, "upto": k}) for k, name in enumerate(names)]
        if params.get("evaluation", "off") != "off":  # the curves of the final panels, after them
            stages.append(Stage(EVALUATE, {**params, "upto": len(names) - 1}, extra=True))
        return stages

    def _request(self, change: t.Bunch | None = None) -> int | None:
        if not self._ready:
            return None
        self.evaluation_result = None if self.evaluation == "off" else {}
        return self.session.request({"target": self.target, "picked": self.picked, "evaluation": self.evaluation})

    def _on_result(self, generation: int, stage: str, payload: dict[str, Any], final: bool) -> None:
        if stage == EVALUATE:
            self.evaluation_result = payload["evaluation"] if self.evaluation != "off" else None
            return
        self.result = {**payload, "generation": generation, "final": final}

    def _on_status(self, state: str, message: str, progress: float | None, hint: str, generation: int) -> None:
        done = self.result.get("done", 0) if self.result else 0
        self.status = {"state": state, "message": message, "progress": progress, "hint": hint,
                       "generation": generation, "done": done, "total": len(self._grid.specs)}  # fmt: skip

    @property
    def error(self) -> BaseException | None:
        """The exception of the last failed panel (with its traceback), or None."""
        return self.session.error

    @property
    def attributions(self) -> dict[tuple[int, int], Any]:
        """(row, column) → the full :class:`~attrwidgets.Attribution` of each panel done."""
        return dict(self._grid.attributions)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every panel of the newest request is in ``result``; True if within ``timeout``."""
        done = self.session.wait(timeout)
        self.session.flush()
        return done

    def close(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.close()
        super().close()

    def _finished(self, what: str, timeout: float | None) -> None:
        if not self.wait(timeout):
            msg = (f"{what}: the grid is still computing after {timeout:g} s; nothing was written. "
                   "Pass a longer timeout= (None waits as long as it takes).")  # fmt: skip
            raise TimeoutError(msg)
        if self.error is not None:
            msg = f"{what}: the last computation failed ({self.error}); nothing was written"
            raise RuntimeError(msg) from self.error

    # -- export ---------------------------------------------------------------------------------------
    def save_html(self, path: str | Path, *, title: str | None = None, timeout: float | None = 300.0) -> Path:
        """One self-contained HTML page of the grid, working offline (hover, scale toggle, α work)."""
        self._finished("save_html", timeout)
        state = {name: getattr(self, name) for name in Compare.class_own_traits() if not name.startswith("_")}
        state |= {"interactive": False, "status": {**self.status, "state": "idle", "message": ""}}
        return export.write(path, state, title=title or f"attrwidgets compare: {self.title}", entry="compare")

    def save_npz(self, path: str | Path, *, timeout: float | None = 300.0) -> Path:
        """The attributions at full resolution, ``values_r<row>_c<col>`` (float32, the input's
        shape), the inputs (``input_<i>``) and, in ``panels`` (JSON), each panel's row, column,
        method, baseline, target, F(x), F(x′), gap and parameters. An Expected Gradients panel
        over several references adds ``references_r<row>_c<col>`` (R, H, W): the channel-summed
        map of each reference drawn (the mean over its draws), and in ``panels`` which references
        they are (``index``), how many draws each had (``count``) and the draws in all."""
        self._finished("save_npz", timeout)
        arrays: dict[str, np.ndarray] = {}
        index = []
        for spec in self._grid.specs:
            attribution = self._grid.attributions[(spec.row, spec.col)]
            arrays[f"values_r{spec.row}_c{spec.col}"] = attribution.values.detach().float().cpu().numpy()
            index.append({
                "row": spec.row, "col": spec.col, "input": spec.input, "method": spec.method,
                "baseline": spec.baseline, "target": int(attribution.target[0]),
                "target_label": self._grid.label(int(attribution.target[0])),
                "score": first_number(attribution.score), "baseline_score": first_number(attribution.baseline_score),
                "delta": first_number(attribution.delta), "relative_delta": first_number(attribution.relative_delta),
                "params": {k: json_value(v) for k, v in attribution.params.items()},
            })  # fmt: skip
            refs = self._grid.per_reference.get((spec.row, spec.col))
            if refs is not None:  # Expected Gradients over several references: the map of each
                arrays[f"references_r{spec.row}_c{spec.col}"] = refs["maps"].numpy()
                index[-1]["references"] = {k: refs[k] for k in ("index", "count", "draws")}
        for i, x in enumerate(self._grid.inputs):
            arrays[f"input_{i}"] = x.detach().float().cpu().numpy()
        arrays["panels"] = np.array(json.dumps(index))
        arrays["grid"] = np.array(json.dumps({"rows": [r["title"] for r in self.grid["rows"]],
                                              "columns": [c["title"] for c in self.grid["columns"]]}))  # fmt: skip
        path = Path(path)
        with path.open("wb") as handle:
            np.savez_compressed(handle, **arrays)
        return path

    def save_png(self, path: str | Path, *, timeout: float | None = 300.0, dpi: int = 100) -> Path:
        """The grid as the browser draws it (same maps, same scale mode), drawn with matplotlib."""
        import matplotlib as mpl
        import matplotlib.pyplot as plt

        self._finished("save_png", timeout)
        result, grid = self.result, self.grid
        lut = (mpl.colormaps[MATPLOTLIB_NAMES["coolwarm"]](np.linspace(0, 1, 256))[:, :3] * 255).round()
        rows, cols = len(grid["rows"]), len(grid["columns"])
        lines = max((len(r.get("lines", [])) for r in grid["rows"]), default=0)
        size = (1.9 * (cols + 1), (2.2 + 0.13 * lines) * rows + 0.4)
        fig, axes = plt.subplots(rows, cols + 1, figsize=size, squeeze=False)
        images = [decode(im).astype(np.float64) for im in grid["images"]]
        for r, row in enumerate(grid["rows"]):
            ax = axes[r][0]
            ax.imshow(images[row["input"]].astype(np.uint8))
            ax.set_title(row["title"], fontsize=8)
            ax.set_xlabel("\n".join(row.get("lines", [])), fontsize=6)
        for c, column in enumerate(grid["columns"]):
            axes[0][c + 1].set_title(column["title"], fontsize=8)
        for panel in result.get("panels", []):
            ax = axes[panel["row"]][panel["col"] + 1]
            values = decode(panel["map"]).astype(np.float64)
            scale = panel["clip"] if self.scale == "panel" else result["locked"]
            base = ghost(images[panel["input"]])
            ax.imshow(np.clip(heat_rgb(values / scale, base, lut, self.opacity), 0, 255).astype(np.uint8))
            ax.set_xlabel(gap_text(panel, "\n"), fontsize=6)
            if grid["kind"] == "inputs":
                ax.set_title(f"{grid['columns'][panel['col']]['title']}: {panel['target_label']}", fontsize=7)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        mode = "one colour scale" if self.scale == "locked" else "each panel its own scale"
        fig.suptitle(f"{self.title or 'attrwidgets compare'} ({mode})", fontsize=9)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return path


def gap_text(panel: dict[str, Any], sep: str = ", ") -> str:
    """The completeness line under a panel (js/compare_draw.js gapText says the same)."""
    if panel.get("delta") is None:
        return f"Σ = {panel['sum']:.3g} (no completeness claim)"
    rel = panel.get("relative_delta")
    share = f" ({100 * rel:.2g} %)" if rel is not None else ""
    span = panel["score"] - panel["baseline_score"]
    return f"Σ = {panel['sum']:.3g}, F(x) − F(x′) = {span:.3g}{sep}gap {panel['delta']:.2g}{share}"


# -- checks shared by both views ------------------------------------------------------------------------
def _check_evaluation(evaluation: object) -> None:
    if evaluation not in EVALUATIONS:
        msg = f"evaluation must be one of {list(EVALUATIONS)}, not {evaluation!r}"
        raise ValueError(msg)


def _check_names(argument: str, names: object, known: Sequence[str], what: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        msg = f"{argument} must be a list of {what} names, e.g. {list(known)[:2]}, not {names!r}"
        raise TypeError(msg)
    if not names:
        msg = f"{argument} is empty: give at least one of {sorted(known)}"
        raise ValueError(msg)
    unknown = [name for name in names if name not in known]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        said = f"is not a {what}" if len(unknown) == 1 else f"are not {what}s"
        msg = f"{argument}: {listed} {said}; choose from {sorted(known)}"
        raise ValueError(msg)
    if len(set(names)) != len(names):
        msg = f"{argument} names one {what} twice: {list(names)}; give each once"
        raise ValueError(msg)
    return list(names)


def _check_labels(labels: object, classes: int) -> None:
    if labels is None:
        return
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        msg = f"labels must be a list of class names (one per class), not {type(labels).__name__}"
        raise TypeError(msg)
    if len(labels) != classes:
        msg = f"labels has {len(labels)} names but the model has {classes} classes: give one name per class"
        raise ValueError(msg)


def _check_class(argument: str, value: object, classes: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < classes:
        msg = f"{argument}={value!r} is not a class of this model: give an int 0..{classes - 1}"
        raise ValueError(msg)
    return value


def _check_references(references: object) -> None:
    if references is None:
        return
    if not isinstance(references, torch.Tensor) or references.dim() != 4 or len(references) == 0:
        shape = tuple(references.shape) if isinstance(references, torch.Tensor) else type(references).__name__
        msg = f"references must be a (M, C, H, W) tensor of training images in [0, 1], M ≥ 1, not {shape}"
        raise ValueError(msg)


def _options(steps: object, samples: object, seed: object) -> dict[str, dict[str, Any]]:
    if steps != "auto" and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1024):
        msg = f"steps must be an int from 1 to 1024 (points on each path) or 'auto', not {steps!r}"
        raise ValueError(msg)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 1000:
        msg = f"samples must be an int from 1 to 1000 (draws of Expected Gradients), not {samples!r}"
        raise ValueError(msg)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        msg = f"seed must be a non-negative int, not {seed!r}"
        raise ValueError(msg)
    return {
        "integrated_gradients": {"steps": steps, "rule": "gausslegendre"},
        "expected_gradients": {"samples": samples, "seed": seed},
        "smoothgrad": {"seed": seed},
    }


def compare(
    model: Callable[[torch.Tensor], torch.Tensor],
    image: object,
    *,
    baselines: Sequence[str] | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    references: torch.Tensor | None = None,
    target: int | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    labels: Sequence[str] | None = None,
    steps: int | str = 16,
    samples: int = 16,
    seed: int = 0,
    sync: bool = False,
    title: str = "",
    scale: str = "locked",
    evaluation: str = "off",
    dispatch: Callable[[Callable[[], None]], None] | None = None,
) -> Compare:
    """Compare methods (rows) and baselines (columns) on one image, on one colour scale.

    Parameters
    ----------
    model : nn.Module
        A classifier returning (N, classes) scores.
    image : tensor or array
        One image in pixel space [0, 1], as :func:`attrwidgets.explore` takes it.
    baselines : list of str, optional
        Names of :data:`attrwidgets.baselines.BASELINES`; default the six of the Distill study
        (black, white, uniform, blur, gaussian, max_distance), plus "references" when
        ``references`` are given.
    methods : list of str
        Registry names; default Integrated Gradients and Expected Gradients. A method with a
        baseline gets the column's baseline; Expected Gradients averages over the column's
        distribution (the training set for "references", 16 draws of a random baseline, the one
        baseline otherwise); a method with neither shows one map in every column.
    references : tensor, optional
        Training images (M, C, H, W) for the "references" column.
    target : int, optional
        Class explained in every panel; default the predicted class.
    preprocess, labels :
        As for :func:`attrwidgets.explore`.
    steps, samples, seed :
        Points of Integrated Gradients (Gauss-Legendre, default 16), draws of Expected Gradients
        (default 16), seed of the random baselines and draws.
    sync : bool
        Compute every panel before returning (tests, scripts); default on a worker thread, the
        panels filling in one by one.
    dispatch : callable, optional
        Runs the worker's answers on the kernel's thread (default the kernel's IO loop).
    scale : str
        "locked" (one colour scale, default) or "panel".
    evaluation : str
        "deletion" or "pixel_perturbation": every panel's curve in one chart, against random
        rankings of the same pixels (``.evaluation_result``); default "off".

    Returns
    -------
    Compare
        The widget: ``.save_png``, ``.save_npz``, ``.save_html``, ``.attributions``.
    """
    methods = _check_names("methods", methods, list(REGISTRY), "registered method")
    _check_references(references)
    if baselines is None:
        baselines = [*DEFAULT_BASELINES, *(["references"] if references is not None else [])]
    baselines = _check_names("baselines", baselines, list(BASELINES), "baseline")
    if "references" in baselines and references is None:
        msg = "baselines: 'references' needs training images: pass references=train_images (M, C, H, W)"
        raise ValueError(msg)
    if scale not in SCALES:
        msg = f"scale must be one of {list(SCALES)}, not {scale!r}"
        raise ValueError(msg)
    options = _options(steps, samples, seed)
    specs = [PanelSpec(r, c, 0, m, b) for c, b in enumerate(baselines) for r, m in enumerate(methods)]
    grid = Grid(model, [image], specs, preprocess=preprocess, references=references, labels=labels,
                options=options, seed=seed)  # fmt: skip
    _check_labels(labels, grid.classes)
    target = grid.predicted(0) if target is None else _check_class("target", target, grid.classes)
    top = grid.top_classes(0)
    layout = {
        "kind": "baselines",
        "rows": [{"title": m, "input": 0, "lines": []} for m in methods],
        "columns": [{"title": b, "thumb": grid.baseline_thumb(b)} for b in baselines],
        "images": grid.images_payload(),
        "inputs": [{"top": top}],
    }
    _check_evaluation(evaluation)
    return Compare(grid, layout, sync=sync, dispatch=dispatch, target=int(target), picked=int(target), title=title,
                   scale=scale, evaluation=evaluation)  # fmt: skip


def compare_inputs(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: Sequence[object],
    *,
    labels: Sequence[str] | None = None,
    method: str = "integrated_gradients",
    baseline: str = "black",
    picked: int | None = None,
    names: Sequence[str] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    references: torch.Tensor | None = None,
    steps: int | str = 16,
    samples: int = 16,
    seed: int = 0,
    sync: bool = False,
    title: str = "",
    evaluation: str = "off",
    dispatch: Callable[[Callable[[], None]], None] | None = None,
) -> Compare:
    """Two or more inputs side by side, each explained for its own predicted class and for a
    class you pick, with the same method and one colour scale; each row lists the input's top five.

    Parameters
    ----------
    model : nn.Module
        A classifier.
    inputs : list of images
        E.g. ``[image, zoomed]`` (see :func:`attrwidgets.demo.mistakes.zoomed_pair`), each as
        :func:`attrwidgets.explore` takes one image; all the same size.
    labels : list of str, optional
        Class names.
    method : str
        A registry name (default Integrated Gradients).
    baseline : str
        The baseline of methods that take one (default "black").
    picked : int, optional
        The class of the second column; default the first input's predicted class (so the
        second input is explained for the class the first one gets). ``w.picked = k`` changes it.
    names : list of str, optional
        Row titles (default "input 1", "input 2", ...).
    preprocess, references, steps, samples, seed, sync, dispatch, evaluation :
        As for :func:`compare` (with ``evaluation`` each input has its own random band).

    Returns
    -------
    Compare
        The widget; ``w.picked = k`` explains class ``k`` in the second column.
    """
    if isinstance(inputs, (torch.Tensor, np.ndarray)) or not isinstance(inputs, (list, tuple)):
        msg = f"inputs must be a list of images, e.g. [image, zoomed], not {type(inputs).__name__}"
        raise TypeError(msg)
    if len(inputs) < 1:
        msg = "inputs is empty: give a list of images, e.g. [image, zoomed]"
        raise ValueError(msg)
    shapes = [tuple(as_image(x).shape) for x in inputs]
    if len(set(shapes)) != 1:
        msg = f"inputs must all have one shape to share one colour scale; got {shapes}: resize them first"
        raise ValueError(msg)
    (method,) = _check_names("method", [method], list(REGISTRY), "registered method")
    (baseline,) = _check_names("baseline", [baseline], list(BASELINES), "baseline")
    _check_references(references)
    if names is not None and (isinstance(names, str) or len(names) != len(inputs)):
        msg = f"names must be a list of {len(inputs)} titles, one per input, not {names!r}"
        raise ValueError(msg)
    specs = []
    for i in range(len(inputs)):
        specs.append(PanelSpec(i, 0, i, method, baseline, "predicted"))
        specs.append(PanelSpec(i, 1, i, method, baseline, "picked"))
    grid = Grid(model, list(inputs), specs, preprocess=preprocess, references=references, labels=labels,
                options=_options(steps, samples, seed), seed=seed)  # fmt: skip
    _check_labels(labels, grid.classes)
    picked = grid.predicted(0) if picked is None else _check_class("picked", picked, grid.classes)
    titles = list(names) if names is not None else [f"input {i + 1}" for i in range(len(inputs))]
    tops = [grid.top_classes(i) for i in range(len(inputs))]
    layout = {
        "kind": "inputs",
        "rows": [
            {"title": titles[i], "input": i, "lines": [f"{c['label']} {100 * c['prob']:.1f} %" for c in tops[i]]}
            for i in range(len(inputs))
        ],
        "columns": [{"title": "its own prediction", "thumb": None}, {"title": "picked class", "thumb": None}],
        "images": grid.images_payload(),
        "inputs": [{"top": top} for top in tops],
    }
    _check_evaluation(evaluation)
    return Compare(grid, layout, sync=sync, dispatch=dispatch, target=int(picked), picked=int(picked), title=title,
                   evaluation=evaluation)  # fmt: skip
