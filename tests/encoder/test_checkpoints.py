"""Loading the released layouts: strictness, safety, regression handling, download."""

import argparse
import functools
import http.server
import threading
import warnings

import numpy as np
import pytest
import torch
from reference import RELEASE_NAME, release_args, write_huggingface, write_release

import contacts
from contacts.encoder import checkpoints, families, hub
from contacts.encoder.config import PRESETS

CFG = PRESETS["tiny"]


@pytest.fixture
def release(tmp_path):
    return write_release(tmp_path / "release", CFG)


def _rewrite(path, edit):
    data = checkpoints.safe_torch_load(path)
    edit(data)
    torch.save(data, path)


def test_missing_regression_warns_and_predict_refuses(tmp_path):
    path = write_release(tmp_path, CFG, regression=False)
    with pytest.warns(UserWarning, match="no contact-regression weights"):
        model = contacts.load_model(path, device="cpu")
    assert model.fill_mask("MK<mask>A", top_k=1)  # the language model still works
    with pytest.raises(contacts.MissingRegressionError, match="regression=PATH"):
        model.predict_contacts("MKTAY")


def test_regression_given_explicitly(tmp_path, release):
    lone = write_release(tmp_path / "lone", CFG, regression=False)
    regression = release.with_name(f"{RELEASE_NAME}-contact-regression.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = contacts.load_model(lone, regression=regression, device="cpu")
    b = contacts.load_model(release, device="cpu")
    np.testing.assert_array_equal(a.predict_contacts("MKTAYIAK"), b.predict_contacts("MKTAYIAK"))


def test_regression_of_the_wrong_size_is_refused(tmp_path, release):
    bad = tmp_path / "bad-regression.pt"
    torch.save({"model": {"contact_head.regression.weight": torch.zeros(1, 7),
                          "contact_head.regression.bias": torch.zeros(1)}}, bad)
    with pytest.raises(contacts.CheckpointError, match=r"\(1, 7\).*expected \(1, 8\)"):
        contacts.load_model(release, regression=bad)


def test_missing_and_unexpected_keys_are_listed(release):
    def edit(data):
        del data["model"]["encoder.sentence_encoder.layers.1.fc2.bias"]
        data["model"]["encoder.sentence_encoder.layers.9.fc2.bias"] = torch.zeros(3)
    _rewrite(release, edit)
    with pytest.raises(contacts.CheckpointError) as err:
        contacts.load_model(release)
    assert str(err.value).endswith("does not match esm1b_t33_650M_UR50S: missing key(s) ['layers.1.fc2.bias']; "
                                   "unexpected key(s) ['layers.9.fc2.bias']")  # one line, however many keys


def test_shape_mismatch_is_listed(release):
    def edit(data):
        data["model"]["encoder.sentence_encoder.layers.0.fc1.weight"] = torch.zeros(5, 5)
    _rewrite(release, edit)
    with pytest.raises(contacts.CheckpointError, match=r"layers.0.fc1.weight: file \(5, 5\), model \(64, 32\)"):
        contacts.load_model(release)


def test_untied_lm_head_is_refused(release):
    def edit(data):
        data["model"]["encoder.lm_head.weight"] = data["model"]["encoder.lm_head.weight"] + 1
    _rewrite(release, edit)
    with pytest.raises(contacts.CheckpointError, match="ties them"):
        contacts.load_model(release)


@pytest.mark.parametrize(
    "data, message",
    [({"cfg": {}, "model": {}}, "'cfg' holds no model arguments"),
     ({"args": argparse.Namespace(arch="protein_bert_base"), "model": {}}, "'protein_bert_base' is not ESM-1b"),
     ({"weights": {}}, "no 'model' entry")],
)
def test_other_formats_are_named(tmp_path, data, message):
    path = tmp_path / "other.pt"
    torch.save(data, path)
    with pytest.raises(contacts.CheckpointError, match=message):
        contacts.load_model(path)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(contacts.CheckpointError, match="garbage.pt: not a PyTorch file \\(it holds text\\)"):
        contacts.load_model(path)


class _Hostile:
    """Unpickling this runs a shell command: the attack a checkpoint can carry."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / f"{RELEASE_NAME}.pt"
    torch.save({"args": _Hostile(marker), "model": {}}, path)
    with pytest.raises(contacts.UnsafeCheckpointError, match="Nothing from it was executed"):
        contacts.load_model(path)
    assert not marker.exists()
    # The file really is hostile: an unsafe load runs its payload.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_huggingface_folder_without_weights(tmp_path):
    folder = write_huggingface(tmp_path / "hf", CFG)
    (folder / "model.safetensors").unlink()
    with pytest.raises(contacts.CheckpointError, match="no model.safetensors"):
        contacts.load_model(folder)


def test_huggingface_unexpected_key(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = write_huggingface(tmp_path / "hf", CFG)
    state = load_file(folder / "model.safetensors")
    state["esm.pooler.dense.weight"] = torch.zeros(2, 2)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(contacts.CheckpointError, match=r"unexpected key\(s\) \['esm.pooler.dense.weight'\]"):
        contacts.load_model(folder)


def test_unknown_source_lists_what_is_accepted():
    with pytest.raises(FileNotFoundError, match="esm1b_t33_650M_UR50S"):
        contacts.load_model("no/such/model.pt")


# ----------------------------------------------------------------------------- named releases


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server standing in for dl.fbaipublicfiles.com."""
    root = tmp_path / "www"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_named_release_is_downloaded_once_into_the_cache(tmp_path, server, monkeypatch):
    root, url = server
    made = write_release(tmp_path / "made", CFG)
    (root / "models").mkdir(parents=True)
    (root / "regression").mkdir()
    (root / "models" / made.name).write_bytes(made.read_bytes())
    reg = made.with_name(f"{RELEASE_NAME}-contact-regression.pt")
    (root / "regression" / reg.name).write_bytes(reg.read_bytes())
    cache = tmp_path / "cache"
    monkeypatch.setenv("CONTACTS_CACHE", str(cache))
    monkeypatch.setattr(hub, "RELEASE_BASE_URL", url)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "no-hub"))
    model_path, reg_path = hub.fetch_release(RELEASE_NAME, base_url=url, progress=False)
    assert model_path.read_bytes() == made.read_bytes() and reg_path.read_bytes() == reg.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == sorted([made.name, reg.name])  # no .part left
    (root / "models" / made.name).unlink()  # a second fetch must not touch the network
    assert hub.fetch_release(RELEASE_NAME, base_url=url, progress=False)[0] == model_path


def test_no_network_message_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTACTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "no-hub"))
    with pytest.raises(contacts.DownloadError) as err:
        hub.fetch_release(RELEASE_NAME, base_url="http://127.0.0.1:9", progress=False)
    assert str(tmp_path / "cache" / f"{RELEASE_NAME}.pt") in str(err.value)
    assert "CONTACTS_CACHE" in str(err.value)
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-written


def test_truncated_download_leaves_nothing(tmp_path, monkeypatch):
    class Short:
        headers = {"Content-Length": "100"}

        def __init__(self):
            self.chunks = [b"x" * 40]

        def read(self, n):
            return self.chunks.pop() if self.chunks else b""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda *a, **k: Short())
    dest = tmp_path / "file.pt"
    with pytest.raises(contacts.DownloadError, match="got 40 of 100 bytes"):
        hub.download("http://example.invalid/file.pt", dest, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_release_args_roundtrip_into_config(release):
    ckpt = families.read_checkpoint(release)
    assert ckpt.config.replace(name="tiny") == CFG
    assert vars(release_args(CFG))["encoder_layers"] == ckpt.config.num_layers
