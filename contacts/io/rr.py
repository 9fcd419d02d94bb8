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

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import CONTACT_CUTOFF, MAX_RESIDUES
from .files import write_atomic
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


# The same decimals for whole float32 arrays, from integer arithmetic. A float32 in [2**-126, 1)
# is x = M / 2**(150 - E) (M its 24-bit significand, E its biased exponent), so
# x * 10**n = M * 5**n / 2**s with s = 150 - E - n: exact in int64 for n <= 16
# (M * 5**16 < 2**62). Every x >= 1e-7 needs at most 16 places (9 significant digits always
# read back as the same float32); smaller ones are rare and written one by one.
_FAST_MIN = np.float32(1e-7)
_MAX_PLACES = 16
# Pairs formatted at once: the temporaries of a chunk (about 100 bytes a pair) stay in the
# processor's cache, and each of its numpy calls lets go of the GIL and takes it back, which a
# model's thread beside the writer waits for at times. bench/rr_chunk.py: 16384 took 168-175 ns a
# pair alone against 196-214 for 4096 (L = 139, 300, 1022), and predict_to_dir beside the model
# 1.165x the library against 1.229x (median of 8 rounds); 65536 was slower alone at L = 300.
_CHUNK = 16384
_POW5 = 5 ** np.arange(_MAX_PLACES + 1, dtype=np.int64)
# By biased exponent E: the shift 150 - E, and the places of the float32 spacing 2**(E - 150)
# (10**-n just below it), the first number of places tried.
_SHIFT = 150 - np.arange(256, dtype=np.int64)
_SPACING = np.clip(np.ceil(_SHIFT * 0.30102999566398120).astype(np.int64), 1, _MAX_PLACES)


def _decimals(significand: np.ndarray, shift: np.ndarray, places, doubling: np.ndarray):
    """The decimal with ``places`` digits after the point that reads back as x, if one does.

    Returns ``(digits, ok)``: of the two such decimals just below and just above x, the one
    that reads back (the nearer where both do, a tie to the even digit, as numpy's shortest
    repr picks), as the integer ``decimal * 10**places``. A decimal reads back as x when it lies
    within half a unit in the last place of x (a quarter below a power of two, where the float32
    spacing halves). In units of ``2**-s``, where ``x * 10**places = product / 2**s``, that
    unit is ``5**places``: odd, so no decimal lies exactly on the boundary.
    """
    unit = _POW5[places]
    s = shift - places
    product = significand * unit
    below = product >> s
    rest = product & ((1 << s) - 1)  # x * 10**places - below, in units of 2**-s
    above = (1 << s) - rest
    below_ok = rest << doubling < unit  # twice the distance (four times below a power of two)
    above_ok = above << 1 < unit
    # Both read back: the nearer one; at equal distance the even one.
    up = above_ok & (~below_ok | (above < rest) | ((above == rest) & (below & 1 == 1)))
    return below + up, below_ok | above_ok


def _shortest_places(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For float32 values in [1e-7, 1): the fewest places after the point that read back, and their digits.

    Which decimals read back is monotone in the places (a decimal with n places is one with
    n + 1). With ``n`` the places of x's spacing (10**-n just below it), nearly every x reads
    back with n places and about half with n - 1: n, n - 1 and n - 2 are tried over whole
    arrays, then the few values that read back with n - 2 (or not with n) try every other
    number of places at once.
    """
    bits = p.view(np.uint32)
    exponent = bits >> 23
    fraction = bits & 0x7FFFFF
    significand = (fraction | 0x800000).astype(np.int64)
    doubling = (fraction == 0).view(np.uint8) + np.int64(1)  # shifts that double a distance to x (twice: below 2**k)
    shift, spacing = _SHIFT[exponent], _SPACING[exponent]
    places, (digits, ok) = spacing, _decimals(significand, shift, spacing, doubling)
    fewer_ok = ok
    for fewer in (1, 2):
        trial = np.maximum(spacing - fewer, 1)
        trial_digits, trial_ok = _decimals(significand, shift, trial, doubling)
        take = fewer_ok & trial_ok & (trial < places)
        places, digits = np.where(take, trial, places), np.where(take, trial_digits, digits)
        fewer_ok = take
    # The few left: every other number of places at once, one row of trials per value.
    rows = np.flatnonzero(fewer_ok & (places > 1))  # still reading back: fewer places
    if rows.size:
        trial = places[rows, None] - np.arange(1, _MAX_PLACES)
        trial_digits, good = _decimals(significand[rows, None], shift[rows, None], np.maximum(trial, 1),
                                       doubling[rows, None])
        fewer = (good & (trial >= 1)).sum(1)  # monotone: the trials that read back come first
        places[rows] -= fewer
        digits[rows] = np.where(fewer > 0, trial_digits[np.arange(rows.size), np.maximum(fewer - 1, 0)], digits[rows])
    rows = np.flatnonzero(~ok)  # not reading back: more places (9 significant digits always do)
    if rows.size:
        trial = np.minimum(places[rows, None] + np.arange(1, _MAX_PLACES), _MAX_PLACES)
        trial_digits, good = _decimals(significand[rows, None], shift[rows, None], trial, doubling[rows, None])
        first = good.argmax(1)
        places[rows] = trial[np.arange(rows.size), first]
        digits[rows] = trial_digits[np.arange(rows.size), first]
    return places, digits


# "0000" to "9999" as four ASCII bytes each, read as one uint32: digits go out four at a time.
_QUADS = np.array([f"{k:04d}".encode() for k in range(10_000)], dtype="S4").view(np.uint32)
_NEWLINE = np.frombuffer(b"\n\0\0\0", np.uint32)[0]
# Row k: the last k of 16 digit bytes kept, the others made NUL (as four uint32 words).
_TAIL_MASK = np.array([[0] * (16 - k) + [0xFF] * k for k in range(17)], np.uint8).view(np.uint32)


def _digits16(values: np.ndarray) -> np.ndarray:
    """Integers in [0, 10**16) as 16 zero-padded ASCII digits: shape=(n, 4), uint32 (view as uint8)."""
    quads = np.empty((len(values), 4), np.uint32)
    high = values // 10**8
    # int32 from here on: numpy divides them by a constant several times faster than int64.
    for column, part in ((2, (values - high * 10**8).astype(np.int32)), (0, high.astype(np.int32))):
        upper = part // 10_000
        quads[:, column + 1] = _QUADS[part - upper * 10_000]
        quads[:, column] = _QUADS[upper]
    return quads


def _items(text: bytes | np.ndarray) -> np.ndarray:
    """Bytes, or each row of a 2-D array, as one item: an unsigned integer where the width is 4 or
    8 bytes (numpy copies those several times faster than opaque items), else opaque (void)."""
    data = np.frombuffer(text, np.uint8)[None] if isinstance(text, bytes) else text.view(np.uint8)
    kind = {4: np.uint32, 8: np.uint64}.get(data.shape[1], np.dtype((np.void, data.shape[1])))
    return data.view(kind).ravel()


@functools.lru_cache(maxsize=64)
def _number_table(largest: int, space: bool) -> np.ndarray:
    """``str(k)`` (after a space if ``space``) for k in 0..largest, right-aligned in a multiple of
    4 bytes with NUL before it: shape=(largest + 1,), one item per number, so that gathering the
    text of a column of residue numbers copies one item per pair. Cached (read-only): a run
    writes many files of similar lengths."""
    numbers = np.arange(largest + 1)
    width = -(-(len(str(largest)) + space) // 4) * 4
    text = _digits16(numbers).view(np.uint8)[:, 16 - width :].copy()
    first = width - 1 - np.searchsorted(10 ** np.arange(1, 17), numbers, side="right")  # the first digit
    text[np.arange(width) < first[:, None]] = 0
    if space:
        text[numbers, first - 1] = ord(" ")
    table = _items(text)
    table.flags.writeable = False
    return table


def _contact_lines(i: np.ndarray, j: np.ndarray, p: np.ndarray, middle: str, largest: int | None = None) -> np.ndarray:
    """``f"{i} {j}{middle}{_probability(p)}\\n"`` for every row, byte for byte (uint8), built as one record array.

    Each field of a line has its own bytes of a fixed-width record, NUL where the field is
    shorter than them; the records without their NULs, read in order, are the lines. Every
    byte is written once, a field of a whole column at a time. Residue numbers come from a
    table (there are L of them for L * (L - 1) / 2 pairs); the digits of a probability after
    ``0.`` are its shortest decimal (no trailing zero but in ``0.0``), right-aligned in 16 bytes,
    NUL before its first place.
    """
    n = len(p)
    if n == 0:
        return np.zeros(0, np.uint8)
    fast = (p >= _FAST_MIN) & (p < 1)
    places, digits = np.ones(n, np.int64), np.zeros(n, np.int64)  # 0 and 1: "0.0" and "1.0"
    if fast.all():
        places, digits = _shortest_places(p)
    else:
        places[fast], digits[fast] = _shortest_places(p[fast])
    slow = np.flatnonzero(~fast & (p != 0) & (p != 1))  # below 1e-7: rare, one by one
    slow_text = [_probability(v).encode() for v in p[slow]]
    if largest is None:  # the largest residue number: its text tables are shared by every chunk of a file
        largest = int(max(i.max(initial=0), j.max(initial=0)))
    left, right = _number_table(largest, False), _number_table(largest, True)
    lead = (middle + "0.").encode()
    lead = _items(bytes(-len(lead) % 4) + lead)
    spare = -(-max([0] + [len(t) - 18 for t in slow_text]) // 4) * 4  # bytes for the longest slow text
    widths = [left.itemsize, right.itemsize, lead.itemsize, spare, 16, 4]
    offsets = np.cumsum([0] + widths)
    names = ["left", "right", "lead", "spare", "digits", "newline"]
    formats = [left.dtype, right.dtype, lead.dtype, np.dtype((np.void, spare)), np.dtype((np.void, 16)), np.uint32]
    rows = np.empty(n, np.dtype({"names": names, "formats": formats, "offsets": offsets[:-1].tolist(),
                                 "itemsize": int(offsets[-1])}))
    rows["left"], rows["right"], rows["lead"] = left[i], right[j], lead[0]
    if spare:
        rows["spare"] = np.zeros(1, (np.void, spare))[0]
    quads = _digits16(digits)
    quads &= np.take(_TAIL_MASK, places, axis=0)
    rows["digits"] = _items(quads)
    rows["newline"] = _NEWLINE
    if (p == 1).any() or slow.size:
        data = rows.view(np.uint8).reshape(n, -1)
        data[p == 1, offsets[3] - 2] = ord("1")
        for row, text in zip(slow, slow_text):  # over "0." and the digits
            data[row, offsets[3] - 2 : offsets[3] - 2 + len(text)] = np.frombuffer(text, np.uint8)
            data[row, offsets[3] - 2 + len(text) : offsets[5]] = 0
    # The NULs out by a boolean mask, not bytes.translate: as fast, and numpy lets go of the GIL for it,
    # so the model's thread runs on beside a writer thread formatting a file.
    data = rows.view(np.uint8).ravel()
    return data[data != 0]


def _ranked_pairs(probs: np.ndarray, min_separation: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices ``i * L + j`` of the predicted pairs ``j - i >= min_separation``, by probability
    descending, ties in (i, j) order; and their probabilities in that order."""
    n = len(probs)
    upper = np.subtract.outer(np.arange(n), np.arange(n)) <= -min_separation
    flat = np.flatnonzero(upper & ~np.isnan(probs))  # NaN: no prediction (e.g. outside every window)
    p = probs.ravel()[flat]
    if p.dtype != np.float32:
        order = np.argsort(-p, kind="stable")
        return flat[order], p[order]
    # For floats >= 0 the bit patterns sort as the values (-0.0 made 0.0 first): a stable radix
    # sort of them, descending, in two passes of 16 bits (numpy's stable sort of uint16 is a
    # radix sort), instead of a comparison sort of floats.
    key = ~(p + np.float32(0)).view(np.uint32)
    order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    order = order[np.argsort((key[order] >> 16).astype(np.uint16), kind="stable")]
    return flat[order], p[order]


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
        distinct probabilities stay distinct: numpy's shortest repr, positional.
        float32 maps (what the predictor gives) are formatted whole arrays at a
        time, about 0.2 µs a pair (``bench/rr_speed.py``); float64 maps one number
        at a time, about ten times slower. The file is written to a temporary file
        in the same folder and moved into place, so a reader never sees half a file.
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
    flat, p = _ranked_pairs(probs, min_separation)
    if max_pairs is not None:
        flat, p = flat[:max_pairs], p[:max_pairs]
    i, j = np.divmod(flat, n)
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
    head = ("\n".join(lines) + "\n").encode()
    middle = f" 0 {cutoff:g} "
    if p.dtype == np.float32:
        body = [_contact_lines(i[s : s + _CHUNK] + 1, j[s : s + _CHUNK] + 1, p[s : s + _CHUNK], middle, largest=n)
                for s in range(0, len(p), _CHUNK)]
    else:  # float64 maps: one number at a time (their shortest decimals need more than int64 holds)
        body = ["".join(f"{a + 1} {b + 1}{middle}{_probability(x)}\n" for a, b, x in zip(i, j, p)).encode()]
    # One write of the whole file (a file object would make a system call per piece)
    return write_atomic(path, b"".join([head, *body, b"END\n"]))
