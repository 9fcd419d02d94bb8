"""Alignment reading, sequence weights, and the two coevolution baselines on synthetic and real alignments."""

import numpy as np
import pytest
import torch

from contacts.analysis.coevolution import (
    ALPHABET,
    AlignmentError,
    _Corrections,
    encode,
    fit_potts,
    gap_filter,
    mutual_information,
    potts_contacts,
    potts_objective,
    read_alignment,
    sequence_weights,
)
from contacts.analysis.labels import contact_map
from contacts.io.structures import load_structure

pytestmark = pytest.mark.usefixtures("one_thread")


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
    fit = fit_potts(msa)
    assert fit.converged, fit.reason
    assert all(b <= a for a, b in zip(fit.loss, fit.loss[1:]))  # every accepted step lowers the objective
    full = fit.couplings
    np.testing.assert_array_equal(full, np.transpose(full, (2, 3, 0, 1)))
    assert np.abs(full[np.arange(24), :, np.arange(24), :]).max() == 0.0
    scores = potts_contacts(msa)
    assert top_pairs(scores, 2) == {(3, 17), (6, 11)}


def gibbs_sample(fields, couplings, n, sweeps, seed):
    """n independent chains of a Potts model, each run ``sweeps`` full Gibbs sweeps from a uniform start.

    ``couplings`` has shape (L, q, L, q), symmetric with zero diagonal blocks.
    """
    rng = np.random.default_rng(seed)
    length, q = fields.shape
    x = rng.integers(0, q, size=(n, length))
    for _ in range(sweeps):
        for i in range(length):
            energy = fields[i] + couplings[np.arange(length), x, i, :].sum(1)  # (n, q)
            p = np.exp(energy - energy.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            x[:, i] = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return x.astype(np.uint8)


def planted_model(length=14, q=21, seed=3):
    """Weak random fields; three planted couplings of decreasing strength, every other pair zero."""
    rng = np.random.default_rng(seed)
    fields = rng.normal(0, 0.3, size=(length, q))
    couplings = np.zeros((length, q, length, q))
    planted = {(0, 7): 1.6, (2, 11): 1.3, (5, 9): 1.0}
    for (i, j), strength in planted.items():
        block = strength * rng.normal(size=(q, q))
        couplings[i, :, j, :] = block
        couplings[j, :, i, :] = block.T
    return fields, couplings, planted


def test_potts_recovers_planted_couplings_from_gibbs_samples():
    fields, couplings, planted = planted_model()
    msa = gibbs_sample(fields, couplings, n=1500, sweeps=40, seed=0)
    scores = potts_contacts(msa, max_column_gaps=1.0, max_sequence_gaps=1.0)
    i, j = np.triu_indices(len(scores), 1)
    order = np.argsort(-scores[i, j], kind="stable")
    ranked = [(int(i[o]), int(j[o])) for o in order]
    assert set(ranked[:3]) == set(planted)
    assert ranked[0] == (0, 7)  # the strongest planted coupling first
    # and mutual information, the cheap baseline, sees the strongest one too
    mi = mutual_information(msa, max_column_gaps=1.0, max_sequence_gaps=1.0)
    assert top_pairs(mi, 1) == {(0, 7)}


def test_potts_objective_reaches_the_long_reference_run():
    fields, couplings, _ = planted_model(length=12, seed=5)
    msa = gibbs_sample(fields, couplings, n=400, sweeps=30, seed=1)
    weights = sequence_weights(msa)
    fit = fit_potts(msa, weights)
    reference = fit_potts(msa, weights, max_iterations=400, tolerance=0, gradient_tolerance=0)
    assert len(reference.loss) > 3 * len(fit.loss)  # the reference really ran longer
    optimum = potts_objective(reference, msa, weights)
    value = potts_objective(fit, msa, weights)  # recomputed in float64 from the full table, not the fit's log
    assert value >= optimum - 1e-5
    assert value - optimum < 1e-3 * optimum
    assert abs(value - fit.loss[-1]) < 1e-5 * value  # the fit's own log agrees with the plain computation


def test_identical_sequences_fit_as_one_weighted_row():
    msa = synthetic(n=120)
    doubled = np.concatenate([msa, msa[:30]])
    weights = np.concatenate([np.ones(120), np.ones(30)])
    once = fit_potts(msa, np.concatenate([np.full(30, 2.0), np.ones(90)]), max_iterations=15, tolerance=0)
    twice = fit_potts(doubled, weights, max_iterations=15, tolerance=0)
    np.testing.assert_allclose(twice.pairs, once.pairs, atol=1e-5)


def test_chunking_does_not_change_results():
    msa = synthetic(n=150)
    np.testing.assert_allclose(sequence_weights(msa, chunk=7), sequence_weights(msa))
    np.testing.assert_allclose(mutual_information(msa, chunk_bytes=1), mutual_information(msa), atol=1e-6)
    small = fit_potts(msa, max_iterations=5, tolerance=0, chunk_bytes=1)
    large = fit_potts(msa, max_iterations=5, tolerance=0)
    np.testing.assert_allclose(small.pairs, large.pairs, atol=1e-5)


def test_lbfgs_direction_is_the_bfgs_inverse_hessian_of_the_last_m_pairs():
    """The two-loop recursion over the preallocated slots equals -H g, with H built by the explicit
    BFGS update from gamma I over the newest ``m`` accepted pairs only (Nocedal & Wright, 7.19)."""
    rng = np.random.default_rng(0)
    size, m = 12, 3
    a = rng.standard_normal((size, size))
    hessian = a @ a.T + size * np.eye(size)  # positive definite: every pair has y.s > 0
    corrections = _Corrections(m, size, torch.device("cpu"))
    pushed = []
    for k in range(m + 3):
        slot = corrections.free()
        s = rng.standard_normal(size)
        y = hessian @ s
        corrections.s[slot], corrections.y[slot] = torch.from_numpy(s).float(), torch.from_numpy(y).float()
        if k == 4:  # refused by the curvature test: written into the free slot, never pushed
            continue
        corrections.push(slot, float(s @ y), float(y @ y))
        pushed.append((s, y))
    assert len(corrections.order) == m and len(set(corrections.order)) == m
    grad = rng.standard_normal(size)
    out = torch.empty(size)
    got = corrections.direction(torch.from_numpy(grad).float(), out=out)
    assert got is out

    last_s, last_y = pushed[-1]
    h = (last_s @ last_y) / (last_y @ last_y) * np.eye(size)
    for s, y in pushed[-m:]:
        rho = 1.0 / (y @ s)
        v = np.eye(size) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    np.testing.assert_allclose(got.numpy(), -h @ grad, rtol=1e-4, atol=1e-5)

    corrections.clear()
    np.testing.assert_allclose(corrections.direction(torch.from_numpy(grad).float(), out=out).numpy(), -grad, rtol=1e-6)


def test_gap_filter_is_shared_by_both_baselines():
    msa = synthetic(n=200, length=24)
    gap = ALPHABET.index("-")
    msa[1:150, 20] = gap  # column 20: 75 % gaps
    msa[190:, :14] = gap  # ten sequences mostly gaps
    msa[0, :14] = gap  # and the query, which is kept all the same
    rows, columns = gap_filter(msa)
    assert columns.tolist() == [c != 20 for c in range(24)]
    assert rows[0] and not rows[190:].any() and rows[1:190].all()
    for scores in (mutual_information(msa), potts_contacts(msa, max_iterations=20)):
        assert scores.shape == (24, 24)
        lowest = scores[np.triu_indices(24, 1)].min()
        assert (scores[20, np.arange(24) != 20] == lowest).all()  # the left-out column ranks last
        assert top_pairs(scores, 2) == {(3, 17), (6, 11)}
    keep_all = mutual_information(msa, max_column_gaps=1.0, max_sequence_gaps=1.0)
    assert keep_all[20, 21] != keep_all[20, 22]


def test_bad_arguments():
    with pytest.raises(ValueError, match="identity=0"):
        sequence_weights(synthetic(), identity=0)
    with pytest.raises(ValueError, match="weights has shape"):
        mutual_information(synthetic(), np.ones(3))
    with pytest.raises(AlignmentError, match="at least 2"):
        potts_contacts(synthetic()[:1])
    with pytest.raises(ValueError, match="max_column_gaps=1.5 must be in"):
        gap_filter(synthetic(), max_column_gaps=1.5)
    with pytest.raises(AlignmentError, match="only 0 of 24 columns"):
        gap_filter(np.full((5, 24), ALPHABET.index("-")))
    with pytest.raises(ValueError, match="max_iterations=0"):
        fit_potts(synthetic(), max_iterations=0)
    for baseline in (potts_contacts, mutual_information, sequence_weights):
        with pytest.raises(ValueError, match="unknown device 'gpu'"):
            baseline(synthetic(), device="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (bench/potts_device.py runs it on one)")
def test_the_fit_on_a_gpu_matches_the_cpu():
    msa = synthetic(n=300)
    on_gpu, on_cpu = fit_potts(msa, device="cuda", max_iterations=30), fit_potts(msa, max_iterations=30)
    assert abs(on_gpu.loss[-1] - on_cpu.loss[-1]) < 1e-4 * on_cpu.loss[-1]
    np.testing.assert_allclose(potts_contacts(msa, device="cuda"), potts_contacts(msa), atol=1e-3)


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
    for scores in (mutual_information(msa), potts_contacts(msa)):
        assert precision(scores, labels, k=k, min_separation=24) > 3 * random_rate
