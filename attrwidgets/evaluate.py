"""Evaluating attributions: pixel perturbation, deletion and insertion, remove-and-retrain, sanity checks.

Every function takes the map to judge as an :class:`~attrwidgets.Attribution`, a tensor, a
registered method's name (computed here, with ``options``) or ``"random"`` (a seeded random
ranking, the control every test needs). Perturbed copies of the inputs are built chunk by chunk
and evaluated forward-only through the project's one engine
(:func:`attrwidgets.methods._engine.evaluate`), so they obey the memory budget (``memory=``),
the channels-last layout choice and the out-of-memory halving that every method obeys.

Features are ranked on the channel-reduced map (``reduce``, default ``"abs_sum"``: |Σ_c v_c| per
pixel), and a removed pixel loses all its channels. Ties (a map that is flat over a region) are
broken in a seeded random order, never in raster order.

References
----------
Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization", NeurIPS
2019, arXiv:1905.00780 (the pixel perturbation test: remove the *least* salient pixels, the
output should barely change). Petsiuk, Das & Saenko, "RISE", BMVC 2018, arXiv:1806.07421
(deletion and insertion). Hooker, Erhan, Kindermans & Kim, "A Benchmark for Interpretability
Methods in Deep Neural Networks", NeurIPS 2019, arXiv:1806.10758 (ROAR). Adebayo et al.,
"Sanity Checks for Saliency Maps", NeurIPS 2018, arXiv:1810.03292.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from attrwidgets.attribution import Attribution, channel_axis, reduce_channels
from attrwidgets.baselines import gaussian_blur
from attrwidgets.datasets import Progress, method_name, run_method
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._engine import Chunk, Points, evaluate, first_pass
from attrwidgets.model import Explained
from attrwidgets.sampling import check_seed, sample_generator

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "Curve",
    "RoarResult",
    "SanityCheck",
    "deletion",
    "fit_classifier",
    "insertion",
    "pixel_perturbation",
    "random_maps",
    "roar",
    "sanity_check",
]

#: The FullGrad paper's pixel perturbation fractions: 0.1 %, 1 %, 3 %, 5 % and 10 % of the pixels.
FULLGRAD_FRACTIONS = (0.001, 0.01, 0.03, 0.05, 0.1)
#: Deletion and insertion: 0 %, 5 %, …, 100 % (21 points, 20 steps).
CURVE_FRACTIONS = tuple(i / 20 for i in range(21))
_REPLACE = ("black", "blur", "mean")
_BLUR_SIGMA = 10.0  # pixels, as attrwidgets.baselines.blur


@dataclass(frozen=True)
class Curve:
    """The model's output as features are removed (or inserted) in a map's order.

    Attributes
    ----------
    fractions : (K,) float64 tensor
        Fraction of the features removed (deletion, pixel perturbation) or inserted (insertion).
    scores : (N, K) tensor
        The explained score (the raw output, a logit) for the target at each fraction.
    probabilities : (N, K) tensor
        The target's softmax probability (a sigmoid for a one-output model) at each fraction.
    change : (N, K) tensor
        The absolute fractional change of the score, |F(x̃) − F(x)| / |F(x)|.
    auc : (N,) float64 tensor
        Trapezoid area under ``measure`` over ``fractions`` (lower is better for pixel
        perturbation and deletion, higher for insertion). :meth:`area` gives the others.
    measure : str
        The curve ``auc`` integrates: ``"change"`` (pixel perturbation) or ``"probabilities"``.
    initial : (N,) tensor
        F(x), the score at the unperturbed inputs.
    target : (N,) long tensor
    test : str
        ``"pixel_perturbation"``, ``"deletion"`` or ``"insertion"``.
    method : str
        The map's method (``"random"`` for the control).
    params : dict
        ``order``, ``replace``, ``reduce``, ``seed``.
    """

    fractions: torch.Tensor
    scores: torch.Tensor
    probabilities: torch.Tensor
    change: torch.Tensor
    auc: torch.Tensor
    measure: str
    initial: torch.Tensor
    target: torch.Tensor
    test: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def area(self, of: str = "probabilities") -> torch.Tensor:
        """(N,) trapezoid area under ``scores``, ``probabilities`` or ``change`` over the fractions."""
        if of not in ("scores", "probabilities", "change"):
            msg = f"of={of!r} is not one of ('scores', 'probabilities', 'change')"
            raise ValueError(msg)
        return _trapezoid(getattr(self, of), self.fractions)

    @property
    def mean_auc(self) -> float:
        """``auc`` averaged over the inputs."""
        return float(self.auc.mean())

    def __repr__(self) -> str:
        return (
            f"Curve(test={self.test!r}, method={self.method!r}, fractions={len(self.fractions)}, "
            f"inputs={len(self.initial)}, mean auc of {self.measure}={self.mean_auc:.4g})"
        )


def _trapezoid(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if len(x) < 2:
        return torch.zeros(y.shape[0], dtype=torch.float64)
    return torch.trapezoid(y.to(torch.float64), x.to(torch.float64), dim=1)


# -- the map and its ranking ------------------------------------------------------------------------
def saliency(
    attribution: Attribution | torch.Tensor | str,
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: object = None,
    *,
    options: dict[str, Any] | None = None,
    reduce: str = "abs_sum",
    seed: int = 0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> tuple[torch.Tensor, object, str]:
    """The channel-reduced map (N, *feature shape) of ``attribution``, the target it explains, its name.

    ``"random"`` draws a uniform map per input from ``(seed, index)``; a method name is computed
    (with ``options``); an :class:`Attribution` gives its values and target (unless ``target`` is given).
    """
    feature_shape = _feature_shape(inputs)
    if isinstance(attribution, str) and attribution == "random":
        return random_maps(feature_shape, seed, len(inputs)).to(inputs.device), target, "random"
    if isinstance(attribution, str) or (callable(attribution) and not isinstance(attribution, torch.Tensor)):
        attribution = run_method(attribution, model, inputs, target, options=options, preprocess=preprocess,
                                 memory=memory)  # fmt: skip
    if isinstance(attribution, Attribution):
        name = attribution.method
        if target is None:
            target = attribution.target
        values = attribution.values.detach()
    elif isinstance(attribution, torch.Tensor):
        name, values = "map", attribution.detach()
    else:
        msg = (
            "attribution must be an Attribution, a tensor of maps, a registered method's name, 'random' or a "
            f"callable fn(model, inputs, target), not {type(attribution).__name__}"
        )
        raise TypeError(msg)
    if values.shape == inputs.shape or (values.dim() == inputs.dim() and channel_axis(values) is not None
                                        and values.shape[channel_axis(values)] == 1):  # fmt: skip
        values = reduce_channels(values, reduce)
    elif reduce in ("abs_sum", "l2"):  # a map given already reduced: rank its magnitude, as reduce says
        values = values.abs()
    if tuple(values.shape) != (len(inputs), *feature_shape):
        msg = (
            f"the map has shape {tuple(values.shape)}; inputs of shape {tuple(inputs.shape)} need a map of "
            f"their shape, or of the reduced shape {(len(inputs), *feature_shape)}"
        )
        raise ValueError(msg)
    return values.to(inputs.device), target, name


def random_maps(feature_shape: tuple[int, ...], seed: int, count: int) -> torch.Tensor:
    """``count`` uniform maps of ``feature_shape`` (float64, on the CPU), map i drawn from
    ``(seed, i)``: the "random" control's ranking of input i."""
    return torch.stack([torch.rand(feature_shape, generator=sample_generator(seed, i), dtype=torch.float64)
                        for i in range(count)])  # fmt: skip


def _feature_shape(inputs: torch.Tensor) -> tuple[int, ...]:
    """What a feature is: a pixel (all channels) of (N, C, H, W), a token of (N, T, E), a value of (N, L)."""
    return tuple(reduce_channels(inputs[:1], "sum").shape[1:])


def _expand(mask: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """A (B, *feature shape) mask broadcast over the channel axis of inputs shaped as ``inputs``."""
    axis = channel_axis(inputs)
    if axis is None:
        return mask
    return mask.unsqueeze(axis if axis >= 0 else mask.dim())


def ranks(saliency_map: torch.Tensor, *, most_first: bool, seed: int) -> torch.Tensor:
    """(N, F) long: each feature's place in the removal order (0 = removed first); ties in a seeded random order."""
    flat = saliency_map.reshape(len(saliency_map), -1).to(torch.float64)
    key = flat if most_first else -flat
    out = torch.empty(flat.shape, dtype=torch.long, device=flat.device)
    places = torch.arange(flat.shape[1], device=flat.device)
    for i in range(len(flat)):
        shuffle = torch.randperm(flat.shape[1], generator=sample_generator(seed, i)).to(flat.device)
        order = shuffle[torch.argsort(key[i, shuffle], descending=True, stable=True)]
        out[i, order] = places
    return out


def replacement(inputs: torch.Tensor, replace: object) -> torch.Tensor:
    """What a removed feature becomes: ``"black"`` 0, ``"mean"`` each input's per-channel mean,
    ``"blur"`` the input blurred (σ = 10 px), a number, or a tensor that broadcasts to the inputs."""
    if isinstance(replace, str):
        if replace == "black":
            return torch.zeros_like(inputs)
        if replace == "mean":
            axis = channel_axis(inputs)
            dims = tuple(d for d in range(1, inputs.dim()) if d != (axis % inputs.dim() if axis is not None else -1))
            return inputs.mean(dim=dims, keepdim=True).expand_as(inputs)
        if replace == "blur":
            return gaussian_blur(inputs, _BLUR_SIGMA)
        msg = f"replace={replace!r} is not one of {_REPLACE}, a number or a tensor"
        raise ValueError(msg)
    if isinstance(replace, (int, float)) and not isinstance(replace, bool):
        return torch.full_like(inputs, float(replace))
    if isinstance(replace, torch.Tensor):
        try:
            return replace.to(inputs).broadcast_to(inputs.shape)
        except RuntimeError:
            msg = (
                f"replace has shape {tuple(replace.shape)}, which does not broadcast to the inputs' "
                f"{tuple(inputs.shape)}"
            )
            raise ValueError(msg) from None
    msg = f"replace={replace!r} is not one of {_REPLACE}, a number or a tensor"
    raise TypeError(msg)


def _check_fractions(fractions: object) -> torch.Tensor:
    values = torch.as_tensor(fractions, dtype=torch.float64).reshape(-1)
    if values.numel() == 0 or bool(((values < 0) | (values > 1) | ~torch.isfinite(values)).any()):
        msg = f"fractions must be a non-empty sequence of numbers in [0, 1], got {fractions!r}"
        raise ValueError(msg)
    if bool((values[1:] < values[:-1]).any()):
        msg = f"fractions must be in increasing order (the curve's x axis), got {fractions!r}"
        raise ValueError(msg)
    return values


def removed_counts(fractions: torch.Tensor, features: int) -> torch.Tensor:
    """Features removed at each fraction: round(f · F), halves up."""
    return torch.tensor([min(features, math.floor(float(f) * features + 0.5)) for f in fractions])


# -- perturbation curves ----------------------------------------------------------------------------
def _curve(test, model, inputs, attribution, fractions, order, replace, target, *, insert, options, reduce,
           seed, preprocess, memory, progress) -> Curve:  # fmt: skip
    if order not in ("least", "most"):
        msg = f"order={order!r} is not 'least' or 'most'"
        raise ValueError(msg)
    seed = check_seed(seed)
    fractions_t = _check_fractions(fractions)
    explained = Explained(model, inputs, preprocess)
    x = explained.inputs
    sal, target, name = saliency(attribution, model, x, target, options=options, reduce=reduce, seed=seed,
                                 preprocess=preprocess, memory=memory)  # fmt: skip
    place = ranks(sal, most_first=order == "most", seed=seed + 1)
    fill = replacement(x, replace)
    counts = removed_counts(fractions_t, place.shape[1]).to(x.device)
    n, k = len(x), len(fractions_t)
    scores = torch.empty(n * k, dtype=x.dtype, device=x.device)
    probs = torch.empty(n * k, dtype=x.dtype, device=x.device)
    with ModelGuard(explained.module):
        at_x = first_pass(explained, x, target, memory=memory, backward=False)
        targets = at_x.target

        def build(start: int, stop: int) -> Points:
            rows = torch.arange(start, stop, device=x.device)
            i, j = rows // k, rows % k
            mask = _expand((place[i] < counts[j].unsqueeze(1)).reshape(len(rows), *sal.shape[1:]), x)
            z = torch.where(mask, x[i], fill[i]) if insert else torch.where(mask, fill[i], x[i])
            return Points(z, targets[i])

        def consume(chunk: Chunk) -> None:
            rows = slice(chunk.start, chunk.stop)
            scores[rows] = chunk.score
            out = chunk.output
            p = (
                torch.sigmoid(out[:, 0])
                if out.shape[1] == 1
                else out.softmax(dim=1).gather(1, chunk.target.view(-1, 1))[:, 0]
            )
            probs[rows] = p

        with Progress(progress, n * k, test) as bar:
            evaluate(explained, n * k, build, consume, grad=False, memory=memory, progress=bar.update)
    scores_nk, probs_nk = scores.view(n, k).cpu(), probs.view(n, k).cpu()
    initial = at_x.score.cpu()
    change = (scores_nk - initial.unsqueeze(1)).abs() / initial.abs().clamp_min(1e-12).unsqueeze(1)
    measure = "change" if test == "pixel_perturbation" else "probabilities"
    auc = _trapezoid(change if measure == "change" else probs_nk, fractions_t)
    params = {"order": order, "replace": replace if isinstance(replace, (str, int, float)) else "tensor",
              "reduce": reduce, "seed": seed}  # fmt: skip
    return Curve(fractions_t, scores_nk, probs_nk, change, auc, measure, initial, targets.cpu(), test, name, params)


def pixel_perturbation(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attribution: Attribution | torch.Tensor | str,
    fractions: Sequence[float] = FULLGRAD_FRACTIONS,
    order: str = "least",
    replace: str | float | torch.Tensor = "black",
    target: object = None,
    *,
    options: dict[str, Any] | None = None,
    reduce: str = "abs_sum",
    seed: int = 0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = True,
) -> Curve:
    """Remove the least (or most) salient pixels and measure the absolute fractional change of the output.

    For each fraction f the ⌊f·P + ½⌋ pixels (of P) ranked first are replaced, and
    ``change = |F(x̃) − F(x)| / |F(x)|``; ``auc`` is its trapezoid area over ``fractions``. With the
    defaults this is the FullGrad paper's test (Srinivas & Fleuret 2019, §5.1): the *least* salient
    0.1 %, 1 %, 3 %, 5 % and 10 % of the pixels become black; smaller is better, because a map that
    puts every pixel the output needs among the salient ones leaves the output unchanged.

    Parameters
    ----------
    model, inputs, target
        As for every method (inputs in pixel space, ``preprocess`` composed in); ``target=None`` is
        the Attribution's target, or the predicted class.
    attribution : Attribution, tensor, str or callable
        The map to judge: an Attribution (of these inputs), a tensor (the inputs' shape or the
        channel-reduced one), a registered method's name (computed with ``options``), ``"random"``.
    fractions : sequence of float in [0, 1], increasing
    order : {"least", "most"}
        Which end of the ranking goes first.
    replace : {"black", "blur", "mean"}, number or tensor
        What a removed pixel becomes (see :func:`replacement`).
    reduce : {"abs_sum", "sum", "l2"}
        How channels are reduced to one saliency per pixel before ranking.
    seed : int
        The random map's draw and the order of ties.
    memory, progress
        The memory budget of the forwards; a tqdm bar (True), nothing, or ``progress(done, total)``.

    Returns
    -------
    Curve
        ``measure="change"``.

    Examples
    --------
    >>> curve = pixel_perturbation(model, images, "fullgrad")                 # doctest: +SKIP
    >>> curve.fractions.tolist(), curve.change.shape                          # doctest: +SKIP
    ([0.001, 0.01, 0.03, 0.05, 0.1], torch.Size([4, 5]))
    """
    return _curve("pixel_perturbation", model, inputs, attribution, fractions, order, replace, target, insert=False,
                  options=options, reduce=reduce, seed=seed, preprocess=preprocess, memory=memory,
                  progress=progress)  # fmt: skip


def deletion(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attribution: Attribution | torch.Tensor | str,
    fractions: Sequence[float] = CURVE_FRACTIONS,
    replace: str | float | torch.Tensor = "black",
    target: object = None,
    *,
    options: dict[str, Any] | None = None,
    reduce: str = "abs_sum",
    seed: int = 0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = True,
) -> Curve:
    """Remove the most salient pixels first; the class probability should fall fast (RISE's deletion).

    ``auc`` is the trapezoid area under the probability over ``fractions`` (0, 0.05, …, 1 by
    default): lower is better. ``scores`` holds the logits and ``area("scores")`` their area.
    Parameters as :func:`pixel_perturbation`; removed pixels become black by default.
    """
    return _curve("deletion", model, inputs, attribution, fractions, "most", replace, target, insert=False,
                  options=options, reduce=reduce, seed=seed, preprocess=preprocess, memory=memory,
                  progress=progress)  # fmt: skip


def insertion(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    attribution: Attribution | torch.Tensor | str,
    fractions: Sequence[float] = CURVE_FRACTIONS,
    replace: str | float | torch.Tensor = "blur",
    target: object = None,
    *,
    options: dict[str, Any] | None = None,
    reduce: str = "abs_sum",
    seed: int = 0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = True,
) -> Curve:
    """Start from the inputs with every pixel replaced (blurred by default) and put back the most salient first.

    The class probability should rise fast: ``auc`` (area under the probability) is higher for a
    better map (RISE's insertion). Parameters as :func:`pixel_perturbation`.
    """
    return _curve("insertion", model, inputs, attribution, fractions, "most", replace, target, insert=True,
                  options=options, reduce=reduce, seed=seed, preprocess=preprocess, memory=memory,
                  progress=progress)  # fmt: skip


# -- remove and retrain -----------------------------------------------------------------------------
def _seeded_rng(seed: int):
    """The global RNG seeded with ``seed`` inside the block and restored after it (no side effect)."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    context = torch.random.fork_rng(devices=devices)
    context.__enter__()
    torch.manual_seed(seed)
    return context


def fit_classifier(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = 0,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 3e-3,
) -> nn.Module:
    """Train ``model`` with Adam on cross-entropy (shuffled with ``seed``); returns it in eval mode.

    The default trainer of :func:`roar`; the global RNG is seeded inside and restored afterwards.
    """
    context = _seeded_rng(seed)
    try:
        train_epochs(model, images, labels, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    finally:
        context.__exit__(None, None, None)
    return model.eval()


def train_epochs(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epochs: int, batch_size: int, lr: float, seed: int
) -> None:
    """Adam on cross-entropy over ``epochs`` passes, shuffled by a generator seeded with ``seed``.

    The one training loop of the project (ROAR's retraining, the demo's digits CNN); the caller
    seeds the initialisation and the global RNG as it needs.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=shuffle).to(images.device)
        for batch in order.split(batch_size):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()


_FIT_DEFAULTS = {name: p.default for name, p in inspect.signature(fit_classifier).parameters.items()
                 if name in ("epochs", "batch_size", "lr")}  # fmt: skip


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 512) -> float:
    with torch.no_grad():
        right = sum(int((model(images[i : i + batch]).argmax(1) == labels[i : i + batch]).sum())
                    for i in range(0, len(labels), batch))  # fmt: skip
    return right / len(labels)


def _tensors(data: object, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) from a tuple of two tensors or a Dataset / DataLoader of (image, label) items."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return data[0], data[1]
    from attrwidgets.datasets import _source, split_batch

    source = _source(data, None)
    parts = [split_batch(source.load(b)) for b in range(source.batches)]
    if any(labels is None for _, labels in parts):
        msg = f"{name} must give (image, label) pairs: ROAR retrains a classifier on them"
        raise ValueError(msg)
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


@dataclass(frozen=True)
class RoarResult:
    """Test accuracy after removing each map's most salient fraction of pixels and retraining.

    Attributes
    ----------
    fractions : (F,) tuple of float
        Fractions removed, in each training and test image.
    accuracy : dict of str to (S, F) numpy array
        Per method (and ``"random"``, the control): one row per seed.
    base_accuracy : float
        The model trained on the intact data (whose maps were used), on the intact test set.
    seeds : tuple of int
    seconds : float
        Wall time of the whole run.
    """

    fractions: tuple[float, ...]
    accuracy: dict[str, np.ndarray]
    base_accuracy: float
    seeds: tuple[int, ...]
    seconds: float = 0.0

    def mean(self) -> dict[str, np.ndarray]:
        """(F,) mean accuracy over seeds, per method: lower means the map found what the model needs."""
        return {name: acc.mean(axis=0) for name, acc in self.accuracy.items()}

    def table(self) -> str:
        """A Markdown table: methods by fractions (mean ± std over seeds)."""
        head = "| method | " + " | ".join(f"{f:.0%}" for f in self.fractions) + " |"
        rule = "|---|" + "---|" * len(self.fractions)
        rows = [head, rule]
        for name, acc in self.accuracy.items():
            cells = [f"{m:.3f} ± {s:.3f}" if len(acc) > 1 else f"{m:.3f}"
                     for m, s in zip(acc.mean(axis=0), acc.std(axis=0), strict=False)]  # fmt: skip
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(rows)


def roar(
    make_model: Callable[[], nn.Module],
    train: object,
    test: object,
    methods: Sequence[str] | Mapping[str, Any],
    fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    replace: str | float = "mean",
    seeds: Sequence[int] = (0, 1, 2),
    *,
    fit: Callable[..., nn.Module] | None = None,
    fit_options: Mapping[str, Any] | None = None,
    control: bool = True,
    target: object = "label",
    reduce: str = "abs_sum",
    store: str | None = None,
    batch_size: int = 256,
    memory: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = True,
) -> RoarResult:
    """RemOve And Retrain (Hooker et al. 2019): does removing what a map calls important hurt a retrained model?

    1. Train ``make_model()`` on ``train`` (seed ``seeds[0]``) and attribute every training and
       test image with each method through :func:`attrwidgets.attribute_dataset`.
    2. For each method and fraction t: in every image replace the t most salient pixels (all
       channels) with the training set's per-channel mean (``replace="mean"``, as Hooker et al.),
       retrain a fresh ``make_model()`` from scratch on the modified training set once per seed, and
       measure its accuracy on the modified test set.

    A better map removes more of what the label depends on, so the accuracy falls faster; the
    ``"random"`` control ranks pixels at random (Hooker et al. found that only SmoothGrad² and VarGrad
    beat it; the FullGrad paper found FullGrad best).

    Parameters
    ----------
    make_model : callable
        ``make_model()`` returns a fresh, untrained classifier (called with the global RNG seeded,
        and restored afterwards).
    train, test : (images, labels) tensors, or Datasets / DataLoaders of (image, label) pairs
    methods : sequence of names, or dict of label to name, (name, options) or callable
        The maps to compare; a callable is ``fn(model, inputs, target)`` returning an Attribution
        or a tensor (e.g. a known ground-truth map).
    fractions, seeds
        Fractions removed; one retraining per seed (Hooker et al. use 5).
    replace : "mean", "black" or a number
    fit : callable, optional
        ``fit(model, images, labels, seed=...) -> model``, called once per model. Default
        :func:`fit_classifier` with ``fit_options``, which trains the retrained models of one
        method (every fraction and seed) four at a time as one stacked network
        (``attrwidgets._ensemble``: grouped convolutions, batched matrix products, one Adam),
        each with its own initialisation, shuffle order and modified training set. The stacked
        models equal those trained one by one up to float rounding, which training can grow to a
        test image or two of accuracy. A model the stacked network cannot reproduce exactly
        (buffers such as BatchNorm's, dropout, hooks, a layer other than ``Conv2d``, ``Linear``,
        2-d pooling, ``Flatten`` or an element-wise activation, a ``forward`` of its own) is
        trained one by one with :func:`fit_classifier`, with the same results; so is every model
        when ``fit`` is given.
    fit_options : dict, optional
        Keywords of :func:`fit_classifier` (``epochs``, ``batch_size``, ``lr``) for the default
        trainer, e.g. ``{"epochs": 8, "batch_size": 32}``; not allowed with ``fit``.
    control : bool
        Add the random control (default True).
    target : "label", None or int
        What the maps explain: each image's label (default) or the base model's prediction.
    store : path, optional
        A folder for the maps' Zarr stores (one per method), kept and resumed; default a
        temporary folder.
    batch_size, memory, progress
        For :func:`attribute_dataset` and the retraining loop's progress.
    """
    import tempfile
    import time

    from attrwidgets.datasets import attribute_dataset

    start_time = time.perf_counter()
    if fit is not None and fit_options:
        msg = "fit_options are fit_classifier's keywords: with fit=..., give the options to your fit instead"
        raise ValueError(msg)
    options = dict(fit_options or {})
    unknown = sorted(set(options) - set(_FIT_DEFAULTS))
    if unknown:
        msg = f"fit_options {unknown} are not fit_classifier's; it takes epochs, batch_size and lr"
        raise TypeError(msg)
    fit_one = fit or functools.partial(fit_classifier, **options)
    train_x, train_y = _tensors(train, "train")
    test_x, test_y = _tensors(test, "test")
    fractions_t = _check_fractions(fractions)
    seeds = tuple(check_seed(s) for s in seeds)
    if not seeds:
        msg = "seeds must hold at least one seed"
        raise ValueError(msg)
    specs = _roar_methods(methods)
    if control:
        specs["random"] = ("random", None)
    fill_train = _roar_fill(train_x, train_x, replace)
    fill_test = _roar_fill(test_x, train_x, replace)

    def fresh(seed: int) -> nn.Module:
        context = _seeded_rng(seed)
        try:
            return make_model()
        finally:
            context.__exit__(None, None, None)

    base = fit_one(fresh(seeds[0]), train_x, train_y, seed=seeds[0])
    base_accuracy = _accuracy(base, test_x, test_y)
    everything = torch.cat([train_x, test_x])
    labels = torch.cat([train_y, test_y])
    accuracy: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = store or scratch
        maps: dict[str, torch.Tensor] = {}
        for label, (method, options_m) in specs.items():
            if method == "random":
                maps[label], _, _ = saliency("random", base, everything, seed=seeds[0])
                continue
            dataset = torch.utils.data.TensorDataset(everything, labels)
            path = f"{folder}/{_safe(label)}.zarr"
            out = attribute_dataset(method, base, dataset, path, target=target, options=options_m,
                                    batch_size=batch_size, memory=memory, progress=progress)  # fmt: skip
            values = torch.from_numpy(out["values"][:]).to(everything.device, everything.dtype)
            maps[label], _, _ = saliency(values, base, everything, reduce=reduce)
        total = len(specs) * len(fractions_t) * len(seeds)
        done = 0
        with Progress(progress, total, "roar: retraining") as bar:
            for label, sal in maps.items():
                place = ranks(sal, most_first=True, seed=seeds[0] + 1)
                counts = removed_counts(fractions_t, place.shape[1]).to(place.device)
                train_place, test_place = place[: len(train_x)], place[len(train_x) :]
                removed = [_Removed(train_x, fill_train, train_place, int(c), sal.shape[1:]) for c in counts]
                jobs = [(j, s) for j in range(len(counts)) for s in range(len(seeds))]
                acc = np.zeros((len(seeds), len(fractions_t)))
                for first in range(0, len(jobs), _STACK):
                    group = jobs[first : first + _STACK]
                    models = _retrain(fresh, fit, fit_one, options, [removed[j] for j, _ in group], train_y,
                                      [seeds[s] for _, s in group])  # fmt: skip
                    for (j, s), model in zip(group, models, strict=True):
                        acc[s, j] = _accuracy(model, _Removed(test_x, fill_test, test_place, int(counts[j]),
                                                              sal.shape[1:]).tensor(), test_y)  # fmt: skip
                    done += len(group)
                    bar.update(done)
                accuracy[label] = acc
    return RoarResult(tuple(float(f) for f in fractions_t), accuracy, base_accuracy, seeds,
                      time.perf_counter() - start_time)  # fmt: skip


#: Retrained ROAR models trained at once as one stacked network. On the DigitsCNN (one thread,
#: a busy 2-core box) stacks of 2 to 4 were the cheapest per model, 8 and 15 a little dearer.
_STACK = 4


class _Removed:
    """A training or test set with each image's ``count`` top-ranked features replaced, built per batch.

    ``removed[batch]`` gives the modified images of ``batch`` (what ``torch.where(mask, fill, x)``
    over the whole set would hold there), so a stack of models on five fractions holds no
    modified copies of the data; :meth:`tensor` builds the whole set.
    """

    def __init__(self, x: torch.Tensor, fill: torch.Tensor, place: torch.Tensor, count: int,
                 feature_shape: tuple[int, ...]) -> None:  # fmt: skip
        self.x, self.fill, self.place, self.count, self.feature_shape = x, fill, place, count, tuple(feature_shape)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, rows: torch.Tensor) -> torch.Tensor:
        x = self.x[rows]
        mask = _expand((self.place[rows] < self.count).reshape(len(x), *self.feature_shape), x)
        return torch.where(mask, self.fill[rows], x)

    def tensor(self) -> torch.Tensor:
        return self[torch.arange(len(self.x), device=self.x.device)]


def _retrain(fresh, fit, fit_one, options, images, labels, seeds) -> list[nn.Module]:
    """Fresh models trained on ``images[k]`` with ``seeds[k]``: stacked when possible, else one by one."""
    models = [fresh(seed) for seed in seeds]
    if fit is None:
        from attrwidgets._ensemble import fit_stacked

        trained = fit_stacked(models, images, labels, seeds, **{**_FIT_DEFAULTS, **options})
        if trained is not None:
            return trained
    # one by one; fit_stacked leaves the models it refuses untouched
    return [fit_one(model, data.tensor(), labels, seed=seed)
            for model, data, seed in zip(models, images, seeds, strict=True)]  # fmt: skip


def _roar_methods(methods: object) -> dict[str, tuple[Any, dict | None]]:
    if isinstance(methods, str):
        methods = [methods]
    items = list(methods.items()) if isinstance(methods, dict) else [(method_name(m), m) for m in methods]
    specs: dict[str, tuple[Any, dict | None]] = {}
    for label, spec in items:
        if isinstance(spec, tuple):
            method, options = spec
        else:
            method, options = spec, None
        specs[str(label)] = (method, options)
    if not specs:
        msg = "methods is empty: give at least one method to compare with the random control"
        raise ValueError(msg)
    return specs


def _roar_fill(x: torch.Tensor, train_x: torch.Tensor, replace: object) -> torch.Tensor:
    """ROAR's replacement: the training set's per-channel mean (``"mean"``), black, or a number."""
    if replace == "mean":
        axis = channel_axis(train_x)
        dims = tuple(d for d in range(train_x.dim()) if axis is None or d != axis % train_x.dim())
        return train_x.mean(dim=dims, keepdim=True).expand_as(x)
    if replace == "black" or (isinstance(replace, (int, float)) and not isinstance(replace, bool)):
        return replacement(x, replace)
    msg = f"roar: replace={replace!r} must be 'mean' (Hooker et al.), 'black' or a number"
    raise ValueError(msg)


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


# -- sanity checks ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SanityCheck:
    """How much a map changes as the model's layers are randomised, top layer first (Adebayo et al. 2018).

    Attributes
    ----------
    layers : tuple of str
        The randomised modules' names, from the output down. With ``cascade=True`` entry j has
        layers 0..j randomised, else layer j alone.
    spearman : (N, L) float64 tensor
        Spearman rank correlation between the original map and the map after step j, signed maps
        (channels summed).
    spearman_abs : (N, L) float64 tensor
        The same for the magnitudes (|Σ_c v_c|). A map that passes the check falls towards 0; one
        that stays near 1 does not depend on what the model learnt.
    heatmaps : (L + 1, N, *feature shape) tensor
        The signed, channel-summed maps: the original first, then after each step.
    method : str
    target : (N,) long tensor
        Held fixed: the original model's target.
    cascade : bool
    """

    layers: tuple[str, ...]
    spearman: torch.Tensor
    spearman_abs: torch.Tensor
    heatmaps: torch.Tensor
    method: str
    target: torch.Tensor
    cascade: bool

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{name}: {float(r):.3f}" for name, r in zip(self.layers, self.spearman_abs.mean(0), strict=False)
        )
        return f"SanityCheck(method={self.method!r}, mean |map| Spearman by layer: {rows})"


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) Spearman rank correlation of each row pair (average ranks for ties; NaN for a constant row)."""
    ra, rb = _average_ranks(a.reshape(len(a), -1)), _average_ranks(b.reshape(len(b), -1))
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    denominator = (ra.pow(2).sum(1) * rb.pow(2).sum(1)).sqrt()
    out = (ra * rb).sum(1) / denominator
    return torch.where(denominator > 0, out, torch.full_like(out, float("nan")))


def _average_ranks(rows: torch.Tensor) -> torch.Tensor:
    out = torch.empty(rows.shape, dtype=torch.float64)
    for i, row in enumerate(rows.detach().cpu().to(torch.float64)):
        values, order = torch.sort(row)
        _, inverse, counts = torch.unique_consecutive(values, return_inverse=True, return_counts=True)
        ends = torch.cumsum(counts, 0).to(torch.float64)
        average = ends - (counts.to(torch.float64) + 1) / 2
        out[i, order] = average[inverse]
    return out


def _layers_top_down(model: nn.Module, x: torch.Tensor, preprocess) -> list[tuple[str, nn.Module]]:
    """The modules holding parameters of their own, in the order a forward reaches them, reversed."""
    names = {module: name for name, module in model.named_modules()}
    holders = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    seen: list[nn.Module] = []
    with ModelGuard(model) as guard, torch.no_grad():
        for module in holders:
            guard.forward_hook(module, lambda m, i, o: seen.append(m) if m not in seen else None)
        model(x[:1] if preprocess is None else preprocess(x[:1]))
    order = seen + [m for m in holders if m not in seen]  # modules the forward never reached go last
    return [(names[m] or type(m).__name__, m) for m in reversed(order)]


def _randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters as at construction (``reset_parameters``), seeded."""
    context = _seeded_rng(seed)
    try:
        with torch.no_grad():
            if hasattr(module, "reset_parameters"):
                twin = copy.deepcopy(module).cpu()  # drawn on the CPU: the same numbers on any device
                twin.reset_parameters()
                for mine, new in zip(module.parameters(recurse=False), twin.parameters(recurse=False), strict=False):
                    mine.copy_(new.to(mine))
            else:
                for param in module.parameters(recurse=False):
                    scale = float(param.std()) if param.numel() > 1 else 1.0
                    param.copy_(torch.randn(param.shape, dtype=torch.float64).mul(scale or 1.0).to(param))
    finally:
        context.__exit__(None, None, None)


def sanity_check(
    model: nn.Module,
    inputs: torch.Tensor,
    method: str | Callable[..., Any],
    target: object = None,
    *,
    options: dict[str, Any] | None = None,
    layers: Sequence[str] | None = None,
    cascade: bool = True,
    seed: int = 0,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = True,
) -> SanityCheck:
    """Model-parameter randomisation test: randomise layers from the top down and compare the maps.

    The model is copied (the user's is never changed); the copy's layers with parameters are
    re-initialised one by one from the output down (cumulatively with ``cascade=True``, as
    Adebayo et al.'s cascading randomisation; else one at a time), the map is recomputed for the
    original target after each step, and Spearman's rank correlation with the original map is
    recorded, with and without absolute values.

    Parameters
    ----------
    method : str or callable
        A registered method (with ``options``) or ``fn(model, inputs, target, **options)``.
    layers : sequence of str, optional
        Module names (as ``model.named_modules()`` gives them) to randomise, in this order;
        default every module with parameters of its own, from the output down.
    seed : int
        Seeds each layer's re-initialisation.

    Examples
    --------
    >>> check = sanity_check(model, images, "gradient")                   # doctest: +SKIP
    >>> check.layers[:2], check.spearman_abs.mean(0)[:2]                  # doctest: +SKIP
    (('fc2', 'fc1'), tensor([0.12, 0.05]))
    """
    if not isinstance(model, nn.Module):
        msg = f"sanity_check randomises a model's layers: give an nn.Module, not {type(model).__name__}"
        raise TypeError(msg)
    seed = check_seed(seed)
    first = run_method(method, model, inputs, target, options=options, preprocess=preprocess, memory=memory)
    target_fixed = first.target
    copy_model = copy.deepcopy(model)
    order = _layers_top_down(copy_model, inputs, preprocess)
    if layers is not None:
        named = dict(copy_model.named_modules())
        missing = [name for name in layers if name not in named]
        if missing:
            msg = f"layers {missing} are not modules of the model; its modules: {[n for n in named if n]}"
            raise ValueError(msg)
        order = [(name, named[name]) for name in layers]
    heat0 = reduce_channels(first.values.detach(), "sum")
    maps = [heat0.cpu()]
    rho, rho_abs = [], []
    pristine = copy.deepcopy(copy_model)
    with Progress(progress, len(order), f"sanity check of {first.method}") as bar:
        for step, (_, module) in enumerate(order):
            if not cascade:  # one layer at a time: start again from the trained weights
                copy_model.load_state_dict(pristine.state_dict())
            _randomise(module, sample_generator(seed, step).initial_seed())
            attr = run_method(method, copy_model, inputs, target_fixed, options=options, preprocess=preprocess,
                              memory=memory)  # fmt: skip
            heat = reduce_channels(attr.values.detach(), "sum")
            maps.append(heat.cpu())
            rho.append(spearman(heat0, heat))
            rho_abs.append(spearman(heat0.abs(), heat.abs()))
            bar.update(step + 1)
    names = tuple(name for name, _ in order)
    empty = torch.empty(len(inputs), 0, dtype=torch.float64)
    return SanityCheck(names, torch.stack(rho, 1) if rho else empty, torch.stack(rho_abs, 1) if rho_abs else empty,
                       torch.stack(maps), first.method, target_fixed.cpu(), cascade)  # fmt: skip
