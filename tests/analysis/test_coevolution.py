"""Alignment reading, sequence weights, and the two coevolution baselines on synthetic and real alignments."""

import numpy as np
import pytest

from contacts.analysis.coevolution import (
    ALPHABET,
    AlignmentError,
    encode,
    fit_potts,
    mutual_information,
    potts_contacts,
    read_alignment,
    sequence_weights,
)
from contacts.analysis.labels import contact_map
from contacts.io.structures import load_structure


def test_a3m_insertions_removed_gaps_kept(tmp_path):
    path = tmp_path / "x.a3m"
    path.write_text(">query\nACDE\n>hit one\nA-DkkE\n>hit two\n.AC-E\n")
    assert read_alignment(path) == [("query", "ACDE"), ("hit one", "A-DE"), ("hit two", "AC-E")]
    assert read_alignment(path, max_sequences=2)[-1][0] == "hit one"


def test_ragged_alignment_names_the_record(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text(">q\nACDE\n>bad\nACD\n")
    with pytest.raises(AlignmentError, match=r"record 2 \('bad'\) has 3 .* 4"):
        read_alignment(path)


def test_encoding_maps_unknown_letters_to_gap():
    msa = encode(["AC-X", "acdB"])
    gap = ALPHABET.index("-")
    assert msa.tolist() == [[0, 4, gap, gap], [0, 4, 3, gap]]


def test_weights_count_neighbours_at_80_percent_identity():
    # rows 0 and 1 differ at 1 of 10 columns (90 % identical), row 2 differs from both at every column
    msa = encode(["ACDEFGHIKL", "ACDEFGHIKW", "WWWWWWWWWW"])
    np.testing.assert_allclose(sequence_weights(msa), [0.5, 0.5, 1.0])
    np.testing.assert_allclose(sequence_weights(msa, identity=0.95), [1.0, 1.0, 1.0])


def synthetic(n=400, length=24, seed=0):
    """Random columns, except 3 <-> 17 and 6 <-> 11 which determine each other."""
    rng = np.random.default_rng(seed)
    msa = rng.integers(0, 20, size=(n, length))
    perm = rng.permutation(20)
    msa[:, 17] = perm[msa[:, 3]]
    msa[:, 11] = (msa[:, 6] + 7) % 20
    return msa.astype(np.uint8)


def top_pairs(scores, n):
    i, j = np.triu_indices(len(scores), 1)
    order = np.argsort(-scores[i, j], kind="stable")[:n]
    return {(int(i[o]), int(j[o])) for o in order}


def test_mi_finds_the_coupled_columns():
    scores = mutual_information(synthetic())
    assert scores.shape == (24, 24) and np.allclose(scores, scores.T) and (np.diag(scores) == 0).all()
    assert top_pairs(scores, 2) == {(3, 17), (6, 11)}


def test_potts_finds_the_coupled_columns_and_its_loss_falls():
    msa = synthetic()
    fit = fit_potts(msa, iterations=30, max_sequences=None)
    assert fit.loss[-1] < fit.loss[0]
    np.testing.assert_allclose(fit.couplings, np.transpose(fit.couplings, (2, 3, 0, 1)))
    assert np.abs(fit.couplings[np.arange(24), :, np.arange(24), :]).max() == 0.0
    scores = potts_contacts(msa, iterations=30, max_sequences=None)
    assert top_pairs(scores, 2) == {(3, 17), (6, 11)}


def test_subsampling_keeps_the_query_and_is_seeded():
    msa = synthetic(n=300)
    a = potts_contacts(msa, iterations=3, max_sequences=50, seed=1)
    b = potts_contacts(msa, iterations=3, max_sequences=50, seed=1)
    np.testing.assert_array_equal(a, b)


def test_bad_arguments():
    with pytest.raises(ValueError, match="identity=0"):
        sequence_weights(synthetic(), identity=0)
    with pytest.raises(ValueError, match="weights has shape"):
        mutual_information(synthetic(), np.ones(3))
    with pytest.raises(AlignmentError, match="at least 2"):
        potts_contacts(synthetic()[:1])


def test_baselines_beat_random_on_a_real_alignment(structures_dir, msas_dir):
    from contacts.analysis.metrics import precision

    alignment = read_alignment(msas_dir / "6anz_1_B.small.a3m")
    structure = load_structure(structures_dir / "6anz_1_B.pdb", "B")
    assert alignment[0][1] == structure.sequence
    labels = contact_map(structure)
    i, j = np.triu_indices(len(labels), 24)
    random_rate = np.nanmean(labels[i, j])
    k = len(labels) // 5
    msa = encode(alignment)
    for scores in (mutual_information(msa), potts_contacts(msa, iterations=25)):
        assert precision(scores, labels, k=k, min_separation=24) > 3 * random_rate
