"""Predicted contact maps + labels -> precision at top-k by separation range.

Conventions (Rao et al. 2021; fair-esm's contact notebook):

- pairs ``i < j`` of the upper triangle are ranked by predicted score;
- ranges by sequence separation ``j - i``: short 6-11, medium 12-23, long >= 24,
  and 'all' >= 6 (:data:`RANGES`, upper bounds exclusive);
- k is L, L/2 or L/5 (:data:`TOP_K`), rounded down, with L the sequence length.

Where this module deliberately differs from the notebook's ``compute_precisions``:

1. Only pairs with known labels, inside the range, are ranked. The notebook
   fills excluded pairs with ``-inf`` but keeps them in the ranking, so when a
   range has fewer than k valid pairs it counts excluded pairs too: a true
   contact outside the range scores as a hit, and an unknown label (``-1``)
   subtracts one.
2. When fewer than k valid pairs exist, precision is taken over those pairs
   (hits / n_valid); the notebook divides by k. With no valid pair it is NaN.
   A pair is valid when its label is known *and* it was predicted: NaN in the
   prediction means "not predicted" (a pair an RR file does not list, a
   residue no window covered) and is never ranked, so a sparse prediction
   (an RR file of its best L/5 pairs) is scored over the pairs it holds, as
   CASP's assessment and ConKit do; ``precision(..., return_count=True)`` and
   the ``n@...`` entries of :func:`precision_table` say how many were taken.
   Before, NaN ranked last and unlisted pairs filled the top k in (i, j) order.
3. Ties are broken deterministically: equal scores are taken in row-major
   order ``(i, j)``. The notebook's ``argsort`` leaves their order to the backend.
4. The notebook's area under the precision curve takes ``k = int(x * L)`` for
   x = 0.1 ... 1.0 computed in floating point (so a product like ``0.3 * 10`` can
   round down to 2) and, for L < 10, an index of -1 that wraps to the last
   element. Here k = floor(i * L / 10) in integers and k = 0 steps are skipped.

How the notebook chooses L: ``seqlen``, the size of the (padded) prediction
map, or the batch's ``src_lengths``; ``override_length`` replaces it (for
CASP). For one unpadded protein that is the length of the scored sequence,
also counting residues with no coordinates. :func:`precision_table` does the
same by default (``length=None``) and offers ``length='observed'`` (residues
with at least one known label) or any integer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..constants import CONTACT_CUTOFF, MIN_SEPARATION, RANGES, TOP_K

__all__ = [
    "CONTACT_CUTOFF",
    "MIN_SEPARATION",
    "RANGES",
    "TOP_K",
    "auc",
    "count_name",
    "flatten_table",
    "mean_table",
    "precision",
    "precision_table",
    "resolve_length",
]



def _known(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels as float plus the mask of known pairs (not NaN, not masked, not negative)."""
    if isinstance(labels, np.ma.MaskedArray):
        known = ~np.ma.getmaskarray(labels)
        labels = np.ma.getdata(labels)
    else:
        known = np.ones(np.shape(labels), dtype=bool)
    labels = np.asarray(labels, dtype=np.float64)
    known &= ~np.isnan(labels) & (np.nan_to_num(labels, nan=0.0) >= 0)  # -1 is the notebook's "unknown"
    return labels, known


def _check(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[0] != pred.shape[1]:
        raise ValueError(f"predictions must be a square (L, L) map; got shape {pred.shape}")
    if pred.shape != np.shape(labels):
        raise ValueError(f"predictions have shape {pred.shape} but labels have shape {np.shape(labels)}")
    return pred


def _ranked_hits(
    pred: np.ndarray, labels: np.ndarray, min_separation: int, max_separation: int | None
) -> np.ndarray:
    """Labels (0/1) of the valid (known, predicted) pairs in range, best score first, ties in (i, j) order."""
    labels, known = _known(labels)
    pred = _check(pred, labels)
    if min_separation < 1:
        raise ValueError(f"min_separation={min_separation} must be at least 1 (pairs i < j)")
    if max_separation is not None and max_separation <= min_separation:
        raise ValueError(f"max_separation={max_separation} must exceed min_separation={min_separation}")
    i, j = np.triu_indices(pred.shape[0], min_separation)
    # NaN: not predicted (unlisted in an RR file, outside every window): never ranked, never counted
    keep = known[i, j] & ~np.isnan(pred[i, j])
    if max_separation is not None:
        keep &= (j - i) < max_separation
    i, j = i[keep], j[keep]
    order = np.argsort(-pred[i, j], kind="stable")  # triu order is row-major, so ties go by (i, j)
    return labels[i[order], j[order]] > 0.5


def precision(
    pred: np.ndarray,
    labels: np.ndarray,
    *,
    k: int,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    return_count: bool = False,
) -> float | tuple[float, int]:
    """Fraction of true contacts among the k best-scored pairs in a separation range.

    Parameters
    ----------
    pred : ndarray, shape=(L, L)
        Scores; higher means more likely in contact. Only the upper triangle is
        read. NaN means "not predicted": such pairs are never ranked (``-inf``
        is a prediction, ranked last).
    labels : ndarray or MaskedArray, shape=(L, L)
        1 contact, 0 none; NaN, negative values or masked entries are unknown
        and never ranked.
    k : int
        How many top pairs to score (at least 1).
    min_separation : int
        Smallest ``j - i`` scored.
    max_separation : int, optional
        ``j - i`` must be below this (exclusive); None for no limit.
    return_count : bool
        Also return the number of pairs taken.

    Returns
    -------
    precision : float
        Hits among the top ``min(k, n_valid)`` pairs divided by that number,
        where ``n_valid`` counts the predicted pairs with known labels in the
        range; NaN when there is none.
    n_taken : int
        ``min(k, n_valid)``, only with ``return_count=True``; below k when the
        prediction (or the structure) holds fewer pairs in the range.

    Examples
    --------
    >>> labels = np.zeros((10, 10)); labels[0, 9] = 1
    >>> pred = np.zeros((10, 10)); pred[0, 9] = 5.0
    >>> precision(pred, labels, k=2)
    0.5
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k={k} must be a positive integer")
    hits = _ranked_hits(pred, labels, min_separation, max_separation)
    top = hits[: int(k)]
    value = float(top.mean()) if top.size else float("nan")
    return (value, int(top.size)) if return_count else value


def resolve_length(labels: np.ndarray, length: int | str | None = None) -> int:
    """The L of P@L.

    Parameters
    ----------
    labels : ndarray, shape=(L, L)
    length : int, 'observed' or None
        None: the map size, as the notebook's ``compute_precisions``;
        'observed': residues with at least one known label; an int: that value
        (the notebook's ``override_length``).
    """
    if length is None:
        return int(np.shape(labels)[0])
    if isinstance(length, str):
        if length != "observed":
            raise ValueError(f"length={length!r}; expected None, 'observed' or an integer")
        return int(_known(labels)[1].any(axis=1).sum())
    if int(length) != length or length < 1:
        raise ValueError(f"length={length} must be a positive integer")
    return int(length)


def auc(
    pred: np.ndarray,
    labels: np.ndarray,
    *,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    length: int | str | None = None,
) -> float:
    """Mean precision over k = floor(i L / 10), i = 1 ... 10 (the notebook's 'AUC').

    Parameters
    ----------
    pred, labels : ndarray, shape=(L, L)
        As in :func:`precision`.
    length : int, 'observed' or None
        See :func:`resolve_length`.

    Returns
    -------
    float
        NaN when no valid pair exists or L < 10.
    """
    n = resolve_length(labels, length)
    hits = _ranked_hits(pred, labels, min_separation, max_separation)
    ks = [i * n // 10 for i in range(1, 11) if i * n // 10 > 0]
    if hits.size == 0 or not ks:
        return float("nan")
    return float(np.mean([hits[:k].mean() for k in ks]))


def precision_table(
    pred: np.ndarray,
    labels: np.ndarray,
    *,
    length: int | str | None = None,
    ranges: Mapping[str, tuple[int, int | None]] = RANGES,
    top_k: Mapping[str, int] = TOP_K,
    with_auc: bool = True,
    counts: bool | None = None,
) -> dict[str, dict[str, float]]:
    """Precision by separation range and k for one protein.

    Parameters
    ----------
    pred, labels : ndarray, shape=(L, L)
        As in :func:`precision`.
    length : int, 'observed' or None
        See :func:`resolve_length`.
    ranges : mapping of name -> (min_separation, max_separation)
    top_k : mapping of name -> divisor of L
    with_auc : bool
        Add the notebook's 'AUC' for each range.
    counts : bool, optional
        Add ``'n@L'``, ``'n@L/2'``, ... entries: the number of pairs each
        precision was taken over. None (default): only when some precision of
        the table took fewer than its k pairs (a sparse prediction, or a range
        with few known pairs); True or False: always or never.

    Returns
    -------
    dict
        ``table[range][metric]``, e.g. ``table['long']['P@L/5']``, and
        ``table['long']['n@L/5']`` with the counts.
    """
    n = resolve_length(labels, length)
    table: dict[str, dict[str, float]] = {}
    taken: dict[str, dict[str, int]] = {}
    short = False
    for name, (lo, hi) in ranges.items():
        row, taken[name] = {}, {}
        for metric, d in top_k.items():
            k = max(1, n // d)
            row[metric], count = precision(pred, labels, k=k, min_separation=lo, max_separation=hi,
                                           return_count=True)
            taken[name][count_name(metric)] = count
            short |= count < k
        if with_auc:
            row["AUC"] = auc(pred, labels, min_separation=lo, max_separation=hi, length=n)
        table[name] = row
    if counts or (counts is None and short):
        for name, row in table.items():
            row.update(taken[name])
    return table


def count_name(metric: str) -> str:
    """The table entry that counts the pairs of a precision: ``'P@L/5'`` -> ``'n@L/5'``."""
    return "n@" + metric.split("@", 1)[1] if "@" in metric else f"n {metric}"


def flatten_table(table: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{'long': {'P@L': x}}`` -> ``{'long P@L': x}`` (for CSV columns)."""
    return {f"{rng} {metric}": value for rng, row in table.items() for metric, value in row.items()}


def mean_table(tables: Iterable[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean over proteins of each entry, as Rao et al. report (each protein weighs the same).

    NaN entries (a range with no valid pair) are left out of that entry's mean;
    so are count entries (``n@...``) a table does not hold.
    """
    tables = list(tables)
    if not tables:
        raise ValueError("mean_table needs at least one protein's table")
    out: dict[str, dict[str, float]] = {}
    for rng in tables[0]:
        out[rng] = {}
        # entries in first-seen order: count entries (n@...) may be in some tables only
        for metric in dict.fromkeys(m for t in tables for m in t[rng]):
            values = np.array([t[rng].get(metric, np.nan) for t in tables], dtype=np.float64)
            out[rng][metric] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out
