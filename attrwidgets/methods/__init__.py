"""Attribution methods: plain functions ``fn(model, inputs, target=None, *, ...) -> Attribution``."""

from attrwidgets.methods.backprop import deconvnet, guided_backprop
from attrwidgets.methods.cam import grad_cam, guided_grad_cam
from attrwidgets.methods.deeplift import deeplift
from attrwidgets.methods.expected import expected_gradients
from attrwidgets.methods.fullgrad import fullgrad
from attrwidgets.methods.gradients import gradient, input_x_gradient
from attrwidgets.methods.noise import smoothgrad
from attrwidgets.methods.occlusion import occlusion
from attrwidgets.methods.paths import integrated_gradients

__all__ = [
    "deconvnet",
    "deeplift",
    "expected_gradients",
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
