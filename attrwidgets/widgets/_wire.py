"""The binary wire format: arrays travel as ``{"view": bytes, "dtype": str, "shape": list}``.

``js/wire.js`` decodes the same dict (anywidget hands the bytes to JavaScript as a ``DataView``).
Only float16, float32, int16, int32 and uint8 travel; everything is made C-contiguous first. One
update (one synced trait value) must stay within :data:`MAX_UPDATE_BYTES`, far below the 10 MiB
at which Tornado drops the websocket.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "MAX_UPDATE_BYTES",
    "decode",
    "display_size",
    "downsample",
    "encode",
    "payload_bytes",
]

MAX_UPDATE_BYTES = 2 * 1024 * 1024
"""Largest payload of one synced update, in bytes (2 MiB)."""

_DTYPES = {
    np.dtype(np.float16): "float16",
    np.dtype(np.float32): "float32",
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
    np.dtype(np.uint8): "uint8",
}
_CASTS = {np.dtype(np.float64): np.float32, np.dtype(np.int64): np.int32, np.dtype(np.bool_): np.uint8}


def encode(array: np.ndarray | torch.Tensor, dtype: str | None = None) -> dict[str, Any]:
    """``{"view", "dtype", "shape"}`` for an array or tensor (moved to the CPU, made C-contiguous).

    ``dtype`` casts first ("float16", "uint8", ...); without it float64 becomes float32 and
    int64 int32. Other dtypes raise ``TypeError``.
    """
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    arr = np.asarray(array)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype in _CASTS:
        arr = arr.astype(_CASTS[arr.dtype])
    if arr.dtype not in _DTYPES:
        msg = f"cannot send dtype {arr.dtype} to the browser; use one of {sorted(_DTYPES.values())}"
        raise TypeError(msg)
    arr = np.ascontiguousarray(arr)
    return {"view": arr.tobytes(), "dtype": _DTYPES[arr.dtype], "shape": list(arr.shape)}


def decode(wire: dict[str, Any]) -> np.ndarray:
    """The numpy array of an encoded dict (the inverse of :func:`encode`, for tests and export)."""
    return np.frombuffer(bytes(wire["view"]), dtype=wire["dtype"]).reshape(wire["shape"])


def payload_bytes(value: object) -> int:
    """Bytes of binary data inside a (nested) value: what one update carries beyond its JSON."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return memoryview(value).nbytes
    if isinstance(value, dict):
        return sum(payload_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(payload_bytes(v) for v in value)
    return 0


def display_size(height: int, width: int, max_pixels: int) -> tuple[int, int]:
    """(h, w) with the aspect ratio of (height, width), at most ``max_pixels`` pixels and never upscaled."""
    if height * width <= max_pixels:
        return height, width
    factor = math.sqrt(max_pixels / (height * width))
    return max(1, int(height * factor)), max(1, int(width * factor))


def downsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average (..., H, W) maps down to ``size`` in float32 (returned unchanged in size if equal)."""
    maps = maps.detach().float()
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    lead = maps.shape[:-2]
    flat = maps.reshape((-1, 1, *maps.shape[-2:]))
    out = F.interpolate(flat, size=size, mode="area")
    return out.reshape((*lead, *size))
