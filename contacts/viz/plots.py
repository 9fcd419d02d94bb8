"""Contact-map figures (matplotlib, imported lazily; no pyplot global state).

One style for every figure of the package: a :class:`~matplotlib.figure.Figure`
with constrained layout (:func:`new_axes`), probabilities in
:data:`PROB_CMAP` and other scores in :data:`SCORE_CMAP`, legends below the
axes, and predicted pairs colored as in the 3D viewer (:data:`contacts.viz.pairs.PAIR_COLORS`: blue hit, vermilion miss, grey unknown).
Each function returns the figure; pass ``ax=`` to draw into your own axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..analysis.metrics import precision
from ..constants import MIN_SEPARATION, RANGES, TOP_K
from .pairs import PAIR_COLORS, display_range, label_pairs, select_pairs

__all__ = ["PROB_CMAP", "RANGE_COLORS", "SCORE_CMAP", "new_axes", "plot_contact_map", "plot_precision"]

#: Colormap of contact probabilities (white = 0): grey, so that hit and miss marks stand out.
PROB_CMAP = "Greys"
#: Colormap of per-head and other score heatmaps.
SCORE_CMAP = "viridis"
#: Shading of the separation bands on contact maps, and the lines of precision plots.
RANGE_COLORS: dict[str, str] = {"short": "#E69F00", "medium": "#009E73", "long": "#56B4E9", "all": "#000000"}
#: Labels below the diagonal: known contacts.
TRUE_COLOR = "#252525"


def new_axes(ax=None, figsize: tuple[float, float] = (5.5, 5.0), ncols: int = 1):
    """``ax`` as given, or new axes on a constrained-layout Figure (no pyplot)."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # noqa: PLC0415 (optional heavy dependency, loaded when used)

    return Figure(figsize=figsize, layout="constrained").subplots(1, ncols, squeeze=ncols == 1)


def _square(name: str, a, shape=None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square (L, L) map; got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape} but the predictions have shape {shape}")
    return a


def plot_contact_map(
    pred: np.ndarray,
    true: np.ndarray | None = None,
    *,
    top_k: int | None = None,
    min_separation: int = MIN_SEPARATION,
    bands: bool = True,
    label: str | None = None,
    title: str | None = None,
    ax=None,
):
    """Predicted probabilities (or scores) above the diagonal, true contacts below, top-k marked.

    Parameters
    ----------
    pred : ndarray, shape=(L, L)
        Contact probabilities, drawn on [0, 1]; or scores that are not probabilities
        (``jacobian_contacts``, couplings), drawn from max(0, min) to the L-th best
        pair at separation >= 6 (:func:`~contacts.viz.pairs.display_range`). NaN
        (pairs no window covered) is drawn blank.
    true : ndarray, shape=(L, L), optional
        1 contact, 0 none, NaN unknown. Known contacts are drawn below the
        diagonal (unknown pairs light grey), and the ``top_k`` predictions at
        separation >= ``min_separation`` are circled above it: blue where the
        structure has the contact (hit), vermilion where not (miss), grey where
        unknown.
    top_k : int, optional
        How many predictions to mark; default L. 0 marks none.
    min_separation : int
        Smallest separation of a marked prediction (6, as the metrics).
    bands : bool
        Shade the separation bands: below ``min_separation`` (not scored), short
        (6-11) and medium (12-23); long (>= 24) is the rest. A legend under the
        map names them.
    label : str, optional
        Colorbar label; default "contact probability", or "score" for a map outside [0, 1].
    title : str, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        Its axes hold the hits and misses as ``ax.contact_marks``:
        ``{'hit': n, 'miss': n, 'unknown': n}``.
    """
    pred = _square("pred", pred)
    n = pred.shape[0]
    ax = new_axes(ax)
    fig = ax.figure
    upper = np.triu(np.ones(pred.shape, bool), 1)
    vmin, vmax = display_range(pred, n)
    if label is None:
        label = "contact probability" if (vmin, vmax) == (0.0, 1.0) else "score"
    image = ax.imshow(np.where(upper, pred, np.nan), cmap=PROB_CMAP, vmin=vmin, vmax=vmax,
                      interpolation="nearest", origin="upper")
    band_handles = _shade_bands(ax, n, min_separation) if bands else []
    marks = {"hit": 0, "miss": 0, "unknown": 0}
    if true is not None:
        true = _square("true", true, pred.shape)
        lower = np.tril(np.ones(pred.shape, bool), -1)
        unknown = lower & np.isnan(true)
        contact = lower & (np.nan_to_num(true) > 0.5)
        from matplotlib.colors import ListedColormap  # noqa: PLC0415 (optional heavy dependency, loaded when used)

        layer = np.full(pred.shape, np.nan)
        layer[unknown] = 0
        layer[contact] = 1
        ax.imshow(layer, cmap=ListedColormap(["#e6e6e6", TRUE_COLOR]), vmin=0, vmax=1,
                  interpolation="nearest", origin="upper")
        pairs = select_pairs(pred, top_k=top_k, min_separation=min_separation)
        kinds = label_pairs(pairs, true)
        size = max(4.0, min(30.0, 3000.0 / max(n, 1)))
        for kind in ("hit", "miss", "unknown"):
            chosen = kinds == kind
            marks[kind] = int(chosen.sum())
            if chosen.any():
                ax.scatter(pairs.j[chosen], pairs.i[chosen], s=size, facecolors="none",
                           edgecolors=PAIR_COLORS[kind], linewidths=1.2, zorder=3,
                           label=f"top-{len(pairs)} {kind} ({marks[kind]})")
        ax.text(0.02, 0.02, "true", transform=ax.transAxes, fontsize="small", color=TRUE_COLOR)
        ax.text(0.98, 0.98, "predicted", transform=ax.transAxes, fontsize="small", ha="right", va="top")
    handles = [h for h in ax.collections if h.get_label() and not h.get_label().startswith("_")] + band_handles
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0, -0.1), ncol=3, fontsize="small",
                  frameon=False, handletextpad=0.2, columnspacing=0.8)
    ax.contact_marks = marks
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    ax.set_xlabel("residue j")
    ax.set_ylabel("residue i")
    if title:
        ax.set_title(title)
    return fig


def _shade_bands(ax, n: int, min_separation: int) -> list:
    """Tint pixels by separation band |j - i|: below min_separation, short, medium (long is untinted).

    Returns the legend handles naming the bands.
    """
    from matplotlib.colors import to_rgba  # noqa: PLC0415 (optional heavy dependency, loaded when used)
    from matplotlib.patches import Patch  # noqa: PLC0415 (optional heavy dependency, loaded when used)

    sep = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    overlay = np.zeros((n, n, 4))
    bands = [(1, min_separation, "#969696", f"|i-j| < {min_separation}: not scored")]
    bands += [(lo, hi, RANGE_COLORS[name], f"{name} {lo}-{hi - 1}")
              for name, (lo, hi) in RANGES.items() if name in ("short", "medium")]
    handles = []
    for lo, hi, color, text in bands:
        overlay[(sep >= lo) & (sep < hi)] = to_rgba(color, alpha=0.22)
        handles.append(Patch(facecolor=to_rgba(color, alpha=0.22), edgecolor="none", label=text))
    handles.append(Patch(facecolor="white", edgecolor="#bbbbbb", label=f"long {RANGES['long'][0]}+"))
    ax.imshow(overlay, interpolation="nearest", origin="upper", zorder=1.5)
    return handles


def plot_precision(
    pred: np.ndarray | Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    ranges: Sequence[str] = ("short", "medium", "long"),
    max_k: int | None = None,
    points: int = 60,
    title: str | None = None,
    ax=None,
):
    """Precision of the top-k predictions against k, one panel per separation range.

    Precision comes from :func:`contacts.analysis.metrics.precision` (same ranking, ties
    and unknown-label rules as every table of the package).

    Parameters
    ----------
    pred : ndarray, shape=(L, L), or mapping of name -> ndarray
        One predictor, or several to compare (one line each).
    labels : ndarray, shape=(L, L)
        1 contact, 0 none, NaN unknown.
    ranges : sequence of str
        Keys of :data:`contacts.analysis.metrics.RANGES`.
    max_k : int, optional
        Largest k; default L.
    points : int
        At most this many values of k (spread evenly over 1..max_k).
    title : str, optional
    ax : sequence of matplotlib Axes, optional
        One per range.

    Returns
    -------
    matplotlib.figure.Figure
        A dotted line in each panel marks the fraction of labelled pairs in
        contact in that range (what a random ranking scores); ticks mark L/5,
        L/2 and L.
    """
    labels = _square("labels", labels)
    n = labels.shape[0]
    preds = dict(pred) if isinstance(pred, Mapping) else {"prediction": pred}
    if not preds:
        raise ValueError("pred is an empty mapping: nothing to plot")
    for name, p in preds.items():
        preds[name] = _square(f"pred[{name!r}]", p, labels.shape)
    for r in ranges:
        if r not in RANGES:
            raise ValueError(f"range {r!r} is not one of {sorted(RANGES)}")
    max_k = n if max_k is None else int(max_k)
    if max_k < 1:
        raise ValueError(f"max_k={max_k} must be at least 1")
    ks = np.unique(np.linspace(1, max_k, max(2, points)).astype(int))
    axes = new_axes(ax, figsize=(3.4 * len(ranges) + 0.4, 3.4), ncols=len(ranges))
    axes = [axes] if len(ranges) == 1 and not isinstance(axes, (list, np.ndarray)) else list(np.ravel(axes))
    if len(axes) != len(ranges):
        raise ValueError(f"{len(axes)} axes for {len(ranges)} ranges")
    line_colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
    i, j = np.triu_indices(n, 1)
    for ax_, r in zip(axes, ranges):
        lo, hi = RANGES[r]
        for c, (name, p) in enumerate(preds.items()):
            values = [precision(p, labels, k=int(k), min_separation=lo, max_separation=hi) for k in ks]
            ax_.plot(ks, values, color=line_colors[c % len(line_colors)], linewidth=1.6, label=name)
        sep = j - i
        in_range = (sep >= lo) & ((sep < hi) if hi is not None else True) & ~np.isnan(labels[i, j])
        if in_range.any():
            ax_.axhline(float((labels[i, j][in_range] > 0.5).mean()), color="grey", linestyle=":",
                        linewidth=1, label="random")
        for d in TOP_K.values():
            if n // d <= max_k:
                ax_.axvline(n // d, color="#dddddd", linewidth=0.8, zorder=0)
        ax_.set_xticks([n // d for d in TOP_K.values() if n // d <= max_k],
                       [name[2:] for name, d in TOP_K.items() if n // d <= max_k])
        ax_.set_ylim(-0.02, 1.02)
        span = f"{lo}-{hi - 1}" if hi is not None else f">= {lo}"
        ax_.set_title(f"{r} ({span})", color=RANGE_COLORS.get(r, "black"))
        ax_.set_xlabel("k (top-k predictions)")
    axes[0].set_ylabel("precision")
    axes[-1].legend(fontsize="small", frameon=False)
    fig = axes[0].figure
    if title:
        fig.suptitle(title)
    return fig
