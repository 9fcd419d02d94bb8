"""``contacts analyze-heads`` on a manifest of real structures: the attention reports beside the per-head P@L."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contacts.analysis.annotations import sse_method
from contacts.cli import main
from contacts.io.manifest import write_manifest

pytestmark = pytest.mark.usefixtures("one_thread")


def test_analyze_heads_writes_arrays_summary_figures_and_reports(structures_dir, tmp_path, capsys):
    manifest = write_manifest(tmp_path / "three.tsv", [
        {"file": str(structures_dir / name), "chain": chain, "split": "train"}
        for name, chain in (("1crr.bcif", "A"), ("2rtg.bcif", "B"), ("1hml.bcif", "A"))
    ])
    out = tmp_path / "report"
    code = main(["analyze-heads", "--model", "random:tiny", "--structures", str(manifest), "--split", "all",
                 "--property", "contact,helix,binding_site,aa", "--threshold", "0.1", "--folds", "3",
                 "--contact-layers", "1", "--no-progress", "-o", str(out)])
    assert code == 0
    method = sse_method("auto")  # dssp where mkdssp is on the PATH (CI installs it), else psea
    assert f"3 proteins; secondary structure by {method}" in capsys.readouterr().out
    assert json.loads((out / "contacts-run.json").read_text())["options"]["sse"] == method
    summary = json.loads((out / "attention_summary.json").read_text())
    assert summary["sse_method"] == method
    assert summary["threshold"] == 0.1 and len(summary["proteins"]) == 3
    assert set(summary["properties"]) == {"contact", "helix", "binding_site", *"ARNDCQEGHILKMFPSTWYV"}
    arrays = np.load(out / "attention_properties.npz")
    assert arrays["proportion_contact"].shape == (2, 4)
    assert summary["probing"]["contact_layers"] == [1]
    for name in ("attention.md", "attention_heads_contact.png", "attention_layers_binding_site.png",
                 "attention_blosum62.png", "probing_by_layer.png", "head_scores.npz", "summary.md"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "attention_heads_strand.png").exists()  # not asked for


def test_unknown_property_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze-heads", "--model", "random:tiny", "--structures", "x", "-o", "y", "--property", "sheet"])
    assert exit_info.value.code == 2
    assert "unknown property 'sheet'" in capsys.readouterr().err


def test_a_bad_probe_file_is_refused_before_any_structure_is_read(structures_dir, tmp_path, capsys):
    bad = tmp_path / "probe.pt"
    bad.write_text("not a probe")
    out = tmp_path / "report"
    code = main(["analyze-heads", "--model", "random:tiny", "--structures", str(structures_dir / "MANIFEST.tsv"),
                 "--split", "train", "--probe", str(bad), "--no-progress", "-o", str(out)])
    assert code == 1 and not out.exists()
    assert "contacts analyze-heads: error:" in capsys.readouterr().err
