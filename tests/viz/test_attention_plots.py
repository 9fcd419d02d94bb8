"""Attention-analysis figures: Figures from plain arrays, the background marked, bad shapes refused."""

from __future__ import annotations

import numpy as np
import pytest

from contacts.viz.attention import plot_blosum, plot_layer_share, plot_probing, plot_property_heads

matplotlib = pytest.importorskip("matplotlib")


def test_heatmap_centres_the_colour_scale_on_the_background():
    from matplotlib.figure import Figure

    p = np.random.default_rng(0).random((6, 4))
    p[2, 1] = np.nan
    attended = np.full((6, 4), 500.0)
    attended[0, 0] = 3  # too few confident weights: drawn grey
    fig = plot_property_heads(p, 0.25, name="helix", attended=attended, min_attended=100)
    assert isinstance(fig, Figure)
    image = fig.axes[0].get_images()[0]
    assert image.norm.vcenter == pytest.approx(0.25)
    data = image.get_array()
    assert data.mask[0, 0] and data.mask[2, 1] and not data.mask[1, 1]
    colorbar = fig.axes[1]
    assert any(np.allclose(line.get_ydata(), 0.25) for line in colorbar.get_lines())
    with pytest.raises(ValueError, match=r"\(layers, heads\)"):
        plot_property_heads(np.zeros(5), 0.1)


def test_layer_share_probing_and_blosum_figures():
    from matplotlib.figure import Figure

    share = np.array([0.1, 0.2, 0.3, 0.4])
    fig = plot_layer_share(share, name="contact")
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    np.testing.assert_allclose(heights, share)
    fig = plot_probing({"secondary_structure": ([1, 2, 3], [0.5, 0.6, 0.7], 0.4), "contact": ([1, 3], [0.1, 0.2], 0.05)})
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) == 4
    rng = np.random.default_rng(1)
    sim = rng.random((20, 20))
    fig = plot_blosum(sim, rng.integers(-4, 5, (20, 20)), letters=list("ARNDCQEGHILKMFPSTWYV"), correlation=0.3)
    assert len(fig.axes[0].collections[0].get_offsets()) == 190
    with pytest.raises(ValueError, match="same square shape"):
        plot_blosum(sim, np.zeros((19, 19)))
