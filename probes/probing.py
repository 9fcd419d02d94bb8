"""Probing classifiers per layer (Vig et al. 2021, section 4.4): what a linear read-out finds at each depth.

For each layer's residue embeddings, a scikit-learn logistic regression predicts

- ``secondary_structure``: the three states of :mod:`contacts.analysis.annotations`
  (accuracy; baseline: the training folds' majority state);
- ``binding_site``: ligand-binding residues, on the chains whose structure holds a
  ligand (accuracy and F1 of the binding class; baseline: the majority class,
  whose F1 is 0).

Each is cross-validated with folds of whole proteins (scikit-learn's
``GroupKFold``): no protein is ever in both the training and the test fold. The
features are standardized within each training fold.

For contacts, the attention-based probe the package already has
(:class:`~probes.probe.ContactProbe` on symmetrized, APC-corrected maps)
restricted to the heads of layers ``1..l``, cross-validated the same way and
scored by long-range precision at L (:func:`probes.selection.protein_scores`),
gives "contact information by depth"; its baseline is the long-range contact
rate (a random ranking's expected precision). provis reported F1 per state, precision
at L/20 for binding sites and at L/5 for contacts; the numbers here are the
package's usual ones, named in each result.

One forward pass per protein feeds all three; maps are consumed one layer at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from contacts.analysis.annotations import SSE_STATES
from contacts.constants import LONG, MIN_SEPARATION, RAO_C
from contacts.predictor.protocol import AttentionModel

from .pairs import PairReader
from .passes import read_layers
from .probe import all_heads
from .proteins import Protein, as_proteins
from .selection import fit_probe, protein_scores

__all__ = ["LayerProbes", "ProbingReader", "default_contact_layers", "layer_probes", "residue_probe_scores"]

TASKS = ("secondary_structure", "binding_site")


@dataclass
class LayerProbes:
    """Cross-validated probing scores by layer.

    Attributes
    ----------
    layers : ndarray, shape=(n,)
        1-based layers whose embeddings were probed.
    scores : dict of str -> ndarray, shape=(n,)
        ``secondary_structure`` (accuracy), ``binding_site`` (accuracy), ``binding_site_f1``.
    baselines : dict of str -> float
        The majority-class baseline of each score.
    contact_layers : ndarray, shape=(m,)
        Depths ``l`` of the contact probe (heads of layers 1..l).
    contact_precision : ndarray, shape=(m,)
        Mean long-range P@L over held-out proteins.
    contact_baseline : float
        Mean long-range contact rate of the proteins.
    counts : dict of str -> int
        Residues (or proteins) each task used.
    """

    layers: np.ndarray
    scores: dict[str, np.ndarray]
    baselines: dict[str, float]
    contact_layers: np.ndarray
    contact_precision: np.ndarray
    contact_baseline: float
    proteins: list[str]
    folds: int
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=lambda: {
        "secondary_structure": "accuracy (3 states)", "binding_site": "accuracy",
        "binding_site_f1": "F1 of the binding class", "contact": "long-range P@L",
    })

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
        """``name -> (layers, score, baseline)`` for plotting."""
        out = {name: (self.layers, s, self.baselines[name]) for name, s in self.scores.items()}
        if len(self.contact_layers):
            out["contact"] = (self.contact_layers, self.contact_precision, self.contact_baseline)
        return out

    def summary(self) -> dict:
        return {
            "proteins": self.proteins, "folds": self.folds, "counts": self.counts, "metrics": self.metrics,
            "layers": self.layers.tolist(),
            "scores": {k: [float(x) for x in v] for k, v in self.scores.items()},
            "baselines": self.baselines,
            "contact_layers": self.contact_layers.tolist(),
            "contact_precision": [float(x) for x in self.contact_precision],
            "contact_baseline": self.contact_baseline,
        }


def default_contact_layers(num_layers: int) -> list[int]:
    """Depths of the contact probe by layer worth fitting: every layer up to 12 layers, else 8 spread over the depth."""
    if num_layers <= 12:
        return list(range(1, num_layers + 1))
    return sorted({round(1 + k * (num_layers - 1) / 7) for k in range(8)})


def _folds(groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"cross-validation by protein needs at least 2 proteins; got {n_groups}")
    return list(GroupKFold(n_splits=min(folds, n_groups)).split(groups, groups=groups))


def residue_probe_scores(
    X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, folds: int = 5, C: float = 1.0, max_iter: int = 300,
) -> dict[str, float]:
    """Cross-validated logistic regression on residue features, folds by protein.

    Parameters
    ----------
    X : ndarray, shape=(n, e)
    y : ndarray, shape=(n,), dtype=int
    groups : ndarray, shape=(n,)
        Protein of each row.

    Returns
    -------
    dict
        ``accuracy``, ``baseline`` (majority class of each training fold), and for
        two classes ``f1`` and ``baseline_f1`` (of class 1).
    """
    predicted = np.empty_like(y)
    majority = np.empty_like(y)
    for train, test in _folds(groups, folds):
        classes, counts = np.unique(y[train], return_counts=True)
        majority[test] = classes[counts.argmax()]
        if len(classes) == 1:
            predicted[test] = classes[0]
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
        predicted[test] = model.fit(X[train], y[train]).predict(X[test])
    out = {"accuracy": float(np.mean(predicted == y)), "baseline": float(np.mean(majority == y))}
    if set(np.unique(y)) <= {0, 1}:
        out["f1"] = float(f1_score(y, predicted, zero_division=0))
        out["baseline_f1"] = float(f1_score(y, majority, zero_division=0))
    return out


class ProbingReader:
    """What the probes learn from, filled one protein and one layer at a time (a :class:`probes.passes.LayerReader`).

    Holds every layer's residue embeddings of the proteins (for the residue tasks)
    and the pair features of the heads of layers ``1..max(contact_layers)`` (for
    the contact probe); :meth:`result` fits and scores the probes.

    Parameters
    ----------
    proteins : sequence of Protein
        The proteins :func:`probes.passes.read_layers` will feed, in that order.
    layers, heads, embed_dim : int
        The model's shape.
    tasks, contact_layers, min_separation
        As :func:`layer_probes`.
    """

    def __init__(self, proteins: Sequence[Protein], layers: int, heads: int, embed_dim: int, *,
                 tasks: Sequence[str] = TASKS, contact_layers: Sequence[int] | None = None,
                 min_separation: int = MIN_SEPARATION):
        bad = [t for t in tasks if t not in TASKS]
        if bad:
            raise ValueError(f"unknown tasks {bad}; known: {list(TASKS)}")
        contact_layers = list(range(1, layers + 1)) if contact_layers is None else sorted(set(contact_layers))
        outside = [c for c in contact_layers if not 1 <= c <= layers]
        if outside:
            raise ValueError(f"contact layers {outside} are outside 1..{layers}")
        self.tasks, self.contact_layers, self.shape = list(tasks), contact_layers, (layers, heads)
        self.names = [p.name for p in proteins]
        # residue rows: which residues of which protein each task uses
        sse_rows, sse_y, site_rows, site_y, offsets = [], [], [], [], [0]
        for protein in proteins:
            states = np.stack([protein.residue_property(s) for s in SSE_STATES], 1)
            known = ~np.isnan(states).any(1)
            sse_rows.append(offsets[-1] + np.flatnonzero(known))
            sse_y.append(np.argmax(np.nan_to_num(states[known]), 1))
            sites = protein.residue_property("binding_site")
            site_rows.append(offsets[-1] + np.flatnonzero(~np.isnan(sites)))
            site_y.append((sites[~np.isnan(sites)] > 0.5).astype(int))
            offsets.append(offsets[-1] + len(protein.sequence))
        self._sse, self._sites, self._offsets = (sse_rows, sse_y), (site_rows, site_y), offsets
        self.groups = np.repeat(np.arange(len(proteins)), np.diff(offsets))
        self.hidden = np.zeros((layers, offsets[-1], embed_dim), dtype=np.float32) if tasks else None
        # contact pairs: all labelled pairs at separation >= min_separation, heads of layers 1..max(contact_layers)
        self.pairs = PairReader(proteins, layers, heads, heads=all_heads(max(contact_layers), heads),
                                min_separation=min_separation) if contact_layers else None
        self._index = -1

    @property
    def num_layers(self) -> int:
        """Every layer for the residue tasks, else the deepest contact layer."""
        return self.shape[0] if self.tasks else max(self.contact_layers, default=0)

    def start(self, protein: Protein, device: str | torch.device = "cpu") -> None:
        """Begin the next protein."""
        self._index += 1
        if self.pairs is not None:
            self.pairs.start(protein, device)

    def add(self, layer: int, attention: torch.Tensor, hidden: torch.Tensor) -> None:
        """Keep this layer's residue states, and the pair features of its heads where a contact depth needs them."""
        if self.hidden is not None:
            g = self._index
            self.hidden[layer - 1, self._offsets[g]:self._offsets[g + 1]] = hidden.cpu().numpy()
        if self.pairs is not None:
            self.pairs.add(layer, attention)

    def result(self, *, folds: int = 5, C: float = 1.0, contact_C: float = RAO_C) -> LayerProbes:
        """Cross-validated scores of every probe, folds of proteins (see :func:`layer_probes`)."""
        tasks, contact_layers, hidden, groups = self.tasks, self.contact_layers, self.hidden, self.groups
        n_layers, n_heads = self.shape
        (sse_rows, sse_y), (site_rows, site_y) = self._sse, self._sites
        pairs = None if self.pairs is None else self.pairs.result()
        scores: dict[str, np.ndarray] = {}
        baselines: dict[str, float] = {}
        counts: dict[str, int] = {}
        if "secondary_structure" in tasks:
            rows, y = np.concatenate(sse_rows), np.concatenate(sse_y)
            if len(np.unique(groups[rows])) >= 2:  # else nothing labelled to cross-validate on
                results = [residue_probe_scores(hidden[layer][rows], y, groups[rows], folds=folds, C=C)
                           for layer in range(n_layers)]
                scores["secondary_structure"] = np.array([r["accuracy"] for r in results])
                baselines["secondary_structure"] = results[0]["baseline"]
            counts["secondary_structure"] = int(len(rows))
        if "binding_site" in tasks:
            rows, y = np.concatenate(site_rows), np.concatenate(site_y)
            if len(np.unique(groups[rows])) >= 2:
                results = [residue_probe_scores(hidden[layer][rows], y, groups[rows], folds=folds, C=C)
                           for layer in range(n_layers)]
                scores["binding_site"] = np.array([r["accuracy"] for r in results])
                scores["binding_site_f1"] = np.array([r["f1"] for r in results])
                baselines["binding_site"] = results[0]["baseline"]
                baselines["binding_site_f1"] = results[0]["baseline_f1"]
            counts["binding_site"] = int(len(rows))
            counts["binding_site_proteins"] = int(len(np.unique(groups[rows])))

        precision_by_depth = []
        contact_baseline = float("nan")
        if pairs is not None:
            long_rate = []
            for g in range(len(self.names)):
                rows = pairs.protein_rows(g)
                far = (pairs.j[rows] - pairs.i[rows]) >= LONG[0]
                if far.any():
                    long_rate.append(pairs.y[rows][far].mean())
            contact_baseline = float(np.mean(long_rate)) if long_rate else float("nan")
            splits = _folds(pairs.groups, folds)
            for depth in contact_layers:
                width = depth * n_heads
                sub = replace(pairs, X=pairs.X[:, :width], heads=pairs.heads[:width])
                held_out = []
                for train, test in splits:
                    probe = fit_probe(sub, contact_C, rows=train)
                    held_out += [protein_scores(probe, sub, g) for g in np.unique(pairs.groups[test])]
                precision_by_depth.append(float(np.nanmean(held_out)) if np.isfinite(held_out).any() else np.nan)
            counts["contact_pairs"] = int(len(pairs.y))

        return LayerProbes(
            layers=np.arange(1, n_layers + 1) if tasks else np.arange(0),
            scores=scores, baselines=baselines,
            contact_layers=np.asarray(contact_layers, dtype=int), contact_precision=np.asarray(precision_by_depth),
            contact_baseline=contact_baseline, proteins=list(self.names), folds=folds, counts=counts,
        )


def layer_probes(
    model: AttentionModel,
    structures,
    *,
    tasks: Sequence[str] = TASKS,
    contact_layers: Sequence[int] | None = None,
    folds: int = 5,
    C: float = 1.0,
    contact_C: float = RAO_C,
    split: str | None = None,
    min_separation: int = MIN_SEPARATION,
    progress: bool | Callable = False,
    **label_options,
) -> LayerProbes:
    """Probe every layer's embeddings for secondary structure and binding sites, and contacts by depth.

    Parameters
    ----------
    model : AttentionModel
        A :class:`contacts.Predictor`, or anything with ``config``, ``device`` and ``iter_attention``.
    structures
        As :func:`probes.proteins.load_proteins` takes them, or a list of Protein.
    tasks : sequence of str
        Some of ``secondary_structure``, ``binding_site``.
    contact_layers : sequence of int, optional
        Depths ``l`` (1-based) at which to fit the contact probe on layers 1..l;
        default every layer; ``[]`` for none. Pair features of all labelled pairs
        of all proteins are held (float32, ``pairs x heads``).
    folds : int
        Folds of proteins.
    C, contact_C : float
        Inverse regularization of the residue probes (L2) and of the contact probe (L1, Rao et al.'s 0.15).

    Returns
    -------
    LayerProbes
        A task with labelled residues in fewer than 2 proteins (binding sites where
        no structure holds a ligand) has no scores; ``counts`` says how many it had.
    """
    cfg = model.config
    proteins = as_proteins(structures, split, max_residues=cfg.max_residues, **label_options)
    reader = ProbingReader(proteins, cfg.num_layers, cfg.num_heads, cfg.embed_dim, tasks=tasks,
                           contact_layers=contact_layers, min_separation=min_separation)
    read_layers(model, proteins, [reader], progress=progress, desc="proteins (probes)")
    return reader.result(folds=folds, C=C, contact_C=contact_C)
