"""Alignments -> coevolution contact scores: the field's reference baselines.

Two classic predictors from a multiple sequence alignment (A3M or aligned FASTA,
query first), each returning a symmetric (L, L) score map that every metric and
viewer takes like a model's prediction:

- :func:`mutual_information`: mutual information between columns with the
  average product correction (Dunn et al. 2008), the field's cheap baseline;
- :func:`potts_contacts`: a Potts model fitted by pseudo-likelihood to convergence
  (plmDCA: Ekeberg et al. 2013, 2014; CCMpred: Seemayer et al. 2014; GREMLIN:
  Kamisetty et al. 2013), in torch; contacts are the APC-corrected Frobenius norms
  of the zero-sum-gauge couplings.

Both use 21 states (20 amino acids and the gap; other letters count as gaps), the
same sequence weights (80 % identity) and the same gap filter (:func:`gap_filter`),
so the two are comparable. Both run where ``device=`` says (default the CPU); on a GPU
the Potts fit gives the CPU's scores to about 1e-6 (``bench/potts_device.py``).

Memory of the Potts fit, in float32 (4 bytes), with ``D = L q`` (q = 21) and
``P = L q + L (L - 1) / 2 q^2`` parameters (fields and one q x q block per pair):
about ``4 (2 m + 7) P`` bytes for the parameters, a trial point, their two gradients,
the search direction and ``m + 1`` slots of L-BFGS correction pairs (``history`` m = 5),
each allocated once; ``8 D^2`` for the dense coupling table and its gradient (and
``4 P`` for a copy of the pair blocks); and ``chunk_bytes`` (128 MiB) for one chunk of
at most ``c = chunk_bytes / (20 D)`` sequences (one-hot rows, logits, probabilities).
Only the ``N x L`` state indices (1 byte each) and the N weights grow with the number
of sequences: the sequences are streamed through the objective in chunks. For L = 368
that is about 2.0 GB + 0.7 GB + 0.13 GB, whatever N.
The sequence weights (blocks of 2048 x 2048 sequences) and the MI pair counts are
streamed the same way: no N x N or N x L q array is ever held.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from ..io.a3m import AlignmentError, read_alignment
from ..predictor.core import check_device

__all__ = [
    "ALPHABET",
    "AlignmentError",
    "LAMBDA_PAIR_FACTOR",
    "LAMBDA_SINGLE",
    "MAX_COLUMN_GAPS",
    "MAX_SEQUENCE_GAPS",
    "PottsFit",
    "apc_off_diagonal",
    "encode",
    "fit_potts",
    "frobenius_scores",
    "gap_filter",
    "mutual_information",
    "potts_contacts",
    "potts_objective",
    "read_alignment",
    "sequence_weights",
]

logger = logging.getLogger(__name__)

#: States: 20 amino acids, then the gap (index 20).
ALPHABET = "ARNDCQEGHILKMFPSTWYV-"
GAP = ALPHABET.index("-")
Q = len(ALPHABET)
_LOOKUP = np.full(256, GAP, dtype=np.uint8)
for _index, _letter in enumerate(ALPHABET):
    _LOOKUP[ord(_letter)] = _index
#: Identity above which two sequences count as one (Morcos et al.; plmDCA, GREMLIN, pydca's ``seqid=0.8``).
REWEIGHT_IDENTITY = 0.8
#: Columns with more than this fraction of gaps are left out (GREMLIN's ``gap_cutoff``).
MAX_COLUMN_GAPS = 0.5
#: Sequences with more than this fraction of gaps over the kept columns are left out (hhfilter ``-cov 50``).
MAX_SEQUENCE_GAPS = 0.5
#: Coupling penalty per pair, times (L - 1): CCMpred's ``lambda_pair = 0.2 (L - 1)``, pydca's plmDCA default.
LAMBDA_PAIR_FACTOR = 0.2
#: Field penalty: CCMpred's ``lambda_single``.
LAMBDA_SINGLE = 10.0
#: Float32 work for one chunk of sequences in the Potts fit and the MI sums.
CHUNK_BYTES = 128 * 2**20


def encode(sequences: list[str] | list[tuple[str, str]]) -> np.ndarray:
    """Aligned sequences -> state indices into :data:`ALPHABET`.

    Returns
    -------
    ndarray, shape=(N, L), dtype=uint8
    """
    rows = [s[1] if isinstance(s, tuple) else s for s in sequences]
    raw = np.frombuffer("".join(rows).upper().encode("ascii", errors="replace"), dtype=np.uint8)
    return rearrange(_LOOKUP[raw], "(n l) -> n l", n=len(rows))


def _one_hot(msa: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(n, L) states -> (n, L q) float32 one-hot rows."""
    states = torch.as_tensor(np.asarray(msa, dtype=np.int64)) if isinstance(msa, np.ndarray) else msa.long()
    return rearrange(F.one_hot(states, Q).float(), "n l a -> n (l a)")


def _device(device: str | torch.device | None) -> torch.device:
    """``device`` checked (a ValueError names what is wrong), the CPU when None."""
    return check_device(device) or torch.device("cpu")


def _chunk_rows(length: int, chunk_bytes: int, arrays: int) -> int:
    return max(1, chunk_bytes // (4 * arrays * length * Q))


def sequence_weights(msa: np.ndarray, identity: float = REWEIGHT_IDENTITY, chunk: int = 2048,
                     device: str | torch.device | None = None) -> np.ndarray:
    """Each sequence's weight: 1 / (number of sequences at least ``identity`` identical to it).

    Identity is the fraction of identical columns over the alignment length,
    gaps included (as in GREMLIN and pydca). Blocks of ``chunk`` x ``chunk``
    sequences are compared at a time, so memory stays ``O(chunk L q)``.

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int
    identity : float
        Threshold in (0, 1].
    chunk : int
        Sequences per block.
    device : str or torch.device, optional
        Where the comparisons run (default the CPU).

    Returns
    -------
    ndarray, shape=(N,), dtype=float64
        The sum is the effective number of sequences.
    """
    if not 0 < identity <= 1:
        raise ValueError(f"identity={identity} must be in (0, 1]")
    msa = np.asarray(msa)
    n, length = msa.shape
    states = torch.from_numpy(msa.astype(np.int64)).to(_device(device))
    counts = torch.zeros(n, dtype=torch.int64, device=states.device)
    threshold = identity * length - 1e-6
    with torch.no_grad():
        for a in range(0, n, chunk):
            rows = _one_hot(states[a : a + chunk])
            for b in range(0, n, chunk):
                same = rows @ _one_hot(states[b : b + chunk]).T
                counts[a : a + chunk] += (same >= threshold).sum(1)
    return 1.0 / counts.cpu().numpy().astype(np.float64)


def gap_filter(
    msa: np.ndarray,
    max_column_gaps: float = MAX_COLUMN_GAPS,
    max_sequence_gaps: float = MAX_SEQUENCE_GAPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Which sequences and columns the baselines use.

    Columns where more than ``max_column_gaps`` of the sequences have a gap are
    left out (GREMLIN's ``gap_cutoff = 0.5``); then sequences with more than
    ``max_sequence_gaps`` gaps over the kept columns (hhfilter's ``-cov``). The
    query (row 0) is always kept. ``1.0`` for either keeps everything, as plmDCA
    and CCMpred do. On the 21 shared structure + alignment pairs the default scored
    the best mean long-range P@L of the four filters compared (0.372, against 0.366
    keeping everything; ``bench/potts_device.py``, table in ``docs/evaluation.md``),
    though single proteins differ either way (2zx0: 0.185 against 0.256).

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int
    max_column_gaps, max_sequence_gaps : float
        Fractions in [0, 1].

    Returns
    -------
    rows : ndarray, shape=(N,), dtype=bool
    columns : ndarray, shape=(L,), dtype=bool
    """
    for name, value in (("max_column_gaps", max_column_gaps), ("max_sequence_gaps", max_sequence_gaps)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name}={value} must be in [0, 1]")
    gaps = np.asarray(msa) == GAP
    columns = gaps.mean(0) <= max_column_gaps
    if columns.sum() < 2:
        raise AlignmentError(
            f"only {int(columns.sum())} of {gaps.shape[1]} columns have at most {max_column_gaps:.0%} gaps; "
            "at least 2 are needed"
        )
    rows = gaps[:, columns].mean(1) <= max_sequence_gaps
    rows[0] = True
    return rows, columns


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


def _prepare(msa, weights, identity, max_column_gaps, max_sequence_gaps, device):
    """Encode, filter gaps, weight: (filtered msa, its weights, kept columns, alignment length)."""
    msa = encode(msa) if isinstance(msa, list) else np.asarray(msa)
    if msa.ndim != 2 or msa.shape[0] < 2:
        raise AlignmentError(f"an alignment of at least 2 sequences is needed; got shape {msa.shape}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (msa.shape[0],):
            raise ValueError(f"weights has shape {weights.shape}; the alignment has {msa.shape[0]} sequences")
    rows, columns = gap_filter(msa, max_column_gaps, max_sequence_gaps)
    kept = msa[rows][:, columns]
    weights = sequence_weights(kept, identity, device=device) if weights is None else weights[rows]
    return kept, weights, columns, msa.shape[1]


def _place(scores: np.ndarray, columns: np.ndarray, length: int) -> np.ndarray:
    """Kept-column scores -> (L, L); pairs with a left-out column rank last (the lowest kept score)."""
    if columns.all():
        return scores.astype(np.float32)
    kept = np.flatnonzero(columns)
    i, j = np.triu_indices(len(kept), 1)
    out = np.full((length, length), scores[i, j].min() if len(i) else 0.0)
    out[np.ix_(kept, kept)] = scores
    np.fill_diagonal(out, 0.0)
    return out.astype(np.float32)


def mutual_information(
    msa: np.ndarray | list,
    weights: np.ndarray | None = None,
    *,
    identity: float = REWEIGHT_IDENTITY,
    pseudocount: float = 0.05,
    correct: bool = True,
    max_column_gaps: float = MAX_COLUMN_GAPS,
    max_sequence_gaps: float = MAX_SEQUENCE_GAPS,
    chunk_bytes: int = CHUNK_BYTES,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Mutual information between alignment columns, APC-corrected.

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int, or list of aligned sequences
    weights : ndarray, shape=(N,), optional
        Default :func:`sequence_weights` at ``identity`` of the filtered alignment.
    pseudocount : float
        Fraction of uniform counts mixed into the frequencies, in [0, 1).
    correct : bool
        Apply the average product correction.
    max_column_gaps, max_sequence_gaps : float
        :func:`gap_filter`, the same as the Potts fit's.
    chunk_bytes : int
        Float32 work per chunk of sequences (the pair counts are summed chunk by chunk).
    device : str or torch.device, optional
        Where the sums run (default the CPU).

    Returns
    -------
    ndarray, shape=(L, L), dtype=float32
        Symmetric, zero diagonal; pairs with a left-out column get the lowest score.
    """
    if not 0 <= pseudocount < 1:
        raise ValueError(f"pseudocount={pseudocount} must be in [0, 1)")
    device = _device(device)
    msa, weights, columns, length = _prepare(msa, weights, identity, max_column_gaps, max_sequence_gaps, device)
    q = Q
    w = torch.from_numpy(weights / weights.sum()).to(device)
    states = torch.from_numpy(msa.astype(np.int64)).to(device)
    chunk = _chunk_rows(msa.shape[1], chunk_bytes, 2)
    with torch.no_grad():
        fi = torch.zeros(msa.shape[1] * q, dtype=torch.float64, device=device)
        fij = torch.zeros(msa.shape[1] * q, msa.shape[1] * q, dtype=torch.float64, device=device)
        for start in range(0, msa.shape[0], chunk):
            x = _one_hot(states[start : start + chunk]).double()
            wx = w[start : start + chunk, None] * x
            fi += wx.sum(0)
            fij.addmm_(x.T, wx)
        fi = rearrange(fi, "(l a) -> l a", a=q)
        fij = rearrange(fij, "(i a) (j b) -> i j a b", a=q, b=q)
        fi = (1 - pseudocount) * fi + pseudocount / q
        fij = (1 - pseudocount) * fij + pseudocount / q**2
        expected = fi[:, None, :, None] * fi[None, :, None, :]
        mi = torch.where(fij > 0, fij * torch.log(fij / expected), torch.zeros_like(fij)).sum((-1, -2)).cpu().numpy()
    np.fill_diagonal(mi, 0.0)
    return _place(apc_off_diagonal(mi) if correct else mi, columns, length)


@dataclass(frozen=True)
class PottsFit:
    """A fitted pseudo-likelihood Potts model.

    Attributes
    ----------
    fields : ndarray, shape=(L, 21)
    pairs : ndarray, shape=(P, 21, 21)
        ``pairs[p, a, b]`` is the coupling ``J_ij(a, b)`` of columns ``i = index[0, p] < j = index[1, p]``;
        ``P = L (L - 1) / 2``.
    index : ndarray, shape=(2, P)
        The column pair of each block, in ``np.triu_indices(L, 1)`` order.
    loss : list of float
        The objective (:func:`potts_objective`) after each accepted iteration, the first entry
        at the starting point; never increases.
    evaluations : int
        Objective and gradient evaluations.
    converged : bool
        Whether a stopping test (not the iteration bound) ended the fit.
    reason : str
    seconds : float
    """

    fields: np.ndarray
    pairs: np.ndarray
    index: np.ndarray
    loss: list = field(default_factory=list)
    evaluations: int = 0
    converged: bool = False
    reason: str = ""
    seconds: float = 0.0

    @property
    def couplings(self) -> np.ndarray:
        """The full symmetric table, shape=(L, 21, L, 21), zero on the diagonal blocks."""
        length = self.fields.shape[0]
        out = np.zeros((length, Q, length, Q), dtype=self.pairs.dtype)
        out[self.index[0], :, self.index[1], :] = self.pairs
        out[self.index[1], :, self.index[0], :] = np.swapaxes(self.pairs, 1, 2)
        return out


class _PseudoLikelihood:
    """Objective and gradient of the weighted, L2-regularized negative log pseudo-likelihood.

    ``f = (sum_n w_n sum_i -log P(x_ni | x_n,-i) + lambda_single |h|^2 + lambda_pair sum_{i<j} |J_ij|^2)
    / (Neff L)``, with all L conditionals of a chunk of sequences computed at once as one
    matrix product of their one-hot rows with the (L q, L q) coupling table (batched over columns).
    """

    def __init__(self, msa: np.ndarray, weights: np.ndarray, lambda_single: float, lambda_pair: float,
                 chunk_bytes: int, device: torch.device):
        self.n, self.length = msa.shape
        self.states = torch.from_numpy(np.ascontiguousarray(msa, dtype=np.uint8)).to(device)
        self.weights = torch.from_numpy(np.asarray(weights, dtype=np.float32)).to(device)
        self.lambda_single, self.lambda_pair = lambda_single, lambda_pair
        self.scale = 1.0 / (float(np.sum(weights)) * self.length)
        self.index = np.stack(np.triu_indices(self.length, 1))
        self.n_fields = self.length * Q
        # equal chunks, so no short last chunk re-reads the (D, D) gradient for a few rows
        chunks = -(-self.n // _chunk_rows(self.length, chunk_bytes, 5))
        self.chunk = -(-self.n // chunks)
        # pairs (i, j > i) of one i are contiguous in triu order
        sizes = np.arange(self.length - 1, -1, -1)
        ends = np.cumsum(sizes)
        self.rows = list(zip((ends - sizes).tolist(), ends.tolist()))
        size = self.length * Q
        self.buffer = {"table": torch.zeros(self.length, Q, self.length, Q, device=device),
                       "grad": torch.empty(size, size, device=device),
                       "lower": torch.empty(len(self.index[0]), Q, Q, device=device)}

    def split(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fields = theta[: self.n_fields].view(self.length, Q)
        pairs = theta[self.n_fields :].view(-1, Q, Q)
        return fields, pairs

    def table(self, pairs: torch.Tensor) -> torch.Tensor:
        """The (L q, L q) table of all couplings, both triangles, in a buffer reused across evaluations.

        Block copies with 21-float contiguous runs: a transposed add of the whole table
        (``U + U.T``) reads one side against the cache and costs several times more.
        """
        table = self.buffer["table"]  # (i a j b); the diagonal blocks stay zero
        swapped = pairs.transpose(1, 2).contiguous()  # J_ji = J_ij^T, block by block
        for i, (start, stop) in enumerate(self.rows):
            table[i, :, i + 1 :, :].copy_(pairs[start:stop].permute(1, 0, 2))  # (j a b) -> (a j b)
            table[i + 1 :, :, i, :].copy_(swapped[start:stop])  # (j b a)
        return rearrange(table, "i a j b -> (i a) (j b)")

    def pair_gradient(self, grad_table: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Gradient of the pairs from the table's: each J_ij sits at (i a, j b) and (j b, i a)."""
        blocks = rearrange(grad_table, "(i a) (j b) -> i a j b", a=Q, b=Q)
        lower = self.buffer["lower"]
        for i, (start, stop) in enumerate(self.rows):
            out[start:stop].copy_(blocks[i, :, i + 1 :, :].permute(1, 0, 2))  # (a j b) -> (j a b)
            lower[start:stop].copy_(blocks[i + 1 :, :, i, :])  # (j b a)
        return out.add_(lower.transpose(1, 2))

    def __call__(self, theta: torch.Tensor, grad: torch.Tensor) -> float:
        """The objective at ``theta``; its gradient is written into ``grad`` (same shape)."""
        fields, pairs = self.split(theta)
        table = self.table(pairs)
        grad_table = self.buffer["grad"]
        grad_fields = torch.zeros_like(fields)
        nll = torch.zeros((), dtype=torch.float64, device=theta.device)
        for start in range(0, self.n, self.chunk):
            states = self.states[start : start + self.chunk].long()
            w = self.weights[start : start + self.chunk]
            x = _one_hot(states)
            logits = rearrange(x @ table, "n (l a) -> n l a", a=Q) + fields
            logp = logits.log_softmax(-1)
            nll -= (logp.gather(-1, states[..., None])[..., 0].sum(-1) * w).sum()
            # d(-log P(x_i))/d logits = P - onehot(x_i), per sequence weight
            dlogits = logp.exp_().scatter_add_(-1, states[..., None], torch.full_like(states[..., None], -1.0, dtype=logp.dtype))
            dlogits.mul_(w[:, None, None])
            grad_fields += dlogits.sum(0)
            grad_table.addmm_(x.T, rearrange(dlogits, "n l a -> n (l a)"), beta=1 if start else 0)
        grad_h, grad_pairs = self.split(grad)
        self.pair_gradient(grad_table, grad_pairs)
        grad_h.copy_(grad_fields)
        field_values, pair_values = theta[: self.n_fields], theta[self.n_fields :]
        value = (float(nll) + self.lambda_single * float(field_values @ field_values)
                 + self.lambda_pair * float(pair_values @ pair_values))
        grad[: self.n_fields].add_(field_values, alpha=2 * self.lambda_single)
        grad[self.n_fields :].add_(pair_values, alpha=2 * self.lambda_pair)
        grad.mul_(self.scale)
        return value * self.scale


class _Corrections:
    """The last ``m`` L-BFGS correction pairs ``(s, y)``, in preallocated slots.

    One slot more than ``m``: a new pair is written into a free slot and only then
    replaces the oldest, so a pair refused by the curvature test costs nothing.
    """

    def __init__(self, m: int, size: int, device: torch.device):
        self.m = m
        self.s = torch.empty(m + 1, size, device=device)
        self.y = torch.empty(m + 1, size, device=device)
        self.order: list[int] = []  # slots in use, oldest first
        self.rho = [0.0] * (m + 1)  # 1 / (y . s) per slot
        self.yy = [0.0] * (m + 1)

    def free(self) -> int:
        return next(k for k in range(self.m + 1) if k not in self.order)

    def push(self, slot: int, sy: float, yy: float) -> None:
        if len(self.order) == self.m:
            self.order.pop(0)
        self.order.append(slot)
        self.rho[slot], self.yy[slot] = 1.0 / sy, yy

    def clear(self) -> None:
        self.order.clear()

    def direction(self, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """-H grad into ``out`` (Nocedal & Wright, Algorithm 7.4, the two-loop recursion)."""
        q = out.copy_(grad)
        alphas = []
        for k in reversed(self.order):
            alpha = self.rho[k] * float(self.s[k] @ q)
            q.add_(self.y[k], alpha=-alpha)
            alphas.append(alpha)
        if self.order:
            last = self.order[-1]
            q.mul_(1.0 / (self.rho[last] * self.yy[last]))
        for k, alpha in zip(self.order, reversed(alphas)):
            beta = self.rho[k] * float(self.y[k] @ q)
            q.add_(self.s[k], alpha=alpha - beta)
        return q.neg_()


def fit_potts(
    msa: np.ndarray | list,
    weights: np.ndarray | None = None,
    *,
    identity: float = REWEIGHT_IDENTITY,
    lambda_single: float = LAMBDA_SINGLE,
    lambda_pair_factor: float = LAMBDA_PAIR_FACTOR,
    max_iterations: int = 300,
    tolerance: float = 1e-4,
    gradient_tolerance: float = 1e-5,
    history: int = 5,
    chunk_bytes: int = CHUNK_BYTES,
    device: str | torch.device | None = None,
) -> PottsFit:
    """Fit a Potts model to all sequences of an alignment by weighted pseudo-likelihood.

    Minimises, over fields ``h`` (L, q) and symmetric couplings ``J_ij`` (q x q per pair),

    ``f = [sum_n w_n sum_i -log P(x_ni | x_n,-i) + lambda_single |h|^2 + lambda_pair sum_{i<j} |J_ij|^2] / (Neff L)``

    - all N sequences (no subsampling), weighted ``w_n`` = 1 / (neighbours at 80 % identity),
      ``Neff = sum w`` (plmDCA, GREMLIN);
    - ``lambda_pair = 0.2 (L - 1)`` per pair and ``lambda_single = 10``: CCMpred's defaults
      (pydca's plmDCA takes the same ``lambda_J``); dividing by ``Neff L`` only rescales;
    - L-BFGS (Nocedal & Wright; ``history`` = 5 correction pairs as pydca's plmDCA) with a
      backtracking Armijo line search: every accepted step lowers ``f``, and ``f`` is strictly
      convex (log-sum-exp plus L2), so the fit converges to its unique minimum and cannot
      diverge. Stops when ``f`` fell by less than ``tolerance`` (relative) over the last 5
      iterations (libLBFGS's ``delta`` test, ``past = 5``), when ``|grad| / max(1, |theta|) <
      gradient_tolerance`` (libLBFGS's ``epsilon`` test) or after ``max_iterations``;
    - float32, fields started at the log frequencies, couplings at zero.

    The input is fitted as given: :func:`potts_contacts` applies :func:`gap_filter` first.

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int, or list of aligned sequences
    weights : ndarray, shape=(N,), optional
        Default :func:`sequence_weights` at ``identity``.
    lambda_single : float
    lambda_pair_factor : float
        ``lambda_pair = lambda_pair_factor * (L - 1)``.
    max_iterations : int
        Bound on L-BFGS iterations.
    tolerance, gradient_tolerance : float
        The stopping tests above; 0 switches a test off.
    history : int
        L-BFGS correction pairs kept (memory: see the module docstring).
    chunk_bytes : int
        Float32 work per chunk of sequences.
    device : str or torch.device, optional
        Where the fit runs (default the CPU); ``"cuda"`` puts the parameters, the L-BFGS
        history and the sequences on the GPU (the memory of the module docstring).

    Returns
    -------
    PottsFit
    """
    msa = encode(msa) if isinstance(msa, list) else np.asarray(msa)
    if msa.ndim != 2 or msa.shape[0] < 2:
        raise AlignmentError(f"an alignment of at least 2 sequences is needed; got shape {msa.shape}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations={max_iterations} must be at least 1")
    if history < 1:
        raise ValueError(f"history={history} must be at least 1")
    device = _device(device)
    if weights is None:
        weights = sequence_weights(msa, identity, device=device)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (msa.shape[0],):
        raise ValueError(f"weights has shape {weights.shape}; the alignment has {msa.shape[0]} sequences")
    # identical sequences give identical terms: one row each, their weights summed
    msa, inverse = np.unique(msa, axis=0, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=weights, minlength=len(msa))
    length = msa.shape[1]
    start = time.perf_counter()
    objective = _PseudoLikelihood(msa, weights, lambda_single, lambda_pair_factor * (length - 1), chunk_bytes, device)

    freq = np.zeros((length, Q))
    np.add.at(freq, (np.tile(np.arange(length), len(msa)), msa.ravel()), np.repeat(weights, length))
    fields = np.log(freq / weights.sum() + 0.01)
    theta = torch.zeros(objective.n_fields + len(objective.index[0]) * Q * Q, device=device)
    theta[: objective.n_fields] = torch.from_numpy(fields - fields.mean(1, keepdims=True)).float().flatten().to(device)

    with torch.no_grad():
        # every vector of the iteration lives in a buffer allocated once (see the module docstring)
        grad, trial, new_grad, direction = (torch.empty_like(theta) for _ in range(4))
        corrections = _Corrections(history, theta.numel(), device)
        value = objective(theta, grad)
        evaluations, losses = 1, [value]
        converged, reason = False, f"max_iterations={max_iterations} reached"
        for iteration in range(max_iterations):
            corrections.direction(grad, out=direction)
            slope = float(grad @ direction)
            if slope >= 0:  # not a descent direction (rounding): restart from steepest descent
                corrections.clear()
                direction.copy_(grad).neg_()
                slope = -float(grad @ grad)
            step = 1.0 if corrections.order else min(1.0, 1.0 / float(grad.norm()))  # first step: unit length
            for _ in range(30):
                torch.add(theta, direction, alpha=step, out=trial)
                new_value = objective(trial, new_grad)
                evaluations += 1
                if new_value <= value + 1e-4 * step * slope:
                    break
                # minimum of the quadratic through f(0), f'(0), f(step), kept in [0.1, 0.5] step
                curvature = new_value - value - slope * step
                step *= min(0.5, max(0.1, -slope * step / (2 * curvature))) if curvature > 0 else 0.5
            else:
                reason = "line search found no decrease (at the float32 resolution of the objective)"
                converged = True
                break
            slot = corrections.free()
            s, y = torch.sub(trial, theta, out=corrections.s[slot]), torch.sub(new_grad, grad, out=corrections.y[slot])
            sy, yy = float(s @ y), float(y @ y)
            if sy > 1e-10 * yy:
                corrections.push(slot, sy, yy)
            theta, trial, grad, new_grad, value = trial, theta, new_grad, grad, new_value
            losses.append(value)
            logger.debug("potts iteration %d: objective %.6f, %d evaluations", iteration + 1, value, evaluations)
            if tolerance > 0 and len(losses) > 5 and losses[-6] - value < tolerance * abs(value):
                converged, reason = True, f"objective fell by less than {tolerance:g} (relative) over 5 iterations"
                break
            if gradient_tolerance > 0 and float(grad.norm()) < gradient_tolerance * max(1.0, float(theta.norm())):
                converged, reason = True, f"|grad| / max(1, |theta|) < {gradient_tolerance:g}"
                break
    fields_out, pairs_out = objective.split(theta)
    seconds = time.perf_counter() - start
    logger.info("potts fit L=%d N=%d (unique) Neff=%.0f: %d iterations, %d evaluations, objective %.5f, %.1f s; %s",
                length, len(msa), weights.sum(), len(losses) - 1, evaluations, value, seconds, reason)
    return PottsFit(fields=fields_out.cpu().numpy().copy(), pairs=pairs_out.cpu().numpy().copy(), index=objective.index,
                    loss=losses, evaluations=evaluations, converged=converged, reason=reason, seconds=seconds)


def potts_objective(
    fit: PottsFit,
    msa: np.ndarray,
    weights: np.ndarray,
    *,
    lambda_single: float = LAMBDA_SINGLE,
    lambda_pair_factor: float = LAMBDA_PAIR_FACTOR,
) -> float:
    """The objective of :func:`fit_potts` at a fit's parameters, in float64, from the full coupling table.

    A second, plain computation (one-hot rows times the whole table), to check fits against.
    """
    msa = np.asarray(msa)
    length = msa.shape[1]
    h = torch.from_numpy(fit.fields.astype(np.float64))
    table = torch.from_numpy(rearrange(fit.couplings.astype(np.float64), "i a j b -> (i a) (j b)"))
    x = _one_hot(msa).double()
    logits = rearrange(x @ table, "n (l a) -> n l a", a=Q) + h
    logp = logits.log_softmax(-1).gather(-1, torch.from_numpy(msa.astype(np.int64))[..., None])[..., 0]
    w = torch.from_numpy(np.asarray(weights, dtype=np.float64))
    nll = -(logp.sum(-1) * w).sum()
    penalty = lambda_single * (h**2).sum() + lambda_pair_factor * (length - 1) * float((fit.pairs.astype(np.float64) ** 2).sum())
    return float((nll + penalty) / (w.sum() * length))


def frobenius_scores(fit: PottsFit) -> np.ndarray:
    """APC-corrected Frobenius norms of the couplings, in the zero-sum gauge.

    Each 20 x 20 amino-acid block (gap state left out) is centred, ``J - row means -
    column means + mean`` (the zero-sum gauge, as pydca's plmDCA does before the
    norm), then ``APC(|J_ij|_F)`` (:func:`apc_off_diagonal`; Ekeberg et al. 2013).

    Returns
    -------
    ndarray, shape=(L, L), dtype=float64
        Symmetric, zero diagonal.
    """
    block = fit.pairs[:, :GAP, :GAP].astype(np.float64)
    block = block - block.mean(1, keepdims=True) - block.mean(2, keepdims=True) + block.mean((1, 2), keepdims=True)
    length = fit.fields.shape[0]
    norms = np.zeros((length, length))
    norms[fit.index[0], fit.index[1]] = np.sqrt((block**2).sum((1, 2)))
    norms += norms.T
    return apc_off_diagonal(norms)


def potts_contacts(
    msa: np.ndarray | list,
    weights: np.ndarray | None = None,
    *,
    identity: float = REWEIGHT_IDENTITY,
    max_column_gaps: float = MAX_COLUMN_GAPS,
    max_sequence_gaps: float = MAX_SEQUENCE_GAPS,
    device: str | torch.device | None = None,
    **fit_options,
) -> np.ndarray:
    """Contact scores from a pseudo-likelihood Potts model (:func:`fit_potts`, :func:`frobenius_scores`).

    Parameters
    ----------
    msa : ndarray, shape=(N, L), dtype=int, or list of aligned sequences
    weights : ndarray, shape=(N,), optional
        Default :func:`sequence_weights` at ``identity`` of the filtered alignment.
    max_column_gaps, max_sequence_gaps : float
        :func:`gap_filter`, the same as :func:`mutual_information`'s.
    device : str or torch.device, optional
        Where the weights and the fit run (default the CPU).
    **fit_options
        Passed to :func:`fit_potts` (``max_iterations``, ``tolerance``, ...).

    Returns
    -------
    ndarray, shape=(L, L), dtype=float32
        Symmetric, zero diagonal; pairs with a left-out column get the lowest score.
    """
    device = _device(device)
    msa, weights, columns, length = _prepare(msa, weights, identity, max_column_gaps, max_sequence_gaps, device)
    fit = fit_potts(msa, weights, device=device, **fit_options)
    return _place(frobenius_scores(fit), columns, length)
