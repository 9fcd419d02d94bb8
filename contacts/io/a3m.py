"""Multiple sequence alignments: A3M or aligned FASTA in, A3M out (query first)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from .files import atomic_write
from .text import FileFormatError, iter_lines

__all__ = ["AlignmentError", "read_alignment", "write_alignment"]


#: Anything else in a row is refused: residue letters (lowercase: insertions), gaps '-', '.', and '*'.
_NOT_ROW = re.compile(r"[^A-Za-z.*-]")


class AlignmentError(FileFormatError):
    """An alignment file cannot be read as rows of equal length."""


def read_alignment(path: str | os.PathLike, max_sequences: int | None = None) -> list[tuple[str, str]]:
    """Read an A3M or aligned FASTA file, query first.

    Lowercase letters (A3M insertions relative to the query) and ``.`` are
    removed; gaps ``-`` are kept, so every row has the query's length.

    Parameters
    ----------
    path : str or PathLike
    max_sequences : int, optional
        Read only the first this many records.

    Returns
    -------
    list of (name, aligned sequence)

    Raises
    ------
    AlignmentError
        No record; a row whose length differs from the query's; a row holding anything
        but letters, ``-``, ``.`` and ``*`` (digits, punctuation, spaces inside it),
        naming the line and column; a row before the first ``>`` header; not UTF-8 text
        (:mod:`contacts.io.text`).
    """
    path = Path(path)
    records: list[tuple[str, list[str]]] = []
    blank = True
    for number, line in enumerate(iter_lines(path, error=AlignmentError), 1):
        blank = blank and not line.strip()
        if line.startswith(">"):
            if max_sequences is not None and len(records) == max_sequences:
                break
            records.append((line[1:].strip(), []))
        elif line.strip() and not line.startswith("#"):
            if not records:
                raise AlignmentError(f"{path} line {number}: alignment row before the first '>' header",
                                     path=path, line=number)
            row = line.strip()
            bad = _NOT_ROW.search(row)
            if bad:
                raise AlignmentError(
                    f"{path} line {number}: character {bad.group()!r} at column {bad.start() + 1} of record "
                    f"{len(records)} ({records[-1][0][:40]!r}); a row holds residue letters, '-', '.' and '*' only",
                    path=path, line=number)
            records[-1][1].append(row)
    deletions = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz.*")
    out = [(name, "".join(parts).translate(deletions)) for name, parts in records]
    if not out:
        empty = " (the file is empty)" if blank else ""
        raise AlignmentError(f"{path} holds no sequence records ('>' lines){empty}", path=path)
    _check_widths(out, f"{path}: ")
    return out


def _check_widths(records: list[tuple[str, str]], where: str = "") -> None:
    """Every row has the query's number of aligned columns."""
    width = len(records[0][1])
    for number, (name, seq) in enumerate(records):
        if len(seq) != width:
            raise AlignmentError(
                f"{where}record {number + 1} ({name[:40]!r}) has {len(seq)} aligned columns; the query has {width}"
            )


def write_alignment(path: str | os.PathLike, records: Iterable[tuple[str, str]]) -> Path:
    """Write ``(name, aligned sequence)`` records, query first, as A3M without insertions, atomically.

    Every row must have the query's number of columns; :func:`read_alignment`
    reads the file back to the same records.

    Raises
    ------
    AlignmentError
        No record, a row of another width, or a name holding a line break.
    """
    records = list(records)
    if not records:
        raise AlignmentError(f"no records to write to {path}")
    _check_widths(records)
    for number, (name, seq) in enumerate(records):
        if "\n" in name or "\r" in name or name != name.strip():
            raise AlignmentError(f"record {number + 1}: its name {name[:40]!r} holds a line break or outer spaces")
        if seq != seq.upper() or "." in seq or "*" in seq:
            raise AlignmentError(
                f"record {number + 1} ({name[:40]!r}) holds insertions (lowercase, '.' or '*'); "
                "write aligned columns only"
            )
        if any(c.isspace() for c in seq) or seq.startswith((">", "#")):
            raise AlignmentError(
                f"record {number + 1} ({name[:40]!r}): its row {seq[:40]!r} holds whitespace or starts with '>' or '#'"
            )
    path = Path(path)
    with atomic_write(path, "w") as out:
        for name, seq in records:
            out.write(f">{name}\n{seq}\n")
    return path
