"""The small models the project trains itself: :class:`DigitsCNN`."""

from __future__ import annotations

from torch import nn

__all__ = ["DigitsCNN"]


class DigitsCNN(nn.Sequential):
    """A small CNN for the 28×28 upsampled scikit-learn digits, as a plain ``nn.Sequential``.

    Layers: two blocks of 3×3 convolution, ``nn.ReLU`` and 2×2 max pooling (28 → 14 → 7), then a
    hidden ``nn.Linear`` with bias, ``nn.ReLU`` and the 10-way ``nn.Linear`` that gives the logits.
    Every nonlinearity is its own ``nn.ReLU`` module (none is reused, none is functional), so
    methods that change backward rules through module hooks see each one. No BatchNorm.

    Parameters
    ----------
    channels : tuple of int
        Output channels of the two convolutions. Default ``(8, 16)``.
    hidden : int
        Width of the hidden linear layer. Default 32.
    classes : int
        Number of outputs. Default 10.

    Examples
    --------
    >>> import torch
    >>> model = DigitsCNN()
    >>> model(torch.zeros(5, 1, 28, 28)).shape
    torch.Size([5, 10])
    """

    def __init__(self, channels: tuple[int, int] = (8, 16), hidden: int = 32, classes: int = 10) -> None:
        c1, c2 = channels
        super().__init__(
            nn.Conv2d(1, c1, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, hidden),
            nn.ReLU(),
            nn.Linear(hidden, classes),
        )
