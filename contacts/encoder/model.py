"""Tokens -> logits, representations and attention maps: the ESM-1b (and ESM-2) encoder.

A pre-LayerNorm RoBERTa-style encoder (Rives et al. 2021), written to give
fair-esm's ``ProteinBertModel`` numbers. Parameter names follow fair-esm's
(after its loader strips the fairseq prefixes), so the release checkpoints map
onto this module with a plain prefix strip; see :mod:`contacts.encoder.checkpoints`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .alphabet import ALPHABET, SequenceTooLongError
from .config import ModelConfig
from .family import EncoderOutput

__all__ = ["ESM1b", "ESMEncoder", "EncoderOutput"]

# fair-esm's token-dropout constant: 15% of tokens selected, 80% of those masked.
MASK_RATIO_TRAIN = 0.15 * 0.8


class LearnedPositionalEmbedding(nn.Embedding):
    """Positions start after the padding index (fairseq's convention); pads get the pad row."""

    def __init__(self, max_positions: int, embed_dim: int, padding_idx: int):
        super().__init__(max_positions + padding_idx + 1, embed_dim, padding_idx)
        self.max_positions = max_positions

    def forward(self, tokens: Tensor) -> Tensor:
        mask = tokens.ne(self.padding_idx).long()
        positions = torch.cumsum(mask, dim=1) * mask + self.padding_idx
        return super().forward(positions)


class RotaryEmbedding(nn.Module):
    """ESM-2's rotary position embedding over the head dimension (positions 0..t-1)."""

    def __init__(self, head_dim: int):
        super().__init__()
        # Persistent, as in fair-esm: release files carry it, and their values are used.
        self.register_buffer("inv_freq", self.default_inv_freq(head_dim))

    @staticmethod
    def default_inv_freq(head_dim: int) -> Tensor:
        return 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))

    def forward(self, x: Tensor) -> Tensor:
        """Rotate ``x``, shape=(b, h, t, d)."""
        t = torch.arange(x.shape[-2], device=x.device).type_as(self.inv_freq)
        freqs = torch.einsum("i,j->ij", t, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        x1, x2 = x.chunk(2, dim=-1)
        return x * emb.cos().to(x.dtype) + torch.cat((-x2, x1), dim=-1) * emb.sin().to(x.dtype)


class SelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.scaling = (cfg.embed_dim // cfg.num_heads) ** -0.5
        self.rot_emb = (
            RotaryEmbedding(cfg.embed_dim // cfg.num_heads) if cfg.position_embedding == "rotary" else None
        )
        self.q_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.k_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.v_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.out_proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)

    def forward(
        self, x: Tensor, padding_mask: Tensor | None, need_weights: bool | str
    ) -> tuple[Tensor, Tensor | None]:
        """Attend; ``need_weights``: False (fused kernel, no maps), True (the softmax maps, float32; float64 in a float64 model)
        or ``"scores"`` (the scaled scores before the softmax, in the model's dtype, padded keys
        -inf, beside the fused kernel's output: for callers that fuse the softmax into their own pass)."""
        q, k, v = (
            rearrange(proj(x), "b t (h d) -> b h t d", h=self.num_heads)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        if self.rot_emb is not None:
            q, k = self.rot_emb(q), self.rot_emb(k)
        weights = None
        if need_weights:
            # fair-esm scales the query before QK^T and takes the softmax in float32 (a float64
            # model keeps float64 here, so that nothing in it rounds to float32).
            scores = torch.einsum("bhid,bhjd->bhij", q * self.scaling, k)
            if padding_mask is not None:
                scores = scores.masked_fill(padding_mask[:, None, None, :], float("-inf"))
            weights = scores if need_weights == "scores" else \
                scores.to(torch.promote_types(scores.dtype, torch.float32)).softmax(dim=-1)
        if need_weights is True:
            out = torch.einsum("bhij,bhjd->bhid", weights.type_as(v), v)
        else:
            keep = None if padding_mask is None else ~padding_mask[:, None, None, :]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return self.out_proj(rearrange(out, "b h t d -> b t (h d)")), weights


class TransformerLayer(nn.Module):
    """Pre-LayerNorm block: x + attn(LN(x)), then x + fc2(gelu(fc1(LN(x))))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.self_attn_layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.self_attn = SelfAttention(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.embed_dim)

    def forward(self, x, padding_mask, need_weights):
        h, weights = self.self_attn(self.self_attn_layer_norm(x), padding_mask, need_weights)
        x = x + h
        x = x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        return x, weights


class LMHead(nn.Module):
    """dense -> gelu -> LayerNorm -> projection onto the (tied) token embeddings."""

    def __init__(self, cfg: ModelConfig, weight: nn.Parameter):
        super().__init__()
        self.dense = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.weight = weight
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.layer_norm(F.gelu(self.dense(x))), self.weight) + self.bias


class ESMEncoder(nn.Module):
    """The ESM encoder: ESM-1b with learned positions; with ``position_embedding="rotary"``
    (and no embedding LayerNorm) the same module is ESM-2, as fair-esm's ``ESM2`` differs
    in nothing else.

    Parameters
    ----------
    cfg : ModelConfig
    """

    #: The ESM vocabulary; every ESM-1b and ESM-2 release shares it.
    alphabet = ALPHABET
    has_lm_head = True
    gives_scores = True

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.vocab_size != len(ALPHABET):
            raise ValueError(f"vocab_size {cfg.vocab_size} != ESM alphabet size {len(ALPHABET)}")
        self.cfg = cfg
        self.padding_idx = ALPHABET.padding_idx
        self.mask_idx = ALPHABET.mask_idx
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.embed_dim, self.padding_idx)
        self.embed_positions = (
            LearnedPositionalEmbedding(cfg.max_positions, cfg.embed_dim, self.padding_idx)
            if cfg.position_embedding == "learned"
            else None
        )
        self.emb_layer_norm_before = (
            nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
            if cfg.emb_layer_norm_before
            else None
        )
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.num_layers))
        self.emb_layer_norm_after = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.lm_head = LMHead(cfg, self.embed_tokens.weight)

    def embed(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Token + position embeddings, before the first block.

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
                f"({self.cfg.max_residues} residues plus <cls> and <eos>)"
            )
        padding_mask = tokens.eq(self.padding_idx)
        x = self.embed_tokens(tokens)
        if self.cfg.token_dropout:
            # Masked tokens were dropped in training; zero them and rescale the rest.
            is_mask = tokens.eq(self.mask_idx)
            x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
            observed = is_mask.sum(-1).float() / (~padding_mask).sum(-1)
            x = (x * (1 - MASK_RATIO_TRAIN) / (1 - observed)[:, None, None]).to(x.dtype)
        if self.embed_positions is not None:
            x = x + self.embed_positions(tokens)
        if self.emb_layer_norm_before is not None:
            x = self.emb_layer_norm_before(x)
        x = x * (~padding_mask).unsqueeze(-1).type_as(x)
        return x, padding_mask

    def iter_layers(
        self,
        tokens: Tensor,
        *,
        need_weights: bool | Collection[int] = False,
        num_layers: int | None = None,
        padded: bool | None = None,
        scores: bool = False,
    ) -> Iterator[tuple[int, Tensor, Tensor | None, Tensor]]:
        """Run the blocks one at a time, for callers that consume attention as it is made.

        Parameters
        ----------
        tokens : Tensor, shape=(b, t)
        need_weights : bool or collection of int
            Return attention maps: for every layer, or only for these 1-based layers.
            Every other layer uses the fused attention kernel.
        num_layers : int, optional
            Stop after this many blocks.
        padded : bool, optional
            Whether ``tokens`` holds any padding. Callers that know it (from the
            lengths on the host) pass it; otherwise it is read off the device, which
            waits for the device once.
        scores : bool
            Return the scores before the softmax instead of the maps (scaled ``QK^T`` in
            the model's dtype, padded keys ``-inf``, padded rows left as they are), while
            every layer's output comes from the fused kernel: for a caller that fuses the
            softmax into its own pass and never needs the float32 maps in memory
            (:func:`contacts.features.contact_term`).

        Yields
        ------
        layer : int
            1-based layer number.
        x : Tensor, shape=(b, t, e)
            Hidden state after the block (before the final LayerNorm).
        weights : Tensor, shape=(b, h, t, t), or None
            This block's attention (padded rows and columns zeroed), or its scores, if asked.
        padding_mask : Tensor, shape=(b, t)
        """
        x, padding_mask = self.embed(tokens)
        yield from self._blocks(x, padding_mask, need_weights, num_layers, padded, scores)

    def _blocks(self, x, padding_mask, need_weights, num_layers=None, padded=None, scores=False):
        if padded is None:
            padded = bool(padding_mask.any())
        attn_mask = padding_mask if padded else None
        pair_keep = None
        if need_weights and attn_mask is not None and not scores:
            keep = (~padding_mask).type_as(x)
            pair_keep = rearrange(keep, "b i -> b 1 i 1") * rearrange(keep, "b j -> b 1 1 j")
        for i, layer in enumerate(self.layers[:num_layers]):
            need = need_weights if isinstance(need_weights, bool) else (i + 1) in need_weights
            x, weights = layer(x, attn_mask, "scores" if need and scores else need)
            if need and pair_keep is not None:
                weights = weights * pair_keep
            yield i + 1, x, weights, padding_mask

    def forward(
        self,
        tokens: Tensor,
        repr_layers: Iterable[int] = (),
        need_weights: bool = False,
        *,
        padded: bool | None = None,
    ) -> EncoderOutput:
        """Run the encoder.

        Parameters
        ----------
        tokens : Tensor, shape=(b, t), dtype=int64
        repr_layers : iterable of int
            Layers whose hidden states to return (0 = embeddings, ``num_layers`` =
            the final, layer-normed output).
        need_weights : bool
            Return all attention maps. Without it the fused attention kernel is used.
        padded : bool, optional
            Whether ``tokens`` holds padding, when the caller knows (see :meth:`iter_layers`).
        """
        repr_layers = set(repr_layers)
        bad = [r for r in repr_layers if not 0 <= r <= self.cfg.num_layers]
        if bad:
            raise ValueError(f"repr_layers {bad} outside 0..{self.cfg.num_layers}")
        reps: dict[int, Tensor] = {}
        attentions = []
        x, padding_mask = self.embed(tokens)
        if 0 in repr_layers:
            reps[0] = x
        for layer, hidden, weights, _ in self._blocks(x, padding_mask, need_weights, padded=padded):
            x = hidden
            if layer in repr_layers:
                reps[layer] = x
            if need_weights:
                attentions.append(weights)
        x = self.emb_layer_norm_after(x)
        if self.cfg.num_layers in repr_layers:
            reps[self.cfg.num_layers] = x
        return EncoderOutput(
            logits=self.lm_head(x),
            representations=reps,
            attentions=torch.stack(attentions, dim=1) if need_weights else None,
        )


#: The name this class had when it served ESM-1b only; kept for code that imports it.
ESM1b = ESMEncoder
