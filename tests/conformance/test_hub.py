"""HuggingFace Hub ids: a Hub cache built from a test-written repository, loaded offline, against transformers."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from reference import assert_matches_transformers, hub_cache, load_huggingface, write_huggingface

import contacts
from contacts.cli.main import main as cli
from contacts.encoder import hub
from contacts.encoder.config import PRESETS
from contacts.runners.provenance import model_identity
from contacts.runners.runfolder import RUN_RECORD

pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_thread")
REPO = "facebook/esm-tiny-test"
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMDE"]


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf"


@pytest.mark.parametrize("safetensors", [True, False], ids=["safetensors", "pytorch_model.bin"])
def test_hub_id_loads_from_the_cache_offline_and_matches_transformers(offline_home, safetensors):
    snapshot = hub_cache(offline_home, REPO, safetensors=safetensors)
    ours = contacts.load_model(REPO, device="cpu")
    assert ours.config.name == REPO and ours.regression is not None  # the repository's contact head
    assert_matches_transformers(ours, load_huggingface(snapshot), SEQS)


def test_revision_picks_a_commit_or_branch(offline_home):
    main = hub_cache(offline_home, REPO, seed=3)
    other = hub_cache(offline_home, REPO, seed=4, branch="v2")
    assert hub.fetch_hub(REPO) == main
    assert hub.fetch_hub(REPO, revision="v2") == other
    assert hub.fetch_hub(REPO, revision=other.name) == other
    a, b = contacts.load_model(REPO, device="cpu"), contacts.load_model(REPO, device="cpu", revision="v2")
    assert not torch.equal(a.model.embed_tokens.weight, b.model.embed_tokens.weight)
    with pytest.raises(hub.DownloadError, match=r"revision 'nope'.*\(hf download \S+ --revision nope\)"):
        contacts.load_model(REPO, revision="nope")
    with pytest.raises(ValueError, match="Hub ids"):
        contacts.load_model(main, revision="v2")


def test_predict_on_a_hub_id_names_the_commit_and_hashes_the_snapshot(offline_home, tmp_path, capsys):
    main, v2 = hub_cache(offline_home, REPO, seed=3), hub_cache(offline_home, REPO, seed=4, branch="v2")
    fasta, out = tmp_path / "in.fasta", tmp_path / "out"
    fasta.write_text(f">a\n{SEQS[0]}\n")
    predict = ["predict", "--model", REPO, str(fasta), "-o", str(out), "--no-progress"]

    assert cli(predict) == 0
    record = json.loads((out / RUN_RECORD).read_text())["model"]
    # the same files as the snapshot folder given as a path: the hashes name the weights, not the route to them
    assert record == {**model_identity(main), "source": REPO, "revision": main.name}
    assert record["regression"] == "in the weights"
    expected = contacts.load_model(REPO, device="cpu").predict_contacts(SEQS[0])
    np.testing.assert_array_equal(np.load(out / "a.npy"), expected)
    capsys.readouterr()

    assert cli([*predict, "--revision", "v2"]) == 1  # other weights: refused, nothing overwritten
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "weights: " in error and "--overwrite" in error
    assert cli([*predict, "--revision", "v2", "--overwrite"]) == 0
    record = json.loads((out / RUN_RECORD).read_text())["model"]
    assert record["revision"] == v2.name and record["weights_sha256"] == model_identity(v2)["weights_sha256"]
    assert record["weights_sha256"] != model_identity(main)["weights_sha256"]


def test_offline_with_nothing_cached_is_one_line_naming_id_and_cache(offline_home):
    with pytest.raises(hub.DownloadError) as error:
        contacts.load_model("facebook/esm2_t33_650M_UR50D")
    message = str(error.value)
    assert "'facebook/esm2_t33_650M_UR50D'" in message and str(offline_home / "hub") in message
    assert "HF_HUB_OFFLINE" in message and "\n" not in message


def test_cli_reports_the_uncached_hub_id_in_one_line(tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run([sys.executable, "-m", "contacts.cli", "fill-mask", "--model", "facebook/esm1b_t33_650M_UR50S",
                           "MK<mask>A"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "facebook/esm1b_t33_650M_UR50S" in lines[0] and str(tmp_path / "hub") in lines[0]


def test_local_paths_win_over_hub_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hub.is_hub_id("facebook/esm2_t33_650M_UR50D")
    assert not hub.is_hub_id("esm1b_t33_650M_UR50S") and not hub.is_hub_id("models/x.pt")
    write_huggingface(tmp_path / "facebook" / "esm-local", PRESETS["tiny"])
    assert not hub.is_hub_id("facebook/esm-local")
    assert contacts.load_model("facebook/esm-local", device="cpu").config.num_layers == PRESETS["tiny"].num_layers


def test_cache_folder_follows_the_environment_when_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "a"))
    assert hub.hub_cache_dir() == tmp_path / "a" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "b"))
    assert hub.hub_cache_dir() == tmp_path / "b"
