"""Which residue pairs to show, and what each one is: shared by the 3D viewer and the 2D plots.

Plain numpy: :func:`select_pairs` takes the top-k pairs of a score map inside a
separation band (ties broken as :func:`contacts.analysis.metrics.precision` breaks them),
:func:`label_pairs` names each by the structure's label (:data:`PAIR_COLORS`), and
:func:`display_range` says where a map's colour scale starts and saturates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import MIN_SEPARATION, RANGES

__all__ = ["PAIR_COLORS", "Pairs", "display_range", "label_pairs", "select_pairs"]

#: Colors of a predicted pair by its label, shared by the 3D viewer and the 2D plots
#: (Okabe-Ito: tell-apart for color-blind readers).
PAIR_COLORS: dict[str, str] = {
    "hit": "#0072B2",       # predicted, in contact in the structure (true positive)
    "miss": "#D55E00",      # predicted, not in contact (false positive)
    "unknown": "#999999",   # predicted, label unknown (atoms missing)
    "unlabelled": "#CC79A7",  # predicted, no labels asked for
}


@dataclass(frozen=True)
class Pairs:
    """Selected residue pairs, best first.

    Attributes
    ----------
    i, j : ndarray, shape=(n,), dtype=int
        Positions in the score map, ``i < j``.
    score : ndarray, shape=(n,), dtype=float
        The map's value at ``(i, j)``.
    """

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    @property
    def separation(self) -> np.ndarray:
        return self.j - self.i


def _band(range_: str | None, min_separation: int, max_separation: int | None) -> tuple[int, int | None]:
    if range_ is None:
        lo, hi = min_separation, max_separation
    else:
        if range_ not in RANGES:
            raise ValueError(f"range={range_!r} is not one of {sorted(RANGES)}")
        lo, hi = RANGES[range_]
    if int(lo) != lo or lo < 1:
        raise ValueError(f"min_separation={lo} must be an integer of at least 1 (pairs i < j)")
    if hi is not None and hi <= lo:
        raise ValueError(f"max_separation={hi} must exceed min_separation={lo}")
    return int(lo), hi


def select_pairs(
    scores: np.ndarray,
    *,
    top_k: int | None = None,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    range: str | None = None,  # the name users know from metrics.RANGES
) -> Pairs:
    """The ``top_k`` highest-scored pairs ``i < j`` inside a separation band.

    Parameters
    ----------
    scores : ndarray, shape=(L, L)
        Higher means more likely in contact; only the upper triangle is read.
        NaN and infinite values (pairs no window predicted) are never selected.
    top_k : int, optional
        How many pairs; default L. Fewer come back when fewer valid pairs exist.
    min_separation : int
        Smallest ``j - i`` kept (default 6, as in :mod:`contacts.analysis.metrics`).
    max_separation : int, optional
        ``j - i`` must be below this (exclusive); None for no limit.
    range : {'short', 'medium', 'long', 'all'}, optional
        A band of :data:`contacts.analysis.metrics.RANGES`; replaces min/max_separation.

    Returns
    -------
    Pairs
        Best score first; equal scores in row-major ``(i, j)`` order (the
        tie rule of :func:`contacts.analysis.metrics.precision`), so the choice is deterministic.

    Examples
    --------
    >>> s = np.zeros((10, 10)); s[0, 9] = s[1, 8] = 0.9; s[2, 9] = 0.5
    >>> p = select_pairs(s, top_k=2)
    >>> p.i.tolist(), p.j.tolist()
    ([0, 1], [9, 8])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be a square (L, L) map; got shape {scores.shape}")
    n = scores.shape[0]
    lo, hi = _band(range, min_separation, max_separation)
    if top_k is None:
        top_k = n
    if int(top_k) != top_k or top_k < 0:
        raise ValueError(f"top_k={top_k} must be a non-negative integer")
    i, j = np.triu_indices(n, lo)
    keep = np.isfinite(scores[i, j])
    if hi is not None:
        keep &= (j - i) < hi
    i, j = i[keep], j[keep]
    order = np.argsort(-scores[i, j], kind="stable")[: int(top_k)]  # triu is row-major: ties by (i, j)
    return Pairs(i=i[order], j=j[order], score=scores[i[order], j[order]])


def label_pairs(pairs: Pairs, labels: np.ndarray | None) -> np.ndarray:
    """Name each pair by its label: ``'hit'``, ``'miss'``, ``'unknown'`` or ``'unlabelled'``.

    Parameters
    ----------
    pairs : Pairs
    labels : ndarray, shape=(L, L), or None
        1 contact, 0 none, NaN (or negative) unknown; None gives ``'unlabelled'`` throughout.

    Returns
    -------
    ndarray, shape=(n,), dtype=str
        Keys of :data:`PAIR_COLORS`.
    """
    if labels is None:
        return np.full(len(pairs), "unlabelled", dtype=object).astype(str)
    labels = np.asarray(labels, dtype=np.float64)
    if len(pairs) and (labels.ndim != 2 or max(pairs.i.max(), pairs.j.max()) >= min(labels.shape)):
        raise ValueError(f"labels of shape {labels.shape} do not cover pairs up to position "
                         f"{max(pairs.i.max(), pairs.j.max())}")
    value = labels[pairs.i, pairs.j] if len(pairs) else np.zeros(0)
    out = np.where(value > 0.5, "hit", "miss").astype(object)
    out[np.isnan(value) | (value < 0)] = "unknown"
    return out.astype(str)


def display_range(values: np.ndarray, k: int) -> tuple[float, float]:
    """Where a map's colour scale starts and saturates: [0, 1] for probabilities, else [max(0, min), k-th best].

    Scores that are not probabilities (attention after APC, couplings, the categorical
    Jacobian) are heavy-tailed; saturating at the k-th best pair (k = L, separation
    >= 6) keeps the pairs that matter dark and the rest visible.

    >>> display_range(np.array([[0.0, 0.2], [0.2, 0.0]]), 2)
    (0.0, 1.0)
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0 and hi <= 1:
        return 0.0, 1.0
    n = values.shape[0]
    i, j = np.triu_indices(n, RANGES["all"][0])
    far = values[i, j]
    far = far[np.isfinite(far)]
    if far.size:
        hi = float(np.partition(far, -min(k, far.size))[-min(k, far.size)])
    lo = max(0.0, lo)
    return lo, hi if hi > lo else lo + 1.0
