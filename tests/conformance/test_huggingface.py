"""HuggingFace-layout checkpoints with random weights: this package against transformers."""

import numpy as np
import pytest
import torch
from reference import load_huggingface, write_huggingface

import contacts
from contacts.encoder.alphabet import ALPHABET
from contacts.encoder.config import PRESETS

transformers = pytest.importorskip("transformers")
ATOL = 1e-4
SPECIAL_IDS = {i for i, t in enumerate(ALPHABET.tokens) if t.startswith("<")}
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "MKV<mask>LLAGHW", "GSHMDE"]


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=ATOL, rtol=0)


@pytest.fixture(scope="module", params=["safetensors", "pytorch_model.bin"])
def pair(request, tmp_path_factory):
    folder = write_huggingface(
        tmp_path_factory.mktemp("hf"), PRESETS["tiny"], seed=3,
        safetensors=request.param == "safetensors",
    )
    return load_huggingface(folder), contacts.load_model(folder, device="cpu"), folder


def test_logits_attentions_hidden_states_and_contacts_match(pair):
    ref, ours, _ = pair
    tokens = ALPHABET.batch_encode(SEQS)
    mask = tokens.ne(ALPHABET.padding_idx).long()
    with torch.no_grad():
        expected = ref(tokens, attention_mask=mask, output_attentions=True, output_hidden_states=True)
        expected_contacts = ref.esm.predict_contacts(tokens, mask)
        got = ours.model(tokens, repr_layers=[ours.config.num_layers], need_weights=True)
    _close(got.logits, expected.logits)
    _close(got.representations[ours.config.num_layers], expected.hidden_states[-1])
    # transformers leaves padded rows/columns in its maps; the reference layout zeroes them.
    pair_mask = mask[:, None, None, :, None] * mask[:, None, None, None, :]
    _close(got.attentions, torch.stack(expected.attentions, 1) * pair_mask)
    for i, probs in enumerate(ours.predict_contacts(SEQS)):
        n = len(probs)
        _close(probs, expected_contacts[i, :n, :n])


def test_fill_mask_matches_the_transformers_pipeline(pair):
    ref, ours, folder = pair
    (folder / "vocab.txt").write_text("\n".join(ALPHABET.tokens) + "\n")
    tokenizer = transformers.EsmTokenizer(str(folder / "vocab.txt"))
    pipe = transformers.pipeline("fill-mask", model=ref, tokenizer=tokenizer, top_k=5)
    text = "MKTAYIAKQR<mask>ISFVKSHFSRQ"
    expected = pipe(text)
    got = ours.fill_mask(text, top_k=5)
    assert [g["token"] for g in got] == [e["token"] for e in expected]
    assert [g["token_str"] for g in got] == [e["token_str"] for e in expected]
    # Where a special token is predicted, transformers drops it from `sequence` (the
    # sequence shrinks by one); we keep it in place. Residue predictions agree exactly, but for
    # the spaces transformers' tokenizer puts between residues: ours is written as a sequence is.
    residues = [i for i, e in enumerate(expected) if e["token"] not in SPECIAL_IDS]
    assert residues, "the comparison needs at least one residue prediction"
    assert [got[i]["sequence"] for i in residues] == [expected[i]["sequence"].replace(" ", "") for i in residues]
    for g in got:  # every prediction in place, specials too: positions never shift
        assert g["sequence"] == text.replace("<mask>", g["token_str"])
    _close([g["score"] for g in got], [e["score"] for e in expected])


def test_sharded_safetensors_folder(tmp_path):
    from transformers import EsmForMaskedLM

    folder = write_huggingface(tmp_path / "one", PRESETS["tiny"], seed=4)
    EsmForMaskedLM.from_pretrained(folder).save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    whole = contacts.load_model(folder, device="cpu")
    sharded = contacts.load_model(tmp_path / "sharded", device="cpu")
    np.testing.assert_array_equal(whole.predict_contacts(SEQS[0]), sharded.predict_contacts(SEQS[0]))
