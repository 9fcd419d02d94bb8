"""bench/potts_device.py: prepared beside ../shared, run on any device, rendered here; its scores are the evaluation's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from contacts.analysis import metrics
from contacts.analysis.coevolution import encode, potts_contacts, read_alignment
from contacts.analysis.evaluation import place_prediction
from contacts.analysis.labels import contact_map
from contacts.io.structures import load_structure

REPO = Path(__file__).resolve().parents[2]
SCRIPT = str(REPO / "bench" / "potts_device.py")


def test_prepare_run_render_agree_with_the_evaluation(tmp_path, structures_dir, msas_dir):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    kit, out = tmp_path / "kit", tmp_path / "out"
    subprocess.run([sys.executable, SCRIPT, "prepare", str(kit), "--shared", str(structures_dir.parent)],
                   check=True, env=env, capture_output=True, timeout=300)
    assert len(list((kit / "potts").glob("*.npz"))) == 21
    subprocess.run([sys.executable, SCRIPT, "run", str(kit), "--device", "cpu", "--proteins", "6anz_1_B",
                    "--settings", "0.5:0.5", "1:1", "--out", str(out)], check=True, env=env, capture_output=True,
                   timeout=600)
    result = json.loads((out / "potts_device_cpu.json").read_text())
    (row,) = result["rows"]
    assert row["name"] == "6anz_1_B" and row["1:1"]["columns"] == row["length"] > row["0.5:0.5"]["columns"]

    # the same number the evaluation computes from the structure itself
    structure = load_structure(structures_dir / "6anz_1_B.pdb", "B")
    alignment = read_alignment(msas_dir / "6anz_1_B.small.a3m")
    placed = place_prediction(potts_contacts(encode(alignment)), alignment[0][1], structure)
    expected = metrics.precision_table(placed, contact_map(structure))["long"]["P@L"]
    np.testing.assert_allclose(row["0.5:0.5"]["P@L"], expected, atol=1e-12)

    doc = tmp_path / "doc.md"
    subprocess.run([sys.executable, SCRIPT, "render", str(out / "potts_device_cpu.json"), "--doc", str(doc)],
                   check=True, env=env, capture_output=True, timeout=120)
    text = doc.read_text()
    assert text.startswith("<!-- begin potts-device -->") and "| 6anz_1_B | valid | 127 | 144 |" in text
    assert "(the default)" in text
