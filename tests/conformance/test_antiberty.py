"""AntiBERTy's trained weights (the ``antiberty`` package's wheel) against transformers' ``BertForMaskedLM``.

The reference is built by hand from the same files, as a user of transformers
would: ``BertConfig`` from its ``config.json``, the ``.bin`` read with
``weights_only=True``, the nine keys ``BertForMaskedLM`` does not have removed, the
rest loaded strictly, eager attention. Skipped with a reason where the package is
absent (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import contacts
from contacts.analysis.labels import contact_map
from contacts.encoder import bert
from contacts.io.domains import read_domains
from contacts.io.structures import cut_residues

transformers = pytest.importorskip("transformers")

try:
    FOLDER, VOCAB = bert.antiberty_files()
except FileNotFoundError as exc:  # pragma: no cover - the package is a test dependency
    pytest.skip(f"{exc}", allow_module_level=True)

ATOL = 1e-5
# Heavy and light variable domains of 1ncb (shared structures), and a short one with an X.
SEQS = [
    "QIQLVQSGPELKKPGETVKISCKASGYTFTNYGMNWVKQAPGKGLKWMGWINTNTGEPTYGEELKGRFAFSLETSASTAYLQINNLKNEDTATYFCARGEDNFGSLSDYWGQGTTVTVSS",
    "DIVMTQSPKFMSTSVGDRVTITCKASQDVSTAVVWYQQKPGQSPKLLIYWASTRHIGVPDRFAGSGSGTDYTLTISSVQAEDLALYYCQQHYSPPWTFGGGTKLEIK",
    "EVQLXESGGG",
]
#: The keys of the file that BertForMaskedLM has no place for (the issue's nine).
EXTRA = ("bert.embeddings.position_ids", "bert.pooler.dense.weight", "bert.pooler.dense.bias",
         *(f"cls.{head}.{p}" for head in ("species", "chain", "graft") for p in ("weight", "bias")))


@pytest.fixture(scope="module")
def pair():
    config = transformers.BertConfig.from_json_file(str(FOLDER / "config.json"))
    config._attn_implementation = "eager"
    reference = transformers.BertForMaskedLM(config).eval()
    state = torch.load(FOLDER / "pytorch_model.bin", map_location="cpu", weights_only=True)
    assert set(EXTRA) <= set(state)
    for key in EXTRA:
        del state[key]
    result = reference.load_state_dict(state, strict=False)
    assert not result.unexpected_keys and not result.missing_keys
    with pytest.warns(UserWarning, match="no contact-regression"):
        ours = contacts.load_model("antiberty", device="cpu")
    vocab = VOCAB.read_text().split()
    tokenizer = transformers.BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=False)
    return reference, ours, tokenizer


def test_dropped_keys_are_named_with_a_reason():
    checkpoint = contacts.encoder.families.read_checkpoint("antiberty")
    assert set(EXTRA) <= set(checkpoint.dropped)
    # the rest are copies transformers ties: the decoder's weight and bias
    assert set(checkpoint.dropped) - set(EXTRA) == {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert all(len(reason) > 20 for reason in checkpoint.dropped.values())
    assert checkpoint.config.num_layers == 8 and checkpoint.config.num_heads == 8 and checkpoint.config.embed_dim == 512


def test_tokens_are_the_tokenizers(pair):
    _, ours, tokenizer = pair
    for seq in SEQS:
        assert ours.alphabet.encode(seq) == tokenizer(" ".join(seq))["input_ids"]
    assert ours.alphabet.encode("X")[1] == ours.alphabet.unk_idx  # AntiBERTy has no X: [UNK], as its tokenizer


def test_logits_and_maps_equal_bert_for_masked_lm(pair):
    reference, ours, tokenizer = pair
    batch = tokenizer([" ".join(s) for s in SEQS], padding=True, return_tensors="pt")
    tokens, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        expected = reference(input_ids=tokens, attention_mask=mask, output_attentions=True, output_hidden_states=True)
        got = ours.model(tokens, repr_layers=[8], need_weights=True)
    keep = mask.bool()
    diff = (got.logits[keep] - expected.logits[keep]).abs().max().item()
    assert diff < ATOL, diff
    pair_mask = (mask[:, None, None, :, None] * mask[:, None, None, None, :]).float()
    diff = (got.attentions - torch.stack(expected.attentions, 1) * pair_mask).abs().max().item()
    assert diff < ATOL, diff
    np.testing.assert_allclose(got.representations[8][keep], expected.hidden_states[-1][keep], atol=ATOL, rtol=0)


def test_predictor_maps_are_the_residue_block(pair):
    reference, ours, tokenizer = pair
    seq = SEQS[1]
    with torch.no_grad():
        expected = reference(**tokenizer([" ".join(seq)], return_tensors="pt"), output_attentions=True)
    maps = ours.attention_maps(seq, layers=[1, 8])
    want = torch.stack(expected.attentions, 1)[0][[0, 7]][:, :, 1:-1, 1:-1]
    np.testing.assert_allclose(maps, want.numpy(), atol=ATOL, rtol=0)


# ----------------------------------------------------------------------------- real weights, real structures


@pytest.fixture(scope="module")
def domains(structures_dir):
    out = []
    for domain in read_domains("antibody_domains"):
        chain = contacts.load_structure(structures_dir / domain.file, chain=domain.chain)
        out.append((domain, cut_residues(chain, domain.first, domain.last)))
    return out


def test_masked_recovery_at_the_conserved_sites(pair, domains):
    """Each conserved anchor (heavy C22 W36 C92 W103, light C23 W35 C88 F98) masked alone comes back top-1 at most sites."""
    _, ours, _ = pair
    masked, truth = [], []
    for domain, cut in domains:
        seq = cut.sequence
        for site in domain.extra["conserved"].split(","):
            i = int(site.split(":")[1]) - 1
            masked.append(seq[:i] + "<mask>" + seq[i + 1:])
            truth.append((i, seq[i]))
    logits = ours.logits(masked, amino_acids=True)
    top1 = ["ACDEFGHIKLMNPQRSTVWY"[int(np.argmax(row[i]))] for row, (i, _) in zip(logits, truth)]
    hits = sum(t == aa for t, (_, aa) in zip(top1, truth))
    assert len(truth) == 48
    assert hits > len(truth) / 2, f"{hits} of {len(truth)} conserved sites top-1"


@pytest.mark.slow
def test_a_probe_trained_on_antibody_domains_beats_random_at_medium_range(structures_dir, domains, tmp_path):
    probe = tmp_path / "antiberty.pt"
    cli("train-probe", "--model", "antiberty", "--structures", structures_dir, "--domains", "antibody_domains",
        "--split", "train", "-o", probe, "--no-progress", check=0)
    cli("evaluate", "--model", "antiberty", "--probe", probe, "--structures", structures_dir, "--domains",
        "antibody_domains", "--split", "test", "--output", tmp_path / "eval", "--no-progress", check=0)
    result = json.loads((tmp_path / "eval.json").read_text())
    assert sorted(r["name"] for r in result["proteins"]) == ["1ncb_H_VH", "1ncb_L_VL", "5TPN_H_VH", "5TPN_L_VL"]
    rates = []
    for domain, cut in domains:
        if domain.split != "test":
            continue
        labels = contact_map(cut)
        i, j = np.triu_indices(len(labels), 12)
        keep = (j - i < 24) & ~np.isnan(labels[i, j])
        rates.append(float(np.mean(labels[i, j][keep] > 0.5)))
    medium = result["mean"]["medium"]["P@L"]
    assert medium > np.mean(rates), f"medium-range P@L {medium:.3f}, random {np.mean(rates):.3f}"


def cli(*argv, check: int = 0) -> subprocess.CompletedProcess:
    """``python -m contacts ARGV`` in a fresh interpreter, as a user types it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "CONTACTS_DEBUG": ""}
    out = subprocess.run([sys.executable, "-m", "contacts", *map(str, argv)], capture_output=True, text=True,
                         env=env, timeout=1800)
    assert out.returncode == check, out.stderr
    return out
