"""contacts.analysis.heads: each head's P@L equals metrics.precision on its corrected map."""

import numpy as np
import pytest
import torch

from contacts.analysis.heads import HEAD_RANGES, corrected_maps, head_precision, range_pairs
from contacts.analysis.metrics import precision
from contacts.features import apc, symmetrize


def _labels(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n)) < 0.15).astype(np.float64)
    labels = np.triu(labels, 1) + np.triu(labels, 1).T
    labels[rng.random((n, n)) < 0.05] = np.nan  # some pairs unknown
    labels[3, :] = labels[:, 3] = np.nan      # a residue without atoms
    return labels


def test_head_precision_is_metrics_precision_of_each_corrected_map():
    n, heads = 60, 5
    rng = np.random.default_rng(1)
    raw = torch.as_tensor(rng.random((heads, n, n)), dtype=torch.float32).softmax(-1)
    labels = _labels(n)
    corrected = corrected_maps(raw)
    torch.testing.assert_close(corrected, apc(symmetrize(raw)))
    got = head_precision(corrected, range_pairs(labels))
    assert set(got) == set(HEAD_RANGES)
    for name, (lo, hi) in HEAD_RANGES.items():
        want = [precision(corrected[h].double().numpy(), labels, k=n, min_separation=lo, max_separation=hi)
                for h in range(heads)]
        np.testing.assert_allclose(got[name], want, err_msg=name)
    # k below L, and a range with fewer labelled pairs than k: precision over those
    few = head_precision(corrected, range_pairs(labels, {"far": (n - 4, None)}), k=50)["far"]
    want = [precision(corrected[h].double().numpy(), labels, k=50, min_separation=n - 4) for h in range(heads)]
    np.testing.assert_allclose(few, want)


def test_a_range_without_labelled_pairs_is_nan_and_labels_must_be_square():
    labels = np.full((30, 30), np.nan)
    got = head_precision(corrected_maps(torch.rand(2, 30, 30)), range_pairs(labels))
    assert all(np.isnan(v).all() and v.shape == (2,) for v in got.values())
    with pytest.raises(ValueError, match=r"square .* shape \(30, 29\)"):
        range_pairs(np.zeros((30, 29)))
