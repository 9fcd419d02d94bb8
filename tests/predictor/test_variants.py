"""Variant-effect scores: fair-esm's predict.py numbers, the scan table, errors and the command."""

import argparse
import csv

import numpy as np
import pytest
import torch
from reference import load_fair_esm, write_release

import contacts
from contacts.cli.score_variants import add_arguments, run
from contacts.encoder.alphabet import SequenceTooLongError
from contacts.encoder.config import PRESETS
from contacts.predictor.variants import (
    SCAN_AMINO_ACIDS,
    MutationError,
    mutation_scan,
    parse_mutations,
    position_log_probs,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run on one thread

ATOL = 1e-4
WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
SINGLES = ["M1A", "K2R", "T3W", "Y5F", "K16E", "Q33P", "L23L"]


@pytest.fixture(scope="module", params=["tiny", "tiny_esm2"], ids=["esm1b", "esm2"])
def release(request, tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("variants"), PRESETS[request.param], seed=3)


@pytest.fixture(scope="module")
def ours(release):
    return contacts.load_model(release, device="cpu")


@pytest.fixture(scope="module")
def fair_esm_log_probs(release):
    """Per-position log-probabilities computed as fair-esm's predict.py does: (wt-marginals, masked)."""
    pytest.importorskip("esm")
    model, alphabet = load_fair_esm(release)
    _, _, tokens = alphabet.get_batch_converter()([("wt", WT)])
    with torch.no_grad():
        wt = torch.log_softmax(model(tokens)["logits"], dim=-1)[0]
        masked = []
        for i in range(tokens.size(1)):
            t = tokens.clone()
            t[0, i] = alphabet.mask_idx
            masked.append(torch.log_softmax(model(t)["logits"], dim=-1)[0, i])
    return {"wt_marginal": wt, "masked_marginal": torch.stack(masked)}, alphabet


def _reference_score(log_probs, alphabet, mutation):
    """predict.py's label_row, summed over the sites of a multi-mutant."""
    total = 0.0
    for part in mutation.split(":"):
        wt, idx, mt = part[0], int(part[1:-1]) - 1, part[-1]
        assert WT[idx] == wt
        total += (log_probs[1 + idx, alphabet.get_idx(mt)] - log_probs[1 + idx, alphabet.get_idx(wt)]).item()
    return total


@pytest.mark.parametrize("method", ["masked_marginal", "wt_marginal"])
def test_log_probs_match_fair_esm_predict_script(ours, fair_esm_log_probs, method):
    ref, _ = fair_esm_log_probs
    got = position_log_probs(ours, list(WT), [0, 4, 32], method)
    assert got.shape == (3, len(contacts.ALPHABET))
    np.testing.assert_allclose(got, ref[method][[1, 5, 33]].numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.exp(got).sum(-1), 1, atol=1e-6)


@pytest.mark.parametrize("method", ["masked_marginal", "wt_marginal"])
def test_scores_match_fair_esm_predict_script(ours, fair_esm_log_probs, method):
    ref, alphabet = fair_esm_log_probs
    mutations = [*SINGLES, "K2R:Y5F", "M1A:K16E:Q33P"]
    expected = [_reference_score(ref[method], alphabet, m) for m in mutations]
    got = ours.score_variants(WT, mutations, method)
    assert got.shape == (len(mutations),) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0)
    # The scores are not all alike: the comparison above says something.
    assert np.ptp(got) > 100 * ATOL
    assert ours.score_variants(WT, "K2R", method) == pytest.approx(got[1], abs=1e-12)


@pytest.mark.parametrize("method", ["masked_marginal", "wt_marginal"])
def test_scan_matches_fair_esm_and_single_scores(ours, fair_esm_log_probs, method):
    ref, alphabet = fair_esm_log_probs
    table = mutation_scan(ours, WT, method, max_tokens=200)
    assert table.shape == (len(WT), 20)
    cols = [alphabet.get_idx(a) for a in SCAN_AMINO_ACIDS]
    wild = [alphabet.get_idx(a) for a in WT]
    rows = ref[method][1 : len(WT) + 1].double()
    expected = rows[:, cols] - rows[torch.arange(len(WT)), wild][:, None]
    np.testing.assert_allclose(table, expected.numpy(), atol=ATOL, rtol=0)
    some = [f"{WT[i]}{i + 1}{a}" for i in (0, 9, 32) for a in "ACW"]
    np.testing.assert_allclose(
        ours.score_variants(WT, some, method),
        [table[int(m[1:-1]) - 1, SCAN_AMINO_ACIDS.index(m[-1])] for m in some],
        atol=1e-6, rtol=0,
    )


def test_masked_batches_do_not_change_the_scores(ours):
    one_at_a_time = mutation_scan(ours, WT, max_tokens=1)
    all_at_once = mutation_scan(ours, WT, max_tokens=100_000)
    np.testing.assert_allclose(one_at_a_time, all_at_once, atol=1e-5, rtol=0)


def test_parse_mutations():
    assert [str(m) for m in parse_mutations(" A42G:L50P ")] == ["A42G", "L50P"]
    with pytest.raises(MutationError, match="'A42' is not written as wild type"):
        parse_mutations("A42")
    with pytest.raises(MutationError, match="mutant residue 'X' is not one of the 20"):
        parse_mutations("A42X")
    with pytest.raises(MutationError, match=r"changes position\(s\) \[42\] more than once"):
        parse_mutations("A42G:A42C")


def test_errors_name_the_position_and_the_residues(ours):
    with pytest.raises(MutationError, match="position 3 holds 'T' in the sequence, not the wild type 'A'"):
        ours.score_variants(WT, ["K2R", "A3G"])
    with pytest.raises(MutationError, match=f"position 34 is outside the sequence's 1..{len(WT)}"):
        ours.score_variants(WT, "V34A")
    with pytest.raises(ValueError, match="method 'pppl' is not one of"):
        ours.score_variants(WT, "K2R", "pppl")


def test_every_bad_mutation_at_once_and_skip_invalid_scores_the_others(ours):
    mutations = ["K2R", "A3G", "V34A", "K2", "Y5F"]
    with pytest.raises(MutationError) as every:
        ours.score_variants(WT, mutations)
    lines = str(every.value).splitlines()
    assert lines[0] == "3 invalid mutations (skip_invalid=True scores the others):"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["[1]", "[2]", "[3]"]
    assert "position 3 holds 'T'" in lines[1] and "outside the sequence's 1..33" in lines[2] and "'K2'" in lines[3]
    scores = ours.score_variants(WT, mutations, skip_invalid=True)
    assert np.isnan(scores[[1, 2, 3]]).all()
    np.testing.assert_array_equal(scores[[0, 4]], ours.score_variants(WT, ["K2R", "Y5F"]))


def test_long_sequences_are_refused():
    short = contacts.Predictor.random(PRESETS["tiny"].replace(max_positions=12), device="cpu")
    assert np.isfinite(short.score_variants("M" * 10, "M10A"))
    with pytest.raises(SequenceTooLongError, match="11 residues; tiny scores at most 10"):
        short.score_variants("M" * 11, "M1A")


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_command_adds_a_score_column(release, ours, tmp_path, capsys):
    table = tmp_path / "dms.csv"
    table.write_text("mutant,fitness,note\nK2R,0.5,\"a, b\"\nK2R:Y5F,-1.2,\nQ33P,0.1,x\n")
    fasta = tmp_path / "wt.fasta"
    fasta.write_text(f">wt\n{WT[:20]}\n{WT[20:]}\n")
    out = tmp_path / "scored.csv"
    args = _parse(["--model", str(release), "--fasta", str(fasta), "--mutations", str(table),
                   "-o", str(out), "--method", "wt_marginal", "--device", "cpu", "--no-progress"])
    assert run(args) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["mutant"] for r in rows] == ["K2R", "K2R:Y5F", "Q33P"]
    assert [r["note"] for r in rows] == ["a, b", "", "x"]
    expected = ours.score_variants(WT, ["K2R", "K2R:Y5F", "Q33P"], "wt_marginal")
    np.testing.assert_allclose([float(r["score"]) for r in rows], expected, atol=1e-6, rtol=0)
    assert "3 mutations scored" in capsys.readouterr().out


def test_command_errors_leave_no_output(release, tmp_path):
    table = tmp_path / "dms.csv"
    table.write_text("variant\nK2R\n\n")
    out = tmp_path / "scored.csv"
    base = ["--model", str(release), "--sequence", WT, "--mutations", str(table), "-o", str(out)]
    with pytest.raises(ValueError, match=r"has no column 'mutant' \(--column\); its columns are \['variant'\]"):
        run(_parse(base))
    table.write_text("variant\nK2R\nA3G\n")
    with pytest.raises(MutationError, match="position 3 holds 'T'"):
        run(_parse([*base, "--column", "variant", "--no-progress"]))
    assert not out.exists() and list(tmp_path.iterdir()) == [table]
