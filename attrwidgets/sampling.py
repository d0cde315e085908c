"""Seeded draws that depend only on (seed, index): per sample for noise methods, per input for baselines.

Every random draw of the library comes from a generator of its own, keyed by the call's seed and
the index of what is drawn (a noisy copy, a reference sample, one input of a batch), never from
the global RNG. So ``samples=10`` draws the first ten samples of ``samples=50``, and an input's
result never depends on what else was in its batch or on the chunk size.
"""

from __future__ import annotations

import numbers

import torch

__all__ = ["check_samples", "check_seed", "sample_generator"]

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def sample_generator(seed: int, sample: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator of its own for draw number ``sample`` of a call seeded with ``seed``."""
    key = _splitmix64(_splitmix64(int(seed) & _MASK64) ^ int(sample)) >> 1  # < 2**63
    return torch.Generator(device=device).manual_seed(key)


def check_samples(samples: object) -> int:
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
        msg = f"samples must be a positive int (e.g. 50), got {samples!r}"
        raise ValueError(msg)
    return int(samples)


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = f"seed must be an int, got {seed!r}"
        raise TypeError(msg)
    return int(seed)
