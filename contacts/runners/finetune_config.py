"""The masked-LM recipe of the ESM-1b model card as a frozen dataclass (no torch: the CLI shows its defaults)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from ..constants import MAX_TOKENS

__all__ = ["RECIPE_WARMUP", "WARMUP_FRACTION", "FinetuneConfig", "default_warmup"]

#: The model card's warmup, in updates.
RECIPE_WARMUP = 16_000
#: Share of a run's updates spent warming up where the run is too short for the recipe's warmup.
WARMUP_FRACTION = 0.1


def default_warmup(steps: int) -> int:
    """Warmup updates for a run of ``steps``: the recipe's 16,000 where the run has ten times that,
    else :data:`WARMUP_FRACTION` (10%) of the run, at least 1.

    >>> default_warmup(1_000_000), default_warmup(1000), default_warmup(5)
    (16000, 100, 1)
    """
    return max(1, min(RECIPE_WARMUP, math.ceil(WARMUP_FRACTION * steps)))


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
    warmup_updates : int, optional
        Linear warmup from 0 to ``learning_rate``; then ``learning_rate *
        sqrt(warmup_updates / step)``. Default (None): :func:`default_warmup` of
        ``steps``, the recipe's 16,000 on long runs and 10% of short ones. Given and at
        least ``steps``, a warning says the rate never reaches its peak.
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
    warmup_updates: int | None = None
    select_prob: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    max_residues: int | None = None
    valid_every: int = 1000
    save_every: int = 1000
    seed: int = 0

    def __post_init__(self):
        if self.warmup_updates is None and self.steps >= 1:
            object.__setattr__(self, "warmup_updates", default_warmup(self.steps))
        elif self.steps >= 1 and self.warmup_updates is not None and self.warmup_updates >= self.steps:
            last = self.learning_rate * self.steps / max(self.warmup_updates, 1)
            warnings.warn(
                f"warmup of {self.warmup_updates} updates is at least the run's {self.steps} steps: the learning "
                f"rate ends at {last:.3g}, never reaching its peak {self.learning_rate:g}; leave the warmup out "
                f"(it becomes {default_warmup(self.steps)}, {WARMUP_FRACTION:.0%} of the run) or give fewer updates",
                UserWarning, stacklevel=3)
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
