"""Writing files safely: atomic writes, file-name stems; text in through :mod:`contacts.io.text`.

Atomic writes go through a temporary file named ``.NAME.XXXXXXXX.part`` beside the
target (:data:`PART_PATTERN`); it gets the mode a plain ``open`` would give under the
process umask (0644 under 022), so shared output folders stay readable. A run killed
mid-write (``kill -9``) leaves such a file behind; :func:`remove_partials` clears them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from .text import read_text

#: Temporary files of :func:`atomic_write`: a dot, the target's name, 8 random characters, ``.part``.
PART_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.part$")


def safe_filename(name: str, max_length: int = 120) -> str:
    """A file-name stem from a record id: characters outside ``[A-Za-z0-9._-]`` become ``_``.

    >>> safe_filename("sp|P69905|HBA_HUMAN")
    'sp_P69905_HBA_HUMAN'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "_"
    return stem[:max_length]


def open_text(path: str | os.PathLike) -> io.StringIO:
    """A text file as a file object, through the one checked door (:func:`contacts.io.text.read_text`: UTF-8
    with an optional BOM, gunzipped when its first bytes say gzip, whatever its name)."""
    return io.StringIO(read_text(path))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[io.IOBase]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any error (Ctrl-C included) the temporary file is removed and ``path`` is
    untouched, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        # mkstemp makes 0600 files; outputs get what open() would give under the umask.
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask: read from ``/proc/self/status`` where Linux shows it, else by setting it and
    putting it back under a lock (POSIX has no getter). Writer threads call this at once: two unlocked
    set-and-restore pairs could interleave and leave 0o022 as the process's umask."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def remove_partials(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files an interrupted :func:`atomic_write` left in ``folder``.

    Only names matching :data:`PART_PATTERN` are touched (not subfolders, not other
    programs' files). Call it where no other run writes into ``folder`` at the same time.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        if PART_PATTERN.match(path.name) and path.is_file() and not path.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
