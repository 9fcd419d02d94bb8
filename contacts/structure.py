"""PDB / mmCIF / BinaryCIF files -> residues, backbone coordinates and contact labels.

A :class:`Structure` holds one protein chain of model 1: the one-letter
sequence of its observed residues, the coordinates of N, CA, C and CB for each
(NaN where an atom is missing), and, where the file deposits it, the full
sequence (SEQRES / ``entity_poly``) with the position of every observed residue
in it. :func:`contact_map` turns it into labels: 1.0 contact, 0.0 no contact,
NaN unknown.
"""

from __future__ import annotations

import gzip
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from einops import rearrange

__all__ = [
    "BACKBONE_ATOMS",
    "CONTACT_CUTOFF",
    "ChainNotFoundError",
    "SequenceMismatchError",
    "Structure",
    "StructureError",
    "align_to_structure",
    "contact_map",
    "impute_cb",
    "load_structure",
    "reindex_map",
]

#: Atoms kept per residue, in this order along axis 1 of :attr:`Structure.coords`.
BACKBONE_ATOMS = ("N", "CA", "C", "CB")
#: Contact distance (Å) between CB atoms, as in Rao et al. and CASP.
CONTACT_CUTOFF = 8.0

# Ideal CB from N, CA, C (trRosetta; the fair-esm contact notebook uses the same geometry).
_CB_A, _CB_B, _CB_C = -0.58273431, 0.56802827, -0.54067466


class StructureError(ValueError):
    """A structure file could not be turned into residues and coordinates."""


class ChainNotFoundError(StructureError, KeyError):
    """The requested chain is not a protein chain of the file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class SequenceMismatchError(StructureError):
    """A sequence does not align well enough onto a structure's residues."""


@dataclass(frozen=True, eq=False)
class Structure:
    """One protein chain of one model, residue by residue.

    Attributes
    ----------
    sequence : str
        One-letter codes of the observed amino-acid residues (modified residues
        as their parent, unknown ones as ``X``), length L.
    coords : ndarray, shape=(L, 4, 3), dtype=float32
        Coordinates of N, CA, C, CB (:data:`BACKBONE_ATOMS`); NaN where missing.
    atom_mask : ndarray, shape=(L, 4), dtype=bool
        True where the atom is present.
    res_ids : ndarray, shape=(L,), dtype=int
        Author residue numbers.
    ins_codes : ndarray, shape=(L,), dtype=str
        Insertion codes ('' where none).
    res_names : ndarray, shape=(L,), dtype=str
        Residue names as in the file (``MSE`` stays ``MSE`` here).
    chain : str
        Author chain id.
    full_sequence : str or None
        The deposited sequence of the chain (SEQRES or ``entity_poly``), or
        None where the file has none.
    full_index : ndarray, shape=(L,), dtype=int, or None
        Position of each observed residue in :attr:`full_sequence` (0-based),
        -1 where it could not be placed; None when there is no full sequence.
    source : str
        The file it was read from.
    """

    sequence: str
    coords: np.ndarray
    atom_mask: np.ndarray
    res_ids: np.ndarray
    ins_codes: np.ndarray
    res_names: np.ndarray
    chain: str
    full_sequence: str | None = None
    full_index: np.ndarray | None = None
    source: str = ""
    n_models: int = field(default=1)

    def __len__(self) -> int:
        return len(self.sequence)

    def __repr__(self) -> str:
        full = "" if self.full_sequence is None else f", full={len(self.full_sequence)}"
        return f"Structure({Path(self.source).name!r}, chain={self.chain!r}, L={len(self)}{full})"


# --------------------------------------------------------------------------- reading


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def _file_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".pdb", ".ent"):
        return "pdb"
    if ext in (".cif", ".mmcif"):
        return "cif"
    if ext == ".bcif":
        return "bcif"
    raise StructureError(
        f"cannot tell the format of {path.name!r} from its extension; "
        "expected .pdb, .ent, .cif, .mmcif or .bcif, optionally followed by .gz"
    )


def _one_letter(res_name: str) -> str:
    from biotite.structure.info import one_letter_code

    if res_name == "MSE":
        return "M"
    code = one_letter_code(res_name)
    return code if code is not None and len(code) == 1 and code.isalpha() else "X"


def _pdb_seqres(text: str) -> dict[str, list[str]]:
    seqres: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("SEQRES"):
            seqres.setdefault(line[11], []).extend(line[19:].split())
    return seqres


def _read_pdb(data: bytes):
    from biotite.structure.io.pdb import PDBFile

    text = data.decode("utf-8", errors="replace")
    pdb_file = PDBFile.read(io.StringIO(text))
    n_models = pdb_file.get_model_count()
    atoms = pdb_file.get_structure(model=1, altloc="occupancy", extra_fields=["occupancy"])
    seqres = {chain: "".join(_one_letter(r) for r in names) for chain, names in _pdb_seqres(text).items()}
    return atoms, n_models, seqres, None


def _read_pdbx(data: bytes, binary: bool):
    from biotite.structure.io import pdbx

    pdbx_file = (
        pdbx.BinaryCIFFile.read(io.BytesIO(data)) if binary else pdbx.CIFFile.read(io.StringIO(data.decode()))
    )
    block = pdbx_file.block
    n_models = pdbx.get_model_count(pdbx_file)
    has_label_seq = "label_seq_id" in block["atom_site"]
    atoms = pdbx.get_structure(
        pdbx_file,
        model=1,
        altloc="occupancy",
        use_author_fields=True,
        extra_fields=["occupancy", "label_seq_id"] if has_label_seq else ["occupancy"],
    )
    full: dict[str, str] = {}
    if "entity_poly" in block and "entity_poly_seq" in block:
        poly = block["entity_poly"]
        seq = block["entity_poly_seq"]
        entity_ids = seq["entity_id"].as_array(str)
        nums = seq["num"].as_array(int)
        mon_ids = seq["mon_id"].as_array(str)
        for entity, strands in zip(poly["entity_id"].as_array(str), poly["pdbx_strand_id"].as_array(str)):
            rows = entity_ids == entity
            # microheterogeneity lists several monomers under one number: keep the first
            _, first = np.unique(nums[rows], return_index=True)
            letters = "".join(_one_letter(m) for m in mon_ids[rows][first])
            for strand in strands.split(","):
                full[strand.strip()] = letters
    return atoms, n_models, full, has_label_seq


def load_structure(path: str | os.PathLike, chain: str | None = None) -> Structure:
    """Read one protein chain of model 1 from a PDB, mmCIF or BinaryCIF file.

    Parameters
    ----------
    path : str or PathLike
        ``.pdb``/``.ent``, ``.cif``/``.mmcif`` or ``.bcif``, each optionally gzipped (``.gz``).
    chain : str, optional
        Author chain id. Default: the first chain that holds amino acids.

    Returns
    -------
    Structure
        Alternate locations resolved to the highest occupancy; insertion codes
        kept as separate residues; modified residues mapped to their parent
        amino acid (``MSE`` -> ``M``, others from biotite's chemical component
        data, ``X`` when it has none).

    Raises
    ------
    StructureError
        Unknown extension, or no amino acids in the file.
    ChainNotFoundError
        ``chain`` is not a protein chain of the file; the message lists those present.

    Examples
    --------
    >>> s = load_structure("1crr.bcif")            # doctest: +SKIP
    >>> s.sequence[:5], s.coords.shape             # doctest: +SKIP
    """
    import biotite.structure as struc

    path = Path(path)
    fmt = _file_format(path)
    data = _open_bytes(path)
    if fmt == "pdb":
        atoms, n_models, full_by_chain, has_label_seq = _read_pdb(data)
    else:
        atoms, n_models, full_by_chain, has_label_seq = _read_pdbx(data, binary=fmt == "bcif")

    keep = struc.filter_amino_acids(atoms)
    # free amino acids (ligands, buffer) are HETATM with a standard name, or outside the polymer in mmCIF
    keep &= ~(atoms.hetero & struc.filter_canonical_amino_acids(atoms))
    if has_label_seq:
        keep &= np.array([str(x).lstrip("-").isdigit() for x in atoms.label_seq_id])
    protein = atoms[keep]
    if protein.array_length() == 0:
        raise StructureError(f"{path.name!r} holds no amino-acid residues")
    chains = list(dict.fromkeys(protein.chain_id.tolist()))
    if chain is None:
        chain = chains[0]
    elif chain not in chains:
        raise ChainNotFoundError(
            f"chain {chain!r} is not a protein chain of {path.name!r}; protein chains present: {', '.join(chains)}"
        )
    protein = protein[protein.chain_id == chain]

    starts = struc.get_residue_starts(protein)
    n_res = len(starts)
    coords = np.full((n_res, len(BACKBONE_ATOMS), 3), np.nan, dtype=np.float32)
    ends = np.append(starts[1:], protein.array_length())
    for r, (s, e) in enumerate(zip(starts, ends)):
        names = protein.atom_name[s:e]
        for a, atom in enumerate(BACKBONE_ATOMS):
            hit = np.flatnonzero(names == atom)
            if hit.size:
                coords[r, a] = protein.coord[s + hit[0]]
    res_names = protein.res_name[starts]
    sequence = "".join(_one_letter(r) for r in res_names)

    full_sequence = full_by_chain.get(chain) if full_by_chain else None
    full_index = None
    if full_sequence:
        if has_label_seq:
            label = protein.label_seq_id[starts]
            full_index = np.array([int(x) - 1 if str(x).lstrip("-").isdigit() else -1 for x in label])
            full_index[(full_index < 0) | (full_index >= len(full_sequence))] = -1
        else:
            # PDB SEQRES says nothing about which residue is which: align
            full_index = _align_indices(full_sequence, sequence)[1]
    else:
        full_sequence = None

    return Structure(
        sequence=sequence,
        coords=coords,
        atom_mask=~np.isnan(coords[..., 0]),
        res_ids=protein.res_id[starts].astype(int),
        ins_codes=protein.ins_code[starts].astype(str),
        res_names=res_names.astype(str),
        chain=chain,
        full_sequence=full_sequence,
        full_index=full_index,
        source=str(path),
        n_models=int(n_models),
    )


# --------------------------------------------------------------------------- alignment


def _align_indices(reference: str, query: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Semi-global alignment of two protein sequences.

    Returns
    -------
    ref_to_query : ndarray, shape=(len(reference),)
        Index into ``query`` aligned to each reference position, -1 for gaps.
    query_to_ref : ndarray, shape=(len(query),)
        Index into ``reference`` for each query position, -1 for gaps.
    identity : float
        Identical aligned pairs over the shorter sequence's length.
    """
    from biotite.sequence import ProteinSequence
    from biotite.sequence.align import SubstitutionMatrix, align_optimal

    ref_to_query = np.full(len(reference), -1, dtype=int)
    query_to_ref = np.full(len(query), -1, dtype=int)
    if reference == query:
        ref_to_query[:] = query_to_ref[:] = np.arange(len(query))
        return ref_to_query, query_to_ref, 1.0
    clean = lambda s: "".join(c if c in ProteinSequence.alphabet.get_symbols() else "X" for c in s.upper())  # noqa: E731
    a, b = ProteinSequence(clean(reference)), ProteinSequence(clean(query))
    alignment = align_optimal(
        a, b, SubstitutionMatrix.std_protein_matrix(), gap_penalty=(-10, -1), terminal_penalty=False, max_number=1
    )[0]
    trace = alignment.trace
    both = (trace[:, 0] >= 0) & (trace[:, 1] >= 0)
    ref_to_query[trace[both, 0]] = trace[both, 1]
    query_to_ref[trace[both, 1]] = trace[both, 0]
    same = sum(reference[i] == query[j] for i, j in trace[both])
    return ref_to_query, query_to_ref, same / max(1, min(len(reference), len(query)))


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
    index, _, identity = _align_indices(sequence, structure.sequence)
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
    ndarray, shape=(N, N), dtype=float
        NaN in every row and column whose index is -1.
    """
    index = np.asarray(index)
    out = np.full((len(index), len(index)), np.nan, dtype=np.float64)
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


def contact_map(
    structure: Structure,
    cutoff: float = CONTACT_CUTOFF,
    atom: str = "CB",
    *,
    impute: bool = True,
    sequence: str | None = None,
    min_identity: float = 0.9,
) -> np.ndarray:
    """Contact labels: 1.0 contact, 0.0 none, NaN unknown.

    Parameters
    ----------
    structure : Structure, length L
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
    labels : ndarray, shape=(L, L) or (N, N), dtype=float64
        Residues without the atoms needed are NaN in their row and column:
        unknown, never "no contact".
    """
    if atom not in ("CB", "CA"):
        raise ValueError(f"atom={atom!r} is not supported; use 'CB' or 'CA'")
    if not cutoff > 0:
        raise ValueError(f"cutoff={cutoff} must be a positive distance in Å")
    xyz = structure.coords.astype(np.float64)
    n, ca, c, cb = (xyz[:, i] for i in range(4))
    if atom == "CA":
        points = ca
    elif impute:
        points = impute_cb(n, ca, c)
    else:
        glycine = np.array([s == "G" for s in structure.sequence])
        points = np.where(glycine[:, None], ca, cb)
    dist = _pair_distances(points)
    labels = np.where(np.isnan(dist), np.nan, (dist < cutoff).astype(np.float64))
    if sequence is not None:
        labels = reindex_map(labels, align_to_structure(sequence, structure, min_identity=min_identity))
    return labels
