"""Alignments -> coevolution contact scores: the field's reference baselines.

Two classic predictors from a multiple sequence alignment (A3M or aligned FASTA,
query first), each returning a symmetric (L, L) score map that every metric and
viewer takes like a model's prediction:

- :func:`mutual_information`: mutual information between columns with the
  average product correction (Dunn et al. 2008);
- :func:`potts_contacts`: a Potts model fitted by pseudo-likelihood
  (GREMLIN: Balakrishnan et al. 2011, Kamisetty et al. 2013), in torch, with
  sequences reweighted at 80 % identity and L2 regularization; contacts are the
  APC-corrected Frobenius norms of the couplings.

Both use 21 states (20 amino acids and the gap; other letters count as gaps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..io.a3m import AlignmentError, read_alignment

__all__ = [
    "ALPHABET",
    "AlignmentError",
    "apc_off_diagonal",
    "encode",
    "fit_potts",
    "PottsFit",
    "mutual_information",
    "potts_contacts",
    "read_alignment",
    "sequence_weights",
]

#: States: 20 amino acids, then the gap (index 20).
ALPHABET = "ARNDCQEGHILKMFPSTWYV-"
GAP = ALPHABET.index("-")
_LOOKUP = np.full(256, GAP, dtype=np.uint8)
for _index, _letter in enumerate(ALPHABET):
    _LOOKUP[ord(_letter)] = _index
#: Identity above which two sequences count as one (Morcos et al.; GREMLIN).
REWEIGHT_IDENTITY = 0.8


def encode(sequences: list[str] | list[tuple[str, str]]) -> np.ndarray:
    """Aligned sequences -> state indices into :data:`ALPHABET`.

    Returns
    -------
    ndarray, shape=(N, L), dtype=uint8
    """
    rows = [s[1] if isinstance(s, tuple) else s for s in sequences]
    raw = np.frombuffer("".join(rows).upper().encode("ascii", errors="replace"), dtype=np.uint8)
    return rearrange(_LOOKUP[raw], "(n l) -> n l", n=len(rows))


def _one_hot(msa: np.ndarray) -> torch.Tensor:
    x = F.one_hot(torch.from_numpy(msa.astype(np.int64)), len(ALPHABET)).float()
    return rearrange(x, "n l a -> n (l a)")


def sequence_weights(msa: np.ndarray, identity: float = REWEIGHT_IDENTITY, chunk: int = 2048) -> np.ndarray:
    """Each sequence's weight: 1 / (number of sequences at least ``identity`` identical to it).

    Identity is the fraction of identical columns over the alignment length,
    gaps included (as in GREMLIN).

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int
    identity : float
        Threshold in (0, 1].

    Returns
    -------
    ndarray, shape=(N,), dtype=float64
        The sum is the effective number of sequences.
    """
    if not 0 < identity <= 1:
        raise ValueError(f"identity={identity} must be in (0, 1]")
    n, length = msa.shape
    x = _one_hot(msa)
    counts = np.empty(n)
    with torch.no_grad():
        for start in range(0, n, chunk):
            same = x[start : start + chunk] @ x.T
            counts[start : start + chunk] = (same >= identity * length - 1e-6).sum(1).numpy()
    return 1.0 / counts


def apc_off_diagonal(scores: np.ndarray) -> np.ndarray:
    """Average product correction of a symmetric (L, L) map, means over the L - 1 off-diagonal entries.

    Dunn et al.'s MI-APC and GREMLIN average each column over the other residues
    only, and the result's diagonal is zeroed. :func:`contacts.features.apc`
    (attention maps, as fair-esm) averages over all L entries instead: the two differ
    by the factors (L - 1) / L, so they are two functions with two names.
    """
    scores = np.asarray(scores, dtype=np.float64)
    col = scores.sum(0, keepdims=True) / (scores.shape[0] - 1)
    total = scores.sum() / (scores.shape[0] * (scores.shape[0] - 1))
    out = scores - col.T * col / total
    np.fill_diagonal(out, 0.0)
    return out


def _prepare(msa, weights, identity):
    msa = encode(msa) if isinstance(msa, list) else np.asarray(msa)
    if msa.ndim != 2 or msa.shape[0] < 2:
        raise AlignmentError(f"an alignment of at least 2 sequences is needed; got shape {msa.shape}")
    if weights is None:
        weights = sequence_weights(msa, identity)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (msa.shape[0],):
        raise ValueError(f"weights has shape {weights.shape}; the alignment has {msa.shape[0]} sequences")
    return msa, weights


def mutual_information(
    msa: np.ndarray | list,
    weights: np.ndarray | None = None,
    *,
    identity: float = REWEIGHT_IDENTITY,
    pseudocount: float = 0.05,
    correct: bool = True,
) -> np.ndarray:
    """Mutual information between alignment columns, APC-corrected.

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int, or list of aligned sequences
    weights : ndarray, shape=(N,), optional
        Default :func:`sequence_weights` at ``identity``.
    pseudocount : float
        Fraction of uniform counts mixed into the frequencies, in [0, 1).
    correct : bool
        Apply the average product correction.

    Returns
    -------
    ndarray, shape=(L, L), dtype=float32
        Symmetric, zero diagonal.
    """
    if not 0 <= pseudocount < 1:
        raise ValueError(f"pseudocount={pseudocount} must be in [0, 1)")
    msa, weights = _prepare(msa, weights, identity)
    q = len(ALPHABET)
    x = _one_hot(msa).double()
    w = torch.from_numpy(weights / weights.sum())
    with torch.no_grad():
        fi = rearrange((w[:, None] * x).sum(0), "(l a) -> l a", a=q)
        fij = rearrange(x.T @ (w[:, None] * x), "(i a) (j b) -> i j a b", a=q, b=q)
        fi = (1 - pseudocount) * fi + pseudocount / q
        fij = (1 - pseudocount) * fij + pseudocount / q**2
        expected = fi[:, None, :, None] * fi[None, :, None, :]
        mi = torch.where(fij > 0, fij * torch.log(fij / expected), torch.zeros_like(fij)).sum((-1, -2)).numpy()
    np.fill_diagonal(mi, 0.0)
    return (apc_off_diagonal(mi) if correct else mi).astype(np.float32)


@dataclass(frozen=True)
class PottsFit:
    """A fitted pseudo-likelihood Potts model.

    Attributes
    ----------
    fields : ndarray, shape=(L, 21)
    couplings : ndarray, shape=(L, 21, L, 21)
        Symmetric, zero on the diagonal blocks.
    loss : list of float
        Objective per iteration (per effective sequence).
    """

    fields: np.ndarray
    couplings: np.ndarray
    loss: list


def fit_potts(
    msa: np.ndarray | list,
    weights: np.ndarray | None = None,
    *,
    identity: float = REWEIGHT_IDENTITY,
    iterations: int = 50,
    learning_rate: float = 0.1,
    lambda_fields: float = 0.01,
    lambda_couplings: float = 0.01,
    max_sequences: int | None = 1000,
    seed: int = 0,
) -> PottsFit:
    """Fit a Potts model to an alignment by weighted pseudo-likelihood (GREMLIN-style).

    The objective, per effective sequence, is the weighted negative
    log pseudo-likelihood plus ``lambda_fields * |h|^2`` and
    ``lambda_couplings * (L - 1) * (q - 1) / 2 * |J|^2`` (GREMLIN's scaling),
    minimised with Adam from fields set to the log column frequencies.

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int, or list of aligned sequences
    weights : ndarray, shape=(N,), optional
        Default :func:`sequence_weights` at ``identity``.
    iterations : int
        Adam steps over the whole (sub)alignment.
    learning_rate : float
    lambda_fields, lambda_couplings : float
        L2 strengths.
    max_sequences : int, optional
        Fit on the query and a random subset of at most this many sequences
        (their weights scaled so the effective number is kept); None for all.
        The cost of a step grows with N * L^2 * q.
    seed : int
        For the subset.
    """
    msa, weights = _prepare(msa, weights, identity)
    if iterations < 1:
        raise ValueError(f"iterations={iterations} must be at least 1")
    n_eff = weights.sum()
    if max_sequences is not None and msa.shape[0] > max_sequences:
        rng = np.random.default_rng(seed)
        keep = np.concatenate([[0], 1 + rng.choice(msa.shape[0] - 1, max_sequences - 1, replace=False)])
        msa, weights = msa[keep], weights[keep] * n_eff / weights[keep].sum()
    n, length = msa.shape
    q = len(ALPHABET)
    states = torch.from_numpy(msa.astype(np.int64))
    bag = states + torch.arange(length) * q  # row of the coupling table for (column j, state x_nj)
    w = torch.from_numpy(weights).float()
    freq = torch.zeros(length, q).index_put_((torch.arange(length).repeat(n), states.flatten()),
                                             w.repeat_interleave(length), accumulate=True)
    fields = torch.log(freq / w.sum() + 0.01).requires_grad_(True)
    # The couplings stay symmetric with zero diagonal blocks because their gradient is made so
    # (Adam's update is elementwise): no per-step symmetrization or masking of the D x D table.
    coupling = torch.zeros(length * q, length * q, requires_grad=True)
    blocks = torch.arange(length)
    lam_w = lambda_couplings * (length - 1) * (q - 1) / 2
    total = w.sum()
    optimizer = torch.optim.Adam([
        {"params": [fields], "weight_decay": 2 * lambda_fields / float(total)},
        {"params": [coupling], "weight_decay": 2 * lam_w / float(total)},
    ], lr=learning_rate, fused=True)
    losses = []
    for _ in range(iterations):
        optimizer.zero_grad(set_to_none=True)
        logits = F.embedding_bag(bag, coupling, mode="sum")  # (n, L*q): sum_j J[(j, x_nj), (i, a)]
        logits = rearrange(logits, "n (l a) -> n l a", a=q) + fields
        nll = -(logits.log_softmax(-1).gather(-1, states[..., None])[..., 0].sum(-1) * w).sum() / total
        nll.backward()
        with torch.no_grad():
            grad = coupling.grad
            grad.add_(grad.T.clone()).mul_(0.5)
            rearrange(grad, "(i a) (j b) -> i a j b", a=q, b=q)[blocks, :, blocks, :] = 0.0
            penalty = (lambda_fields * fields.pow(2).sum() + lam_w * coupling.pow(2).sum()) / total
        optimizer.step()
        losses.append(nll.item() + penalty.item())
    with torch.no_grad():
        coupling = rearrange(coupling.detach(), "(i a) (j b) -> i a j b", a=q, b=q)
    return PottsFit(fields=fields.detach().numpy(), couplings=coupling.numpy(), loss=losses)


def potts_contacts(
    msa: np.ndarray | list,
    weights: np.ndarray | None = None,
    **fit_options,
) -> np.ndarray:
    """Contact scores from a pseudo-likelihood Potts model: APC(Frobenius norm of J_ij).

    The norm is over the 20 x 20 amino-acid block of each coupling (gap states
    left out, as GREMLIN does).

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int, or list of aligned sequences
    weights : ndarray, shape=(N,), optional
    **fit_options
        Passed to :func:`fit_potts` (``iterations``, ``max_sequences``, ...).

    Returns
    -------
    ndarray, shape=(L, L), dtype=float32
        Symmetric, zero diagonal.
    """
    fit = fit_potts(msa, weights, **fit_options)
    block = fit.couplings[:, :GAP, :, :GAP]
    norms = np.sqrt((block.astype(np.float64) ** 2).sum((1, 3)))
    np.fill_diagonal(norms, 0.0)
    return apc_off_diagonal(norms).astype(np.float32)
