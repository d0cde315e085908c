"""FullGrad: the input-gradient term and every bias-gradient term, which add up to the score."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from attrwidgets._warn import warn
from attrwidgets.attribution import Attribution
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import Chunk, Points, Targets, evaluate
from attrwidgets.model import Explained, grad_enabled
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["fullgrad"]

POSTS = ("abs", "relu")
_NORMS = (nn.GroupNorm, nn.LayerNorm)
_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


@register(
    controls=(Control("post", "choice", "abs", choices=POSTS, doc="ψ applied to every term before it is normalised"),),
    paper=(
        "Srinivas & Fleuret, Full-Gradient Representation for Neural Network Visualization, "
        "NeurIPS 2019 (arXiv:1905.00780)"
    ),
    axioms=("completeness",),
    produces=("score", "parts"),
)
@shared_docs
def fullgrad(
    model: nn.Module,
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    post: str = "abs",
    memory: int | str | None = None,
) -> Attribution:
    r"""FullGrad: the score split into an input-gradient term and one bias-gradient term per layer.

    For a network built from piecewise-linear pieces (ReLU, max-pool, convolution, linear layers,
    BatchNorm in eval mode), the score is exactly

    .. math:: F(x) = \nabla_x F(x)^\top x + \sum_{l} \nabla_{b_l} F(x)^\top b_l ,

    summed over every bias :math:`b_l` of the network. The bias-gradient of a layer, spread over the
    positions of the layer's output :math:`y_l`, is :math:`\partial F / \partial y_l \odot b_l`
    (the bias broadcast over the output); its sum is :math:`\nabla_{b_l} F^\top b_l`. The
    saliency map is

    .. math:: S(x) = \psi(\nabla_x F \odot x) + \sum_{l} \psi\big(\mathrm{up}(\partial F / \partial y_l \odot b_l)\big),

    with :math:`\psi` = ``post`` (absolute value), a sum over channels, bilinear upsampling to
    the input size and min-max normalisation to [0, 1] per input and per term.

    Biases counted: ``nn.Conv*d`` / ``nn.ConvTranspose*d`` and ``nn.Linear`` biases; the implicit
    bias of BatchNorm in eval mode, :math:`\beta - \mu_{run}\,\gamma / \sqrt{\sigma^2_{run} + \epsilon}`
    (also for ``affine=False``); the offsets of ``nn.ReLU6`` / ``nn.Hardtanh`` units where they
    saturate (the constant 6 of a ReLU6 at or above 6: a linear piece with an offset, so without
    it the parts of a ReLU6 network such as EfficientNet-Lite0 miss the score by up to 3×);
    the ``bias`` of ``nn.GroupNorm`` and ``nn.LayerNorm``
    (these normalise with statistics of their input, so they are not piecewise linear); and the
    offset of ``preprocess`` (see ``parts["preprocess"]`` below). Biases of other modules (custom
    layers, attention projections) are not seen, and the sum then falls short of the score.

    One forward and one backward: forward hooks record every bias layer's output and a single
    ``torch.autograd.grad`` takes the gradient with respect to the inputs and all of them.

    Parameters
    ----------
    model : nn.Module
        Maps (preprocessed) inputs to (N, classes) scores; the raw output (a logit) is explained.
        It must be the module itself (not a lambda around it): its layers are looked up for biases.
    inputs : (N, C, H, W) float tensor
        Inputs in pixel space, on the model's device. (N, C, L) and (N, C, D, H, W) work the same
        way with (tri)linear upsampling; for (N, F) vectors ``values`` holds the input term only.
    target : None, int, list of int or tensor
        The output index to explain; None is the predicted class.
    preprocess : callable, optional
        Applied to the inputs before the model, inside the differentiated function (e.g.
        normalisation). Its offset is a bias too: with :math:`z = p(x)`, the term
        :math:`\partial F / \partial z \odot (p(x) - J_p(x)\,x)` goes in ``parts["preprocess"]``
        (for :math:`p(x) = (x - \mu)/\sigma` the offset is :math:`-\mu/\sigma`), so that the input
        term stays :math:`\nabla_x F \odot x` in pixel space and the parts still add up to
        :math:`F(x)`. :math:`J_p(x)\,x` is computed by double backward through the preprocess alone.
    post : {"abs", "relu"}
        :math:`\psi`, applied to every term before the channel sum: "abs" (the paper's choice)
        keeps magnitude, "relu" keeps only the positive evidence.
    {forward_kwargs}
    {memory}
        The parts themselves (one map per bias layer per input, as large as the layer's output)
        are the result and are not counted.

    Returns
    -------
    Attribution
        ``values`` (N, 1, H, W): the saliency map, in [0, K] for K terms with a spatial layout
        (each normalised term lies in [0, 1]); ``score`` F(x); ``parts``: ``"input"``
        (:math:`\nabla_x F \odot x`, shape of the inputs), ``"preprocess"`` (shape of
        ``preprocess(inputs)``, only when a preprocess is given) and, per bias layer, its
        qualified module name → :math:`\partial F / \partial y_l \odot b_l`, shape of the
        layer's output ((N, C_l, h_l, w_l) or (N, features)); a module called more than once gets
        ``name``, ``name@1``, ``name@2``... in call order. All parts are raw (signed, not
        normalised) and ``sum(p.flatten(1).sum(1) for p in parts.values())`` is the score.

    Notes
    -----
    *Completeness* holds exactly when the network is piecewise linear: ReLU, LeakyReLU, ReLU6
    and hardtanh modules (their saturated offsets are counted), max-pool, average pool,
    convolutions, linear layers, BatchNorm in eval mode. Through smooth nonlinearities
    (SiLU/Swish, GELU, sigmoid, tanh), hard-swish, and clamps written as functions inside a
    ``forward`` (``F.relu6``, ``torch.clamp``: no module to hook), the terms decompose the local
    linearisation :math:`\nabla F(x)^\top x + \ldots` instead, and their sum differs from F(x):
    on a small random SiLU CNN the gap is about 6 % of the score (see
    ``tests/methods/test_fullgrad.py``).

    *Channel reduction and normalisation.* Each term is passed through ψ, summed over its
    channels (the absolute values add, so channels do not cancel), upsampled (bilinear,
    ``align_corners=False``) to the input size and min-max normalised per input, so every term
    weighs the same whatever its number of channels; a constant term normalises to zeros (no
    division by zero). The authors' code normalises each term over (C, h, w) *before* the
    channel sum, which lets a 512-channel layer count up to 512 times more than the 3-channel
    input term; we normalise after the sum. Terms without a spatial layout (Linear layers after a
    flatten) stay in ``parts`` but are left out of ``values``, as in the authors' code.

    *Preprocess.* pytorch-grad-cam's ``FullGrad`` (and the authors' code) see the normalised
    input z, whose input term :math:`\nabla_z F \odot z` is our ``"input"`` plus ``"preprocess"``
    terms together. Captum has no FullGrad.

    References
    ----------
    Srinivas & Fleuret, "Full-Gradient Representation for Neural Network Visualization",
    NeurIPS 2019, arXiv:1905.00780.

    Examples
    --------
    >>> attr = fullgrad(model, images)                                   # doctest: +SKIP
    >>> attr.values.shape, sorted(attr.parts)[:3]                        # doctest: +SKIP
    (torch.Size([1, 1, 28, 28]), ['0', '3', '7'])
    >>> sum(p.flatten(1).sum(1) for p in attr.parts.values()) - attr.score  # doctest: +SKIP
    tensor([1.9073e-06])
    """
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    if not isinstance(model, nn.Module):
        msg = (
            f"fullgrad needs the nn.Module itself to find its biases, not a {type(model).__name__}: "
            "pass the module, and give an input transform as preprocess="
        )
        raise TypeError(msg)
    if post not in POSTS:
        msg = f"post={post!r} is not one of {POSTS}: 'abs' is the paper's ψ"
        raise ValueError(msg)
    x = explained.inputs
    with ModelGuard(model, hooks=True) as guard:
        layers = _bias_layers(model)
        guard.store["outputs"] = []
        for name, module in layers:
            guard.forward_hook(module, _recorder(guard.store["outputs"], name))
        target_t, score, parts = _decompose(explained, target, guard.store["outputs"], memory)
    values = _saliency(parts, x, post)
    return Attribution(
        values=values, target=target_t, method="fullgrad", params={"post": post}, score=score, parts=parts
    )


def _bias_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every module that adds a bias to its output."""
    layers = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.running_mean is None or module.running_var is None:
                warn(
                    f"BatchNorm {name or type(module).__name__!r} has no running statistics "
                    "(track_running_stats=False), so even in eval mode it normalises with the batch's "
                    "statistics: its offset depends on the batch and is left out; the FullGrad parts "
                    "will not add up to the score"
                )
                continue
            layers.append((name, module))
        elif (isinstance(module, (nn.modules.conv._ConvNd, nn.Linear, *_NORMS)) and module.bias is not None) or (
            isinstance(module, nn.Hardtanh)  # ReLU6 too: a saturated unit is a constant, an offset
        ):
            layers.append((name, module))
    return layers


def _bias(module: nn.Module, output: torch.Tensor) -> torch.Tensor:
    """The bias the module adds to ``output``, shaped to broadcast against it.

    A hardtanh (ReLU6: between 0 and 6) is linear with no offset inside its range and the constant
    ``max_val`` (``min_val``) where it saturates: its offset is that constant at each saturated
    position. Torch's gradient there is 0 (also at the bounds themselves), so value and gradient
    agree and the terms still add up to F(x).
    """
    if isinstance(module, nn.Hardtanh):
        out = output.detach()
        high, low = float(module.max_val), float(module.min_val)
        return torch.where(out >= high, high, torch.where(out <= low, low, 0.0)).to(out.dtype)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        scale = torch.rsqrt(module.running_var + module.eps)
        if module.weight is not None:
            scale = scale * module.weight
        bias = -module.running_mean * scale
        if module.bias is not None:
            bias = bias + module.bias
    else:
        bias = module.bias
    bias = bias.detach().to(output.dtype)
    if isinstance(module, (nn.Linear, nn.LayerNorm)):
        return bias  # along the trailing axes
    return bias.view((1, -1) + (1,) * (output.dim() - 2))  # along the channel axis


def _recorder(outputs: list[tuple[str, nn.Module, torch.Tensor]], name: str) -> Callable[..., Any]:
    """A forward hook that keeps the module's output and hands a copy on to the rest of the model.

    The copy keeps the recorded tensor out of reach of in-place operations downstream (a
    ``ReLU(inplace=True)`` after a convolution would otherwise overwrite it and its gradient
    would be taken after the ReLU).
    """

    def hook(module: nn.Module, args: object, output: object) -> object:
        if not isinstance(output, torch.Tensor) or not output.is_floating_point():
            return None
        if not output.requires_grad:  # a layer that does not depend on the inputs: a constant
            output = output.detach().requires_grad_(True)
        outputs.append((name, module, output))
        return output.clone()

    return hook


def _decompose(
    explained: Explained,
    target: object,
    outputs: list[tuple[str, nn.Module, torch.Tensor]],
    memory: int | str | None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One forward and one backward per chunk: the target, the score and the raw FullGrad terms."""
    x = explained.inputs
    n = len(x)
    preprocess = explained.preprocess
    preprocessed: list[torch.Tensor] = []  # z = p(x) of the chunk: its gradient gives the preprocess term
    if preprocess is not None:

        def recording(z: torch.Tensor) -> torch.Tensor:
            out = preprocess(z)
            preprocessed.append(out)
            return out

        explained.preprocess = recording
    targets = Targets(target, n)
    chunks: list[dict[str, torch.Tensor]] = []
    score = torch.empty(n, dtype=x.dtype, device=x.device)
    target_t = torch.empty(n, dtype=torch.long, device=x.device)

    def build(start: int, stop: int) -> Points:
        outputs.clear()  # a retried chunk starts afresh
        preprocessed.clear()
        rows = torch.arange(start, stop, device=x.device)
        return Points(x[start:stop], targets.rows(start, stop), slice(start, stop), rows=rows)

    def terms(score_rows: torch.Tensor, z: torch.Tensor, rows: slice) -> dict[str, torch.Tensor]:
        if score_rows.grad_fn is None:
            msg = (
                "the model's output does not depend on its input through autograd (no grad_fn): "
                "check for .detach(), .numpy() or torch.no_grad() inside the model's forward"
            )
            raise RuntimeError(msg)
        wrt = [z, *preprocessed[:1], *(out for _, _, out in outputs)]
        grads = torch.autograd.grad(score_rows.sum(), wrt, allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(wrt, grads, strict=True)]
        parts = {"input": (grads[0] * x[rows]).detach()}
        if preprocess is not None:
            parts["preprocess"] = (grads[1] * _offset(preprocess, x[rows])).detach()
        seen: dict[str, int] = {}
        for (name, module, out), grad in zip(outputs, grads[len(wrt) - len(outputs) :], strict=True):
            calls = seen.get(name, 0)
            seen[name] = calls + 1
            key = name if calls == 0 else f"{name}@{calls}"
            parts[key] = (grad * _bias(module, out)).detach()
        outputs.clear()
        preprocessed.clear()
        return parts

    def consume(chunk: Chunk) -> None:
        score[chunk.start : chunk.stop] = chunk.score
        target_t[chunk.start : chunk.stop] = chunk.target
        chunks.append(chunk.grad)

    try:
        evaluate(explained, n, build, consume, grad=terms, memory=memory)
    finally:
        explained.preprocess = preprocess
    parts = {key: torch.cat([c[key] for c in chunks]).contiguous() for key in chunks[0]}
    return target_t, score, parts


def _offset(preprocess: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The offset of the preprocess's linearisation at x, p(x) − J_p(x) x (−μ/σ for a normalisation).

    J_p x is the gradient with respect to u of the vector-Jacobian product uᵀJ_p, dotted with x
    (the double-backward trick, on a graph of the preprocess alone).
    """
    with grad_enabled():
        z = x.detach().requires_grad_(True)
        value = preprocess(z)
        u = torch.zeros_like(value, requires_grad=True)
        (vjp,) = torch.autograd.grad(value, z, grad_outputs=u, create_graph=True)
        (linear,) = torch.autograd.grad(vjp, u, grad_outputs=x, allow_unused=True)
    if linear is None:  # J_p(x) = 0
        return value.detach()
    return (value - linear).detach()


def _saliency(parts: dict[str, torch.Tensor], x: torch.Tensor, post: str) -> torch.Tensor:
    """ψ, channel sum, upsampling and per-input min-max of every term with a spatial layout, summed."""
    spatial = x.shape[2:]
    if x.dim() == 2:  # (N, F) vectors: no spatial layout to map the bias terms onto
        return _normalise(_psi(parts["input"], post))
    mode = _INTERPOLATION.get(len(spatial))
    if mode is None:
        msg = (
            f"fullgrad maps terms onto inputs of shape (N, C, *spatial) with 1 to 3 spatial axes, got {tuple(x.shape)}"
        )
        raise ValueError(msg)
    total = torch.zeros((x.shape[0], 1, *spatial), dtype=x.dtype, device=x.device)
    for term in parts.values():
        if term.dim() != x.dim():
            continue
        reduced = _psi(term, post).sum(dim=1, keepdim=True).to(x.dtype)
        if reduced.shape[2:] != spatial:
            reduced = F.interpolate(reduced, size=spatial, mode=mode, align_corners=False)
        total += _normalise(reduced)
    return total


def _psi(term: torch.Tensor, post: str) -> torch.Tensor:
    return term.abs() if post == "abs" else term.clamp_min(0)


def _normalise(maps: torch.Tensor) -> torch.Tensor:
    """Min-max to [0, 1] per input; a constant map becomes zeros."""
    flat = maps.flatten(1)
    low = flat.amin(dim=1).view((-1,) + (1,) * (maps.dim() - 1))
    span = (flat.amax(dim=1) - flat.amin(dim=1)).view_as(low)
    shifted = maps - low
    return torch.where(span > 0, shifted / span.clamp_min(torch.finfo(maps.dtype).tiny), torch.zeros_like(maps))
