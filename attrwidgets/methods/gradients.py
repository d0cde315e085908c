"""Plain gradients: the saliency map and gradient × input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attrwidgets.attribution import Attribution
from attrwidgets.hooks import ModelGuard
from attrwidgets.methods._docs import shared_docs
from attrwidgets.methods._engine import first_pass
from attrwidgets.model import Explained
from attrwidgets.registry import Control, register

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import torch

#: The layer control of the methods that can attribute at a module's output.
LAYER = Control(
    "layer", "module", None, doc="attribute at this module's output (e.g. the embeddings); None: inputs", none="inputs"
)

__all__ = ["gradient", "input_x_gradient"]


@register(
    controls=(LAYER,),
    paper="Simonyan, Vedaldi & Zisserman, Deep Inside Convolutional Networks, ICLR-W 2014 (arXiv:1312.6034)",
    axioms=("implementation_invariance", "dummy"),
)
@shared_docs
def gradient(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    layer: torch.nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""The gradient of the explained score with respect to the inputs, :math:`\partial F(x) / \partial x_i`.

    Signed (take ``heatmap("abs_sum")`` for the usual saliency display). Near a saturated score it
    is close to zero even for features that matter: the motivating failure of Integrated Gradients.

    A large batch goes through the model in chunks within ``memory`` (default
    ``attrwidgets.config.memory``), as for every method here.

    Parameters
    ----------
    {model_inputs_target}
    {layer}
    {forward_kwargs}
    {memory}

    References
    ----------
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps", ICLR workshop 2014, arXiv:1312.6034.
    """
    return _at_inputs("gradient", model, inputs, target, layer, forward_kwargs, preprocess, memory)


@register(
    controls=(LAYER,),
    paper="Shrikumar et al., Not Just a Black Box, 2016 (arXiv:1605.01713)",
    axioms=("implementation_invariance", "dummy"),
)
@shared_docs
def input_x_gradient(
    model: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    target: int | list[int] | torch.Tensor | None = None,
    *,
    layer: torch.nn.Module | None = None,
    forward_kwargs: dict[str, Any] | None = None,
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
    memory: int | str | None = None,
) -> Attribution:
    r"""Gradient times input, :math:`x_i \, \partial F(x) / \partial x_i` (inputs in pixel space).

    Equals Integrated Gradients with a zero baseline for a linear model, and one-step Riemann IG in general.
    At a layer it is the layer's output times the gradient there (Captum's ``LayerGradientXActivation``).

    Parameters
    ----------
    {model_inputs_target}
    {layer}
    {forward_kwargs}
    {memory}

    References
    ----------
    Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box: Learning Important Features
    Through Propagating Activation Differences", 2016, arXiv:1605.01713.
    """
    return _at_inputs("input_x_gradient", model, inputs, target, layer, forward_kwargs, preprocess, memory)


def _at_inputs(method: str, model, inputs, target, layer, forward_kwargs, preprocess, memory) -> Attribution:
    """The pass at the inputs (or the layer's output): its gradient, times the point for input × gradient."""
    explained = Explained(model, inputs, preprocess, layer=layer, forward_kwargs=forward_kwargs)
    with ModelGuard(explained.module):
        at_x = first_pass(explained, explained.inputs, target, memory=memory)
    values = at_x.grad if method == "gradient" else at_x.grad * at_x.z
    params = {"layer": explained.layer_name} if layer is not None else {}
    return Attribution(values=values.detach(), target=at_x.target, method=method, params=params, score=at_x.score)
