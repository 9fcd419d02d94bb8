"""HuggingFace Hub ids: a Hub cache built from a test-written repository, loaded offline, against transformers."""

import hashlib
import os
import subprocess
import sys

import pytest
import torch
from reference import assert_matches_transformers, load_huggingface, write_huggingface

import contacts
from contacts.encoder import hub
from contacts.encoder.config import PRESETS

pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_thread")
REPO = "facebook/esm-tiny-test"
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMDE"]


def hub_cache(home, repo_id, seed=3, safetensors=True, branch="main"):
    """huggingface_hub's cache layout: models--owner--name/{snapshots/<commit>/..., refs/<branch>}."""
    repo = home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}{seed}{safetensors}".encode()).hexdigest()
    snapshot = write_huggingface(repo / "snapshots" / commit, PRESETS["tiny"], seed=seed, safetensors=safetensors)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


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
    with pytest.raises(hub.DownloadError, match="revision 'nope'"):
        contacts.load_model(REPO, revision="nope")
    with pytest.raises(ValueError, match="Hub ids"):
        contacts.load_model(main, revision="v2")


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
