"""The report of an attention analysis: arrays, a JSON summary, figures and markdown, into one folder.

:func:`write_report` writes what :func:`probes.attention.attention_properties`
(and optionally :func:`probes.probing.layer_probes`) found; ``contacts
analyze-heads`` writes it beside the per-head report of :func:`probes.heads.write_report`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from contacts.io.files import atomic_write
from contacts.viz.attention import plot_blosum, plot_layer_share, plot_probing, plot_property_heads

from .attention import MIN_ATTENDED, AttentionProperties, blosum62
from .heads import plot_heads
from .proteins import AMINO_ACIDS

__all__ = ["write_json", "write_report"]


def write_json(path: Path, record: dict) -> Path:
    """A record as indented JSON (NaN written as null)."""
    def clean(x):
        if isinstance(x, float) and not np.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, (np.floating, np.integer)):
            return clean(x.item())
        return x
    with atomic_write(path, "w") as fh:
        fh.write(json.dumps(clean(record), indent=2))
    return path


def _save(figure, path: Path) -> Path:
    with atomic_write(path, "wb") as fh:
        figure.savefig(fh, format="png", dpi=110)
    return path


def write_report(
    result: AttentionProperties,
    directory: str | Path,
    *,
    probing=None,
    top: int = 5,
    min_attended: float = MIN_ATTENDED,
    figures: bool = True,
) -> dict[str, Path]:
    """Arrays, a JSON summary, figures and a markdown report of an attention analysis.

    Writes into ``directory``: ``attention_properties.npz`` (every array of
    :meth:`AttentionProperties.arrays`), ``attention_summary.json``,
    ``attention.md`` (the top heads of each property against its background),
    and with ``figures``: ``attention_heads_<property>.png`` (heatmap),
    ``attention_layers_<property>.png`` (per-layer share),
    ``attention_mean_distance.png``, ``attention_entropy.png``,
    ``attention_blosum62.png`` (when all 20 amino acids were analysed) and, with
    ``probing`` (a :class:`probes.probing.LayerProbes`), ``probing_by_layer.png``.

    Returns
    -------
    dict of str -> Path
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    npz = directory / "attention_properties.npz"
    with atomic_write(npz, "wb") as fh:
        np.savez_compressed(fh, **result.arrays())
    paths["arrays"] = npz
    summary = result.summary(top, min_attended=min_attended)
    if probing is not None:
        summary["probing"] = probing.summary()
    paths["summary_json"] = write_json(directory / "attention_summary.json", summary)
    aa_complete = all(a in result.proportion for a in AMINO_ACIDS)
    if figures:
        for name in result.properties:
            paths[f"heads_{name}"] = _save(plot_property_heads(
                result.proportion[name], result.background[name], name=name, attended=result.attended[name],
                min_attended=min_attended,
                title=f"{result.model or 'model'}: attention to {name}\n"
                      f"(background {result.background[name]:.3f}: black line on the colour bar)",
            ), directory / f"attention_heads_{name}.png")
            paths[f"layers_{name}"] = _save(plot_layer_share(result.layer_share[name], name=name),
                                            directory / f"attention_layers_{name}.png")
        for key, label in (("mean_distance", "mean attention distance |i - j|"), ("entropy", "attention entropy (nats)")):
            ax = plot_heads(getattr(result, key), label=label, title=f"{result.model or 'model'}: {label}")
            paths[key] = _save(ax.figure, directory / f"attention_{key}.png")
        if aa_complete:
            paths["blosum62"] = _save(plot_blosum(result.aa_similarity, blosum62(), letters=AMINO_ACIDS,
                                                  correlation=result.blosum_correlation),
                                      directory / "attention_blosum62.png")
        if probing is not None:
            paths["probing"] = _save(plot_probing(probing.curves()), directory / "probing_by_layer.png")

    layers, heads = result.shape
    lines = [
        f"# What the heads attend to: {result.model or 'model'}",
        "",
        f"{len(result.proteins)} proteins ({sum(result.lengths)} residues), {layers} layers x {heads} heads. "
        f"p_alpha(f): share of a head's attention above theta = {result.threshold} that falls on pairs with "
        f"property f (Vig et al. 2021), pooled over proteins; `<cls>`/`<eos>` removed; contacts at "
        f"|i - j| >= {result.min_separation}; secondary structure by {result.sse_method}. Heads with fewer "
        f"than {min_attended:g} confident weights on labelled pairs are left out of the rankings (grey in the "
        "heatmaps).",
        "",
        "| property | background | heads above background | best head (layer, head) | its p_alpha | "
        "confident weights it holds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in result.properties:
        record = summary["properties"][name]
        best = record["top_heads"][0] if record["top_heads"] else None
        where = f"{best['layer']}, {best['head']}" if best else "-"
        value = f"{best['proportion']:.3f}" if best else "-"
        mass = f"{best['attended']:.0f}" if best else "-"
        lines.append(f"| {name} | {result.background[name]:.3f} | {record['heads_above_background']} | {where} | "
                     f"{value} | {mass} |")
    for name in result.properties:
        rows = summary["properties"][name]["top_heads"]
        if not rows:
            continue
        lines += ["", f"## {name}: top {len(rows)} heads (background {result.background[name]:.3f})", "",
                  "| layer | head | p_alpha | x background | confident weights |", "| ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            ratio = r["proportion"] / r["background"] if r["background"] > 0 else float("nan")
            lines.append(f"| {r['layer']} | {r['head']} | {r['proportion']:.3f} | {ratio:.2f} | {r['attended']:.0f} |")
    if aa_complete:
        lines += ["", f"Amino-acid attention similarity vs BLOSUM62: Pearson r = {result.blosum_correlation:.3f} "
                  "(190 off-diagonal pairs).", ""]
    if probing is not None:
        lines += ["", "## Probing classifiers by layer (cross-validated by protein)", "",
                  "| score | metric | baseline | best layer | best score |", "| --- | --- | ---: | ---: | ---: |"]
        for name, (xs, ys, base) in probing.curves().items():
            ys = np.asarray(ys, dtype=float)
            if not np.isfinite(ys).any():
                continue
            k = int(np.nanargmax(ys))
            lines.append(f"| {name} | {probing.metrics.get(name, '')} | {base:.3f} | {int(xs[k])} | {ys[k]:.3f} |")
    lines += ["", "Files: `attention_properties.npz` (arrays: `proportion_<f>`, `weighted_<f>`, `hits_<f>`, "
              "`attended_<f>`, `layer_share_<f>`, `background_<f>`, `mean_distance`, `entropy`, ...), "
              "`attention_summary.json`, the PNGs. Layers are 1-based, heads 0-based.", ""]
    paths["report"] = directory / "attention.md"
    with atomic_write(paths["report"], "w") as fh:
        fh.write("\n".join(lines))
    return paths
