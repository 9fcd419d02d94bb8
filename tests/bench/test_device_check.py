"""The prepared device check runs to the end on the CPU, so that it is ready for whoever has a GPU next."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contacts.encoder.config import PRESETS

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
    assert set(sections) == {"conformance", "precision", "speed", "jacobian", "throughput", "proteome"}
    jacobian = sections["jacobian"]
    assert [(r["L"], r["dtype"], r["passes"]) for r in jacobian["speed"]] == [(12, "float32", 240), (12, "bfloat16", 240)]
    assert set(jacobian["precision"]) == {"float16", "bfloat16"}
    assert all(0 <= r["max_change"] < 1 and 0 <= r["top_L_overlap_min"] <= 1 for r in jacobian["precision"].values())
    assert max(sections["conformance"]["max_abs_diff"].values()) < 1e-4
    for run in ("contacts float16", "contacts bfloat16"):
        result = sections["precision"]["runs"][run]
        assert 0 <= result["max_abs_diff"] < 0.2 and 0 <= result["top_L_overlap_min"] <= 1
    speed = sections["speed"]["cases"]["L = 40"]
    assert speed["contacts fp32"]["seconds"] > 0 and speed["fair-esm fp32 contacts"]["seconds"] > 0
    assert sections["throughput"]["cli"]["exit"] == 0
    assert [r["dtype"] for r in sections["throughput"]["runs"]][-2:] == ["float16", "bfloat16"]
    proteome = sections["proteome"]
    assert len(proteome["passes"]) == 4 and proteome["peak_tflops"] is None  # no GPU: no peak, no MFU
    for name, row in proteome["passes"].items():
        assert row["flops"] > 0 and row["forward"]["seconds"] > 0, name
        for key in ("unfused", "fused"):
            assert row[key]["ratio_to_forward"] > 0 and "mfu" not in row[key]
        assert row["fused"]["compiled"], name  # inductor's C++ backend here: the fused figures are the compiled pass
        assert 0 < row["fused_vs_unfused_max_abs_diff"] < (0.15 if name.startswith("bfloat16") else 0.012)
    assert [(r["dtype"], r["outputs"]) for r in proteome["command"]["runs"]] == [
        ("float16", ".npy + RR"), ("float16", ".npy"), ("bfloat16", ".npy + RR")]
    assert all(r["library_per_second"] > 0 for r in proteome["command"]["runs"])
    doc = (tmp_path / "doc.md").read_text()
    assert doc.startswith("<!-- begin device-cpu -->") and "## Device check: CPU" in doc
    assert "**The contact pass against the forward pass**" in doc and "against its library" in doc


def test_flops_and_peaks():
    sys.path.insert(0, str(REPO / "bench"))
    from device_check import contact_flops, peak_tflops

    cfg = PRESETS["esm1b_t33_650M_UR50S"]
    t, e, f, h = 1024, 1280, 5120, 20
    one_layer = 8 * t * e * e + 4 * t * e * f + 4 * t * t * e
    assert contact_flops(cfg, [1022], 33, 33) == 33 * one_layer + 33 * 2 * h * 1022**2
    assert contact_flops(cfg, [1022, 1022], 2, 1) == 2 * contact_flops(cfg, [1022], 2, 1)
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.4 and peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H200") == 989.4 and peak_tflops("Tesla T4") is None


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
