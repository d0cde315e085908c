"""Demo data and models that load offline: photos, ImageNet classifiers and a small digits CNN."""

from attrwidgets.demo import data
from attrwidgets.demo.data import *  # noqa: F403  (the loaders, by the names data.__all__ lists)
from attrwidgets.demo.models import DigitsCNN

__all__ = ["DigitsCNN"]
__all__ += data.__all__  # the loaders are listed once, in attrwidgets.demo.data
