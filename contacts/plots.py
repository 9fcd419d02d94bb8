"""Contact-map figures (matplotlib, imported lazily; no pyplot global state)."""

from __future__ import annotations

import numpy as np


def plot_contact_map(pred: np.ndarray, true: np.ndarray | None = None, *, title: str | None = None, ax=None):
    """Predicted probabilities above the diagonal, true contacts (if given) below.

    Parameters
    ----------
    pred : ndarray, shape=(L, L)
        Contact probabilities; NaN (pairs no window covered) is drawn blank.
    true : ndarray, shape=(L, L), optional
        1 contact, 0 none, NaN unknown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(5, 5))
        ax = fig.subplots()
    fig = ax.figure
    pred = np.asarray(pred, dtype=float)
    upper = np.triu(np.ones(pred.shape, bool), 1)
    image = ax.imshow(np.where(upper, pred, np.nan), cmap="Blues", vmin=0, vmax=1,
                      interpolation="nearest")
    if true is not None:
        lower = np.tril(np.ones(pred.shape, bool), -1) & (np.nan_to_num(np.asarray(true, float)) > 0)
        ax.imshow(np.ma.masked_where(~lower, np.ones(pred.shape)), cmap="Greys", vmin=0, vmax=1,
                  interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="contact probability")
    ax.set_xlabel("residue j")
    ax.set_ylabel("residue i")
    if title:
        ax.set_title(title)
    return fig
