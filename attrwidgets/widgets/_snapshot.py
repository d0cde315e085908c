"""The explorer's exports besides the HTML page: a PNG drawn with matplotlib from the same data,
and an ``.npz`` with the attribution at full resolution and what it was computed with.

The PNG shows what a reader of a paper or a slide needs from the widget: the input, the final map
over it (with the widget's colour map, clip, opacity and channel reduction), the saturation curve
of a path method, and the evaluation panel's curves when it is on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attrwidgets import viz
from attrwidgets.widgets._compare import first_number, json_value

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from matplotlib.colors import Colormap

    from attrwidgets.widgets.explorer import Explorer

__all__ = ["save_npz", "save_png"]

#: The widget's channel reductions that :func:`attrwidgets.viz.show` draws as they are; the others
#: (Σ|·|, max|·|) are magnitudes and are drawn as |Σ|.
_VIZ_REDUCTIONS = {"sum": "sum", "abs_sum": "abs_sum", "l2": "l2", "sum_abs": "abs_sum", "max_abs": "abs_sum"}


def _params(ex: Explorer) -> dict[str, Any]:
    attribution = ex.attribution
    return {
        "method": ex.method,
        "options": dict(ex.options),
        "baseline": ex.baseline,
        "sigma": ex.sigma,
        "color": ex.color,
        "target": int(attribution.target[0]),
        "target_label": ex._explainer.label(int(attribution.target[0])),
        "score": first_number(attribution.score),
        "baseline_score": first_number(attribution.baseline_score),
        "delta": first_number(attribution.delta),
        "relative_delta": first_number(attribution.relative_delta) if attribution.delta is not None else None,
        "params": {k: json_value(v) for k, v in attribution.params.items()},
    }


def save_npz(ex: Explorer, path: str | Path) -> Path:
    """``values`` (the attribution, float32, the image's shape), ``image`` (1, C, H, W) in [0, 1],
    ``parts_<name>`` for methods with parts, ``trace_alphas``/``trace_scores``/``trace_grad_mean_abs``
    for path methods, ``params`` (JSON: method, options, baseline, target, F(x), F(x′), gap) and
    ``evaluation`` (JSON) when the evaluation panel is on."""
    attribution = ex.attribution
    arrays: dict[str, np.ndarray] = {
        "values": attribution.values.detach().float().cpu().numpy(),
        "image": ex._explainer.image.detach().float().cpu().numpy(),
        "params": np.array(json.dumps(_params(ex))),
    }
    for name, part in (attribution.parts or {}).items():
        if hasattr(part, "detach"):
            arrays[f"parts_{name}"] = part.detach().float().cpu().numpy()
    trace = attribution.trace
    if trace is not None:
        arrays["trace_alphas"] = trace.alphas.detach().double().cpu().numpy()
        arrays["trace_scores"] = trace.scores.detach().double().cpu().numpy()
        arrays["trace_grad_mean_abs"] = trace.grad_mean_abs.detach().double().cpu().numpy()
    if ex.evaluation_result:
        arrays["evaluation"] = np.array(json.dumps(ex.evaluation_result))
    path = Path(path)
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def widget_colormap(name: str, signed: bool) -> Colormap:
    """The matplotlib colormap the front end draws with (js/colormap.js ``resolveColormap``):
    "auto" (or a sequential map for a signed map) is coolwarm for signed maps and inferno for
    magnitudes; a diverging map for a magnitude is its upper half (zero → positive end)."""
    import matplotlib as mpl
    import matplotlib.colors

    from attrwidgets.widgets.explorer import MATPLOTLIB_NAMES

    diverging = ("coolwarm", "purplegreen")
    if name not in MATPLOTLIB_NAMES or (signed and name not in diverging):
        name = "coolwarm" if signed else "inferno"
    table = mpl.colormaps[MATPLOTLIB_NAMES[name]]
    if signed or name not in diverging:
        return table
    return matplotlib.colors.ListedColormap(table(np.linspace(0.5, 1.0, 256)), name=f"{table.name}_upper")


def save_png(ex: Explorer, path: str | Path, *, dpi: int = 100) -> Path:
    """The input, the final map over it, the saturation curve (path methods) and the evaluation
    curves (when on), side by side, with the widget's display options."""
    from matplotlib.figure import Figure

    attribution = ex.attribution
    trace = attribution.trace
    evaluation = ex.evaluation_result if ex.evaluation_result and ex.evaluation_result.get("curves") else None
    other = ex._explainer.baseline_image if ex.baseline == "image" else None  # the path's other end
    count = 2 + (other is not None) + (trace is not None) + (evaluation is not None)
    fig = Figure(figsize=(4.2 * count, 4.0), layout="constrained")
    axes = fig.subplots(1, count, squeeze=False)[0]
    image = ex._explainer.image[0].detach().float().cpu()

    def picture(ax, tensor: torch.Tensor, title: str) -> None:
        pixels = tensor.detach().float().cpu().permute(1, 2, 0).numpy()
        grey = pixels.shape[-1] == 1
        ax.imshow(pixels[..., 0] if grey else pixels, cmap="gray" if grey else None, vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()

    p = _params(ex)
    picture(axes[0], image, f"input · the model sees: {ex._explainer.label(int(ex._explainer.logits.argmax()))}")
    at = 1
    if other is not None:
        seen = ex._explainer.baseline_label
        picture(axes[1], other[0], f"baseline x′ (α = 0): another image · the model sees: {seen}")
        at = 2
    reduce = _VIZ_REDUCTIONS.get(ex.reduction, "sum")
    sign = ex.sign if reduce == "sum" else "both"
    # as the front end: a map without a path and without a negative value is a magnitude (js/result.js)
    non_negative = trace is None and bool((attribution.values >= 0).all())
    signed = reduce == "sum" and sign == "both" and not non_negative
    title = f"{ex.method} · {p['target_label']}"
    if p["relative_delta"] is not None:
        title += f" · gap {100 * p['relative_delta']:.2f} %"
    viz.show(attribution, image, reduce=reduce, clip=float(ex.clip), alpha=float(ex.opacity),
             cmap=widget_colormap(ex.cmap, signed), ax=axes[at], title=title, sign=sign)  # fmt: skip
    at += 1
    if trace is not None:
        ax = axes[at]
        alphas = trace.alphas[0].double().cpu().numpy()
        ax.plot(alphas, trace.scores[0].double().cpu().numpy(), color="#1f4e9c", label="score F (logit)")
        grad = trace.grad_mean_abs[0].double().cpu().numpy()
        twin = ax.twinx()
        twin.plot(alphas, grad / (grad.max() or 1.0), color="#e07b00", label="|∇F| (normalised)")
        twin.set_ylim(0, 1.05)
        ax.set_xlabel("α (0 = baseline, 1 = input)")
        ax.set_title("along the path: score and gradient", fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
        twin.legend(loc="lower right", fontsize=7)
        at += 1
    if evaluation is not None:
        ax = axes[at]
        f = np.asarray(evaluation["fractions"])
        band, curve = evaluation["random"][0], evaluation["curves"][0]
        ax.fill_between(f, band["low"], band["high"], color="0.6", alpha=0.3,
                        label=f"random ({band['count']} rankings, area {band['auc']:.3g})")  # fmt: skip
        ax.plot(f, band["mean"], "--", color="0.4")
        ax.plot(f, curve["values"], color="#1f4e9c", label=f"{curve['label']} (area {curve['auc']:.3g})")
        ax.set_xlabel(evaluation["x"])
        ax.set_ylabel(evaluation["y"])
        ax.set_title(evaluation["title"], fontsize=9)
        ax.legend(fontsize=7)
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path
