"""``--method jacobian`` as a user types it: predict writes the Jacobian's maps (the library's numbers), its run
record names the method; evaluate scores it on structures; every misuse refused in one line before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_runs import FASTA, _fasta, _record, contacts, one_error_line

from contacts.analysis import metrics
from contacts.analysis.evaluation import find_targets, place_prediction
from contacts.analysis.labels import contact_map
from contacts.cli.main import main
from contacts.io.fasta import read_fasta
from contacts.io.rr import read_rr
from contacts.predictor import Predictor

MODEL = "random:tiny_bert"


@pytest.fixture(scope="module")
def model(one_thread):
    """The command's model, run as the command runs it (one thread: float32 sums then add up in the same order)."""
    return Predictor.random("tiny_bert", device="cpu")


def test_predict_writes_the_libraries_scores_and_names_the_method(tmp_path, model):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    done = contacts("predict", "--model", MODEL, "--method", "jacobian", fasta, "-o", out, "--png", "--no-progress",
                    check=0)
    assert "3 written" in done.stdout and "regression" not in done.stderr  # no missing-regression warning
    record = _record(out)
    assert record["options"]["method"] == "jacobian" and record["options"]["center"] == "iajb"
    assert record["options"]["apc"] is True and record["model"]["regression_sha256"] is None
    for r in read_fasta(fasta):
        stem = r.id
        expected = model.jacobian_contacts(r.sequence)
        np.testing.assert_allclose(np.load(out / f"{stem}.npy"), expected, atol=1e-6, rtol=0)
        rr = read_rr(out / f"{stem}.rr")
        text = (out / f"{stem}.rr").read_text()
        assert "categorical Jacobian of tiny_bert" in text and " no regression\n" in text and "sha256 None" not in text
        scores = rr.to_matrix(len(r.sequence), fill=np.nan)
        i, j = np.triu_indices(len(r.sequence), 6)
        listed = ~np.isnan(scores[i, j])
        assert listed.all() and 0 <= scores[i, j].min() and scores[i, j].max() <= 1
        # the RR file ranks the pairs as the scores do (a min-max scale is monotone)
        np.testing.assert_array_equal(np.argsort(-scores[i, j], kind="stable"),
                                      np.argsort(-expected[i, j].astype(np.float64), kind="stable"))
        assert (out / f"{stem}.png").is_file()
    again = contacts("predict", "--model", MODEL, "--method", "jacobian", fasta, "-o", out, "--png", "--no-progress",
                     check=0)
    assert "0 written, 3 already done" in again.stdout
    line = one_error_line(contacts("predict", "--model", MODEL, "--method", "jacobian", "--center", "ab", fasta,
                                   "-o", out, "--png", "--no-progress"))
    assert "center: 'iajb' -> 'ab'" in line
    line = one_error_line(contacts("predict", "--model", MODEL, fasta, "-o", out, "--png", "--no-progress"))
    assert "method: 'jacobian' -> 'regression'" in line


def in_process_error(capsys, *argv) -> str:
    """``contacts ARGV`` run in this process (refusals need no fresh interpreter): exit 1, one line on stderr."""
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"contacts {argv[0]}: error: "), err
    return err


def test_predict_refuses_what_the_jacobian_cannot_do_before_any_work(tmp_path, capsys, one_thread):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    cases = [
        (["--model", "random:tiny", "--center", "ab"], "--center needs --method jacobian"),
        (["--model", "random:tiny", "--no-apc"], "--no-apc needs --method jacobian"),
        (["--model", "random:tiny", "--method", "jacobian", "--regression", fasta], "reads no regression"),
        (["--model", "random:tiny", "--method", "jacobian", "--ray", "local"], "runs on one machine"),
        (["--model", "random:tiny_t5", "--method", "jacobian"], "tiny_t5 has no language-model head"),
    ]
    for options, message in cases:
        assert message in in_process_error(capsys, "predict", *options, fasta, "-o", out)
        assert not out.exists()


def test_evaluate_scores_the_jacobian_on_structures(structures_dir, tmp_path, model):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "1A8O.cif").symlink_to(structures_dir / "1A8O.cif")
    prefix = tmp_path / "jacobian"
    contacts("evaluate", "--model", MODEL, "--method", "jacobian", "--structures", folder, "--output", prefix,
             "--no-progress", check=0)
    saved = json.loads(prefix.with_suffix(".json").read_text())
    assert saved["settings"]["method"] == "jacobian" and saved["settings"]["center"] == "iajb"
    # random:tiny has a regression, which the Jacobian does not read: the run record names none
    assert saved["settings"]["run"]["model"]["regression_sha256"] is None
    (target,) = find_targets([folder])
    structure = target.load()
    sequence = structure.full_sequence or structure.sequence
    expected = metrics.precision_table(place_prediction(model.jacobian_contacts(sequence), sequence, structure),
                                       contact_map(structure))
    (protein,) = saved["proteins"]
    for band in ("short", "medium", "long"):
        assert protein[f"{band} P@L"] == pytest.approx(expected[band]["P@L"])


def test_evaluate_method_fits_its_source(tmp_path, capsys):
    fasta = _fasta(tmp_path, FASTA)  # any file: refused before it is read
    cases = [
        (["--model", "random:tiny", "--method", "potts"], "--method potts is a coevolution baseline for --msa"),
        (["--msa", tmp_path, "--method", "jacobian"], "--method jacobian needs --model"),
        (["--predictions", tmp_path, "--method", "mi"], "--predictions are read as they are"),
        (["--model", "random:tiny", "--method", "jacobian", "--probe", fasta], "leave out --probe"),
        (["--model", "random:tiny", "--center", "ab"], "--center needs --method jacobian"),
    ]
    for options, message in cases:
        line = in_process_error(capsys, "evaluate", *options, "--structures", tmp_path, "--output", tmp_path / "e")
        assert message in line, line
        assert not (tmp_path / "e.csv").exists()
