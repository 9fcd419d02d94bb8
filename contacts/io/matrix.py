"""Contact maps as matrix files: ``.npy``, ``.npz`` and plain L x L text (CCMpred, plmc-style).

Coevolution tools (CCMpred, and plmc or GREMLIN once converted) write their
scores as an L x L matrix of whitespace- or comma-separated numbers, one row a
line; ``contacts predict`` writes ``.npy``. :func:`read_matrix` reads any of
these by extension and :func:`write_matrix` writes them back.

Entries may be ``nan``: a pair without a prediction (see
:mod:`contacts.analysis.metrics`).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from .files import atomic_write

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


class MatrixFormatError(ValueError):
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


def _read_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
            if len(keys) == 1:
                return data[keys[0]]
            for key in NPZ_KEYS:
                if key in keys:
                    return data[key]
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise MatrixFormatError(f"{path.name}: not a readable .npz file ({error})") from None
    raise MatrixFormatError(
        f"{path.name} holds {len(keys)} arrays ({', '.join(keys)}); expected one, or one named {' or '.join(NPZ_KEYS)}"
    )


def _read_text(path: Path) -> np.ndarray:
    rows = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        try:
            rows.append([float(x) for x in line.split()])
        except ValueError:
            raise MatrixFormatError(f"{path.name} line {number}: {raw[:60]!r} is not a row of numbers") from None
        if len(rows[-1]) != len(rows[0]):
            raise MatrixFormatError(
                f"{path.name} line {number}: {len(rows[-1])} columns, the first row has {len(rows[0])}"
            )
    return np.array(rows, dtype=np.float64).reshape(len(rows), -1)


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

    Raises
    ------
    MatrixFormatError
        An unknown extension, an unreadable file, rows of unequal length (the
        line named), or an array that is not square.
    """
    path = Path(path)
    reader = matrix_reader(path)
    if path.suffix.lower() == ".npy":
        try:
            matrix = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise MatrixFormatError(f"{path.name}: not a readable .npy file ({error})") from None
    elif path.suffix.lower() == ".npz":
        matrix = _read_npz(path)
    else:
        matrix = _read_text(path)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise MatrixFormatError(f"{path.name} ({reader}) holds an array of shape {matrix.shape}; expected (L, L)")
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
