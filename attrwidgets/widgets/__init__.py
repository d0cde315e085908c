"""The widgets: :func:`explore` opens the explorer on one image, for any method of the registry."""

from attrwidgets.widgets.compare import Compare, compare, compare_inputs
from attrwidgets.widgets.explorer import Explorer, explore
from attrwidgets.widgets.session import Session

__all__ = ["Compare", "Explorer", "Session", "compare", "compare_inputs", "explore"]
