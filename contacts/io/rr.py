"""CASP RR contact files: read external predictions, write ours.

The format (CASP RR, as used through CASP13)::

    PFRMAT RR
    TARGET T0999
    AUTHOR ...            (optional)
    METHOD ...            (optional)
    MODEL 1
    MKVLAAGIV...          (sequence, up to 50 residues a line)
    1 9 0 8 0.912         (i j d_lower d_upper probability; 1-based, i < j)
    ...
    END

Readers also accept the three-column contact lines ``i j p`` and files
without the header records.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import CONTACT_CUTOFF
from .files import atomic_write

__all__ = ["RRFormatError", "RRPrediction", "read_rr", "write_rr"]

_LINE = 50


class RRFormatError(ValueError):
    """A file is not a readable CASP RR contact file."""


@dataclass(frozen=True)
class RRPrediction:
    """Contents of an RR file.

    Attributes
    ----------
    target : str or None
    sequence : str or None
        None when the file carries none.
    i, j : ndarray, shape=(n,), dtype=int
        0-based residue indices of each listed pair.
    d_lower, d_upper : ndarray, shape=(n,), dtype=float
        Distance bounds (Å); 0 and 8 for ordinary contact predictions.
    probability : ndarray, shape=(n,), dtype=float
    """

    target: str | None
    sequence: str | None
    i: np.ndarray
    j: np.ndarray
    d_lower: np.ndarray
    d_upper: np.ndarray
    probability: np.ndarray

    def to_matrix(self, length: int | None = None, fill: float = 0.0) -> np.ndarray:
        """Symmetric (L, L) probability map; pairs not listed get ``fill``.

        Parameters
        ----------
        length : int, optional
            L; default the sequence length, else the largest index listed.
        fill : float
            Value for unlisted pairs.

        Returns
        -------
        ndarray, shape=(L, L), dtype=float32
        """
        if length is None:
            if self.sequence is not None:
                length = len(self.sequence)
            else:
                length = int(max(self.i.max(initial=-1), self.j.max(initial=-1))) + 1
        top = int(max(self.i.max(initial=-1), self.j.max(initial=-1)))
        if top >= length:
            raise RRFormatError(f"RR file lists residue {top + 1} but the sequence has {length} residues")
        out = np.full((length, length), fill, dtype=np.float32)
        out[self.i, self.j] = self.probability
        out[self.j, self.i] = self.probability
        return out


def read_rr(path: str | os.PathLike) -> RRPrediction:
    """Read a CASP RR file (MODEL 1 only, if several are present).

    Raises
    ------
    RRFormatError
        A contact line that is not ``i j [d_lower d_upper] p``, an index below 1,
        or a probability outside [0, 1]; the message names the line.
    """
    path = Path(path)
    target = None
    seq_parts: list[str] = []
    rows: list[tuple[int, int, float, float, float]] = []
    model_seen = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key = line.split()[0].upper()
        if key == "END":
            break
        if key == "MODEL":
            model_seen += 1
            if model_seen > 1:
                break
            continue
        if key == "TARGET":
            target = line.split(maxsplit=1)[1] if len(line.split()) > 1 else None
            continue
        if key in ("PFRMAT", "AUTHOR", "METHOD", "REMARK", "RMODE"):
            continue
        fields = line.split()
        if fields[0].lstrip("-").isdigit():
            try:
                if len(fields) == 5:
                    a, b, lo, hi, p = int(fields[0]), int(fields[1]), *map(float, fields[2:])
                elif len(fields) == 3:
                    a, b, p = int(fields[0]), int(fields[1]), float(fields[2])
                    lo, hi = 0.0, CONTACT_CUTOFF
                else:
                    raise ValueError
            except ValueError:
                raise RRFormatError(f"{path.name} line {number}: {raw!r} is not 'i j d_lower d_upper p'") from None
            if a < 1 or b < 1:
                raise RRFormatError(f"{path.name} line {number}: residue indices start at 1, got {a} {b}")
            if not 0.0 <= p <= 1.0:
                raise RRFormatError(f"{path.name} line {number}: probability {p} is outside [0, 1]")
            a, b = min(a, b), max(a, b)
            rows.append((a - 1, b - 1, lo, hi, p))
        elif line.replace(" ", "").isalpha():
            seq_parts.append(line.replace(" ", "").upper())
        else:
            raise RRFormatError(f"{path.name} line {number}: cannot read {raw!r}")
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return RRPrediction(
        target=target,
        sequence="".join(seq_parts) or None,
        i=arr[:, 0].astype(int),
        j=arr[:, 1].astype(int),
        d_lower=arr[:, 2],
        d_upper=arr[:, 3],
        probability=arr[:, 4],
    )


def _probability(value: np.floating) -> str:
    """The shortest positional decimal that reads back as ``value`` (in its own dtype)."""
    return np.format_float_positional(value, unique=True, trim="0")


def write_rr(
    path: str | os.PathLike,
    probs: np.ndarray,
    sequence: str,
    target: str,
    *,
    author: str | None = None,
    method: str | None = None,
    remarks: Sequence[str] = (),
    min_separation: int = 1,
    max_pairs: int | None = None,
    cutoff: float = CONTACT_CUTOFF,
) -> Path:
    """Write a contact map as a CASP RR file, atomically.

    Parameters
    ----------
    path : str or PathLike
    probs : ndarray, shape=(L, L)
        Contact probabilities in [0, 1]; the upper triangle is written, NaN pairs left out.
    sequence : str, length L
    target : str
        The TARGET record.
    author, method : str, optional
        AUTHOR and METHOD records.
    remarks : sequence of str
        REMARK lines (one line each), e.g. the provenance of the map.
    min_separation : int
        Only pairs with ``j - i`` at least this are written.
    max_pairs : int, optional
        Write only the best this many pairs.
    cutoff : float
        The upper distance bound written on each line (Å).

    Returns
    -------
    Path
        Pairs are written ``i < j`` (1-based), by probability descending, ties
        in (i, j) order. Each probability is written with the fewest digits that
        read back as the same value of its dtype (float32 maps: float32), so
        distinct probabilities stay distinct. The file is written to a temporary file in the same
        folder and moved into place, so a reader never sees half a file.
    """
    probs = np.asarray(probs)
    if probs.dtype not in (np.float32, np.float64):
        probs = probs.astype(np.float64)
    n = len(sequence)
    if probs.shape != (n, n):
        raise ValueError(f"probs has shape {probs.shape}; the sequence of {n} residues needs ({n}, {n})")
    given = probs[~np.isnan(probs)]
    if given.size and (given.min() < 0 or given.max() > 1):
        raise ValueError(f"probs must be probabilities in [0, 1]; got range [{given.min():.3g}, {given.max():.3g}]")
    if min_separation < 1:
        raise ValueError(f"min_separation={min_separation} must be at least 1")
    i, j = np.triu_indices(n, min_separation)
    predicted = ~np.isnan(probs[i, j])  # NaN: no prediction for the pair (e.g. outside every window)
    i, j = i[predicted], j[predicted]
    p = probs[i, j]
    order = np.argsort(-p, kind="stable")
    if max_pairs is not None:
        order = order[:max_pairs]
    lines = ["PFRMAT RR", f"TARGET {target}"]
    if author:
        lines.append(f"AUTHOR {author}")
    if method:
        lines.append(f"METHOD {method}")
    for remark in remarks:
        if "\n" in remark or "\r" in remark:
            raise ValueError(f"REMARK {remark!r} holds a line break")
        lines.append(f"REMARK {remark}")
    lines.append("MODEL 1")
    lines += [sequence[s : s + _LINE] for s in range(0, n, _LINE)]
    lines += [f"{i[o] + 1} {j[o] + 1} 0 {cutoff:g} {_probability(p[o])}" for o in order]
    lines.append("END")
    path = Path(path)
    with atomic_write(path) as handle:
        handle.write("\n".join(lines) + "\n")
    return path
