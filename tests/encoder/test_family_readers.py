"""Family readers: vocabularies, names, refusals (the numbers are in tests/conformance/test_families.py)."""

from __future__ import annotations

import json

import pytest
import torch

import contacts
from contacts.encoder import bert, families, t5
from contacts.io.safe_load import CheckpointError


def test_spiece_model_pieces_are_read_without_sentencepiece(tmp_path):
    pb = pytest.importorskip("transformers.utils.sentencepiece_model_pb2_new")
    model = pb.ModelProto()
    pieces = ["<pad>", "</s>", "<unk>", "\u2581A", "\u2581L", "\u2581X"]
    for i, piece in enumerate(pieces):
        entry = model.pieces.add()
        entry.piece, entry.score, entry.type = piece, -float(i), 1
    model.trainer_spec.model_prefix = "spiece"  # a field before and after the pieces is skipped
    model.normalizer_spec.name = "identity"
    (tmp_path / "spiece.model").write_bytes(model.SerializeToString())
    assert t5.read_spiece_pieces(tmp_path / "spiece.model") == pieces
    vocab = t5.read_vocab(tmp_path, 9)
    assert vocab == (*pieces, "<extra_id_2>", "<extra_id_1>", "<extra_id_0>")


def test_t5_maps_rare_residues_to_x_and_has_no_mask():
    alphabet = t5.PRESETS["tiny_t5"].alphabet()
    assert alphabet.encode("AUZOB") == [alphabet.index("\u2581A"), *[alphabet.index("\u2581X")] * 4, alphabet.eos_idx]
    assert alphabet.prefix == ()
    with pytest.raises(contacts.InvalidSequenceError, match="no mask token"):
        alphabet.encode("AK<mask>")


def test_unknown_model_type_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="model_type 'gpt2' is not one this package reads"):
        contacts.load_model(tmp_path)


def test_unexpected_keys_are_refused_by_name(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    transformers.BertForMaskedLM(config).save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(bert.PRESETS["tiny_bert"].vocab) + "\n")
    state = {k: v.clone() for k, v in transformers.BertForMaskedLM(config).state_dict().items()}
    state["bert.encoder.layer.0.extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "pytorch_model.bin")
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\) \['bert.encoder.layer.0.extra.weight'\]"):
        families.read_checkpoint(tmp_path)


def test_antiberty_absent_says_how_to_install(monkeypatch):
    monkeypatch.setattr(bert.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install antiberty==0\.1\.3"):
        contacts.load_model("antiberty")


@pytest.mark.parametrize("preset", ["tiny", "tiny_bert", "tiny_roberta", "tiny_t5"])
def test_every_family_meets_the_protocol(preset):
    model = contacts.Predictor.random(preset).model
    assert isinstance(model, contacts.encoder.family.Encoder)
    assert isinstance(model.cfg, contacts.encoder.family.EncoderConfig)
    assert families.family_of(model.cfg) in families.MODEL_TYPES
