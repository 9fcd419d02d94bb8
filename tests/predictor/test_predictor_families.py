"""The Predictor on every family: contacts streamed head by head equal the reference path on all maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import contacts
from contacts.features import attention_features, contact_probabilities

SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLG", "MKTAYIAKQR", "GSHMDEKLLR"]


@pytest.mark.parametrize("preset", ["tiny", "tiny_bert", "tiny_roberta", "tiny_t5"])
def test_contacts_equal_the_materialized_reference(preset):
    model = contacts.Predictor.random(preset)
    got = model.predict_contacts(SEQS)
    weight, bias = model.regression
    lead = len(model.alphabet.prefix)
    for seq, probs in zip(SEQS, got):
        tokens = torch.tensor([model.alphabet.encode(seq)])
        with torch.no_grad():
            maps = model.model(tokens, need_weights=True).attentions
        # the reference path cuts the leading special; a T5 encoder has none, so one zero row/column stands in
        if lead == 0:
            maps = torch.nn.functional.pad(maps, (1, 0, 1, 0))
            tokens = torch.nn.functional.pad(tokens, (1, 0), value=model.alphabet.padding_idx)
        features = attention_features(maps, tokens, model.alphabet.eos_idx)
        expected = contact_probabilities(features, weight, bias)[0].numpy()
        np.testing.assert_allclose(probs, expected, atol=2e-6, rtol=0)


@pytest.mark.parametrize("preset", ["tiny_bert", "tiny_t5"])
def test_head_by_head_equals_layer_by_layer(preset):
    model = contacts.Predictor.random(preset)
    assert model.model.streams_heads
    streamed = model.predict_contacts(SEQS, max_tokens=64)  # one padded batch
    model.model.streams_heads = False
    layered = model.predict_contacts(SEQS, max_tokens=64)
    for a, b in zip(streamed, layered):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_specials_never_appear_in_outputs():
    model = contacts.Predictor.random("tiny_t5")
    seq = SEQS[1]
    assert model.attention_maps(seq).shape == (2, 4, len(seq), len(seq))
    assert model.embed(seq).shape == (len(seq), 32)
    layers = list(model.iter_attention(seq))
    attention = layers[0][1]
    assert attention.shape == (4, len(seq) + 2, len(seq) + 2)
    assert float(attention[:, 0].abs().sum()) == 0.0 and float(attention[:, :, 0].abs().sum()) == 0.0
    np.testing.assert_allclose(attention[:, 1:].sum(-1).numpy(), 1.0, atol=1e-5)
    bert = contacts.Predictor.random("tiny_bert")
    assert bert.logits(seq).shape == (len(seq), len(bert.alphabet))
    assert {p["token_str"] for p in bert.fill_mask("MKT<mask>AY", top_k=30)} >= set("ACDEFGHIKLMNPQRSTVWY")


def test_a_probe_names_its_model_and_refuses_another(tmp_path):
    from probes import ContactProbe, use_probe  # noqa: PLC0415 (probes sits above the predictor)

    bert = contacts.Predictor.random("tiny_bert")
    probe = ContactProbe.from_regression(*bert.regression, num_heads=4)
    path = probe.save(tmp_path / "probe.pt", trained_for=bert.identity())
    use_probe(bert, path)
    same_weights_other_dtype = contacts.Predictor(bert.model, bert.regression, dtype="bfloat16")
    use_probe(same_weights_other_dtype, path)  # the hash is over float32 weights
    roberta = contacts.Predictor.random("tiny_roberta")  # the same 2 x 4 layout
    with pytest.raises(contacts.io.regression.ProbeMismatchError, match="trained for 'tiny_bert'"):
        use_probe(roberta, path)
    other_weights = contacts.Predictor.random("tiny_bert", seed=1)
    with pytest.raises(contacts.io.regression.ProbeMismatchError, match="weights sha256"):
        other_weights.use_regression_file(path)
