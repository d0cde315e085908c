"""Token scores and their display: red/blue token chips in HTML (every token escaped) and matplotlib.

An attribution at a text model's embedding layer has values shaped (N, T, E); a token's score is
the sum over its embedding, so the scores of a sentence add up to Σ values (= F(x) − F(x′) for a
method that is complete, up to ``delta``). Positive scores are red, negative blue, on a diverging
scale symmetric around zero whose end is a percentile of |score| (``clip``), shared by every row
shown together.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from attrwidgets.attribution import Attribution

__all__ = ["TextView", "show_text", "token_scores"]

#: The diverging colour map of the chips: blue (negative) through white to red (positive).
CMAP = "RdBu_r"


def token_scores(values: torch.Tensor) -> torch.Tensor:
    """One score per token, (N, T): values (N, T, E) summed over E; (N, T) values as they are."""
    if values.dim() == 3:
        return values.sum(dim=-1)
    if values.dim() == 2:
        return values
    msg = (
        f"token scores need values shaped (N, T, E) (attributions at an embedding layer) or (N, T); these have "
        f"shape {tuple(values.shape)}: for images use heatmap() / show()"
    )
    raise ValueError(msg)


class TextView:
    """Token chips as HTML: shown by Jupyter (``_repr_html_``), or saved with ``.html``."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"TextView({len(self.html)} characters of HTML)"


def show_text(
    attribution: Attribution,
    tokens: Sequence[str] | Sequence[Sequence[str]],
    *,
    index: int = 0,
    kind: str = "html",
    clip: float = 100.0,
    labels: Sequence[str] | None = None,
    ax: Any = None,
) -> TextView | Any:
    """Draw the token scores as chips, red positive and blue negative.

    Parameters
    ----------
    attribution : Attribution
        Values shaped (N, T, E) or (N, T) (see :func:`token_scores`).
    tokens : list of str, or list of lists of str
        The tokens of input ``index``, or one list per input (each shown as a row, on one
        colour scale). A list shorter than T shows the first tokens only (the rest are padding).
    kind : {"html", "matplotlib"}
        A :class:`TextView` (HTML, every token escaped) or a matplotlib figure.
    clip : float
        Percentile of |score| over the rows shown that maps to the ends of the colour scale.
    labels : list of str, optional
        Class names, for the target shown in each row's caption.
    ax : matplotlib Axes, optional
        Where to draw (``kind="matplotlib"``); a new figure otherwise.
    """
    if kind not in ("html", "matplotlib"):
        msg = f"kind must be 'html' or 'matplotlib', not {kind!r}"
        raise ValueError(msg)
    if not isinstance(clip, int | float) or isinstance(clip, bool) or not 0 < clip <= 100:
        msg = f"clip must be a percentile in (0, 100], got {clip!r}"
        raise ValueError(msg)
    scores = token_scores(attribution.values.detach()).double().cpu()
    rows = _rows(tokens, index, scores)
    shown = torch.cat([scores[i, : len(t)] for i, t in rows]) if rows else torch.zeros(1)
    scale = float(torch.quantile(shown.abs(), clip / 100)) if shown.numel() else 0.0
    scale = scale if math.isfinite(scale) and scale > 0 else 1.0
    captions = [_caption(attribution, i, labels) for i, _ in rows]
    if kind == "html":
        return TextView(_html(rows, scores, scale, captions))
    return _figure(rows, scores, scale, captions, ax)


def _rows(tokens: object, index: int, scores: torch.Tensor) -> list[tuple[int, list[str]]]:
    n, length = scores.shape
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        kind = type(tokens).__name__
        msg = f"tokens must be a list of str (one input) or a list of lists (one per input), not {kind}"
        raise TypeError(msg)
    nested = len(tokens) > 0 and not isinstance(tokens[0], str)
    if nested:
        if len(tokens) > n:
            msg = f"got {len(tokens)} token lists for {n} inputs"
            raise ValueError(msg)
        rows = [(i, [str(t) for t in row]) for i, row in enumerate(tokens)]
    else:
        if not -n <= index < n:
            msg = f"index {index} out of range for {n} inputs"
            raise IndexError(msg)
        rows = [(index % n, [str(t) for t in tokens])]
    for i, row in rows:
        if len(row) > length:
            msg = f"input {i} has {len(row)} tokens but the attribution has {length} positions"
            raise ValueError(msg)
    return rows


def _caption(attribution: Attribution, i: int, labels: Sequence[str] | None) -> str:
    target = int(attribution.target[i])
    name = labels[target] if labels is not None and 0 <= target < len(labels) else f"class {target}"
    parts = [f"target {name}"]
    if attribution.score is not None:
        parts.append(f"F(x) = {float(attribution.score[i]):.4g}")
    if attribution.baseline_score is not None:
        parts.append(f"F(x′) = {float(attribution.baseline_score[i]):.4g}")
    parts.append(f"Σ = {float(token_scores(attribution.values.detach())[i].sum()):.4g}")
    return ", ".join(parts)


def _colour(value: float, scale: float) -> tuple[tuple[float, float, float, float], bool]:
    """The chip's RGBA for a score, and whether its text should be white (a dark chip)."""
    from matplotlib import colormaps

    t = max(-1.0, min(1.0, value / scale))
    rgba = colormaps[CMAP](0.5 + 0.5 * t)
    return rgba, abs(t) > 0.6


def _html(rows: list[tuple[int, list[str]]], scores: torch.Tensor, scale: float, captions: list[str]) -> str:
    lines = [
        '<div class="attrwidgets-text" style="font-family: sans-serif; line-height: 2;">',
        f'<div style="font-size: 0.8em; color: #555;">colour scale ±{scale:.4g} (red positive, blue negative)</div>',
    ]
    for (i, row), caption in zip(rows, captions, strict=True):
        chips = []
        for t, token in enumerate(row):
            value = float(scores[i, t])
            (r, g, b, _), dark = _colour(value, scale)
            style = (
                f"background: rgb({round(255 * r)}, {round(255 * g)}, {round(255 * b)}); "
                f"color: {'#fff' if dark else '#000'}; padding: 0.1em 0.3em; margin: 0 0.1em; border-radius: 0.3em;"
            )
            chips.append(
                f'<span style="{style}" title="{html.escape(f"{value:.4g}", quote=True)}">'
                f"{html.escape(token, quote=True)}</span>"
            )
        lines.append(
            f'<div><span style="font-size: 0.8em; color: #555;">{html.escape(caption)}</span><br>{"".join(chips)}</div>'
        )
    lines.append("</div>")
    return "\n".join(lines)


def _figure(rows: list[tuple[int, list[str]]], scores: torch.Tensor, scale: float, captions: list[str], ax: Any):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 0.9 * len(rows) + 0.6))
    else:
        fig = ax.figure
    ax.set_axis_off()
    renderer = fig.canvas.get_renderer()
    width = ax.get_window_extent(renderer).width
    y = 1.0
    step = 1.0 / (2 * len(rows) + 1)
    for (i, row), caption in zip(rows, captions, strict=True):
        ax.text(0, y, caption, fontsize=8, color="#555", transform=ax.transAxes, va="top")
        y -= step
        x = 0.0
        for t, token in enumerate(row):
            rgba, dark = _colour(float(scores[i, t]), scale)
            # usetex/mathtext off: a token such as "$x$" is drawn as it is written
            text = ax.text(x, y, token, transform=ax.transAxes, va="top", fontsize=11, usetex=False,
                           parse_math=False, color="white" if dark else "black",
                           bbox={"boxstyle": "round,pad=0.2", "facecolor": rgba, "edgecolor": "none"})  # fmt: skip
            x += (text.get_window_extent(renderer).width + 8) / max(width, 1.0)
        y -= step
    ax.set_title(f"token attributions, colour scale ±{scale:.3g}", fontsize=9)
    return fig
