"""The masked-LM recipe of the ESM-1b model card as a frozen dataclass (no torch: the CLI shows its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import MAX_TOKENS

__all__ = ["FinetuneConfig"]


@dataclass(frozen=True)
class FinetuneConfig:
    """The masked-LM recipe and the run's length, batches and checkpoints.

    Attributes
    ----------
    steps : int
        Optimizer updates.
    max_tokens : int
        Token budget of one batch (batch size x longest sequence, specials included).
    accumulate : int
        Batches whose gradients are summed into one update.
    learning_rate, betas, eps, weight_decay : Adam's settings (the card's by default).
    warmup_updates : int
        Linear warmup from 0 to ``learning_rate``; then ``learning_rate *
        sqrt(warmup_updates / step)``.
    select_prob, mask_prob, random_prob : float
        Fraction of residues selected for the loss; of those, the fractions
        replaced by ``<mask>`` and by a different random standard amino acid (the
        rest stay unchanged).
    max_residues : int, optional
        Crop length; default the model's limit (1022 for ESM-1b).
    valid_every, save_every : int
        Updates between validations (with a validation set) and checkpoints; a last
        checkpoint and validation always follow the last update.
    seed : int
        Seeds batch order, crops and masks; validation masks use a fixed seed of
        their own, so that perplexities at different steps are comparable.
    """

    steps: int = 1000
    max_tokens: int = MAX_TOKENS
    accumulate: int = 1
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_updates: int = 16_000
    select_prob: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    max_residues: int | None = None
    valid_every: int = 1000
    save_every: int = 1000
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "max_tokens", "accumulate", "warmup_updates", "valid_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.select_prob <= 1:
            raise ValueError(f"select_prob must be in (0, 1], got {self.select_prob}")
        if self.mask_prob < 0 or self.random_prob < 0 or self.mask_prob + self.random_prob > 1:
            raise ValueError(
                f"mask_prob {self.mask_prob} and random_prob {self.random_prob} must be >= 0 "
                "and sum to at most 1"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.max_residues is not None and self.max_residues < 1:
            raise ValueError(f"max_residues must be >= 1, got {self.max_residues}")
