"""The prepared device check runs to the end on the CPU, so that it is ready for whoever has a GPU next."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_device_check_runs_every_section_on_the_cpu(tmp_path, structures_dir, msas_dir):
    env = dict(os.environ, CONTACTS_SHARED=str(structures_dir.parent), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    command = [sys.executable, str(REPO / "bench" / "device_check.py"), "--shape", "narrow", "--cases", "40",
               "--repeats", "1", "--precision-sequences", "2", "--throughput-sequences", "3",
               "--sequences", str(tmp_path / "kit"), "--out", str(tmp_path / "out"), "--doc", str(tmp_path / "doc.md")]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "out" / "device_check.json").read_text())
    assert not data["errors"], data["errors"]
    sections = data["sections"]
    assert set(sections) == {"conformance", "precision", "speed", "throughput"}
    assert max(sections["conformance"]["max_abs_diff"].values()) < 1e-4
    for run in ("contacts float16", "contacts bfloat16"):
        result = sections["precision"]["runs"][run]
        assert 0 <= result["max_abs_diff"] < 0.2 and 0 <= result["top_L_overlap_min"] <= 1
    speed = sections["speed"]["cases"]["L = 40"]
    assert speed["contacts fp32"]["seconds"] > 0 and speed["fair-esm fp32 contacts"]["seconds"] > 0
    assert sections["throughput"]["cli"]["exit"] == 0
    assert [r["dtype"] for r in sections["throughput"]["runs"]][-2:] == ["float16", "bfloat16"]
    doc = (tmp_path / "doc.md").read_text()
    assert doc.startswith("<!-- begin device-cpu -->") and "## Device check: CPU" in doc


@pytest.mark.parametrize("existing", ["", "# Title\n\nintro\n", "# T\n<!-- begin s-1 -->\nold\n<!-- end s-1 -->\ntail\n"])
def test_doc_sections_replace_only_their_own_text(tmp_path, existing):
    sys.path.insert(0, str(REPO / "bench"))
    from docs_section import write_section

    doc = tmp_path / "doc.md"
    doc.write_text(existing)
    write_section(doc, "s-1", "new table")
    write_section(doc, "s-2", "other")
    write_section(doc, "s-1", "newer table")
    text = doc.read_text()
    assert text.count("<!-- begin s-1 -->") == 1 and "newer table" in text and "new table\n" not in text
    assert "other" in text and "old" not in text
    for kept in ("# Title\n\nintro", "tail"):
        assert (kept in text) == (kept in existing)
