"""Every command takes every family, as a user types it; a probe refuses a model it was not trained for."""

from __future__ import annotations

import json

import pytest
from test_runs import _fasta, contacts, one_error_line


@pytest.fixture(scope="module")
def two_structures(structures_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    for name in ("1aki.cif", "1A8O.cif"):
        (folder / name).symlink_to(structures_dir / name)
    return folder


@pytest.mark.parametrize("preset", ["tiny_bert", "tiny_roberta", "tiny_t5"])
def test_predict_takes_every_family(preset, tmp_path):
    out = tmp_path / "out"
    contacts("predict", "--model", f"random:{preset}", _fasta(tmp_path), "-o", out, check=0)
    record = json.loads((out / "contacts-run.json").read_text())
    assert record["model"]["source"] == f"random:{preset}"
    assert {p.name for p in out.glob("*.npy")} == {"a.npy", "b.npy", "c.npy"}


def test_masked_lm_commands_take_bert_and_refuse_t5_in_one_line(tmp_path):
    done = contacts("fill-mask", "--model", "random:tiny_bert", "MKT<mask>AYIAK", "--json", check=0)
    assert len(json.loads(done.stdout)) == 5
    line = one_error_line(contacts("fill-mask", "--model", "random:tiny_t5", "MKTAYIAK"), "fill-mask")
    assert "no language-model head" in line
    (tmp_path / "m.csv").write_text("mutant\nK2A\nT3S\n")
    contacts("score-variants", "--model", "random:tiny_roberta", "--sequence", "MKTAYIAK", "--mutations",
             tmp_path / "m.csv", "-o", tmp_path / "scored.csv", "--no-progress", check=0)
    assert len((tmp_path / "scored.csv").read_text().splitlines()) == 3
    line = one_error_line(contacts("score-variants", "--model", "random:tiny_t5", "--sequence", "MKTAYIAK",
                                   "--mutations", tmp_path / "m.csv", "-o", tmp_path / "t5.csv"), "score-variants")
    assert "no language-model head" in line and not (tmp_path / "t5.csv").exists()


def test_probe_for_one_model_is_refused_by_another(two_structures, tmp_path):
    probe = tmp_path / "bert.pt"
    contacts("train-probe", "--model", "random:tiny_bert", "--structures", two_structures, "--split", "all",
             "-o", probe, "--no-progress", check=0)
    import torch  # noqa: PLC0415 (the record inside the probe file)
    trained = torch.load(probe, weights_only=True)["probe"]["trained_for"]
    assert (trained["name"], trained["num_layers"], trained["num_heads"]) == ("tiny_bert", 2, 4)
    assert len(trained["weights_sha256"]) == 64
    contacts("evaluate", "--model", "random:tiny_bert", "--probe", probe, "--structures", two_structures,
             "--output", tmp_path / "ok", "--no-progress", check=0)
    # same layout (2 x 4 heads), another model: refused in one line before scoring
    line = one_error_line(contacts("evaluate", "--model", "random:tiny_roberta", "--probe", probe, "--structures",
                                   two_structures, "--output", tmp_path / "no", "--no-progress"), "evaluate")
    assert "was trained for 'tiny_bert'" in line and "contacts train-probe" in line
    assert not (tmp_path / "no.csv").exists()
    line = one_error_line(contacts("predict", "--model", "random:tiny", "--regression", probe, _fasta(tmp_path),
                                   "-o", tmp_path / "p"))
    assert "was trained for 'tiny_bert'" in line


def test_analyze_heads_takes_a_t5_encoder(two_structures, tmp_path):
    contacts("analyze-heads", "--model", "random:tiny_t5", "--structures", two_structures, "--split", "all",
             "-o", tmp_path / "heads", "--no-progress", check=0)
    assert (tmp_path / "heads" / "contacts-run.json").is_file()


def test_a_model_without_a_probe_names_train_probe(tmp_path):
    line = one_error_line(contacts("predict", "--model", "antiberty", _fasta(tmp_path), "-o", tmp_path / "out"))
    assert "contacts train-probe --model antiberty" in line
