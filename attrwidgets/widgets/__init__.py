"""The widgets: :func:`explore` opens the Integrated Gradients explorer on one image."""

from attrwidgets.widgets.explorer import Explorer, explore
from attrwidgets.widgets.session import Session

__all__ = ["Explorer", "Session", "explore"]
