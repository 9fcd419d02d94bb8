"""ESM-2 (rotary positions): this package against fair-esm's ESM2 and transformers, on random weights."""

import numpy as np
import pytest
import torch
from reference import assert_matches_transformers, load_fair_esm, load_huggingface, write_huggingface, write_release

import contacts
from contacts.encoder.alphabet import ALPHABET
from contacts.encoder.config import PRESETS

esm = pytest.importorskip("esm")
CFG = PRESETS["tiny_esm2"]
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "MKV<mask>LLAGHW", "GSHMDE"]


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def release_pair(tmp_path_factory):
    path = write_release(tmp_path_factory.mktemp("esm2"), CFG, seed=5)
    ref, alphabet = load_fair_esm(path)
    assert type(ref).__name__ == "ESM2"
    return ref, alphabet, contacts.load_model(path, device="cpu")


def test_release_matches_fair_esm(release_pair):
    ref, alphabet, ours = release_pair
    assert ours.config.position_embedding == "rotary" and not ours.config.emb_layer_norm_before
    _, _, tokens = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(SEQS)])
    layers = list(range(CFG.num_layers + 1))
    with torch.no_grad():
        expected = ref(tokens, repr_layers=layers, return_contacts=True)
        got = ours.model(tokens, repr_layers=layers, need_weights=True)
        fast = ours.model(tokens).logits
    _close(got.logits, expected["logits"])
    _close(fast, expected["logits"])
    for layer in layers:
        _close(got.representations[layer], expected["representations"][layer])
    _close(got.attentions, expected["attentions"])
    for i, probs in enumerate(ours.predict_contacts(SEQS)):
        n = len(probs)
        _close(probs, expected["contacts"][i, :n, :n])


def test_embeddings_and_fill_mask_work_for_esm2(release_pair):
    _, _, ours = release_pair
    assert ours.embed("MKTAY", pool="mean").shape == (CFG.embed_dim,)
    assert len(ours.fill_mask("MK<mask>AY", top_k=2)) == 2
    assert ours.attention_maps("MKTAY").shape == (CFG.num_layers, CFG.num_heads, 5, 5)


def test_huggingface_esm2_matches_transformers(tmp_path):
    folder = write_huggingface(tmp_path / "hf", CFG, seed=6)
    ref, ours = load_huggingface(folder), contacts.load_model(folder, device="cpu")
    assert ours.config.position_embedding == "rotary"
    assert_matches_transformers(ours, ref, SEQS)


def test_esm2_presets_have_the_published_shapes():
    shapes = {name: (c.num_layers, c.embed_dim, c.num_heads) for name, c in PRESETS.items()
              if name.startswith("esm2_")}
    assert shapes == {
        "esm2_t6_8M_UR50D": (6, 320, 20), "esm2_t12_35M_UR50D": (12, 480, 20),
        "esm2_t30_150M_UR50D": (30, 640, 20), "esm2_t33_650M_UR50D": (33, 1280, 20),
        "esm2_t36_3B_UR50D": (36, 2560, 40), "esm2_t48_15B_UR50D": (48, 5120, 40),
    }


def test_probe_on_esm2_maps(release_pair):
    from contacts.features import attention_features
    from probes import ContactProbe, use_probe

    _, _, ours = release_pair
    n = CFG.num_maps
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, n))
    y = (x[:, 3] + 0.5 * rng.normal(size=600) > 0.8).astype(int)
    probe = ContactProbe(C=1.0).fit(x, y)
    original = ours.regression
    use_probe(ours, probe)
    seq = SEQS[0]
    tokens = ALPHABET.batch_encode([seq])
    with torch.no_grad():
        features = attention_features(ours.model(tokens, need_weights=True).attentions, tokens,
                                      ALPHABET.eos_idx)[0]
    expected = probe.predict_proba(features.reshape(-1, n).numpy())[:, 1].reshape(len(seq), len(seq))
    try:
        np.testing.assert_allclose(ours.predict_contacts(seq), expected, atol=1e-5)
    finally:
        ours.set_regression(*original)


def test_esm2_1022_residue_boundary(release_pair):
    ref, alphabet, ours = release_pair
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 1022))
    _, _, tokens = alphabet.get_batch_converter()([("long", seq)])
    assert tokens.shape[1] == 1024
    with torch.no_grad():
        expected = ref(tokens, return_contacts=True)
        _close(ours.model(tokens).logits, expected["logits"])
    _close(ours.predict_contacts(seq), expected["contacts"][0])


@pytest.mark.slow
def test_esm2_33_layers_by_20_heads(tmp_path):
    from contacts.encoder.config import esm2

    path = write_release(tmp_path, esm2("narrow_esm2", 33, 80, 20), seed=8)
    ref, alphabet = load_fair_esm(path)
    ours = contacts.load_model(path, device="cpu")
    _, _, tokens = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(SEQS[:2])])
    with torch.no_grad():
        expected = ref(tokens, return_contacts=True)
        got = ours.model(tokens, need_weights=True)
    assert got.attentions.shape[1:3] == (33, 20)
    _close(got.attentions, expected["attentions"])
    _close(got.logits, expected["logits"])
    for i, probs in enumerate(ours.predict_contacts(SEQS[:2])):
        n = len(probs)
        _close(probs, expected["contacts"][i, :n, :n])
