"""Structure manifests: which file, which chain, which split (tab-separated ``file chain split``).

A folder of structures may carry a ``MANIFEST.tsv``; the package ships one for
the structures it is tested and benchmarked on (``contacts/data/structures.tsv``,
found in a wheel install as in a checkout: a copy of the repository's
``data/structures.tsv``, described in ``data/README.md``). Structure files are named
by their stem: ``1tim.pdb.gz`` -> ``1tim``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from .files import atomic_write
from .text import FileFormatError, read_table

__all__ = [
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "PACKAGE_MANIFEST",
    "STRUCTURE_SUFFIXES",
    "ManifestError",
    "folder_manifest",
    "is_structure_file",
    "read_manifest",
    "structure_files",
    "structure_name",
    "write_manifest",
]

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".bcif")
MANIFEST_COLUMNS = ("file", "chain", "split")
#: The manifest a folder of structures carries.
MANIFEST_NAME = "MANIFEST.tsv"
#: The package's manifest of the real structures it is tested and benchmarked on (package data).
PACKAGE_MANIFEST = Path(str(resources.files("contacts") / "data" / "structures.tsv"))


class ManifestError(FileFormatError):
    """A manifest without the columns or rows it needs."""


def structure_name(path: str | os.PathLike) -> str:
    """``1tim.pdb.gz`` -> ``1tim``; ``d1asha_.pdb`` -> ``d1asha_``."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem, dot, ext = name.rpartition(".")
    return stem if dot and "." + ext.lower() in STRUCTURE_SUFFIXES else name


def is_structure_file(path: str | os.PathLike) -> bool:
    """Whether the name ends in a structure extension (PDB, mmCIF, BinaryCIF), optionally ``.gz``."""
    name = Path(path).name.lower().removesuffix(".gz")
    return name.endswith(STRUCTURE_SUFFIXES)


def structure_files(folder: str | os.PathLike) -> list[Path]:
    """The structure files of a folder, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_structure_file(p))


def folder_manifest(folder: str | os.PathLike) -> Path | None:
    """The folder's ``MANIFEST.tsv``, or None where it has none."""
    path = Path(folder) / MANIFEST_NAME
    return path if path.is_file() else None


def read_manifest(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Rows of a tab-separated manifest with at least ``file``, ``chain``, ``split``, keyed by file name.

    Rows keep the file's order; extra columns are kept. The file is UTF-8 text (the
    byte-order mark Excel writes is accepted; :mod:`contacts.io.text`).

    Raises
    ------
    ManifestError
        No rows; a required column missing; a row with more or fewer fields than the
        header; a row without a file name; a file listed twice; not UTF-8 text. Each
        message names the manifest and the line.
    """
    path = Path(path)
    _, rows = read_table(path, delimiter="\t", required=MANIFEST_COLUMNS, what="manifest", error=ManifestError)
    if not rows:
        raise ManifestError(f"manifest {path} has a header but no rows", path=path)
    out: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for number, row in rows:
        name = row["file"].strip()
        if not name:
            raise ManifestError(f"{path} line {number}: the manifest row names no file", path=path, line=number)
        if name in lines:
            raise ManifestError(f"{path} line {number}: file {name!r} is listed a second time (first on line "
                                f"{lines[name]}); a manifest lists each file once", path=path, line=number)
        lines[name] = number
        out[name] = {**row, "file": name}
    return out


def write_manifest(path: str | os.PathLike, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write rows (each with ``file``, ``chain``, ``split``) as a manifest, atomically.

    Columns are ``file chain split`` followed by any others the first row has;
    :func:`read_manifest` reads the file back to the same rows.
    """
    rows = [dict(r) for r in rows]
    if not rows:
        raise ManifestError(f"no rows to write to {path}")
    missing = [c for c in MANIFEST_COLUMNS if c not in rows[0]]
    if missing:
        raise ManifestError(f"manifest rows need columns {', '.join(MANIFEST_COLUMNS)}; missing {missing}")
    columns = [*MANIFEST_COLUMNS, *(c for c in rows[0] if c not in MANIFEST_COLUMNS)]
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        missing, extra = [c for c in columns if c not in row], [c for c in row if c not in columns]
        if missing or extra:
            problems = ([f"missing {missing}"] if missing else []) + ([f"{extra} not in the first row"] if extra else [])
            raise ManifestError(
                f"manifest row {number} ({row.get('file')!r}): columns {'; '.join(problems)}; "
                f"every row needs exactly {', '.join(columns)}"
            )
        if str(row["file"]) in seen:
            raise ManifestError(f"manifest file {row['file']!r} is listed twice (rows are keyed by file)")
        seen.add(str(row["file"]))
        for value in row.values():
            if any(ch in str(value) for ch in "\t\n\r"):
                raise ManifestError(f"manifest value {value!r} holds a tab or a line break")
    path = Path(path)
    with atomic_write(path, "w") as out:
        writer = csv.DictWriter(out, fieldnames=columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
