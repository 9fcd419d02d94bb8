"""Every attention head as a contact predictor: P@L of its symmetrized, APC-corrected map, by range.

One protein at a time, one layer's heads at a time: :func:`range_pairs` gathers
the labelled pairs of each separation range once, and :func:`head_precision`
scores a stack of corrected maps on them with one top-k per range. Shared by
the head analysis over many proteins (``probes.heads``) and the explorer's head
grid (:mod:`contacts.viz.explorer`).

Scoring follows :func:`contacts.analysis.metrics.precision`: only pairs with
known labels inside the range are ranked, and with fewer than k of them
precision is taken over those. Ties among equal scores at the k-th place are
broken arbitrarily (``torch.topk``); attention maps are continuous, so they do
not occur in practice.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..constants import LONG, MEDIUM, SHORT
from ..features import apc, symmetrize

__all__ = ["HEAD_RANGES", "corrected_maps", "head_precision", "range_pairs"]

#: Separation ranges scored per head, (min, max exclusive or None).
HEAD_RANGES: dict[str, tuple[int, int | None]] = {"short": SHORT, "medium": MEDIUM, "long": LONG}

#: Per range: rows, columns and contact (1.0) or not (0.0) of the labelled pairs in it.
RangePairs = dict[str, tuple[Tensor, Tensor, Tensor]]


def corrected_maps(maps: np.ndarray | Tensor) -> Tensor:
    """Symmetrized, APC-corrected attention maps (the features of the contact regression).

    Parameters
    ----------
    maps : ndarray or Tensor, shape=(..., L, L)
        Raw softmax maps, special tokens removed.

    Returns
    -------
    Tensor, shape=(..., L, L), dtype=float32
    """
    return apc(symmetrize(torch.as_tensor(maps).float()))


def range_pairs(labels: np.ndarray, ranges: dict[str, tuple[int, int | None]] = HEAD_RANGES) -> RangePairs:
    """The labelled pairs ``i < j`` of each separation range.

    Parameters
    ----------
    labels : ndarray, shape=(L, L)
        1 contact, 0 none, NaN unknown.
    ranges : dict of str -> (int, int or None)

    Returns
    -------
    dict of str -> (Tensor, Tensor, Tensor)
        Rows ``i``, columns ``j`` (int64) and labels (float32, 1.0 contact) of the known pairs.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] != labels.shape[1]:
        raise ValueError(f"labels must be a square (L, L) map; got shape {labels.shape}")
    i, j = np.triu_indices(labels.shape[0], 1)
    sep = j - i
    value = labels[i, j]
    known = ~np.isnan(value)
    out = {}
    for name, (lo, hi) in ranges.items():
        keep = known & (sep >= lo) & ((sep < hi) if hi is not None else True)
        out[name] = (torch.as_tensor(i[keep]), torch.as_tensor(j[keep]),
                     torch.as_tensor(value[keep] > 0.5, dtype=torch.float32))
    return out


def head_precision(corrected: Tensor, pairs: RangePairs, k: int | None = None) -> dict[str, np.ndarray]:
    """P@k of each map in a stack, per range.

    Parameters
    ----------
    corrected : Tensor, shape=(f, L, L)
        One map per head (e.g. a layer's :func:`corrected_maps`).
    pairs : dict
        From :func:`range_pairs` on the protein's labels.
    k : int, optional
        Pairs taken per range; default L. Fewer when a range has fewer labelled pairs.

    Returns
    -------
    dict of str -> ndarray, shape=(f,)
        Fraction of contacts among each map's top ``min(k, n)`` pairs of the
        range's ``n`` labelled pairs; NaN where ``n`` is 0.
    """
    f, n = corrected.shape[0], corrected.shape[-1]
    k = n if k is None else int(k)
    out = {}
    for name, (ti, tj, y) in pairs.items():
        if len(y) == 0:
            out[name] = np.full(f, np.nan)
            continue
        taken = min(k, len(y))
        top = corrected[:, ti, tj].topk(taken, dim=1, sorted=False).indices
        out[name] = (y[top].sum(dim=1) / taken).double().numpy()
    return out
