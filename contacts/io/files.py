"""Writing files safely: atomic writes, file-name stems, reading text plain or gzipped."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path


def safe_filename(name: str, max_length: int = 120) -> str:
    """A file-name stem from a record id: characters outside ``[A-Za-z0-9._-]`` become ``_``.

    >>> safe_filename("sp|P69905|HBA_HUMAN")
    'sp_P69905_HBA_HUMAN'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "_"
    return stem[:max_length]


def open_text(path: str | os.PathLike):
    """Open a text file for reading, gunzipping it when its first bytes say gzip (whatever its name)."""
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)


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
