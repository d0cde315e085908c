"""attrwidgets: interactive gradient attribution for PyTorch models in Jupyter."""

from attrwidgets import baselines, evaluate, methods
from attrwidgets.attribution import Attribution, Trace
from attrwidgets.config import config
from attrwidgets.datasets import attribute_dataset
from attrwidgets.methods import *  # noqa: F403  (every method, by the names methods.__all__ lists)
from attrwidgets.registry import REGISTRY
from attrwidgets.widgets import Compare, Explorer, TextExplorer, compare, compare_inputs, explore, explore_text

__version__ = "0.1.0.dev0"

__all__ = [
    "REGISTRY",
    "Attribution",
    "Compare",
    "Explorer",
    "TextExplorer",
    "Trace",
    "__version__",
    "attribute_dataset",
    "baselines",
    "compare",
    "compare_inputs",
    "config",
    "evaluate",
    "explore",
    "explore_text",
]
__all__ += methods.__all__  # the method functions are listed once, in attrwidgets.methods
