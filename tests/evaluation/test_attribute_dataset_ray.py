"""engine="ray": a local two-actor Ray cluster, started and stopped by the test, writes the same store.

On a two-core machine, two one-CPU actors would take every CPU and starve Ray Data's read task
(the pipeline stalls for good), so the local cluster gets more logical CPUs than the actors take.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from attrwidgets import datasets
from attrwidgets.datasets import attribute_dataset
from tests.evaluation.test_attribute_dataset import BATCH, N, Stops
from tests.probes import make_cnn

pytest.importorskip("zarr")
ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

pytestmark = [
    pytest.mark.slow,  # starting a local cluster and its actors takes tens of seconds
    pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning"),  # Ray's shutdown
]


@pytest.fixture(scope="module")
def cluster():
    if ray.is_initialized():  # someone else's cluster: use it, leave it running
        yield
        return
    for attempt in range(3):  # Ray gives a node 30 s to register: a busy machine can miss that once
        try:
            ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    context = ray.data.DataContext.get_current()
    bars, context.enable_progress_bars = context.enable_progress_bars, False
    try:
        yield
    finally:
        context.enable_progress_bars = bars
        ray.shutdown()


def test_ray_writes_the_same_store_as_the_local_engine(tmp_path, cluster, monkeypatch):
    # groups of two batches: Ray's results come back in any order, and the writer gathers each group
    monkeypatch.setattr(datasets, "_GROUP_BYTES", 2 * BATCH * 3 * 12 * 12 * 4)
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(N, 3, 12, 12, generator=generator, dtype=torch.float64), torch.arange(N) % 5)
    model = make_cnn()
    kwargs = {"batch_size": BATCH, "target": "label", "progress": False}
    local = attribute_dataset("gradient", model, data, tmp_path / "local.zarr", **kwargs)
    remote = attribute_dataset("gradient", model, data, tmp_path / "ray.zarr", engine="ray", actors=2,
                               actor_options={"num_cpus": 1}, **kwargs)  # fmt: skip
    assert remote["values"].chunks[0] == 2 * BATCH
    for name in ("values", "target", "label", "score", "delta", "done"):
        np.testing.assert_array_equal(remote[name][:], local[name][:], err_msg=name)
    assert remote.attrs["attrwidgets_run"] == local.attrs["attrwidgets_run"]

    # a local run stopped after two batches, finished on Ray: the same store again
    path = tmp_path / "mixed.zarr"
    with pytest.raises(KeyboardInterrupt):
        attribute_dataset("gradient", model, Stops(data, 2 * BATCH), path, **kwargs)
    mixed = attribute_dataset("gradient", model, data, path, engine="ray", actors=2,
                              actor_options={"num_cpus": 1}, **kwargs)  # fmt: skip
    for name in ("values", "target", "label", "score", "delta", "done"):
        np.testing.assert_array_equal(mixed[name][:], local[name][:], err_msg=name)
