"""The evaluation path: manifest, prediction sources (.npy, RR, alignments, a model), tables and files."""

import argparse
import csv
import json

import numpy as np
import pytest

from contacts.analysis.evaluation import (
    EvaluationError,
    Target,
    evaluate,
    find_targets,
    format_table,
    place_prediction,
    predictions_dir_predictor,
    write_results,
)
from contacts.analysis.labels import contact_map
from contacts.cli import main
from contacts.cli.evaluate import add_arguments, run
from contacts.io.manifest import PACKAGE_MANIFEST, read_manifest, structure_name
from contacts.io.matrix import write_matrix
from contacts.io.rr import write_rr
from contacts.io.structures import load_structure


def parse(argv):
    parser = argparse.ArgumentParser(prog="contacts evaluate")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_package_manifest_splits():
    rows = read_manifest(PACKAGE_MANIFEST).values()
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "valid", "test")}
    assert counts == {"train": 20, "valid": 10, "test": 92}


def test_structure_names():
    assert structure_name("1tim.pdb.gz") == "1tim"
    assert structure_name("6wg6.bcif.gz") == "6wg6"
    assert structure_name("d1asha_.pdb") == "d1asha_"


def test_find_targets_reads_chain_and_split(structures_dir):
    targets = find_targets([structures_dir], split="valid")
    assert len(targets) == 10 and all(t.split == "valid" for t in targets)
    one = find_targets([structures_dir / "1ncb.cif"])
    assert one[0].chain == "N"
    with pytest.raises(EvaluationError, match="no structure files of split 'nope'"):
        find_targets([structures_dir], split="nope")


def test_a_manifest_naming_files_the_folder_lacks_is_refused(structures_dir, tmp_path, capsys):
    # a folder's own MANIFEST.tsv, and a --manifest for folders: a row whose file is absent would drop out unseen
    (tmp_path / "1ncb.cif").symlink_to(structures_dir / "1ncb.cif")
    (tmp_path / "MANIFEST.tsv").write_text("file\tchain\tsplit\n1ncb.cif\tN\ttest\ngone.cif\tA\ttest\n")
    with pytest.raises(EvaluationError, match=r"MANIFEST.tsv names 'gone.cif', not found in"):
        find_targets([tmp_path])
    table = tmp_path / "mine.tsv"
    table.write_text("file\tchain\tsplit\n1ncb.cif\tN\ttest\n")
    assert [t.chain for t in find_targets([tmp_path], manifest=table)] == ["N"]
    (tmp_path / "MANIFEST.tsv").unlink()
    table.write_text("file\tchain\tsplit\n1ncb.cif\tN\ttest\na.cif\tA\ttest\nb.cif\tA\ttest\n"
                     "c.cif\tA\ttest\nd.cif\tA\ttest\n")
    with pytest.raises(EvaluationError, match=r"names 'a.cif', 'b.cif', 'c.cif' and 1 more, not found"):
        find_targets([tmp_path], manifest=table)
    # a file named on its own takes its chain from the table; the table's other rows are not its business
    assert find_targets([tmp_path / "1ncb.cif"], manifest=table)[0].chain == "N"
    code = main(["evaluate", "--structures", str(tmp_path), "--manifest", str(table), "--predictions", str(tmp_path),
                 "--output", str(tmp_path / "ev")])
    assert code == 1 and not list(tmp_path.glob("ev*"))
    assert "not found in" in capsys.readouterr().err


def test_full_sequence_prediction_is_scored_on_observed_residues(structures_dir):
    s = load_structure(structures_dir / "2OFG.cif", "X")
    assert len(s.full_sequence) > len(s)
    full_labels = np.nan_to_num(contact_map(s, sequence=s.full_sequence), nan=0.0)
    placed = place_prediction(full_labels, s.full_sequence, s)
    np.testing.assert_array_equal(placed, np.nan_to_num(contact_map(s), nan=0.0))


def _perfect_npy(folder, structures_dir, name, chain, full=False):
    s = load_structure(structures_dir / name, chain)
    seq = s.full_sequence if full else s.sequence
    np.save(folder / f"{structure_name(name)}.npy", np.nan_to_num(contact_map(s, sequence=seq), nan=0.0))
    return s


def test_predictions_folder_npy_and_rr(structures_dir, tmp_path):
    _perfect_npy(tmp_path, structures_dir, "1aki.cif", "A")
    _perfect_npy(tmp_path, structures_dir, "2OFG.cif", "X", full=True)
    s = load_structure(structures_dir / "1ay7.bcif", "A")
    rng = np.random.default_rng(0)
    p = rng.random((len(s), len(s)))
    write_rr(tmp_path / "1ay7.rr", (p + p.T) / 2, s.sequence, "1ay7")
    targets = [Target(structures_dir / n, c) for n, c in [("1aki.cif", "A"), ("2OFG.cif", "X"), ("1ay7.bcif", "A")]]
    result = evaluate(targets, predictions_dir_predictor(tmp_path), progress=False)
    by_name = {r["name"]: r for r in result.records}
    assert by_name["1aki"]["long P@L/5"] == 1.0 and by_name["2OFG"]["long P@L/5"] == 1.0
    assert by_name["1ay7"]["long P@L/5"] < 0.5  # random scores
    expected = np.mean([r["long P@L/5"] for r in result.records])
    assert result.mean["long"]["P@L/5"] == pytest.approx(expected)
    assert by_name["1aki"]["L"] == 129


def test_missing_prediction_is_an_error_or_skipped(structures_dir, tmp_path):
    _perfect_npy(tmp_path, structures_dir, "1aki.cif", "A")
    targets = [Target(structures_dir / "1aki.cif"), Target(structures_dir / "1ay7.bcif")]
    with pytest.raises(EvaluationError, match=r"no prediction 1ay7.npy, 1ay7.npz, 1ay7.rr or 1ay7.\{mat\|"):
        evaluate(targets, predictions_dir_predictor(tmp_path), progress=False)
    result = evaluate(targets, predictions_dir_predictor(tmp_path), skip_missing=True, progress=False)
    assert [r["name"] for r in result.records] == ["1aki"] and result.skipped[0][0] == "1ay7"


def test_wrong_size_npy_names_the_sizes(structures_dir, tmp_path):
    np.save(tmp_path / "1aki.npy", np.zeros((5, 5)))
    with pytest.raises(EvaluationError, match=r"\(5, 5\).*129"):
        evaluate([Target(structures_dir / "1aki.cif")], predictions_dir_predictor(tmp_path), progress=False)


def test_cli_with_predictions_writes_csv_and_json(structures_dir, tmp_path, capsys):
    preds = tmp_path / "preds"
    preds.mkdir()
    _perfect_npy(preds, structures_dir, "1aki.cif", "A")
    _perfect_npy(preds, structures_dir, "1crr.bcif", "A")
    out = tmp_path / "out" / "eval"
    args = parse(["--structures", str(structures_dir / "1aki.cif"), str(structures_dir / "1crr.bcif"),
                  "--predictions", str(preds), "--output", str(out)])
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "1aki" in printed and "mean of 2" in printed and "long" in printed and "P@L/5" in printed
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert [r["name"] for r in rows] == ["1aki", "1crr", "mean"]
    assert float(rows[-1]["long P@L/5"]) == 1.0
    data = json.loads(out.with_suffix(".json").read_text())
    assert data["mean"]["long"]["P@L/5"] == 1.0 and len(data["proteins"]) == 2
    assert data["settings"]["predictions"] == str(preds)


def test_cli_bad_input_exits_1_with_a_one_line_message(structures_dir, tmp_path, capsys):
    # Exit 1 for bad input, as every command (it was 2 here before the commands shared their exit codes).
    code = main(["evaluate", "--structures", str(structures_dir / "1aki.cif"), "--predictions", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("contacts evaluate: error: ") and "have no prediction (NAME.npy, .npz, .rr, .mat" in err
    assert ": 1aki; --skip-missing" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        parse(["--structures", "x", "--predictions", "a", "--msa", "b"])  # one source only


def test_cli_msa_baseline_on_a_small_alignment(structures_dir, msas_dir, tmp_path, capsys):
    args = parse(["--structures", str(structures_dir / "6anz_1_B.pdb"), "--msa", str(msas_dir),
                  "--method", "mi", "--output", str(tmp_path / "e")])
    assert run(args) == 0
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["proteins"][0]["name"] == "6anz_1_B" and data["settings"]["method"] == "mi"
    assert data["mean"]["long"]["P@L/5"] > 0.1


def test_format_table_has_one_line_per_protein_and_the_mean(structures_dir, tmp_path):
    _perfect_npy(tmp_path, structures_dir, "1aki.cif", "A")
    result = evaluate([Target(structures_dir / "1aki.cif")], predictions_dir_predictor(tmp_path), progress=False)
    lines = format_table(result).splitlines()
    assert lines[0].split() == ["short", "medium", "long", "all"]
    assert lines[1].split() == ["protein", "L", *["P@L", "P@L/2", "P@L/5"] * 4]
    assert lines[3].startswith("1aki") and lines[-1].startswith("mean of 1")
    assert max(map(len, lines)) <= 100
    # the mean row's L column is empty: the count of proteins is in its name, not under L
    start = lines[1].index("L") - 4
    assert lines[-1][start:start + 5].strip() == "" and lines[3][start:start + 5].strip() == str(result.records[0]["L"])
    csv_path, json_path = write_results(result, tmp_path / "r")
    assert csv_path.exists() and json_path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_model_source_runs_load_model_and_predict_contacts(structures_dir, tmp_path, capsys):
    contacts = pytest.importorskip("contacts")
    if not hasattr(contacts, "load_model"):
        pytest.skip("contacts.load_model is not available on this branch")
    pytest.importorskip("esm", reason="fair-esm writes the release-format test checkpoint")
    from reference import write_release

    from contacts.encoder.config import PRESETS

    path = write_release(tmp_path / "model", PRESETS["tiny"])
    args = parse(["--structures", str(structures_dir / "1aki.cif"), str(structures_dir / "2OFG.cif"),
                  "--model", str(path), "--output", str(tmp_path / "m")])
    assert run(args) == 0
    data = json.loads((tmp_path / "m.json").read_text())
    assert [p["name"] for p in data["proteins"]] == ["1aki", "2OFG"]
    assert 0.0 <= data["mean"]["all"]["P@L"] <= 1.0


def test_predictions_folder_npz_and_matrix_text_read_by_extension(structures_dir, tmp_path):
    """.npz and L x L text give the same table as .npy; the folder says which reader it used."""
    s = load_structure(structures_dir / "1aki.cif", "A")
    p = np.random.default_rng(3).random((len(s), len(s)))
    p = (p + p.T) / 2
    tables = {}
    for suffix in (".npy", ".npz", ".mat", ".csv"):
        folder = tmp_path / suffix[1:]
        write_matrix(folder / f"1aki{suffix}", p)
        predictor = predictions_dir_predictor(folder)
        result = evaluate([Target(structures_dir / "1aki.cif", "A")], predictor, progress=False)
        tables[suffix] = result.records[0]
        assert list(predictor.readers) == [f"1aki{suffix}"]
    assert predictor.readers == {"1aki.csv": "L x L matrix text"}
    for suffix in (".npz", ".mat", ".csv"):
        for column in result.metric_columns():
            assert tables[suffix][column] == pytest.approx(tables[".npy"][column], abs=1e-5), (suffix, column)


def test_top_l5_rr_scored_at_l_over_the_listed_pairs(structures_dir, tmp_path, capsys):
    """An RR file of its best L/5 pairs: P@L is precision over the pairs listed, and the count is shown."""
    s = load_structure(structures_dir / "1aki.cif", "A")
    labels = contact_map(s)
    perfect = np.nan_to_num(labels, nan=0.0)
    n = len(s)
    write_rr(tmp_path / "1aki.rr", perfect, s.sequence, "1aki", min_separation=6, max_pairs=n // 5)
    result = evaluate([Target(structures_dir / "1aki.cif", "A")], predictions_dir_predictor(tmp_path), progress=False)
    record = result.records[0]
    assert record["all n@L"] == n // 5 and record["all P@L"] == 1.0  # every listed pair is a contact
    assert record["all n@L/5"] == n // 5
    lines = format_table(result).splitlines()
    assert f"1.000 ({n // 5})" in lines[3] and lines[-1].startswith("(n)")
    # the CLI says which reader it used
    assert main(["evaluate", "--structures", str(structures_dir / "1aki.cif"), "--predictions", str(tmp_path),
                 "--output", str(tmp_path / "e")]) == 0
    out = capsys.readouterr()
    assert "predictions read as CASP RR (1 file)" in out.err and f"({n // 5})" in out.out
    row = next(csv.DictReader(open(tmp_path / "e.csv")))
    assert int(row["all n@L"]) == n // 5
