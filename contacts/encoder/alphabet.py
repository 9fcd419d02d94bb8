"""Sequence -> tokens: the ESM-1b vocabulary, with fair-esm's exact token ids.

fair-esm builds the ESM-1b alphabet as four leading specials, the 27 sequence
characters, padding to a multiple of eight (``<null_1>``) and ``<mask>`` last:

>>> ALPHABET.index("<cls>"), ALPHABET.index("L"), ALPHABET.index("<mask>")
(0, 4, 32)
>>> ALPHABET.encode("mk<mask>")
[0, 20, 15, 32, 2]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch

from .sequences import InvalidSequenceError

SPECIAL_PREPEND = ("<cls>", "<pad>", "<eos>", "<unk>")
RESIDUES = tuple("LAGVSERTIDPKQNFYMHWCXBUZO.-")
STANDARD_AMINO_ACIDS = tuple("ACDEFGHIKLMNPQRSTVWY")
MASK = "<mask>"

# Special tokens a user may write inside a sequence string.
_USER_SPECIALS = (MASK,)
_TOKEN_RE = re.compile(r"<[^<>]*>|.", re.DOTALL)


class SequenceTooLongError(ValueError):
    """A sequence has more residues than one forward pass of the model takes."""


#: Rare amino acids that ProtBert's and ProtT5's model cards map to ``X`` before tokenizing.
RARE_TO_X = {"U": "X", "Z": "X", "O": "X", "B": "X"}


class Alphabet:
    """A model's vocabulary: token strings, ids, the special indices, and how residue letters map onto it.

    Every family reads the same input language (the residue letters of
    :data:`RESIDUES`, whitespace ignored, and ``<mask>``); each maps it onto its own
    vocabulary: one token per residue, ``prefix`` specials before them (``<cls>``,
    ``[CLS]``, ``<s>``, or none for a T5 encoder) and one end token after them.

    Parameters
    ----------
    tokens : sequence of str
        All tokens in id order.
    cls, eos, pad, unk, mask : str or None
        The family's special tokens; ``cls`` None where nothing precedes the
        residues, ``mask`` None where the model has no mask token.
    residue_tokens : mapping of str to str, optional
        Residue letter -> the token it becomes (default: the letter itself).
        Letters that map to no token of the vocabulary become ``unk``.
    """

    def __init__(self, tokens: Sequence[str], *, cls: str | None = "<cls>", eos: str = "<eos>",
                 pad: str = "<pad>", unk: str | None = "<unk>", mask: str | None = MASK,
                 residue_tokens: Mapping[str, str] | None = None):
        self.tokens = tuple(tokens)
        self._index = {tok: i for i, tok in enumerate(self.tokens)}
        self.cls_idx = None if cls is None else self._index[cls]
        self.padding_idx = self._index[pad]
        self.eos_idx = self._index[eos]
        self.unk_idx = None if unk is None else self._index[unk]
        self.mask_idx = None if mask is None else self._index[mask]
        #: Token ids before the residues: ``(cls_idx,)``, or ``()``.
        self.prefix: tuple[int, ...] = () if self.cls_idx is None else (self.cls_idx,)
        # Residue letter (and <mask>) -> id, the way the family's tokenizer maps them.
        mapped = dict(residue_tokens or {})
        self._residue_ids: dict[str, int] = {}
        for letter in RESIDUES:
            token = mapped.get(letter, letter)
            if token in self._index:
                self._residue_ids[letter] = self._index[token]
            elif self.unk_idx is not None:
                self._residue_ids[letter] = self.unk_idx
        if self.mask_idx is not None:
            self._residue_ids[MASK] = self.mask_idx
        for letter, i in self._residue_ids.items():
            self._index.setdefault(letter, i)
        self.amino_acid_idx = tuple(self._residue_ids[a] for a in STANDARD_AMINO_ACIDS)
        # A sequence of upper-case letters this vocabulary maps (the usual FASTA record): one token per letter.
        self._plain = re.compile("[" + re.escape("".join(r for r in RESIDUES if r in self._residue_ids)) + "]+")
        #: What each id reads as in outputs: the residue letter (SentencePiece's '\u2581' dropped) or the token.
        self.display = tuple(t[1:] if t.startswith("\u2581") and len(t) == 2 else t for t in self.tokens)

    @classmethod
    def esm1b(cls) -> Alphabet:
        toks = [*SPECIAL_PREPEND, *RESIDUES]
        # fair-esm pads the vocabulary to a multiple of 8 before appending <mask>.
        toks += [f"<null_{i + 1}>" for i in range((8 - len(toks) % 8) % 8)]
        toks.append(MASK)
        return cls(toks)

    def __len__(self) -> int:
        return len(self.tokens)

    def index(self, token: str) -> int:
        """The id of a token, of a residue letter (as this vocabulary maps it) or of ``<mask>``."""
        return self._index[token]

    @property
    def specials(self) -> frozenset[int]:
        """Ids that are never residues: the prefix, the end token and padding."""
        return frozenset((*self.prefix, self.eos_idx, self.padding_idx))

    def tokenize(self, sequence: str) -> list[str]:
        """Split a sequence string into residue tokens.

        Whitespace anywhere is dropped, residues are uppercased, and ``<mask>``
        is kept as one token. This is the ESM vocabulary's own reading (it holds
        ``-`` and ``.``, as fair-esm's does); what a user may pass is checked first,
        for every family alike, by :func:`contacts.encoder.sequences.check_sequences`.

        Raises
        ------
        InvalidSequenceError
            For an empty sequence or a character outside the vocabulary; the
            message names the character and its 1-based residue position.
        """
        if not isinstance(sequence, str):
            raise TypeError(f"a sequence must be a str, got {type(sequence).__name__}")
        if self._plain.fullmatch(sequence):  # one scan in C instead of a regex match per character
            return list(sequence)
        out: list[str] = []
        for match in _TOKEN_RE.finditer(sequence):
            tok = match.group()
            if tok.isspace():
                continue
            if tok.startswith("<") and len(tok) > 1:
                if tok not in _USER_SPECIALS:
                    raise InvalidSequenceError(
                        f"token {tok!r} at residue position {len(out) + 1} is not allowed in a "
                        f"sequence; the only special token accepted is {MASK!r}"
                    )
                if self.mask_idx is None:
                    raise InvalidSequenceError(
                        f"{MASK} at residue position {len(out) + 1}: this model has no mask token"
                    )
                out.append(tok)
                continue
            tok = tok.upper()
            if tok not in RESIDUES:
                raise InvalidSequenceError(
                    f"character {match.group()!r} at residue position {len(out) + 1} "
                    f"(string offset {match.start()}) is not in the ESM alphabet "
                    f"({''.join(RESIDUES)} or {MASK})"
                )
            if tok not in self._residue_ids:
                raise InvalidSequenceError(
                    f"character {tok!r} at residue position {len(out) + 1} has no token in this "
                    "model's vocabulary, which has no unknown token either"
                )
            out.append(tok)
        if not out:
            raise InvalidSequenceError("empty sequence: it has no residues")
        return out

    def encode(self, sequence: str) -> list[int]:
        """Token ids of one sequence, with the prefix specials and the end token around the residues."""
        return self.ids(self.tokenize(sequence))

    def ids(self, residues: Sequence[str]) -> list[int]:
        """Token ids of already tokenized residues, with the prefix specials and the end token around them."""
        return [*self.prefix, *(self._residue_ids[t] for t in residues), self.eos_idx]

    def batch_encode(self, sequences: Sequence[str]) -> torch.Tensor:
        """Token ids of several sequences, right-padded with ``<pad>``.

        Returns
        -------
        tokens : Tensor, shape=(b, t), dtype=int64
        """
        return self.pad([self.encode(s) for s in sequences])

    def pad(self, encoded: Sequence[Sequence[int]]) -> torch.Tensor:
        """Right-pad lists of token ids with ``<pad>`` into one tensor, shape=(b, t)."""
        width = max(len(e) for e in encoded)
        tokens = torch.full((len(encoded), width), self.padding_idx, dtype=torch.long)
        for row, ids in zip(tokens, encoded):
            row[: len(ids)] = torch.tensor(ids)
        return tokens

    def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> list[str]:
        specials = self.specials
        return [self.display[i] for i in ids if not (skip_special and i in specials)]


ALPHABET = Alphabet.esm1b()
