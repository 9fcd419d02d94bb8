"""CASP RR contact files: read external predictions, write ours.

The format (CASP RR, as used through CASP13)::

    PFRMAT RR
    TARGET T0999
    AUTHOR ...            (optional)
    METHOD ...            (optional)
    REMARK ...            (optional, any number)
    MODEL 1
    MKVLAAGIV...          (sequence, up to 50 residues a line)
    1 9 0 8 0.912         (i j d_lower d_upper probability; 1-based, i < j)
    ...
    ENDMDL                (ConKit closes each model so; optional)
    MODEL 2
    ...
    END

The reader takes every variant that CASP's format page, ConKit
(``conkit.io.casp``) and :func:`write_rr` produce: header records
(``PFRMAT``, ``TARGET``, ``AUTHOR``, ``METHOD``, ``REMARK``, ``RMODE``) in any
order, ``ENDMDL``, several ``MODEL`` blocks, and contact lines of two to five
columns: ``i j``, ``i j p``, ``i j d_lower d_upper`` or ``i j d_lower d_upper p``.
A line without a score column lists a contact without ranking it: its
probability reads as 1.0. Files without any header record (the old three-column
files) are read too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import CONTACT_CUTOFF, MAX_RESIDUES
from .files import atomic_write
from .text import FileFormatError, iter_lines

__all__ = ["RRFormatError", "RRPrediction", "read_rr", "read_rr_models", "write_rr"]

_LINE = 50
_HEADERS = ("PFRMAT", "TARGET", "AUTHOR", "METHOD", "REMARK", "RMODE")
# one-letter codes a sequence line may hold (the 20, X, and the ambiguity/rare codes)
_RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWYXBZJUO")


class RRFormatError(FileFormatError):
    """A file is not a readable CASP RR contact file."""


@dataclass(frozen=True)
class RRPrediction:
    """Contents of one model of an RR file.

    Attributes
    ----------
    target : str or None
    sequence : str or None
        None when the file carries none.
    i, j : ndarray, shape=(n,), dtype=int
        0-based residue indices of each listed pair, ``i < j``.
    d_lower, d_upper : ndarray, shape=(n,), dtype=float
        Distance bounds (Å); 0 and 8 where the file has no distance columns.
    probability : ndarray, shape=(n,), dtype=float
        1.0 where the file has no score column.
    model : int
        The MODEL number these pairs belong to (1 when the file has no MODEL record).
    models : tuple of int
        Every MODEL number in the file, in file order.
    """

    target: str | None
    sequence: str | None
    i: np.ndarray
    j: np.ndarray
    d_lower: np.ndarray
    d_upper: np.ndarray
    probability: np.ndarray
    model: int = 1
    models: tuple[int, ...] = (1,)

    def to_matrix(self, length: int | None = None, fill: float = 0.0) -> np.ndarray:
        """Symmetric (L, L) probability map; pairs not listed get ``fill``.

        Parameters
        ----------
        length : int, optional
            L; default the sequence length, else the largest index listed.
        fill : float
            Value for unlisted pairs. Pass NaN to mark them "not predicted", so
            that :mod:`contacts.analysis.metrics` never counts them (as
            ``contacts evaluate`` does; see ``docs/evaluation.md``).

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


def _contact(fields: list[str], where: str, raw: str) -> tuple[int, int, float, float, float]:
    """``i j [d_lower d_upper] [p]`` -> 0-based (i, j, d_lower, d_upper, p), i < j, every rule of a contact line checked."""
    try:
        a, b = int(fields[0]), int(fields[1])
        rest = [float(x) for x in fields[2:]]
    except (ValueError, IndexError):
        raise RRFormatError(f"{where}: {raw.strip()[:80]!r} is not 'i j [d_lower d_upper] [p]'") from None
    if len(rest) == 0:
        lo, hi, p = 0.0, CONTACT_CUTOFF, 1.0
    elif len(rest) == 1:
        lo, hi, p = 0.0, CONTACT_CUTOFF, rest[0]
    elif len(rest) == 2:
        (lo, hi), p = rest, 1.0
    elif len(rest) == 3:
        lo, hi, p = rest
    else:
        raise RRFormatError(f"{where}: {raw.strip()[:80]!r} has {len(fields)} columns; at most 5 (i j d_lower d_upper p)")
    if a < 1 or b < 1:
        raise RRFormatError(f"{where}: residue indices start at 1, got {a} {b}")
    if max(a, b) > MAX_RESIDUES:
        raise RRFormatError(f"{where}: residue {max(a, b):,} is beyond the limit of {MAX_RESIDUES:,} residues a "
                            "record may have (contacts.constants.MAX_RESIDUES)")
    if a == b:
        raise RRFormatError(f"{where}: pair {a} {b} pairs a residue with itself")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RRFormatError(f"{where}: distance bounds {lo} {hi} must be finite numbers (Å)")
    if not 0.0 <= lo <= hi:
        raise RRFormatError(f"{where}: distance bounds {lo:g} {hi:g} must satisfy 0 <= d_lower <= d_upper (Å)")
    if not 0.0 <= p <= 1.0:  # NaN fails this too
        raise RRFormatError(f"{where}: probability {p} is outside [0, 1]")
    a, b = min(a, b), max(a, b)
    return a - 1, b - 1, lo, hi, p


def read_rr_models(path: str | os.PathLike) -> list[RRPrediction]:
    """Read every MODEL block of an RR file, in file order.

    A sequence given before the first ``MODEL`` record holds for every model
    that does not give its own. A file without ``MODEL`` records is one model,
    numbered 1.

    Raises
    ------
    RRFormatError
        A line that is neither a header record, ``MODEL``/``ENDMDL``/``END``, a
        sequence line nor a contact line; a contact line that is not
        ``i j [d_lower d_upper] [p]``; an index below 1, past the sequence, or past
        :data:`~contacts.constants.MAX_RESIDUES` where there is no sequence; distance
        bounds not finite or not ``0 <= d_lower <= d_upper``; a probability outside
        [0, 1] (NaN included); a pair listed twice in a model (``20 1`` after ``1 20``
        included); a sequence line after the contact lines of its model; a MODEL
        number given twice; a file with nothing in it; not UTF-8 text. The one-line
        message names the file and the line number.
    """
    path = Path(path)
    target = None
    header_seq: list[str] = []
    blocks: list[tuple[int, list[str], list[tuple], dict]] = []  # (number, sequence parts, rows, pair -> line)
    current: tuple[int, list[str], list[tuple], dict] | None = None
    anything = False
    for number, raw in enumerate(iter_lines(path, error=RRFormatError), start=1):
        line = raw.strip()
        if not line:
            continue
        anything = True
        where = f"{path} line {number}"
        fields = line.split()
        key = fields[0].upper()
        if key == "END":
            break
        if key == "ENDMDL":
            current = None
        elif key == "MODEL":
            try:
                model = int(fields[1])
            except (IndexError, ValueError):
                raise RRFormatError(f"{where}: {raw.strip()[:80]!r} is not 'MODEL <number>'") from None
            if any(model == b[0] for b in blocks):
                raise RRFormatError(f"{where}: MODEL {model} appears a second time")
            current = (model, [], [], {})
            blocks.append(current)
        elif key in _HEADERS:
            if key == "TARGET":
                target = fields[1] if len(fields) > 1 else None
        elif fields[0].lstrip("-").isdigit():
            if current is None:
                if blocks:  # contacts after ENDMDL and before the next MODEL
                    raise RRFormatError(f"{where}: contact line {raw.strip()[:80]!r} outside a MODEL block (after ENDMDL)")
                current = (1, [], [], {})
                blocks.append(current)
            row = _contact(fields, where, raw)
            first = current[3].setdefault(row[:2], number)
            if first != number:
                raise RRFormatError(f"{where}: pair {row[0] + 1} {row[1] + 1} is listed a second time (first on line "
                                    f"{first}); a model lists each pair once")
            current[2].append((*row, number))
        elif set(line.replace(" ", "").upper()) <= _RESIDUES:
            if current is not None and current[2]:
                raise RRFormatError(f"{where}: {raw.strip()[:80]!r} after the contact lines of MODEL {current[0]}: "
                                    "neither a contact line nor a header record (a sequence comes before the contacts)")
            (header_seq if current is None else current[1]).append(line.replace(" ", "").upper())
        else:
            raise RRFormatError(f"{where}: cannot read {raw.strip()[:80]!r} (not a header record, sequence or contact line)")
    if not anything:
        raise RRFormatError(f"{path} is empty: an RR file holds at least a sequence or contact lines")
    if not blocks:
        blocks.append((1, [], [], {}))
    numbers = tuple(b[0] for b in blocks)
    out = []
    for model, seq_parts, rows, _ in blocks:
        sequence = "".join(seq_parts or header_seq) or None
        arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
        if sequence is not None and len(arr):
            beyond = np.flatnonzero(arr[:, 1] >= len(sequence))
            if beyond.size:
                bad = arr[beyond[0]]
                raise RRFormatError(f"{path} line {int(bad[5])}: pair {int(bad[0]) + 1} {int(bad[1]) + 1} lies beyond "
                                    f"the sequence of {len(sequence)} residues")
        out.append(RRPrediction(
            target=target,
            sequence=sequence,
            i=arr[:, 0].astype(int),
            j=arr[:, 1].astype(int),
            d_lower=arr[:, 2],
            d_upper=arr[:, 3],
            probability=arr[:, 4],
            model=model,
            models=numbers,
        ))
    return out


def read_rr(path: str | os.PathLike, model: int | None = None) -> RRPrediction:
    """Read one model of a CASP RR file: the first, or the one numbered ``model``.

    Parameters
    ----------
    path : str or PathLike
    model : int, optional
        The ``MODEL`` number to read; default the first model of the file.
        :attr:`RRPrediction.models` lists all of them.

    Raises
    ------
    RRFormatError
        See :func:`read_rr_models`; also a ``model`` the file does not hold
        (the message lists those it does).
    """
    predictions = read_rr_models(path)
    if model is None:
        return predictions[0]
    for prediction in predictions:
        if prediction.model == model:
            return prediction
    raise RRFormatError(
        f"{path} has no MODEL {model}; models present: {', '.join(map(str, predictions[0].models))}"
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
