"""attrwidgets: interactive gradient attribution for PyTorch models in Jupyter."""

from attrwidgets import baselines
from attrwidgets.attribution import Attribution, Trace
from attrwidgets.config import config
from attrwidgets.methods import gradient, input_x_gradient, integrated_gradients

__version__ = "0.1.0.dev0"

__all__ = [
    "Attribution",
    "Trace",
    "__version__",
    "baselines",
    "config",
    "gradient",
    "input_x_gradient",
    "integrated_gradients",
]
