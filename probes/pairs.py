"""Model + structures -> pair features and contact labels, streamed protein by protein.

The training set of a contact probe has one row per residue pair ``i < j`` with
separation ``j - i >= 6`` and a known label: the symmetrized, APC-corrected
attention maps of that pair (:func:`contacts.features.attention_features`
restricted to the pair), and whether the pair is in contact in the structure.

Only one protein's maps are held at a time, and they are turned into features
one layer at a time; the rows of all proteins go into one preallocated float32
matrix whose size is known before the model runs (labels decide which pairs
are kept, including any subsampling of negatives). 20 structures of ~250
residues and 660 maps make ~0.7 M rows, ~1.8 GB.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from contacts.analysis.labels import SequenceMismatchError, contact_map
from contacts.constants import MIN_SEPARATION
from contacts.features import apc, symmetrize
from contacts.io.domains import read_domains
from contacts.io.manifest import MANIFEST_NAME, folder_manifest, read_manifest, structure_files
from contacts.io.progress import track
from contacts.io.structures import cut_residues, load_structure

from .probe import all_heads

#: Pairs closer in sequence than this are trivially in contact and never used.


@dataclass(frozen=True, eq=False)
class Protein:
    """One chain to learn from: the sequence the model reads and the labels laid on it.

    Attributes
    ----------
    name : str
    sequence : str, length L
    labels : ndarray, shape=(L, L)
        1.0 contact, 0.0 none, NaN unknown (:func:`contacts.analysis.labels.contact_map`).
    """

    name: str
    sequence: str
    labels: np.ndarray

    def __post_init__(self):
        n = len(self.sequence)
        if np.shape(self.labels) != (n, n):
            raise ValueError(
                f"{self.name}: labels have shape {np.shape(self.labels)}; "
                f"the sequence has {n} residues"
            )


def load_proteins(
    directory: str | Path,
    split: str | None = None,
    *,
    names: Sequence[str] | None = None,
    full_sequence: bool = True,
    max_residues: int | None = None,
) -> list[Protein]:
    """Read structures and their contact labels, as listed in ``MANIFEST.tsv``.

    Parameters
    ----------
    directory : str or Path
        A folder of structure files. With a ``MANIFEST.tsv`` (columns ``file``,
        ``chain``, optionally ``split``), the rows of ``split`` are read with
        their chain; without one, every structure file, first protein chain.
    split : str, optional
        ``train``, ``valid``, ``test``; None for all rows.
    names : sequence of str, optional
        Only these files (as named in the manifest, or file names).
    full_sequence : bool
        Let the model read the deposited sequence, residues without coordinates
        included (their labels unknown), where the file has one. Otherwise the
        observed residues are read back to back, gaps closed.
    max_residues : int, optional
        Skip chains longer than this (with a warning), e.g. the model's limit.

    Returns
    -------
    list of Protein, in manifest order.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"structure folder {directory} does not exist")
    rows = _manifest_rows(directory, split)
    if names is not None:
        wanted = set(names)
        rows = [r for r in rows if r["file"] in wanted or Path(r["file"]).name in wanted]
    if not rows:
        raise ValueError(f"no structures in {directory} for split={split!r}")
    proteins = []
    for row in rows:
        structure = load_structure(directory / row["file"], chain=row.get("chain") or None)
        protein = _protein(f"{row['file'].split('.')[0]}_{structure.chain}", structure, full_sequence,
                           max_residues, row["file"])
        if protein is not None:
            proteins.append(protein)
    return proteins


def load_domains(
    directory: str | Path,
    domains: str | Path,
    split: str | None = None,
    *,
    full_sequence: bool = True,
    max_residues: int | None = None,
) -> list[Protein]:
    """Read the domains a domain table lists (:mod:`contacts.io.domains`): parts of chains, with their labels.

    Parameters
    ----------
    directory : str or Path
        The folder holding the table's structure files.
    domains : str or Path
        A domain table, or the name of one the package ships (``antibody_domains``).
    split : str, optional
        Only the rows of this split.
    full_sequence, max_residues
        As for :func:`load_proteins`.

    Returns
    -------
    list of Protein, named by the table's ``name`` column, in table order.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"structure folder {directory} does not exist")
    proteins = []
    for domain in read_domains(domains, split):
        chain = load_structure(directory / domain.file, chain=domain.chain)
        protein = _protein(domain.name, cut_residues(chain, domain.first, domain.last), full_sequence,
                           max_residues, domain.name)
        if protein is not None:
            proteins.append(protein)
    return proteins


def _protein(name: str, structure, full_sequence: bool, max_residues: int | None, what: str) -> Protein | None:
    """A chain's sequence and labels (the deposited sequence where it has one and ``full_sequence``)."""
    sequence = structure.sequence
    labels = None
    if full_sequence and structure.full_sequence and structure.full_sequence != sequence:
        try:
            labels = contact_map(structure, sequence=structure.full_sequence)
            sequence = structure.full_sequence
        except SequenceMismatchError:
            labels = None
    if labels is None:
        sequence, labels = structure.sequence, contact_map(structure)
    if max_residues is not None and len(sequence) > max_residues:
        warnings.warn(f"{what}: {len(sequence)} residues exceed {max_residues}; skipped", stacklevel=3)
        return None
    return Protein(name, sequence, labels)


def _manifest_rows(directory: Path, split: str | None) -> list[dict[str, str]]:
    manifest = folder_manifest(directory)
    if manifest is not None:
        rows = list(read_manifest(manifest).values())
        if split is not None:
            splits = sorted({r.get("split", "") for r in rows})
            rows = [r for r in rows if r.get("split") == split]
            if not rows:
                raise ValueError(f"split {split!r} not in {manifest}; it has {splits}")
        return rows
    if split is not None:
        raise ValueError(f"split={split!r} needs a {MANIFEST_NAME} in {directory}")
    return [{"file": p.name} for p in structure_files(directory)]


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


def _layers_needed(heads: np.ndarray) -> list[int]:
    """1-based layer numbers to ask the model for."""
    return sorted(int(layer) + 1 for layer in np.unique(heads[:, 0]))


def iter_protein_pairs(
    predictor,
    proteins: Iterable[Protein],
    *,
    heads: np.ndarray | None = None,
    min_separation: int = MIN_SEPARATION,
    negative_fraction: float = 1.0,
    seed: int = 0,
) -> Iterator[tuple[Protein, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Stream ``(protein, i, j, y, X, n_known)``, one protein's maps in memory at a time."""
    cfg = predictor.config
    heads = all_heads(cfg.num_layers, cfg.num_heads) if heads is None else np.asarray(heads)
    layers = _layers_needed(heads)
    local = heads.copy()
    local[:, 0] = np.searchsorted(np.asarray(layers) - 1, heads[:, 0])
    rng = np.random.default_rng(seed)
    for protein in proteins:
        i, j, y, n_known = pair_indices(
            protein.labels, min_separation=min_separation,
            negative_fraction=negative_fraction, rng=rng,
        )
        maps = predictor.attention_maps(protein.sequence, layers=layers)
        yield protein, i, j, y, pair_features(maps, i, j, heads=local), n_known


def collect_pairs(
    predictor,
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
    predictor : contacts.Predictor
        Anything with ``.config`` (``num_layers``, ``num_heads``, ``name``) and
        ``.attention_maps(sequence, layers)``.
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
    heads = all_heads(cfg.num_layers, cfg.num_heads) if heads is None else np.asarray(heads, dtype=np.int64)
    proteins = list(proteins)
    if not proteins:
        raise ValueError("no proteins to build pairs from")
    # The labels alone decide the rows, so the matrix is allocated once, up front.
    rng = np.random.default_rng(seed)
    counts = [
        len(pair_indices(p.labels, min_separation=min_separation,
                         negative_fraction=negative_fraction, rng=rng)[2])
        for p in proteins
    ]
    total = int(sum(counts))
    X = np.empty((total, len(heads)), dtype=np.float32)
    y = np.empty(total, dtype=np.int8)
    groups = np.empty(total, dtype=np.int32)
    ii = np.empty(total, dtype=np.int32)
    jj = np.empty(total, dtype=np.int32)
    stream = iter_protein_pairs(
        predictor, proteins, heads=heads, min_separation=min_separation,
        negative_fraction=negative_fraction, seed=seed,
    )
    stream = track(stream, progress, total=len(proteins), desc="proteins", unit="protein")
    start, n_known = 0, 0
    for index, (protein, i, j, yp, Xp, known) in enumerate(stream):
        stop = start + len(yp)
        if len(yp) != counts[index]:  # the same seed replays the same choices
            raise RuntimeError(f"{protein.name}: {len(yp)} pairs, expected {counts[index]}")
        X[start:stop], y[start:stop], groups[start:stop] = Xp, yp, index
        ii[start:stop], jj[start:stop] = i, j
        n_known += known
        start = stop
    return PairSet(
        X=X, y=y, groups=groups, i=ii, j=jj,
        proteins=[p.name for p in proteins], lengths=[len(p.sequence) for p in proteins],
        heads=heads, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
        model=getattr(cfg, "name", ""), min_separation=min_separation,
        negative_fraction=float(negative_fraction), n_known=n_known, seed=seed,
    )


