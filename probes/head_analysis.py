"""What ``contacts analyze-heads`` computes, from one forward pass per protein.

Three analyses read the same attention maps: what share of each head's
confident attention falls on each property (:mod:`probes.attention`), each
head's map used alone as a contact predictor (:mod:`probes.heads`), and probing
classifiers by layer (:mod:`probes.probing`). :func:`analyze_heads` runs each
protein through the model once and hands every layer to the three readers
(:func:`probes.passes.read_layers`); the results are those of
:func:`~probes.attention.attention_properties`, :func:`~probes.heads.head_scores`
and :func:`~probes.probing.layer_probes` run one after the other, which read
the model three times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contacts.analysis.annotations import sse_method
from contacts.constants import MIN_SEPARATION, RAO_C, VIG_THRESHOLD
from contacts.predictor.protocol import AttentionModel

from .attention import AttentionProperties, PropertyAccumulator
from .heads import HeadScoreReader, HeadScores
from .passes import read_layers
from .probing import LayerProbes, ProbingReader
from .proteins import DEFAULT_PROPERTIES, as_proteins

__all__ = ["HeadAnalysis", "analyze_heads"]


@dataclass
class HeadAnalysis:
    """The three results of :func:`analyze_heads`.

    Attributes
    ----------
    properties : AttentionProperties
        Its ``seconds``: ``labels``, the shared ``forward`` and its own ``analysis``.
    scores : HeadScores
        Its ``seconds``: the shared forward pass plus its own work.
    probing : LayerProbes or None
        None where probing was not asked for.
    seconds : dict of str -> float
        ``labels``, ``forward`` (the one pass's blocks), ``properties``, ``scores``,
        ``probing`` (collecting embeddings and pair features) and ``probing_fit``
        (the classifiers), wall-clock.
    """

    properties: AttentionProperties
    scores: HeadScores
    probing: LayerProbes | None
    seconds: dict[str, float]


def analyze_heads(
    model: AttentionModel,
    structures,
    properties: Sequence[str] | None = None,
    threshold: float = VIG_THRESHOLD,
    min_separation: int = MIN_SEPARATION,
    *,
    weighted_threshold: float = 0.0,
    probing: bool = True,
    contact_layers: Sequence[int] | None = None,
    folds: int = 5,
    C: float = 1.0,
    contact_C: float = RAO_C,
    split: str | None = None,
    sse: str = "auto",
    progress: bool | Callable = False,
    **label_options,
) -> HeadAnalysis:
    """Attention properties, per-head contact scores and probing classifiers, one pass per protein.

    Parameters
    ----------
    model : AttentionModel
        A :class:`contacts.Predictor`, or anything with ``config``, ``device`` and ``iter_attention``.
    structures
        As :func:`probes.proteins.load_proteins` takes them (read with ``split``,
        ``sse`` and ``label_options``), or a list of Protein.
    properties, threshold, min_separation, weighted_threshold
        As :func:`probes.attention.attention_properties`; ``threshold`` and
        ``min_separation`` also those of :func:`probes.heads.head_scores` (and the
        latter the pairs of the contact probe by depth).
    probing : bool
        Fit the probing classifiers (:func:`probes.probing.layer_probes`, with
        ``contact_layers``, ``folds``, ``C``, ``contact_C``); they need at least 2 proteins.
    sse : {'auto', 'psea', 'dssp'}
        Secondary-structure method, for reading structures and for the record.
    progress : bool or callable
        A tqdm bar over proteins.

    Returns
    -------
    HeadAnalysis
        The same numbers as the three functions run one after the other.
    """
    properties = list(DEFAULT_PROPERTIES if properties is None else properties)
    cfg = model.config
    start = time.perf_counter()
    proteins = as_proteins(structures, split, properties=properties, sse=sse, max_residues=cfg.max_residues,
                           **label_options)
    labels = time.perf_counter() - start
    readers = [
        PropertyAccumulator(cfg.num_layers, cfg.num_heads, properties, threshold=threshold,
                            weighted_threshold=weighted_threshold, min_separation=min_separation),
        HeadScoreReader(cfg.num_layers, cfg.num_heads, threshold=threshold, min_separation=min_separation),
    ]
    if probing:
        readers.append(ProbingReader(proteins, cfg.num_layers, cfg.num_heads, cfg.embed_dim,
                                     contact_layers=contact_layers, min_separation=min_separation))
    seconds = read_layers(model, proteins, readers, progress=progress)
    attention = readers[0].result(model=cfg.name, sse_method=sse_method(sse), seconds={
        "labels": labels, "forward": seconds.forward, "analysis": seconds.readers[0]})
    scores = readers[1].result(model=cfg.name, seconds=seconds.forward + seconds.readers[1])
    fit = time.perf_counter()
    layers = readers[2].result(folds=folds, C=C, contact_C=contact_C) if probing else None
    return HeadAnalysis(attention, scores, layers, {
        "labels": labels, "forward": seconds.forward, "properties": seconds.readers[0],
        "scores": seconds.readers[1], "probing": seconds.readers[2] if probing else 0.0,
        "probing_fit": time.perf_counter() - fit if probing else 0.0,
    })
