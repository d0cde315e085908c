"""The binary wire format and the payload budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, decode, display_size, downsample, encode, payload_bytes


def test_encode_round_trips_and_is_contiguous():
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)[:, ::2]  # not contiguous, float64
    wire = encode(a)
    assert wire["dtype"] == "float32" and wire["shape"] == [2, 2, 4]
    assert isinstance(wire["view"], bytes)
    np.testing.assert_array_equal(decode(wire), a.astype(np.float32))


def test_encode_tensors_and_explicit_dtypes():
    t = torch.tensor([[0.5, -2.0]], dtype=torch.float64)
    half = encode(t, "float16")
    assert half["dtype"] == "float16" and len(half["view"]) == 4
    assert encode(torch.tensor([1, 2])).get("dtype") == "int32"
    with pytest.raises(TypeError, match="cannot send dtype"):
        encode(np.zeros(2, dtype=np.complex64))


def test_payload_bytes_counts_nested_buffers():
    assert payload_bytes({"a": b"123", "b": [{"c": memoryview(b"45")}], "d": 7}) == 5
    assert MAX_UPDATE_BYTES == 2 * 1024 * 1024


def test_display_size_keeps_aspect_and_never_upscales():
    assert display_size(100, 50, 10_000) == (100, 50)
    h, w = display_size(1000, 500, 20_000)
    assert h * w <= 20_000 and abs(h / w - 2) < 0.05


def test_downsample_averages_areas():
    maps = torch.arange(16.0).reshape(1, 4, 4)
    out = downsample(maps, (2, 2))
    assert out.shape == (1, 2, 2)
    assert float(out[0, 0, 0]) == pytest.approx((0 + 1 + 4 + 5) / 4)
