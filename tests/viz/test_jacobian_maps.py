"""The views take the categorical Jacobian's maps: scores that are not probabilities (negative after APC, above 1)."""

from __future__ import annotations

import numpy as np
import pytest
from test_viewer import make_structure

import contacts
from contacts.analysis.labels import contact_map
from contacts.viz.explorer import explore
from contacts.viz.pairs import display_range, select_pairs
from contacts.viz.plots import plot_contact_map
from contacts.viz.viewer import show_contacts

SEQUENCE = "ALAGAKALAGLAKALAGAKALAGLAKALAGALAK"  # 34 residues


@pytest.fixture(scope="module")
def case(one_thread):
    s = make_structure(SEQUENCE)
    scores = contacts.Predictor.random("tiny_bert").jacobian_contacts(SEQUENCE)
    assert scores.min() < 0  # negative after APC: not probabilities, what the views must take
    return s, scores


def test_the_explorer_ranks_and_scales_a_jacobian_map(case):
    s, scores = case
    x = explore(s, scores, name="categorical Jacobian")
    meta, _ = x.payload()
    prediction = meta["maps"]["prediction"]
    assert not prediction["prob"] and prediction["label"] == "categorical Jacobian"
    assert tuple(prediction["range"]) == display_range(scores.astype(np.float64), len(s))
    for band in ("all", "long"):
        want = select_pairs(scores, top_k=len(s), range=band)
        got = x.pairs(range=band)
        np.testing.assert_array_equal(got.i, want.i)
        np.testing.assert_array_equal(got.j, want.j)


def test_the_3d_viewer_sizes_jacobian_pairs_by_rank(case):
    s, scores = case
    view = show_contacts(s, scores, js="data:,")
    cylinders = view.contact_cylinders
    assert len(cylinders) == len(s)
    radii = [c["radius"] for c in cylinders]  # best first: ranks give the thickest to the best pair
    assert radii == sorted(radii, reverse=True) and radii[0] > radii[-1]


def test_the_contact_map_figure_scales_a_jacobian_map(case):
    s, scores = case
    fig = plot_contact_map(scores, contact_map(s))
    image = fig.axes[0].images[0]
    assert image.get_clim() == display_range(scores, len(s))
    assert fig.axes[-1].get_ylabel() == "score"  # the colorbar
    assert sum(fig.axes[0].contact_marks.values()) == len(s)
    probabilities = plot_contact_map(np.clip(scores, 0, 1))
    assert probabilities.axes[0].images[0].get_clim() == (0.0, 1.0)
    assert probabilities.axes[-1].get_ylabel() == "contact probability"
