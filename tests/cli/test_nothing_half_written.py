"""Nothing half-written (issue 26): a refusal before or during a run leaves no partial report, no output file and no
run record, unless the record holds work a rerun resumes (then it says ``failed`` and which items are done)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from contacts.cli import main
from contacts.io.manifest import write_manifest
from contacts.io.regression import write_regression
from contacts.runners.runfolder import DONE, PENDING, RUN_RECORD, RunFolder

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = {"model": {"source": "random:tiny"}, "options": {"x": 1}}


@pytest.fixture
def folder(tmp_path, structures_dir):
    """Three structures: 1crr and 2rtg as deposited, and a truncated copy of 1LCD named to sort between them."""
    d = tmp_path / "structures"
    d.mkdir()
    for name in ("1crr.bcif", "2rtg.bcif"):
        shutil.copy(structures_dir / name, d / name)
    (d / "1lcd.cif").write_bytes((structures_dir / "1LCD.cif").read_bytes()[:3000])  # cut before its atoms
    write_manifest(d / "MANIFEST.tsv", [{"file": "1crr.bcif", "chain": "A", "split": "train"},
                                        {"file": "1lcd.cif", "chain": "A", "split": "train"},
                                        {"file": "2rtg.bcif", "chain": "B", "split": "train"}])
    return d


def _refused(argv, capsys, command) -> str:
    assert main([str(a) for a in argv]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"contacts {command}: error: "), lines
    return lines[0]


def test_evaluate_refused_at_the_first_structure_leaves_nothing(folder, tmp_path, capsys):
    (folder / "1lcd.cif").rename(folder / "0bad.cif")  # first in the run's order: nothing is done before it
    write_manifest(folder / "MANIFEST.tsv", [{"file": n, "chain": c, "split": "train"}
                                             for n, c in (("0bad.cif", "A"), ("1crr.bcif", "A"), ("2rtg.bcif", "B"))])
    out = tmp_path / "new" / "ev"
    line = _refused(["evaluate", "--structures", folder, "--model", "random:tiny", "--output", out, "--no-progress"],
                    capsys, "evaluate")
    assert "0bad.cif" in line and "no _atom_site" in line
    assert not (tmp_path / "new").exists()  # not the folder, not a record, not a report


def test_evaluate_refused_in_the_middle_keeps_only_the_record_of_what_is_done(folder, tmp_path, structures_dir,
                                                                               capsys):
    out = tmp_path / "ev"
    argv = ["evaluate", "--structures", folder, "--model", "random:tiny", "--output", out, "--no-progress"]
    line = _refused(argv, capsys, "evaluate")
    assert "1lcd.cif" in line and "no _atom_site" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev.run.json", "structures"]  # no report, no .csv/.json
    record = json.loads((tmp_path / "ev.run.json").read_text())
    assert record["state"] == "failed" and "1lcd.cif" in record["reason"]
    assert [(e["id"], e["state"]) for e in record["items"]] == [("1crr", DONE), ("1lcd", PENDING), ("2rtg", PENDING)]
    shutil.copy(structures_dir / "1LCD.cif", folder / "1lcd.cif")  # mended: the rerun resumes past what is done
    assert main([str(a) for a in argv]) == 0
    assert "resuming: 1 of 3 proteins done" in capsys.readouterr().err
    assert [r["name"] for r in json.loads((tmp_path / "ev.json").read_text())["proteins"]] == ["1crr", "1lcd", "2rtg"]


@pytest.mark.parametrize("command", ["train-probe", "analyze-heads"])
def test_a_broken_structure_in_the_manifest_leaves_no_probe_report_or_record(folder, tmp_path, command, capsys):
    out = tmp_path / "out" / ("probe.pt" if command == "train-probe" else "report")
    line = _refused([command, "--model", "random:tiny", "--structures", folder, "--split", "all", "-o", out,
                     "--no-progress"], capsys, command)
    assert "1lcd.cif" in line
    assert not (tmp_path / "out").exists()


def test_analyze_heads_with_a_probe_for_another_model_writes_nothing(folder, tmp_path, capsys):
    probe = write_regression(tmp_path / "esm1b-probe.pt", torch.ones(1, 33 * 20), torch.zeros(1))  # 660 maps
    (folder / "1lcd.cif").unlink()
    write_manifest(folder / "MANIFEST.tsv", [{"file": "1crr.bcif", "chain": "A", "split": "train"}])
    out = tmp_path / "report"
    line = _refused(["analyze-heads", "--model", "random:tiny", "--structures", folder, "--probe", probe,
                     "-o", out, "--no-progress"], capsys, "analyze-heads")
    assert line == (f"contacts analyze-heads: error: --probe {probe}: its coefficients lie on 165 layers x 4 heads; "
                    "this model has 2 x 4 (a probe trained for another model?)")
    assert not out.exists()


def test_a_run_failing_before_any_item_is_done_leaves_no_record_and_no_file_of_an_item_begun(tmp_path):
    made = tmp_path / "made"
    with pytest.raises(ValueError, match="bad input"):
        with RunFolder(made, "predict", SETTINGS) as run:
            run.start([{"id": "a"}, {"id": "b"}])
            (made / "a.npy").write_bytes(b"half of a report")
            run.add_files(["a.npy"], item="a")
            raise ValueError("bad input")
    assert not made.exists()  # the folder it made, removed once empty
    there = tmp_path / "there"
    there.mkdir()
    (there / "mine.txt").write_text("the user's")
    with pytest.raises(KeyError):
        with RunFolder(there, "predict", SETTINGS) as run:
            run.start([{"id": "a"}])
            raise KeyError("a bug")
    assert sorted(p.name for p in there.iterdir()) == ["mine.txt"]  # a folder it did not make is left, as it was


def test_a_run_failing_after_an_item_is_done_keeps_its_record(tmp_path):
    with pytest.raises(ValueError):
        with RunFolder(tmp_path, "predict", SETTINGS) as run:
            run.start([{"id": "a"}, {"id": "b"}])
            (tmp_path / "a.npy").write_bytes(b"done")
            run.mark_done({"a": ["a.npy"]})
            raise ValueError("bad input at b")
    record = json.loads((tmp_path / RUN_RECORD).read_text())
    assert record["state"] == "failed" and record["reason"] == "ValueError: bad input at b"
    assert [(e["id"], e["state"]) for e in record["items"]] == [("a", DONE), ("b", PENDING)]
