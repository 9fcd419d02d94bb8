"""Files in and out: FASTA records, safe file names, atomic writes."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class FastaFormatError(ValueError):
    """A FASTA file that cannot be read as records."""


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``id`` is the header's first word, ``sequence`` as written (joined lines)."""

    id: str
    description: str
    sequence: str


def _open_text(path: Path):
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)


def read_fasta(path: str | os.PathLike) -> list[FastaRecord]:
    """Read a FASTA file, plain or gzipped (detected from the content, not the name).

    Sequence lines are joined without whitespace; validation of residues is the
    model's job, so that errors can name the record and position.
    """
    path = Path(path)
    records: list[FastaRecord] = []
    header, lines = None, []
    with _open_text(path) as fh:
        for number, line in enumerate(fh, 1):
            line = line.rstrip("\n\r")
            if line.startswith(">"):
                if header is not None:
                    records.append(_record(header, lines))
                header, lines = line[1:].strip(), []
            elif line.strip() and not line.startswith(";"):
                if header is None:
                    raise FastaFormatError(f"{path}:{number}: sequence before the first '>' header")
                lines.append("".join(line.split()))
    if header is not None:
        records.append(_record(header, lines))
    if not records:
        raise FastaFormatError(f"{path} holds no FASTA records")
    return records


def _record(header: str, lines: list[str]) -> FastaRecord:
    ident = header.split(maxsplit=1)[0] if header else ""
    return FastaRecord(ident, header, "".join(lines))


def safe_filename(name: str, max_length: int = 120) -> str:
    """A file-name stem from a record id: characters outside ``[A-Za-z0-9._-]`` become ``_``.

    >>> safe_filename("sp|P69905|HBA_HUMAN")
    'sp_P69905_HBA_HUMAN'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "_"
    return stem[:max_length]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[io.IOBase]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any error (Ctrl-C included) the temporary file is removed and ``path`` is
    untouched, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
