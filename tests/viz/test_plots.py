"""contacts.plots: contact map with hits and misses, precision against k; the shared style."""

from __future__ import annotations

import numpy as np
import pytest

from contacts.analysis import metrics
from contacts.viz.pairs import PAIR_COLORS
from contacts.viz.plots import PROB_CMAP, SCORE_CMAP, plot_contact_map, plot_precision


def labelled(n: int = 50, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.triu((rng.random((n, n)) < 0.15).astype(float), 1)
    labels = labels + labels.T
    labels[7, :] = labels[:, 7] = np.nan  # a residue without coordinates
    pred = np.clip(0.2 * np.nan_to_num(labels) + 0.8 * rng.random((n, n)), 0, 1)
    return (pred + pred.T) / 2, labels


def test_contact_map_returns_a_figure_with_the_top_l_marked():
    from matplotlib.figure import Figure

    pred, labels = labelled()
    pred[7, 30:] = pred[30:, 7] = 0.99  # the residue without coordinates scores high: unknown marks
    fig = plot_contact_map(pred, labels, title="x")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    marks = ax.contact_marks
    n = len(pred)
    assert sum(marks.values()) == n
    # hits among the known top-L agree with the metric (unknown pairs are not ranked there)
    known = marks["hit"] + marks["miss"]
    assert min(marks.values()) > 0
    top_known = metrics.precision(pred, labels, k=known)
    assert marks["hit"] / known == pytest.approx(top_known)
    colors = {tuple(np.round(c.get_edgecolor()[0][:3], 3)) for c in ax.collections}
    from matplotlib.colors import to_rgb

    assert colors == {tuple(np.round(to_rgb(PAIR_COLORS[k]), 3)) for k in ("hit", "miss", "unknown")}
    assert ax.images[0].get_cmap().name == PROB_CMAP


def test_contact_map_without_labels_and_with_nan_predictions():
    pred, _ = labelled(30)
    pred[np.triu_indices(30, 20)] = np.nan  # windows did not cover far pairs
    fig = plot_contact_map(pred)
    assert fig.axes[0].contact_marks == {"hit": 0, "miss": 0, "unknown": 0}
    # predictions above the diagonal only; NaN stays blank
    data = fig.axes[0].images[0].get_array()
    assert np.ma.getmaskarray(data)[0, 25] or np.isnan(data[0, 25])


def test_contact_map_top_k_and_bands_options():
    pred, labels = labelled(40)
    ax_marks = plot_contact_map(pred, labels, top_k=5).axes[0].contact_marks
    assert sum(ax_marks.values()) == 5
    with_bands = plot_contact_map(pred, labels, top_k=0)
    without = plot_contact_map(pred, labels, top_k=0, bands=False)
    assert len(with_bands.axes[0].images) == len(without.axes[0].images) + 1


def test_contact_map_legend_names_the_range_bands():
    pred, labels = labelled(40)
    texts = [t.get_text() for t in plot_contact_map(pred).axes[0].get_legend().get_texts()]
    assert texts == ["|i-j| < 6: not scored", "short 6-11", "medium 12-23", "long 24+"]
    marked = [t.get_text() for t in plot_contact_map(pred, labels, top_k=5).axes[0].get_legend().get_texts()]
    assert marked[-4:] == texts and all(t.startswith("top-5 ") for t in marked[:-4])
    assert plot_contact_map(pred, bands=False).axes[0].get_legend() is None


def test_contact_map_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        plot_contact_map(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(4, 4\)"):
        plot_contact_map(np.zeros((4, 4)), np.zeros((3, 3)))


def test_contact_map_draws_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    pred, labels = labelled(20)
    assert plot_contact_map(pred, labels, ax=ax) is fig


def test_precision_lines_are_the_metric_at_each_k():
    pred, labels = labelled(60, seed=2)
    other = np.random.default_rng(5).random(pred.shape)
    fig = plot_precision({"model": pred, "random": other}, labels, points=12)
    assert len(fig.axes) == 3
    for ax, name in zip(fig.axes, ("short", "medium", "long")):
        lo, hi = metrics.RANGES[name]
        model_line, random_line = ax.get_lines()[:2]
        ks = model_line.get_xdata()
        assert ks[0] == 1 and ks[-1] == 60 and len(ks) <= 12
        expected = [metrics.precision(pred, labels, k=int(k), min_separation=lo, max_separation=hi) for k in ks]
        np.testing.assert_allclose(model_line.get_ydata(), expected)
        assert model_line.get_label() == "model" and random_line.get_label() == "random"
        assert name in ax.get_title()


def test_precision_single_prediction_and_errors():
    pred, labels = labelled(30)
    fig = plot_precision(pred, labels, ranges=("long",), max_k=10)
    assert len(fig.axes) == 1 and fig.axes[0].get_lines()[0].get_xdata()[-1] == 10
    with pytest.raises(ValueError, match="'far'"):
        plot_precision(pred, labels, ranges=("far",))
    with pytest.raises(ValueError, match="max_k=0"):
        plot_precision(pred, labels, max_k=0)
    with pytest.raises(ValueError, match=r"pred\['b'\]"):
        plot_precision({"b": pred[:5, :5]}, labels)


def test_head_heatmap_uses_the_package_style():
    from probes.heads import plot_heads

    ax = plot_heads(np.random.default_rng(0).random((6, 4)))
    assert ax.images[0].get_cmap().name == SCORE_CMAP
    assert ax.figure.get_layout_engine() is not None  # constrained, like every figure here
