"""Figures of the attention analysis (Vig et al. 2021): plain arrays in, matplotlib Figures out.

- :func:`plot_property_heads`: the layers x heads heatmap of p_alpha(f), its colour
  scale centred on the property's background rate (marked on the colour bar);
- :func:`plot_layer_share`: the share of the model's attention to f held by each layer;
- :func:`plot_probing`: probing scores by layer, each with its baseline dashed;
- :func:`plot_blosum`: amino-acid attention similarity against BLOSUM62.

Each returns a :class:`~matplotlib.figure.Figure` (constrained layout, no pyplot
state, :func:`contacts.viz.plots.new_axes`); pass ``ax=`` to draw into your own axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .plots import SCORE_CMAP, new_axes

__all__ = ["ABOVE_CMAP", "plot_blosum", "plot_layer_share", "plot_probing", "plot_property_heads"]

#: Diverging colormap of p_alpha around the background: blue above it, red below (as provis draws it).
ABOVE_CMAP = "RdBu"


def _grid(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (layers, heads); got {a.shape}")
    return a


def plot_property_heads(
    proportion: np.ndarray,
    background: float,
    *,
    name: str = "property",
    attended: np.ndarray | None = None,
    min_attended: float = 1,
    ax=None,
    title: str | None = None,
):
    """Layers x heads heatmap of p_alpha(f), the background marked.

    Parameters
    ----------
    proportion : ndarray, shape=(layers, heads)
        Share of each head's confident attention on the property; NaN (no
        confident attention) is drawn grey.
    background : float
        The property's rate: the colour scale is white there, blue above, red
        below, and a black line marks it on the colour bar.
    attended : ndarray, shape=(layers, heads), optional
        Confident-attention counts: heads below ``min_attended`` are drawn grey.

    Returns
    -------
    matplotlib Figure
    """
    from matplotlib.colors import TwoSlopeNorm  # noqa: PLC0415 (optional heavy dependency, loaded when used)

    p = _grid("proportion", proportion)
    if attended is not None:
        p = np.where(_grid("attended", attended) >= min_attended, p, np.nan)
    layers, heads = p.shape
    ax = new_axes(ax, figsize=(max(4.0, 0.3 * heads + 2), max(3.5, 0.22 * layers + 1.5)))
    background = float(background)
    finite = p[np.isfinite(p)]
    top = max(float(finite.max()) if finite.size else 1.0, background + 1e-6)
    bottom = min(float(finite.min()) if finite.size else 0.0, background - 1e-6)
    if not np.isfinite(background):
        norm, cmap = None, SCORE_CMAP
    else:
        norm, cmap = TwoSlopeNorm(vcenter=background, vmin=bottom, vmax=top), ABOVE_CMAP
    masked = np.ma.masked_invalid(p)
    image = ax.imshow(masked, aspect="auto", origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_facecolor("#d9d9d9")
    bar = ax.figure.colorbar(image, ax=ax, label=f"p_alpha({name})")
    if np.isfinite(background):
        bar.ax.axhline(background, color="black", linewidth=2)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(0, heads, max(1, heads // 10)))
    yticks = range(0, layers, max(1, layers // 11))
    ax.set_yticks(list(yticks), [str(t + 1) for t in yticks])
    ax.set_title(title or f"attention to {name}\n(background {background:.3f}: black line on the colour bar)",
                 fontsize="medium")
    return ax.figure


def plot_layer_share(share: np.ndarray, *, name: str = "property", ax=None, title: str | None = None):
    """Bar chart of the share of all attention to f that each layer holds.

    Parameters
    ----------
    share : ndarray, shape=(layers,)
        Sums to 1 (NaN where the model never attends to f). The dotted line is
        the uniform share ``1 / layers``.

    Returns
    -------
    matplotlib Figure
    """
    share = np.asarray(share, dtype=float)
    if share.ndim != 1:
        raise ValueError(f"share must have shape (layers,); got {share.shape}")
    ax = new_axes(ax, figsize=(max(4.0, 0.18 * len(share) + 2), 3.0))
    layers = np.arange(1, len(share) + 1)
    ax.bar(layers, np.nan_to_num(share), color="#3D4FC4")
    ax.axhline(1 / len(share), color="grey", linestyle=":", linewidth=1, label="uniform")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"share of attention to {name}")
    ax.legend(fontsize="small", frameon=False)
    ax.set_title(title or f"attention to {name}, by layer")
    return ax.figure


def plot_probing(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float], float]],
    *,
    ax=None,
    title: str | None = None,
    ylabel: str = "probe score (cross-validated)",
):
    """Probing scores by layer, one line per task, each baseline dashed in the same colour.

    Parameters
    ----------
    curves : mapping of str -> (layers, scores, baseline)
        ``layers`` 1-based.

    Returns
    -------
    matplotlib Figure
    """
    ax = new_axes(ax, figsize=(6.0, 3.5))
    for k, (name, (layers, scores, baseline)) in enumerate(curves.items()):
        color = f"C{k}"
        ax.plot(np.asarray(layers), np.asarray(scores, dtype=float), marker="o", markersize=3, color=color,
                label=name)
        if baseline is not None and np.isfinite(baseline):
            ax.axhline(baseline, color=color, linestyle="--", linewidth=1)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", frameon=False, title="dashed: baseline", title_fontsize="x-small")
    ax.set_title(title or "what a linear probe finds, by depth")
    return ax.figure


def plot_blosum(
    similarity: np.ndarray,
    blosum: np.ndarray,
    *,
    letters: Sequence[str] | None = None,
    correlation: float | None = None,
    ax=None,
    title: str | None = None,
):
    """Scatter of amino-acid attention similarity against BLOSUM62, one point per pair (off-diagonal).

    Parameters
    ----------
    similarity, blosum : ndarray, shape=(20, 20)
    letters : sequence of str, optional
        Amino acids of the rows; pairs are labelled where given.
    correlation : float, optional
        Shown in the title.

    Returns
    -------
    matplotlib Figure
    """
    similarity = np.asarray(similarity, dtype=float)
    blosum = np.asarray(blosum, dtype=float)
    if similarity.shape != blosum.shape or similarity.ndim != 2:
        raise ValueError(f"similarity {similarity.shape} and blosum {blosum.shape} must be the same square shape")
    ax = new_axes(ax, figsize=(4.5, 4.0))
    i, j = np.tril_indices(len(blosum), -1)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(i))
    ax.scatter(blosum[i, j] + jitter, similarity[i, j], s=10, alpha=0.7, color="#3D4FC4")
    if letters is not None:
        order = np.argsort(-np.nan_to_num(similarity[i, j], nan=-np.inf))[:5]
        for k in order:
            ax.annotate(f"{letters[i[k]]}{letters[j[k]]}", (blosum[i[k], j[k]], similarity[i[k], j[k]]),
                        fontsize="x-small")
    ax.set_xlabel("BLOSUM62 score")
    ax.set_ylabel("attention similarity (Pearson r over heads)")
    extra = "" if correlation is None or not np.isfinite(correlation) else f"\nPearson r = {correlation:.2g}"
    ax.set_title(title or f"attention similarity vs BLOSUM62{extra}", fontsize="medium")
    return ax.figure
