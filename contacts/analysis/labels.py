"""Structures -> contact labels: ideal CB, distances, and sequences placed on observed residues.

:func:`contact_map` turns a :class:`~contacts.io.structures.Structure` into labels:
1.0 contact, 0.0 no contact, NaN unknown. :func:`align_to_structure` places any
sequence (the deposited one, a homologue's) on the structure's observed residues,
so that labels and predictions line up position by position.
"""

from __future__ import annotations

import os

import numpy as np
from biotite.structure import AtomArray, AtomArrayStack
from einops import rearrange

from ..constants import CONTACT_ATOM, CONTACT_CUTOFF
from ..io.structures import Structure, StructureError, align_sequences, as_structure

__all__ = [
    "SequenceMismatchError",
    "align_to_structure",
    "contact_map",
    "contact_points",
    "impute_cb",
    "reindex_map",
]

# Ideal CB from N, CA, C (trRosetta; the fair-esm contact notebook uses the same geometry).
_CB_A, _CB_B, _CB_C = -0.58273431, 0.56802827, -0.54067466


class SequenceMismatchError(StructureError):
    """A sequence does not align well enough onto a structure's residues."""


# --------------------------------------------------------------------------- alignment


def align_to_structure(sequence: str, structure: Structure, *, min_identity: float = 0.9) -> np.ndarray:
    """Place each residue of ``sequence`` on the structure's observed residues.

    Uses the structure's full-sequence mapping when ``sequence`` is its
    deposited sequence, else a semi-global alignment (biotite, BLOSUM62,
    affine gaps -10/-1, free end gaps).

    Parameters
    ----------
    sequence : str, length N
    structure : Structure, length L
    min_identity : float
        Least fraction of identical aligned residues, over the shorter of the two.

    Returns
    -------
    index : ndarray, shape=(N,), dtype=int
        Structure residue for each sequence position, -1 where none.

    Raises
    ------
    SequenceMismatchError
        The alignment's identity is below ``min_identity``.
    """
    if sequence == structure.sequence:
        return np.arange(len(sequence))
    if structure.full_sequence is not None and sequence == structure.full_sequence:
        index = np.full(len(sequence), -1, dtype=int)
        placed = structure.full_index >= 0
        index[structure.full_index[placed]] = np.flatnonzero(placed)
        return index
    index, _, identity = align_sequences(sequence, structure.sequence)
    if identity < min_identity:
        raise SequenceMismatchError(
            f"sequence of {len(sequence)} residues aligns to {structure!r} with identity {identity:.2f}, "
            f"below min_identity={min_identity}"
        )
    return index


def reindex_map(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Lay a per-pair map over structure residues out on another sequence.

    Parameters
    ----------
    values : ndarray, shape=(L, L)
    index : ndarray, shape=(N,), dtype=int
        Row/column of ``values`` for each new position, -1 for none (as from
        :func:`align_to_structure`).

    Returns
    -------
    ndarray, shape=(N, N), dtype=float (that of ``values``; float64 for integers)
        NaN in every row and column whose index is -1.
    """
    index = np.asarray(index)
    values = np.asarray(values)
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    out = np.full((len(index), len(index)), np.nan, dtype=dtype)
    ok = np.flatnonzero(index >= 0)
    out[np.ix_(ok, ok)] = values[np.ix_(index[ok], index[ok])]
    return out


# --------------------------------------------------------------------------- labels


def impute_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Ideal CB position from the backbone (trRosetta; fair-esm's contact notebook).

    Parameters
    ----------
    n, ca, c : ndarray, shape=(..., 3)

    Returns
    -------
    ndarray, shape=(..., 3)
        NaN wherever one of the inputs is NaN.
    """
    b = ca - n
    c_ = c - ca
    a = np.cross(b, c_)
    return _CB_A * a + _CB_B * b + _CB_C * c_ + ca


def _pair_distances(points: np.ndarray) -> np.ndarray:
    diff = rearrange(points, "i d -> i 1 d") - rearrange(points, "j d -> 1 j d")
    return np.sqrt((diff**2).sum(-1))


def _check_atom(atom: str) -> None:
    if atom not in ("CB", "CA"):
        raise ValueError(f"atom={atom!r} is not supported; use 'CB' or 'CA'")


def contact_points(structure: Structure, atom: str = CONTACT_ATOM, *, impute: bool = True) -> np.ndarray:
    """The point of each residue whose distances define contacts (as :func:`contact_map` measures them).

    Parameters
    ----------
    structure : Structure, length L
    atom : {'CB', 'CA'}
    impute : bool
        With ``atom='CB'``: an ideal CB placed from N, CA and C on every residue
        (default); False: the deposited CB, CA for glycine.

    Returns
    -------
    ndarray, shape=(L, 3), dtype=float64
        NaN for residues without the atoms needed. A chain of CA atoms only (no N, C or
        CB anywhere: coarse models) gives its CA atoms whatever ``atom`` and ``impute``
        say, as its loader warned (:class:`~contacts.io.structures.StructureWarning`).
    """
    _check_atom(atom)
    xyz = structure.coords.astype(np.float64)
    n, ca, c, cb = (xyz[:, i] for i in range(4))
    mask = structure.atom_mask
    if atom == "CA" or (mask[:, 1].any() and not mask[:, [0, 2, 3]].any()):
        # a CA-only chain has nothing to place CB from: CA (its loader said so in one StructureWarning)
        return ca
    if impute:
        return impute_cb(n, ca, c)
    glycine = np.array([s == "G" for s in structure.sequence])
    return np.where(glycine[:, None], ca, cb)


def contact_map(
    structure: Structure | str | os.PathLike | AtomArray | AtomArrayStack,
    cutoff: float = CONTACT_CUTOFF,
    atom: str = CONTACT_ATOM,
    *,
    impute: bool = True,
    sequence: str | None = None,
    min_identity: float = 0.9,
) -> np.ndarray:
    """Contact labels: 1.0 contact, 0.0 none, NaN unknown.

    Parameters
    ----------
    structure : Structure, path, PDB id, AtomArray or AtomArrayStack, length L
        Anything but a Structure goes through :func:`contacts.io.structures.load_structure`
        (an AtomArrayStack: its first model; the first protein chain).
    cutoff : float
        A pair is in contact when its distance is strictly below this (Å).
    atom : {'CB', 'CA'}
    impute : bool
        With ``atom='CB'``: True (default) places an ideal CB on every residue
        from N, CA and C, glycine included (fair-esm's notebook, trRosetta);
        False uses the deposited CB, and CA for glycine (the CASP convention).
    sequence : str, optional
        Lay the labels out on this sequence instead of the observed residues
        (the deposited full sequence, or any sequence, via :func:`align_to_structure`);
        positions without a structure residue are unknown.
    min_identity : float
        Passed to :func:`align_to_structure`.

    Returns
    -------
    labels : ndarray, shape=(L, L) or (N, N), dtype=float32
        Residues without the atoms needed are NaN in their row and column:
        unknown, never "no contact". float32, as the probabilities beside them
        (1, 0 and NaN are exact in it); distances are measured in float64.
    """
    _check_atom(atom)
    if not cutoff > 0:
        raise ValueError(f"cutoff={cutoff} must be a positive distance in Å")
    structure = as_structure(structure)
    dist = _pair_distances(contact_points(structure, atom, impute=impute))
    labels = np.where(np.isnan(dist), np.float32(np.nan), (dist < cutoff).astype(np.float32))
    if sequence is not None:
        labels = reindex_map(labels, align_to_structure(sequence, structure, min_identity=min_identity))
    return labels
