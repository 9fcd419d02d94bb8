"""One input check for every door: what a protein sequence may hold, in the same words everywhere.

The Python API (every :class:`~contacts.predictor.Predictor` method that takes a
sequence), every command of the command line and the runners check sequences here,
before any tokenizer sees them, so that a sequence is refused or accepted alike
whichever way it comes in:

- the 25 residue letters (the 20 standard amino acids, ``X`` unknown, ``B``, ``Z``,
  ``U``, ``O``), upper or lower case, and ``<mask>`` where a masked token makes sense;
- whitespace anywhere is dropped;
- a trailing ``*`` (a stop codon: common in translated FASTA) is removed, with a
  note (:class:`StopCodonRemoved`, a warning in the API, one line on the command line);
- everything else is refused, every problem with its 1-based residue position:
  gaps and alignment symbols (``-``, ``.``), a ``*`` inside the sequence, any other
  character, a special token other than ``<mask>``, an empty sequence.

The check knows only the residue letters, not any model's vocabulary, so every
encoder family calls it before its own tokenizer (which may map ``U`` to ``X`` and
so on). Nothing here imports torch.

>>> sequence_problems("MK-J")
["gap '-' at residue 3 (an alignment symbol, not a residue: remove gaps or use the ungapped sequence)", "character 'J' at residue 4"]
>>> clean_sequence("mktay*")
('mktay', True)
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

from ..constants import MAX_RESIDUES

#: The residue letters every family reads: 20 standard amino acids, X (unknown), B, Z, U, O.
RESIDUE_LETTERS = "ACDEFGHIKLMNPQRSTVWYXBZUO"
MASK = "<mask>"
#: Alignment symbols: refused, they are not residues.
GAPS = "-."
STOP = "*"
#: Records named in one note or error before "and N more".
SHOWN = 5

_TOKEN = re.compile(r"<[^<>]*>|.", re.DOTALL)
_LETTERS = frozenset(RESIDUE_LETTERS)
# A sequence of residue letters only (either case), the usual FASTA record: checked by one regex in C.
_PLAIN = re.compile(f"[{RESIDUE_LETTERS}{RESIDUE_LETTERS.lower()}]+")


class InvalidSequenceError(ValueError):
    """A sequence holds something that is not a residue (a gap, a digit, a stray token), or nothing at all."""


class StopCodonRemoved(UserWarning):
    """A trailing ``*`` (stop codon) was removed from one or more sequences."""


def clean_sequence(sequence: str) -> tuple[str, bool]:
    """The sequence without a trailing ``*`` (and the whitespace after it); whether one was removed.

    Only the last residue is a stop codon: a ``*`` anywhere else is left for
    :func:`sequence_problems` to refuse.
    """
    if not isinstance(sequence, str):
        raise TypeError(f"a sequence must be a str, got {type(sequence).__name__}")
    stripped = sequence.rstrip()
    if stripped.endswith(STOP):
        return stripped[:-1], True
    return sequence, False


def sequence_problems(sequence: str, *, mask: bool = True) -> list[str]:
    """Every reason a sequence cannot be read, each with its 1-based residue position.

    Positions count residues (whitespace skipped, ``<mask>`` one residue). A trailing
    ``*`` is not a problem here only if :func:`clean_sequence` removed it first.

    Parameters
    ----------
    mask : bool
        Whether ``<mask>`` is accepted (not in training sequences nor in a wild type).

    Returns
    -------
    list of str
        Empty when the sequence is fine.
    """
    if not isinstance(sequence, str):
        raise TypeError(f"a sequence must be a str, got {type(sequence).__name__}")
    if len(sequence) <= MAX_RESIDUES and _PLAIN.fullmatch(sequence):  # nothing but residues: nothing to report
        return []
    problems, position = [], 0
    for match in _TOKEN.finditer(sequence):
        token = match.group()
        if token.isspace():
            continue
        position += 1
        if token in GAPS:
            problems.append(f"gap {token!r} at residue {position} "
                            "(an alignment symbol, not a residue: remove gaps or use the ungapped sequence)")
        elif token == STOP:
            problems.append(f"stop '*' at residue {position} (only a trailing stop codon is removed)")
        elif token == MASK and not mask:
            problems.append(f"{MASK} at residue {position} (plain residues only here)")
        elif token.startswith("<") and len(token) > 1 and token != MASK:
            problems.append(f"token {token!r} at residue {position} (only {MASK} is accepted)")
        elif token != MASK and token.upper() not in _LETTERS:
            problems.append(f"character {token!r} at residue {position}")
    if position == 0:
        problems.append("empty sequence (no residues)")
    if position > MAX_RESIDUES:  # refused before any model loads, not discovered by the allocator (L x L maps)
        problems.append(f"{position:,} residues, past the limit of {MAX_RESIDUES:,} a record may have "
                        "(contacts.constants.MAX_RESIDUES)")
    return problems


def check_sequences(sequences: Sequence[str], names: Sequence[str] | None = None, *, mask: bool = True,
                    stacklevel: int = 2) -> list[str]:
    """Check sequences before any work: cleaned sequences back, or one error listing every problem.

    Parameters
    ----------
    sequences : sequence of str
    names : sequence of str, optional
        How errors and notes name each sequence (default ``sequence 0``, ``sequence 1``, ...).
    mask : bool
        Whether ``<mask>`` is accepted.
    stacklevel : int
        Of the :class:`StopCodonRemoved` warning (one for the whole call).

    Returns
    -------
    list of str
        The sequences with a trailing ``*`` removed; otherwise as given.

    Raises
    ------
    InvalidSequenceError
        ``NAME: problem; problem`` for one bad sequence, else one line per bad sequence
        under ``N invalid sequences:``.
    """
    names = [f"sequence {i}" for i in range(len(sequences))] if names is None else list(names)
    cleaned, stopped, invalid = [], [], {}
    for name, sequence in zip(names, sequences):
        text, removed = clean_sequence(sequence)
        problems = sequence_problems(text, mask=mask)
        if problems:
            invalid[name] = "; ".join(problems)
        if removed:
            stopped.append(name)
        cleaned.append(text)
    if invalid:
        raise InvalidSequenceError(problem_block(invalid, "sequence"))
    if stopped:
        warnings.warn(stop_note(stopped), StopCodonRemoved, stacklevel=stacklevel + 1)
    return cleaned


def problem_block(invalid: dict[str, str], what: str, hint: str = "") -> str:
    """``NAME: why`` for one, else ``N invalid WHATs (HINT):`` and one indented line each."""
    if len(invalid) == 1 and not hint:
        (name, why), = invalid.items()
        return f"{name}: {why}"
    lines = "\n".join(f"  {name}: {why}" for name, why in invalid.items())
    return f"{len(invalid)} invalid {what}{'s' if len(invalid) > 1 else ''}{f' ({hint})' if hint else ''}:\n{lines}"


def stop_note(names: Sequence[str]) -> str:
    """``trailing '*' (stop codon) removed from a, b and 3 more``."""
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    return f"trailing '*' (stop codon) removed from {shown}"


__all__ = ["GAPS", "MASK", "RESIDUE_LETTERS", "STOP", "InvalidSequenceError", "StopCodonRemoved",
           "check_sequences", "clean_sequence", "problem_block", "sequence_problems", "stop_note"]
