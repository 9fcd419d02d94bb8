"""How work is cut for the model: token-budget batches and overlapping windows of long sequences.

Shared by the contact pass (:meth:`~contacts.predictor.Predictor.predict_contacts`), the
categorical Jacobian (:mod:`~contacts.predictor.jacobian`) and the runners.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..constants import MIN_FILL, default_overlap

__all__ = ["check_window", "token_batches", "window_mean", "windows"]


def windows(length: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Overlapping ``[start, end)`` windows covering ``length`` residues.

    Windows advance by ``window - overlap`` and the last one ends at the sequence's
    end. Every pair at most ``overlap`` residues apart shares a window; farther
    pairs only where one window happens to hold both.

    >>> windows(10, 4, 2)
    [(0, 4), (2, 6), (4, 8), (6, 10)]
    """
    if length <= window:
        return [(0, length)]
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in 0..{window - 1} for a window of {window}")
    starts = list(range(0, length - window, window - overlap)) + [length - window]
    return [(lo, lo + window) for lo in starts]


def check_window(window: int | None, overlap: int | None, limit: int) -> tuple[int, int]:
    """``(window, overlap)`` with their defaults (the model's ``limit``; half the window), refused outside their ranges.

    >>> check_window(None, None, 1022)
    (1022, 511)
    """
    window = limit if window is None else window
    if not 1 <= window <= limit:
        raise ValueError(f"window {window} is outside 1..{limit} residues")
    overlap = default_overlap(window) if overlap is None else overlap
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in 0..{window - 1} for a window of {window}")
    return window, overlap


def window_mean(length: int, parts: Iterable[tuple[tuple[int, int], np.ndarray]]) -> np.ndarray:
    """One ``(length, length)`` map from windows' maps: the mean over the windows that hold both residues of a pair.

    Parameters
    ----------
    parts : iterable of ((start, end), ndarray, shape=(end - start, end - start))

    Returns
    -------
    ndarray, shape=(length, length)
        NaN where no window holds the pair; a single window covering the sequence
        is returned as it is.
    """
    total = count = None
    for (lo, hi), part in parts:
        if (lo, hi) == (0, length) and total is None:
            return part
        if total is None:
            total = np.zeros((length, length), part.dtype)
            count = np.zeros((length, length), part.dtype)
        total[lo:hi, lo:hi] += part
        count[lo:hi, lo:hi] += 1
    if total is None:
        raise ValueError("no window to average")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, total.dtype.type(np.nan))


def token_batches(lengths: Sequence[int], max_tokens: int, min_fill: float = MIN_FILL) -> Iterator[list[int]]:
    """Group indices, longest first, so that ``batch size x longest length <= max_tokens``.

    A batch also closes when the next sequence is shorter than ``min_fill`` times the
    batch's longest, so that padding never costs more than about ``1 - min_fill`` of
    the work (on a CPU, padded positions are pure waste). A sequence longer than
    ``max_tokens`` forms a batch of its own.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if not 0 <= min_fill <= 1:
        raise ValueError(f"min_fill must be in [0, 1], got {min_fill}")
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        longest = lengths[batch[0]] if batch else 0
        if batch and ((len(batch) + 1) * longest > max_tokens or lengths[i] < min_fill * longest):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
