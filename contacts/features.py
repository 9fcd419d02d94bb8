"""Attention maps -> contact features: symmetrize, APC, and the streaming contact sum.

The contact regression of Rao et al. is linear in the 660 symmetrized,
APC-corrected maps, so its logit can be accumulated one layer at a time
(:class:`ContactAccumulator`) instead of materializing every map at once
(:func:`attention_features`, kept as the reference path).

The fused contact pass (:func:`contact_term`, compiled with ``torch.compile``) goes one
step further: it takes a layer's attention scores before the softmax and does the softmax,
the masking, symmetrization, APC and the weighted sum over heads in one compiled region,
so the float32 maps are never written to memory. It is used on CUDA by default; the
unfused path stays the reference and the fallback (``CONTACTS_FUSED``: :func:`fused_default`).
"""

from __future__ import annotations

import copy
import os
import warnings

import torch
from einops import einsum, rearrange
from torch import Tensor

#: ``1`` fuses the contact pass wherever ``torch.compile`` works, ``0`` never, ``auto`` (default) on CUDA.
FUSED_ENV = "CONTACTS_FUSED"


def _wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype sums are taken in: float32, or float64 for float64 input."""
    return torch.promote_types(dtype, torch.float32)


def symmetrize(x: Tensor) -> Tensor:
    """``x + x^T`` over the last two axes."""
    return x + x.transpose(-1, -2)


def apc(x: Tensor) -> Tensor:
    """Average product correction over the last two axes (Dunn et al. 2008).

    Parameters
    ----------
    x : Tensor, shape=(..., L, L)
        Zero rows and columns (padding) do not change the result on the rest.
    """
    a1 = x.sum(-1, keepdim=True)
    a2 = x.sum(-2, keepdim=True)
    a12 = x.sum((-1, -2), keepdim=True)
    return x - a1 * a2 / a12


def strip_special(attentions: Tensor, tokens: Tensor, eos_idx: int, lead: int = 1) -> Tensor:
    """Drop the special tokens' rows and columns, as fair-esm's contact head does.

    End-token (``<eos>``) rows and columns are zeroed (in a padded batch they sit
    inside the shorter sequences' padding), then the first ``lead`` positions (the
    start token: ``<cls>``, ``[CLS]``, ``<s>``; none for a T5 encoder) and the last
    one are cut.

    Parameters
    ----------
    attentions : Tensor, shape=(b, ..., t, t)
    tokens : Tensor, shape=(b, t)

    Returns
    -------
    Tensor, shape=(b, ..., t - 1 - lead, t - 1 - lead)
    """
    keep = tokens.ne(eos_idx).to(attentions)
    keep = rearrange(keep, "b i -> b i 1") * rearrange(keep, "b j -> b 1 j")
    keep = keep.view(keep.shape[0], *([1] * (attentions.ndim - 3)), *keep.shape[1:])
    return (attentions * keep)[..., lead:-1, lead:-1]


def attention_features(attentions: Tensor, tokens: Tensor, eos_idx: int) -> Tensor:
    """All symmetrized, APC-corrected maps as per-pair features (the reference path).

    Parameters
    ----------
    attentions : Tensor, shape=(b, l, h, t, t)

    Returns
    -------
    features : Tensor, shape=(b, t - 2, t - 2, l * h)
        Feature order ``(l h)``, layer-major, as in fair-esm's regression files;
        float32 (float64 for float64 maps).
    """
    maps = apc(symmetrize(strip_special(attentions.to(_wide(attentions.dtype)), tokens, eos_idx)))
    return rearrange(maps, "b l h i j -> b i j (l h)")


def contact_term(scores: Tensor, keep: Tensor, weight: Tensor, lead: int = 1) -> Tensor:
    """One layer's share of the regression logit, from its attention scores before the softmax.

    ``sum_h w_h * apc(A_h + A_h^T)`` with ``A = softmax(scores)`` (in float32, float64 for
    float64 scores) restricted to the kept rows and columns, then the ``lead`` start tokens
    and the last position cut: what :meth:`ContactAccumulator.add` computes from the softmax
    maps, in one function that ``torch.compile`` fuses (:func:`fused_contact_term`).

    Parameters
    ----------
    scores : Tensor, shape=(b, h, t, t)
        Scaled ``QK^T`` of the heads in use, padded keys ``-inf``, any dtype.
    keep : Tensor, shape=(b, t), dtype=float32 (float64 for float64 scores)
        1 for the positions whose rows and columns count (not padding, not ``<eos>``), else 0.
    weight : Tensor, shape=(h,), dtype=keep's
        The regression coefficients of these heads.
    lead : int
        Special tokens before the residues (1: ``<cls>``; 0: a T5 encoder).

    Returns
    -------
    Tensor, shape=(b, t - 1 - lead, t - 1 - lead), dtype=keep's
    """
    maps = scores.to(keep.dtype).softmax(dim=-1) * keep[:, None, :, None] * keep[:, None, None, :]
    return weighted_apc(maps[..., lead:-1, lead:-1], weight)


def weighted_apc(maps: Tensor, weight: Tensor) -> Tensor:
    """``sum_h w_h * apc(A_h + A_h^T)``, without forming any symmetrized or corrected map.

    The weighted sum is symmetrized once, and the APC term of each head is an outer
    product of its row sums.

    Parameters
    ----------
    maps : Tensor, shape=(b, h, L, L), dtype=float32 or float64
    weight : Tensor, shape=(h,), the same dtype

    Returns
    -------
    Tensor, shape=(b, L, L)
    """
    # Row sums of A + A^T (which is symmetric, so also its column sums).
    sums = maps.sum(-1) + maps.sum(-2)
    total = sums.sum(-1, keepdim=True)
    weighted = einsum(maps, weight, "b h i j, h -> b i j")
    correction = einsum(sums * (weight[:, None] / total), sums, "b h i, b h j -> b i j")
    return weighted + weighted.transpose(-1, -2) - correction


_compiled = {}


def fused_contact_term(scores: Tensor, keep: Tensor, weight: Tensor, lead: int = 1) -> Tensor:
    """:func:`contact_term` compiled by ``torch.compile`` (inductor; dynamic shapes: one compilation for
    every batch shape), falling back to the uncompiled function, with one warning, where compiling fails."""
    if "fn" not in _compiled:
        _compiled["fn"] = torch.compile(contact_term, dynamic=True)
    fn = _compiled["fn"]
    if fn is not contact_term:
        try:
            return fn(scores, keep, weight, lead)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a compiler missing or failing here: the same numbers, unfused
            warnings.warn(f"the fused contact pass could not be compiled ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); using the unfused one", stacklevel=2)
            _compiled["fn"] = contact_term
    return contact_term(scores, keep, weight, lead)


def fused_default(device: torch.device | str) -> bool:
    """Whether contacts on ``device`` take the fused pass: ``$CONTACTS_FUSED`` (``1``, ``0``), else on CUDA only.

    On the CPU compiling costs more (tens of seconds, once per machine with inductor's cache)
    than the pass gains; on CUDA the pass otherwise writes and reads every float32 map.
    """
    value = os.environ.get(FUSED_ENV, "auto").strip().lower()
    if value not in ("auto", "1", "0"):
        raise ValueError(f"${FUSED_ENV}={value!r}: choose 1 (fuse), 0 (never) or auto (on CUDA)")
    if value == "auto":
        return torch.device(device).type == "cuda"
    return value == "1" and torch.device(device).type != "meta"


class ContactAccumulator:
    """Accumulates the regression logit layer by layer, holding one layer's maps at a time.

    Which layers and heads carry a non-zero coefficient is worked out once, on the
    host, so that adding a layer never waits for the device: results leave it once,
    when :meth:`probabilities` is read.

    Parameters
    ----------
    weight : Tensor, shape=(l * h,)
        Regression coefficients, ``(l h)`` layer-major.
    bias : float
    num_heads : int
    """

    def __init__(self, weight: Tensor, bias: float | Tensor, num_heads: int):
        self.weight = rearrange(weight.detach().float().cpu().flatten(), "(l h) -> l h", h=num_heads)
        self.bias = float(bias)
        self.logits: Tensor | None = None
        used = self.weight.ne(0)
        #: 1-based layers with at least one non-zero coefficient.
        self.layers = frozenset(int(i) + 1 for i in used.any(dim=1).nonzero().flatten())
        # Per layer: the indices of its heads in use, or None when all are.
        self._heads = {
            layer: None if used[layer - 1].all() else used[layer - 1].nonzero().flatten()
            for layer in self.layers
        }
        self._on_device: dict[tuple[int, torch.device, torch.dtype], tuple[Tensor, Tensor | None]] = {}
        self._keep: tuple[Tensor, Tensor] | None = None  # (tokens, their rows that count), per batch

    @property
    def last_layer(self) -> int:
        """1-based index of the last layer with a non-zero coefficient (0 if none)."""
        return max(self.layers, default=0)

    def fresh(self) -> ContactAccumulator:
        """An empty accumulator with the same coefficients (and their device copies)."""
        other = copy.copy(self)
        other.logits, other._keep = None, None
        return other

    def _coefficients(self, layer: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
        key = (layer, device, dtype)
        if key not in self._on_device:
            heads = self._heads[layer]
            w = self.weight[layer - 1] if heads is None else self.weight[layer - 1, heads]
            self._on_device[key] = (w.to(device, dtype), None if heads is None else heads.to(device))
        return self._on_device[key]

    def add(
        self, layer: int, weights: Tensor, tokens: Tensor, eos_idx: int, *, eos_inside: bool | None = None,
        lead: int = 1,
    ) -> None:
        """Add one layer's contribution, ``sum_h w_h * apc(A_h + A_h^T)`` (:func:`weighted_apc`).

        Every sum is taken in float32 whatever the dtype of the model, or in float64 for
        a float64 model (nothing then rounds to float32).

        Parameters
        ----------
        layer : int
            1-based layer number.
        weights : Tensor, shape=(b, h, t, t)
        eos_inside : bool, optional
            Whether an ``<eos>`` sits inside the padded width (a batch of unequal
            lengths). Callers that know it from the host pass it; otherwise it is
            read off the device.
        lead : int
            Special tokens before the residues (1: ``<cls>`` and the like; 0: a T5 encoder).
        """
        if layer not in self.layers:
            return
        wide = _wide(weights.dtype)
        w, heads = self._coefficients(layer, weights.device, wide)
        if heads is not None:  # a sparse probe: only its heads are read
            weights = weights.index_select(1, heads)
        maps = _residue_maps(weights, tokens, eos_idx, eos_inside, lead, wide)
        self._sum(weighted_apc(maps, w))

    def add_scores(self, layer: int, scores: Tensor, tokens: Tensor, padding_idx: int, eos_idx: int,
                   *, compiled: bool = True, lead: int = 1) -> None:
        """Add one layer's contribution from its scores before the softmax (the fused pass).

        The same sum as :meth:`add`, by :func:`fused_contact_term` (``compiled``) or
        :func:`contact_term`: the softmax maps are never materialized in float32.

        Parameters
        ----------
        layer : int
            1-based layer number.
        scores : Tensor, shape=(b, h, t, t)
            Scaled ``QK^T``, padded keys ``-inf``
            (:meth:`contacts.encoder.model.ESMEncoder.iter_layers` with ``scores=True``).
        lead : int
            Special tokens before the residues (1: ``<cls>``; 0: a T5 encoder).
        """
        if layer not in self.layers:
            return
        wide = _wide(scores.dtype)
        w, heads = self._coefficients(layer, scores.device, wide)
        if heads is not None:
            scores = scores.index_select(1, heads)
        if self._keep is None or self._keep[0] is not tokens or self._keep[1].dtype != wide:
            self._keep = (tokens, (tokens.ne(padding_idx) & tokens.ne(eos_idx)).to(wide))
        term = (fused_contact_term if compiled else contact_term)(scores, self._keep[1], w, lead)
        self._sum(term)

    def _sum(self, term: Tensor) -> None:
        self.logits = term if self.logits is None else self.logits + term

    def add_head(
        self, layer: int, head: int, weights: Tensor, tokens: Tensor, eos_idx: int, *,
        eos_inside: bool | None = None, lead: int = 1,
    ) -> None:
        """Add one head's contribution (the same sum as :meth:`add`, one map at a time).

        For encoders that hand their maps over head by head, so that no layer's maps
        are ever held at once; the logit is accumulated in place.

        Parameters
        ----------
        layer, head : int
            1-based layer, 0-based head.
        weights : Tensor, shape=(b, t, t)
        """
        if layer not in self.layers:
            return
        c = float(self.weight[layer - 1, head])
        if c == 0.0:
            return
        wide = _wide(weights.dtype)
        maps = _residue_maps(weights, tokens, eos_idx, eos_inside, lead, wide)
        sums = maps.sum(-1) + maps.sum(-2)
        scaled = sums * (c / sums.sum(-1, keepdim=True))
        if self.logits is None:
            self.logits = torch.zeros(maps.shape, dtype=wide, device=maps.device)
        self.logits.add_(maps, alpha=c).add_(maps.transpose(-1, -2), alpha=c)
        # the APC term, an outer product, subtracted in place (no L x L temporary)
        self.logits.baddbmm_(scaled.unsqueeze(-1), sums.unsqueeze(-2), alpha=-1)

    def probabilities(self, batch: int, length: int, device: torch.device | str | None = None) -> Tensor:
        """Contact probabilities, shape=(b, L, L), float32 (float64 for a float64 model), on the maps' device.

        Computed in place of the running sum, which is consumed: read it once per pass.
        """
        logits = self.logits
        if logits is None:
            logits = torch.zeros(batch, length, length, device=device)
        # in place: the sum is read once (a fresh accumulator per pass), and L x L floats are not copied twice
        self.logits = None
        return logits.add_(self.bias).sigmoid_()


def _residue_maps(weights: Tensor, tokens: Tensor, eos_idx: int, eos_inside: bool | None, lead: int,
                  wide: torch.dtype = torch.float32) -> Tensor:
    """The residue block of maps in ``wide`` (float32, or float64 for a float64 model), end tokens inside a
    padded width zeroed (as fair-esm does)."""
    if eos_inside is None:
        eos_inside = bool(tokens[:, -1].ne(eos_idx).any())
    if eos_inside:
        return strip_special(weights.to(wide), tokens, eos_idx, lead)
    return weights.to(wide)[..., lead:-1, lead:-1]


def contact_probabilities(features: Tensor, weight: Tensor, bias: float | Tensor) -> Tensor:
    """Logistic regression on materialized features: ``sigmoid(features @ w + b)``.

    Parameters
    ----------
    features : Tensor, shape=(..., n_features)
    weight : Tensor, shape=(n_features,)
    """
    return torch.sigmoid(features @ weight.float().flatten().to(features.device) + float(bias))
