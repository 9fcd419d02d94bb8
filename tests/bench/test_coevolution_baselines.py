"""bench/coevolution_baselines.py: tables from saved runs, and the plmDCA numbers read back from the doc."""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import coevolution_baselines as bench  # noqa: E402


def record(name, potts_s, plmdca_s=None, p_l=0.5):
    row = {"name": name, "split": "train", "L": 100, "N": 500, "Neff": 300.0, "random": 0.02,
           "mi P@L": 0.1, "mi P@L/5": 0.2, "mi s": 1.0, "potts P@L": p_l, "potts P@L/5": 0.7, "potts s": potts_s}
    if plmdca_s is not None:
        row.update({"plmdca P@L": 0.4, "plmdca P@L/5": 0.6, "plmdca s": plmdca_s})
    return row


def test_a_later_run_replaces_a_proteins_whole_record_and_the_doc_reads_back(tmp_path):
    first, second, doc = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "evaluation.md"
    first.write_text(json.dumps([record("1abc_1_A", 30.0, 60.0, p_l=0.1), record("2xyz_1_B", 10.0, 40.0)]))
    again = record("1abc_1_A", 20.0, 100.0, p_l=0.3) | {"date": "2026-11-27", "commit": "abc1234"}
    second.write_text(json.dumps([again]))  # measured again, both methods
    doc.write_text("# Evaluation\n\nkept text\n")
    assert bench.main(["--from-results", str(first), str(second), "--output", str(doc), "--shared", str(tmp_path)]) == 0
    text = doc.read_text()
    assert "kept text" in text and text.count(bench.BEGIN) == 1
    assert "| 1abc_1_A | train | 100 | 500 | 300 | 0.100 | 0.200 | 0.300 |" in text
    assert text.count("| 1abc_1_A |") == 1 and " 20 | 100 | 0.20 |" in text  # the second run's pair, its ratio
    assert "in 30 s against 140 s (0.21 of plmDCA's time)" in text
    # which run each record came from; the first file's records carry no date, so they count as today's
    assert "Records by run (each protein's Potts and plmDCA times come from the same run): " \
           "`b.json` (2026-11-27, commit abc1234): 1abc_1_A; `a.json`: 2xyz_1_B." in text
    today = bench.datetime.date.today().isoformat()
    assert f"plmDCA (pydca 1.23) measured on {min(today, '2026-11-27')} to {max(today, '2026-11-27')}." in text
    recorded, date = bench.recorded_plmdca(doc)
    assert recorded == {"1abc_1_A": (0.4, 0.6, 100.0), "2xyz_1_B": (0.4, 0.6, 40.0)}
    assert date == min(today, "2026-11-27")


def test_one_run_needs_no_sources_line(tmp_path):
    runs, doc = tmp_path / "a.json", tmp_path / "evaluation.md"
    runs.write_text(json.dumps([record("1abc_1_A", 30.0, 60.0) | {"date": "2026-11-27", "commit": "abc1234"}]))
    assert bench.main(["--from-results", str(runs), "--output", str(doc), "--shared", str(tmp_path)]) == 0
    text = doc.read_text()
    assert "Records by run" not in text and "measured on 2026-11-27." in text
