"""CPU chunk sizes: as many points as ``config.cpu_chunk_bytes`` holds, at least ``config.cpu_chunk``.

On a CPU a chunk of ten 224² photos through a real network runs faster than one big batch, but a
chunk of ten 21-token sentences leaves a transformer's matrix products short of rows
(``benchmarks/RESULTS-text.md``), and ten 28² digits leave a small CNN idle: every point gets as
many points per chunk as ``config.cpu_chunk_bytes`` holds at its measured cost, never fewer than
``config.cpu_chunk``, and the memory budget bounds every chunk. No timing here; the speed is the
benchmark's.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.methods._engine import Budget, first_pass
from attrwidgets.model import Explained
from tests.probes import Recorder

MiB = 2**20
CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object only: nothing runs on it


class TinyText(nn.Module):
    """Embedding → tanh(linear) per token → masked mean → linear: ``forward(ids, attention_mask)``."""

    def __init__(self, vocab: int = 40, dim: int = 16, classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(vocab, dim)
        self.token = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, classes)
        self.batches: list[int] = []

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(ids))
        mask = attention_mask.to(torch.float32).unsqueeze(-1)
        hidden = torch.tanh(self.token(self.embedding(ids)))
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0))


def sentence() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, 40, (1, 20), generator=torch.Generator().manual_seed(2))
    return ids, torch.ones_like(ids)


def text_ig(model: TinyText, **options) -> aw.Attribution:
    ids, mask = sentence()
    kwargs = {"attention_mask": mask}
    return aw.integrated_gradients(model, ids, target=1, layer=model.embedding, baseline="zero", steps=50,
                                   rule="gausslegendre", forward_kwargs=kwargs, **options)  # fmt: skip


class Photo(nn.Module):
    """A cheap conv model for 224² RGB images (one strided convolution, a mean, a linear head)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 2, 8, stride=8)
        self.head = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


def test_a_photo_through_a_real_network_gets_chunks_of_ten() -> None:
    """25–100 MiB a point (ResNet-18 and EfficientNet-Lite0 on 224²): cpu_chunk_bytes holds fewer than ten."""
    for per_point in (26 * MiB, 33 * MiB, 95 * MiB):
        assert Budget("2GiB", CPU, per_point).chunk(50) == aw.config.cpu_chunk


@pytest.mark.parametrize("size", [224, 12])
def test_an_image_gets_the_chunks_its_bytes_give(size: int) -> None:
    """The pass at x alone (it measures a point), the 50 points in balanced chunks by bytes, F(x′) apart."""
    photo = Photo()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    per_point = first_pass(Explained(photo, x), x, 0).per_point
    chunk = Budget(aw.config.memory, CPU, per_point).chunk(50)
    model = Recorder(photo)
    aw.integrated_gradients(model, x, target=0, steps=50, rule="gausslegendre", trace=False)
    chunks = -(-50 // chunk)
    middle = [50 // chunks + (k < 50 % chunks) for k in range(chunks)] if 50 % chunk else [chunk] * chunks
    assert model.batches == [1, *sorted(middle, reverse=True), 1]  # F(x′): α = 0 is no Gauss-Legendre node
    assert max(model.batches) > aw.config.cpu_chunk  # one strided convolution: a small point either way


@pytest.mark.filterwarnings("ignore:integrated_gradients. relative completeness gap")  # 20 steps on a random conv
def test_no_bytes_setting_gives_images_cpu_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aw.config, "cpu_chunk", 4)
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)
    model = Recorder(Photo())
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    aw.integrated_gradients(model, x, target=0, steps=20, trace=False)
    assert max(model.batches) == 4
    for per_point in (1, 2**10, 95 * MiB):  # a tiny point, EfficientNet-Lite0's 224² photo
        assert Budget("1GiB", CPU, per_point).chunk(50) <= 4


def test_a_sentence_gets_larger_chunks() -> None:
    """The 50 points of IG on a 20-token sentence go in one chunk (ten a chunk before cpu_chunk_bytes).

    The path's ends ride in that chunk: α = 1 (the trace's end: the pass at the input is a forward
    only) and α = 0 (F(x′): no Gauss-Legendre node), 52 points and no passes of their own.
    """
    model = TinyText()
    attr = text_ig(model)
    assert model.batches == [1, 52]  # the pass at the input alone (it measures a point's bytes), the path
    assert max(model.batches) > aw.config.cpu_chunk
    assert attr.trace.alphas[0, 0] == 0 and attr.trace.alphas[0, -1] == 1
    assert attr.trace.weights[0, 0] == 0 and attr.trace.weights[0, -1] == 0  # no GL node: weight 0
    assert attr.trace.evaluations == 52
    assert torch.allclose(attr.baseline_score, attr.trace.scores[:, 0])


def test_cpu_chunk_bytes_zero_gives_every_input_cpu_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)
    model = TinyText()
    text_ig(model)
    assert model.batches == [1, 9, 9, 9, 9, 9, 7]  # 52 points (50 nodes and the ends) in balanced chunks of ten at most


def test_cpu_chunk_stays_the_smallest_chunk_for_other_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Points too large for cpu_chunk_bytes still get cpu_chunk of them (within the memory budget)."""
    monkeypatch.setattr(aw.config, "cpu_chunk", 7)
    assert Budget("8GiB", CPU, 200 * MiB).chunk(100) == 7
    assert Budget("8GiB", CPU, 1 * MiB).chunk(1000) == 250  # 256 points a chunk, balanced


def test_the_bytes_setting_sizes_the_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    model = TinyText()
    ids, mask = sentence()
    explained = Explained(model, ids, layer=model.embedding, forward_kwargs={"attention_mask": mask})
    per_point = first_pass(explained, explained.inputs, 1).per_point
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 23 * per_point)
    model.batches.clear()
    text_ig(model)
    assert max(model.batches) <= 23
    assert max(model.batches) > aw.config.cpu_chunk


@pytest.mark.parametrize("memory_points", [1, 3, 17])
def test_the_memory_budget_bounds_every_chunk_of_a_sentence(memory_points: int) -> None:
    model = TinyText()
    ids, mask = sentence()
    explained = Explained(model, ids, layer=model.embedding, forward_kwargs={"attention_mask": mask})
    per_point = first_pass(explained, explained.inputs, 1).per_point
    model.batches.clear()
    attr = text_ig(model, memory=memory_points * per_point, trace=False)
    assert max(model.batches) <= memory_points
    model.batches.clear()
    free = text_ig(model, trace=False)
    torch.testing.assert_close(attr.values, free.values, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("per_point", [1, 700, 3 * MiB + 5, 95 * MiB, 2**30])
@pytest.mark.parametrize("fixed", [0, 100 * MiB])
def test_budget_chunks_fit_in_memory(per_point: int, fixed: int) -> None:
    memory = 512 * MiB
    for count in (1, 7, 50, 1000, 100_000):
        chunk = Budget(memory, CPU, per_point, fixed).chunk(count)
        assert 1 <= chunk <= max(count, 1)
        if per_point <= memory - fixed:  # else one point at a time (an OOM then raises)
            assert chunk * per_point <= memory - fixed


@pytest.mark.parametrize("per_point", [1, 4 * MiB, 95 * MiB])
def test_accelerator_chunks_ignore_the_cpu_bytes_setting(per_point: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for count in (1, 50, 1000):
        sizes = set()
        for setting in (0, 256 * MiB, 4 * 2**30):
            monkeypatch.setattr(aw.config, "cpu_chunk_bytes", setting)
            sizes.add(Budget("4GiB", CUDA, per_point).chunk(count))
        assert len(sizes) == 1
    assert Budget("64GiB", CUDA, 1).chunk(1000) == 250  # gpu_chunk = 256, balanced


def test_cpu_chunk_bytes_is_checked() -> None:
    config = type(aw.config)()
    config.cpu_chunk_bytes = "64MiB"
    assert config.cpu_chunk_bytes == 64 * MiB
    config.cpu_chunk_bytes = 0
    assert config.cpu_chunk_bytes == 0
    with pytest.raises(ValueError, match="not a size"):
        config.cpu_chunk_bytes = "lots"
    with pytest.raises(TypeError):
        config.cpu_chunk_bytes = True
