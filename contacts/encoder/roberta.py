"""Tokens -> logits, representations and attention maps: the RoBERTa encoder.

BERT's blocks and head (:mod:`contacts.encoder.bert`) with RoBERTa's embeddings, as
transformers' ``RobertaForMaskedLM`` computes them: positions count from
``padding_idx + 1`` and skip padding (fairseq's convention), one token type, ``<s>``
before the residues and ``</s>`` after.

Files: a transformers folder of ``model_type`` ``roberta``; the vocabulary is its
``vocab.json`` (or ``tokenizer.json``). Only vocabularies of one token per residue are
read: a BPE whose merges join residue letters would tokenize differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..io.safe_load import CheckpointError
from ..io.text import iter_lines
from .alphabet import RARE_TO_X, RESIDUES, Alphabet, SequenceTooLongError
from .bert import ACTIVATIONS, BertConfig, BertEncoder, _ids, build_bert_like
from .family import Checkpoint, drop, read_hf_config, read_hf_weights, read_json_file, rename

__all__ = ["PRESETS", "RobertaConfig", "RobertaEncoder", "build", "read_folder"]

ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


@dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """A :class:`~contacts.encoder.bert.BertConfig` with RoBERTa's specials and position offset.

    ``max_positions`` counts the rows of the position table, ``padding_idx + 1`` of
    which are never used (positions start after the padding index).
    """

    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token: str = "<pad>"

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not one of {sorted(ACTIVATIONS)}")
        missing = [t for t in ROBERTA_SPECIALS if t not in self.vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks {missing}")

    @property
    def max_residues(self) -> int:
        """Positions past the padding index, less ``<s>`` and ``</s>``."""
        return self.max_positions - self.vocab.index(self.pad_token) - 1 - 2

    def alphabet(self) -> Alphabet:
        residue_tokens = RARE_TO_X if "X" in self.vocab else {}
        return Alphabet(self.vocab, cls="<s>", eos="</s>", pad=self.pad_token, unk="<unk>", mask="<mask>",
                        residue_tokens=residue_tokens)


PRESETS = {
    "tiny_roberta": RobertaConfig("tiny_roberta", 2, 32, 4, 64, 514,
                                  (*ROBERTA_SPECIALS, *"LAGVESIKRDTPNQFYMHCWXUBZO")),
}


class RobertaEncoder(BertEncoder):
    """BERT's encoder with RoBERTa's positions (after the padding index, padding skipped)."""

    def __init__(self, cfg: RobertaConfig):
        super().__init__(cfg)
        self.embed_positions = nn.Embedding(cfg.max_positions, cfg.embed_dim, self.padding_idx)

    def embed(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        if tokens.ndim != 2:
            raise ValueError(f"tokens must have shape (batch, length), got {tuple(tokens.shape)}")
        if tokens.shape[1] > self.cfg.max_residues + 2:
            raise SequenceTooLongError(
                f"{tokens.shape[1]} tokens exceed the model's {self.cfg.max_residues + 2} positions "
                f"({self.cfg.max_residues} residues plus <s> and </s>)"
            )
        keep = tokens.ne(self.padding_idx)
        positions = torch.cumsum(keep, dim=1) * keep + self.padding_idx
        x = self.embed_tokens(tokens) + self.embed_types.weight[0] + self.embed_positions(positions)
        return self.emb_layer_norm(x), ~keep


# ----------------------------------------------------------------------------- files

RENAMES: tuple[tuple[str, str], ...] = (
    (r"^(roberta\.)?embeddings\.word_embeddings\.", "embed_tokens."),
    (r"^(roberta\.)?embeddings\.position_embeddings\.", "embed_positions."),
    (r"^(roberta\.)?embeddings\.token_type_embeddings\.", "embed_types."),
    (r"^(roberta\.)?embeddings\.LayerNorm\.", "emb_layer_norm."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.attention\.self\.query\.", r"layers.\2.self_attn.q_proj."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.attention\.self\.key\.", r"layers.\2.self_attn.k_proj."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.attention\.self\.value\.", r"layers.\2.self_attn.v_proj."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\2.self_attn.out_proj."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\2.self_attn_layer_norm."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\2.fc1."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\2.fc2."),
    (r"^(roberta\.)?encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\2.final_layer_norm."),
    (r"^lm_head\.dense\.", "lm_head.dense."),
    (r"^lm_head\.layer_norm\.", "lm_head.layer_norm."),
    (r"^lm_head\.decoder\.weight$", "lm_head.weight"),
    (r"^lm_head\.bias$", "lm_head.bias"),
)
DROPPED = {
    r"^(roberta\.)?embeddings\.position_ids$": "a saved buffer of position ids, which the encoder counts itself",
    r"^(roberta\.)?embeddings\.token_type_ids$": "a saved buffer of zeros (one token type)",
    r"^(roberta\.)?pooler\.": "the <s> pooler, which feeds sequence-level heads only",
}


def read_vocab(folder: Path) -> tuple[str, ...]:
    """Tokens in id order from ``vocab.json`` or ``tokenizer.json``; refused where merges join residues."""
    if (folder / "vocab.json").is_file():
        table = read_json_file(folder / "vocab.json", "vocab.json")
    elif (folder / "tokenizer.json").is_file():
        model = read_json_file(folder / "tokenizer.json", "tokenizer.json").get("model")
        table = model.get("vocab", {}) if isinstance(model, dict) else None
    else:
        raise CheckpointError(f"{folder} has neither vocab.json nor tokenizer.json: the vocabulary is needed to tokenize")
    if not isinstance(table, dict) or not _ids(table):
        raise CheckpointError(f"{folder}: the vocabulary is not a token -> id table with ids 0..n-1")
    merges = folder / "merges.txt"
    if merges.is_file():
        joined = [line for line in iter_lines(merges, error=CheckpointError)
                  if line and not line.startswith("#") and all(part.strip("\u0120") in RESIDUES for part in line.split())]
        if joined:
            raise CheckpointError(f"{merges}: the tokenizer merges residues ({joined[0]!r}); only vocabularies "
                                  "of one token per residue are read")
    return tuple(sorted(table, key=table.get))


def read_folder(folder: str | Path, *, name: str | None = None) -> Checkpoint:
    """Read a transformers ``roberta`` folder (``RobertaForMaskedLM`` or a bare ``RobertaModel``)."""
    folder = Path(folder)
    hf = read_hf_config(folder)
    if hf.get("model_type") != "roberta":
        raise CheckpointError(f"{folder}: model_type {hf.get('model_type')!r}, expected 'roberta'")
    if hf.get("position_embedding_type", "absolute") != "absolute" or hf.get("is_decoder"):
        raise CheckpointError(f"{folder}: only RoBERTa encoders with absolute positions are read")
    state = dict(read_hf_weights(folder))
    dropped = drop(state, DROPPED)
    decoder_bias = state.pop("lm_head.decoder.bias", None)
    if decoder_bias is not None:
        if "lm_head.bias" in state and not torch.equal(state["lm_head.bias"], decoder_bias):
            raise CheckpointError(f"{folder}: lm_head.decoder.bias differs from lm_head.bias, which transformers ties")
        state.setdefault("lm_head.bias", decoder_bias)
        dropped["lm_head.decoder.bias"] = "a second copy of lm_head.bias (transformers ties them)"
    state, unmatched = rename(state, RENAMES)
    if unmatched:
        raise CheckpointError(f"{folder}: unexpected key(s) {sorted(unmatched)}")
    vocab = read_vocab(folder)
    lm_head = any(k.startswith("lm_head.") for k in state)
    try:
        if hf["vocab_size"] != len(vocab):
            raise CheckpointError(f"{folder}: vocab_size {hf['vocab_size']} but the vocabulary has {len(vocab)} tokens")
        config = RobertaConfig(
            name=name or hf.get("_name_or_path") or folder.name,
            num_layers=hf["num_hidden_layers"], embed_dim=hf["hidden_size"], num_heads=hf["num_attention_heads"],
            ffn_dim=hf["intermediate_size"], max_positions=hf["max_position_embeddings"], vocab=vocab,
            type_vocab_size=hf.get("type_vocab_size", 1), layer_norm_eps=hf.get("layer_norm_eps", 1e-5),
            hidden_act=hf.get("hidden_act", "gelu"), pad_token=vocab[hf.get("pad_token_id", 1)], lm_head=lm_head,
            tie_word_embeddings=hf.get("tie_word_embeddings", True),
        )
    except KeyError as exc:
        raise CheckpointError(f"{folder}: config.json lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise CheckpointError(f"{folder}: {exc}") from None
    if lm_head and config.tie_word_embeddings and "lm_head.weight" in state:
        if "embed_tokens.weight" in state and not torch.equal(state["lm_head.weight"], state["embed_tokens.weight"]):
            raise CheckpointError(f"{folder}: the decoder weight differs from the word embeddings, which "
                                  "tie_word_embeddings ties")
        dropped["lm_head.decoder.weight"] = "the word embeddings again (tied)"
        del state["lm_head.weight"]
    return Checkpoint(config, state, None, str(folder), dropped)


def build(checkpoint: Checkpoint) -> RobertaEncoder:
    """A :class:`RobertaEncoder` holding the checkpoint's weights, checked key by key and shape by shape."""
    return build_bert_like(RobertaEncoder, checkpoint)
