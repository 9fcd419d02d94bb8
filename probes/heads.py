"""Which heads see structure: per-head contact precision and attention on contacts, and plots.

Two scores per (layer, head), over a set of structures:

- **precision**: the head's symmetrized, APC-corrected map used alone as a
  contact predictor, scored by P@L in each separation range (short 6-11,
  medium 12-23, long >= 24; :mod:`contacts.analysis.metrics`), averaged over proteins
  (each protein weighs the same, as Rao et al. report);
- **attention on contacts** (Vig et al. 2020, "BERTology meets biology"): of
  the head's high-confidence attention (raw softmax weights above ``threshold``,
  0.3 in the paper), the fraction that falls on pairs in contact,
  ``sum f(i,j) a_ij 1[a_ij > t] / sum a_ij 1[a_ij > t]``, pooled over all proteins.
  Pairs with unknown labels are left out of both sums; contacts closer in
  sequence than ``min_separation`` do not count as contacts (they are trivial).

Both come as arrays of shape (layers, heads) and as tidy records. Plots are
built on :class:`matplotlib.figure.Figure` (no pyplot state) and matplotlib is
imported only when one is drawn.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from contacts.analysis.heads import HEAD_RANGES, corrected_maps, head_precision, range_pairs
from contacts.constants import MIN_SEPARATION, VIG_THRESHOLD
from contacts.io.files import atomic_write
from contacts.predictor.protocol import AttentionModel
from contacts.viz.plots import SCORE_CMAP, new_axes

from .passes import read_layers
from .probe import ContactProbe
from .proteins import Protein

#: Separation ranges scored per head, (min, max exclusive or None).
RANGES: dict[str, tuple[int, int | None]] = HEAD_RANGES


@dataclass
class HeadScores:
    """Per-head contact scores over a set of proteins.

    Attributes
    ----------
    precision : dict of str -> ndarray, shape=(layers, heads)
        Mean P@L over proteins in each range (``short``, ``medium``, ``long``);
        proteins with no labelled pair in a range are left out of its mean.
    per_protein : dict of str -> ndarray, shape=(n_proteins, layers, heads)
    attention_on_contacts : ndarray, shape=(layers, heads)
        Fraction of high-confidence attention on contacts, pooled over proteins
        (NaN for a head whose attention never exceeds the threshold).
    attention_mass : ndarray, shape=(layers, heads)
        The denominator of that fraction: high-confidence attention summed over proteins.
    contact_rate : float
        Fraction of labelled pairs in contact: what a head attending at random scores.
    proteins : list of str
    lengths : list of int
    threshold : float
    min_separation : int
    model : str
    """

    precision: dict[str, np.ndarray]
    per_protein: dict[str, np.ndarray]
    attention_on_contacts: np.ndarray
    attention_mass: np.ndarray
    contact_rate: float
    proteins: list[str]
    lengths: list[int]
    threshold: float = VIG_THRESHOLD
    min_separation: int = MIN_SEPARATION
    model: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.attention_on_contacts.shape

    def score(self, name: str) -> np.ndarray:
        """One score by name: ``short``/``medium``/``long`` (P@L) or ``attention``."""
        if name == "attention":
            return self.attention_on_contacts
        if name not in self.precision:
            raise ValueError(f"unknown score {name!r}; expected one of {[*self.precision, 'attention']}")
        return self.precision[name]

    def records(self) -> list[dict]:
        """One row per head: ``layer`` (1-based), ``head`` (0-based), each score."""
        layers, heads = self.shape
        rows = []
        for layer in range(layers):
            for head in range(heads):
                row = {"layer": layer + 1, "head": head}
                row.update({f"{name}_P@L": float(a[layer, head]) for name, a in self.precision.items()})
                row["attention_on_contacts"] = float(self.attention_on_contacts[layer, head])
                rows.append(row)
        return rows

    def best_per_layer(self, name: str = "long") -> tuple[np.ndarray, np.ndarray]:
        """Best score of each layer and the head that has it, shapes=(layers,), (layers,)."""
        a = np.where(np.isnan(self.score(name)), -np.inf, self.score(name))
        best = a.argmax(axis=1)
        value = self.score(name)[np.arange(len(best)), best]
        return value, best

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write ``head_scores.npz`` (the arrays) and ``head_scores.csv`` (the records)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"precision_{k}": v for k, v in self.precision.items()}
        arrays.update({f"per_protein_{k}": v for k, v in self.per_protein.items()})
        arrays.update(
            attention_on_contacts=self.attention_on_contacts,
            attention_mass=self.attention_mass,
            proteins=np.array(self.proteins),
            lengths=np.array(self.lengths),
        )
        npz = directory / "head_scores.npz"
        with atomic_write(npz, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        rows = self.records()
        table = directory / "head_scores.csv"
        with atomic_write(table, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return {"arrays": npz, "records": table}


def _targets(labels: np.ndarray, min_separation: int, ranges: dict[str, tuple[int, int | None]]) -> dict:
    """One protein's labels as the tensors a head's scores read: pairs of each range, contacts, labelled pairs."""
    n = labels.shape[0]
    contact = np.nan_to_num(labels, nan=0.0) > 0.5
    far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= min_separation
    return {"n": n, "ranges": range_pairs(labels, ranges), "on": torch.as_tensor(contact & far, dtype=torch.float32),
            "labelled": torch.as_tensor(~np.isnan(labels), dtype=torch.float32)}


def _layer_scores(raw: torch.Tensor, targets: dict, threshold: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """P@L per range (NaN for a range without a labelled pair), attention on contacts and its mass: each shape=(heads,)."""
    raw = raw.float()
    confident = raw * (raw > threshold) * targets["labelled"]
    mass = confident.sum(dim=(-1, -2)).double().numpy()
    on_contacts = (confident * targets["on"]).sum(dim=(-1, -2)).double().numpy()
    return head_precision(corrected_maps(raw), targets["ranges"]), on_contacts, mass


def protein_head_scores(
    maps: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    *,
    threshold: float = VIG_THRESHOLD,
    min_separation: int = MIN_SEPARATION,
    ranges: dict[str, tuple[int, int | None]] = RANGES,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Both scores of every head for one protein, from its stacked maps.

    Parameters
    ----------
    maps : ndarray or Tensor, shape=(layers, heads, L, L)
        Raw softmax maps, special tokens removed (``Predictor.attention_maps``).
    labels : ndarray, shape=(L, L)
        1 contact, 0 none, NaN unknown.

    Returns
    -------
    precision : dict of str -> ndarray, shape=(layers, heads)
        P@L per range (NaN when the range has no labelled pair). Ties among
        equal scores at the k-th place are broken arbitrarily (``torch.topk``);
        with continuous maps they do not occur.
    on_contacts, mass : ndarray, shape=(layers, heads)
        Numerator and denominator of the attention-on-contacts fraction.
    """
    maps = torch.as_tensor(maps)
    layers, heads, n, _ = maps.shape
    labels = np.asarray(labels, dtype=np.float64)
    if labels.shape != (n, n):
        raise ValueError(f"labels have shape {labels.shape}; the maps are {n} x {n}")
    targets = _targets(labels, min_separation, ranges)
    precision = {name: np.full((layers, heads), np.nan) for name in ranges}
    on_contacts = np.zeros((layers, heads))
    mass = np.zeros((layers, heads))
    for layer in range(layers):
        found, on_contacts[layer], mass[layer] = _layer_scores(maps[layer], targets, threshold)
        for name, value in found.items():
            precision[name][layer] = value
    return precision, on_contacts, mass


class HeadScoreReader:
    """Both scores of every head, fed one protein and one layer at a time (a :class:`probes.passes.LayerReader`).

    >>> reader = HeadScoreReader(layers, heads)                     # doctest: +SKIP
    >>> read_layers(model, proteins, [reader])                       # doctest: +SKIP
    >>> scores = reader.result(model=model.config.name)             # doctest: +SKIP

    Each layer's residue maps are scored on the host as they come (one layer of one
    protein held at a time); :func:`protein_head_scores` does the same from stacked maps.

    Parameters
    ----------
    layers, heads : int
    threshold, min_separation
        As :func:`head_scores`.
    """

    def __init__(self, layers: int, heads: int, *, threshold: float = VIG_THRESHOLD,
                 min_separation: int = MIN_SEPARATION):
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold={threshold} must be in [0, 1)")
        self.shape = (layers, heads)
        self.threshold = threshold
        self.min_separation = min_separation
        self.names: list[str] = []
        self.lengths: list[int] = []
        self.per_protein: dict[str, list[np.ndarray]] = {name: [] for name in RANGES}
        self.on_total, self.mass_total = np.zeros(self.shape), np.zeros(self.shape)
        self.n_contacts = self.n_known = 0
        self._targets: dict | None = None

    @property
    def num_layers(self) -> int:
        """Layers it reads (all)."""
        return self.shape[0]

    def start(self, protein: Protein, device: str | torch.device = "cpu") -> None:
        """Begin a protein: its labels become the tensors each layer is scored against."""
        labels = np.asarray(protein.contacts, dtype=np.float64)
        self._targets = _targets(labels, self.min_separation, RANGES)
        self.names.append(protein.name)
        self.lengths.append(len(protein.sequence))
        for name in RANGES:
            self.per_protein[name].append(np.full(self.shape, np.nan))
        i, j = np.triu_indices(len(protein.sequence), self.min_separation)
        value = protein.contacts[i, j]
        self.n_known += int((~np.isnan(value)).sum())
        self.n_contacts += int((value > 0.5).sum())

    def add(self, layer: int, attention: torch.Tensor, hidden: torch.Tensor | None = None) -> None:
        """Score one layer of the current protein: ``attention`` shape=(heads, L + 2, L + 2), specials included."""
        if self._targets is None:
            raise RuntimeError("call start(protein) before add()")
        n = self._targets["n"]
        if tuple(attention.shape) != (self.shape[1], n + 2, n + 2):
            raise ValueError(f"attention of layer {layer} has shape {tuple(attention.shape)}; expected "
                             f"({self.shape[1]}, {n + 2}, {n + 2}) (heads, L + 2, L + 2)")
        precision, on, mass = _layer_scores(attention[:, 1:-1, 1:-1].cpu(), self._targets, self.threshold)
        for name, value in precision.items():
            self.per_protein[name][-1][layer - 1] = value
        self.on_total[layer - 1] += on
        self.mass_total[layer - 1] += mass

    def result(self, *, model: str = "", seconds: float = 0.0) -> HeadScores:
        """The scores over the proteins read so far."""
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.where(self.mass_total > 0, self.on_total / self.mass_total, np.nan)
        per_protein = {name: np.array(a).reshape(len(self.names), *self.shape) for name, a in self.per_protein.items()}
        mean = {}
        for name, a in per_protein.items():
            counted = (~np.isnan(a)).sum(axis=0)
            mean[name] = np.where(counted > 0, np.nansum(a, axis=0) / np.maximum(counted, 1), np.nan)
        return HeadScores(
            precision=mean, per_protein=per_protein, attention_on_contacts=fraction,
            attention_mass=self.mass_total.copy(), contact_rate=self.n_contacts / max(self.n_known, 1),
            proteins=list(self.names), lengths=list(self.lengths), threshold=self.threshold,
            min_separation=self.min_separation, model=model, seconds=seconds,
        )


def head_scores(
    predictor: AttentionModel,
    proteins: Sequence[Protein],
    *,
    threshold: float = VIG_THRESHOLD,
    min_separation: int = MIN_SEPARATION,
    progress: bool | Callable = False,
) -> HeadScores:
    """Score every head of a model on a set of proteins, one layer of one protein's maps at a time.

    Parameters
    ----------
    predictor : AttentionModel
        A :class:`contacts.Predictor`, or anything with ``config``, ``device`` and ``iter_attention``.
    proteins : sequence of Protein
    threshold : float
        Attention above this is "high-confidence" (Vig et al.: 0.3; 0 counts all).
    min_separation : int
        Contacts closer in sequence do not count as contacts for the attention
        fraction (P@L ranges start at 6 regardless).
    progress : bool or callable
        A tqdm bar over proteins.
    """
    cfg = predictor.config
    reader = HeadScoreReader(cfg.num_layers, cfg.num_heads, threshold=threshold, min_separation=min_separation)
    proteins = list(proteins)
    if not proteins:
        raise ValueError("no proteins to score heads on")
    start = time.perf_counter()
    read_layers(predictor, proteins, [reader], progress=progress)
    return reader.result(model=cfg.name, seconds=time.perf_counter() - start)


# --------------------------------------------------------------------------- plots


def plot_heads(
    scores: np.ndarray,
    *,
    probe: ContactProbe | None = None,
    ax=None,
    title: str | None = None,
    label: str = "score",
    cmap: str | None = None,
):
    """A layers x heads heatmap of one score, the probe's non-zero coefficients marked.

    Parameters
    ----------
    scores : ndarray, shape=(layers, heads)
    probe : ContactProbe, optional
        Its non-zero coefficients are circled: white for positive, red for negative.
    cmap : str, optional
        Default :data:`contacts.viz.plots.SCORE_CMAP`, the package's score colormap.
    ax : matplotlib Axes, optional
        Drawn into; default a new :class:`~matplotlib.figure.Figure`'s.

    Returns
    -------
    matplotlib Axes
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (layers, heads), got {scores.shape}")
    layers, heads = scores.shape
    ax = new_axes(ax, figsize=(max(4.0, 0.3 * heads + 2), max(4.0, 0.22 * layers + 1.5)))
    if cmap is None:

        cmap = SCORE_CMAP
    image = ax.imshow(scores, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(0, heads, max(1, heads // 10)))
    yticks = range(0, layers, max(1, layers // 11))
    ax.set_yticks(list(yticks), [str(t + 1) for t in yticks])
    if probe is not None:
        grid = probe.coef_grid()
        if grid.shape != scores.shape:
            raise ValueError(f"the probe's layout {grid.shape} is not the scores' {scores.shape}")
        for sign, color in ((1, "white"), (-1, "red")):
            rows, cols = np.nonzero(np.sign(grid) == sign)
            if len(rows):
                ax.scatter(cols, rows, s=28, facecolors="none", edgecolors=color, linewidths=1.2,
                           label=f"probe coef {'> 0' if sign > 0 else '< 0'}")
        if np.any(grid):
            ax.legend(loc="upper left", bbox_to_anchor=(0, -0.08), ncol=2, fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    return ax


def plot_best_per_layer(
    head_scores: HeadScores | None = None,
    *,
    scores: dict[str, np.ndarray] | None = None,
    baseline: float | None = None,
    ax=None,
    title: str | None = None,
):
    """The best head of each layer, one line per score.

    Parameters
    ----------
    head_scores : HeadScores, optional
        Draws its short/medium/long P@L and attention-on-contacts.
    scores : dict of str -> ndarray, shape=(layers, heads), optional
        Or any named scores.
    baseline : float, optional
        A horizontal reference (e.g. the contact rate: what chance scores).

    Returns
    -------
    matplotlib Axes
    """
    if scores is None:
        if head_scores is None:
            raise ValueError("give head_scores or scores")
        scores = {f"{k} P@L": v for k, v in head_scores.precision.items()}
        scores["attention on contacts"] = head_scores.attention_on_contacts
        if baseline is None:
            baseline = head_scores.contact_rate
    ax = new_axes(ax, figsize=(6.0, 3.5))
    for name, a in scores.items():
        a = np.asarray(a, dtype=float)
        best = np.nanmax(np.where(np.isnan(a), -np.inf, a), axis=1)
        best = np.where(np.isinf(best), np.nan, best)
        ax.plot(np.arange(1, len(best) + 1), best, marker="o", markersize=3, label=name)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle=":", linewidth=1, label="contact rate")
    ax.set_xlabel("layer")
    ax.set_ylabel("best head of the layer")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------- report


def write_report(
    scores: HeadScores,
    directory: str | Path,
    *,
    probe: ContactProbe | None = None,
    top: int = 10,
) -> dict[str, Path]:
    """Arrays, records, plots and a short markdown summary of a head analysis.

    Writes ``head_scores.npz``, ``head_scores.csv``, ``heads_long_P@L.png``,
    ``heads_attention_on_contacts.png``, ``best_head_per_layer.png``,
    ``summary.md`` and ``summary.json`` into ``directory``.

    Returns
    -------
    dict of str -> Path
    """
    directory = Path(directory)
    paths = scores.save(directory)
    model = scores.model or "model"
    for name, label in (("long", "long-range P@L"), ("attention", "attention on contacts")):
        ax = plot_heads(scores.score(name), probe=probe, label=label, title=f"{model}: {label} per head")
        path = directory / ("heads_long_P@L.png" if name == "long" else "heads_attention_on_contacts.png")
        with atomic_write(path, "wb") as fh:
            ax.figure.savefig(fh, format="png", dpi=120)
        paths[f"heatmap_{name}"] = path
    ax = plot_best_per_layer(scores, title=f"{model}: best head per layer")
    path = directory / "best_head_per_layer.png"
    with atomic_write(path, "wb") as fh:
        ax.figure.savefig(fh, format="png", dpi=120)
    paths["best_per_layer"] = path

    layers, heads = scores.shape
    ranked = sorted(scores.records(), key=lambda r: -np.nan_to_num(r["long_P@L"], nan=-1.0))[:top]
    lines = [
        f"# Which heads see structure: {model}",
        "",
        f"{len(scores.proteins)} proteins ({sum(scores.lengths)} residues); {layers} layers x {heads} heads. "
        f"Contact rate among labelled pairs at separation >= {scores.min_separation}: "
        f"{scores.contact_rate:.3f} (what a head that ranks pairs at random scores).",
        "",
        f"## Top {len(ranked)} heads by long-range P@L (layer 1-based, head 0-based)",
        "",
        "| layer | head | long P@L | medium P@L | short P@L | attention on contacts |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['layer']} | {r['head']} | {r['long_P@L']:.3f} | {r['medium_P@L']:.3f} | "
        f"{r['short_P@L']:.3f} | {r['attention_on_contacts']:.3f} |"
        for r in ranked
    ]
    value, head = scores.best_per_layer("long")
    lines += ["", "## Best head per layer (long-range P@L)", "", "| layer | head | long P@L |", "| ---: | ---: | ---: |"]
    lines += [f"| {layer + 1} | {h} | {v:.3f} |" for layer, (v, h) in enumerate(zip(value, head))]
    summary = {
        "model": model,
        "proteins": scores.proteins,
        "lengths": scores.lengths,
        "threshold": scores.threshold,
        "min_separation": scores.min_separation,
        "contact_rate": scores.contact_rate,
        "mean_over_heads": {f"{k}_P@L": float(np.nanmean(v)) for k, v in scores.precision.items()},
        "best_head_long": {"layer": ranked[0]["layer"], "head": ranked[0]["head"], "P@L": ranked[0]["long_P@L"]},
        "seconds": round(scores.seconds, 1),
    }
    if probe is not None:
        nonzero = probe.nonzero_heads()
        summary["probe_nonzero"] = int(len(nonzero))
        lines += [
            "",
            f"## Probe: {len(nonzero)} non-zero coefficients (circled in the heatmaps)",
            "",
            f"Long-range P@L of those heads: mean {np.nanmean(scores.precision['long'][tuple(nonzero.T)]):.3f} "
            f"vs {np.nanmean(scores.precision['long']):.3f} over all heads."
            if len(nonzero) else "The probe has no non-zero coefficient.",
        ]
    lines += [
        "",
        "Scores: each head's symmetrized, APC-corrected map used alone as a contact predictor, "
        "P@L by range (short 6-11, medium 12-23, long >= 24), mean over proteins; and the fraction "
        f"of its attention above {scores.threshold} that falls on contacts at separation >= "
        f"{scores.min_separation} (Vig et al. 2020), pooled over proteins. Files: "
        "`head_scores.npz` (arrays, layer x head), `head_scores.csv` (one row per head).",
        "",
    ]
    md = directory / "summary.md"
    with atomic_write(md, "w") as fh:
        fh.write("\n".join(lines))
    js = directory / "summary.json"
    with atomic_write(js, "w") as fh:
        fh.write(json.dumps(summary, indent=2))
    paths.update(summary=md, summary_json=js)
    return paths
