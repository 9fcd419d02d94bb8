"""Contacts from a masked language model's own predictions: the categorical Jacobian.

Zhang, Wayment-Steele, Brixi, Wang, Kern and Ovchinnikov (PNAS 2024) read contacts out of
any masked language model with no trained regression: substitute residue ``i`` by each of
the 20 standard amino acids ``a`` (unmasked: the token of ``a`` in place of the wild
type), read the logits (pre-softmax) of the same 20 amino acids at every position ``j``,

    F[i, a, j, b] = logit of b at j with a at i,        shape=(L, 20, L, 20),

and score the pair ``(i, j)`` by the size of its 20 x 20 block. The Jacobian is
``F - f(wild type)`` (the paper's notebook writes ``f(wild type) - F``); centring over
``i`` removes that constant, so neither its sign nor a wild-type pass matters. Of the 20
substitutions at ``i`` the one equal to the wild type reproduces the wild-type logits
(the tests check it against :meth:`~contacts.predictor.Predictor.logits`).

**Centring.** ``center="iajb"`` (the default, as the paper's code) subtracts the mean over
each of the four axes in turn. With ``P_x`` the projection "minus the mean over x", the
result is ``C = P_i P_a P_j P_b F``; the projections commute, and expanding their product
gives the inclusion-exclusion sum over every marginal mean (``m_S``: the mean of ``F`` over
the axes in ``S``, broadcast back)::

    C = F - m_i - m_a - m_j - m_b + m_ia + m_ij + m_ib + m_aj + m_ab + m_jb
          - m_iaj - m_iab - m_ijb - m_ajb + m_iajb

``center="ab"`` centres each 20 x 20 block only: ``C = P_a P_b F``.

**Scores.** The Frobenius norm of each block, ``S[i, j] = ||C[i, :, j, :]||``, then, in
this order (the package's order for attention maps): symmetrized as ``(S + S^T) / 2``,
diagonal zeroed, APC (Dunn et al. 2008), diagonal zeroed again. The paper's notebook
applies APC before symmetrizing; ``docs/evaluation.md`` measures the difference.

**Memory.** Position ``i``'s 20 passes give its block-centred responses ``G_i = P_a P_b F[i]``
and their centring over ``j``, ``H_i = P_j G_i`` (shape (20, L, 20)), at once. Centring
over ``i`` needs ``N = mean_i H_i``, known only after the last position: ``C[i] = H_i - N``.
The norms of ``"iajb"`` therefore need every ``H_i`` until ``N`` is known, or the passes
twice. Chosen: ``H`` is held in host memory (``L x 20 x L x 20`` floats, 1,600 L^2 bytes in
float32: 26 MB at L = 128, 1.67 GB at L = 1022) while it fits ``hold_bytes`` (default 2 GiB,
:data:`~contacts.constants.JACOBIAN_HOLD_BYTES`: one run of the passes for every window of
ESM-1b); beyond it the passes run twice (the first accumulates ``N``, the second takes the
norms of ``H_i - N``), holding O(L x 20 x 20) per position in flight and costing twice the
forward passes. ``"ab"`` needs neither: each position's block becomes its row of norms as
soon as it is computed. The whole ``(L, 20, L, 20)`` tensor of logits is never made.

**Cost.** ``20 L`` forward passes per window of ``L`` residues (``40 L`` when the hold does
not fit), run ``max_tokens // (20 (L + specials))`` positions (all 20 substitutions of each)
to a batch, at least one position a batch, on the fused attention kernel (no maps are
made). Sequences longer than the model's limit are cut into overlapping windows as
:meth:`~contacts.predictor.Predictor.predict_contacts` does; each window's scores are made
on its own and averaged where windows overlap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from ..constants import JACOBIAN_CENTERS, JACOBIAN_HOLD_BYTES, MAX_TOKENS
from ..encoder.alphabet import STANDARD_AMINO_ACIDS
from ..encoder.family import NoLanguageModelHeadError
from ..encoder.sequences import check_sequences
from ..features import symmetrize
from ..io.progress import progress as progress_bar
from .batching import check_window, window_mean, windows
from .variants import MaskedLM

__all__ = ["CENTERS", "check_masked_lm", "held_bytes", "jacobian_contacts", "jacobian_norms", "jacobian_scores",
           "substitution_logits"]

CENTERS = JACOBIAN_CENTERS
_AA = len(STANDARD_AMINO_ACIDS)


def held_bytes(length: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes the ``"iajb"`` centring holds for a window of ``length`` residues: ``length x 20 x length x 20`` floats.

    >>> held_bytes(128)
    26214400
    """
    return length * _AA * length * _AA * torch.empty((), dtype=dtype).element_size()


def _exact_dtype(device: torch.device) -> torch.dtype:
    """Centring, sums and norms run in float64 (float32 on an Apple GPU, which has no float64).

    In float32 they move the scores by up to 3e-6 from the reference's; the arrays are
    400 L per position, nothing beside the forward pass that made them.
    """
    return torch.float32 if device.type == "mps" else torch.float64


def _output_dtype(predictor: MaskedLM) -> torch.dtype:
    """What the responses are held in and the scores returned as: float32, or float64 for a float64 model."""
    return torch.promote_types(next(predictor.model.parameters()).dtype, torch.float32)


@torch.inference_mode()
def substitution_logits(
    predictor: MaskedLM, residues: Sequence[str], *, max_tokens: int = MAX_TOKENS,
) -> Iterator[tuple[int, int, Tensor]]:
    """The logits of every substitution, a batch of positions at a time.

    Parameters
    ----------
    residues : sequence of str, length n
        The sequence as tokens (:meth:`Alphabet.tokenize`); at most the model's
        ``max_residues``.
    max_tokens : int
        Token budget of one batch: ``positions x 20 x (n + specials)``; at least one
        position (its 20 substitutions) a batch.

    Yields
    ------
    start, end : int
        The batch's positions, ``range(start, end)`` (0-based residues).
    logits : Tensor, shape=(end - start, 20, n, 20), on the model's device
        ``logits[k, a, j, b]``: the logit of amino acid ``b`` at residue ``j`` with
        residue ``start + k`` replaced by amino acid ``a`` (both in
        ``ACDEFGHIKLMNPQRSTVWY`` order); float64 (float32 on an Apple GPU).
    """
    alphabet = predictor.alphabet
    device = predictor.device
    lead = len(alphabet.prefix)
    n = len(residues)
    base = torch.tensor(alphabet.ids(residues), device=device)
    amino_acids = torch.tensor(alphabet.amino_acid_idx, device=device)
    per_batch = max(1, max_tokens // (_AA * len(base)))
    for start in range(0, n, per_batch):
        end = min(n, start + per_batch)
        k = end - start
        tokens = base.repeat(_AA * k, 1)
        # copy (k, a) puts amino acid a at residue start + k: one substitution per row, unmasked
        rows = torch.arange(_AA * k, device=device)
        columns = lead + torch.arange(start, end, device=device).repeat_interleave(_AA)
        tokens[rows, columns] = amino_acids.repeat(k)
        logits = predictor.model(tokens, padded=False).logits[:, lead : lead + n].index_select(-1, amino_acids)
        yield start, end, rearrange(logits.to(_exact_dtype(device)), "(k a) j b -> k a j b", a=_AA)


def _center_(responses: Tensor, axes: tuple[int, ...]) -> Tensor:
    """Subtract the mean over each axis in turn, in place (the projections commute: the order does not matter)."""
    for axis in axes:
        responses.sub_(responses.mean(axis, keepdim=True))
    return responses


def _norms(blocks: Tensor) -> Tensor:
    """Frobenius norm of each 20 x 20 block: (k, 20, n, 20) -> (k, n)."""
    return torch.linalg.vector_norm(blocks, dim=(1, 3))


@torch.inference_mode()
def jacobian_norms(
    predictor: MaskedLM,
    residues: Sequence[str],
    *,
    center: str = "iajb",
    max_tokens: int = MAX_TOKENS,
    hold_bytes: int = JACOBIAN_HOLD_BYTES,
    progress=None,
) -> Tensor:
    """Frobenius norms of the centred Jacobian's 20 x 20 blocks for one window (no symmetrizing, no APC).

    Parameters
    ----------
    residues : sequence of str, length n
        At most the model's ``max_residues`` (no windows here).
    center : {"iajb", "ab"}
    hold_bytes : int
        Host memory ``"iajb"`` may hold (:func:`held_bytes`) to run the passes once;
        beyond it they run twice.
    progress : progress bar (:func:`contacts.io.progress.progress`), optional
        Advanced by the forward passes as they complete.

    Returns
    -------
    norms : Tensor, shape=(n, n), on the model's device
        ``norms[i, j]``: the response at ``j`` to substitutions at ``i``; float64
        (float32 on an Apple GPU).
    """
    _check_center(center)
    n = len(residues)
    norms = None
    if center == "ab":
        for start, end, blocks in substitution_logits(predictor, residues, max_tokens=max_tokens):
            norms = _stack(norms, n, start, end, _norms(_center_(blocks, (1, 3))))
            _advance(progress, end - start)
        return norms
    # "iajb": H_i (each position's responses centred over a, b and j), their mean over i, then ||H_i - mean||
    device = predictor.device
    dtype = _output_dtype(predictor)
    total = torch.zeros(_AA, n, _AA, dtype=_exact_dtype(device), device=device)
    held = None
    if held_bytes(n, dtype) <= hold_bytes:
        held = torch.empty((n, _AA, n, _AA), dtype=dtype, pin_memory=device.type == "cuda")
    for start, end, blocks in substitution_logits(predictor, residues, max_tokens=max_tokens):
        _center_(blocks, (1, 3, 2))
        total += blocks.sum(0)
        if held is not None:
            held[start:end].copy_(blocks, non_blocking=True)
        _advance(progress, end - start)
    mean = total / n
    if held is not None:
        if device.type == "cuda":
            torch.cuda.current_stream(device).synchronize()  # the copies into pinned memory have landed
        mean = mean.cpu()
        step = max(1, (64 << 20) // max(1, held_bytes(n, dtype) // n))  # ~64 MB of temporaries at a time
        rows = [_norms(held[lo : lo + step].to(mean.dtype) - mean) for lo in range(0, n, step)]
        return torch.cat(rows).to(device)
    for start, end, blocks in substitution_logits(predictor, residues, max_tokens=max_tokens):
        norms = _stack(norms, n, start, end, _norms(_center_(blocks, (1, 3, 2)).sub_(mean)))
        _advance(progress, end - start)
    return norms


def check_masked_lm(predictor: MaskedLM) -> None:
    """Refuse, in one line, a model without a language-model head (a T5 encoder): it has no Jacobian."""
    if not predictor.model.has_lm_head:
        raise NoLanguageModelHeadError(
            f"{predictor.config.name} has no language-model head (an encoder only), so it has no "
            "categorical Jacobian; use the contact regression or a probe (contacts train-probe)"
        )


def _check_center(center: str) -> None:
    if center not in CENTERS:
        raise ValueError(f"center {center!r} is not one of {list(CENTERS)}")


def _stack(norms: Tensor | None, n: int, start: int, end: int, rows: Tensor) -> Tensor:
    if norms is None:
        norms = torch.empty((n, n), dtype=rows.dtype, device=rows.device)
    norms[start:end] = rows
    return norms


def _advance(progress, positions: int) -> None:
    if progress is not None:
        progress.update(_AA * positions)


def jacobian_scores(norms: Tensor, *, apc: bool = True) -> Tensor:
    """Block norms -> contact scores: symmetrized as ``(S + S^T) / 2``, diagonal zeroed, then APC (diagonal zeroed again).

    Parameters
    ----------
    norms : Tensor, shape=(n, n)

    Returns
    -------
    Tensor, shape=(n, n), symmetric, zero diagonal
    """
    scores = symmetrize(norms) / 2
    scores.fill_diagonal_(0)
    sums = scores.sum(-1)
    # APC divides by the sum of the map: a map of zeros (one residue) stays zeros
    if apc and bool(sums.sum() != 0):
        # the map is symmetric, so its row sums are its column sums: one outer product keeps it exactly symmetric
        scores -= torch.outer(sums, sums) / sums.sum()
        scores.fill_diagonal_(0)
    return scores


def jacobian_contacts(
    predictor: MaskedLM,
    sequences: str | Sequence[str],
    *,
    center: str = "iajb",
    apc: bool = True,
    max_tokens: int = MAX_TOKENS,
    window: int | None = None,
    overlap: int | None = None,
    hold_bytes: int = JACOBIAN_HOLD_BYTES,
    progress: bool = False,
) -> np.ndarray | list[np.ndarray]:
    """Contact scores from the categorical Jacobian of the masked language model (see the module's notes).

    Parameters
    ----------
    predictor : Predictor (or any :class:`~contacts.predictor.variants.MaskedLM`) with a language-model head
    sequences : str or sequence of str
    center : {"iajb", "ab"}
        Centre the (i, a, j, b) Jacobian over all four axes (the paper's code), or each
        20 x 20 block only.
    apc : bool
        Apply the average product correction (after symmetrizing).
    max_tokens : int
        Token budget of one batch of substitutions (at least one position's 20 a batch).
    window, overlap : int, optional
        Residues per window (default the model's limit, 1022 for ESM-1b) and shared by
        consecutive windows (default half the window), as for ``predict_contacts``.
    hold_bytes : int
        Host memory ``"iajb"`` may hold per window to run each substitution once
        (default 2 GiB); beyond it every pass runs twice. 0 always runs them twice.
    progress : bool
        Show a progress bar over the forward passes.

    Returns
    -------
    scores : ndarray, shape=(L, L), dtype=float32 (float64 for a float64 model), or a list of them
        Symmetric, zero diagonal; higher is more likely in contact. Scores are not
        probabilities, and their scale differs from model to model. For windowed
        sequences, the mean over the windows that hold both residues of a pair, NaN
        for pairs that no window holds.

    Raises
    ------
    NoLanguageModelHeadError
        The model has no language-model head (a T5 encoder).
    ValueError
        An unknown ``center``, or ``max_tokens``, ``hold_bytes``, ``window`` or
        ``overlap`` out of range.
    """
    check_masked_lm(predictor)
    _check_center(center)
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if hold_bytes < 0:
        raise ValueError(f"hold_bytes must be >= 0, got {hold_bytes}")
    window, overlap = check_window(window, overlap, predictor.config.max_residues)
    single = isinstance(sequences, str)
    seqs = [sequences] if single else list(sequences)
    # the input check every door shares, plain residues only: the Jacobian substitutes residues, unmasked
    residues = [predictor.alphabet.tokenize(s) for s in check_sequences(seqs, mask=False, stacklevel=3)]
    spans = [windows(len(r), window, overlap) for r in residues]
    dtype = _output_dtype(predictor)
    twice = [2 if center == "iajb" and held_bytes(hi - lo, dtype) > hold_bytes else 1 for s in spans for lo, hi in s]
    total = _AA * sum(r * (hi - lo) for r, (lo, hi) in zip(twice, (w for s in spans for w in s)))
    out = []
    with progress_bar(total=total, unit="pass", desc="categorical Jacobian", enable=progress) as bar:
        for res, spans_of in zip(residues, spans):
            parts = (
                ((lo, hi), jacobian_scores(
                    jacobian_norms(predictor, res[lo:hi], center=center, max_tokens=max_tokens,
                                   hold_bytes=hold_bytes, progress=bar),
                    apc=apc).to(dtype).cpu().numpy())
                for lo, hi in spans_of
            )
            out.append(window_mean(len(res), parts))
    return out[0] if single else out
