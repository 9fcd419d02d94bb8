"""The protein record every probe and head analysis reads, and how it is read from structures.

A :class:`Protein` is one chain laid on the sequence the model reads: its name,
that sequence, its contact labels and, where they were loaded, per-residue
annotations (secondary structure, binding sites). Contact probes
(:mod:`probes.pairs`), per-head scores (:mod:`probes.heads`), attention
properties (:mod:`probes.attention`) and probing classifiers
(:mod:`probes.probing`) all take the same records, so one read of the
structures serves them all.

>>> proteins = load_proteins("../shared/structures", "train")          # doctest: +SKIP
>>> proteins[0].name, len(proteins[0].sequence), proteins[0].contacts.shape  # doctest: +SKIP
('1e7l_1_A', 157, (157, 157))
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contacts.analysis.annotations import (
    ADDITIVES,
    SSE_STATES,
    binding_sites,
    place_residues,
    secondary_structure,
    sse_labels,
)
from contacts.analysis.labels import SequenceMismatchError, align_to_structure, contact_map, reindex_map
from contacts.constants import CONTACT_ATOM, CONTACT_CUTOFF
from contacts.io.domains import read_domains
from contacts.io.manifest import folder_manifest, is_structure_file, read_manifest, structure_files, structure_name
from contacts.io.structures import Structure, StructureError, cut_residues, load_structure

__all__ = [
    "AMINO_ACIDS",
    "DEFAULT_PROPERTIES",
    "RESIDUE_PROPERTIES",
    "Protein",
    "annotate",
    "as_proteins",
    "load_domains",
    "load_proteins",
    "protein_name",
    "resolve_structures",
]

#: The 20 standard amino acids, one-letter codes, BLOSUM62's order.
AMINO_ACIDS = tuple("ARNDCQEGHILKMFPSTWYV")
#: Properties of one residue: annotations a structure gives, and the amino acids the sequence gives.
RESIDUE_PROPERTIES = (*SSE_STATES, "binding_site", *AMINO_ACIDS)
#: Every property, in report order: contacts (of a pair), then the residue properties.
DEFAULT_PROPERTIES = ("contact", *RESIDUE_PROPERTIES)


@dataclass(frozen=True, eq=False)
class Protein:
    """One chain with its labels, laid on the sequence the model reads.

    Attributes
    ----------
    name : str
    sequence : str, length L
    contacts : ndarray, shape=(L, L)
        Contact labels: 1.0 contact, 0.0 none, NaN unknown (no ``|i - j|`` filter
        applied; :func:`contacts.analysis.labels.contact_map`).
    residues : dict of str -> ndarray, shape=(L,)
        Per-residue annotations where they were loaded (``helix``, ``strand``,
        ``turn``, ``binding_site``): 1.0, 0.0, NaN unknown. Amino acids are read
        from :attr:`sequence`.
    """

    name: str
    sequence: str
    contacts: np.ndarray
    residues: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.sequence)
        if np.shape(self.contacts) != (n, n):
            raise ValueError(f"{self.name}: contacts have shape {np.shape(self.contacts)}; the sequence has {n} residues")
        for key, value in self.residues.items():
            if np.shape(value) != (n,):
                raise ValueError(f"{self.name}: {key} has shape {np.shape(value)}; the sequence has {n} residues")

    def residue_property(self, name: str) -> np.ndarray:
        """Values of a residue property, shape=(L,): an amino acid from the sequence, others as stored (NaN if absent)."""
        if name in AMINO_ACIDS:
            return np.array([float(c == name) for c in self.sequence])
        return self.residues.get(name, np.full(len(self.sequence), np.nan))


def protein_name(source: str | os.PathLike | None, chain: str) -> str:
    """``<file name>_<chain>``, the chain named once where the file's name already ends with it.

    Per-chain files (trRosetta's ``1e7l_1_A.pdb``: PDB id, entity, chain) are
    ``1e7l_1_A``, not ``1e7l_1_A_A``; ``1crr.bcif`` chain A is ``1crr_A``, and a
    per-chain file read for another chain keeps both (``1e7l_1_A.pdb`` chain B:
    ``1e7l_1_A_B``). A structure without a file is ``structure_<chain>``.
    """
    stem = structure_name(source) if source else "structure"
    return stem if stem.endswith(f"_{chain}") else f"{stem}_{chain}"


def resolve_structures(
    structures: Structure | str | os.PathLike | Iterable[Structure | str | os.PathLike],
    split: str | None = None,
) -> list[tuple[Structure | Path, str | None]]:
    """``(structure or path, chain)`` for each structure named.

    ``structures`` is a :class:`Structure`, a structure file, a folder (its
    ``MANIFEST.tsv`` rows, or every structure file), a manifest file (paths
    relative to its folder), or an iterable of structures and files. ``split``
    keeps the manifest rows of one split (None: all).
    """
    if isinstance(structures, Structure):
        return [(structures, None)]
    if isinstance(structures, (str, os.PathLike)):
        path = Path(structures)
        if path.is_dir():
            manifest = folder_manifest(path)
            if manifest is None:
                if split is not None:
                    raise ValueError(f"split={split!r} needs a manifest in {path}")
                return [(p, None) for p in structure_files(path)]
            path = manifest
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if is_structure_file(path):
            return [(path, None)]
        rows = list(read_manifest(path).values())
        if split is not None:
            splits = sorted({r.get("split", "") for r in rows})
            rows = [r for r in rows if r.get("split") == split]
            if not rows:
                raise ValueError(f"split {split!r} not in {path}; it has {splits}")
        return [(path.parent / r["file"], r.get("chain") or None) for r in rows]
    return [item for s in structures for item in resolve_structures(s)]


def annotate(
    structure: Structure,
    *,
    properties: Sequence[str] = DEFAULT_PROPERTIES,
    cutoff: float = CONTACT_CUTOFF,
    atom: str = CONTACT_ATOM,
    full_sequence: bool = True,
    sse: str = "auto",
    additives: Iterable[str] = ADDITIVES,
    name: str | None = None,
) -> Protein:
    """The record of one structure's chain: contact labels, and the annotations ``properties`` need.

    Parameters
    ----------
    structure : Structure
    properties : sequence of str
        Secondary structure is read when one of ``helix``, ``strand``, ``turn`` is
        asked for, binding sites with ``binding_site``; contacts always. ``()``:
        contacts only.
    cutoff, atom : float, str
        Contact definition (:func:`contacts.analysis.labels.contact_map`).
    full_sequence : bool
        Let the model read the deposited sequence where the file has one (residues
        without coordinates get unknown labels). Otherwise the observed residues
        are read back to back, gaps closed.
    sse : {'auto', 'psea', 'dssp'}
        Secondary-structure method (:func:`contacts.analysis.annotations.secondary_structure`).
    additives : iterable of str
        Residue names that are not ligands.
    name : str, optional
        Default :func:`protein_name` of the source file and chain.

    Returns
    -------
    Protein
        ``binding_site`` is unknown (NaN) for a chain whose model holds no ligand
        at all (nothing to bind in that crystal says nothing about binding), and
        when the file cannot be read again.
    """
    sequence = structure.sequence
    index = np.arange(len(sequence))
    if full_sequence and structure.full_sequence and structure.full_sequence != sequence:
        try:
            index = align_to_structure(structure.full_sequence, structure)
            sequence = structure.full_sequence
        except SequenceMismatchError:
            pass
    labels = contact_map(structure, cutoff, atom)
    contacts = labels if len(index) == len(structure) and np.array_equal(index, np.arange(len(index))) \
        else reindex_map(labels, index)
    residues: dict[str, np.ndarray] = {}
    if any(p in SSE_STATES for p in properties):
        for state, values in sse_labels(secondary_structure(structure, sse)).items():
            residues[state] = place_residues(values, index)
    if "binding_site" in properties:
        try:
            if not structure.source:
                raise FileNotFoundError("the structure has no source file to read ligands from")
            sites = binding_sites(structure, exclude=additives)
        except (OSError, StructureError) as exc:
            warnings.warn(f"{structure!r}: binding sites unknown ({exc})", stacklevel=2)
            sites = np.full(len(structure), np.nan)
        if not np.nansum(sites) > 0:
            sites = np.full(len(structure), np.nan)
        residues["binding_site"] = place_residues(sites, index)
    return Protein(protein_name(structure.source, structure.chain) if name is None else name, sequence, contacts,
                   residues)


def load_proteins(
    structures: Structure | str | os.PathLike | Iterable[Structure | str | os.PathLike],
    split: str | None = None,
    *,
    max_residues: int | None = None,
    **options,
) -> list[Protein]:
    """Read structures into records (see :func:`resolve_structures` and :func:`annotate`).

    Parameters
    ----------
    structures
        A folder (its ``MANIFEST.tsv`` rows with their chains, or every structure
        file), a manifest file, a structure file, a :class:`Structure`, or an
        iterable of them.
    split : str, optional
        Keep the manifest rows of this split (``train``, ``valid``, ``test``); None for all.
    max_residues : int, optional
        Skip chains longer than this, with a warning (e.g. the model's limit).
    **options
        :func:`annotate`'s: ``properties`` (default :data:`DEFAULT_PROPERTIES`;
        ``()`` reads contacts only), ``cutoff``, ``atom``, ``full_sequence``,
        ``sse``, ``additives``.

    Returns
    -------
    list of Protein, in manifest order.
    """
    out = []
    found = resolve_structures(structures, split)
    if not found:
        raise ValueError(f"no structures in {structures!r}")
    for item, chain in found:
        structure = item if isinstance(item, Structure) else load_structure(item, chain=chain)
        protein = annotate(structure, **options)
        if max_residues is not None and len(protein.sequence) > max_residues:
            warnings.warn(f"{protein.name}: {len(protein.sequence)} residues exceed {max_residues}; skipped",
                          stacklevel=2)
            continue
        out.append(protein)
    if not out:
        raise ValueError(f"all {len(found)} chains of {structures!r} exceed {max_residues} residues")
    return out


def load_domains(
    directory: str | os.PathLike,
    domains: str | os.PathLike,
    split: str | None = None,
    *,
    max_residues: int | None = None,
    **options,
) -> list[Protein]:
    """Records of the domains a domain table lists (:mod:`contacts.io.domains`): parts of chains.

    Parameters
    ----------
    directory : str or Path
        The folder holding the table's structure files.
    domains : str or Path
        A domain table, or the name of one the package ships (``antibody_domains``).
    split : str, optional
        Only the rows of this split.
    max_residues : int, optional
        Skip domains longer than this, with a warning.
    **options
        :func:`annotate`'s (``properties=()`` reads contacts only).

    Returns
    -------
    list of Protein, named by the table's ``name`` column, in table order.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"structure folder {directory} does not exist")
    out = []
    for domain in read_domains(domains, split):
        chain = load_structure(directory / domain.file, chain=domain.chain)
        protein = annotate(cut_residues(chain, domain.first, domain.last), name=domain.name, **options)
        if max_residues is not None and len(protein.sequence) > max_residues:
            warnings.warn(f"{protein.name}: {len(protein.sequence)} residues exceed {max_residues}; skipped",
                          stacklevel=2)
            continue
        out.append(protein)
    return out


def as_proteins(structures, split: str | None = None, **options) -> list[Protein]:
    """A list of :class:`Protein` as it is, or structures read by :func:`load_proteins` with ``options``."""
    if isinstance(structures, (list, tuple)) and structures and all(isinstance(s, Protein) for s in structures):
        return list(structures)
    return load_proteins(structures, split, **options)
