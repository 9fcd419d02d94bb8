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
from collections.abc import Sequence

import torch

SPECIAL_PREPEND = ("<cls>", "<pad>", "<eos>", "<unk>")
RESIDUES = tuple("LAGVSERTIDPKQNFYMHWCXBUZO.-")
STANDARD_AMINO_ACIDS = tuple("ACDEFGHIKLMNPQRSTVWY")
MASK = "<mask>"

# Special tokens a user may write inside a sequence string.
_USER_SPECIALS = (MASK,)
_TOKEN_RE = re.compile(r"<[^<>]*>|.", re.DOTALL)


class InvalidSequenceError(ValueError):
    """A sequence holds something that is not in the ESM vocabulary, or nothing at all."""


class SequenceTooLongError(ValueError):
    """A sequence has more residues than one forward pass of the model takes."""


class Alphabet:
    """The ESM-1b vocabulary: token strings, ids and the special indices.

    Parameters
    ----------
    tokens : sequence of str
        All tokens in id order.
    """

    def __init__(self, tokens: Sequence[str]):
        self.tokens = tuple(tokens)
        self._index = {tok: i for i, tok in enumerate(self.tokens)}
        self.cls_idx = self._index["<cls>"]
        self.padding_idx = self._index["<pad>"]
        self.eos_idx = self._index["<eos>"]
        self.unk_idx = self._index["<unk>"]
        self.mask_idx = self._index[MASK]
        self.amino_acid_idx = tuple(self._index[a] for a in STANDARD_AMINO_ACIDS)

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
        return self._index[token]

    def tokenize(self, sequence: str) -> list[str]:
        """Split a sequence string into residue tokens.

        Whitespace anywhere is dropped, residues are uppercased, and ``<mask>``
        is kept as one token.

        Raises
        ------
        InvalidSequenceError
            For an empty sequence or a character outside the vocabulary; the
            message names the character and its 1-based residue position.
        """
        if not isinstance(sequence, str):
            raise TypeError(f"a sequence must be a str, got {type(sequence).__name__}")
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
                out.append(tok)
                continue
            tok = tok.upper()
            if tok not in RESIDUES:
                raise InvalidSequenceError(
                    f"character {match.group()!r} at residue position {len(out) + 1} "
                    f"(string offset {match.start()}) is not in the ESM alphabet "
                    f"({''.join(RESIDUES)} or {MASK})"
                )
            out.append(tok)
        if not out:
            raise InvalidSequenceError("empty sequence: it has no residues")
        return out

    def encode(self, sequence: str) -> list[int]:
        """Token ids of one sequence, with ``<cls>`` prepended and ``<eos>`` appended."""
        return self.ids(self.tokenize(sequence))

    def ids(self, residues: Sequence[str]) -> list[int]:
        """Token ids of already tokenized residues, with ``<cls>`` and ``<eos>`` around them."""
        return [self.cls_idx, *(self._index[t] for t in residues), self.eos_idx]

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
        specials = {self.cls_idx, self.padding_idx, self.eos_idx}
        return [self.tokens[i] for i in ids if not (skip_special and i in specials)]


ALPHABET = Alphabet.esm1b()
