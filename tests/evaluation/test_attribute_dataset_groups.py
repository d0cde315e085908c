"""attribute_dataset writes groups of batches as one chunk: what an interrupt, a kill or a failed write leaves behind.

A group of two batches here (``_GROUP_BYTES`` lowered to two batches' maps), so the five batches
make groups {0, 1}, {2, 3} and {4}; every store is compared, array for array, with one written
without interruption.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from attrwidgets import datasets
from attrwidgets.datasets import attribute_dataset
from attrwidgets.methods._engine import remembered_costs
from tests.evaluation.test_attribute_dataset import BATCH, Counting, N, Stops, same_store
from tests.probes import make_cnn

zarr = pytest.importorskip("zarr")

MAP_BYTES = BATCH * 3 * 12 * 12 * 4  # one batch's float32 maps
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data() -> TensorDataset:  # the data of test_attribute_dataset.py
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(N, 3, 12, 12, generator=generator, dtype=torch.float64), torch.arange(N) % 5)


@pytest.fixture
def groups_of_two(monkeypatch) -> None:
    monkeypatch.setattr(datasets, "_GROUP_BYTES", 2 * MAP_BYTES)


def whole_store(tmp_path, data, model):
    return attribute_dataset(Counting(), model, data, tmp_path / "whole.zarr", batch_size=BATCH, progress=False)


def test_a_chunk_holds_a_group_of_batches(tmp_path, data, groups_of_two):
    model = make_cnn()
    store = whole_store(tmp_path, data, model)
    assert store["values"].chunks == (2 * BATCH, 3, 12, 12) and store["score"].chunks == (2 * BATCH,)
    assert store["done"].shape == (5,) and store["done"].chunks == (2,) and store["done"][:].all()
    assert store["values"].dtype == np.float32 and store["target"].dtype == np.int64
    assert store["score"].dtype == np.float64 and store["label"].dtype == np.int64
    plain = datasets.attribute_batch("gradient", model, data.tensors[0][2 * BATCH : 3 * BATCH])
    np.testing.assert_array_equal(store["values"][2 * BATCH : 3 * BATCH], plain["values"])


def test_ctrl_c_inside_a_group_keeps_the_batches_already_computed(tmp_path, data, groups_of_two):
    model = make_cnn()
    whole = whole_store(tmp_path, data, model)
    path = tmp_path / "stopped.zarr"
    method = Counting()
    with pytest.raises(KeyboardInterrupt):  # reading batch 3: batch 2 waits in memory for its partner
        attribute_dataset(method, model, Stops(data, 3 * BATCH + 1), path, batch_size=BATCH, progress=False)
    assert method.batches == 3
    assert zarr.open_group(path, mode="r")["done"][:].tolist() == [True, True, True, False, False]
    again = Counting()
    store = attribute_dataset(again, model, data, path, batch_size=BATCH, progress=False)
    assert again.batches == 2  # batches 3 and 4
    same_store(store, whole)


def test_ctrl_c_before_the_first_batch_leaves_a_store_that_resumes(tmp_path, data, groups_of_two):
    model = make_cnn()
    path = tmp_path / "empty.zarr"
    with pytest.raises(KeyboardInterrupt):
        attribute_dataset(Counting(), model, Stops(data, 0), path, batch_size=BATCH, progress=False)
    again = Counting()
    store = attribute_dataset(again, model, data, path, batch_size=BATCH, progress=False)
    assert again.batches == 5
    same_store(store, whole_store(tmp_path, data, model))


KILLED = """
import os, signal, sys, time
import torch, zarr
from torch.utils.data import TensorDataset
from attrwidgets import datasets
from tests.evaluation.test_attribute_dataset import BATCH, N, Counting
from tests.probes import make_cnn

path, datasets._GROUP_BYTES = sys.argv[1], int(sys.argv[2])
generator = torch.Generator().manual_seed(0)
data = TensorDataset(torch.rand(N, 3, 12, 12, generator=generator, dtype=torch.float64), torch.arange(N) % 5)

class KilledAt(torch.utils.data.Dataset):
    # reading batch 3 kills the process, once batches 0 and 1 are on disk (batch 2 is only in memory)
    def __len__(self):
        return N
    def __getitem__(self, i):
        if i == 3 * BATCH:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if zarr.open_group(path, mode="r")["done"][:2].all():
                        break
                except Exception:  # the arrays are not made yet
                    pass
                time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGKILL)
        return data[i]

datasets.attribute_dataset(Counting(), make_cnn(), KilledAt(), path, batch_size=BATCH, progress=False)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_run_loses_only_the_group_not_yet_written(tmp_path, data, groups_of_two):
    path = tmp_path / "killed.zarr"
    child = subprocess.run([sys.executable, "-c", KILLED, str(path), str(2 * MAP_BYTES)], cwd=ROOT,
                           capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr
    left = zarr.open_group(path, mode="r")
    assert left["done"][:].tolist() == [True, True, False, False, False]
    assert not left["values"][2 * BATCH :].any()  # batch 2 was computed, but never reached the disk
    model = make_cnn()
    again = Counting()
    store = attribute_dataset(again, model, data, path, batch_size=BATCH, progress=False)
    assert again.batches == 3  # the unwritten group {2, 3} and batch 4
    same_store(store, whole_store(tmp_path, data, model))


class FailingStore(zarr.storage.LocalStore):
    """A local store whose write of ``fails`` raises, as a full disk would."""

    fails = "score/c/1"

    async def set(self, key, value) -> None:
        if key == self.fails:
            msg = f"no space left writing {key} (test)"
            raise OSError(msg)
        await super().set(key, value)


def test_a_failed_write_leaves_its_group_undone(tmp_path, data, groups_of_two):
    model = make_cnn()
    path = tmp_path / "failing.zarr"
    with pytest.raises(OSError, match="no space left"):
        attribute_dataset(Counting(), model, data, FailingStore(path), batch_size=BATCH, progress=False)
    left = zarr.open_group(path, mode="r")
    # group {2, 3} wrote its maps but not its scores: not done; the groups around it are
    assert left["done"][:].tolist() == [True, True, False, False, True]
    again = Counting()
    store = attribute_dataset(again, model, data, path, batch_size=BATCH, progress=False)
    assert again.batches == 2
    same_store(store, whole_store(tmp_path, data, model))


def test_batches_in_any_order_make_the_same_store(tmp_path, data, groups_of_two):
    """Ray hands results back in the order they finish: the writer gathers each group whatever the order."""
    model = make_cnn()
    source = datasets._source(data, BATCH)
    run = zarr.open_group(whole_store(tmp_path, data, model).store, mode="r").attrs["attrwidgets_run"]
    store = datasets._Store(tmp_path / "shuffled.zarr", run, source, resume=True)
    with remembered_costs():  # as a Ray actor computes them
        results = {b: datasets.attribute_batch(Counting(), model, *source.load(b)) for b in range(source.batches)}
    with datasets._Writer(store, range(source.batches)) as writer:
        for b in (3, 0, 4, 1, 2):
            writer.put(b, results[b])
    same_store(zarr.open_group(tmp_path / "shuffled.zarr", mode="r"), zarr.open_group(tmp_path / "whole.zarr"))


def test_labels_and_scores_of_each_group(tmp_path, data, groups_of_two):
    model = make_cnn()
    store = attribute_dataset("gradient", model, data, tmp_path / "g.zarr", target="label", batch_size=BATCH,
                              progress=False)  # fmt: skip
    assert store["label"][:].tolist() == store["target"][:].tolist() == (torch.arange(N) % 5).tolist()
    scores = model(data.tensors[0]).gather(1, (torch.arange(N) % 5)[:, None])[:, 0].detach().numpy()
    np.testing.assert_allclose(store["score"][:], scores, rtol=1e-12)
    assert np.isnan(store["delta"][:]).all()
