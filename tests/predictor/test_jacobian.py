"""The categorical Jacobian against a plain reference: the whole (L, 20, L, 20) tensor held, one substitution a pass."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import contacts
from contacts.encoder.family import NoLanguageModelHeadError
from contacts.predictor.batching import window_mean
from contacts.predictor.jacobian import held_bytes, jacobian_norms, substitution_logits

SEQ = "MKTAYIAKQRQISFVKSH"  # 18 residues: 360 reference passes of a tiny model
FAMILIES = ["tiny", "tiny_esm2", "tiny_bert", "tiny_roberta"]


def reference_jacobian(model, sequence: str) -> tuple[np.ndarray, np.ndarray]:
    """``(J, wild type)``: J[i, a, j, b] = logit of b at j with a at i, less the wild type's; one sequence a pass."""
    alphabet = model.alphabet
    amino_acids = list(alphabet.amino_acid_idx)
    lead, n = len(alphabet.prefix), len(sequence)
    ids = alphabet.encode(sequence)

    def logits(tokens):
        with torch.no_grad():
            out = model.model(torch.tensor([tokens])).logits[0, lead : lead + n]
        return out[:, amino_acids].double().numpy()

    wild = logits(ids)
    jac = np.zeros((n, 20, n, 20))
    for i in range(n):
        for a in range(20):
            tokens = list(ids)
            tokens[lead + i] = amino_acids[a]
            jac[i, a] = logits(tokens) - wild
    return jac, wild


def reference_center(jac: np.ndarray, center: str) -> np.ndarray:
    """The notebook's centring: the mean over each axis subtracted in turn."""
    out = jac.copy()
    for axis in (0, 1, 2, 3) if center == "iajb" else (1, 3):
        out -= out.mean(axis, keepdims=True)
    return out


def reference_scores(jac: np.ndarray, center: str = "iajb", apc: bool = True) -> np.ndarray:
    norms = np.sqrt(np.square(reference_center(jac, center)).sum((1, 3)))
    scores = (norms + norms.T) / 2
    np.fill_diagonal(scores, 0)
    if apc:
        scores = scores - scores.sum(0, keepdims=True) * scores.sum(1, keepdims=True) / scores.sum()
        np.fill_diagonal(scores, 0)
    return scores


@pytest.fixture(scope="module")
def references(one_thread):
    out = {}
    for preset in FAMILIES:
        model = contacts.Predictor.random(preset, device="cpu")
        out[preset] = (model, *reference_jacobian(model, SEQ))
    return out


@pytest.mark.parametrize("preset", FAMILIES)
@pytest.mark.parametrize("center", ["iajb", "ab"])
@pytest.mark.parametrize("hold_bytes", [2**31, 0], ids=["held", "two-passes"])
def test_equals_the_reference(references, preset, center, hold_bytes):
    model, jac, _ = references[preset]
    # 1 position (20 sequences) a batch, then 3 with a short last batch: the batching changes nothing
    for max_tokens in (1, 3 * 20 * (len(SEQ) + 2)):
        got = model.jacobian_contacts(SEQ, center=center, max_tokens=max_tokens, hold_bytes=hold_bytes)
        expected = reference_scores(jac, center)
        assert got.dtype == np.float32 and got.shape == (len(SEQ), len(SEQ))
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(got, got.T)
        np.testing.assert_array_equal(np.diag(got), 0)
    raw = model.jacobian_contacts(SEQ, center=center, apc=False, hold_bytes=hold_bytes)
    np.testing.assert_allclose(raw, reference_scores(jac, center, apc=False), atol=1e-6, rtol=0)


@pytest.mark.parametrize("preset", FAMILIES)
def test_the_wild_type_substitution_reproduces_the_wild_type_pass(references, preset):
    model, jac, wild = references[preset]
    np.testing.assert_allclose(wild, model.logits(SEQ, amino_acids=True), atol=1e-6, rtol=0)
    column = [contacts.encoder.alphabet.STANDARD_AMINO_ACIDS.index(r) for r in SEQ]
    # in the reference, J[i, wt(i)] = 0 exactly: the same input as the wild type
    assert np.abs(jac[np.arange(len(SEQ)), column]).max() == 0
    # batched, each position's wild-type copy among 20 (60) substitutions gives the wild-type logits
    for start, end, logits in substitution_logits(model, list(SEQ), max_tokens=3 * 20 * (len(SEQ) + 2)):
        for k, i in enumerate(range(start, end)):
            np.testing.assert_allclose(logits[k, column[i]].numpy(), wild, atol=1e-6, rtol=0)


def test_the_centring_is_the_inclusion_exclusion_sum_of_marginal_means(references):
    """The module's algebra: P_i P_a P_j P_b J = sum over subsets S of the axes of (-1)^|S| mean_S J."""
    _, jac, _ = references["tiny"]
    expanded = sum(
        (-1) ** len(axes) * (jac.mean(axes, keepdims=True) if axes else jac)
        for r in range(5) for axes in itertools.combinations(range(4), r)
    )
    np.testing.assert_allclose(reference_center(jac, "iajb"), expanded, atol=1e-12)


def test_norms_are_not_symmetric_before_the_scores(references):
    model, jac, _ = references["tiny_bert"]
    norms = jacobian_norms(model, list(SEQ)).numpy()
    expected = np.sqrt(np.square(reference_center(jac, "iajb")).sum((1, 3)))
    np.testing.assert_allclose(norms, expected, atol=1e-6, rtol=0)
    assert np.abs(norms - norms.T).max() > 1e-3  # the response at j to i is not the response at i to j


def test_long_sequences_run_in_windows_averaged_where_they_overlap(one_thread):
    model = contacts.Predictor.random("tiny_bert")
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLG"  # 28 residues, windows of 12 every 6
    got = model.jacobian_contacts(seq, window=12, overlap=6)
    spans = [(0, 12), (6, 18), (12, 24), (16, 28)]
    parts = [((lo, hi), model.jacobian_contacts(seq[lo:hi])) for lo, hi in spans]
    np.testing.assert_allclose(got, window_mean(len(seq), parts), atol=1e-6, rtol=0)
    assert np.isnan(got[0, 20]) and not np.isnan(got[0, 11])  # no window holds residues 1 and 21
    listed = model.jacobian_contacts([seq, seq[:12]], window=12, overlap=6)
    np.testing.assert_array_equal(listed[0], got)
    np.testing.assert_allclose(listed[1], parts[0][1], atol=1e-6, rtol=0)


def test_reduced_precision_scores_stay_float32(one_thread):
    model = contacts.Predictor.random("tiny_esm2")
    exact = model.jacobian_contacts(SEQ)
    half = contacts.Predictor(model.model, model.regression, dtype="bfloat16").jacobian_contacts(SEQ)
    assert half.dtype == np.float32
    # bfloat16 logits carry 8 bits: the scores move, the map stays the same map
    assert np.corrcoef(exact.ravel(), half.ravel())[0, 1] > 0.9


def test_held_bytes_is_the_whole_tensor():
    for n, dtype in ((10, torch.float32), (7, torch.float64)):
        assert held_bytes(n, dtype) == torch.empty((n, 20, n, 20), dtype=dtype).nbytes


def test_refusals_name_the_value_and_the_limit():
    t5 = contacts.Predictor.random("tiny_t5")
    with pytest.raises(NoLanguageModelHeadError, match="tiny_t5 has no language-model head.*categorical Jacobian"):
        t5.jacobian_contacts(SEQ)
    model = contacts.Predictor.random("tiny")
    with pytest.raises(ValueError, match=r"center 'ij' is not one of \['iajb', 'ab'\]"):
        model.jacobian_contacts(SEQ, center="ij")
    with pytest.raises(ValueError, match="window 2000 is outside 1..1022"):
        model.jacobian_contacts(SEQ, window=2000)
    with pytest.raises(ValueError, match="overlap 12 must be in 0..11"):
        model.jacobian_contacts(SEQ, window=12, overlap=12)
    with pytest.raises(ValueError, match="max_tokens must be >= 1, got 0"):
        model.jacobian_contacts(SEQ, max_tokens=0)
    with pytest.raises(contacts.InvalidSequenceError, match="sequence 1: character '1' at residue 3"):
        model.jacobian_contacts([SEQ, "MK1"])
    with pytest.raises(contacts.InvalidSequenceError, match="sequence 0: <mask> at residue 2 .plain residues only"):
        model.jacobian_contacts("M<mask>K")


@pytest.mark.parametrize("preset", ["tiny", "tiny_bert"])
def test_the_passes_run_the_fused_kernel_20_substitutions_a_residue(preset, monkeypatch, one_thread):
    model = contacts.Predictor.random(preset)
    batches = []
    fused = torch.nn.functional.scaled_dot_product_attention

    def counted(q, *args, **kwargs):
        batches.append(q.shape[0])
        return fused(q, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)
    model.jacobian_contacts(SEQ)  # every block of every pass on the fused kernel: no softmax maps made
    layers, tokens = model.config.num_layers, len(SEQ) + 2
    per_batch = 4096 // (20 * tokens)  # positions the default budget takes, each with its 20 substitutions
    assert len(batches) == layers * -(-len(SEQ) // per_batch)
    assert sum(batches) == layers * 20 * len(SEQ) and max(batches) == 20 * per_batch


def test_progress_counts_the_forward_passes_in_plain_lines_off_a_terminal(capsys, one_thread):
    model = contacts.Predictor.random("tiny")
    model.jacobian_contacts(SEQ, progress=True)
    assert f"categorical Jacobian: {20 * len(SEQ)}/{20 * len(SEQ)} pass done" in capsys.readouterr().err
    model.jacobian_contacts(SEQ)
    assert capsys.readouterr().err == ""
