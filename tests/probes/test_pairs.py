"""Pair features and labels: the same numbers as the contact head sees, streamed per protein."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from doubles import Counting, MapsModel

from contacts import Predictor
from contacts.features import attention_features
from probes.pairs import collect_pairs, pair_features, pair_indices
from probes.probe import all_heads, head_columns
from probes.proteins import Protein

SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMSLFDFFKNKGSAAATATDRLKLTVDKLAEYADGKLWW"]


@pytest.fixture(scope="module")
def tiny():
    return Predictor.random("small", seed=0)  # 6 layers x 4 heads


def random_labels(n: int, seed: int, unknown: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n)) < 0.15).astype(float)
    labels = np.triu(labels, 1)
    labels = labels + labels.T
    labels[rng.choice(n, unknown, replace=False)] = np.nan  # residues without coordinates
    labels[:, np.isnan(labels).all(1)] = np.nan
    return labels


def proteins(seed=0):
    return [Protein(f"p{k}", s, random_labels(len(s), seed + k)) for k, s in enumerate(SEQS)]


def test_pair_indices_keep_known_pairs_beyond_the_separation():
    labels = random_labels(30, 1)
    i, j, y, n_known = pair_indices(labels)
    assert (j - i >= 6).all() and len(i) == n_known
    assert not np.isnan(labels[i, j]).any()
    expected = sum(1 for a in range(30) for b in range(a + 6, 30) if not np.isnan(labels[a, b]))
    assert n_known == expected
    np.testing.assert_array_equal(y, labels[i, j])


def test_negative_subsampling_keeps_every_contact_and_about_the_rate():
    labels = random_labels(200, 2)
    i, j, y, n_known = pair_indices(labels, negative_fraction=0.25, rng=np.random.default_rng(0))
    _, _, y_all, _ = pair_indices(labels)
    assert y.sum() == y_all.sum()
    kept = (len(y) - y.sum()) / (len(y_all) - y_all.sum())
    assert 0.22 < kept < 0.28
    with pytest.raises(ValueError, match="negative_fraction=0 must be in"):
        pair_indices(labels, negative_fraction=0)


def test_pair_features_match_the_contact_head_features(tiny):
    seq = SEQS[1]
    maps = tiny.attention_maps(seq)
    tokens = tiny._pad(tiny._encode([seq]))
    with torch.no_grad():
        attn = tiny.model(tokens, need_weights=True).attentions
    reference = attention_features(attn, tokens, tiny.alphabet.eos_idx)[0].numpy()
    i, j, _, _ = pair_indices(random_labels(len(seq), 3))
    np.testing.assert_allclose(pair_features(maps, i, j), reference[i, j], rtol=1e-5, atol=1e-6)
    # A subset, out of order, is the same columns.
    heads = np.array([[5, 3], [0, 1], [2, 0]])
    np.testing.assert_allclose(
        pair_features(maps, i, j, heads=heads), reference[i, j][:, head_columns(heads, 4)],
        rtol=1e-5, atol=1e-6,
    )


def test_collect_pairs_concatenates_proteins_in_order(tiny):
    ps = proteins()
    counting = Counting(tiny)
    pairs = collect_pairs(counting, ps)
    assert counting.calls == [(s, 6) for s in SEQS]  # one pass per protein, in order
    assert pairs.X.shape == (len(pairs.y), 24) and pairs.X.dtype == np.float32
    assert pairs.proteins == ["p0", "p1"] and pairs.lengths == [len(s) for s in SEQS]
    assert np.array_equal(pairs.heads, all_heads(6, 4))
    for g, p in enumerate(ps):
        rows = pairs.protein_rows(g)
        i, j, y, _ = pair_indices(p.contacts)
        assert np.array_equal(pairs.i[rows], i) and np.array_equal(pairs.y[rows], y)
        np.testing.assert_allclose(
            pairs.X[rows], pair_features(tiny.attention_maps(p.sequence), i, j), rtol=1e-6
        )
    summary = pairs.summary()
    assert summary["n_pairs"] == summary["n_known_pairs"] == len(pairs.y)
    assert summary["negative_fraction"] == 1.0 and summary["model"] == "small"


def test_subset_heads_stop_the_model_early_and_match_the_full_columns(tiny):
    ps = proteins()
    full = collect_pairs(tiny, ps)
    heads = np.array([[0, 2], [2, 1], [2, 3]])
    counting = Counting(tiny)
    part = collect_pairs(counting, ps, heads=heads)
    assert [depth for _, depth in counting.calls] == [3, 3]  # the model stops after layer 3
    np.testing.assert_allclose(part.X, full.X[:, head_columns(heads, 4)], rtol=1e-6)


def test_subsampled_set_states_its_rate_and_weights():
    tiny = Predictor.random("tiny", seed=1)
    pairs = collect_pairs(tiny, proteins(5), negative_fraction=0.5, seed=3)
    full = collect_pairs(tiny, proteins(5))
    assert pairs.negative_fraction == 0.5 and pairs.summary()["negative_fraction"] == 0.5
    assert pairs.n_known == full.n_known > len(pairs.y)
    assert pairs.y.sum() == full.y.sum()
    np.testing.assert_array_equal(pairs.sample_weight, np.where(pairs.y == 1, 1.0, 2.0))
    again = collect_pairs(tiny, proteins(5), negative_fraction=0.5, seed=3)
    np.testing.assert_array_equal(again.i, pairs.i)


# -- fitting and choosing C over proteins -------------------------------------------------


def signal_model(labels) -> MapsModel:
    """4 x 3 random maps; head (1, 2) is the contact map plus noise."""
    rng = np.random.default_rng(0)

    def maps(sequence):
        n = len(sequence)
        out = rng.random((4, 3, n, n))
        out[1, 2] = np.nan_to_num(labels[sequence]) + 1.5 * rng.random((n, n))
        return out / out.sum(-1, keepdims=True)

    return MapsModel(maps, 4, 3, "signal")


def signal_set(n_proteins=6, negative_fraction=1.0):
    seqs = ["ACDEFGHIKLMNPQRSTVWY"[k] * (60 + 7 * k) for k in range(n_proteins)]
    labels = {s: random_labels(len(s), 10 + k) for k, s in enumerate(seqs)}
    ps = [Protein(f"p{k}", s, labels[s]) for k, s in enumerate(seqs)]
    return collect_pairs(signal_model(labels), ps, negative_fraction=negative_fraction, seed=1)


def test_fit_probe_finds_the_signal_head_and_records_its_data():
    from probes.selection import fit_probe

    pairs = signal_set(negative_fraction=0.3)
    probe = fit_probe(pairs, C=0.15)
    grid = np.abs(probe.coef_grid())
    assert np.unravel_index(grid.argmax(), grid.shape) == (1, 2)
    meta = probe.metadata_
    assert meta["proteins"] == pairs.proteins and meta["negative_fraction"] == 0.3
    assert meta["reweighted"] is True and meta["n_pairs"] == len(pairs.y) < meta["n_known_pairs"]


def test_select_c_splits_proteins_and_prefers_a_c_that_fits():
    from probes.selection import protein_scores, select_C

    pairs = signal_set()
    selection = select_C(pairs, Cs=[1e-5, 0.15], n_splits=3)
    assert selection.scores.shape == (2, 6)
    # Every protein is held out exactly once, and folds hold whole proteins.
    assert sorted(np.bincount(selection.folds).tolist()) == [2, 2, 2]
    # C = 1e-5 zeroes every coefficient (a constant score); C = 0.15 uses the signal head.
    assert selection.nonzero[0].max() == 0 and selection.nonzero[1].min() >= 1
    assert selection.best_C == 0.15
    assert selection.mean[1] > selection.mean[0]
    assert [r["C"] for r in selection.records()] == [1e-5, 0.15]
    sub = signal_set(negative_fraction=0.5)
    with pytest.raises(ValueError, match="keeps 0.5 of non-contacts"):
        select_C(sub, Cs=[0.15], n_splits=3)
    with pytest.raises(ValueError, match="n_splits=7 must be in 2..6"):
        select_C(pairs, Cs=[0.15], n_splits=7)
    from probes.selection import fit_probe

    with pytest.raises(ValueError, match="keeps 0.5"):
        protein_scores(fit_probe(sub), sub, 0)


def test_fit_probe_and_select_c_are_reproducible_from_the_seed():
    """liblinear shuffles the pairs: without a seed two fits of the same data differ in their last digits."""
    from probes.selection import fit_probe, select_C

    pairs = signal_set()
    first, again = fit_probe(pairs, C=0.15, seed=3), fit_probe(pairs, C=0.15, seed=3)
    np.testing.assert_array_equal(first.coef_, again.coef_)
    assert first.get_params()["random_state"] == 3
    assert fit_probe(pairs, C=0.15, seed=3, random_state=11).get_params()["random_state"] == 11
    a, b = (select_C(pairs, Cs=[0.05, 0.15], n_splits=3, seed=5) for _ in range(2))
    np.testing.assert_array_equal(a.scores, b.scores)


def test_fit_probe_can_subsample_negatives_of_a_full_set():
    from probes.selection import fit_probe

    pairs = signal_set()
    probe = fit_probe(pairs, negative_fraction=0.25, seed=4)
    meta = probe.metadata_
    assert meta["negative_fraction"] == 0.25 and meta["reweighted"] is True
    assert meta["n_contacts"] == int(pairs.y.sum()) and meta["n_pairs"] < len(pairs.y)
    assert meta["n_known_pairs"] == pairs.n_known and meta["fit_sampling_seed"] == 4
