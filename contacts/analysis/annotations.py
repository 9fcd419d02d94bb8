"""Per-residue labels from structures: three-state secondary structure and ligand-binding residues.

The attention analysis of Vig et al. (2021, "BERTology meets biology") asks how
much of a head's attention goes *to* residues of a kind. This module says which
residues are of which kind, from the structure alone:

- **secondary structure** in three states, ``helix``, ``strand``, ``turn``.
  ``method="psea"`` is biotite's :func:`biotite.structure.annotate_sse` (P-SEA,
  Labesse et al. 1997: CA distances and angles only, so it runs on the four atoms
  a :class:`~contacts.io.structures.Structure` keeps); its ``a``/``b``/``c``
  become helix/strand/turn. ``method="dssp"`` runs DSSP (``mkdssp`` on the PATH,
  through :class:`biotite.application.dssp.DsspApp`) on all atoms of the file
  and maps its eight states to three as NetSurfP/TAPE's Q3 labels do (the data
  Vig et al. used): H, G, I -> helix; E, B -> strand; T, S and the blank
  (loop) -> turn (:data:`DSSP_TO_THREE`). The third state is therefore
  "turn, bend or coil", as in Q3; provis split the blank off as a fourth state,
  which P-SEA cannot tell apart. DSSP sees the chain alone (as P-SEA does), and
  residues without N, CA, C and O get no state. ``method="auto"`` (the default)
  uses DSSP where ``mkdssp`` is on the PATH and P-SEA otherwise; :func:`sse_method`
  says which. :func:`sse_agreement` compares two assignments.
- **binding sites**: residues with any heavy atom within 4 Å (inclusive) of a heavy
  atom of a non-polymer, non-water entity of the same model (any chain), less
  crystallization additives and common ions (:data:`ADDITIVES`; pass your own).

Values are float arrays over the structure's residues: 1.0 yes, 0.0 no, NaN
unknown (a residue without CA has no secondary structure).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from subprocess import SubprocessError

import biotite.structure as struc
import numpy as np
from biotite.application.dssp import DsspApp
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from ..io.structures import Structure, StructureError, read_atoms

__all__ = [
    "ADDITIVES",
    "BINDING_CUTOFF",
    "DSSP_TO_THREE",
    "PSEA_TO_THREE",
    "SSE_STATES",
    "binding_sites",
    "ligand_mask",
    "place_residues",
    "secondary_structure",
    "sse_agreement",
    "sse_labels",
    "sse_method",
]

#: The three states, in this order wherever they are indexed.
SSE_STATES = ("helix", "strand", "turn")
#: DSSP's eight states -> three (Q3 of NetSurfP/TAPE; '-', ' ' and 'C' are DSSP's blank/loop; 'P' is
#: the polyproline II state of DSSP 4, a loop state).
DSSP_TO_THREE: dict[str, str] = {
    "H": "helix", "G": "helix", "I": "helix",
    "E": "strand", "B": "strand",
    "T": "turn", "S": "turn", "-": "turn", " ": "turn", "C": "turn", "P": "turn",
}
# What a DSSP failure suggests.
_USE_PSEA = "P-SEA needs only CA atoms (method 'psea'; contacts analyze-heads --sse psea)"
#: The atoms mkdssp needs of a residue to give it a state.
DSSP_BACKBONE = ("N", "CA", "C", "O")
#: The annotations DsspApp writes (others, such as mmCIF's ``label_seq_id``, would contradict the renumbering).
DSSP_ANNOTATIONS = ("chain_id", "res_id", "ins_code", "res_name", "hetero", "atom_name", "element")
#: biotite's P-SEA codes -> three states.
PSEA_TO_THREE: dict[str, str] = {"a": "helix", "b": "strand", "c": "turn"}

#: Distance (Å) from a ligand heavy atom within which a residue binds it (Vig et al.'s binding sites
#: come from BioLiP, whose residues are within the sum of van der Waals radii + 0.5 Å; 4 Å is the usual
#: fixed stand-in).
BINDING_CUTOFF = 4.0
#: Residue names that do not make a binding site: crystallization additives, buffers, cryoprotectants
#: and common counter-ions (after BioLiP's list of artifacts, shortened). Metals that are often
#: functional (ZN, MG, CA, MN, FE, CU, CO, NI) are NOT in it; add them to exclude them.
ADDITIVES: frozenset[str] = frozenset({
    # ions
    "NA", "K", "CL", "BR", "IOD", "F", "LI", "RB", "CS", "NH4", "SO4", "PO4", "NO3", "SCN", "AZI",
    # alcohols, glycols, cryoprotectants
    "GOL", "EDO", "PEG", "PG4", "PGE", "1PE", "P6G", "PE4", "MPD", "MRD", "IPA", "EOH", "MOH", "DMS", "DIO",
    # buffers and salts of acids
    "TRS", "EPE", "MES", "HEPES", "BTB", "CIT", "FLC", "ACT", "ACY", "FMT", "TAR", "MLI", "IMD", "BME",
    "DTT", "CAC",
})


def sse_method(method: str = "auto") -> str:
    """The method ``method`` resolves to: ``"dssp"`` where asked (or auto and ``mkdssp`` is found), else ``"psea"``."""
    if method not in ("auto", "psea", "dssp"):
        raise ValueError(f"method={method!r}; expected 'auto', 'psea' or 'dssp'")
    if method == "auto":
        return "dssp" if shutil.which("mkdssp") else "psea"
    return method


def _residue_index(structure: Structure) -> dict[tuple[int, str], int]:
    return {(int(r), str(c)): k for k, (r, c) in enumerate(zip(structure.res_ids, structure.ins_codes))}


def _chain_residue_atoms(atoms: struc.AtomArray, structure: Structure) -> tuple[struc.AtomArray, np.ndarray]:
    """The structure's residues' atoms in ``atoms`` and the residue index of each (-1: not one of them)."""
    keep = (atoms.chain_id == structure.chain) & struc.filter_amino_acids(atoms)
    # free amino acids (HETATM, canonical names) are ligands, as load_structure decides
    keep &= ~(atoms.hetero & struc.filter_canonical_amino_acids(atoms))
    chain = atoms[keep]
    where = _residue_index(structure)
    index = np.array([where.get((int(r), str(c)), -1) for r, c in zip(chain.res_id, chain.ins_code)], dtype=int)
    return chain, index


def _dssp_input(structure: Structure) -> tuple[struc.AtomArray, np.ndarray]:
    """The chain's atoms as mkdssp gets them, and the structure residue of each of their residues.

    Only residues with N, CA, C and O: mkdssp leaves the others out of its output,
    which would shift every later label by one. Residues are renumbered 1..n: biotite's
    DsspApp restarts its numbering where the file's numbers fall (an insertion numbered
    1001-1106 inside a chain, as in 6WQA), and mkdssp refuses the repeated numbers.
    """
    atoms, index = _chain_residue_atoms(read_atoms(structure.source), structure)
    atoms, index = atoms[index >= 0], index[index >= 0]
    starts = struc.get_residue_starts(atoms, add_exclusive_stop=True)
    residue = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    backbone = np.zeros((len(starts) - 1, len(DSSP_BACKBONE)), dtype=bool)
    for k, name in enumerate(DSSP_BACKBONE):
        backbone[residue[atoms.atom_name == name], k] = True
    complete = backbone.all(axis=1)
    keep = complete[residue]
    atoms, residue = atoms[keep], residue[keep]
    atoms.res_id = np.cumsum(np.diff(residue, prepend=-1) != 0)
    atoms.ins_code[:] = ""
    for extra in set(atoms.get_annotation_categories()) - {*DSSP_ANNOTATIONS}:
        atoms.del_annotation(extra)
    return atoms, index[starts[:-1][complete]]


def secondary_structure(structure: Structure, method: str = "auto") -> np.ndarray:
    """Three-state secondary structure of each residue.

    Parameters
    ----------
    structure : Structure, length L
    method : {'auto', 'psea', 'dssp'}
        See the module docstring; ``dssp`` reads all atoms from ``structure.source``.

    Returns
    -------
    sse : ndarray, shape=(L,), dtype=str
        ``'helix'``, ``'strand'``, ``'turn'``, or ``''`` where unknown (P-SEA: no CA;
        DSSP: no N, CA, C or O).

    Raises
    ------
    StructureError
        DSSP: ``mkdssp`` failed, or returned another number of states than it was given residues.
    """
    method = sse_method(method)
    out = np.full(len(structure), "", dtype="<U6")
    if method == "dssp":
        atoms, rows = _dssp_input(structure)
        if len(rows):
            where = f"{structure.source} chain {structure.chain}"
            try:
                codes = DsspApp.annotate_sse(atoms)
            except SubprocessError as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StructureError(f"{where}: mkdssp failed ({message}); {_USE_PSEA}") from exc
            if len(codes) != len(rows):  # labels would land on the wrong residues
                raise StructureError(f"{where}: mkdssp returned {len(codes)} states for {len(rows)} residues; "
                                     f"{_USE_PSEA}")
            out[rows] = [DSSP_TO_THREE.get(str(code), "") for code in codes]
        return out
    has_ca = structure.atom_mask[:, 1]
    rows = np.flatnonzero(has_ca)
    if len(rows) == 0:
        return out
    ca = struc.AtomArray(len(rows))
    ca.coord = structure.coords[rows, 1]
    ca.chain_id[:] = structure.chain
    ca.res_id = structure.res_ids[rows]
    ca.ins_code = structure.ins_codes[rows]
    ca.res_name = structure.res_names[rows]
    ca.atom_name[:] = "CA"
    ca.element[:] = "C"
    codes = struc.annotate_sse(ca)
    out[rows] = [PSEA_TO_THREE.get(str(c), "") for c in codes]
    return out


def sse_labels(sse: np.ndarray) -> dict[str, np.ndarray]:
    """One 1/0/NaN array per state from :func:`secondary_structure`'s strings, shapes=(L,)."""
    sse = np.asarray(sse)
    known = sse != ""
    return {state: np.where(known, (sse == state).astype(float), np.nan) for state in SSE_STATES}


def sse_agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """How two three-state assignments of the same residues agree, over residues both know.

    Parameters
    ----------
    a, b : ndarray, shape=(L,), dtype=str
        :func:`secondary_structure` outputs (``''`` = unknown), e.g. DSSP's and P-SEA's.

    Returns
    -------
    dict
        ``residues`` (known to both), ``agreement`` (share with the same state),
        ``chance`` (the agreement two independent assignments with these state
        frequencies would reach), ``kappa`` (Cohen's, scikit-learn's: ``(agreement - chance) / (1 - chance)``),
        ``confusion`` (ndarray, shape=(3, 3): counts, rows ``a``, columns ``b``, in
        :data:`SSE_STATES` order).
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"assignments of {a.shape} and {b.shape} residues; expected the same residues")
    known = (a != "") & (b != "")
    confusion = confusion_matrix(a[known], b[known], labels=list(SSE_STATES)) if known.any() \
        else np.zeros((3, 3), dtype=int)
    n = int(confusion.sum())
    agreement = float(np.trace(confusion) / n) if n else float("nan")
    chance = float(confusion.sum(1) @ confusion.sum(0) / n**2) if n else float("nan")
    kappa = float(cohen_kappa_score(a[known], b[known], labels=list(SSE_STATES))) if n and chance < 1 \
        else float("nan")
    return {"residues": n, "agreement": agreement, "chance": chance, "kappa": kappa, "confusion": confusion}


def ligand_mask(atoms: struc.AtomArray, exclude: Iterable[str] = ADDITIVES) -> np.ndarray:
    """Heavy atoms of non-polymer, non-water entities not named in ``exclude``, shape=(n_atoms,), dtype=bool.

    Polymer residues are those with a ``label_seq_id`` (mmCIF) or, without one
    (PDB), ATOM records and modified amino acids (``MSE``); free canonical amino
    acids (HETATM) are ligands, as :func:`~contacts.io.structures.load_structure` decides.
    """
    exclude = {str(name).upper() for name in exclude}
    if "label_seq_id" in atoms.get_annotation_categories():
        polymer = np.array([str(x).lstrip("-").isdigit() for x in atoms.label_seq_id], dtype=bool)
    else:
        modified = struc.filter_amino_acids(atoms) & ~struc.filter_canonical_amino_acids(atoms)
        polymer = ~atoms.hetero | modified
    heavy = ~np.isin(np.char.upper(atoms.element.astype(str)), ["H", "D"])
    named = np.isin(np.char.upper(atoms.res_name.astype(str)), sorted(exclude))
    return np.asarray(~polymer & ~struc.filter_solvent(atoms) & heavy & ~named, dtype=bool)


def binding_sites(
    structure: Structure,
    *,
    cutoff: float = BINDING_CUTOFF,
    exclude: Iterable[str] = ADDITIVES,
    atoms: struc.AtomArray | None = None,
) -> np.ndarray:
    """Which residues bind a ligand: any heavy atom within ``cutoff`` Å of a ligand heavy atom.

    Parameters
    ----------
    structure : Structure, length L
    cutoff : float
        Å, inclusive.
    exclude : iterable of str
        Residue names that are not ligands (default :data:`ADDITIVES`).
    atoms : AtomArray, optional
        All atoms of the model; default read from ``structure.source`` (:func:`read_atoms`).

    Returns
    -------
    ndarray, shape=(L,), dtype=float64
        1.0 binding, 0.0 not; residues absent from the atoms are NaN.

    Raises
    ------
    OSError
        Without ``atoms``, when ``structure.source`` cannot be read.
    """
    if not cutoff > 0:
        raise ValueError(f"cutoff={cutoff} must be a positive distance in Å")
    if atoms is None:
        atoms = read_atoms(structure.source)
    chain, index = _chain_residue_atoms(atoms, structure)
    out = np.full(len(structure), np.nan)
    out[np.unique(index[index >= 0])] = 0.0
    ligand = atoms[ligand_mask(atoms, exclude)]
    if ligand.array_length() == 0:
        return out
    heavy = (index >= 0) & ~np.isin(np.char.upper(chain.element.astype(str)), ["H", "D"])
    cells = struc.CellList(ligand, cell_size=max(cutoff, 1.0))
    near = cells.get_atoms(chain.coord[heavy], radius=cutoff, as_mask=True).any(axis=-1)
    out[np.unique(index[heavy][near])] = 1.0
    return out


def place_residues(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Lay per-residue values over structure residues out on another sequence.

    Parameters
    ----------
    values : ndarray, shape=(L,)
    index : ndarray, shape=(N,), dtype=int
        Structure residue of each position, -1 for none
        (:func:`contacts.analysis.labels.align_to_structure`).

    Returns
    -------
    ndarray, shape=(N,), dtype=float64
        NaN where the index is -1.
    """
    index = np.asarray(index)
    out = np.full(len(index), np.nan)
    ok = index >= 0
    out[ok] = np.asarray(values, dtype=np.float64)[index[ok]]
    return out
