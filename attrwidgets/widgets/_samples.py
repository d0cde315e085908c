"""Running means over samples, from the one run that computes the final map: no extra forwards.

A sampling method (SmoothGrad, Expected Gradients) averages one map per draw. The explorer shows
that average after 1, 2, 4, …, n draws, so a person sees how many samples the map needs. Running
the method again for each count would cost about twice the forwards; instead the model is wrapped
in a :class:`Recorder` that sees each differentiated batch ``z`` and, through a tensor hook, its
gradient ``dF/dz`` (the gradient the method itself asks autograd for), in the order the engine
evaluates the draws. :class:`RunningMeans` turns ``(z, grad)`` into the method's per-draw map and
keeps snapshots of the running statistic at the counts.

What the per-draw map is depends on the estimator, so it is written here once per estimator
(``per_draw``); the result is checked against the method's own answer at the end
(:meth:`RunningMeans.frames`) and thrown away with a note if it differs, so the view never shows
running means that do not end on the final map.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from attrwidgets.sampling import sample_generator

__all__ = ["MOST_REFERENCES", "Recorder", "RunningMeans", "sample_counts"]

MOST_REFERENCES = 8
"""Expected Gradients' per-reference maps kept by the explorer: the references drawn most often."""


def sample_counts(n: int) -> list[int]:
    """1, 2, 4, … up to ``n``, and ``n`` itself."""
    counts, c = [], 1
    while c < n:
        counts.append(c)
        c *= 2
    return [*counts, n]


class Recorder(nn.Module):
    """``model(preprocess(z))`` that hands every differentiated batch and its gradient to ``sink``.

    Pass it as the model with ``preprocess=None``: the gradient it sees is then the gradient with
    respect to the pixel-space points, the one the method uses.
    """

    def __init__(self, model: nn.Module, preprocess: Callable[[torch.Tensor], torch.Tensor] | None, sink) -> None:
        super().__init__()
        self.model = model
        self.preprocess = preprocess
        self._sink = sink

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.requires_grad and torch.is_grad_enabled():
            points = z.detach()
            z.register_hook(lambda grad: self._sink(points, grad.detach()))
        return self.model(self.preprocess(z) if self.preprocess is not None else z)


class RunningMeans:
    """Snapshots of a sampling method's running statistic at :func:`sample_counts`.

    Parameters
    ----------
    method : str
        "smoothgrad" or "expected_gradients" (any other: :meth:`supported` is False).
    x : (1, C, H, W) tensor
        The input, in pixel space.
    options : dict
        The method's options (samples, seed, variant, base, ...).
    references : tensor, optional
        Expected Gradients' references (to know which one draw j used).
    """

    def __init__(self, method: str, x: torch.Tensor, options: dict[str, Any], references: torch.Tensor | None) -> None:
        self.method = method
        self.x = x
        self.n = int(options.get("samples", 1))
        self.variant = options.get("variant", "smoothgrad")
        self.base = options.get("base", "gradient")
        self.counts = sample_counts(self.n)
        self.seen = 0
        self.first_point: torch.Tensor | None = None
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        self.sums = torch.zeros(x.shape[1:], dtype=dtype, device=x.device)
        self.squares = torch.zeros_like(self.sums) if self.variant != "smoothgrad" else None
        self.snapshots: list[torch.Tensor] = []
        self.failed = False
        self.references = None
        self.drawn: list[int] = []
        self.draw_counts: collections.Counter[int] = collections.Counter()  # reference index → its draws
        self.kept: dict[int, int] = {}  # reference index → its row in ref_sums
        self.ref_sums: torch.Tensor | None = None
        if method == "expected_gradients" and references is not None:
            seed, m = int(options.get("seed", 0)), len(references)
            self.drawn = [int(torch.randint(m, (1,), generator=sample_generator(seed, j))) for j in range(self.n)]
            self.references = references[torch.tensor(self.drawn)]  # the reference of draw j, in draw order
            self.draw_counts = collections.Counter(self.drawn)
            if len(self.draw_counts) > 1:  # the most drawn references (the draws are known before the run)
                top = sorted(self.draw_counts, key=lambda r: (-self.draw_counts[r], r))[:MOST_REFERENCES]
                self.kept = {r: i for i, r in enumerate(top)}
                self.ref_sums = torch.zeros((len(top), *x.shape[2:]), dtype=dtype, device=x.device)

    def supported(self) -> bool:
        if self.method == "smoothgrad":
            return self.base in ("gradient", "input_x_gradient")
        return self.method == "expected_gradients" and self.references is not None

    def per_draw(self, points: torch.Tensor, grad: torch.Tensor, first: int) -> torch.Tensor:
        """The maps the method averages, for draws ``first``.. of this batch."""
        if self.method == "smoothgrad":
            return grad * points if self.base == "input_x_gradient" else grad
        refs = self.references[first : first + len(points)].to(device=points.device, dtype=points.dtype)
        return (self.x.to(points.dtype) - refs) * grad

    def __call__(self, points: torch.Tensor, grad: torch.Tensor) -> None:
        """The recorder's sink: one differentiated batch, draws in order."""
        if self.failed or self.seen >= self.n:
            self.failed = self.failed or self.seen >= self.n  # more draws than samples: not ours
            return
        if self.first_point is None:
            self.first_point = points[:1].clone()
        maps = self.per_draw(points, grad, self.seen).to(self.sums.dtype)
        for row in maps:
            self.sums += row
            if self.squares is not None:
                self.squares += row * row
            if self.ref_sums is not None and self.drawn[self.seen] in self.kept:
                self.ref_sums[self.kept[self.drawn[self.seen]]] += row.sum(0)  # channel sum, as the strip shows it
            self.seen += 1
            if self.seen in self.counts:
                self.snapshots.append(self._statistic(self.seen))

    def _statistic(self, count: int) -> torch.Tensor:
        mean = self.sums / count
        if self.variant == "smoothgrad" or self.squares is None:
            return mean.clone()
        mean_sq = self.squares / count
        return mean_sq.clone() if self.variant == "smoothgrad_sq" else (mean_sq - mean * mean).clamp_min(0)

    def frames(self, values: torch.Tensor) -> tuple[list[int], torch.Tensor] | None:
        """(counts, (K, C, H, W) running statistics) if they end on the method's ``values`` (1, C, H, W), else None."""
        if self.failed or self.seen != self.n or len(self.snapshots) != len(self.counts):
            return None
        stack = torch.stack(self.snapshots)
        last, final = stack[-1].double(), values[0].double().to(stack.device)
        scale = float(final.abs().max()) or 1.0
        if not torch.allclose(last, final, rtol=1e-3, atol=1e-4 * scale):
            return None
        return self.counts, stack

    def per_reference(self) -> dict[str, Any] | None:
        """Expected Gradients over several references, once every draw is in: the most drawn
        references (at most :data:`MOST_REFERENCES`), the draws each had and the mean of their maps
        (channel sums, (R, H, W)); the attribution's channel sum is Σ_r count_r · map_r / n over
        all ``distinct`` references. None for another method, one reference or an incomplete run."""
        if self.ref_sums is None or self.failed or self.seen != self.n:
            return None
        counts = [self.draw_counts[r] for r in self.kept]
        weights = torch.tensor(counts, dtype=self.ref_sums.dtype, device=self.ref_sums.device)
        return {
            "index": list(self.kept),
            "count": counts,
            "draws": self.n,
            "distinct": len(self.draw_counts),
            "maps": self.ref_sums / weights.view(-1, 1, 1),
        }
