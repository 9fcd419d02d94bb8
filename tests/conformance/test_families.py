"""Every encoder family against transformers' own class: folders written by ``save_pretrained``, random weights.

For BERT, RoBERTa and the T5 encoder, a small random model is saved in transformers'
layout (``config.json``, ``model.safetensors``, the tokenizer's files), loaded by
:func:`contacts.load_model`, and compared with the same folder loaded by
transformers with eager attention: logits (where there is a head), every hidden
state and every attention map, within 1e-5; token ids equal to transformers'
tokenizer given the model cards' space-separated residues.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from reference import _perturb_

import contacts

transformers = pytest.importorskip("transformers")

ATOL = 1e-5
SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "MKVULLAGHWZ", "GSHMDEOB"]
PROTBERT_LIKE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"LAGVESIKRDTPNQFYMHCWXUBZO"]
ROBERTA_VOCAB = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", *"LAGVESIKRDTPNQFYMHCWXUBZO"]
T5_PIECES = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *(("\u2581" + a, -1.0) for a in "ALGVSREDTIPKFQNYMHWCXBOUZ")]


def card_text(sequence: str) -> str:
    """What ProtBert's and ProtT5's model cards feed the tokenizer: rare residues as X, space-separated."""
    return " ".join(re.sub(r"[UZOB]", "X", sequence))


def write_bert(folder):
    config = transformers.BertConfig(vocab_size=len(PROTBERT_LIKE), hidden_size=32, num_hidden_layers=3,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertForMaskedLM(config)
    _perturb_(model, 1)
    model.save_pretrained(folder)
    tokenizer = transformers.BertTokenizer(vocab={t: i for i, t in enumerate(PROTBERT_LIKE)}, do_lower_case=False)
    tokenizer.save_pretrained(folder)
    return transformers.BertForMaskedLM, tokenizer


def write_roberta(folder):
    config = transformers.RobertaConfig(vocab_size=len(ROBERTA_VOCAB), hidden_size=32, num_hidden_layers=3,
                                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=66,
                                        pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1)
    model = transformers.RobertaForMaskedLM(config)
    _perturb_(model, 2)
    model.save_pretrained(folder)
    tokenizer = transformers.RobertaTokenizer(vocab={t: i for i, t in enumerate(ROBERTA_VOCAB)}, merges=[])
    tokenizer.save_pretrained(folder)
    return transformers.RobertaForMaskedLM, tokenizer


def write_t5(folder, gated: bool = False):
    tokenizer = transformers.T5Tokenizer(vocab=T5_PIECES, extra_ids=100)
    config = transformers.T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=3,
                                   num_heads=4, feed_forward_proj="gated-gelu" if gated else "relu",
                                   relative_attention_num_buckets=8, relative_attention_max_distance=20)
    model = transformers.T5EncoderModel(config)
    _perturb_(model, 3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return transformers.T5EncoderModel, tokenizer


WRITERS = {"bert": write_bert, "roberta": write_roberta, "t5": write_t5,
           "t5-gated": lambda folder: write_t5(folder, gated=True)}


@pytest.fixture(scope="module", params=sorted(WRITERS))
def family(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    cls, tokenizer = WRITERS[request.param](folder)
    reference = cls.from_pretrained(folder, attn_implementation="eager").eval()
    with pytest.warns(UserWarning, match="no contact-regression weights"):
        ours = contacts.load_model(folder, device="cpu")
    return request.param, reference, tokenizer, ours


def _close(got, expected, atol=ATOL):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=atol, rtol=0)


def test_tokens_are_the_model_card_tokenizers(family):
    _, _, tokenizer, ours = family
    for seq in SEQS:
        assert ours.alphabet.encode(seq) == tokenizer(card_text(seq))["input_ids"], seq


def test_logits_hidden_states_and_maps_match_transformers_eager(family):
    name, reference, tokenizer, ours = family
    batch = tokenizer([card_text(s) for s in SEQS], padding=True, return_tensors="pt")
    tokens, mask = batch["input_ids"], batch["attention_mask"]
    assert torch.equal(tokens, ours.alphabet.batch_encode(SEQS))
    n = ours.config.num_layers
    with torch.no_grad():
        expected = reference(input_ids=tokens, attention_mask=mask, output_attentions=True, output_hidden_states=True)
        got = ours.model(tokens, repr_layers=range(n + 1), need_weights=True)
    keep = mask.bool()
    if ours.has_lm_head:
        _close(got.logits[keep], expected.logits[keep])
    else:
        assert got.logits is None and not hasattr(expected, "logits")
    # transformers' last hidden state of a T5 encoder is after its final norm, as ours at layer n.
    for layer, want in enumerate(expected.hidden_states):
        _close(got.representations[layer][keep], want[keep])
    pair = (mask[:, None, None, :, None] * mask[:, None, None, None, :]).float()
    _close(got.attentions, torch.stack(expected.attentions, 1) * pair)


def test_predictor_outputs_drop_the_special_tokens(family):
    _, reference, tokenizer, ours = family
    seq = SEQS[0]
    batch = tokenizer([card_text(seq)], return_tensors="pt")
    with torch.no_grad():
        expected = reference(**batch, output_attentions=True, output_hidden_states=True)
    lead = 0 if ours.alphabet.cls_idx is None else 1
    residues = slice(lead, lead + len(seq))
    maps = ours.attention_maps(seq)
    _close(maps, torch.stack(expected.attentions, 1)[0][:, :, residues, residues])
    _close(ours.embed(seq, layers=-1), expected.hidden_states[-1][0, residues])
    if ours.has_lm_head:
        _close(ours.logits(seq), expected.logits[0, residues])
        _close(ours.logits(seq, amino_acids=True),
               expected.logits[0, residues][:, list(ours.alphabet.amino_acid_idx)])


def test_fused_and_explicit_attention_agree(family):
    _, _, _, ours = family
    tokens = ours.alphabet.batch_encode(SEQS)
    with torch.no_grad():
        fused = ours.model(tokens, repr_layers=[ours.config.num_layers])
        explicit = ours.model(tokens, repr_layers=[ours.config.num_layers], need_weights=True)
    keep = tokens.ne(ours.alphabet.padding_idx)
    n = ours.config.num_layers
    _close(fused.representations[n][keep], explicit.representations[n][keep])


def test_batched_logits_equal_one_at_a_time(family):
    _, _, _, ours = family
    if not ours.has_lm_head:
        with pytest.raises(contacts.predictor.core.NoLanguageModelHeadError, match="no language-model head"):
            ours.logits(SEQS[0])
        with pytest.raises(contacts.predictor.core.NoLanguageModelHeadError, match="fill-mask"):
            ours.fill_mask("MK<mask>")
        return
    together = ours.logits(SEQS, max_tokens=64, amino_acids=True)
    for seq, got in zip(SEQS, together):
        _close(got, ours.logits(seq, amino_acids=True))


@pytest.mark.parametrize("family", ["bert", "t5"])
def test_a_hub_id_of_another_family_loads_offline_with_its_tokenizer(family, tmp_path, monkeypatch):
    """huggingface_hub's cache layout (models--owner--name/snapshots/<commit>, refs/main), offline."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hf" / "hub" / f"models--someone--{family}-tiny"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    WRITERS[family](snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    with pytest.warns(UserWarning, match="no contact-regression"):
        model = contacts.load_model(f"someone/{family}-tiny", device="cpu")
    assert model.config.name == f"someone/{family}-tiny"
    local = contacts.Predictor(contacts.encoder.families.build_model(
        contacts.encoder.families.read_folder(snapshot)), device="cpu")
    _close(model.attention_maps(SEQS[0]), local.attention_maps(SEQS[0]))
