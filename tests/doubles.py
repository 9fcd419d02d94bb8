"""Test doubles: models of the protocols of :mod:`contacts.predictor.protocol`, made-up proteins, an exact comparison."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from probes.proteins import Protein


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


def assert_same(expected, got, where: str = "") -> None:
    """Equal values, arrays bit for bit (NaN where NaN), through dicts and lists; ``seconds`` left out."""
    if isinstance(expected, dict):
        assert expected.keys() == got.keys(), where
        for key in expected:
            if key != "seconds":
                assert_same(expected[key], got[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(got), where
        for k, (a, b) in enumerate(zip(expected, got)):
            assert_same(a, b, f"{where}[{k}]")
    elif isinstance(expected, (np.ndarray, np.floating, float)):
        np.testing.assert_array_equal(expected, got, err_msg=where)
    else:
        assert expected == got, where


def made_up(name: str, sequence: str, seed: int) -> Protein:
    """A chain with random labels, seeded."""
    rng = np.random.default_rng(seed)
    n = len(sequence)
    contacts = np.triu((rng.random((n, n)) < 0.2).astype(np.float32), 1)
    contacts = contacts + contacts.T
    contacts[3] = contacts[:, 3] = np.nan
    states = rng.integers(0, 3, n)
    residues = {s: (states == k).astype(float) for k, s in enumerate(("helix", "strand", "turn"))}
    residues["binding_site"] = (rng.random(n) < 0.1).astype(float)
    return Protein(name, sequence, contacts, residues)


def made_up_proteins() -> list[Protein]:
    """Three short chains with random labels: contacts (one residue unknown), three states, a few binding sites."""
    return [made_up("a", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", 0), made_up("b", "GSHMSLFDFFKNKGSAAATATDRLKLTVDKL", 1),
            made_up("c", "MADEEKLPPGWEKRMSRSSGRVYYFNHITNA", 2)]
