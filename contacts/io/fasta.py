"""FASTA: records in and out (plain or gzipped in; plain out, atomically)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_write
from .text import FileFormatError, iter_lines

#: Residues per sequence line when writing (what UniProt and most tools write).
LINE_WIDTH = 60


class FastaFormatError(FileFormatError):
    """A FASTA file that cannot be read as records."""


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``id`` is the header's first word, ``sequence`` as written (joined lines)."""

    id: str
    description: str
    sequence: str


def read_fasta(path: str | os.PathLike) -> list[FastaRecord]:
    """Read a FASTA file, plain or gzipped (detected from the content, not the name).

    Sequence lines are joined without whitespace; validation of residues is the
    model's job (:func:`contacts.encoder.sequences.check_sequences`), so that errors can
    name the record and position.

    Raises
    ------
    FastaFormatError
        No record, or a sequence line before the first header; not UTF-8 text (a BOM
        is accepted); a truncated or corrupt gzip file (:mod:`contacts.io.text`).
    """
    path = Path(path)
    records: list[FastaRecord] = []
    header, lines, blank = None, [], True
    for number, line in enumerate(iter_lines(path, error=FastaFormatError), 1):
        blank = blank and not line.strip()
        if line.startswith(">"):
            if header is not None:
                records.append(_record(header, lines))
            header, lines = line[1:].strip(), []
        elif line.strip() and not line.startswith(";"):
            if header is None:
                raise FastaFormatError(f"{path} line {number}: sequence before the first '>' header", path=path,
                                       line=number)
            lines.append("".join(line.split()))
    if header is not None:
        records.append(_record(header, lines))
    if not records:
        empty = " (the file is empty)" if blank else ""
        raise FastaFormatError(f"{path} holds no FASTA records ('>' header lines){empty}", path=path)
    return records


def _record(header: str, lines: list[str]) -> FastaRecord:
    ident = header.split(maxsplit=1)[0] if header else ""
    return FastaRecord(ident, header, "".join(lines))


def write_fasta(path: str | os.PathLike, records: Iterable[FastaRecord], *, line_width: int = LINE_WIDTH) -> Path:
    """Write records as FASTA, atomically; :func:`read_fasta` reads them back unchanged.

    The header is the record's ``description`` (its ``id`` where the description
    is empty); sequences are wrapped at ``line_width`` residues (0: one line).
    """
    if line_width < 0:
        raise ValueError(f"line_width must be >= 0, got {line_width}")
    path = Path(path)
    with atomic_write(path, "w") as out:
        for record in records:
            header = record.description or record.id
            if not header or header.split(maxsplit=1)[0] != record.id or header != header.strip():
                raise FastaFormatError(
                    f"record {record.id!r}: its description {record.description!r} must start with its id"
                )
            if "\n" in header or "\r" in header:
                raise FastaFormatError(f"record {record.id!r}: its description {header!r} holds a line break")
            seq = record.sequence
            bad = sorted({c for c in seq if c.isspace() or c in ">;"})
            if bad:
                # the reader drops whitespace; '>' and ';' at a line start read as a header or a comment
                raise FastaFormatError(f"record {record.id!r}: its sequence holds {''.join(bad)!r}, which FASTA cannot carry")
            out.write(f">{header}\n")
            step = line_width or max(len(seq), 1)
            for i in range(0, len(seq), step):
                out.write(seq[i:i + step] + "\n")
    return path
