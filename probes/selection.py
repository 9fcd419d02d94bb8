"""Fit a probe on a :class:`~probes.pairs.PairSet`, and choose C by cross-validation over proteins.

Pairs of one protein are strongly correlated, so folds split proteins, never
pairs (scikit-learn's ``GroupKFold`` with the protein as group). A fold's
score is the mean over its held-out proteins of the long-range precision at L
(separation >= 24, k = L), the number Rao et al. report; each protein weighs
the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupKFold

from contacts.analysis.metrics import precision
from contacts.constants import LONG
from contacts.io.progress import track

from .pairs import PairSet
from .probe import ContactProbe

#: Candidate C values, around Rao et al.'s 0.15.
DEFAULT_CS = (0.01, 0.03, 0.1, 0.15, 0.3, 1.0)


def fit_probe(
    pairs: PairSet,
    C: float = 0.15,
    *,
    rows: np.ndarray | None = None,
    negative_fraction: float = 1.0,
    seed: int = 0,
    reweight: bool = True,
    **params,
) -> ContactProbe:
    """Fit a :class:`ContactProbe` on (some rows of) a pair set.

    Parameters
    ----------
    pairs : PairSet
    C : float
    rows : ndarray of int, optional
        Fit on these rows only (default all).
    negative_fraction : float
        Further keep each non-contact with this probability (seeded by ``seed``),
        to fit on less memory and time; the set's own rate multiplies it.
    seed : int
        Seeds that subsampling, and the solver's shuffling (liblinear visits the pairs in a
        random order) unless ``random_state`` is given: the same call fits the same probe.
    reweight : bool
        With subsampled negatives, weigh each kept non-contact by the inverse of
        the overall rate so that the fit targets the full set.
    **params
        Other :class:`ContactProbe` parameters (``penalty``, ``tol``, ...).

    Returns
    -------
    ContactProbe
        Its ``metadata_`` holds the pair set's summary (model, proteins, rate of negatives).
    """
    full = len(pairs.heads) == pairs.num_layers * pairs.num_heads and np.array_equal(
        pairs.heads[:, 0] * pairs.num_heads + pairs.heads[:, 1], np.arange(len(pairs.heads))
    )
    params.setdefault("random_state", seed)
    probe = ContactProbe(
        C=C,
        heads=None if full else pairs.heads.tolist(),
        num_layers=pairs.num_layers,
        num_heads=pairs.num_heads,
        **params,
    )
    if not 0 < negative_fraction <= 1:
        raise ValueError(f"negative_fraction={negative_fraction} must be in (0, 1]")
    picked = rows is not None
    if negative_fraction < 1:
        base = np.arange(len(pairs.y)) if rows is None else np.asarray(rows)
        rng = np.random.default_rng(seed)
        rows = base[(pairs.y[base] == 1) | (rng.random(len(base)) < negative_fraction)]
    X, y = (pairs.X, pairs.y) if rows is None else (pairs.X[rows], pairs.y[rows])
    rate = pairs.negative_fraction * negative_fraction
    weight = None
    if reweight and rate < 1:
        weight = np.where(y == 1, 1.0, 1.0 / rate)
    start = time.perf_counter()
    probe.fit(X, y, sample_weight=weight)
    summary = pairs.summary()
    if picked:
        used = np.unique(pairs.groups[rows])
        summary["proteins"] = [pairs.proteins[g] for g in used]
        summary["lengths"] = [pairs.lengths[g] for g in used]
        summary.pop("n_known_pairs")
    summary.update(negative_fraction=float(rate), n_pairs=int(len(y)), n_contacts=int(y.sum()))
    if negative_fraction < 1:
        summary["fit_sampling_seed"] = seed
    probe.metadata_.update(summary)
    probe.metadata_.update(reweighted=weight is not None, fit_seconds=round(time.perf_counter() - start, 2))
    return probe


def protein_scores(
    probe: ContactProbe,
    pairs: PairSet,
    index: int,
    *,
    min_separation: int = LONG[0],
    max_separation: int | None = LONG[1],
) -> float:
    """Precision at L of one protein of the set, over the pairs it holds.

    The score map is ``-inf`` and the labels unknown outside the set's rows, so
    the set must hold all labelled pairs of the range (``negative_fraction == 1``).
    """
    if pairs.negative_fraction < 1:
        raise ValueError(
            f"the pair set keeps {pairs.negative_fraction} of non-contacts; precision needs all "
            "pairs of the held-out proteins (build it with negative_fraction=1.0)"
        )
    rows = pairs.protein_rows(index)
    n = pairs.lengths[index]
    scores = np.full((n, n), -np.inf)
    labels = np.full((n, n), np.nan)
    i, j = pairs.i[rows], pairs.j[rows]
    scores[i, j] = probe.decision_function(pairs.X[rows])
    labels[i, j] = pairs.y[rows]
    return precision(scores, labels, k=n, min_separation=min_separation, max_separation=max_separation)


@dataclass
class Selection:
    """Cross-validated long-range P@L per C.

    Attributes
    ----------
    Cs : ndarray, shape=(n_C,)
    scores : ndarray, shape=(n_C, n_proteins)
        Held-out long-range P@L of each protein under each C.
    folds : ndarray, shape=(n_proteins,)
        The fold in which each protein was held out.
    proteins : list of str
    best_C : float
        The C with the highest mean (the smallest C among ties: the sparsest probe).
    nonzero : ndarray, shape=(n_C, n_folds)
        Non-zero coefficients of each fold's probe.
    seconds : float
    """

    Cs: np.ndarray
    scores: np.ndarray
    folds: np.ndarray
    proteins: list[str]
    best_C: float
    nonzero: np.ndarray
    seconds: float

    @property
    def mean(self) -> np.ndarray:
        """Mean held-out long-range P@L per C, shape=(n_C,)."""
        return np.nanmean(self.scores, axis=1)

    def records(self) -> list[dict]:
        """One row per C: ``C``, ``mean_long_P@L``, ``std``, ``mean_nonzero``."""
        return [
            {
                "C": float(c),
                "mean_long_P@L": float(m),
                "std_long_P@L": float(np.nanstd(s)),
                "mean_nonzero": float(nz.mean()),
            }
            for c, m, s, nz in zip(self.Cs, self.mean, self.scores, self.nonzero)
        ]


def select_C(
    pairs: PairSet,
    Cs: Sequence[float] = DEFAULT_CS,
    *,
    n_splits: int = 5,
    train_negative_fraction: float = 1.0,
    seed: int = 0,
    progress: bool | Callable = False,
    **params,
) -> Selection:
    """Choose C by cross-validation over proteins.

    Parameters
    ----------
    pairs : PairSet
        Built with ``negative_fraction=1.0``: held-out proteins are scored on all pairs.
    Cs : sequence of float
    n_splits : int
        Folds of proteins (at most the number of proteins).
    train_negative_fraction : float
        Subsample the training folds' non-contacts to this rate (reweighted), to
        fit faster; scoring always uses all pairs.
    seed : int
        Seeds that subsampling, and the solver's shuffling unless ``random_state`` is given.
    progress : bool or callable
        A tqdm bar over the ``n_C x n_splits`` fits.
    **params
        Other :class:`ContactProbe` parameters.

    Returns
    -------
    Selection
    """
    Cs = np.asarray(sorted(float(c) for c in Cs))
    if len(Cs) == 0 or (Cs <= 0).any():
        raise ValueError(f"Cs={Cs.tolist()} must be non-empty and positive")
    n_proteins = len(pairs.proteins)
    if not 2 <= n_splits <= n_proteins:
        raise ValueError(f"n_splits={n_splits} must be in 2..{n_proteins} (the number of proteins)")
    if not 0 < train_negative_fraction <= 1:
        raise ValueError(f"train_negative_fraction={train_negative_fraction} must be in (0, 1]")
    if pairs.negative_fraction < 1:
        raise ValueError(
            f"the pair set keeps {pairs.negative_fraction} of non-contacts; cross-validation "
            "scores held-out proteins on all their pairs: build it with negative_fraction=1.0 "
            "and pass train_negative_fraction to fit on fewer"
        )
    params.setdefault("random_state", seed)
    start = time.perf_counter()
    splitter = GroupKFold(n_splits=n_splits)
    splits = list(splitter.split(pairs.X[:, :1], pairs.y, groups=pairs.groups))
    folds = np.empty(n_proteins, dtype=int)
    for k, (_, test) in enumerate(splits):
        folds[np.unique(pairs.groups[test])] = k
    rng = np.random.default_rng(seed)
    weights = np.ones(len(pairs.y))
    scores = np.full((len(Cs), n_proteins), np.nan)
    nonzero = np.zeros((len(Cs), n_splits), dtype=int)
    jobs = [(c, k) for c in range(len(Cs)) for k in range(n_splits)]
    jobs = track(jobs, progress, desc="C x fold", unit="fit")
    train_rows = []
    for train, _ in splits:
        if train_negative_fraction < 1:
            keep = (pairs.y[train] == 1) | (rng.random(len(train)) < train_negative_fraction)
            train = train[keep]
        train_rows.append(train)
    if train_negative_fraction < 1:
        weights = np.where(pairs.y == 1, 1.0, 1.0 / train_negative_fraction)
    for c, k in jobs:
        rows = train_rows[k]
        probe = ContactProbe(
            C=Cs[c], heads=None, num_layers=None, num_heads=None, **params
        ).fit(pairs.X[rows], pairs.y[rows], sample_weight=weights[rows])
        nonzero[c, k] = np.count_nonzero(probe.coef_)
        for index in np.flatnonzero(folds == k):
            scores[c, index] = protein_scores(probe, pairs, index)
    mean = np.nanmean(scores, axis=1)
    best = Cs[int(np.nanargmax(mean))]  # argmax takes the first, i.e. smallest, C among ties
    return Selection(
        Cs=Cs, scores=scores, folds=folds, proteins=list(pairs.proteins),
        best_C=float(best), nonzero=nonzero, seconds=time.perf_counter() - start,
    )
