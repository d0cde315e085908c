"""ray_actors: from what a Ray cluster reports to the actors of engine="ray" (no Ray, no GPU needed)."""

from __future__ import annotations

import pytest

from attrwidgets.datasets import ray_actors


def plan(resources, batches=100, **kwargs):
    actors, options = ray_actors(resources, batches, **kwargs)
    return actors, options["num_cpus"], options["num_gpus"]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"CPU": 8.0, "GPU": 2.0, "memory": 1e10}, (2, 1.0, 1.0)),  # one actor per GPU
        ({"CPU": 4.0, "GPU": 4.0}, (4, 0.75, 1.0)),  # a CPU left to Ray Data: the actors take 3 of 4
        ({"CPU": 16.0, "GPU": 0.5}, (1, 1.0, 0.5)),  # a cluster with half a GPU: one actor on it
        ({"CPU": 4.0}, (3, 1.0, 0.0)),  # no GPU: one actor per CPU but one, on the CPU
        ({"CPU": 2.0}, (1, 1.0, 0.0)),
        ({"CPU": 1.0}, (1, 0.5, 0.0)),  # a fraction of the only CPU, or the read task starves
        ({"CPU": 4.0, "GPU": 0.0}, (3, 1.0, 0.0)),
    ],
)
def test_gpus_when_the_cluster_has_them_else_cpus(resources, expected):
    assert plan(resources) == expected


def test_the_user_overrides_the_gpu_share_and_the_cpus():
    gpu_cluster = {"CPU": 8.0, "GPU": 2.0}
    assert plan(gpu_cluster, actor_options={"num_gpus": 0.5}) == (4, 1.0, 0.5)  # two actors per GPU
    assert plan(gpu_cluster, actor_options={"num_gpus": 0}) == (7, 1.0, 0.0)  # CPUs only
    assert plan(gpu_cluster, actor_options={"num_cpus": 2}) == (2, 2.0, 1.0)  # still a GPU each
    assert plan({"CPU": 8.0}, actor_options={"num_cpus": 2}) == (3, 2.0, 0.0)  # 7 spare CPUs: three of two
    assert plan({"CPU": 4.0}, actors=2, actor_options={"num_cpus": 1}) == (2, 1.0, 0.0)  # the local Ray test
    assert plan({"CPU": 2.0}, actors=2) == (2, 0.5, 0.0)  # two actors on two cores: half a CPU each
    assert plan(gpu_cluster, actors=1) == (1, 1.0, 1.0)
    _, options = ray_actors(gpu_cluster, 10, actor_options={"memory": 2**30, "accelerator_type": "A100"})
    assert options == {"memory": 2**30, "accelerator_type": "A100", "num_cpus": 1.0, "num_gpus": 1.0}


def test_no_more_actors_than_batches():
    assert plan({"CPU": 64.0}, batches=3) == (3, 1.0, 0.0)
    assert plan({"CPU": 64.0, "GPU": 8.0}, batches=2) == (2, 1.0, 1.0)


def test_gpus_the_cluster_lacks_are_warned_about():
    with pytest.warns(UserWarning, match="reports 0 GPUs"):
        assert plan({"CPU": 4.0}, actor_options={"num_gpus": 1}) == (1, 1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"actors": 0}, "actors must be a positive int"),
        ({"actors": 1.5}, "actors must be a positive int"),
        ({"actor_options": {"num_gpus": -1}}, "num_gpus"),
        ({"actor_options": {"num_cpus": "one"}}, "num_cpus"),
    ],
)
def test_bad_actors_and_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ray_actors({"CPU": 4.0}, 10, **kwargs)
