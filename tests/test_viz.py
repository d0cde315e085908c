"""Static rendering: figures are written, readable, symmetric for signed maps, and safe on zero maps."""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from attrwidgets import viz
from attrwidgets.attribution import Attribution, Trace
from attrwidgets.demo import figures

H = W = 24


def _image(n: int = 2) -> torch.Tensor:
    """A smooth colour gradient with a bright square, (n, 3, H, W) in [0, 1]."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    img = torch.stack([xs, ys, 1 - xs])
    img[:, 8:16, 8:16] = 1.0
    return img.expand(n, 3, H, W).clone()


def _attribution(values: torch.Tensor, *, delta: float = 0.01, method: str = "integrated_gradients") -> Attribution:
    n = values.shape[0]
    return Attribution(
        values=values,
        target=torch.arange(n),
        method=method,
        score=torch.full((n,), 2.0),
        baseline_score=torch.full((n,), 0.5),
        delta=torch.full((n,), delta),
    )


@pytest.fixture
def signed() -> Attribution:
    """Signed values, mostly positive, so a symmetric scale is not what min/max would give."""
    g = torch.Generator().manual_seed(0x1A7)
    values = torch.randn(2, 3, H, W, generator=g, dtype=torch.float64) + 0.8
    values[:, :, 8:16, 8:16] += 3.0
    return _attribution(values)


@pytest.fixture
def trace() -> Trace:
    """A saturating path: F(α) = 2 − 1.5·exp(−6α) from 0.5 to ≈2, on Gauss–Legendre points."""
    nodes, weights = np.polynomial.legendre.leggauss(16)
    alphas = torch.tensor((nodes + 1) / 2).expand(2, 16)
    w = torch.tensor(weights / 2).expand(2, 16)
    scores = 2.0 - 1.5 * torch.exp(-6 * alphas)
    derivative = 9.0 * torch.exp(-6 * alphas)
    return Trace(alphas=alphas, weights=w, scores=scores, grad_mean_abs=0.1 * derivative, path_derivative=derivative)


def _assert_png_not_blank(path) -> None:
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert np.isfinite(pixels).all()
    assert pixels[..., :3].var() > 1e-3


def _heat_image(fig: Figure):
    return fig.axes[0].images[-1]


def test_show_signed_scale_is_symmetric(signed):
    fig = viz.show(signed)
    vmin, vmax = _heat_image(fig).get_clim()
    expected = np.percentile(signed.heatmap("sum")[0].abs().numpy(), 99.0)
    assert vmax == pytest.approx(expected)
    assert vmin == -vmax
    assert _heat_image(fig).get_cmap().name == viz.SIGNED_CMAP


@pytest.mark.parametrize("reduce", ["abs_sum", "l2"])
def test_show_magnitude_scale_starts_at_zero(signed, reduce):
    fig = viz.show(signed, reduce=reduce, clip=90.0)
    vmin, vmax = _heat_image(fig).get_clim()
    assert vmin == 0.0
    assert vmax == pytest.approx(np.percentile(signed.heatmap(reduce)[0].numpy(), 90.0))
    assert _heat_image(fig).get_cmap().name == viz.MAGNITUDE_CMAP


@pytest.mark.parametrize("form", ["chw", "nchw", "hwc_numpy"])
def test_show_overlay_writes_a_readable_png(signed, tmp_path, form):
    image = {"chw": _image()[1], "nchw": _image(), "hwc_numpy": _image()[1].permute(1, 2, 0).numpy()}[form]
    fig = viz.show(signed, image, index=1, title="overlay")
    assert fig.axes[0].get_title() == "overlay"
    assert len(fig.axes[0].images) == 2  # the image, then the heatmap
    fig.savefig(tmp_path / "show.png")
    _assert_png_not_blank(tmp_path / "show.png")


def test_show_zero_map(tmp_path):
    zero = _attribution(torch.zeros(1, 3, H, W), delta=0.0)
    fig = viz.show(zero, _image(1))
    vmin, vmax = _heat_image(fig).get_clim()
    assert (vmin, vmax) == (-1.0, 1.0)
    fig.savefig(tmp_path / "zero.png")
    assert np.isfinite(mpimg.imread(tmp_path / "zero.png")).all()
    assert viz.show(zero, reduce="l2").axes[0].images[-1].get_clim() == (0.0, 1.0)


def test_show_into_given_axes(signed):
    fig = Figure()
    ax = fig.add_subplot()
    assert viz.show(signed, ax=ax) is fig
    assert len(fig.axes) == 2  # the axes and its colour bar


def test_show_rejects_what_it_cannot_draw(signed):
    with pytest.raises(ValueError, match="reduce"):
        viz.show(signed, reduce="none")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        viz.show(_attribution(torch.ones(2, 5)))
    with pytest.raises(ValueError, match="24×24"):
        viz.show(signed, torch.rand(3, 10, 10))


def test_attribution_show_delegates(signed):
    fig = signed.show(_image(), index=1, reduce="abs_sum")
    assert isinstance(fig, Figure)
    assert _heat_image(fig).get_clim()[0] == 0.0


def test_no_pyplot_figures_left_open(signed, trace, tmp_path):
    before = plt.get_fignums()
    viz.show(signed, _image())
    figures.figure_saturation(trace, tmp_path / "s.png")
    assert plt.get_fignums() == before


@pytest.mark.parametrize("batch", [1, 2])
def test_figure_gradient_vs_ig(signed, tmp_path, batch):
    ig = _attribution(signed.values[:batch])
    grad = Attribution(values=ig.values * 0.1, target=ig.target, method="gradient")
    path = figures.figure_gradient_vs_ig(_image(batch), grad, ig, tmp_path / "g_vs_ig.png", label="square")
    assert path == tmp_path / "g_vs_ig.png"
    _assert_png_not_blank(path)


def test_figure_saturation(trace, tmp_path):
    path = figures.figure_saturation(trace, tmp_path / "saturation.png", index=1, label="square")
    _assert_png_not_blank(path)


def test_figure_completeness(trace, tmp_path):
    # the trace's integral of dF/dα over [0, 1] is F(1) − F(0) = 1.5·(1 − e⁻⁶)
    span = 1.5 * (1 - np.exp(-6))
    assert float(trace.cumulative[0, -1]) == pytest.approx(span, rel=1e-9)
    path = figures.figure_completeness(trace, torch.tensor([0.5 + span] * 2), 0.5, tmp_path / "completeness.png")
    _assert_png_not_blank(path)


def test_figure_baseline_grid(signed, tmp_path):
    image = _image()
    results = {
        "black": (torch.zeros(1, 3, H, W), signed),
        "white": (torch.ones(3, 1, 1), _attribution(-signed.values, delta=-0.2)),
        "noise": (torch.rand(3, H, W, generator=torch.Generator().manual_seed(7)) * 1.4 - 0.2, signed),
        "zero map": (image.mean(dim=1, keepdim=True), _attribution(torch.zeros(2, 3, H, W), delta=0.0)),
    }
    path = figures.figure_baseline_grid(image, results, tmp_path / "baselines.png", label="square")
    _assert_png_not_blank(path)
    signed_path = figures.figure_baseline_grid(image, results, tmp_path / "baselines_signed.png", reduce="sum")
    _assert_png_not_blank(signed_path)
    with pytest.raises(ValueError, match="empty"):
        figures.figure_baseline_grid(image, {}, tmp_path / "none.png")
    with pytest.raises(ValueError, match="broadcast"):
        figures.figure_baseline_grid(image, {"bad": (torch.zeros(3, 5, 5), signed)}, tmp_path / "bad.png")


def test_non_negative_map_is_drawn_as_a_magnitude() -> None:
    import torch

    from attrwidgets.attribution import Attribution

    values = torch.rand(1, 1, 8, 8)
    fig = Attribution(values=values, target=torch.tensor([0]), method="grad_cam").show()
    low, high = fig.axes[0].images[-1].get_clim()
    assert low == 0.0 and high > 0
