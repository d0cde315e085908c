"""The widgets: :func:`explore` (one image, any method of the registry), :func:`explore_text` (token chips)."""

from attrwidgets.widgets.compare import Compare, compare, compare_inputs
from attrwidgets.widgets.explorer import Explorer, explore
from attrwidgets.widgets.session import Session
from attrwidgets.widgets.text_explorer import TextExplorer, explore_text

__all__ = ["Compare", "Explorer", "Session", "TextExplorer", "compare", "compare_inputs", "explore", "explore_text"]
