"""Variant effects from the masked language model (Meier et al. 2021, "ESM-1v").

A mutation is written ``A42G``: wild type, 1-based position, mutant. A multi-mutant
joins single mutations with ``:`` (``A42G:L50P``) and is scored additively, the sum
of its single-site scores. Two scores of one mutation at position ``i``:

* ``"masked_marginal"``: ``log p(mut) - log p(wt)`` at ``i`` with ``i`` replaced by
  ``<mask>``, one forward pass per mutated position (the paper's best-performing
  score for ESM-1b);
* ``"wt_marginal"``: the same difference read from one pass over the unmasked
  wild-type sequence.

Log-probabilities are a softmax over the full vocabulary, as in fair-esm's
``examples/variant-prediction/predict.py``, so scores match that script's.

Sequences longer than one forward pass (1022 residues for ESM-1b) are refused
with :class:`~contacts.encoder.alphabet.SequenceTooLongError`; nothing is windowed.

>>> model = contacts.Predictor.random("tiny")                     # doctest: +SKIP
>>> model.score_variants("MKTAYIAKQR", ["K2A", "K2A:T3S"])         # doctest: +SKIP
array([-0.41..., -0.13...])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ..constants import MAX_TOKENS, VARIANT_METHODS
from ..encoder.alphabet import STANDARD_AMINO_ACIDS, Alphabet, SequenceTooLongError
from ..encoder.config import ModelConfig
from ..io.progress import tqdm


class MaskedLM(Protocol):
    """What scoring needs of a model: a :class:`~contacts.predictor.Predictor` is one."""

    alphabet: Alphabet
    config: ModelConfig
    device: torch.device
    model: torch.nn.Module


METHODS = VARIANT_METHODS
SCAN_AMINO_ACIDS = STANDARD_AMINO_ACIDS
"""Column order of :func:`mutation_scan`'s table: the 20 standard amino acids, alphabetical."""

_MUTATION_RE = re.compile(r"([A-Z])(\d+)([A-Z])")


class MutationError(ValueError):
    """A mutation that cannot be read, or that does not fit the wild-type sequence."""


@dataclass(frozen=True)
class Mutation:
    """One substitution: ``wt`` at 1-based ``position`` becomes ``mt``."""

    wt: str
    position: int
    mt: str

    def __str__(self) -> str:
        return f"{self.wt}{self.position}{self.mt}"


def parse_mutations(text: str) -> tuple[Mutation, ...]:
    """Read ``A42G`` or a multi-mutant ``A42G:L50P``.

    The mutant residue must be one of the 20 standard amino acids; the wild type
    is any residue letter (it is checked against a sequence by :func:`check_mutations`).

    >>> parse_mutations("A42G:L50P")
    (Mutation(wt='A', position=42, mt='G'), Mutation(wt='L', position=50, mt='P'))
    """
    if not isinstance(text, str):
        raise TypeError(f"a mutation must be a str like 'A42G', got {type(text).__name__}")
    parts = text.strip().split(":")
    out = []
    for part in parts:
        match = _MUTATION_RE.fullmatch(part.strip())
        if match is None:
            raise MutationError(
                f"mutation {text!r}: {part!r} is not written as wild type, 1-based position, "
                "mutant in capitals (like 'A42G'; multi-mutants 'A42G:L50P')"
            )
        wt, position, mt = match.group(1), int(match.group(2)), match.group(3)
        if mt not in STANDARD_AMINO_ACIDS:
            raise MutationError(
                f"mutation {text!r}: mutant residue {mt!r} is not one of the 20 standard "
                f"amino acids ({''.join(STANDARD_AMINO_ACIDS)})"
            )
        out.append(Mutation(wt, position, mt))
    positions = [m.position for m in out]
    repeated = sorted({p for p in positions if positions.count(p) > 1})
    if repeated:
        raise MutationError(f"mutation {text!r} changes position(s) {repeated} more than once")
    return tuple(out)


def check_mutations(residues: Sequence[str], mutations: Sequence[Mutation], text: str = "") -> None:
    """Check positions and wild types against the sequence's residues.

    Raises
    ------
    MutationError
        Naming the position, the wild type the mutation expects and the residue found.
    """
    label = f"mutation {text!r}: " if text else ""
    for m in mutations:
        if not 1 <= m.position <= len(residues):
            raise MutationError(
                f"{label}position {m.position} is outside the sequence's 1..{len(residues)}"
            )
        found = residues[m.position - 1]
        if found != m.wt:
            raise MutationError(
                f"{label}position {m.position} holds {found!r} in the sequence, "
                f"not the wild type {m.wt!r} that {m} expects"
            )


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {list(METHODS)}")


def _residues(predictor: MaskedLM, sequence: str) -> list[str]:
    residues = predictor.alphabet.tokenize(sequence)
    limit = predictor.config.max_residues
    if len(residues) > limit:
        raise SequenceTooLongError(
            f"the sequence has {len(residues)} residues; {predictor.config.name} scores at most "
            f"{limit} in one forward pass (long sequences are not windowed)"
        )
    return residues


@torch.inference_mode()
def position_log_probs(
    predictor: MaskedLM,
    residues: Sequence[str],
    positions: Sequence[int],
    method: str = "masked_marginal",
    *,
    max_tokens: int = MAX_TOKENS,
    progress: bool = False,
) -> np.ndarray:
    """Log-probabilities over the vocabulary at chosen positions of one sequence.

    Parameters
    ----------
    residues : sequence of str
        The sequence as tokens (:meth:`Alphabet.tokenize`).
    positions : sequence of int
        0-based residue positions.
    method : {"masked_marginal", "wt_marginal"}
        ``"masked_marginal"`` masks each position in its own copy of the sequence;
        the copies run in batches of at most ``max_tokens`` tokens (at least one
        copy a batch). ``"wt_marginal"`` reads every position from one unmasked pass.
    progress : bool
        Show a progress bar over the masked copies.

    Returns
    -------
    log_probs : ndarray, shape=(len(positions), vocab), dtype=float64
    """
    _check_method(method)
    alphabet = predictor.alphabet
    ids = alphabet.ids(residues)
    base = torch.tensor([ids], device=predictor.device)
    cols = torch.tensor(positions, dtype=torch.long, device=predictor.device) + 1  # after <cls>
    if method == "wt_marginal":
        logits = predictor.model(base).logits[0, cols]
        return logits.float().log_softmax(-1).double().cpu().numpy()

    per_batch = max(1, max_tokens // len(ids))
    out = []
    with tqdm(total=len(positions), unit="pass", desc="masked marginals", disable=not progress) as bar:
        for chunk in torch.split(cols, per_batch):
            rows = torch.arange(len(chunk), device=predictor.device)
            tokens = base.repeat(len(chunk), 1)
            tokens[rows, chunk] = alphabet.mask_idx
            logits = predictor.model(tokens).logits[rows, chunk]
            out.append(logits.float().log_softmax(-1).double().cpu())
            bar.update(len(chunk))
    if not out:
        return np.zeros((0, len(alphabet)))
    return torch.cat(out).numpy()


def score_variants(
    predictor: MaskedLM,
    sequence: str,
    mutations: str | Sequence[str],
    method: str = "masked_marginal",
    *,
    max_tokens: int = MAX_TOKENS,
    progress: bool = False,
) -> float | np.ndarray:
    """Score substitutions by the masked LM's log-odds of mutant against wild type.

    Parameters
    ----------
    predictor : Predictor (or any :class:`MaskedLM`)
    sequence : str
        The wild-type sequence; at most ``config.max_residues`` residues (1022 for
        ESM-1b), longer ones raise :class:`SequenceTooLongError` (no windows).
    mutations : str or sequence of str
        ``"A42G"`` (1-based) or multi-mutants ``"A42G:L50P"`` (the sum of the
        single-site scores, each read with only its own position masked, as
        fair-esm's ``predict.py`` builds its table).
    method : {"masked_marginal", "wt_marginal"}
    max_tokens : int
        Token budget of one batch of masked copies.
    progress : bool
        Show a progress bar over the masked passes.

    Returns
    -------
    score : float for one mutation string, else ndarray, shape=(n,), dtype=float64
        ``log p(mut) - log p(wt)`` summed over the substitutions; higher is
        predicted fitter.

    Raises
    ------
    MutationError
        For an unreadable mutation, a position outside the sequence, or a wild type
        that differs from the sequence (the message names position, expected and found).
    """
    _check_method(method)
    single = isinstance(mutations, str)
    texts = [mutations] if single else list(mutations)
    residues = _residues(predictor, sequence)
    parsed = []
    for text in texts:
        muts = parse_mutations(text)
        check_mutations(residues, muts, text)
        parsed.append(muts)
    positions = sorted({m.position - 1 for muts in parsed for m in muts})
    log_probs = position_log_probs(
        predictor, residues, positions, method, max_tokens=max_tokens, progress=progress
    )
    row = {p: i for i, p in enumerate(positions)}
    index = predictor.alphabet.index
    scores = np.array([
        sum(log_probs[row[m.position - 1], index(m.mt)] - log_probs[row[m.position - 1], index(m.wt)]
            for m in muts)
        for muts in parsed
    ], dtype=np.float64)
    return float(scores[0]) if single else scores


def mutation_scan(
    predictor: MaskedLM,
    sequence: str,
    method: str = "masked_marginal",
    *,
    max_tokens: int = MAX_TOKENS,
    progress: bool = False,
) -> np.ndarray:
    """Every single substitution of a sequence, as a table.

    With ``"masked_marginal"`` this is L masked passes, batched by ``max_tokens``.

    Returns
    -------
    scores : ndarray, shape=(L, 20), dtype=float64
        ``scores[i, j]`` is ``log p(SCAN_AMINO_ACIDS[j]) - log p(wt)`` at residue
        ``i`` (0-based): the score of mutation ``f"{wt}{i + 1}{SCAN_AMINO_ACIDS[j]}"``.
        Wild-type entries are 0.
    """
    residues = _residues(predictor, sequence)
    log_probs = position_log_probs(
        predictor, residues, range(len(residues)), method, max_tokens=max_tokens, progress=progress
    )
    index = predictor.alphabet.index
    columns = [index(a) for a in SCAN_AMINO_ACIDS]
    wild = [index(r) for r in residues]
    return log_probs[:, columns] - log_probs[np.arange(len(residues)), wild][:, None]
