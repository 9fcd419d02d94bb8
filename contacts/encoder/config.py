"""Frozen model configurations and named presets.

Checkpoint arguments (fairseq ``args`` or a HuggingFace ``config.json``) are
translated into a :class:`ModelConfig` once, in :mod:`contacts.encoder.checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ModelConfig:
    """Shape and switches of an ESM-1b style encoder.

    Attributes
    ----------
    max_positions : int
        Tokens per forward pass, ``<cls>`` and ``<eos>`` included (1024 for
        ESM-1b, hence 1022 residues).
    emb_layer_norm_before : bool
        A LayerNorm on the embeddings before the first block (the ESM-1b release
        has one; fair-esm detects it from the state dict).
    token_dropout : bool
        ESM's inference-time rescaling of embeddings by the fraction of
        ``<mask>`` tokens (masked positions are zeroed, as in training).
    position_embedding : str
        ``"learned"`` (ESM-1b: a table offset past the padding index) or
        ``"rotary"`` (ESM-2: rotary embeddings on queries and keys, no table).
    """

    name: str = "esm1b_t33_650M_UR50S"
    num_layers: int = 33
    embed_dim: int = 1280
    num_heads: int = 20
    ffn_dim: int = 5120
    max_positions: int = 1024
    vocab_size: int = 33
    emb_layer_norm_before: bool = True
    token_dropout: bool = True
    layer_norm_eps: float = 1e-5
    position_embedding: str = "learned"

    def __post_init__(self):
        if self.position_embedding not in ("learned", "rotary"):
            raise ValueError(f"position_embedding {self.position_embedding!r} is not 'learned' or 'rotary'")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}"
            )

    @property
    def max_residues(self) -> int:
        """Residues per forward pass: the positions less ``<cls>`` and ``<eos>``."""
        return self.max_positions - 2

    @property
    def num_maps(self) -> int:
        """Attention maps per forward pass: layers x heads (660 for ESM-1b)."""
        return self.num_layers * self.num_heads

    def replace(self, **changes) -> ModelConfig:
        return replace(self, **changes)


ESM1B_650M = ModelConfig()


def esm2(name: str, num_layers: int, embed_dim: int, num_heads: int) -> ModelConfig:
    """An ESM-2 shape: rotary positions, no embedding LayerNorm, FFN 4x wide."""
    return ModelConfig(name=name, num_layers=num_layers, embed_dim=embed_dim, num_heads=num_heads,
                       ffn_dim=4 * embed_dim, emb_layer_norm_before=False, position_embedding="rotary")


ESM2_PRESETS = {
    c.name: c
    for c in (
        esm2("esm2_t6_8M_UR50D", 6, 320, 20),
        esm2("esm2_t12_35M_UR50D", 12, 480, 20),
        esm2("esm2_t30_150M_UR50D", 30, 640, 20),
        esm2("esm2_t33_650M_UR50D", 33, 1280, 20),
        esm2("esm2_t36_3B_UR50D", 36, 2560, 40),
        esm2("esm2_t48_15B_UR50D", 48, 5120, 40),
    )
}

PRESETS: dict[str, ModelConfig] = {
    "esm1b_t33_650M_UR50S": ESM1B_650M,
    # Small shapes for tests and quick experiments (random weights only).
    "tiny": ModelConfig(name="tiny", num_layers=2, embed_dim=32, num_heads=4, ffn_dim=64),
    "small": ModelConfig(name="small", num_layers=6, embed_dim=64, num_heads=4, ffn_dim=128),
    # The full 33 x 20 attention layout with a narrow embedding: all 660 maps, fast.
    "narrow_t33": ModelConfig(name="narrow_t33", embed_dim=80, ffn_dim=160),
    **ESM2_PRESETS,
    "tiny_esm2": esm2("tiny_esm2", 2, 32, 4),
}
