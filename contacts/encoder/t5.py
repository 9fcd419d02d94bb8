"""Tokens -> representations and attention maps: the T5 encoder (ProtT5's ``T5EncoderModel``).

Written to give transformers' ``T5EncoderModel`` numbers (eager attention; checked to
1e-5 in ``tests/conformance/test_families.py``): pre-norm blocks with T5's RMS
LayerNorm (no mean, no bias), attention without the ``1/sqrt(d)`` scale plus a learned
relative-position bias (bucketed, computed once by the first block and shared), a
ReLU or gated-GELU feed-forward, a final RMS norm. There is no language-model head:
logits, fill-mask and variant scores are refused; contacts, maps and embeddings work.

Tokens as ProtT5's model card says: residues space-separated (each one SentencePiece
piece ``'\u2581A'``), ``U``, ``Z``, ``O``, ``B`` -> ``X``, ``</s>`` appended, nothing
before. The vocabulary comes from the folder's ``tokenizer.json`` or ``spiece.model``
(its pieces read straight from the protocol buffer; no sentencepiece needed).

Files: a transformers folder of ``model_type`` ``t5``; a whole
``T5ForConditionalGeneration`` (ProtT5-XL-U50's repository) reads too, its decoder
and LM head left out and named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..io.safe_load import CheckpointError
from ..io.text import read_bytes
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

__all__ = ["PRESETS", "T5Config", "T5Encoder", "build", "read_folder", "read_spiece_pieces"]

ACTIVATIONS = {"relu": F.relu, "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "gelu": F.gelu}
PIECE = "\u2581"  # SentencePiece's word-start mark: " A" is the piece '\u2581A'


@dataclass(frozen=True)
class T5Config:
    """Shape and vocabulary of a T5 encoder.

    Attributes
    ----------
    head_dim : int
        ``d_kv``: per-head width, which need not be ``embed_dim / num_heads`` (ProtT5-XL: 128 x 32 > 1024).
    max_positions : int
        Tokens per forward pass the package uses (``n_positions``, 512 for ProtT5). T5's
        relative positions set no hard limit; this is the window of long sequences.
    vocab : tuple of str
        Token strings by id, ``vocab_size`` long (ids past the SentencePiece pieces are
        ``<extra_id_N>``).
    gated : bool
        ``feed_forward_proj`` ``gated-*``: ``wo(act(wi_0 x) * wi_1 x)``; else ``wo(act(wi x))``.
    """

    name: str
    num_layers: int
    embed_dim: int
    num_heads: int
    head_dim: int
    ffn_dim: int
    vocab: tuple[str, ...]
    max_positions: int = 512
    num_buckets: int = 32
    max_distance: int = 128
    layer_norm_eps: float = 1e-6
    activation: str = "relu"
    gated: bool = False

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} is not one of {sorted(ACTIVATIONS)}")
        missing = [t for t in ("<pad>", "</s>", "<unk>") if t not in self.vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks {missing}")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def max_residues(self) -> int:
        """Residues per forward pass: the positions less ``</s>``."""
        return self.max_positions - 1

    @property
    def num_maps(self) -> int:
        return self.num_layers * self.num_heads

    def replace(self, **changes) -> T5Config:
        return replace(self, **changes)

    def alphabet(self) -> Alphabet:
        pieces = {letter: PIECE + letter for letter in RESIDUES if PIECE + letter in self.vocab}
        pieces.update({letter: pieces.get("X", "X") for letter in RARE_TO_X if "X" in pieces})
        return Alphabet(self.vocab, cls=None, eos="</s>", pad="<pad>", unk="<unk>", mask=None,
                        residue_tokens=pieces)


_PROTT5_LIKE_VOCAB = ("<pad>", "</s>", "<unk>", *(PIECE + a for a in "ALGVSREDTIPKFQNYMHWCXBOUZ"),
                      *(f"<extra_id_{i}>" for i in range(99, -1, -1)))

PRESETS = {
    "tiny_t5": T5Config("tiny_t5", 2, 32, 4, 8, 64, _PROTT5_LIKE_VOCAB),
}


class RMSNorm(nn.Module):
    """T5's LayerNorm: scale by the root mean square, no mean subtracted, no bias; computed in float32."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        variance = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps)).to(self.weight.dtype)


def relative_buckets(length: int, num_buckets: int, max_distance: int, device=None) -> Tensor:
    """T5's bidirectional relative-position buckets, shape=(t, t): exact up to a distance, then log-spaced."""
    position = torch.arange(length, device=device)
    relative = position[None, :] - position[:, None]
    half = num_buckets // 2
    buckets = (relative > 0).long() * half
    distance = relative.abs()
    exact = half // 2
    far = exact + (
        torch.log(distance.float() / exact) / math.log(max_distance / exact) * (half - exact)
    ).long()
    far = far.clamp(max=half - 1)
    return buckets + torch.where(distance < exact, distance, far)


class SelfAttention(nn.Module):
    def __init__(self, cfg: T5Config, relative_bias: bool):
        super().__init__()
        self.num_heads = cfg.num_heads
        inner = cfg.num_heads * cfg.head_dim
        self.q_proj = nn.Linear(cfg.embed_dim, inner, bias=False)
        self.k_proj = nn.Linear(cfg.embed_dim, inner, bias=False)
        self.v_proj = nn.Linear(cfg.embed_dim, inner, bias=False)
        self.out_proj = nn.Linear(inner, cfg.embed_dim, bias=False)
        self.relative_bias = nn.Embedding(cfg.num_buckets, cfg.num_heads) if relative_bias else None

    def forward(self, x: Tensor, bias: Tensor, need_weights: bool,
                heads_to: HeadSink | None = None) -> tuple[Tensor, Tensor | None]:
        """``bias``, shape=(b or 1, h, t, t): the relative-position bias plus -inf on padded keys."""
        q, k, v = (
            rearrange(proj(x), "b t (h d) -> b h t d", h=self.num_heads)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        if heads_to is not None:
            # One head's map at a time, handed to the sink and dropped: never the layer's h maps at once.
            outs = []
            for head in range(self.num_heads):
                scores = torch.matmul(q[:, head], k[:, head].transpose(-1, -2)).add_(bias[:, head])
                # softmax in place (exp(s - max) / sum): one L x L buffer per head, not two
                weights = scores.float()
                weights.sub_(weights.amax(dim=-1, keepdim=True)).exp_()
                weights.div_(weights.sum(dim=-1, keepdim=True))
                del scores
                heads_to(head, weights)
                outs.append(torch.matmul(weights.type_as(v), v[:, head]))
                del weights
            return self.out_proj(rearrange(torch.stack(outs, dim=1), "b h t d -> b t (h d)")), None
        if need_weights:
            # T5 does not scale QK^T; the softmax is taken in float32.
            scores = torch.einsum("bhid,bhjd->bhij", q, k) + bias
            weights = scores.float().softmax(dim=-1)
            out = torch.einsum("bhij,bhjd->bhid", weights.type_as(v), v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0)
            weights = None
        return self.out_proj(rearrange(out, "b h t d -> b t (h d)")), weights


class TransformerLayer(nn.Module):
    """Pre-norm block: x + attn(RMS(x)), then x + ffn(RMS(x))."""

    def __init__(self, cfg: T5Config, relative_bias: bool):
        super().__init__()
        self.self_attn_layer_norm = RMSNorm(cfg.embed_dim, cfg.layer_norm_eps)
        self.self_attn = SelfAttention(cfg, relative_bias)
        self.final_layer_norm = RMSNorm(cfg.embed_dim, cfg.layer_norm_eps)
        self.wi = nn.Linear(cfg.embed_dim, cfg.ffn_dim, bias=False)
        self.wi_gate = nn.Linear(cfg.embed_dim, cfg.ffn_dim, bias=False) if cfg.gated else None
        self.wo = nn.Linear(cfg.ffn_dim, cfg.embed_dim, bias=False)
        self.act = ACTIVATIONS[cfg.activation]

    def forward(self, x, bias, need_weights, heads_to=None):
        h, weights = self.self_attn(self.self_attn_layer_norm(x), bias, need_weights, heads_to)
        x = x + h
        h = self.final_layer_norm(x)
        # transformers' gated form: wo(act(wi_0 h) * wi_1 h); wi is wi_0 here, wi_gate wi_1.
        inner = self.act(self.wi(h)) * self.wi_gate(h) if self.wi_gate is not None else self.act(self.wi(h))
        return x + self.wo(inner), weights


class T5Encoder(EncoderStack):
    """The T5 encoder stack; no language-model head (:attr:`has_lm_head` is False).

    Parameters
    ----------
    cfg : T5Config
    """

    has_lm_head = False

    def __init__(self, cfg: T5Config):
        super().__init__()
        self.cfg = cfg
        self.alphabet = cfg.alphabet()
        self.padding_idx = self.alphabet.padding_idx
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.layers = nn.ModuleList(TransformerLayer(cfg, relative_bias=i == 0) for i in range(cfg.num_layers))
        self.final_layer_norm = RMSNorm(cfg.embed_dim, cfg.layer_norm_eps)

    def embed(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Token embeddings (T5 adds no positions to them).

        Returns
        -------
        x : Tensor, shape=(b, t, e)
        padding_mask : Tensor, shape=(b, t), dtype=bool
        """
        if tokens.ndim != 2:
            raise ValueError(f"tokens must have shape (batch, length), got {tuple(tokens.shape)}")
        if tokens.shape[1] > self.cfg.max_positions:
            raise SequenceTooLongError(
                f"{tokens.shape[1]} tokens exceed the {self.cfg.max_positions} positions this package runs "
                f"{self.cfg.name} on ({self.cfg.max_residues} residues plus </s>)"
            )
        return self.embed_tokens(tokens), tokens.eq(self.padding_idx)

    def position_bias(self, padding_mask: Tensor | None, length: int, dtype: torch.dtype) -> Tensor:
        """The shared relative-position bias, shape=(1 or b, h, t, t), -inf on padded keys."""
        table = self.layers[0].self_attn.relative_bias
        buckets = relative_buckets(length, self.cfg.num_buckets, self.cfg.max_distance, table.weight.device)
        bias = rearrange(table(buckets), "i j h -> 1 h i j").to(dtype)
        if padding_mask is not None:
            bias = bias.masked_fill(padding_mask[:, None, None, :], float("-inf"))
        return bias

    def attention_context(self, padding_mask: Tensor | None, x: Tensor) -> Tensor:
        """The relative-position bias (with -inf on padded keys) every block adds to its scores."""
        return self.position_bias(padding_mask, x.shape[1], x.dtype)

    def final(self, x: Tensor) -> Tensor:
        return self.final_layer_norm(x)

    def head(self, x: Tensor) -> None:
        return None


# ----------------------------------------------------------------------------- files

RENAMES: tuple[tuple[str, str], ...] = (
    (r"^(encoder\.embed_tokens|shared)\.weight$", "embed_tokens.weight"),
    (r"^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.", r"layers.\1.self_attn_layer_norm."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.q\.", r"layers.\1.self_attn.q_proj."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.k\.", r"layers.\1.self_attn.k_proj."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.v\.", r"layers.\1.self_attn.v_proj."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.o\.", r"layers.\1.self_attn.out_proj."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.", r"layers.\1.self_attn.relative_bias."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.", r"layers.\1.final_layer_norm."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi(_0)?\.", r"layers.\1.wi."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.", r"layers.\1.wi_gate."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.", r"layers.\1.wo."),
    (r"^encoder\.final_layer_norm\.", "final_layer_norm."),
)
DROPPED = {
    r"^decoder\.": "the T5 decoder: the package reads the encoder only (T5EncoderModel)",
    r"^lm_head\.": "the decoder's LM head, which predicts decoder tokens, not masked residues",
}


def read_spiece_pieces(path: Path) -> list[str]:
    """The pieces of a SentencePiece ``spiece.model``, in id order.

    The file is a protocol buffer (``ModelProto``) whose field 1 repeats
    ``SentencePiece`` messages, each with the piece string in its field 1; only
    those are read.
    """
    data = read_bytes(path, error=CheckpointError)

    def varint(pos: int) -> tuple[int, int]:
        shift = result = 0
        while True:
            if pos >= len(data):
                raise CheckpointError(f"{path}: truncated protocol buffer")
            byte = data[pos]
            result |= (byte & 0x7F) << shift
            pos += 1
            if not byte & 0x80:
                return result, pos
            shift += 7

    def fields(start: int, end: int):
        pos = start
        while pos < end:
            key, pos = varint(pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                _, pos = varint(pos)
                yield number, None, None
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = varint(pos)
                yield number, pos, pos + size
                pos += size
            else:
                raise CheckpointError(f"{path}: not a SentencePiece model (wire type {wire})")

    pieces = []
    for number, lo, hi in fields(0, len(data)):
        if number == 1 and lo is not None:
            if hi > len(data):
                raise CheckpointError(f"{path}: truncated protocol buffer")
            try:
                piece = next((data[a:b].decode("utf-8") for n, a, b in fields(lo, hi) if n == 1 and a is not None), "")
            except UnicodeDecodeError as exc:
                raise CheckpointError(f"{path}: not a SentencePiece model (a piece is not UTF-8 text at byte "
                                      f"{lo + exc.start})") from None
            pieces.append(piece)
    if not pieces:
        raise CheckpointError(f"{path}: no SentencePiece pieces found")
    return pieces


def read_vocab(folder: Path, vocab_size: int) -> tuple[str, ...]:
    """Token strings by id: the SentencePiece pieces, then T5's ``<extra_id_N>`` up to ``vocab_size``."""
    if (folder / "tokenizer.json").is_file():
        tokenizer = read_json_file(folder / "tokenizer.json", "tokenizer.json")
        model, added = tokenizer.get("model", {}), tokenizer.get("added_tokens", [])
        vocab = model.get("vocab", []) if isinstance(model, dict) else None
        if not (isinstance(vocab, list) and all(isinstance(e, list) and e and isinstance(e[0], str) for e in vocab)
                and isinstance(added, list)
                and all(isinstance(t, dict) and type(t.get("id")) is int and isinstance(t.get("content"), str)
                        for t in added)):
            raise CheckpointError(f"{folder / 'tokenizer.json'}: not a SentencePiece (Unigram) tokenizer: 'model' "
                                  "needs a 'vocab' list of [piece, score] and 'added_tokens' entries with id and content")
        pieces = [entry[0] for entry in vocab]
        by_id = dict(enumerate(pieces))
        by_id.update({t["id"]: t["content"] for t in added})
        pieces = [by_id[i] for i in range(len(by_id))] if sorted(by_id) == list(range(len(by_id))) else pieces
    elif (folder / "spiece.model").is_file():
        pieces = read_spiece_pieces(folder / "spiece.model")
    else:
        raise CheckpointError(f"{folder} has neither tokenizer.json nor spiece.model: the vocabulary is needed to tokenize")
    if len(pieces) > vocab_size:
        raise CheckpointError(f"{folder}: the tokenizer has {len(pieces)} pieces but vocab_size is {vocab_size}")
    extra = vocab_size - len(pieces)
    # T5's tokenizer numbers its sentinels from the end: the last id is <extra_id_0>.
    return (*pieces, *(f"<extra_id_{extra - 1 - i}>" for i in range(extra)))


def read_folder(folder: str | Path, *, name: str | None = None) -> Checkpoint:
    """Read a transformers ``t5`` folder: ``T5EncoderModel``, or the encoder of ``T5ForConditionalGeneration``."""
    folder = Path(folder)
    hf = read_hf_config(folder)
    if hf.get("model_type") != "t5":
        raise CheckpointError(f"{folder}: model_type {hf.get('model_type')!r}, expected 't5'")
    state = dict(read_hf_weights(folder))
    dropped = drop(state, DROPPED)
    shared, embed = state.get("shared.weight"), state.get("encoder.embed_tokens.weight")
    if shared is not None and embed is not None:
        if not torch.equal(shared, embed):
            raise CheckpointError(f"{folder}: encoder.embed_tokens differs from shared, which T5 ties")
        dropped["encoder.embed_tokens.weight"] = "the shared embeddings again (tied)"
        del state["encoder.embed_tokens.weight"]
    state, unmatched = rename(state, RENAMES)
    if unmatched:
        raise CheckpointError(f"{folder}: unexpected key(s) {sorted(unmatched)}")
    projection = hf.get("feed_forward_proj", "relu")
    gated = projection.startswith("gated-")
    activation = projection.removeprefix("gated-")
    if gated and activation == "gelu":
        activation = "gelu_new"  # transformers' T5 maps "gated-gelu" to the tanh GELU
    try:
        config = T5Config(
            name=name or hf.get("_name_or_path") or folder.name,
            num_layers=hf["num_layers"], embed_dim=hf["d_model"], num_heads=hf["num_heads"], head_dim=hf["d_kv"],
            ffn_dim=hf["d_ff"], vocab=read_vocab(folder, hf["vocab_size"]),
            max_positions=hf.get("n_positions", 512),
            num_buckets=hf.get("relative_attention_num_buckets", 32),
            max_distance=hf.get("relative_attention_max_distance", 128),
            layer_norm_eps=hf.get("layer_norm_epsilon", 1e-6), activation=activation, gated=gated,
        )
    except KeyError as exc:
        raise CheckpointError(f"{folder}: config.json lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise CheckpointError(f"{folder}: {exc}") from None
    return Checkpoint(config, state, None, str(folder), dropped)


def build(checkpoint: Checkpoint) -> T5Encoder:
    """A :class:`T5Encoder` holding the checkpoint's weights, checked key by key and shape by shape."""
    with torch.device("meta"):
        model = T5Encoder(checkpoint.config)
    return load_strict(model, checkpoint.state, checkpoint.source).eval()
