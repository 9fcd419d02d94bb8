"""Contact maps as matrix files: ``.npy``, ``.npz`` and plain L x L text (CCMpred, plmc-style).

Coevolution tools (CCMpred, and plmc or GREMLIN once converted) write their
scores as an L x L matrix of whitespace- or comma-separated numbers, one row a
line; ``contacts predict`` writes ``.npy``. :func:`read_matrix` reads any of
these by extension and :func:`write_matrix` writes them back.

Entries may be ``nan``: a pair without a prediction (see
:mod:`contacts.analysis.metrics`). Everything else is checked at the door: a real
(bool, integer or floating) square array of at most
:data:`~contacts.constants.MAX_RESIDUES` rows (read from a ``.npy`` header before any
data), no infinity, no complex or object values, no pickles; a ``.npy`` that is not
one (text, an ``.npz``) or is truncated, and an ``.npz`` that is not a zip archive,
are named as what they are.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from ..constants import MAX_RESIDUES
from .files import atomic_write
from .text import FileFormatError, read_text

__all__ = [
    "MATRIX_SUFFIXES",
    "NPZ_KEYS",
    "TEXT_SUFFIXES",
    "MatrixFormatError",
    "matrix_reader",
    "read_matrix",
    "write_matrix",
]

#: Extensions read as plain L x L text matrices.
TEXT_SUFFIXES = (".mat", ".ccmpred", ".txt", ".tsv", ".csv")
#: Every extension :func:`read_matrix` reads, in the order a folder is searched.
MATRIX_SUFFIXES = (".npy", ".npz", *TEXT_SUFFIXES)
#: Array names taken from an ``.npz`` that holds several arrays, first found wins.
NPZ_KEYS = ("contacts", "probs", "probabilities", "scores", "cmap", "contact_map")

_READERS = {".npy": "NumPy .npy", ".npz": "NumPy .npz", **{s: "L x L matrix text" for s in TEXT_SUFFIXES}}


#: What the first bytes of a file named ``.npy`` or ``.npz`` say it is.
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")


class MatrixFormatError(FileFormatError):
    """A file is not a readable square contact matrix."""


def matrix_reader(path: str | os.PathLike) -> str:
    """The name of the reader :func:`read_matrix` uses for ``path`` (by extension).

    Raises
    ------
    MatrixFormatError
        An extension that is none of :data:`MATRIX_SUFFIXES`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _READERS:
        raise MatrixFormatError(
            f"cannot tell the format of {Path(path).name!r} from its extension; expected one of "
            f"{', '.join(MATRIX_SUFFIXES)}"
        )
    return _READERS[suffix]


def _what_it_is(head: bytes) -> str:
    """What a file's first bytes say it is, for a message."""
    if not head:
        return "the file is empty"
    if head.startswith(_NPY_MAGIC):
        return "it is a NumPy .npy file"
    if head.startswith(_ZIP_MAGIC):
        return "it is a zip archive (an .npz?)"
    if head[:1] == b"\x80":
        return "it is a Python pickle, which is never loaded"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {head[:8]!r}"
    return "it holds text (a text matrix is named " + ", ".join(TEXT_SUFFIXES) + ")"


def _check_header(path: Path, shape: tuple, dtype: np.dtype, what: str) -> None:
    """A real square array of at most MAX_RESIDUES rows, from its header alone."""
    if dtype.hasobject or dtype.kind not in "biuf":
        kind = {"c": "complex numbers", "O": "Python objects", "V": "records (a structured dtype)",
                "U": "strings", "S": "bytes", "M": "dates", "m": "time spans"}.get(dtype.kind, str(dtype))
        raise MatrixFormatError(f"{path}: {what} holds {kind} (dtype {dtype}); a contact map holds real numbers",
                                path=path)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise MatrixFormatError(f"{path}: {what} has shape {shape}; expected (L, L)", path=path)
    if shape[0] > MAX_RESIDUES:
        raise MatrixFormatError(f"{path}: {what} has shape {shape}, past the limit of {MAX_RESIDUES:,} residues a "
                                "record may have (contacts.constants.MAX_RESIDUES)", path=path)


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
        if head != _NPY_MAGIC:
            raise MatrixFormatError(f"{path}: not a NumPy .npy file ({_what_it_is(head + handle.read(58))})",
                                    path=path)
        handle.seek(0)
        try:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(handle)
        except (ValueError, EOFError, OSError) as error:
            raise MatrixFormatError(f"{path}: not a readable .npy header ({error})", path=path) from None
        _check_header(path, shape, dtype, "the array")
        need = int(np.prod(shape)) * dtype.itemsize
        have = os.fstat(handle.fileno()).st_size - handle.tell()
        if have < need:
            raise MatrixFormatError(f"{path}: truncated .npy file: {have:,} bytes of data where its header "
                                    f"({shape}, {dtype}) needs {need:,}", path=path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise MatrixFormatError(f"{path}: not a readable .npy file ({error})", path=path) from None


def _read_npz(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head.startswith(_ZIP_MAGIC):
        raise MatrixFormatError(f"{path}: not an .npz (zip) archive ({_what_it_is(head)})", path=path)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            key = keys[0] if len(keys) == 1 else next((k for k in NPZ_KEYS if k in keys), None)
            if key is None:
                raise MatrixFormatError(
                    f"{path} holds {len(keys)} arrays ({', '.join(keys) or 'none'}); expected one, or one named "
                    f"{' or '.join(NPZ_KEYS)}", path=path)
            return data[key]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        if isinstance(error, MatrixFormatError):
            raise
        raise MatrixFormatError(f"{path}: not a readable .npz file ({error})", path=path) from None


def _read_text(path: Path) -> np.ndarray:
    rows = []
    for number, raw in enumerate(read_text(path, error=MatrixFormatError).splitlines(), start=1):
        line = raw.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        try:
            rows.append([float(x) for x in line.split()])
        except ValueError:
            raise MatrixFormatError(f"{path} line {number}: {raw[:60]!r} is not a row of numbers", path=path,
                                    line=number) from None
        if len(rows[-1]) != len(rows[0]):
            raise MatrixFormatError(
                f"{path} line {number}: {len(rows[-1])} columns, the first row has {len(rows[0])}", path=path,
                line=number)
        if len(rows) == 1 and len(rows[0]) > MAX_RESIDUES:
            raise MatrixFormatError(f"{path} line {number}: {len(rows[0]):,} columns, past the limit of "
                                    f"{MAX_RESIDUES:,} residues a record may have (contacts.constants.MAX_RESIDUES)",
                                    path=path, line=number)
        bad = [x for x in rows[-1] if math.isinf(x)]
        if bad:
            raise MatrixFormatError(f"{path} line {number}: {bad[0]} is not a finite score (NaN marks a pair "
                                    "without a prediction; infinity has no meaning)", path=path, line=number)
    if not rows:
        raise MatrixFormatError(f"{path} holds no rows of numbers", path=path)
    return np.array(rows, dtype=np.float64)


def read_matrix(path: str | os.PathLike) -> np.ndarray:
    """Read a square contact map from ``.npy``, ``.npz`` or L x L text, by extension.

    Parameters
    ----------
    path : str or PathLike
        ``.npy``; ``.npz`` (its only array, else the first of :data:`NPZ_KEYS`);
        or text (:data:`TEXT_SUFFIXES`): one row a line, numbers separated by
        whitespace or commas, ``#`` comments and blank lines skipped.

    Returns
    -------
    ndarray, shape=(L, L), dtype=float64
        NaN where the file has no prediction for a pair.

    Raises
    ------
    MatrixFormatError
        An unknown extension; a file that is not what its extension says (text named
        ``.npy``, a ``.npy`` named ``.npz``), truncated or not UTF-8 text; rows of
        unequal length (the line named); an array that is not square, not real
        (complex, objects, strings), past :data:`~contacts.constants.MAX_RESIDUES`, or
        holding infinity.
    """
    path = Path(path)
    reader = matrix_reader(path)
    suffix = path.suffix.lower()
    matrix = _read_npy(path) if suffix == ".npy" else _read_npz(path) if suffix == ".npz" else _read_text(path)
    _check_header(path, matrix.shape, matrix.dtype, f"the {reader} array")
    matrix = np.asarray(matrix, dtype=np.float64)
    infinite = np.isinf(matrix)
    if infinite.any():
        i, j = np.argwhere(infinite)[0]
        raise MatrixFormatError(f"{path}: {int(infinite.sum())} entries are infinite (the first at row {i + 1}, "
                                f"column {j + 1}); scores must be finite (NaN marks a pair without a prediction)",
                                path=path)
    return matrix


def write_matrix(path: str | os.PathLike, matrix: np.ndarray, *, key: str = "contacts") -> Path:
    """Write a square map as :func:`read_matrix` reads it back, atomically, by extension.

    Parameters
    ----------
    path : str or PathLike
    matrix : ndarray, shape=(L, L)
    key : str
        The array's name in an ``.npz``.

    Returns
    -------
    Path
        Text is written tab-separated (CCMpred's layout), ``%.6g`` per entry.
    """
    path = Path(path)
    matrix_reader(path)
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise MatrixFormatError(f"matrix has shape {matrix.shape}; expected (L, L)")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        buffer = io.BytesIO()
        if suffix == ".npy":
            np.save(buffer, matrix)
        else:
            np.savez(buffer, **{key: matrix})
        with atomic_write(path, "wb") as handle:
            handle.write(buffer.getvalue())
    else:
        buffer = io.StringIO()
        np.savetxt(buffer, matrix, fmt="%.6g", delimiter="," if suffix == ".csv" else "\t")
        with atomic_write(path, "w") as handle:
            handle.write(buffer.getvalue())
    return path
