"""What the probes and head analyses need of a model, written down as typed protocols.

:mod:`probes` (contact probes, attention properties, probing classifiers, per-head
scores) reads a model only through these members; :class:`contacts.Predictor`
has them whatever encoder family it holds, and so does any other object with them
(a wrapper around another library's model, a test double). Nothing in
:mod:`probes` needs to know which class it was given.

- :class:`AttentionConfig`: the shape of the model (``name``, ``num_layers``,
  ``num_heads``, ``embed_dim``, ``max_residues``);
- :class:`AttentionModel`: ``config``, ``device`` and :meth:`~AttentionModel.iter_attention`,
  one layer's attention and hidden states at a time;
- :class:`ContactModel`: an :class:`AttentionModel` that also holds a contact
  regression (``regression``, :meth:`~ContactModel.set_regression`), what
  :func:`probes.use_probe` and :func:`probes.probe_of` need.

The protocols are ``runtime_checkable``: ``isinstance(model, AttentionModel)``
checks that the members are there (not their signatures; the tests do).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["AttentionConfig", "AttentionModel", "ContactModel"]


@runtime_checkable
class AttentionConfig(Protocol):
    """The shape of a model, as analyses read it (:class:`contacts.encoder.config.ModelConfig` has it)."""

    @property
    def name(self) -> str:
        """Shown in reports and recorded in probe files."""

    @property
    def num_layers(self) -> int:
        """Attention layers (transformer blocks)."""

    @property
    def num_heads(self) -> int:
        """Heads per layer."""

    @property
    def embed_dim(self) -> int:
        """Width of the hidden states :meth:`AttentionModel.iter_attention` yields."""

    @property
    def max_residues(self) -> int:
        """The longest sequence one forward pass takes; longer chains are skipped by the analyses."""


@runtime_checkable
class AttentionModel(Protocol):
    """A model the probes can read: its shape, its device, and its attention one layer at a time."""

    @property
    def config(self) -> AttentionConfig:
        """The model's shape."""

    @property
    def device(self) -> torch.device:
        """Where the model runs; analyses keep their per-layer sums there."""

    def iter_attention(self, sequence: str, num_layers: int | None = None) -> Iterator[tuple[int, Tensor, Tensor]]:
        """One layer's raw attention and hidden states at a time, as the blocks run.

        Parameters
        ----------
        sequence : str, length L
        num_layers : int, optional
            Stop after this many layers; default all.

        Yields
        ------
        layer : int
            1-based layer number, 1, 2, ... in order.
        attention : Tensor, shape=(heads, L + 2, L + 2), dtype=float32
            Softmax weights of every head, on :attr:`device`. Positions 0 and
            L + 1 are the special tokens around the residues (``<cls>``/``<eos>``,
            ``[CLS]``/``[SEP]``); a family without one there yields a row and a
            column of zeros in its place, so that residue rows still sum to 1 over
            the keys. Residue ``i`` is position ``i + 1``.
        hidden : Tensor, shape=(L, embed_dim), dtype=float32
            Residue states after the block, special tokens dropped.
        """


@runtime_checkable
class ContactModel(AttentionModel, Protocol):
    """An :class:`AttentionModel` that predicts contacts with a regression over its maps."""

    @property
    def regression(self) -> tuple[Tensor, Tensor] | None:
        """Weight, shape=(1, num_layers * num_heads), and bias, shape=(1,); None without one."""

    def set_regression(self, weight: Tensor, bias: Tensor) -> None:
        """Predict contacts with these coefficients from now on."""

    def identity(self, *, lazy: bool = False) -> dict:
        """What a probe file records of the model it was trained for: name, weights hash, layers x heads."""
