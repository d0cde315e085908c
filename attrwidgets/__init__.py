"""attrwidgets: interactive gradient attribution for PyTorch models in Jupyter."""

from attrwidgets import baselines
from attrwidgets.attribution import Attribution, Trace
from attrwidgets.config import config
from attrwidgets.methods import (
    deconvnet,
    deeplift,
    expected_gradients,
    fullgrad,
    grad_cam,
    gradient,
    guided_backprop,
    guided_grad_cam,
    input_x_gradient,
    integrated_gradients,
    occlusion,
    smoothgrad,
)
from attrwidgets.registry import REGISTRY
from attrwidgets.widgets import Explorer, explore

__version__ = "0.1.0.dev0"

__all__ = [
    "REGISTRY",
    "Attribution",
    "Explorer",
    "Trace",
    "__version__",
    "baselines",
    "config",
    "deconvnet",
    "deeplift",
    "expected_gradients",
    "explore",
    "fullgrad",
    "grad_cam",
    "gradient",
    "guided_backprop",
    "guided_grad_cam",
    "input_x_gradient",
    "integrated_gradients",
    "occlusion",
    "smoothgrad",
]
