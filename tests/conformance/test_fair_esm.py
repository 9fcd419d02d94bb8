"""Release-layout checkpoints with random weights: this package against fair-esm, output for output."""

import numpy as np
import pytest
import torch
from reference import load_fair_esm, write_release

import contacts
from contacts.encoder.config import PRESETS

esm = pytest.importorskip("esm")
ATOL = 1e-4
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "MKV<mask>LLAGHW", "GSHMDE"]


def _pair(tmp_path_factory, preset, seed=0):
    path = write_release(tmp_path_factory.mktemp(preset), PRESETS[preset], seed)
    ref, alphabet = load_fair_esm(path)
    return ref, alphabet, contacts.load_model(path, device="cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _pair(tmp_path_factory, "tiny")


def _reference(ref, alphabet, seqs, layers):
    _, _, tokens = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(seqs)])
    with torch.no_grad():
        return tokens, ref(tokens, repr_layers=layers, return_contacts=True)


def _close(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("seqs", [SEQS[:1], SEQS[1:2], SEQS], ids=["single", "mask", "padded-batch"])
def test_encoder_outputs_match(tiny, seqs):
    ref, alphabet, ours = tiny
    layers = list(range(ours.config.num_layers + 1))
    tokens, expected = _reference(ref, alphabet, seqs, layers)
    with torch.no_grad():
        got = ours.model(tokens, repr_layers=layers, need_weights=True)
    _close(got.logits, expected["logits"])
    for layer in layers:
        _close(got.representations[layer], expected["representations"][layer])
    _close(got.attentions, expected["attentions"])
    # The fast path (fused attention, no maps) gives the same logits.
    with torch.no_grad():
        _close(ours.model(tokens).logits, expected["logits"])


def test_contacts_and_maps_match_one_at_a_time_and_batched(tiny):
    ref, alphabet, ours = tiny
    tokens, expected = _reference(ref, alphabet, SEQS, [])
    # The streaming contact path on fair-esm's own padded batch (predict_contacts groups
    # sequences of similar length, so it would not pad these three together).
    padded = ours._contacts(tokens).numpy()
    batched = ours.predict_contacts(SEQS)
    for i, seq in enumerate(SEQS):
        n = len(contacts.ALPHABET.tokenize(seq))
        _close(padded[i, :n, :n], expected["contacts"][i, :n, :n])
        n = len(contacts.ALPHABET.tokenize(seq))
        _close(batched[i], expected["contacts"][i, :n, :n])
        _close(ours.predict_contacts(seq), expected["contacts"][i, :n, :n])
        _, alone = _reference(ref, alphabet, [seq], [])
        _close(ours.attention_maps(seq), alone["attentions"][0, :, :, 1:-1, 1:-1])


def test_embeddings_match_fair_esm_representations(tiny):
    ref, alphabet, ours = tiny
    last = ours.config.num_layers
    _, expected = _reference(ref, alphabet, SEQS, [0, last])
    per_residue = ours.embed(SEQS, layers=[0, last])
    pooled = ours.embed(SEQS, pool="mean")
    for i, seq in enumerate(SEQS):
        n = len(contacts.ALPHABET.tokenize(seq))
        for layer in (0, last):
            _close(per_residue[i][layer], expected["representations"][layer][i, 1 : n + 1])
        _close(pooled[i], expected["representations"][last][i, 1 : n + 1].mean(0))


def test_1022_residue_boundary(tiny):
    ref, alphabet, ours = tiny
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 1022))
    tokens, expected = _reference(ref, alphabet, [seq], [])
    assert tokens.shape[1] == 1024
    _close(ours.predict_contacts(seq), expected["contacts"][0])
    with torch.no_grad():
        _close(ours.model(tokens).logits, expected["logits"])
    with pytest.raises(contacts.SequenceTooLongError, match="1023 residues.*at most 1022"):
        ours.attention_maps(seq + "A")


@pytest.mark.slow
def test_full_33_layers_by_20_heads(tmp_path_factory):
    """All 660 maps and the 660-coefficient regression (a narrow embedding keeps it fast)."""
    ref, alphabet, ours = _pair(tmp_path_factory, "narrow_t33", seed=1)
    assert ours.config.num_maps == 660
    seqs = SEQS[:2]
    tokens, expected = _reference(ref, alphabet, seqs, [ours.config.num_layers])
    with torch.no_grad():
        got = ours.model(tokens, need_weights=True)
    assert got.attentions.shape[1:3] == (33, 20)
    _close(got.attentions, expected["attentions"])
    _close(got.logits, expected["logits"])
    for i, probs in enumerate(ours.predict_contacts(seqs)):
        n = len(probs)
        _close(probs, expected["contacts"][i, :n, :n])
