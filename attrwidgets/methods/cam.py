"""Class activation maps from gradients: Grad-CAM and Guided Grad-CAM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from attrwidgets.attribution import Attribution
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import Chunk, Points, Targets, evaluate
from attrwidgets.methods.backprop import rule_gradient
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

__all__ = ["grad_cam", "guided_grad_cam"]

_PAPER = (
    "Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, Grad-CAM: Visual Explanations from Deep Networks "
    "via Gradient-based Localization, ICCV 2017 (arXiv:1610.02391)"
)
_LAYER = Control("layer", "module", None, doc="the module whose output map is weighted; default the last nn.Conv2d")
_UPSAMPLE = {3: "linear", 4: "bilinear", 5: "trilinear"}


@register(controls=(_LAYER,), paper=_PAPER, produces=("score", "parts"), needs=("layer",))
@shared_docs
def grad_cam(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    layer: nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""Grad-CAM: the layer's feature maps weighted by their spatially averaged gradients, ReLU'd and upsampled.

    With :math:`A^k` the k-th channel of the layer's output (h × w) and :math:`y` the explained score,

    .. math:: \alpha_k = \frac{1}{hw} \sum_{i,j} \frac{\partial y}{\partial A^k_{ij}}, \qquad
              L = \mathrm{ReLU}\Big(\sum_k \alpha_k A^k\Big).

    ``parts["cam"]`` is :math:`L`, shape (N, 1, h, w), not normalised; ``values`` is :math:`L`
    upsampled bilinearly (``align_corners=False``) to the inputs' spatial size, shape (N, 1, H, W).
    The backward pass stops at the layer: nothing below it is differentiated.

    Parameters
    ----------
    model : nn.Module or callable
        Maps (preprocessed) inputs to (N, classes) scores; the raw output (a logit) is explained.
    inputs : (N, C, H, W) float tensor
        Inputs in pixel space, on the model's device.
    target : None, int, list of int or tensor
        The output index to explain; None is the predicted class.
    layer : nn.Module, optional
        A module of the model that runs once per forward and outputs (N, K, h, w) feature maps.
        Default: the last ``nn.Conv2d`` in ``model.modules()`` order (the paper uses the last
        convolutional layer, where the maps are most class-specific and still spatial).
    {preprocess}
    {forward_kwargs}
    {memory}

    Returns
    -------
    Attribution
        ``values`` (N, 1, H, W), ``parts["cam"]`` (N, 1, h, w), ``score`` F(x), ``params["layer"]``
        (the layer's qualified name in the model).

    Notes
    -----
    Captum's ``LayerGradCam(..., relu_attributions=True)`` returns ``parts["cam"]`` exactly; it
    leaves the ReLU off by default (the paper applies it) and upsampling to the user
    (``LayerAttribution.interpolate``, nearest by default). We upsample bilinearly, as the paper's
    figures and pytorch-grad-cam do, so the map has no blocks.

    References
    ----------
    Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations from Deep
    Networks via Gradient-based Localization", ICCV 2017, arXiv:1610.02391.

    Examples
    --------
    >>> attr = grad_cam(model, images, layer=model.layer4)   # doctest: +SKIP
    >>> attr.parts["cam"].shape, attr.values.shape             # doctest: +SKIP
    (torch.Size([1, 1, 7, 7]), torch.Size([1, 1, 224, 224]))
    """
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    layer, name = _resolve_layer(explained, layer, "grad_cam")
    target_t, score, cam = _cam(explained, layer, name, target, memory)
    values = upsample(cam, explained.inputs)
    return Attribution(
        values=values, target=target_t, method="grad_cam", params={"layer": name}, score=score, parts={"cam": cam}
    )


@register(controls=(_LAYER,), paper=_PAPER, produces=("score", "parts"), needs=("layer",))
def guided_grad_cam(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    layer: nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""Guided Grad-CAM: Guided Backprop times the upsampled Grad-CAM map, pixel by pixel.

    .. math:: \mathrm{GGC}_{c,i,j} = \mathrm{GB}_{c,i,j} \cdot \mathrm{up}(L)_{i,j}

    with GB from :func:`~attrwidgets.methods.backprop.guided_backprop` (shape of the inputs) and
    :math:`\mathrm{up}(L)` the Grad-CAM map of :func:`grad_cam` upsampled bilinearly to the inputs'
    size, broadcast over channels (Selvaraju et al. 2017, §3.1: fine-grained and class-discriminative).

    Parameters
    ----------
    model, inputs, target, layer, forward_kwargs, preprocess, memory :
        As in :func:`grad_cam`; Guided Backprop applies its rule to the model's ``nn.ReLU`` modules.

    Returns
    -------
    Attribution
        ``values`` (shape of the inputs), ``parts["cam"]`` (N, 1, h, w), ``score`` F(x),
        ``params["layer"]``.

    Warns
    -----
    UserWarning
        When the forward uses a functional ReLU that the Guided Backprop rule cannot reach.

    Notes
    -----
    Captum's ``GuidedGradCam`` upsamples the map with ``interpolate_mode="nearest"`` by default;
    with ``interpolate_mode="bilinear"`` it gives our values.

    References
    ----------
    Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra, "Grad-CAM: Visual Explanations from Deep
    Networks via Gradient-based Localization", ICCV 2017, arXiv:1610.02391.
    """
    explained = Explained(model, inputs, preprocess, forward_kwargs=forward_kwargs)
    layer, name = _resolve_layer(explained, layer, "guided_grad_cam")
    target_t, score, cam = _cam(explained, layer, name, target, memory)
    guided = rule_gradient("guided_grad_cam", explained, target_t, guided=True, memory=memory)
    values = guided.values * upsample(cam, explained.inputs)
    return Attribution(
        values=values,
        target=target_t,
        method="guided_grad_cam",
        params={"layer": name},
        score=score,
        parts={"cam": cam},
    )


def upsample(cam: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """The (N, 1, h, w) map resized (bi/tri/linearly, ``align_corners=False``) to the inputs' spatial size."""
    if cam.shape[2:] == inputs.shape[2:]:
        return cam
    return F.interpolate(cam, size=inputs.shape[2:], mode=_UPSAMPLE[cam.dim()], align_corners=False)


def _resolve_layer(explained: Explained, layer: object, method: str) -> tuple[nn.Module, str]:
    """The layer module and its qualified name; the last nn.Conv2d when ``layer`` is None."""
    module = explained.module
    if isinstance(module, torch.jit.ScriptModule):
        msg = (
            f"{method}: {type(module).__name__} is a TorchScript module: the layer's output is read with a "
            "module hook, which TorchScript does not run. Pass the original nn.Module."
        )
        raise TypeError(msg)
    if layer is None:
        convs = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Conv2d)]
        if not convs:
            msg = (
                f"{method}: the model has no nn.Conv2d to use as the default layer; pass layer= a module "
                "of the model whose output is the (N, K, h, w) feature maps to weight"
            )
            raise ValueError(msg)
        name, found = convs[-1]
        return found, name
    if not isinstance(layer, nn.Module):
        msg = f"{method}: layer must be an nn.Module of the model (e.g. model.layer4), not {type(layer).__name__}"
        raise TypeError(msg)
    for name, m in module.named_modules():
        if m is layer:
            return layer, name or "(the model)"
    if isinstance(explained.model, nn.Module):
        msg = (
            f"{method}: layer {type(layer).__name__} is not a submodule of the model "
            f"({type(explained.model).__name__}); pass one of its modules, e.g. from model.named_modules()"
        )
        raise ValueError(msg)
    return layer, type(layer).__name__  # a callable model: the layer can only be checked by running it


def _cam(
    explained: Explained, layer: nn.Module, name: str, target: object, memory: int | str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward, one backward from the score to the layer's output per chunk: (target, score, cam)."""
    x = explained.inputs
    n = len(x)
    targets = Targets(target, n)
    score = torch.empty(n, dtype=x.dtype, device=x.device)
    target_t = torch.empty(n, dtype=torch.long, device=x.device)
    cams: list[torch.Tensor] = []
    with ModelGuard(explained.module, hooks=True) as guard:
        activations: list[torch.Tensor] = guard.store.setdefault("activations", [])

        def keep(module: nn.Module, args: tuple, output: object) -> torch.Tensor:
            if not isinstance(output, torch.Tensor) or not output.is_floating_point():
                kind = type(output).__name__
                msg = f"layer {name} returned a {kind}, not a float tensor: pick a layer that outputs feature maps"
                raise TypeError(msg)
            # A leaf of its own: the backward stops here, and an in-place op downstream
            # (ReLU(inplace=True)) changes the copy we return, not the activation we keep.
            leaf = output.detach().requires_grad_(True)
            activations.append(leaf)
            return leaf.clone()

        def build(start: int, stop: int) -> Points:
            activations.clear()  # a retried chunk starts afresh
            return Points(x[start:stop], targets.rows(start, stop), rows=torch.arange(start, stop, device=x.device))

        def weighted(score_rows: torch.Tensor, z: torch.Tensor, context: object) -> torch.Tensor:
            _check_activations(activations, name, z)
            (act,) = activations
            activations.clear()
            grad = None
            if score_rows.requires_grad:
                (grad,) = torch.autograd.grad(score_rows.sum(), act, allow_unused=True)
            if grad is None:
                msg = f"the score does not depend on layer {name}'s output: pick a layer on the path to the output"
                raise ValueError(msg)
            act = act.detach()
            weights = grad.mean(dim=tuple(range(2, act.dim())), keepdim=True)
            return (weights * act).sum(dim=1, keepdim=True).clamp(min=0)

        def consume(chunk: Chunk) -> None:
            score[chunk.start : chunk.stop] = chunk.score
            target_t[chunk.start : chunk.stop] = chunk.target
            cams.append(chunk.grad)

        guard.forward_hook(layer, keep)
        for param in explained.module.parameters():  # restored by the guard; no weight gradients
            param.requires_grad_(False)
        evaluate(explained, n, build, consume, grad=weighted, memory=memory)
    return target_t, score, torch.cat(cams)


def _check_activations(activations: list[torch.Tensor], name: str, x: torch.Tensor) -> None:
    if not activations:
        msg = f"layer {name} did not run in the model's forward: pass a module the forward calls"
        raise ValueError(msg)
    if len(activations) > 1:
        msg = (
            f"layer {name} ran {len(activations)} times in one forward (a reused module): Grad-CAM needs one "
            "feature map per input; pass a layer that runs once"
        )
        raise ValueError(msg)
    shape = tuple(activations[0].shape)
    if len(shape) != x.dim() or len(shape) not in _UPSAMPLE or shape[0] != len(x):
        msg = (
            f"layer {name} outputs shape {shape} for a batch of shape {tuple(x.shape)}: Grad-CAM needs feature "
            "maps (N, K, h, w) with the inputs' batch size and number of spatial axes; pick a convolutional layer"
        )
        raise ValueError(msg)
