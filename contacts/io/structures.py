"""PDB / mmCIF / BinaryCIF files <-> residues and backbone coordinates.

A :class:`Structure` holds one protein chain of model 1: the one-letter
sequence of its observed residues, the coordinates of N, CA, C and CB for each
(NaN where an atom is missing), and, where the file deposits it, the full
sequence (SEQRES / ``entity_poly``) with the position of every observed residue
in it. :func:`~contacts.analysis.labels.contact_map` turns it into labels.
:func:`structure_pdb` and :func:`write_structure` write a chain back out as PDB.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import biotite.structure as struc
import numpy as np
from biotite.database import RequestError, rcsb
from biotite.sequence import ProteinSequence
from biotite.sequence.align import SubstitutionMatrix, align_optimal
from biotite.structure.info import one_letter_code
from biotite.structure.io import pdbx
from biotite.structure.io.pdb import PDBFile

from ..constants import BACKBONE_ATOMS, MAX_RESIDUES
from .files import atomic_write
from .text import FileFormatError, read_bytes, read_text

__all__ = [
    "BACKBONE_ATOMS",
    "ChainNotFoundError",
    "Structure",
    "StructureError",
    "StructureWarning",
    "align_sequences",
    "as_structure",
    "cut_residues",
    "is_pdb_id",
    "load_structure",
    "pdb_cache_dir",
    "read_atoms",
    "structure_pdb",
    "write_structure",
]


class StructureError(FileFormatError):
    """A structure file could not be turned into residues and coordinates."""


class StructureWarning(UserWarning):
    """A structure read under a documented assumption (CA atoms only, residues missing without a full sequence,
    atoms with unknown coordinates): said once per file."""


class ChainNotFoundError(StructureError, KeyError):
    """The requested chain is not a protein chain of the file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


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
        The file it was read from ('' for an AtomArray given in memory).
    n_models : int
        Models in the file or stack (model 1 is read).
    atoms : AtomArray or None
        The chain's amino-acid atoms when the structure came from an AtomArray
        (no file to read them again from); None for files.
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
    atoms: struc.AtomArray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.sequence)

    def __repr__(self) -> str:
        full = "" if self.full_sequence is None else f", full={len(self.full_sequence)}"
        return f"Structure({Path(self.source).name!r}, chain={self.chain!r}, L={len(self)}{full})"


# --------------------------------------------------------------------------- reading


#: Fields of ``_atom_site`` every atom needs (a pair: the author's field, else the label's).
_ATOM_SITE_FIELDS = ("group_PDB", "type_symbol", "Cartn_x", "Cartn_y", "Cartn_z", "pdbx_PDB_ins_code",
                     "pdbx_PDB_model_num", ("auth_atom_id", "label_atom_id"), ("auth_comp_id", "label_comp_id"),
                     ("auth_asym_id", "label_asym_id"), ("auth_seq_id", "label_seq_id"))
_COORDINATES = ("Cartn_x", "Cartn_y", "Cartn_z")
_FORMAT_NAMES = {"pdb": "PDB", "cif": "mmCIF", "bcif": "BinaryCIF"}
_CIF_BLOCK = re.compile(r"^data_", re.MULTILINE)
_PDB_ATOM = re.compile(r"^(ATOM  |HETATM)", re.MULTILINE)


def _read_file(path: Path, fmt: str, *, warn: bool = True):
    """``(atoms of model 1, n_models, full sequences by chain, has_label_seq)``, the file checked at the door.

    Refused (:class:`StructureError`, naming the file and the line or field): not UTF-8 text
    (PDB, mmCIF) or truncated gzip; content of another format than the extension says; no
    atoms; a required ``_atom_site`` field missing; a coordinate that is not a finite number;
    an atom given twice in model 1 (an ATOM block repeated); anything the parser cannot read.
    mmCIF's ``?`` coordinates are unknown: those atoms are read as missing, with one
    :class:`StructureWarning` (``warn``).
    """
    name = _FORMAT_NAMES[fmt]
    if fmt == "bcif":
        data = read_bytes(path, error=StructureError)
        if data.lstrip()[:5] == b"data_":
            raise StructureError(f"{path}: not a BinaryCIF file: it holds mmCIF text (name it .cif)", path=path)
        parsed = _guard(path, name, lambda: _read_pdbx(path, pdbx.BinaryCIFFile.read(io.BytesIO(data))))
    else:
        text = read_text(path, error=StructureError)
        if fmt == "pdb":
            _check_pdb_text(path, text)
            try:
                parsed = _guard(path, name, lambda: _read_pdb(text))
            except StructureError:
                _check_pdb_text(path, text, coordinates=True)  # the line, where the parser only says what
                raise
            if not np.isfinite(parsed[0].coord).all():
                _check_pdb_text(path, text, coordinates=True)
        else:
            if not _CIF_BLOCK.search(text):
                hint = " (it reads as PDB text: name it .pdb)" if _PDB_ATOM.search(text) else \
                    " (the file is empty)" if not text.strip() else ""
                raise StructureError(f"{path}: not an mmCIF file: no 'data_' block{hint}", path=path)
            if "_atom_site." not in text:  # said before the parser, which may fail first on a block cut short
                raise StructureError(f"{path}: no _atom_site category (the atoms): a truncated file, or no "
                                     "coordinates", path=path)
            parsed = _guard(path, name, lambda: _read_pdbx(path, pdbx.CIFFile.read(io.StringIO(text))))
    atoms = parsed[0]
    unknown = int(np.count_nonzero(~np.isfinite(atoms.coord).all(axis=1)))
    if unknown and warn:
        warnings.warn(f"{path}: {unknown} atom(s) of model 1 have unknown coordinates ('?'): read as missing atoms",
                      StructureWarning, stacklevel=3)
    return parsed


def _guard(path: Path, name: str, parse):
    """``parse()``, any failure of the parser on a broken file said as the package's one-line error."""
    try:
        return parse()
    except (StructureError, MemoryError):
        raise
    except Exception as exc:  # a hostile file breaks a parser in any way: each is the same refusal
        detail = (str(exc).strip().splitlines() or [""])[0][:160]
        raise StructureError(f"{path}: cannot be read as {name} ({type(exc).__name__}: {detail})", path=path) from None


def _check_pdb_text(path: Path, text: str, *, coordinates: bool = False) -> None:
    """PDB text: ATOM/HETATM records long enough to hold coordinates (columns 31-54); with ``coordinates``,
    also that they are three finite numbers (the line found only when the parser has refused or read a non-finite
    value, so that a good file costs nothing more)."""
    if _CIF_BLOCK.search(text) and "_atom_site." in text:
        raise StructureError(f"{path}: not PDB text: it reads as mmCIF (name it .cif)", path=path)
    lines = text.split("\n")
    numbers = [n for n, line in enumerate(lines) if line.startswith(("ATOM  ", "HETATM"))]
    if not numbers:
        hint = " (the file is empty)" if not text.strip() else ""
        raise StructureError(f"{path}: no ATOM or HETATM records{hint}", path=path)
    if min(len(lines[n].rstrip()) for n in numbers) >= 54 and not coordinates:
        return
    for number in numbers:
        line, where = lines[number], f"{path} line {number + 1}"
        if len(line.rstrip()) < 54:
            raise StructureError(f"{where}: {line[:6].strip()} record of {len(line.rstrip())} characters; its "
                                 "coordinates take columns 31-54 (a truncated file?)", path=path, line=number + 1)
        try:
            values = [float(line[a:a + 8]) for a in (30, 38, 46)]
        except ValueError:
            raise StructureError(f"{where}: coordinates {line[30:54]!r} (columns 31-54) are not three numbers",
                                 path=path, line=number + 1) from None
        if not all(np.isfinite(values)):
            raise StructureError(f"{where}: coordinates {line[30:54].split()} are not finite numbers; leave a missing "
                                 "atom out", path=path, line=number + 1)


def _check_atom_site(path: Path, block) -> None:
    """The ``_atom_site`` fields every atom needs; coordinates finite or ``?`` (set to NaN here: unknown, never 0)."""
    if "atom_site" not in block:
        raise StructureError(f"{path}: no _atom_site category (the atoms): a truncated file, or no coordinates",
                             path=path)
    site = block["atom_site"]
    missing = [f if isinstance(f, str) else f[0] for f in _ATOM_SITE_FIELDS
               if not any(k in site for k in ((f,) if isinstance(f, str) else f))]
    if missing:
        raise StructureError(f"{path}: _atom_site lacks the field(s) {', '.join(missing)}; every atom needs "
                             f"{', '.join(f if isinstance(f, str) else f[0] for f in _ATOM_SITE_FIELDS)}", path=path)
    for name in _COORDINATES:
        column = site[name]
        values = column.as_array(np.float64)
        mask = column.mask
        unknown = np.zeros(len(values), bool) if mask is None else mask.array != pdbx.MaskValue.PRESENT
        bad = np.flatnonzero(~np.isfinite(values) & ~unknown)
        if bad.size:
            ids = site["id"].as_array(str) if "id" in site else None
            which = f"atom {ids[bad[0]]}" if ids is not None else f"row {bad[0] + 1}"
            raise StructureError(f"{path}: _atom_site.{name} of {which} is {values[bad[0]]}; coordinates are finite "
                                 "numbers ('?' marks an unknown one)", path=path)
        if unknown.any():
            values = np.where(unknown, np.nan, values)
            site[name] = (pdbx.BinaryCIFColumn(pdbx.BinaryCIFData(values)) if isinstance(column, pdbx.BinaryCIFColumn)
                           else pdbx.CIFColumn(pdbx.CIFData(values)))


def _check_atoms(name: str, protein, starts: np.ndarray) -> None:
    """No residue twice in a chain's amino acids (an ATOM block repeated), no atom twice in a residue."""
    residues = list(zip(protein.chain_id[starts].tolist(), protein.res_id[starts].tolist(),
                        protein.ins_code[starts].tolist()))
    where = None
    if len(set(residues)) != len(residues):
        seen = set()
        for index, key in enumerate(residues):
            if key in seen:
                where = (starts[index], "appears twice in model 1 (an ATOM block repeated, or models without MODEL "
                                        "records?)")
                break
            seen.add(key)
    else:
        residue = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, protein.array_length())))
        _, names = np.unique(protein.atom_name, return_inverse=True)
        key = residue * (names.max() + 1) + names
        order = np.argsort(key, kind="stable")
        twice = np.flatnonzero(key[order][1:] == key[order][:-1])
        if twice.size:
            where = (order[twice[0] + 1], "appears twice in its residue in model 1")
    if where is not None:
        at, rule = where
        raise StructureError(f"{name}: atom {protein.atom_name[at]} of residue {protein.res_name[at]} "
                             f"{protein.res_id[at]}{protein.ins_code[at]} of chain {protein.chain_id[at]} {rule}")


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


def _read_pdb(text: str):
    pdb_file = PDBFile.read(io.StringIO(text))
    n_models = pdb_file.get_model_count()
    atoms = pdb_file.get_structure(model=1, altloc="occupancy", extra_fields=["occupancy"])
    seqres = {chain: "".join(_one_letter(r) for r in names) for chain, names in _pdb_seqres(text).items()}
    return atoms, n_models, seqres, None


def _read_pdbx(path: Path, pdbx_file):
    block = pdbx_file.block
    _check_atom_site(path, block)
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


_PDB_ID = re.compile(r"^[0-9][A-Za-z0-9]{3}$")
#: The package cache (as :func:`contacts.encoder.hub.cache_dir`); fetched PDB entries go to its ``pdb`` folder.
_CACHE_ENV = "CONTACTS_CACHE"


def is_pdb_id(source: object) -> bool:
    """True for a 4-character PDB id (``'1ABC'``) that is not a file here (a local path wins)."""
    return isinstance(source, str) and bool(_PDB_ID.match(source)) and not Path(source).exists()


def pdb_cache_dir() -> Path:
    """Where fetched PDB entries are kept: ``$CONTACTS_CACHE/pdb``, else ``~/.cache/contacts/pdb``."""
    if os.environ.get(_CACHE_ENV):
        return Path(os.environ[_CACHE_ENV]) / "pdb"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "contacts" / "pdb"


def _fetch_pdb(pdb_id: str) -> Path:
    """The BinaryCIF file of a PDB entry in :func:`pdb_cache_dir`, fetched from RCSB when absent."""
    folder = pdb_cache_dir()
    cached = folder / f"{pdb_id.lower()}.bcif"
    if cached.is_file():
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fetched = Path(rcsb.fetch(pdb_id.lower(), "bcif", str(folder)))
    except (OSError, RequestError) as error:
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise StructureError(
            f"PDB entry {pdb_id!r} is not in the cache {folder} and could not be fetched from RCSB ({reason}); "
            f"without network access, put {cached.name} there"
        ) from None
    return fetched


def load_structure(
    source: str | os.PathLike | struc.AtomArray | struc.AtomArrayStack, chain: str | None = None
) -> Structure:
    """Read one protein chain of model 1 from a file, a biotite AtomArray, or a PDB id.

    Parameters
    ----------
    source : str, PathLike, AtomArray or AtomArrayStack
        A file: ``.pdb``/``.ent``, ``.cif``/``.mmcif`` or ``.bcif``, each
        optionally gzipped (``.gz``). A biotite ``AtomArray`` (an
        ``AtomArrayStack``: its first model), as ``biotite.structure.io.load_structure``
        returns. A 4-character PDB id (``'1ABC'``) that is no local file: fetched
        from RCSB as BinaryCIF into :func:`pdb_cache_dir` once, read from there after.
    chain : str, optional
        Author chain id. Default: the first chain that holds amino acids.

    Returns
    -------
    Structure
        Alternate locations resolved to the highest occupancy; insertion codes
        kept as separate residues; modified residues mapped to their parent
        amino acid (``MSE`` -> ``M``, others from biotite's chemical component
        data, ``X`` when it has none). An AtomArray carries no deposited
        sequence, so ``full_sequence`` is None for it.

    Raises
    ------
    StructureError
        Unknown extension, no amino acids, or a PDB id neither cached nor
        fetchable (one line naming the id and the cache folder).
    ChainNotFoundError
        ``chain`` is not a protein chain of the file; the message lists those present.

    Examples
    --------
    >>> s = load_structure("1crr.bcif")            # doctest: +SKIP
    >>> s.sequence[:5], s.coords.shape             # doctest: +SKIP
    >>> s = load_structure(biotite_atom_array)     # doctest: +SKIP
    """
    if isinstance(source, (struc.AtomArray, struc.AtomArrayStack)):
        n_models = source.stack_depth() if isinstance(source, struc.AtomArrayStack) else 1
        atoms = source[0] if isinstance(source, struc.AtomArrayStack) else source
        has_label_seq = "label_seq_id" in atoms.get_annotation_categories()
        return _from_atoms(atoms, chain, n_models, {}, has_label_seq, source="", name="the AtomArray",
                           keep_atoms=True)
    if is_pdb_id(source):
        source = _fetch_pdb(source)
    path = Path(source)
    fmt = _file_format(path)
    atoms, n_models, full_by_chain, has_label_seq = _read_file(path, fmt)
    return _from_atoms(atoms, chain, n_models, full_by_chain, has_label_seq, source=str(path), name=str(path))


def as_structure(
    structure: Structure | str | os.PathLike | struc.AtomArray | struc.AtomArrayStack, chain: str | None = None
) -> Structure:
    """A :class:`Structure` as it is, anything else through :func:`load_structure`.

    What functions that take a structure (``contact_map``, the viewers) call
    first, so that they also accept a path, a PDB id or a biotite AtomArray.
    """
    if isinstance(structure, Structure):
        if chain is not None and chain != structure.chain:
            raise ChainNotFoundError(f"chain={chain!r} was asked of {structure!r}, which holds chain {structure.chain!r}")
        return structure
    return load_structure(structure, chain)


def _from_atoms(atoms, chain, n_models, full_by_chain, has_label_seq, *, source, name, keep_atoms=False) -> Structure:
    """One chain of model 1's atoms -> Structure; ``name`` is how messages call the input."""
    keep = struc.filter_amino_acids(atoms)
    # free amino acids (ligands, buffer) are HETATM with a standard name, or outside the polymer in mmCIF
    keep &= ~(atoms.hetero & struc.filter_canonical_amino_acids(atoms))
    if has_label_seq:
        keep &= np.array([str(x).lstrip("-").isdigit() for x in atoms.label_seq_id])
    protein = atoms[keep]
    if protein.array_length() == 0:
        raise StructureError(f"{name} holds no amino-acid residues")
    chains = list(dict.fromkeys(protein.chain_id.tolist()))
    if chain is None:
        chain = chains[0]
    elif chain not in chains:
        raise ChainNotFoundError(
            f"chain {chain!r} is not a protein chain of {name}; protein chains present: {', '.join(chains)}"
        )
    protein = protein[protein.chain_id == chain]

    starts = struc.get_residue_starts(protein)
    _check_atoms(name, protein, starts)
    n_res = len(starts)
    if n_res > MAX_RESIDUES:
        raise StructureError(f"chain {chain} of {name} has {n_res:,} residues, past the limit of {MAX_RESIDUES:,} a "
                             "record may have (contacts.constants.MAX_RESIDUES)")
    coords = np.full((n_res, len(BACKBONE_ATOMS), 3), np.nan, dtype=np.float32)
    ends = np.append(starts[1:], protein.array_length())
    for r, (s, e) in enumerate(zip(starts, ends)):
        names = protein.atom_name[s:e]
        for a, atom in enumerate(BACKBONE_ATOMS):
            hit = np.flatnonzero(names == atom)
            if hit.size:
                coords[r, a] = protein.coord[s + hit[0]]
    coords[~np.isfinite(coords).all(axis=-1)] = np.nan  # an unknown ('?') coordinate: the atom is missing
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
            full_index = align_sequences(full_sequence, sequence)[1]
    else:
        full_sequence = None
    _say_assumptions(coords, protein.res_id[starts], protein.ins_code[starts], full_sequence, chain, name)

    return Structure(
        sequence=sequence,
        coords=coords,
        atom_mask=np.isfinite(coords[..., 0]),
        res_ids=protein.res_id[starts].astype(int),
        ins_codes=protein.ins_code[starts].astype(str),
        res_names=res_names.astype(str),
        chain=chain,
        full_sequence=full_sequence,
        full_index=full_index,
        source=source,
        n_models=int(n_models),
        atoms=protein if keep_atoms else None,
    )


def _say_assumptions(coords: np.ndarray, res_ids: np.ndarray, ins_codes: np.ndarray, full_sequence: str | None,
                     chain: str, name: str) -> None:
    """One :class:`StructureWarning` for each documented tolerance a chain needs: CA atoms only (contacts measured
    between CA atoms), residues missing where the file gives no full sequence (the observed ones read back to back)."""
    present = np.isfinite(coords[..., 0])
    if present[:, 1].any() and not (present[:, 0] | present[:, 2]).any():
        warnings.warn(f"{name} chain {chain} holds CA atoms only (no N or C to place CB from): contacts are measured "
                      "between CA atoms", StructureWarning, stacklevel=4)
    if full_sequence is None and len(res_ids) > 1:
        steps = np.diff(res_ids.astype(int))
        jumps = np.flatnonzero(steps > 1)
        if jumps.size:
            first = jumps[0]
            where = f"{res_ids[first]}{ins_codes[first]} -> {res_ids[first + 1]}{ins_codes[first + 1]}"
            more = f" and {jumps.size - 1} more gap(s)" if jumps.size > 1 else ""
            warnings.warn(f"{name} chain {chain}: residues are missing (numbering jumps {where}{more}) and the file "
                          "gives no full sequence (SEQRES or entity_poly): the observed residues are read back to back",
                          StructureWarning, stacklevel=4)


def cut_residues(structure: Structure, first: str | int, last: str | int) -> Structure:
    """The residues from ``first`` to ``last`` (author numbering, inclusive) of a chain, as a Structure.

    ``first`` and ``last`` are author residue numbers with an optional insertion code
    (``"82A"``); every observed residue between them in chain order is kept. The
    deposited sequence, where there is one, is cut at the same two residues (residues
    without coordinates between them stay, as in the whole chain).

    Raises
    ------
    StructureError
        ``first`` or ``last`` is not an observed residue, or comes after ``last``.
    """
    labels = [f"{r}{c}".strip() for r, c in zip(structure.res_ids, structure.ins_codes)]

    def find(label) -> int:
        label = str(label).strip()
        if label not in labels:
            raise StructureError(f"residue {label} is not an observed residue of chain {structure.chain} of "
                                 f"{Path(structure.source).name or 'the structure'} "
                                 f"(observed: {labels[0]}..{labels[-1]})")
        return labels.index(label)

    lo, hi = find(first), find(last)
    if hi < lo:
        raise StructureError(f"residue range {first}-{last} of chain {structure.chain} runs backwards")
    keep = slice(lo, hi + 1)
    full, index = structure.full_sequence, structure.full_index
    if full is not None and index is not None:
        a, b = index[lo], index[hi]
        if a >= 0 and b >= a:
            full, index = full[a : b + 1], np.where(index[keep] >= 0, index[keep] - a, -1)
        else:
            full, index = None, None
    else:
        full, index = None, None
    return Structure(
        sequence=structure.sequence[keep], coords=structure.coords[keep], atom_mask=structure.atom_mask[keep],
        res_ids=structure.res_ids[keep], ins_codes=structure.ins_codes[keep], res_names=structure.res_names[keep],
        chain=structure.chain, full_sequence=full, full_index=index, source=structure.source,
        n_models=structure.n_models, atoms=None,
    )


def read_atoms(path: str | os.PathLike) -> struc.AtomArray:
    """Every atom of model 1 of a structure file: all chains, ligands and water included.

    :class:`Structure` keeps four atoms per residue; analyses that need side
    chains or ligands (binding sites, DSSP) read the file again with this.

    Parameters
    ----------
    path : str or PathLike
        As for :func:`load_structure`.

    Returns
    -------
    AtomArray
        Alternate locations resolved to the highest occupancy; author chain ids and
        residue numbers (as :func:`load_structure`). From mmCIF/BinaryCIF, the
        annotation ``label_seq_id`` ('.' or '' outside polymers) is kept where the file has it.
    """
    path = Path(path)
    fmt = _file_format(path)
    return _read_file(path, fmt, warn=False)[0]


# --------------------------------------------------------------------------- alignment


def align_sequences(reference: str, query: str) -> tuple[np.ndarray, np.ndarray, float]:
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


# --------------------------------------------------------------------------- writing


def _backbone_pdb(structure: Structure, chain: str) -> str:
    """PDB text of the atoms a Structure keeps (N, CA, C, CB), for structures without a file."""
    lines = []
    serial = 1
    for r in range(len(structure)):
        for a, atom in enumerate(BACKBONE_ATOMS):
            x, y, z = structure.coords[r, a]
            if np.isnan(x):
                continue
            lines.append(
                f"ATOM  {serial:5d}  {atom:<3s} {structure.res_names[r]:>3s} {chain}"
                f"{int(structure.res_ids[r]):4d}{(structure.ins_codes[r] or ' ')[:1]}   "
                f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           {atom[0]}"
            )
            serial += 1
    return "\n".join(lines + ["END", ""])


def structure_pdb(structure: Structure, chain: str | None = None) -> str:
    """PDB text of a structure's chain, model 1, all atoms of its amino-acid residues.

    :class:`Structure` keeps only N, CA, C and CB, so the
    atoms are read again from ``structure.source`` (PDB, mmCIF or BinaryCIF,
    gzipped or not), keeping exactly the residues the Structure holds. Without a
    readable source, the backbone the Structure keeps is written instead (the
    cartoon then follows CA).

    Parameters
    ----------
    structure : Structure
    chain : str, optional
        Chain id written into the text; default the structure's (PDB allows one
        character: longer ids become ``'A'``).

    Returns
    -------
    str
    """
    chain = chain or (structure.chain if len(structure.chain) == 1 else "A")
    source = Path(structure.source) if structure.source else None
    if structure.atoms is not None:  # from an AtomArray: its atoms are kept, exactly the residues held
        atoms = structure.atoms.copy()
    elif source is None or not source.is_file():
        return _backbone_pdb(structure, chain)
    else:
        atoms = _read_file(source, _file_format(source), warn=False)[0]
        # the residues load_structure keeps: amino acids of the chain, free ones (HETATM) left out
        keep = (atoms.chain_id == structure.chain) & struc.filter_amino_acids(atoms)
        keep &= ~(atoms.hetero & struc.filter_canonical_amino_acids(atoms))
        wanted = set(zip(structure.res_ids.tolist(), structure.ins_codes.tolist()))
        keep &= np.array([(int(r), str(c)) in wanted for r, c in zip(atoms.res_id, atoms.ins_code)], dtype=bool)
        atoms = atoms[keep]
    atoms.chain_id[:] = chain
    out = PDBFile()
    # only the standard annotations: extra fields (occupancy, label_seq_id) are not PDB columns here
    for extra in ("occupancy", "label_seq_id"):
        if extra in atoms.get_annotation_categories():
            atoms.del_annotation(extra)
    out.set_structure(atoms)
    buffer = io.StringIO()
    out.write(buffer)
    return buffer.getvalue()


def write_structure(path: str | os.PathLike, structure: Structure, chain: str | None = None) -> Path:
    """Write :func:`structure_pdb` to ``path``, atomically; :func:`load_structure` reads it back.

    The residues, their numbers, insertion codes and backbone coordinates survive
    the round trip; the deposited full sequence does not (PDB text without SEQRES).
    """
    path = Path(path)
    if path.suffix.lower() not in (".pdb", ".ent"):
        raise StructureError(f"write_structure writes PDB text; name the file .pdb or .ent, not {path.name!r}")
    text = structure_pdb(structure, chain)
    with atomic_write(path, "w") as out:
        out.write(text)
    return path
