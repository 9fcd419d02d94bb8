"""Test doubles of the model protocols of :mod:`contacts.predictor.protocol`: made-up attention, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Shape:
    """An :class:`~contacts.predictor.protocol.AttentionConfig`."""

    num_layers: int
    num_heads: int
    name: str = "double"
    embed_dim: int = 8
    max_residues: int = 1022


class MapsModel:
    """An :class:`~contacts.predictor.protocol.AttentionModel` whose residue maps come from a function.

    ``maps(sequence)`` returns shape=(layers, heads, L, L), rows summing to 1; they
    are yielded one layer at a time inside zero rows and columns for the special
    tokens (what the protocol asks of a family without them), with zero hidden
    states. ``calls`` records ``(sequence, num_layers)`` of every pass.
    """

    def __init__(self, maps: Callable[[str], np.ndarray], num_layers: int, num_heads: int, name: str = "double"):
        self.config = Shape(num_layers, num_heads, name)
        self.device = torch.device("cpu")
        self.maps = maps
        self.calls: list[tuple[str, int | None]] = []

    def iter_attention(self, sequence: str, num_layers: int | None = None):
        self.calls.append((sequence, num_layers))
        maps = torch.as_tensor(np.asarray(self.maps(sequence), dtype=np.float32))
        n = len(sequence)
        for layer in range(num_layers or self.config.num_layers):
            full = torch.zeros(self.config.num_heads, n + 2, n + 2)
            full[:, 1:-1, 1:-1] = maps[layer]
            yield layer + 1, full, torch.zeros(n, self.config.embed_dim)


class Counting:
    """Wraps an AttentionModel, exposing only the protocol, and records ``(sequence, num_layers)`` of every pass."""

    def __init__(self, inner):
        self.inner, self.config, self.device, self.calls = inner, inner.config, inner.device, []

    def iter_attention(self, sequence: str, num_layers: int | None = None):
        self.calls.append((sequence, num_layers))
        yield from self.inner.iter_attention(sequence, num_layers)
