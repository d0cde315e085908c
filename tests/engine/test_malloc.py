"""The allocator settings of an attribution call (glibc): raised inside, restored and trimmed a moment after.

The speed is the benchmark's (``benchmarks/RESULTS.md``, "Numbers quoted in the code"); here: who
calls what when, and, on glibc, that large blocks are really reused inside (page faults counted).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets import _malloc
from attrwidgets._malloc import AFTER_MMAP, AFTER_TRIM, HELD_MMAP, HELD_TRIM, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD

HELD = [("mallopt", M_MMAP_THRESHOLD, HELD_MMAP), ("mallopt", M_TRIM_THRESHOLD, HELD_TRIM)]
RESTORED = [("mallopt", M_MMAP_THRESHOLD, AFTER_MMAP), ("mallopt", M_TRIM_THRESHOLD, AFTER_TRIM)]
TRIMMED = [("malloc_trim", 0)]


def trimmed() -> None:
    """Wait for the pending trim timer (the tests set a delay of 0)."""
    if _malloc._timer is not None:
        _malloc._timer.join(10)


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append(("mallopt", option, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(_malloc, "_libc", fake)
    monkeypatch.setattr(_malloc, "TRIM_DELAY", 0.0)
    trimmed()  # a real call's timer from an earlier test
    return fake


def test_only_the_outermost_call_sets_and_restores(libc: FakeLibc) -> None:
    with _malloc.held():
        assert libc.calls == HELD
        with _malloc.held():
            pass
        assert libc.calls == HELD
    trimmed()
    assert libc.calls == HELD + RESTORED + TRIMMED


def test_an_error_inside_still_restores(libc: FakeLibc) -> None:
    with pytest.raises(ZeroDivisionError), _malloc.held():
        1 / 0  # noqa: B018
    trimmed()
    assert libc.calls == HELD + RESTORED + TRIMMED
    assert _malloc._depth == 0


def test_a_call_soon_after_drops_the_pending_trim(libc: FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    # a preview then its full answer: no trim between them, one after the last
    monkeypatch.setattr(_malloc, "TRIM_DELAY", 0.2)
    with _malloc.held():
        pass
    first = _malloc._timer
    monkeypatch.setattr(_malloc, "TRIM_DELAY", 60.0)
    with _malloc.held():
        pass
    second = _malloc._timer
    first.join(10)
    assert libc.calls == HELD  # the first timer found a newer call: the heap is still held
    second.cancel()
    _malloc._trim(libc, _malloc._generation)  # what the second one does when it fires, nothing newer
    assert libc.calls == HELD + RESTORED + TRIMMED
    _malloc._trim(libc, _malloc._generation)  # a second trim of the same generation does nothing
    assert libc.calls == HELD + RESTORED + TRIMMED


def test_between_two_calls_the_heap_stays_held_until_the_trim(libc: FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    # the compare grid's panels: the thresholds stay raised between calls (a free after a restore
    # would trim the heap's top at once), and go back with the trim
    monkeypatch.setattr(_malloc, "TRIM_DELAY", 60.0)
    with _malloc.held():
        pass
    assert libc.calls == HELD and _malloc._raised
    _malloc._timer.cancel()
    _malloc._trim(libc, _malloc._generation)
    assert libc.calls == HELD + RESTORED + TRIMMED and not _malloc._raised


def test_overlapping_threads_share_one_setting(libc: FakeLibc) -> None:
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with _malloc.held():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    with _malloc.held():
        pass
    assert libc.calls == HELD  # the other thread is still inside: nothing restored yet
    leave.set()
    thread.join(10)
    trimmed()
    assert libc.calls == HELD + RESTORED + TRIMMED


@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")  # 4 steps on a random conv
def test_every_method_call_holds_the_heap_once(libc: FakeLibc) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    model(x)
    aw.integrated_gradients(model, x, target=1, steps=4)
    trimmed()
    assert libc.calls == HELD + RESTORED + TRIMMED
    libc.calls.clear()
    aw.gradient(model, x, target=1)
    trimmed()
    assert libc.calls == HELD + RESTORED + TRIMMED


def test_switched_off_it_calls_nothing(libc: FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aw.config, "malloc_tuning", False)
    with _malloc.held():
        pass
    assert libc.calls == []
    with pytest.raises(TypeError, match="True or False"):
        aw.config.malloc_tuning = "yes"


#: In a fresh process (a test process's heap is shaped by every test before it): the minor page
#: faults of eight 64 MiB blocks allocated, written and freed in turn, outside and inside held().
FAULTS = """
import resource, sys, torch
from attrwidgets import _malloc

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(8):
        block = torch.ones(64 << 18)  # float32: 64 MiB, every page written
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = faults()
with _malloc.held():
    inside = faults()
small = torch.ones(1 << 15)  # freed between two calls, where a restored trim threshold trims the top
del small
with _malloc.held():
    again = faults()
print(outside, inside, again)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _malloc._glibc(), reason="glibc only")
def test_on_glibc_a_freed_large_block_serves_the_next_one() -> None:
    # 64 MiB blocks: above glibc's largest adaptive mmap threshold (32 MiB), so outside a call each
    # one is mapped afresh (16384 pages touched each time); inside, the first one's pages are reused
    done = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, timeout=120, check=True)
    outside, inside, again = map(int, done.stdout.split())
    assert outside > 8 * 10_000
    # a call right after another (within TRIM_DELAY) finds the first one's pages: with the
    # thresholds restored at the first call's end, the free between them trimmed the heap and the
    # second call faulted as many pages as the first
    assert again < 0.2 * outside, (again, outside)  # 1 or 16 thousand; 32 thousand with a restore at the end
    # inside: 16 thousand in most runs, up to 98 thousand in some (glibc's heap then grows apart
    # from where a block was freed); without held() it is the outside count, 131 thousand
    assert inside < 0.9 * outside, (inside, outside)
