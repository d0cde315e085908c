"""attribute_dataset: the same numbers as a plain loop, written to Zarr, resumable after an interrupt."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

import attrwidgets as aw
from attrwidgets.datasets import attribute_dataset
from attrwidgets.methods._engine import remembered_costs
from tests.probes import make_cnn

pytest.importorskip("zarr")

N, BATCH = 23, 5  # five batches, the last one short


@pytest.fixture
def data() -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(N, 3, 12, 12, generator=generator, dtype=torch.float64)
    return TensorDataset(x, torch.arange(N) % 5)


class Stops(Dataset):
    """The data set, but reading item ``stop_at`` raises KeyboardInterrupt (a user's Ctrl-C)."""

    def __init__(self, data: Dataset, stop_at: int) -> None:
        self.data, self.stop_at = data, stop_at

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        if i == self.stop_at:
            raise KeyboardInterrupt
        return self.data[i]


class Counting:
    """A method (any callable) that counts the batches it attributes: gradient underneath."""

    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, model, inputs, target=None):
        self.batches += 1
        return aw.gradient(model, inputs, target)


def same_store(a, b) -> None:
    for name in ("values", "target", "label", "score", "delta", "done"):
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)


def test_equals_a_plain_loop(tmp_path, data):
    model = make_cnn()
    store = attribute_dataset("gradient", model, data, tmp_path / "g.zarr", batch_size=BATCH, progress=False)
    assert store["values"].shape == (N, 3, 12, 12)
    assert store["values"].chunks == (N, 3, 12, 12)  # the five batches' maps (8.6 kB each) make one group
    assert store["done"][:].all() and store["label"][:].tolist() == (torch.arange(N) % 5).tolist()
    x = data.tensors[0]
    with remembered_costs():  # as attribute_dataset calls the method: each batch in one chunk
        for start in range(0, N, BATCH):
            attr = aw.gradient(model, x[start : start + BATCH])
            np.testing.assert_array_equal(store["values"][start : start + BATCH], attr.values.float().numpy())
            np.testing.assert_array_equal(store["target"][start : start + BATCH], attr.target.numpy())
            np.testing.assert_array_equal(store["score"][start : start + BATCH], attr.score.numpy())
    for start in range(0, N, BATCH):  # a bare call sends its first input alone: the same within rounding
        attr = aw.gradient(model, x[start : start + BATCH])
        np.testing.assert_allclose(store["values"][start : start + BATCH], attr.values.float().numpy(), rtol=1e-6)
        np.testing.assert_allclose(store["score"][start : start + BATCH], attr.score.numpy(), rtol=1e-12)
    assert np.isnan(store["delta"][:]).all()  # the gradient has no completeness gap
    run = store.attrs["attrwidgets_run"]
    assert run["method"] == "gradient" and run["n"] == N and run["batch_size"] == BATCH


def test_resumes_after_an_interrupt_without_redoing_written_batches(tmp_path, data):
    model = make_cnn()
    whole = attribute_dataset("gradient", model, data, tmp_path / "whole.zarr", batch_size=BATCH, progress=False)
    method = Counting()
    path = tmp_path / "resumed.zarr"
    with pytest.raises(KeyboardInterrupt):  # stopped while reading batch 2 (items 10..14)
        attribute_dataset(method, model, Stops(data, 12), path, batch_size=BATCH, progress=False)
    assert method.batches == 2
    again = Counting()
    seen = []
    store = attribute_dataset(again, model, data, path, batch_size=BATCH,
                              progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert again.batches == 3  # batches 2, 3 and 4 only
    assert seen[0] == (2, 5) and seen[-1] == (5, 5)
    for name in ("values", "target", "label", "score"):
        np.testing.assert_array_equal(store[name][:], whole[name][:], err_msg=name)
    finished = Counting()
    attribute_dataset(finished, model, data, path, batch_size=BATCH, progress=False)
    assert finished.batches == 0  # nothing left to do


def test_a_different_run_is_refused_and_resume_false_overwrites(tmp_path, data):
    model = make_cnn()
    path = tmp_path / "s.zarr"
    attribute_dataset("gradient", model, data, path, batch_size=BATCH, progress=False)
    with pytest.raises(ValueError, match=r"another run.*method"):
        attribute_dataset("input_x_gradient", model, data, path, batch_size=BATCH, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        attribute_dataset("gradient", model, data, path, batch_size=4, progress=False)
    store = attribute_dataset("input_x_gradient", model, data, path, batch_size=BATCH, resume=False, progress=False)
    assert store.attrs["attrwidgets_run"]["method"] == "input_x_gradient"


def test_options_float16_labels_and_a_dataloader(tmp_path, data):
    model = make_cnn()
    store = attribute_dataset("integrated_gradients", model, DataLoader(data, batch_size=BATCH), tmp_path / "ig.zarr",
                              target="label", options={"steps": "auto"}, dtype="float16", progress=False)  # fmt: skip
    assert store["values"].dtype == np.float16 and store["values"].chunks[0] == N
    assert store["target"][:].tolist() == store["label"][:].tolist()
    attr = aw.integrated_gradients(model, data.tensors[0][:BATCH], target=data.tensors[1][:BATCH], steps="auto")
    np.testing.assert_array_equal(store["values"][:BATCH], attr.values.numpy().astype(np.float16))
    np.testing.assert_allclose(store["delta"][:BATCH], attr.delta.numpy())
    cam = attribute_dataset("grad_cam", model, data, tmp_path / "cam.zarr", batch_size=BATCH, progress=False)
    assert cam["values"].shape == (N, 1, 12, 12)  # the map's shape, not the inputs'


def test_bad_data_and_arguments(tmp_path, data):
    model = make_cnn()
    with pytest.raises(ValueError, match="shuffle=False"):
        attribute_dataset("gradient", model, DataLoader(data, batch_size=4, shuffle=True), tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="no integer labels"):
        attribute_dataset("gradient", model, data.tensors[0], tmp_path / "b.zarr", target="label", progress=False)
    with pytest.raises(ValueError, match="engine"):
        attribute_dataset("gradient", model, data, tmp_path / "c.zarr", engine="dask")
    with pytest.raises(ValueError, match="dtype"):
        attribute_dataset("gradient", model, data, tmp_path / "c.zarr", dtype="int8")
    with pytest.raises(TypeError, match="map-style"):
        attribute_dataset("gradient", model, iter([data.tensors[0]]), tmp_path / "c.zarr")
    with pytest.raises(ValueError, match="registered"):
        attribute_dataset("no_such", model, data, tmp_path / "d.zarr", progress=False)
    huge = make_cnn()
    with torch.no_grad():
        huge.head.weight.mul_(1e9)
    with pytest.raises(ValueError, match="float32"):
        attribute_dataset("gradient", huge, data, tmp_path / "e.zarr", dtype="float16", progress=False)


def test_without_zarr_a_clear_install_hint(tmp_path, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(ImportError, match=r"attrwidgets\[zarr\]"):
        attribute_dataset("gradient", make_cnn(), data, tmp_path / "z.zarr")


def test_the_one_point_measuring_pass_runs_once_per_data_set(tmp_path, data):
    """Every batch has the same shape, so the bytes a point costs are measured on the first batch only."""
    model = make_cnn()
    sizes: list[int] = []
    handle = model.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    try:
        attribute_dataset("gradient", model, data, tmp_path / "g.zarr", batch_size=BATCH, progress=False)
        assert sizes == [1, BATCH, BATCH, BATCH, BATCH, N - 4 * BATCH]  # a one-point probe, then whole batches
        sizes.clear()
        aw.gradient(model, data.tensors[0][:BATCH])
        assert sizes == [1, BATCH - 1]  # outside attribute_dataset a call measures on its first input
    finally:
        handle.remove()
