"""Model + structures -> pair features and contact labels, streamed protein by protein.

The training set of a contact probe has one row per residue pair ``i < j`` with
separation ``j - i >= 6`` and a known label: the symmetrized, APC-corrected
attention maps of that pair (:func:`contacts.features.attention_features`
restricted to the pair), and whether the pair is in contact in the structure.

Only one layer of one protein's maps is held at a time, turned into features as
the model yields it (:func:`probes.passes.read_layers`); the rows of all proteins go into one preallocated float32
matrix whose size is known before the model runs (labels decide which pairs
are kept, including any subsampling of negatives). 20 structures of ~250
residues and 660 maps make ~0.7 M rows, ~1.8 GB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from einops import rearrange

from contacts.constants import MIN_SEPARATION
from contacts.features import apc, symmetrize
from contacts.predictor.protocol import AttentionModel

from .passes import read_layers
from .probe import all_heads
from .proteins import Protein

# --------------------------------------------------------------------------- one protein


def pair_indices(
    labels: np.ndarray,
    *,
    min_separation: int = MIN_SEPARATION,
    negative_fraction: float = 1.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The pairs a protein contributes: ``i < j``, separation >= ``min_separation``, known label.

    Parameters
    ----------
    labels : ndarray, shape=(L, L)
    negative_fraction : float
        Keep each non-contact with this probability (all contacts are kept).
    rng : numpy Generator, optional
        Needed when ``negative_fraction < 1``.

    Returns
    -------
    i, j : ndarray, shape=(n,), dtype=int64
    y : ndarray, shape=(n,), dtype=int8
    n_known : int
        Pairs with a known label before subsampling.
    """
    if not 0 < negative_fraction <= 1:
        raise ValueError(f"negative_fraction={negative_fraction} must be in (0, 1]")
    if min_separation < 1:
        raise ValueError(f"min_separation={min_separation} must be >= 1 (pairs i < j)")
    labels = np.asarray(labels, dtype=np.float64)
    i, j = np.triu_indices(labels.shape[0], min_separation)
    value = labels[i, j]
    known = ~np.isnan(value)
    i, j, y = i[known], j[known], (value[known] > 0.5).astype(np.int8)
    n_known = len(y)
    if negative_fraction < 1:
        if rng is None:
            raise ValueError("negative_fraction < 1 needs an rng")
        keep = (y == 1) | (rng.random(len(y)) < negative_fraction)
        i, j, y = i[keep], j[keep], y[keep]
    return i, j, y, n_known


def pair_features(
    maps: np.ndarray | torch.Tensor,
    i: np.ndarray,
    j: np.ndarray,
    *,
    heads: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Symmetrized, APC-corrected maps of the given pairs, one layer at a time.

    Parameters
    ----------
    maps : ndarray or Tensor, shape=(layers, heads, L, L)
        Raw softmax maps, special tokens removed (``Predictor.attention_maps``).
    i, j : ndarray, shape=(n,)
    heads : ndarray, shape=(f, 2), optional
        0-based ``(layer, head)`` columns to compute, in this order; default
        all maps, ``(layer head)`` layer-major.
    out : ndarray, shape=(n, f), optional
        Written in place (e.g. a slice of a preallocated matrix).

    Returns
    -------
    features : ndarray, shape=(n, f), dtype=float32
    """
    maps = torch.as_tensor(maps)
    num_layers, num_heads = maps.shape[:2]
    heads = all_heads(num_layers, num_heads) if heads is None else np.asarray(heads).reshape(-1, 2)
    if out is None:
        out = np.empty((len(i), len(heads)), dtype=np.float32)
    if out.shape != (len(i), len(heads)):
        raise ValueError(f"out has shape {out.shape}; expected {(len(i), len(heads))}")
    ti, tj = torch.as_tensor(i), torch.as_tensor(j)
    for layer in np.unique(heads[:, 0]):
        if layer >= num_layers:
            raise ValueError(f"head layer {layer} (0-based) but only {num_layers} layers of maps")
        cols = np.flatnonzero(heads[:, 0] == layer)
        # APC needs the whole map of a head, so a layer's used heads are corrected in full.
        corrected = apc(symmetrize(maps[layer, heads[cols, 1]].float()))
        out[:, cols] = rearrange(corrected[:, ti, tj], "f n -> n f").numpy()
    return out


# --------------------------------------------------------------------------- many proteins


@dataclass
class PairSet:
    """Pair features and labels of several proteins, one row per pair.

    Attributes
    ----------
    X : ndarray, shape=(n_pairs, n_features), dtype=float32
    y : ndarray, shape=(n_pairs,), dtype=int8
    groups : ndarray, shape=(n_pairs,), dtype=int32
        Index of each row's protein in :attr:`proteins` (for splits by protein).
    i, j : ndarray, shape=(n_pairs,), dtype=int32
    proteins : list of str
    lengths : list of int
    heads : ndarray, shape=(n_features, 2)
        0-based ``(layer, head)`` of each column.
    num_layers, num_heads : int
        The model's full attention layout.
    model : str
    min_separation : int
    negative_fraction : float
        Probability with which each non-contact was kept (1.0: all pairs).
    n_known : int
        Pairs with a known label before subsampling.
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    i: np.ndarray
    j: np.ndarray
    proteins: list[str]
    lengths: list[int]
    heads: np.ndarray
    num_layers: int
    num_heads: int
    model: str = ""
    min_separation: int = MIN_SEPARATION
    negative_fraction: float = 1.0
    n_known: int = 0
    seed: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def sample_weight(self) -> np.ndarray:
        """1 for contacts, ``1 / negative_fraction`` for kept non-contacts, shape=(n_pairs,).

        Fitting with these weights undoes the subsampling in expectation (the
        intercept in particular).
        """
        return np.where(self.y == 1, 1.0, 1.0 / self.negative_fraction)

    def summary(self) -> dict:
        """Plain record of how the set was built (goes into the probe's metadata)."""
        return {
            "model": self.model,
            "proteins": list(self.proteins),
            "lengths": [int(n) for n in self.lengths],
            "min_separation": int(self.min_separation),
            "negative_fraction": float(self.negative_fraction),
            "n_known_pairs": int(self.n_known),
            "n_pairs": int(len(self.y)),
            "n_contacts": int(self.y.sum()),
            "sampling_seed": self.seed,
        }

    def protein_rows(self, index: int) -> np.ndarray:
        """Row indices of one protein."""
        return np.flatnonzero(self.groups == index)


class PairReader:
    """Pair features of a set of proteins, filled one protein and one layer at a time (a :class:`probes.passes.LayerReader`).

    The labels alone decide the rows (pairs kept, including the subsampled
    negatives), so the whole matrix is allocated up front; each layer the model
    yields fills the columns of the heads it holds, for the current protein's rows.

    >>> reader = PairReader(proteins, layers, heads)       # doctest: +SKIP
    >>> read_layers(model, proteins, [reader])              # doctest: +SKIP
    >>> pairs = reader.result()                             # doctest: +SKIP

    Parameters
    ----------
    proteins : sequence of Protein
        The proteins :func:`probes.passes.read_layers` will feed, in that order.
    num_layers, num_heads : int
        The model's attention layout.
    heads, min_separation, negative_fraction, seed
        As :func:`collect_pairs`.
    model : str
        Recorded in the :class:`PairSet`.
    """

    def __init__(self, proteins: Sequence[Protein], num_layers: int, num_heads: int, *,
                 heads: np.ndarray | None = None, min_separation: int = MIN_SEPARATION,
                 negative_fraction: float = 1.0, seed: int = 0, model: str = ""):
        heads = all_heads(num_layers, num_heads) if heads is None else np.asarray(heads, dtype=np.int64).reshape(-1, 2)
        outside = heads[(heads[:, 0] < 0) | (heads[:, 0] >= num_layers) | (heads[:, 1] < 0) | (heads[:, 1] >= num_heads)]
        if len(outside):
            raise ValueError(f"head {tuple(outside[0].tolist())} is outside the model's {num_layers} x {num_heads} "
                             "layout (0-based layer, head)")
        rng = np.random.default_rng(seed)
        indices = [pair_indices(p.contacts, min_separation=min_separation, negative_fraction=negative_fraction, rng=rng)
                   for p in proteins]
        self._starts = np.concatenate([[0], np.cumsum([len(y) for _, _, y, _ in indices])]).astype(np.int64)
        total = int(self._starts[-1])
        self.pairs = PairSet(
            X=np.empty((total, len(heads)), dtype=np.float32),
            y=np.concatenate([y for _, _, y, _ in indices]) if indices else np.empty(0, np.int8),
            groups=np.repeat(np.arange(len(indices), dtype=np.int32), np.diff(self._starts)),
            i=np.concatenate([i for i, _, _, _ in indices]).astype(np.int32) if indices else np.empty(0, np.int32),
            j=np.concatenate([j for _, j, _, _ in indices]).astype(np.int32) if indices else np.empty(0, np.int32),
            proteins=[p.name for p in proteins], lengths=[len(p.sequence) for p in proteins],
            heads=heads, num_layers=num_layers, num_heads=num_heads, model=model, min_separation=min_separation,
            negative_fraction=float(negative_fraction), n_known=int(sum(k for _, _, _, k in indices)), seed=seed,
        )
        # per 1-based layer: the columns its heads fill and those heads as (0, head) of a one-layer stack
        self._layers = {}
        for layer in np.unique(heads[:, 0]):
            cols = np.flatnonzero(heads[:, 0] == layer)
            self._layers[int(layer) + 1] = (cols, np.stack([np.zeros(len(cols), np.int64), heads[cols, 1]], 1))
        self._index = -1
        self._pair = (np.empty(0, np.int64), np.empty(0, np.int64))

    @property
    def num_layers(self) -> int:
        """The deepest layer a head of the set lies in: the model stops there."""
        return max(self._layers, default=0)

    def start(self, protein: Protein, device: str | torch.device = "cpu") -> None:
        """Begin the next protein of the set."""
        self._index += 1
        g = self._index
        if g >= len(self.pairs.proteins) or (protein.name, len(protein.sequence)) != \
                (self.pairs.proteins[g], self.pairs.lengths[g]):
            raise ValueError(f"protein {g} is {protein.name!r}; the reader was built for {self.pairs.proteins}")
        rows = slice(self._starts[g], self._starts[g + 1])
        self._pair = (self.pairs.i[rows], self.pairs.j[rows])

    def add(self, layer: int, attention: torch.Tensor, hidden: torch.Tensor | None = None) -> None:
        """Fill the columns of this layer's heads: ``attention`` shape=(heads, L + 2, L + 2), specials included."""
        if layer not in self._layers:
            return
        cols, local = self._layers[layer]
        g = self._index
        maps = attention[None, :, 1:-1, 1:-1].cpu()  # the features are computed on the host, as the matrix lives there
        self.pairs.X[self._starts[g]:self._starts[g + 1], cols] = pair_features(maps, *self._pair, heads=local)

    def result(self) -> PairSet:
        """The pair set, once every protein has been read."""
        if self._index != len(self.pairs.proteins) - 1:
            raise RuntimeError(f"{self._index + 1} of {len(self.pairs.proteins)} proteins were read")
        return self.pairs


def collect_pairs(
    predictor: AttentionModel,
    proteins: Sequence[Protein],
    *,
    heads: np.ndarray | None = None,
    min_separation: int = MIN_SEPARATION,
    negative_fraction: float = 1.0,
    seed: int = 0,
    progress: bool | Callable = False,
) -> PairSet:
    """Build the training set of a probe: features of every labelled pair, all proteins.

    Parameters
    ----------
    predictor : AttentionModel
        A :class:`contacts.Predictor`, or anything with ``config``, ``device`` and ``iter_attention``.
    proteins : sequence of Protein
    heads : ndarray, shape=(f, 2), optional
        0-based ``(layer, head)`` maps to use; default all. The model stops after
        the last layer they need.
    min_separation : int
    negative_fraction : float
        Keep each non-contact with this probability; all contacts are kept. The
        rate is recorded in the result (and :attr:`PairSet.sample_weight` undoes it).
    seed : int
        Seeds the subsampling.
    progress : bool or callable
        True shows a tqdm bar over proteins (for a person waiting); a callable
        wraps the iterable itself.

    Returns
    -------
    PairSet
    """
    cfg = predictor.config
    proteins = list(proteins)
    if not proteins:
        raise ValueError("no proteins to build pairs from")
    reader = PairReader(proteins, cfg.num_layers, cfg.num_heads, heads=heads, min_separation=min_separation,
                        negative_fraction=negative_fraction, seed=seed, model=cfg.name)
    read_layers(predictor, proteins, [reader], progress=progress)
    return reader.result()
