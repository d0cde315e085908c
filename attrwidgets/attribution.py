"""The one result type every method returns: :class:`Attribution`, and its path :class:`Trace`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["Attribution", "Trace"]

_REDUCTIONS = ("sum", "abs_sum", "l2", "none")


def reduce_channels(values: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """Reduce the feature axis of a map: (N, C, H, W) → (N, H, W), (N, T, E) → (N, T).

    Images reduce their channel axis (1); token embeddings (N, T, E) reduce the embedding axis
    (last); (N, L) inputs have nothing to reduce and come back unchanged (``abs_sum`` and ``l2``
    still take the magnitude). ``sum`` keeps the sign (a pixel's channel attributions add up),
    ``abs_sum`` is ``|Σ_c v_c|`` (the Distill article's display), ``l2`` is ``sqrt(Σ_c v_c²)``.
    """
    if reduce not in _REDUCTIONS:
        msg = f"reduce={reduce!r} is not one of {_REDUCTIONS}"
        raise ValueError(msg)
    if reduce == "none":
        return values
    dim = channel_axis(values)
    if dim is None:
        return values.abs() if reduce in ("abs_sum", "l2") else values
    if reduce == "sum":
        return values.sum(dim=dim)
    if reduce == "abs_sum":
        return values.sum(dim=dim).abs()
    return values.pow(2).sum(dim=dim).sqrt()


def channel_axis(values: torch.Tensor) -> int | None:
    """The axis :func:`reduce_channels` sums over: 1 for (N, C, H, W), -1 for (N, T, E), else None."""
    if values.dim() == 4:
        return 1
    if values.dim() == 3:
        return -1
    return None


@dataclass(frozen=True)
class Trace:
    """What a path method saw along its path, kept from the one pass that computed it.

    All tensors live on the inputs' device.

    Attributes
    ----------
    alphas : (N, K) tensor
        Path positions α in [0, 1] of the K evaluated points of each input, sorted ascending.
    weights : (N, K) tensor
        Quadrature weight of each point (they sum to 1 per input).
    scores : (N, K) tensor
        The explained score F(x′ + α (x − x′)) at each point.
    grad_mean_abs : (N, K) tensor
        Mean |∂F/∂x| over the input's elements at each point (raw, not normalised).
    path_derivative : (N, K) tensor
        dF/dα = ∇F · (x − x′) at each point; the integrand whose integral is F(x) − F(x′).
    grad_maps : (N, K, H, W) float16 tensor or None
        The gradient at each point, summed over channels.
    cumulative_maps : (N, K, H, W) float16 tensor or None
        The attribution accumulated over the points up to and including α, summed over channels.
    predicted : (N, K) long tensor or None
        The class the model predicts at each point (where it changes along α, the path crosses a
        decision boundary).
    evaluations : int
        Model evaluations (forward + backward per point) spent, over all inputs.
    """

    alphas: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor
    grad_mean_abs: torch.Tensor
    path_derivative: torch.Tensor
    grad_maps: torch.Tensor | None = None
    cumulative_maps: torch.Tensor | None = None
    predicted: torch.Tensor | None = None
    evaluations: int = 0

    @property
    def grad_norm(self) -> torch.Tensor:
        """Mean |gradient| at each point divided by its maximum along the path (the IG paper's curve)."""
        peak = self.grad_mean_abs.amax(dim=1, keepdim=True)
        return self.grad_mean_abs / peak.clamp_min(torch.finfo(peak.dtype).tiny)

    @property
    def cumulative(self) -> torch.Tensor:
        """Σ of the attributions accumulated up to each α, shape (N, K) (Distill's completeness view)."""
        return torch.cumsum(self.weights * self.path_derivative, dim=1)


def _non_finite(tensor: torch.Tensor) -> int:
    return int((~torch.isfinite(tensor)).sum()) if tensor.is_floating_point() else 0


@dataclass(frozen=True)
class Attribution:
    """The result of every attribution method.

    Attributes
    ----------
    values : tensor
        Attributions with the same shape as the inputs, on the inputs' device.
    target : (N,) long tensor
        The output index explained for each input.
    method : str
        The registry name of the method (``"integrated_gradients"``, ...).
    params : dict
        The options the method ran with, after defaults were filled in (seeds included).
    score : (N,) tensor or None
        The explained score F(x) at the inputs.
    baseline_score : (N,) tensor or None
        F(x′) at the baseline, for methods that have one.
    delta : (N,) tensor or None
        Completeness gap Σ values − (F(x) − F(x′)) per input (signed, absolute units).
    parts : dict
        A named decomposition (FullGrad's input and bias terms) or a raw intermediate map
        (Grad-CAM's ``"cam"``).
    trace : Trace or None
        What a path method saw along its path.
    convergence : dict
        Curves in the number of samples, for sampling methods, shape (N, samples) in draw order
        (Expected Gradients: ``"running_sum"``, ``"running_baseline_score"``).

    Raises
    ------
    ValueError
        When ``values`` hold inf or nan (e.g. a float16 model whose gradients overflow while its
        scores are finite): a map with them cannot be drawn or trusted, so it is never returned.
    """

    values: torch.Tensor
    target: torch.Tensor
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    score: torch.Tensor | None = None
    baseline_score: torch.Tensor | None = None
    delta: torch.Tensor | None = None
    parts: dict[str, torch.Tensor] = field(default_factory=dict)
    trace: Trace | None = None
    convergence: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = _non_finite(self.values)
        where = "attributions"
        if not bad:  # a raw term can overflow where the normalised map hides it (FullGrad's parts)
            for name, part in self.parts.items():
                bad = _non_finite(part)
                if bad:
                    where = f"values of parts[{name!r}]"
                    break
        if bad:
            dtype = self.values.dtype
            if dtype in (torch.float16, torch.bfloat16):
                fix = (
                    f"{dtype} overflows easily in the backward pass: run the model and inputs in float32 "
                    "(model.float(), inputs.float())"
                )
            else:
                fix = (
                    "the model's gradient overflows at these inputs (e.g. sqrt or log at 0, or exp of a large "
                    "value): check the inputs' range"
                )
                if dtype != torch.float64:
                    fix += ", or use float64 (model.double(), inputs.double())"
            msg = f"{self.method}: {bad} {where} are not finite (inf or nan) with dtype {dtype}; {fix}"
            raise ValueError(msg)

    @property
    def relative_delta(self) -> torch.Tensor | None:
        """|delta| / |F(x) − F(x′)| per input: the completeness gap as a fraction of what is explained."""
        if self.delta is None or self.score is None or self.baseline_score is None:
            return None
        span = (self.score - self.baseline_score).abs()
        return self.delta.abs() / span.clamp_min(1e-12)

    def heatmap(self, reduce: str = "sum") -> torch.Tensor:
        """The values reduced over channels, (N, H, W) for image inputs; see :func:`reduce_channels`."""
        return reduce_channels(self.values.detach(), reduce)

    @property
    def token_scores(self) -> torch.Tensor:
        """One score per token, (N, T): values (N, T, E) summed over the embedding axis.

        For an attribution at an embedding layer they add up to Σ values per input, so for a
        complete method to F(x) − F(x′) (``delta`` says how well). See :mod:`attrwidgets.text`.
        """
        from attrwidgets.text import token_scores

        return token_scores(self.values.detach())

    def show_text(self, tokens: Any, **kwargs: Any):
        """Token chips, red positive and blue negative (HTML with every token escaped, or matplotlib).

        ``tokens``: the tokens of input ``index`` (default 0), or one list per input. Keyword
        arguments go to :func:`attrwidgets.text.show_text`: ``index``, ``kind`` ("html" or
        "matplotlib"), ``clip`` (percentile), ``labels``, ``ax``.
        """
        from attrwidgets.text import show_text

        return show_text(self, tokens, **kwargs)

    def to_numpy(self) -> np.ndarray:
        """The values as a float numpy array on the CPU."""
        return self.values.detach().cpu().numpy()

    def show(self, image: torch.Tensor | None = None, *, index: int = 0, **kwargs: Any):
        """Draw the heatmap with matplotlib (overlaid on ``image`` when given); returns the figure.

        Keyword arguments go to :func:`attrwidgets.viz.show`: ``reduce``, ``clip`` (percentile),
        ``alpha`` (overlay opacity), ``cmap``, ``ax``, ``title``.
        """
        from attrwidgets.viz import show

        return show(self, image, index=index, **kwargs)

    def __repr__(self) -> str:
        shape = tuple(self.values.shape)
        extra = ""
        rel = self.relative_delta
        if rel is not None:
            extra = f", relative_delta={[round(float(r), 5) for r in rel]}"
        return f"Attribution(method={self.method!r}, values={shape}, target={self.target.tolist()}{extra})"
