"""Attribution methods: plain functions ``fn(model, inputs, target=None, *, ...) -> Attribution``."""

from attrwidgets.methods.deeplift import deeplift
from attrwidgets.methods.fullgrad import fullgrad
from attrwidgets.methods.gradients import gradient, input_x_gradient
from attrwidgets.methods.paths import integrated_gradients

__all__ = [
    "deeplift",
    "fullgrad",
    "gradient",
    "input_x_gradient",
    "integrated_gradients",
]
