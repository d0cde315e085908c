"""The evaluation tests train and run many tiny models: one torch thread keeps each step short.

(On two cores, a tiny MLP's training step takes ~1 ms with one thread and can take 30 ms with two
when the machine is busy: the threads' hand-offs cost more than the arithmetic.)
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
