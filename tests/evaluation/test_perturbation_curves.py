"""Pixel perturbation, deletion and insertion: known answers on a model whose output is one pixel."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import attrwidgets as aw
from attrwidgets.evaluate import Curve, deletion, insertion, pixel_perturbation
from tests.probes import Recorder, leaves_no_trace, make_cnn

ROW, COL, W, B = 2, 3, 2.0, 1.0  # F(x) = 2 · x[channel, 2, 3] + 1
FRACTIONS = [i / 16 for i in range(17)]  # one more pixel of the 16 at each step


class OnePixel(nn.Module):
    """A one-output model that reads one known pixel of one channel: F(x) = W · x[:, c, 2, 3] + B."""

    def __init__(self, channel: int = 0) -> None:
        super().__init__()
        self.channel = channel
        self.scale = nn.Parameter(torch.tensor(W, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.scale * x[:, self.channel, ROW, COL] + B).unsqueeze(1)


@pytest.fixture
def x() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return 0.5 + 0.5 * torch.rand(8, 1, 4, 4, generator=generator, dtype=torch.float64)


def first_map(n: int = 8, channels: int = 1) -> torch.Tensor:
    """Ranks the known pixel first: 1 there, 0 elsewhere (the ties are broken at random)."""
    m = torch.zeros(n, channels, 4, 4, dtype=torch.float64)
    m[:, :, ROW, COL] = 1.0
    return m


def last_map(n: int = 8) -> torch.Tensor:
    """Ranks the known pixel last: every other pixel is more salient."""
    return 1.0 - first_map(n)


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_deletion_removing_the_pixel_first_drops_to_the_baseline_score(x):
    curve = deletion(OnePixel(), x, first_map(), fractions=FRACTIONS, progress=False)
    fx = W * x[:, 0, ROW, COL] + B
    assert isinstance(curve, Curve) and curve.test == "deletion" and curve.measure == "probabilities"
    torch.testing.assert_close(curve.initial, fx)
    torch.testing.assert_close(curve.scores[:, 0], fx)
    torch.testing.assert_close(curve.scores[:, 1:], torch.full((8, 16), B, dtype=torch.float64))  # F(black) = B
    torch.testing.assert_close(curve.change[:, 1:], ((fx - B).abs() / fx).unsqueeze(1).expand(8, 16))


def test_deletion_of_a_map_ranking_the_pixel_last_keeps_the_score_until_the_end(x):
    curve = deletion(OnePixel(), x, last_map(), fractions=FRACTIONS, progress=False)
    fx = W * x[:, 0, ROW, COL] + B
    torch.testing.assert_close(curve.scores[:, :-1], fx.unsqueeze(1).expand(8, 16))
    torch.testing.assert_close(curve.scores[:, -1], torch.full((8,), B, dtype=torch.float64))


def test_random_map_lies_between_the_best_and_the_worst(x):
    best = deletion(OnePixel(), x, first_map(), fractions=FRACTIONS, progress=False)
    worst = deletion(OnePixel(), x, last_map(), fractions=FRACTIONS, progress=False)
    rand = deletion(OnePixel(), x, "random", fractions=FRACTIONS, seed=5, progress=False)
    assert rand.method == "random"
    assert bool((best.auc <= rand.auc + 1e-12).all()) and bool((rand.auc <= worst.auc + 1e-12).all())
    assert best.mean_auc < rand.mean_auc < worst.mean_auc
    # the pixel's place in a random ranking is uniform: the score falls to B at a step in 1..16
    steps = (rand.scores == B).int().argmax(dim=1)
    assert bool(((steps >= 1) & (steps <= 16)).all()) and len(set(steps.tolist())) > 1


def test_deletion_auc_against_a_hand_computed_trapezoid(x):
    curve = deletion(OnePixel(), x, first_map(), fractions=FRACTIONS, progress=False)
    h = 1 / 16
    for i in range(8):
        p0, p1 = sigmoid(W * float(x[i, 0, ROW, COL]) + B), sigmoid(B)
        assert float(curve.auc[i]) == pytest.approx(h * (p0 / 2 + 15 * p1 + p1 / 2), rel=1e-12)
        # and the area under the logits: h · (F(x)/2 + 15.5 · B)
        fx = W * float(x[i, 0, ROW, COL]) + B
        assert float(curve.area("scores")[i]) == pytest.approx(h * (fx / 2 + 15.5 * B), rel=1e-12)


def test_pixel_perturbation_fullgrad_protocol_hand_computed(x):
    """Defaults: the least salient 0.1, 1, 3, 5, 10 % become black; 16 pixels → 0, 0, 0, 1, 2 removed."""
    fx = W * x[:, 0, ROW, COL] + B
    good = pixel_perturbation(OnePixel(), x, first_map(), progress=False)
    assert good.fractions.tolist() == [0.001, 0.01, 0.03, 0.05, 0.1]
    assert good.measure == "change" and good.params["order"] == "least" and good.params["replace"] == "black"
    torch.testing.assert_close(good.change, torch.zeros(8, 5, dtype=torch.float64))
    assert good.auc.abs().max() == 0
    bad = pixel_perturbation(OnePixel(), x, last_map(), progress=False)  # the needed pixel goes first
    c = (fx - B).abs() / fx
    torch.testing.assert_close(bad.change, torch.stack([0 * c, 0 * c, 0 * c, c, c], dim=1))
    torch.testing.assert_close(bad.auc, c * ((0.05 - 0.03) / 2 + (0.1 - 0.05)))


def test_pixel_perturbation_most_first_equals_deletion_scores(x):
    a = pixel_perturbation(OnePixel(), x, first_map(), FRACTIONS, order="most", progress=False)
    b = deletion(OnePixel(), x, first_map(), FRACTIONS, progress=False)
    torch.testing.assert_close(a.scores, b.scores)
    torch.testing.assert_close(a.auc, _trapezoid(a.change, a.fractions))


def _trapezoid(y, x):
    return torch.trapezoid(y, x, dim=1)


def test_insertion_from_black_recovers_the_score_at_the_first_step(x):
    curve = insertion(OnePixel(), x, first_map(), FRACTIONS, replace="black", progress=False)
    fx = W * x[:, 0, ROW, COL] + B
    torch.testing.assert_close(curve.scores[:, 0], torch.full((8,), B, dtype=torch.float64))
    torch.testing.assert_close(curve.scores[:, 1:], fx.unsqueeze(1).expand(8, 16))
    worse = insertion(OnePixel(), x, last_map(), FRACTIONS, replace="black", progress=False)
    assert bool((curve.auc > worse.auc).all())  # higher is better for insertion


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ("black", lambda x: torch.zeros(len(x), dtype=x.dtype)),
        ("mean", lambda x: x.mean(dim=(1, 2, 3))),
        (0.25, lambda x: torch.full((len(x),), 0.25, dtype=x.dtype)),
        ("blur", lambda x: aw.baselines.gaussian_blur(x, 10.0)[:, 0, ROW, COL]),
    ],
)
def test_replacements(x, replace, expected):
    curve = deletion(OnePixel(), x, first_map(), [0.0, 1 / 16], replace=replace, progress=False)
    torch.testing.assert_close(curve.scores[:, 1], W * expected(x) + B)


def test_a_removed_pixel_loses_every_channel():
    generator = torch.Generator().manual_seed(0)
    x = 0.5 + torch.rand(4, 3, 4, 4, generator=generator, dtype=torch.float64)
    model = OnePixel(channel=2)
    curve = deletion(model, x, first_map(4, channels=3), [0.0, 1 / 16], progress=False)
    torch.testing.assert_close(curve.scores[:, 1], torch.full((4,), B, dtype=torch.float64))
    one_channel_map = first_map(4, channels=1)  # a one-channel map (Grad-CAM's shape) ranks pixels too
    again = deletion(model, x, one_channel_map, [0.0, 1 / 16], progress=False)
    torch.testing.assert_close(again.scores, curve.scores)
    reduced = first_map(4)[:, 0]  # and so does an already reduced (N, H, W) map
    torch.testing.assert_close(deletion(model, x, reduced, [0.0, 1 / 16], progress=False).scores, curve.scores)


def test_method_name_attribution_and_options_agree(x):
    by_name = deletion(OnePixel(), x, "gradient", FRACTIONS, progress=False)
    attr = aw.gradient(OnePixel(), x)
    by_attr = deletion(OnePixel(), x, attr, FRACTIONS, progress=False)
    assert by_name.method == by_attr.method == "gradient"
    torch.testing.assert_close(by_name.scores, by_attr.scores)
    torch.testing.assert_close(by_name.scores[:, 1:], torch.full((8, 16), B, dtype=torch.float64))
    ig = deletion(OnePixel(), x, "integrated_gradients", FRACTIONS, options={"steps": 4}, progress=False)
    torch.testing.assert_close(ig.scores, by_name.scores)


def test_targets_default_to_the_attributions_and_change_nothing():
    model = make_cnn()
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(3, 3, 12, 12, generator=generator, dtype=torch.float64)
    attr = aw.gradient(model, x, target=[1, 2, 3])
    with leaves_no_trace(model, x):
        curve = deletion(model, x, attr, progress=False)
    assert curve.target.tolist() == [1, 2, 3]
    assert curve.scores.shape == (3, 21) and curve.probabilities.shape == (3, 21)
    assert bool(((curve.probabilities >= 0) & (curve.probabilities <= 1)).all())
    with torch.no_grad():
        torch.testing.assert_close(curve.initial, model(x)[torch.arange(3), attr.target])
    cam = deletion(model, x, "grad_cam", target=0, progress=False)  # (N, 1, H, W) maps on 3-channel inputs
    assert cam.target.tolist() == [0, 0, 0]


def test_perturbed_copies_go_through_the_engine_in_chunks(x, monkeypatch):
    monkeypatch.setattr(aw.config, "cpu_chunk_bytes", 0)  # cpu_chunk points a chunk, whatever a point costs
    recorder = Recorder(OnePixel())
    curve = deletion(recorder, x, first_map(), FRACTIONS, progress=False)
    assert sum(recorder.batches) == 8 + 8 * 17  # the inputs once, then every copy once
    assert max(recorder.batches) <= aw.config.cpu_chunk
    tight = deletion(OnePixel(), x, first_map(), FRACTIONS, memory=4096, progress=False)
    torch.testing.assert_close(tight.scores, curve.scores)


def test_random_map_is_seeded_and_per_input(x):
    a = deletion(OnePixel(), x, "random", FRACTIONS, seed=11, progress=False)
    b = deletion(OnePixel(), x, "random", FRACTIONS, seed=11, progress=False)
    torch.testing.assert_close(a.scores, b.scores)
    alone = deletion(OnePixel(), x[:1], "random", FRACTIONS, seed=11, progress=False)
    torch.testing.assert_close(alone.scores[0], a.scores[0])  # the first input's draw ignores the rest


def test_progress_callback(x):
    seen = []
    deletion(OnePixel(), x, first_map(), FRACTIONS, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (8 * 17, 8 * 17)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"fractions": [0.5, 0.1]}, ValueError, "increasing"),
        ({"fractions": [1.5]}, ValueError, "[0, 1]"),
        ({"fractions": []}, ValueError, "non-empty"),
        ({"replace": "grey"}, ValueError, "black"),
        ({"replace": torch.zeros(2, 2, 2)}, ValueError, "broadcast"),
        ({"attribution": torch.zeros(8, 5, 5)}, ValueError, "reduced shape"),
        ({"attribution": "no_such_method"}, ValueError, "registered"),
        ({"attribution": 3}, TypeError, "Attribution"),
        ({"order": "middle"}, ValueError, "least"),
        ({"progress": "yes"}, TypeError, "progress"),
    ],
)
def test_errors(x, kwargs, error, words):
    args = {"attribution": first_map(), **kwargs}
    fn = pixel_perturbation
    with pytest.raises(error, match=None) as info:
        fn(OnePixel(), x, **args)
    assert words in str(info.value)
