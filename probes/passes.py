"""One pass of proteins through a model, every layer handed to every reader as it is made.

The analyses of :mod:`probes` (attention properties, per-head contact scores,
pair features of a contact probe, probing classifiers) each read a protein's
attention one layer at a time. :func:`read_layers` runs each protein through
the model once and feeds the same layer to all of them, so an analysis that
needs several costs one forward pass per protein, and nothing quadratic is held
beyond one layer's maps of one protein (plus what each reader keeps of its own).

A reader is anything with the three members of :class:`LayerReader`:

>>> properties = PropertyAccumulator(layers, heads, ["contact"])      # doctest: +SKIP
>>> scores = HeadScoreReader(layers, heads)                            # doctest: +SKIP
>>> read_layers(model, proteins, [properties, scores])                # doctest: +SKIP
>>> properties.result(), scores.result()                               # doctest: +SKIP

(:func:`probes.head_analysis.analyze_heads` does this with three readers.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from contacts.io.progress import track
from contacts.predictor.protocol import AttentionModel

from .proteins import Protein

__all__ = ["LayerReader", "PassSeconds", "read_layers"]


class LayerReader(Protocol):
    """What :func:`read_layers` feeds: a protein, then its layers in order, 1-based."""

    @property
    def num_layers(self) -> int:
        """The deepest layer it reads (0: none); the pass stops after the deepest any reader reads."""

    def start(self, protein: Protein, device: torch.device) -> None:
        """Begin the next protein (proteins come in the order given to :func:`read_layers`)."""

    def add(self, layer: int, attention: Tensor, hidden: Tensor) -> None:
        """One layer of the current protein, as :meth:`~contacts.predictor.protocol.AttentionModel.iter_attention`
        yields it: ``attention`` shape=(heads, L + 2, L + 2), ``hidden`` shape=(L, embed_dim). Readers must not
        change them in place (the next reader gets the same tensors) nor keep them past the call."""


@dataclass
class PassSeconds:
    """Wall-clock seconds of one pass: the model's blocks, and each reader's own work, in the readers' order."""

    forward: float
    readers: list[float]


def read_layers(
    model: AttentionModel,
    proteins: Sequence[Protein],
    readers: Sequence[LayerReader],
    *,
    progress: bool | Callable = False,
    desc: str = "proteins",
) -> PassSeconds:
    """Run each protein through the model once, handing every layer to every reader that reads it.

    Parameters
    ----------
    model : AttentionModel
    proteins : sequence of Protein
    readers : sequence of LayerReader
        Each gets ``start(protein, device)`` for every protein, then ``add`` for
        layers ``1..reader.num_layers``.
    progress : bool or callable
        A tqdm bar over proteins (:func:`contacts.io.progress.track`).

    Returns
    -------
    PassSeconds
        On a GPU each step is synchronized before it is timed.
    """
    depth = max((r.num_layers for r in readers), default=0)
    forward, spent = 0.0, [0.0] * len(readers)
    device = torch.device(model.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for protein in track(proteins, progress, total=len(proteins), desc=desc, unit="protein"):
        for k, reader in enumerate(readers):
            tick = time.perf_counter()
            reader.start(protein, device)
            spent[k] += time.perf_counter() - tick
        if depth == 0:
            continue
        layers = model.iter_attention(protein.sequence, num_layers=depth)
        while True:
            tick = time.perf_counter()
            item = next(layers, None)
            sync()
            forward += time.perf_counter() - tick
            if item is None:
                break
            layer, attention, hidden = item
            for k, reader in enumerate(readers):
                if layer <= reader.num_layers:
                    tick = time.perf_counter()
                    reader.add(layer, attention, hidden)
                    sync()
                    spent[k] += time.perf_counter() - tick
            del item, attention, hidden
    return PassSeconds(forward, spent)
