"""Precision at top-k against hand-computed values, and the deliberate differences from fair-esm's notebook."""

import numpy as np
import pytest

from contacts.analysis import metrics
from contacts.analysis.labels import contact_map
from contacts.analysis.metrics import auc, mean_table, precision, precision_table, resolve_length
from contacts.io.structures import load_structure


def toy(n=12):
    """Labels with contacts at (0, 8), (1, 9), (2, 11), (0, 11); everything else known and 0."""
    labels = np.zeros((n, n))
    for i, j in [(0, 8), (1, 9), (2, 11), (0, 11)]:
        labels[i, j] = labels[j, i] = 1
    return labels


def scores(pairs_in_order, n=12):
    """Upper-triangle scores: the listed pairs best first, everything else 0."""
    pred = np.zeros((n, n))
    for rank, (i, j) in enumerate(pairs_in_order):
        pred[i, j] = pred[j, i] = 100 - rank
    return pred


def test_hand_computed_precision():
    labels = toy()
    # ranking: (0,8) hit, (0,6) miss, (1,9) hit, (3,10) miss, (2,11) hit
    pred = scores([(0, 8), (0, 6), (1, 9), (3, 10), (2, 11)])
    assert precision(pred, labels, k=1) == 1.0
    assert precision(pred, labels, k=2) == 0.5
    assert precision(pred, labels, k=3) == pytest.approx(2 / 3)
    assert precision(pred, labels, k=5) == pytest.approx(3 / 5)


def test_separation_bounds_min_inclusive_max_exclusive():
    labels = toy()
    pred = scores([(0, 8), (1, 9), (2, 11), (0, 11)])
    # separations: (0,8)=8, (1,9)=8, (2,11)=9, (0,11)=11
    assert precision(pred, labels, k=1, min_separation=9) == 1.0  # (2,11) first among sep >= 9
    assert precision(pred, labels, k=1, min_separation=6, max_separation=8) == 0.0  # only sep 6,7 left: none in contact
    assert precision(pred, labels, k=2, min_separation=11, max_separation=12) == 1.0  # only (0,11): n_valid = 1


def test_unknown_labels_are_never_ranked_nan_mask_or_negative():
    labels = toy()
    pred = scores([(3, 10), (0, 8)])  # (3,10) is a miss ranked first
    assert precision(pred, labels, k=1) == 0.0
    for unknown in ("nan", "masked", "negative"):
        lab = labels.copy()
        if unknown == "nan":
            lab[3, 10] = np.nan
        elif unknown == "negative":
            lab[3, 10] = -1
        else:
            mask = np.zeros_like(lab, dtype=bool)
            mask[3, 10] = True
            lab = np.ma.MaskedArray(lab, mask)
        assert precision(pred, lab, k=1) == 1.0, unknown


def test_ties_are_broken_in_row_major_order():
    labels = toy()
    pred = np.ones((12, 12))  # all tied: the first pairs in (i, j) order with sep >= 6 are (0,6), (0,7), (0,8)
    assert precision(pred, labels, k=2) == 0.0
    assert precision(pred, labels, k=3) == pytest.approx(1 / 3)
    assert precision(pred, labels, k=3) == precision(pred.copy(), labels.copy(), k=3)


def test_nan_scores_are_never_predicted_and_minus_inf_ranks_last():
    labels = toy()
    pred = scores([(0, 8), (1, 9)])
    pred[pred == 0] = np.nan
    assert precision(pred, labels, k=2) == 1.0
    # k = 5 with 2 predicted pairs: precision over those 2, and the count says so
    assert precision(pred, labels, k=5, return_count=True) == (1.0, 2)
    pred2 = np.full((12, 12), -np.inf)
    pred2[0, 8] = 1.0
    assert precision(pred2, labels, k=1) == 1.0
    # -inf is a (worst) prediction, so it still fills the top k
    assert precision(pred2, labels, k=5, return_count=True)[1] == 5


def test_sparse_top_l5_prediction_scored_at_l_over_the_listed_pairs():
    """An RR file of its best L/5 pairs scored at k = L: the count is reported and
    precision is over the listed pairs, not padded by unlisted pairs in (i, j) order."""
    n = 60
    rng = np.random.default_rng(0)
    labels = (rng.random((n, n)) < 0.15).astype(float)
    labels = np.triu(labels, 1) + np.triu(labels, 1).T
    i, j = np.triu_indices(n, metrics.MIN_SEPARATION)
    listed = rng.choice(np.flatnonzero(labels[i, j] > 0), n // 5, replace=False)  # L/5 true contacts
    sparse = np.full((n, n), np.nan)
    sparse[i[listed], j[listed]] = sparse[j[listed], i[listed]] = rng.random(listed.size)
    value, count = precision(sparse, labels, k=n, return_count=True)
    assert (value, count) == (1.0, n // 5)
    table = precision_table(sparse, labels)
    assert table["all"]["P@L"] == 1.0 and table["all"]["n@L"] == n // 5 and table["all"]["n@L/5"] == n // 5
    # the old rule: unlisted pairs at 0 fill the top L in (i, j) order and the denominator stays L
    dense = np.nan_to_num(sparse, nan=0.0)
    old_value = precision(dense, labels, k=n)
    first_unlisted = [p for p in range(i.size) if p not in set(listed)][: n - n // 5]
    assert old_value == pytest.approx((n // 5 + labels[i[first_unlisted], j[first_unlisted]].sum()) / n)
    assert old_value < 1.0


def test_fewer_valid_pairs_than_k_differs_from_the_notebook():
    """A range with 3 valid pairs and k = 5.

    Here: the 3 valid pairs are ranked and precision is hits / 3.
    fair-esm's notebook keeps the out-of-range pairs in its ranking at -inf and
    divides by k: its top 5 would be the 3 valid pairs then 2 excluded pairs in
    whatever order argsort leaves them, so a true contact outside the range can
    count, and the result is hits / 5.
    """
    labels = toy()
    labels[:, :] = np.where(np.isnan(labels), 0, labels)
    # range sep 11 only: pairs (0,11) contact -- n=12 gives 1 pair of sep 11; use sep 10..11: (0,10),(1,11),(0,11)
    pred = scores([(0, 10), (1, 11), (0, 11)])
    value = precision(pred, labels, k=5, min_separation=10)
    assert value == pytest.approx(1 / 3)  # hits (0,11) among 3 valid pairs
    assert value != pytest.approx(1 / 5)


def test_no_valid_pair_is_nan_and_bad_arguments_are_errors():
    labels = np.full((12, 12), np.nan)
    assert np.isnan(precision(np.zeros((12, 12)), labels, k=3))
    with pytest.raises(ValueError, match="k=0"):
        precision(np.zeros((12, 12)), toy(), k=0)
    with pytest.raises(ValueError, match=r"\(12, 12\).*\(10, 10\)"):
        precision(np.zeros((12, 12)), np.zeros((10, 10)), k=1)
    with pytest.raises(ValueError, match="max_separation=6"):
        precision(np.zeros((12, 12)), toy(), k=1, min_separation=6, max_separation=6)


def test_auc_is_the_mean_precision_over_tenths_of_l():
    n = 20
    labels = np.zeros((n, n))
    hits = [(0, 10), (1, 12), (2, 15), (3, 19)]
    for i, j in hits:
        labels[i, j] = labels[j, i] = 1
    # ranking: hit, miss, hit, miss, hit, miss, hit, then misses
    order = [(0, 10), (0, 6), (1, 12), (0, 7), (2, 15), (0, 8), (3, 19)] + [(5, 11 + t) for t in range(9)] + [(6, 12 + t) for t in range(4)]
    pred = scores(order, n)
    # k = floor(i * 20 / 10) = 2, 4, ..., 20: hits in the top k = 1, 2, 3, 4, 4, 4, 4, 4, 4, 4
    expected = np.mean([1 / 2, 2 / 4, 3 / 6, 4 / 8, 4 / 10, 4 / 12, 4 / 14, 4 / 16, 4 / 18, 4 / 20])
    assert auc(pred, labels) == pytest.approx(expected)


def test_table_uses_floor_of_l_over_d_and_length_options():
    labels = toy()
    labels[11, :] = labels[:, 11] = np.nan  # residue 11 unobserved
    pred = scores([(0, 8), (1, 9), (2, 10), (3, 9), (0, 6), (1, 7)])
    table = precision_table(pred, labels)
    assert set(table) == set(metrics.RANGES)
    # no pair at separation >= 24 in 12 residues takes fewer than k pairs, so the counts are shown
    assert set(table["long"]) == {"P@L", "P@L/2", "P@L/5", "AUC", "n@L", "n@L/2", "n@L/5"}
    assert table["long"]["n@L"] == 0 and table["all"]["n@L"] == precision(pred, labels, k=12, return_count=True)[1]
    assert set(precision_table(pred, labels, counts=False)["long"]) == {"P@L", "P@L/2", "P@L/5", "AUC"}
    # L = 12: k = 12, 6, 2 over 'all' (sep >= 6): top-2 = (0,8) hit, (1,9) hit
    assert table["all"]["P@L/5"] == 1.0
    assert table["all"]["P@L/2"] == precision(pred, labels, k=6)
    assert resolve_length(labels) == 12 and resolve_length(labels, "observed") == 11 and resolve_length(labels, 5) == 5
    assert precision_table(pred, labels, length=5)["all"]["P@L"] == precision(pred, labels, k=5)
    assert np.isnan(table["long"]["P@L"])  # no pair at separation >= 24 in 12 residues


def test_mean_table_is_per_protein_mean_ignoring_nan():
    a = {"long": {"P@L": 0.5}, "short": {"P@L": np.nan}}
    b = {"long": {"P@L": 0.1}, "short": {"P@L": 0.3}}
    mean = mean_table([a, b])
    assert mean["long"]["P@L"] == pytest.approx(0.3) and mean["short"]["P@L"] == pytest.approx(0.3)
    # count entries held by one table only: the mean is over the tables that hold them
    c = {"long": {"P@L": 0.5, "n@L": 4}, "short": {"P@L": 0.1, "n@L": 2}}
    assert mean_table([b, c])["long"] == {"P@L": pytest.approx(0.3), "n@L": 4.0}


def test_dense_prediction_with_enough_pairs_shows_no_counts():
    labels = toy(40)
    pred = np.random.default_rng(1).random((40, 40))
    assert "n@L" not in precision_table(pred, labels)["all"]
    assert precision_table(pred, labels, counts=True)["all"]["n@L"] == 40


def test_perfect_and_inverted_predictors_on_a_real_structure(structures_dir):

    labels = contact_map(load_structure(structures_dir / "1aki.cif"))
    perfect = np.nan_to_num(labels, nan=0.0)
    table = precision_table(perfect, labels)
    i, j = np.triu_indices(len(labels), 24)
    n_long = int(np.nansum(labels[i, j]))
    assert table["long"]["P@L/5"] == 1.0
    assert table["long"]["P@L"] == pytest.approx(min(1.0, n_long / len(labels)))
    assert precision_table(-perfect, labels)["long"]["P@L/5"] < 0.2
