"""Tokens -> logits, representations and attention maps: the BERT encoder (ProtBert, IgBert, AntiBERTy).

A post-LayerNorm encoder (Devlin et al. 2019) written to give transformers'
``BertForMaskedLM`` numbers (eager attention; checked to 1e-5 in
``tests/conformance/test_families.py``): absolute learned positions 0..t-1 plus the
type-0 embedding, LayerNorm; each block ``LN(x + attn(x))`` then ``LN(x + fc2(act(fc1(x))))``;
the masked-LM head ``dense -> act -> LayerNorm -> tied embeddings + bias``.

Files: a transformers folder of ``model_type`` ``bert`` (``config.json``, ``vocab.txt`` or
``tokenizer.json``, ``model.safetensors`` or ``pytorch_model.bin`` read with ``weights_only=True``), or the
name ``antiberty``: the trained AntiBERTy (Ruffolo et al. 2021, 8 layers x 8 heads, on
558M antibody sequences) that the ``antiberty`` package ships in its wheel, found with
:mod:`importlib` without importing the package (which imports transformers).

Tokens as the model cards say: residues are single tokens (the card's space-separated
``"M K T ..."``), ``[CLS]`` before them, ``[SEP]`` after; ``U``, ``Z``, ``O`` and ``B``
become ``X`` where the vocabulary has ``X`` (ProtBert's card); letters the vocabulary
lacks become ``[UNK]``, as transformers' tokenizer makes them (AntiBERTy has no ``X``).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..io.safe_load import CheckpointError
from ..io.text import iter_lines
from .alphabet import RARE_TO_X, RESIDUES, Alphabet, SequenceTooLongError
from .family import (
    Checkpoint,
    EncoderStack,
    HeadSink,
    drop,
    load_strict,
    read_hf_config,
    read_hf_weights,
    read_json_file,
    rename,
)

__all__ = ["ANTIBERTY", "ANTIBERTY_PIN", "PRESETS", "BertConfig", "BertEncoder", "antiberty_files", "build",
           "antiberty_weight_files", "build_bert_like", "read_antiberty", "read_folder"]

#: The name that loads the trained AntiBERTy of the installed ``antiberty`` package.
ANTIBERTY = "antiberty"
#: The release whose wheel holds the weights this package reads.
ANTIBERTY_PIN = "antiberty==0.1.3"

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh")}

#: ``[PAD] [UNK] [CLS] [SEP] [MASK]`` then residues: the layout of ProtBert's and AntiBERTy's vocab.txt.
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class BertConfig:
    """Shape and vocabulary of a BERT encoder.

    Attributes
    ----------
    max_positions : int
        Rows of the position table: tokens per forward pass, ``[CLS]`` and ``[SEP]`` included.
    vocab : tuple of str
        The tokens in id order (``vocab.txt``).
    lm_head : bool
        Whether the file holds a masked-LM head (``BertForMaskedLM``) or only the encoder.
    tie_word_embeddings : bool
        The head's projection is the token embedding table (transformers' default).
    """

    name: str
    num_layers: int
    embed_dim: int
    num_heads: int
    ffn_dim: int
    max_positions: int
    vocab: tuple[str, ...]
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token: str = "[PAD]"
    lm_head: bool = True
    tie_word_embeddings: bool = True

    def __post_init__(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {self.hidden_act!r} is not one of {sorted(ACTIVATIONS)}")
        missing = [t for t in BERT_SPECIALS if t not in self.vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks {missing}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def max_residues(self) -> int:
        """Residues per forward pass: the positions less ``[CLS]`` and ``[SEP]``."""
        return self.max_positions - 2

    @property
    def num_maps(self) -> int:
        return self.num_layers * self.num_heads

    def replace(self, **changes) -> BertConfig:
        return replace(self, **changes)

    def alphabet(self) -> Alphabet:
        residue_tokens = RARE_TO_X if "X" in self.vocab else {}
        return Alphabet(self.vocab, cls="[CLS]", eos="[SEP]", pad=self.pad_token, unk="[UNK]", mask="[MASK]",
                        residue_tokens=residue_tokens)


_ANTIBERTY_VOCAB = (*BERT_SPECIALS, *"ACDEFGHIKLMNPQRSTVWY")
_PROTBERT_LIKE_VOCAB = (*BERT_SPECIALS, *"LAGVESIKRDTPNQFYMHCWXUBZO")

PRESETS = {
    c.name: c
    for c in (
        BertConfig("tiny_bert", 2, 32, 4, 64, 512, _PROTBERT_LIKE_VOCAB),
        # AntiBERTy's shape (config.json of antiberty 0.1.3) with random weights.
        BertConfig("antiberty_shape", 8, 512, 8, 2048, 512, _ANTIBERTY_VOCAB),
        # ProtBert's shape (Elnaggar et al. 2021): 30 x 16 heads, hidden 1024, 40000 positions.
        BertConfig("protbert_shape", 30, 1024, 16, 4096, 40000, _PROTBERT_LIKE_VOCAB),
    )
}


class SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.scaling = (cfg.embed_dim // cfg.num_heads) ** -0.5
        self.q_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.k_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.v_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.out_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(self, x: Tensor, padding_mask: Tensor | None, need_weights: bool,
                heads_to: HeadSink | None = None) -> tuple[Tensor, Tensor | None]:
        q, k, v = (
            rearrange(proj(x), "b t (h d) -> b h t d", h=self.num_heads)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        if heads_to is not None:
            # One head's map at a time, handed to the sink and dropped: never the layer's h maps at once.
            outs = []
            for head in range(self.num_heads):
                scores = torch.matmul(q[:, head], k[:, head].transpose(-1, -2)).mul_(self.scaling)
                if padding_mask is not None:
                    scores.masked_fill_(padding_mask[:, None, :], float("-inf"))
                # softmax in place (exp(s - max) / sum): one L x L buffer per head, not two
                weights = scores.float()
                weights.sub_(weights.amax(dim=-1, keepdim=True)).exp_()
                weights.div_(weights.sum(dim=-1, keepdim=True))
                del scores
                heads_to(head, weights)
                outs.append(torch.matmul(weights.type_as(v), v[:, head]))
                del weights
            out = torch.stack(outs, dim=1)
            return self.out_proj(rearrange(out, "b h t d -> b t (h d)")), None
        if need_weights:
            # transformers scales QK^T after the product; the softmax is taken in float32.
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scaling
            if padding_mask is not None:
                scores = scores.masked_fill(padding_mask[:, None, None, :], float("-inf"))
            weights = scores.float().softmax(dim=-1)
            out = torch.matmul(weights.type_as(v), v)
        else:
            keep = None if padding_mask is None else ~padding_mask[:, None, None, :]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            weights = None
        return self.out_proj(rearrange(out, "b h t d -> b t (h d)")), weights


class TransformerLayer(nn.Module):
    """Post-LayerNorm block: x = LN(x + attn(x)), then x = LN(x + fc2(act(fc1(x))))."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.self_attn = SelfAttention(cfg)
        self.self_attn_layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.embed_dim)
        self.final_layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x, padding_mask, need_weights, heads_to=None):
        h, weights = self.self_attn(x, padding_mask, need_weights, heads_to)
        x = self.self_attn_layer_norm(x + h)
        x = self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))
        return x, weights


class LMHead(nn.Module):
    """dense -> act -> LayerNorm -> projection onto the token embeddings (tied or its own) + bias."""

    def __init__(self, cfg: BertConfig, weight: nn.Parameter | None):
        super().__init__()
        self.dense = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.weight = weight if weight is not None else nn.Parameter(torch.empty(cfg.vocab_size, cfg.embed_dim))
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.layer_norm(self.act(self.dense(x))), self.weight, self.bias)


class BertEncoder(EncoderStack):
    """The BERT encoder, with its masked-LM head where the file has one.

    Parameters
    ----------
    cfg : BertConfig
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.alphabet = cfg.alphabet()
        self.has_lm_head = cfg.lm_head
        self.padding_idx = self.alphabet.padding_idx
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.embed_dim, self.padding_idx)
        self.embed_positions = nn.Embedding(cfg.max_positions, cfg.embed_dim)
        self.embed_types = nn.Embedding(cfg.type_vocab_size, cfg.embed_dim)
        self.emb_layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.num_layers))
        self.lm_head = (
            LMHead(cfg, self.embed_tokens.weight if cfg.tie_word_embeddings else None) if cfg.lm_head else None
        )

    def embed(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Token + position + type-0 embeddings, layer-normed.

        Returns
        -------
        x : Tensor, shape=(b, t, e)
        padding_mask : Tensor, shape=(b, t), dtype=bool
        """
        if tokens.ndim != 2:
            raise ValueError(f"tokens must have shape (batch, length), got {tuple(tokens.shape)}")
        if tokens.shape[1] > self.cfg.max_positions:
            raise SequenceTooLongError(
                f"{tokens.shape[1]} tokens exceed the model's {self.cfg.max_positions} positions "
                f"({self.cfg.max_residues} residues plus [CLS] and [SEP])"
            )
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        # transformers' order of the sums (tokens + types, then positions), so float32 rounds alike.
        x = self.embed_tokens(tokens) + self.embed_types.weight[0] + self.embed_positions(positions)[None]
        return self.emb_layer_norm(x), tokens.eq(self.padding_idx)


# ----------------------------------------------------------------------------- files

#: transformers' BERT names -> ours (first match wins); ``bert.`` is absent in a bare ``BertModel``.
RENAMES: tuple[tuple[str, str], ...] = (
    (r"^(bert\.)?embeddings\.word_embeddings\.", "embed_tokens."),
    (r"^(bert\.)?embeddings\.position_embeddings\.", "embed_positions."),
    (r"^(bert\.)?embeddings\.token_type_embeddings\.", "embed_types."),
    (r"^(bert\.)?embeddings\.LayerNorm\.", "emb_layer_norm."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.attention\.self\.query\.", r"layers.\2.self_attn.q_proj."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.attention\.self\.key\.", r"layers.\2.self_attn.k_proj."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.attention\.self\.value\.", r"layers.\2.self_attn.v_proj."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\2.self_attn.out_proj."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\2.self_attn_layer_norm."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\2.fc1."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\2.fc2."),
    (r"^(bert\.)?encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\2.final_layer_norm."),
    (r"^cls\.predictions\.transform\.dense\.", "lm_head.dense."),
    (r"^cls\.predictions\.transform\.LayerNorm\.", "lm_head.layer_norm."),
    (r"^cls\.predictions\.decoder\.weight$", "lm_head.weight"),
    (r"^cls\.predictions\.bias$", "lm_head.bias"),
)
#: Keys of BERT files that no output of this package uses, and why each is left out.
DROPPED = {
    r"^(bert\.)?embeddings\.position_ids$": "a saved buffer of the positions 0..t-1, which the encoder counts itself",
    r"^(bert\.)?pooler\.": "the [CLS] pooler, which feeds sequence-level heads only",
    r"^cls\.seq_relationship\.": "BERT's next-sentence head, not a masked-LM output",
    r"^cls\.(species|chain|graft)\.": "AntiBERTy's species, chain and graft classifiers over the pooled [CLS], "
                                      "not masked-LM outputs",
}
LEGACY = ((r"LayerNorm\.gamma$", "LayerNorm.weight"), (r"LayerNorm\.beta$", "LayerNorm.bias"))


def _ids(table: dict) -> bool:
    """A token -> id table whose ids are the integers 0..n-1."""
    return all(type(v) is int for v in table.values()) and sorted(table.values()) == list(range(len(table)))


def read_vocab(folder: Path, vocab: Path | None = None) -> tuple[str, ...]:
    """Tokens in id order: ``vocab`` or the folder's ``vocab.txt`` (one a line), else its ``tokenizer.json``."""
    path = vocab or folder / "vocab.txt"
    if path.is_file():
        tokens = list(iter_lines(path, error=CheckpointError))
        return tuple(tokens[:-1] if tokens and tokens[-1] == "" else tokens)
    if vocab is None and (folder / "tokenizer.json").is_file():
        model = read_json_file(folder / "tokenizer.json", "tokenizer.json").get("model")
        table = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(table, dict) and _ids(table):
            return tuple(sorted(table, key=table.get))
        raise CheckpointError(f"{folder / 'tokenizer.json'}: its vocabulary is not a token -> id table with ids 0..n-1")
    raise CheckpointError(f"{folder} has neither {path.name} nor tokenizer.json: the vocabulary is needed to tokenize")


def config_from_hf(cfg: dict, vocab: tuple[str, ...], where: Path, *, lm_head: bool, name: str) -> BertConfig:
    """``config.json`` of a ``bert`` folder (and its vocabulary) -> :class:`BertConfig`."""
    if cfg.get("model_type") != "bert":
        raise CheckpointError(f"{where}: model_type {cfg.get('model_type')!r}, expected 'bert'")
    position = cfg.get("position_embedding_type", "absolute")
    if position != "absolute":
        raise CheckpointError(f"{where}: position_embedding_type {position!r}; only 'absolute' BERT models are read")
    if cfg.get("is_decoder"):
        raise CheckpointError(f"{where}: is_decoder is set; only BERT encoders are read")
    try:
        if cfg["vocab_size"] != len(vocab):
            raise CheckpointError(f"{where}: vocab_size {cfg['vocab_size']} but the vocabulary has {len(vocab)} tokens")
        pad = cfg.get("pad_token_id", 0)
        if not 0 <= pad < len(vocab):
            raise CheckpointError(f"{where}: pad_token_id {pad} is not an id of the vocabulary's {len(vocab)} tokens")
        return BertConfig(
            name=name,
            num_layers=cfg["num_hidden_layers"],
            embed_dim=cfg["hidden_size"],
            num_heads=cfg["num_attention_heads"],
            ffn_dim=cfg["intermediate_size"],
            max_positions=cfg["max_position_embeddings"],
            vocab=vocab,
            type_vocab_size=cfg.get("type_vocab_size", 2),
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            hidden_act=cfg.get("hidden_act", "gelu"),
            pad_token=vocab[pad],
            lm_head=lm_head,
            tie_word_embeddings=cfg.get("tie_word_embeddings", True),
        )
    except KeyError as exc:
        raise CheckpointError(f"{where}: config.json lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def read_folder(folder: str | Path, *, vocab: str | Path | None = None, name: str | None = None) -> Checkpoint:
    """Read a transformers ``bert`` folder (``BertForMaskedLM`` or a bare ``BertModel``).

    Parameters
    ----------
    vocab : path, optional
        The ``vocab.txt`` (default: the folder's own).
    name : str, optional
        The model's name in outputs (default: the folder's name).
    """
    folder = Path(folder)
    hf = read_hf_config(folder)
    state = {}
    for key, value in read_hf_weights(folder).items():
        for pattern, repl in LEGACY:
            key = re.sub(pattern, repl, key)
        state[key] = value
    dropped = drop(state, DROPPED)
    decoder_bias = state.pop("cls.predictions.decoder.bias", None)
    if decoder_bias is not None:
        bias = state.get("cls.predictions.bias")
        if bias is not None and not torch.equal(bias, decoder_bias):
            raise CheckpointError(f"{folder}: cls.predictions.decoder.bias differs from cls.predictions.bias, "
                                  "which transformers ties")
        if bias is None:
            state["cls.predictions.bias"] = decoder_bias
        else:
            dropped["cls.predictions.decoder.bias"] = "a second copy of cls.predictions.bias (transformers ties them)"
    state, unmatched = rename(state, RENAMES)
    if unmatched:
        raise CheckpointError(f"{folder}: unexpected key(s) {sorted(unmatched)}")
    lm_head = any(k.startswith("lm_head.") for k in state)
    config = config_from_hf(hf, read_vocab(folder, Path(vocab) if vocab else None), folder,
                            lm_head=lm_head, name=name or hf.get("_name_or_path") or folder.name)
    if lm_head and config.tie_word_embeddings and "lm_head.weight" in state:
        if not torch.equal(state["lm_head.weight"], state.get("embed_tokens.weight", state["lm_head.weight"])):
            raise CheckpointError(f"{folder}: the decoder weight differs from the word embeddings, which "
                                  "tie_word_embeddings ties")
        dropped["cls.predictions.decoder.weight"] = "the word embeddings again (tied)"
        del state["lm_head.weight"]
    return Checkpoint(config, state, None, str(folder), dropped)


def build(checkpoint: Checkpoint) -> BertEncoder:
    """A :class:`BertEncoder` holding the checkpoint's weights, checked key by key and shape by shape."""
    return build_bert_like(BertEncoder, checkpoint)


def build_bert_like(cls: type[BertEncoder], checkpoint: Checkpoint) -> BertEncoder:
    """``cls`` (BERT or a subclass) built on the meta device and given the checkpoint's weights, head tied."""
    with torch.device("meta"):
        model = cls(checkpoint.config)
    state = dict(checkpoint.state)
    tied = model.lm_head is not None and checkpoint.config.tie_word_embeddings
    if tied and "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    load_strict(model, state, checkpoint.source, optional=["lm_head.weight"] if tied else ())
    if tied:
        model.lm_head.weight = model.embed_tokens.weight
    return model.eval()


# ----------------------------------------------------------------------------- AntiBERTy


def antiberty_files() -> tuple[Path, Path]:
    """The model folder and ``vocab.txt`` inside the installed ``antiberty`` package.

    Found with :func:`importlib.util.find_spec`, which locates the package without
    running it (``import antiberty`` imports transformers).

    Raises
    ------
    FileNotFoundError
        The package is not installed, or holds no trained weights.
    """
    spec = importlib.util.find_spec(ANTIBERTY)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the model name {ANTIBERTY!r} reads the weights the antiberty package ships, "
                                f"and it is not installed: pip install {ANTIBERTY_PIN}")
    root = Path(next(iter(spec.submodule_search_locations))) / "trained_models"
    folder, vocab = root / "AntiBERTy_md_smooth", root / "vocab.txt"
    if not (folder / "config.json").is_file() or not vocab.is_file():
        raise FileNotFoundError(f"the installed antiberty package ({root.parent}) holds no trained model at {folder}; "
                                f"pip install {ANTIBERTY_PIN}")
    return folder, vocab


def antiberty_weight_files() -> list[Path]:
    """The files the name ``antiberty`` reads: config, weights, vocabulary."""
    folder, vocab = antiberty_files()
    return [folder / "config.json", folder / "pytorch_model.bin", vocab]


def read_antiberty() -> Checkpoint:
    """AntiBERTy's trained weights from the installed package, as a BERT checkpoint named ``antiberty``.

    Its ``pytorch_model.bin`` is a pickle: read with ``weights_only=True``, no code
    of it runs. Of its keys, nine are not BERT masked-LM weights (the position-id
    buffer, the pooler, the species / chain / graft classifiers) and two repeat tied
    weights; :attr:`Checkpoint.dropped` names each with its reason.
    """
    folder, vocab = antiberty_files()
    checkpoint = read_folder(folder, vocab=vocab, name=ANTIBERTY)
    expected = set(RESIDUES) & set(checkpoint.config.vocab)
    if len(expected) != 20:
        raise CheckpointError(f"{vocab}: expected the 20 standard amino acids, found {sorted(expected)}")
    return checkpoint
