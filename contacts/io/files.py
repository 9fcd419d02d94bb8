"""Writing files safely: atomic writes, file-name stems; text in through :mod:`contacts.io.text`.

Atomic writes go through a temporary file named ``.NAME.XXXXXXXX.part`` beside the
target (:data:`PART_PATTERN`); it gets the mode a plain ``open`` would give under the
process umask (0644 under 022), so shared output folders stay readable. A run killed
mid-write (``kill -9``) leaves such a file behind; :func:`remove_partials` clears them.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import random
import re
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


#: How :func:`atomic_write` opens its temporary file: created here or not at all, never through a link.
_CREATE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


# Temporary names come from a generator of this process, seeded once from the system and again in
# each forked child, not from os.urandom per file: each system call of a writer thread hands the
# GIL to the model's thread and back, and on a VM that costs more than the call itself.
_NAMES = random.Random(os.urandom(16))
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _NAMES.seed(os.urandom(16)))


def _random_bytes(n: int) -> bytes:
    return _NAMES.getrandbits(8 * n).to_bytes(n, "little")


def _create_part(path: Path) -> tuple[int, Path]:
    """A new, empty ``.NAME.XXXXXXXX.part`` beside ``path`` (:data:`PART_PATTERN`), open for writing;
    ``path``'s folder is made first where it does not exist.

    Created with mode 0666, which the kernel narrows by the umask as it does for ``open()``:
    the umask is never read or set, so writer threads need no lock and no ``/proc``
    (``tempfile.mkstemp`` makes 0600 files, which would need both to widen).
    """
    for _ in range(100):
        # 40 random bits as 8 characters of [a-z2-7]
        tmp = path.with_name(f".{path.name}.{base64.b32encode(_random_bytes(5)).decode().lower()}.part")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue
        except FileNotFoundError:  # no folder: made on the first file (not checked for each), then a new try
            path.parent.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(f"no free temporary name beside {path} after 100 tries")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[io.IOBase]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    On any error (Ctrl-C included) the temporary file is removed and ``path`` is
    untouched, so a reader never sees half a file. The file gets the mode ``open()``
    would give it under the process umask. ``path``'s folder is made if missing.
    """
    with _placed(Path(path)) as fd, os.fdopen(fd, mode, closefd=False) as fh:
        yield fh


@contextlib.contextmanager
def _placed(path: Path) -> Iterator[int]:
    """A new ``.part`` beside ``path`` as a file descriptor: closed and renamed to ``path`` when the block
    ends, closed and removed when it raises (Ctrl-C included)."""
    fd, tmp = _create_part(path)
    try:
        try:
            yield fd
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` as :func:`atomic_write` does, in four system calls: create, write, close, rename.

    For the many small files of a prediction run: a file object costs several more calls
    per file (``fstat``, ``isatty``, ``lseek``), and in a writer thread each call hands the
    GIL to the thread that runs the model and back.
    """
    path = Path(path)
    with _placed(path) as fd:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view):]
    return path


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
