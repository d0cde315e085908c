"""Demo data and models that load offline: photos, ImageNet classifiers and a small digits CNN."""

from attrwidgets.demo.data import (
    digits_data,
    imagenet_labels,
    imagenet_preprocess,
    load_digits_cnn,
    load_efficientnet_lite0,
    load_resnet18,
    photos,
)
from attrwidgets.demo.models import DigitsCNN

__all__ = [
    "DigitsCNN",
    "digits_data",
    "imagenet_labels",
    "imagenet_preprocess",
    "load_digits_cnn",
    "load_efficientnet_lite0",
    "load_resnet18",
    "photos",
]
