"""Expected Gradients in the compare grid: its quick answer is the start of its full answer (no
draw computed twice), and a panel over several references carries each reference's map, which
average (weighted by draws) to the map Expected Gradients returns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import attrwidgets as aw
from attrwidgets.methods.expected import Run
from attrwidgets.sampling import sample_generator
from attrwidgets.widgets._wire import MAX_UPDATE_BYTES, decode, payload_bytes
from attrwidgets.widgets.compare import compare
from tests.widgets.conftest import TinyCNN

pytestmark = pytest.mark.filterwarnings("ignore:.*completeness gap:UserWarning")


def _rows(model: torch.nn.Module) -> list[int]:
    """Rows of every forward of ``model`` (each point of every chunk, gradient or not)."""
    seen: list[int] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(int(args[0].shape[0])))
    return seen


@pytest.fixture
def refs() -> torch.Tensor:
    return torch.rand(5, 3, 20, 24, generator=torch.Generator().manual_seed(2))


def _slow_per_reference(model, x, target, refs, samples, seed):
    """Per reference drawn: the mean over its draws j of (x − x'_j) ∂F(x'_j + α_j (x − x'_j)), channel sum,
    from the definition (one autograd call per draw, the draws as expected_gradients documents them)."""
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    for j in range(samples):
        generator = sample_generator(seed, j)
        r = int(torch.randint(len(refs), (1,), generator=generator))
        a = float(torch.rand((), generator=generator, dtype=torch.float64))
        point = (refs[r : r + 1] + a * (x - refs[r : r + 1])).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[0, target], point)
        contrib = ((x - refs[r : r + 1]) * grad)[0].sum(0)
        sums[r] = sums.get(r, 0) + contrib
        counts[r] = counts.get(r, 0) + 1
    order = sorted(sums)
    return order, [counts[r] for r in order], torch.stack([sums[r] / counts[r] for r in order])


def test_a_run_resumed_is_expected_gradients_with_as_many_samples(model, image, refs):
    x = image[None]
    run = Run(model, x, 1, references=refs, samples=9, seed=3)
    quick = run.advance(4)
    direct4 = aw.expected_gradients(model, x, 1, references=refs, samples=4, seed=3)
    torch.testing.assert_close(quick.values, direct4.values, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(quick.delta, direct4.delta, rtol=1e-4, atol=1e-7)
    assert quick.params["samples"] == 4
    full = run.advance(9)
    direct9 = aw.expected_gradients(model, x, 1, references=refs, samples=9, seed=3)
    torch.testing.assert_close(full.values, direct9.values, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(full.baseline_score, direct9.baseline_score)
    for name, curve in direct9.convergence.items():
        torch.testing.assert_close(full.convergence[name], curve, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(full.trace.cumulative_maps.float(), direct9.trace.cumulative_maps.float(),
                               rtol=1e-3, atol=1e-4)  # fmt: skip
    assert full.trace.evaluations == 9
    with pytest.raises(ValueError, match="advance"):
        run.advance(9)


def test_a_resumed_run_computes_no_draw_twice(image, refs):
    x = image[None]
    torch.manual_seed(0)
    once, twice = TinyCNN().eval(), TinyCNN().eval()
    twice.load_state_dict(once.state_dict())
    rows_once, rows_twice = _rows(once), _rows(twice)
    aw.expected_gradients(once, x, 1, references=refs, samples=9, seed=3)
    run = Run(twice, x, 1, references=refs, samples=9, seed=3)
    run.advance(4)
    run.advance(9)
    assert sum(rows_twice) == sum(rows_once), (rows_twice, rows_once)


def test_per_reference_maps_follow_the_definition_and_average_to_the_map(model, image, refs):
    x = image[None]
    run = Run(model, x, 2, references=refs, samples=12, seed=5)
    attribution = run.advance(12)
    index, counts, maps = run.per_reference()
    order, slow_counts, slow = _slow_per_reference(model, x, 2, refs, 12, 5)
    assert index.tolist() == order
    assert counts.tolist() == slow_counts
    assert int(counts.sum()) == 12
    torch.testing.assert_close(maps[0], slow, rtol=1e-4, atol=1e-6)
    mean = (counts.view(-1, 1, 1).to(maps) * maps[0]).sum(0) / 12
    torch.testing.assert_close(mean, attribution.values[0].sum(0), rtol=1e-4, atol=1e-6)


def test_the_grid_sends_each_references_map_on_its_scale(model, image, refs, tmp_path):
    w = compare(model, image, references=refs, methods=["expected_gradients"],
                baselines=["black", "references", "uniform"], samples=8, sync=True)  # fmt: skip
    try:
        by_col = {p["col"]: p for p in w.result["panels"]}
        assert "references" not in by_col[0], "one baseline: nothing to split"
        for col in (1, 2):
            panel = by_col[col]
            sent = panel["references"]
            maps = decode(sent["maps"]).astype(np.float64)
            assert 1 < len(sent["index"]) == maps.shape[0] <= 8
            assert sum(sent["count"]) == sent["draws"] == 8
            assert decode(sent["pictures"]).shape == (*maps.shape, 3), "20 × 24: no room needed"
            # the same unit as the panels: their draw-weighted mean is the panel's map
            mean = np.tensordot(np.array(sent["count"], dtype=np.float64), maps, axes=1) / sent["draws"]
            np.testing.assert_allclose(mean, decode(panel["map"]).astype(np.float64), atol=2e-3)
        picked = w._grid.per_reference[(0, 1)]
        assert picked["index"] == by_col[1]["references"]["index"]
        npz = w.save_npz(tmp_path / "grid.npz")
        with np.load(npz) as data:
            panels = {(p["row"], p["col"]): p for p in json.loads(str(data["panels"]))}
            assert panels[(0, 1)]["references"]["index"] == picked["index"]
            full = data["references_r0_c1"]
            assert full.shape == (len(picked["index"]), 20, 24)
            values = w.attributions[(0, 1)].values[0].sum(0).numpy()
            weights = np.array(picked["count"], dtype=np.float64)
            np.testing.assert_allclose(np.tensordot(weights, full, axes=1) / weights.sum(), values, rtol=1e-4,
                                       atol=1e-6)  # fmt: skip
            assert "references_r0_c0" not in data
        page = w.save_html(tmp_path / "grid.html").read_text(encoding="utf-8")
        assert '"references"' in page
    finally:
        w.close()


def test_a_224_grid_with_every_references_map_stays_under_2_mib():
    torch.manual_seed(0)  # a cheap model: what is measured is the payload, at an ImageNet size
    cheap = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(3 * 28 * 28, 6)).eval()
    big = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(3))
    train = torch.rand(40, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    w = compare(cheap, big, references=train, steps=9, samples=16, sync=True)  # 7 × 2, three split columns
    try:
        result = w.result
        assert result["done"] == 14
        split = [p for p in result["panels"] if "references" in p]
        assert {p["baseline"] for p in split} == {"uniform", "gaussian", "references"}
        assert all(len(p["references"]["index"]) > 8 for p in split)
        assert payload_bytes(result) <= MAX_UPDATE_BYTES, payload_bytes(result)
        h, wd = result["size"]
        assert h * wd >= 185 * 185, "the final maps keep their room: the α frames give it"
        rh, rw = decode(split[0]["references"]["maps"]).shape[1:]
        assert rh * rw >= 40 * 40
        assert decode(split[0]["references"]["pictures"]).shape[1:] == (32, 32, 3)
    finally:
        w.close()


def test_the_progressive_grid_computes_each_draw_once(image, refs):
    torch.manual_seed(0)
    quick, once = TinyCNN().eval(), TinyCNN().eval()
    once.load_state_dict(quick.state_dict())
    rows_quick, rows_once = _rows(quick), _rows(once)
    options = {"references": refs, "methods": ["expected_gradients"], "baselines": ["black", "references"],
               "samples": 9}  # fmt: skip
    w = compare(quick, image, dispatch=lambda callback: None, **options)
    levels = []
    w.observe(lambda c: levels.append([p["level"] for p in c.new["panels"]]), names="result")
    assert w.wait(60)
    assert levels[1] == ["coarse", "coarse"], "both quick answers shown first"
    assert levels[-1] == ["full", "full"]
    w.close()
    s = compare(once, image, sync=True, **options)  # each panel once, at full level
    s.close()
    assert sum(rows_quick) == sum(rows_once), "the refined panels keep the quick answers' draws"
