"""What each attention head attends to, measured on structures (Vig et al. 2021, "BERTology meets biology").

For a property f of a pair of residues (i attends to j), the share of a head's
high-confidence attention that lands on pairs with the property,

    p_alpha(f) = sum_{proteins, i, j} f(i, j) 1[a_ij > theta] / sum_{proteins, i, j} 1[a_ij > theta],

with theta = 0.3, each head's raw softmax map (not symmetrized), ``<cls>`` and
``<eos>`` rows and columns removed, and pairs whose label is unknown left out of
both sums. It is compared with the property's background rate over the same
pairs (what a head attending at random would score). Properties
(:data:`DEFAULT_PROPERTIES`):

- ``contact``: i and j in contact (:func:`contacts.analysis.labels.contact_map`: same cutoff
  and atom options) and ``|i - j| >= min_separation``;
- ``helix``, ``strand``, ``turn``: three-state secondary structure of residue j
  (:mod:`contacts.analysis.annotations`: P-SEA or DSSP, and the 8 -> 3 mapping);
- ``binding_site``: residue j binds a ligand (heavy atom within 4 Å of a
  non-polymer, non-water entity that is not an additive or common ion);
- the 20 amino acids by one-letter code: residue j is of that type.

Besides the count-based ``proportion``, ``weighted`` replaces the indicator by the
attention weight itself, ``sum f a 1[a > theta_w] / sum a 1[a > theta_w]`` with
theta_w = 0 by default: this is what salesforce/provis's ``compute_edge_features.py``
computes (its ``--min-attn`` is theta_w). Per layer, ``layer_share`` is the share
of the model's attention to f (weighted sums) that the layer holds, and
``layer_mean`` provis's "Layer Avg." bar (mean of the layer's heads' p_alpha).
``aa_similarity`` is the Pearson correlation between amino acids of their
per-head p_alpha vectors, and ``blosum_correlation`` its correlation with
BLOSUM62 over the off-diagonal pairs (provis's ``report_aa_correlations.py``).
Clark et al. (2019)'s per-head summaries need no structure: ``mean_distance``
(attention-weighted ``|i - j|`` over residue pairs) and ``entropy`` (of each
residue's full attention row, specials included, averaged over residues).

The model runs once per protein and the maps are consumed one layer at a time
(:meth:`contacts.Predictor.iter_attention`): nothing quadratic is kept beyond
one layer's maps of one protein.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from biotite.sequence.align import SubstitutionMatrix
from einops import rearrange, reduce

from contacts.analysis.annotations import (
    ADDITIVES,
    SSE_STATES,
    binding_sites,
    place_residues,
    secondary_structure,
    sse_labels,
    sse_method,
)
from contacts.analysis.labels import SequenceMismatchError, align_to_structure, contact_map, reindex_map
from contacts.constants import CONTACT_ATOM, CONTACT_CUTOFF, MIN_SEPARATION, VIG_THRESHOLD
from contacts.io.domains import read_domains
from contacts.io.manifest import folder_manifest, is_structure_file, read_manifest, structure_files, structure_name
from contacts.io.progress import track
from contacts.io.structures import Structure, StructureError, cut_residues, load_structure
from contacts.viz.attention import plot_blosum, plot_layer_share, plot_probing, plot_property_heads

from .heads import plot_heads

__all__ = [
    "AMINO_ACIDS",
    "DEFAULT_PROPERTIES",
    "AnnotatedProtein",
    "AttentionProperties",
    "PropertyAccumulator",
    "annotate",
    "attention_properties",
    "blosum62",
    "head_statistics",
    "load_annotated",
    "resolve_structures",
    "write_report",
]

#: The 20 standard amino acids, one-letter codes, BLOSUM62's order.
AMINO_ACIDS = tuple("ARNDCQEGHILKMFPSTWYV")
#: Properties of residue j (the attended-to residue).
RESIDUE_PROPERTIES = (*SSE_STATES, "binding_site", *AMINO_ACIDS)
#: Every property, in report order.
DEFAULT_PROPERTIES = ("contact", *SSE_STATES, "binding_site", *AMINO_ACIDS)
#: Heads with fewer confident attention weights than this are left out of rankings and drawn grey: a
#: share of a handful of weights is noise (provis leaves out heads with attention mass under 100).
MIN_ATTENDED = 100


# --------------------------------------------------------------------------- labelled proteins


@dataclass(frozen=True, eq=False)
class AnnotatedProtein:
    """One chain with the labels the properties need, laid on the sequence the model reads.

    Attributes
    ----------
    name : str
    sequence : str, length L
    contacts : ndarray, shape=(L, L)
        1.0 contact, 0.0 none, NaN unknown (no ``|i - j|`` filter applied).
    residues : dict of str -> ndarray, shape=(L,)
        Per-residue properties (``helix``, ``strand``, ``turn``, ``binding_site``):
        1.0, 0.0, NaN unknown. Amino acids are read from :attr:`sequence`.
    """

    name: str
    sequence: str
    contacts: np.ndarray
    residues: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.sequence)
        if np.shape(self.contacts) != (n, n):
            raise ValueError(f"{self.name}: contacts have shape {np.shape(self.contacts)}; the sequence has {n} residues")
        for key, value in self.residues.items():
            if np.shape(value) != (n,):
                raise ValueError(f"{self.name}: {key} has shape {np.shape(value)}; the sequence has {n} residues")

    def residue_property(self, name: str) -> np.ndarray:
        """Values of a residue property, shape=(L,): an amino acid from the sequence, others as stored (NaN if absent)."""
        if name in AMINO_ACIDS:
            return np.array([float(c == name) for c in self.sequence])
        return self.residues.get(name, np.full(len(self.sequence), np.nan))


def resolve_structures(
    structures: Structure | str | os.PathLike | Iterable[Structure | str | os.PathLike],
    split: str | None = None,
) -> list[tuple[Structure | Path, str | None]]:
    """``(structure or path, chain)`` for each structure named.

    ``structures`` is a :class:`Structure`, a structure file, a folder (its
    ``MANIFEST.tsv`` rows, or every structure file), a manifest file (paths
    relative to its folder), or an iterable of structures and files. ``split``
    keeps the manifest rows of one split (None: all).
    """
    if isinstance(structures, Structure):
        return [(structures, None)]
    if isinstance(structures, (str, os.PathLike)):
        path = Path(structures)
        if path.is_dir():
            manifest = folder_manifest(path)
            if manifest is None:
                if split is not None:
                    raise ValueError(f"split={split!r} needs a manifest in {path}")
                return [(p, None) for p in structure_files(path)]
            path = manifest
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if is_structure_file(path):
            return [(path, None)]
        rows = list(read_manifest(path).values())
        if split is not None:
            splits = sorted({r.get("split", "") for r in rows})
            rows = [r for r in rows if r.get("split") == split]
            if not rows:
                raise ValueError(f"split {split!r} not in {path}; it has {splits}")
        return [(path.parent / r["file"], r.get("chain") or None) for r in rows]
    return [item for s in structures for item in resolve_structures(s)]


def annotate(
    structure: Structure,
    *,
    properties: Sequence[str] = DEFAULT_PROPERTIES,
    cutoff: float = CONTACT_CUTOFF,
    atom: str = CONTACT_ATOM,
    full_sequence: bool = True,
    sse: str = "auto",
    additives: Iterable[str] = ADDITIVES,
    name: str | None = None,
) -> AnnotatedProtein:
    """The labels of one structure's chain for the properties asked.

    Parameters
    ----------
    structure : Structure
    properties : sequence of str
    cutoff, atom : float, str
        Contact definition (:func:`contacts.analysis.labels.contact_map`).
    full_sequence : bool
        Let the model read the deposited sequence where the file has one (residues
        without coordinates get unknown labels), as :func:`probes.pairs.load_proteins` does.
    sse : {'auto', 'psea', 'dssp'}
        Secondary-structure method (:func:`contacts.analysis.annotations.secondary_structure`).
    additives : iterable of str
        Residue names that are not ligands.

    Returns
    -------
    AnnotatedProtein
        ``binding_site`` is unknown (NaN) for a chain whose model holds no ligand
        at all (nothing to bind in that crystal says nothing about binding), and
        when the file cannot be read again.
    """
    sequence = structure.sequence
    index = np.arange(len(sequence))
    if full_sequence and structure.full_sequence and structure.full_sequence != sequence:
        try:
            index = align_to_structure(structure.full_sequence, structure)
            sequence = structure.full_sequence
        except SequenceMismatchError:
            pass
    labels = contact_map(structure, cutoff, atom)
    contacts = labels if len(index) == len(structure) and np.array_equal(index, np.arange(len(index))) \
        else reindex_map(labels, index)
    residues: dict[str, np.ndarray] = {}
    if any(p in SSE_STATES for p in properties):
        for state, values in sse_labels(secondary_structure(structure, sse)).items():
            residues[state] = place_residues(values, index)
    if "binding_site" in properties:
        try:
            if not structure.source:
                raise FileNotFoundError("the structure has no source file to read ligands from")
            sites = binding_sites(structure, exclude=additives)
        except (OSError, StructureError) as exc:
            warnings.warn(f"{structure!r}: binding sites unknown ({exc})", stacklevel=2)
            sites = np.full(len(structure), np.nan)
        if not np.nansum(sites) > 0:
            sites = np.full(len(structure), np.nan)
        residues["binding_site"] = place_residues(sites, index)
    if name is None:
        name = f"{structure_name(structure.source) if structure.source else 'structure'}_{structure.chain}"
    return AnnotatedProtein(name, sequence, contacts, residues)


def load_annotated(
    structures,
    split: str | None = None,
    *,
    max_residues: int | None = None,
    **options,
) -> list[AnnotatedProtein]:
    """Read and annotate structures (see :func:`resolve_structures` and :func:`annotate`).

    Chains longer than ``max_residues`` are skipped with a warning.
    """
    out = []
    for item, chain in resolve_structures(structures, split):
        structure = item if isinstance(item, Structure) else load_structure(item, chain=chain)
        protein = annotate(structure, **options)
        if max_residues is not None and len(protein.sequence) > max_residues:
            warnings.warn(f"{protein.name}: {len(protein.sequence)} residues exceed {max_residues}; skipped",
                          stacklevel=2)
            continue
        out.append(protein)
    if not out:
        raise ValueError(f"no structures to analyse in {structures!r}")
    return out


def load_annotated_domains(
    directory,
    domains,
    split: str | None = None,
    *,
    max_residues: int | None = None,
    **options,
) -> list[AnnotatedProtein]:
    """Read and annotate the domains a domain table lists (:func:`probes.pairs.load_domains`'s rows)."""
    out = []
    for domain in read_domains(domains, split):
        chain = load_structure(Path(directory) / domain.file, chain=domain.chain)
        protein = annotate(cut_residues(chain, domain.first, domain.last), name=domain.name, **options)
        if max_residues is not None and len(protein.sequence) > max_residues:
            warnings.warn(f"{protein.name}: {len(protein.sequence)} residues exceed {max_residues}; skipped",
                          stacklevel=2)
            continue
        out.append(protein)
    return out


# --------------------------------------------------------------------------- result


def blosum62() -> np.ndarray:
    """BLOSUM62 (biotite's ``std_protein_matrix``) over :data:`AMINO_ACIDS`, shape=(20, 20)."""
    matrix = SubstitutionMatrix.std_protein_matrix()
    symbols = list(matrix.get_alphabet1().get_symbols())
    order = [symbols.index(a) for a in AMINO_ACIDS]
    return matrix.score_matrix()[np.ix_(order, order)].astype(float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@dataclass
class AttentionProperties:
    """Per-head attention to each property, over a set of proteins.

    Attributes
    ----------
    proportion : dict of str -> ndarray, shape=(layers, heads)
        p_alpha(f): count-based share of confident attention on f (NaN: no attention above theta).
    weighted : dict of str -> ndarray, shape=(layers, heads)
        The same with attention weights above ``weighted_threshold``.
    background : dict of str -> float
        Rate of the property over the same (labelled) pairs.
    hits, attended : dict of str -> ndarray, shape=(layers, heads)
        Numerator and denominator of ``proportion``: counts of confident attention.
    weighted_hits, weighted_mass : dict of str -> ndarray, shape=(layers, heads)
        Numerator and denominator of ``weighted``.
    layer_share : dict of str -> ndarray, shape=(layers,)
        Share of all (weighted) attention to f that each layer holds; sums to 1.
    layer_mean : dict of str -> ndarray, shape=(layers,)
        Mean over the layer's heads of ``proportion`` (provis's "Layer Avg.").
    mean_distance, entropy : ndarray, shape=(layers, heads)
    aa_similarity : ndarray, shape=(20, 20)
        Pearson correlation of amino acids' p_alpha vectors over heads (NaN diagonal).
    blosum_correlation : float
        Pearson correlation of ``aa_similarity`` with BLOSUM62, off-diagonal pairs.
    """

    proportion: dict[str, np.ndarray]
    weighted: dict[str, np.ndarray]
    background: dict[str, float]
    hits: dict[str, np.ndarray]
    attended: dict[str, np.ndarray]
    weighted_hits: dict[str, np.ndarray]
    weighted_mass: dict[str, np.ndarray]
    mean_distance: np.ndarray
    entropy: np.ndarray
    proteins: list[str]
    lengths: list[int]
    threshold: float = VIG_THRESHOLD
    weighted_threshold: float = 0.0
    min_separation: int = MIN_SEPARATION
    model: str = ""
    sse_method: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def properties(self) -> list[str]:
        return list(self.proportion)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mean_distance.shape

    @property
    def layer_share(self) -> dict[str, np.ndarray]:
        return {k: _ratio(v.sum(1), np.full(len(v), v.sum())) for k, v in self.weighted_hits.items()}

    @property
    def layer_mean(self) -> dict[str, np.ndarray]:
        out = {}
        for name, p in self.proportion.items():
            counted = (~np.isnan(p)).sum(1)
            out[name] = _ratio(np.nansum(p, 1), counted.astype(float))
        return out

    @property
    def aa_similarity(self) -> np.ndarray:
        present = [a for a in AMINO_ACIDS if a in self.proportion]
        if len(present) < len(AMINO_ACIDS):
            return np.full((len(AMINO_ACIDS),) * 2, np.nan)
        vectors = np.stack([self.proportion[a].ravel() for a in AMINO_ACIDS])
        keep = np.isfinite(vectors).all(0)
        sim = np.full((len(AMINO_ACIDS),) * 2, np.nan)
        if keep.sum() >= 3:
            with np.errstate(invalid="ignore", divide="ignore"):
                sim = np.corrcoef(vectors[:, keep])
        np.fill_diagonal(sim, np.nan)
        return sim

    @property
    def blosum_correlation(self) -> float:
        sim = self.aa_similarity
        i, j = np.tril_indices(len(AMINO_ACIDS), -1)
        x, y = sim[i, j], blosum62()[i, j]
        ok = np.isfinite(x)
        if ok.sum() < 3 or np.std(x[ok]) == 0:
            return float("nan")
        return float(np.corrcoef(x[ok], y[ok])[0, 1])

    def top_heads(self, name: str, k: int = 10, *, min_attended: float = MIN_ATTENDED) -> list[dict]:
        """The k heads with the highest p_alpha(f), among heads with at least ``min_attended`` confident weights.

        Returns rows ``layer`` (1-based), ``head`` (0-based), ``proportion``,
        ``background``, ``attended``.
        """
        if name not in self.proportion:
            raise ValueError(f"unknown property {name!r}; analysed: {self.properties}")
        p = np.where(self.attended[name] >= min_attended, self.proportion[name], np.nan)
        order = np.argsort(-np.nan_to_num(p, nan=-np.inf).ravel(), kind="stable")[:k]
        rows = []
        for flat in order:
            layer, head = np.unravel_index(flat, p.shape)
            if np.isnan(p[layer, head]):
                break
            rows.append({"layer": int(layer) + 1, "head": int(head), "proportion": float(p[layer, head]),
                         "background": float(self.background[name]),
                         "attended": float(self.attended[name][layer, head])})
        return rows

    def summary(self, top: int = 5, *, min_attended: float = MIN_ATTENDED) -> dict:
        """A plain record: settings, and per property its background, best heads (among those with at least
        ``min_attended`` confident weights) and layer shares."""
        layers, heads = self.shape
        out = {
            "model": self.model, "layers": layers, "heads": heads, "proteins": self.proteins,
            "lengths": self.lengths, "threshold": self.threshold, "weighted_threshold": self.weighted_threshold,
            "min_separation": self.min_separation, "sse_method": self.sse_method, "min_attended": min_attended,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "blosum_correlation": self.blosum_correlation, "properties": {},
        }
        for name in self.properties:
            p = np.where(self.attended[name] >= min_attended, self.proportion[name], np.nan)
            out["properties"][name] = {
                "background": self.background[name],
                "max_proportion": float(np.nanmax(p)) if np.isfinite(p).any() else None,
                "heads_above_background": int(np.sum(p > self.background[name])),
                "heads_ranked": int(np.sum(self.attended[name] >= min_attended)),
                "top_heads": self.top_heads(name, top, min_attended=min_attended),
                "layer_share": [float(x) for x in self.layer_share[name]],
            }
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array, flat names (``proportion_contact``, ``layer_share_A``, ``entropy``, ...)."""
        out: dict[str, np.ndarray] = {}
        for key in ("proportion", "weighted", "hits", "attended", "weighted_hits", "weighted_mass",
                    "layer_share", "layer_mean"):
            out.update({f"{key}_{name}": v for name, v in getattr(self, key).items()})
        out.update({f"background_{name}": np.float64(v) for name, v in self.background.items()})
        out.update(mean_distance=self.mean_distance, entropy=self.entropy, aa_similarity=self.aa_similarity,
                   blosum62=blosum62(), proteins=np.array(self.proteins), lengths=np.array(self.lengths))
        return out


# --------------------------------------------------------------------------- accumulation


class PropertyAccumulator:
    """Sums of attention on each property, fed one protein and one layer at a time.

    >>> acc = PropertyAccumulator(layers, heads, ["contact", "helix"])  # doctest: +SKIP
    >>> acc.start(protein, device)                                     # doctest: +SKIP
    >>> for layer, attention, _ in predictor.iter_attention(protein.sequence):  # doctest: +SKIP
    ...     acc.add(layer, attention)
    >>> result = acc.result()                                          # doctest: +SKIP

    The sums stay on the maps' device until :meth:`result`: a layer costs a few
    matrix products (the labels of a protein are laid out once as matrices, so
    every pair property and every residue property is one product with the
    thresholded map) and no transfer to the host.

    Parameters
    ----------
    layers, heads : int
    properties : sequence of str
        ``contact`` and names of :data:`RESIDUE_PROPERTIES`.
    threshold : float
        theta of the count-based p_alpha.
    weighted_threshold : float
        theta_w of the weighted version (weights at or below it count as 0).
    min_separation : int
        Contacts closer in sequence are not the ``contact`` property.
    """

    def __init__(self, layers: int, heads: int, properties: Sequence[str] = DEFAULT_PROPERTIES, *,
                 threshold: float = VIG_THRESHOLD, weighted_threshold: float = 0.0,
                 min_separation: int = MIN_SEPARATION):
        unknown = [p for p in properties if p != "contact" and p not in RESIDUE_PROPERTIES]
        if unknown:
            raise ValueError(f"unknown properties {unknown}; known: {list(DEFAULT_PROPERTIES)}")
        for value, what in ((threshold, "threshold"), (weighted_threshold, "weighted_threshold")):
            if not 0 <= value < 1:
                raise ValueError(f"{what}={value} must be in [0, 1)")
        self.shape = (layers, heads)
        self.properties = list(dict.fromkeys(properties))
        self.residue_names = [p for p in self.properties if p != "contact"]
        self.threshold = threshold
        self.weighted_threshold = weighted_threshold
        self.min_separation = min_separation
        self.background_sums = {p: np.zeros(2) for p in self.properties}
        self.names: list[str] = []
        self.lengths: list[int] = []
        self._current: dict[str, torch.Tensor] | None = None
        self._sums: dict[str, torch.Tensor] | None = None

    def _zeros(self, device) -> dict[str, torch.Tensor]:
        layers, heads = self.shape
        p = len(self.residue_names)
        kw = {"dtype": torch.float64, "device": device}
        # pair sums: [confident, weighted, (all weights where theta_w > 0)] x [contact f, contact known,
        # |i - j|, 1] per head; residue sums: [confident, weighted] x [f, known] of each residue property
        slots = 2 if self.weighted_threshold == 0 else 3
        return {"pair": torch.zeros(layers, slots, heads, 4, **kw),
                "residue": torch.zeros(layers, 2, heads, 2 * p, **kw),
                "entropy": torch.zeros(layers, heads, **kw), "rows": torch.zeros(layers, **kw)}

    def start(self, protein: AnnotatedProtein, device: str | torch.device = "cpu") -> None:
        """Begin a protein: its labels become matrices on ``device``, its background rates are added."""
        n = len(protein.sequence)
        self.names.append(protein.name)
        self.lengths.append(n)
        if self._sums is None:
            self._sums = self._zeros(device)
        pair = np.zeros((n * n, 4), dtype=np.float32)
        if "contact" in self.properties:
            labels = np.asarray(protein.contacts, dtype=np.float64)
            known = ~np.isnan(labels)
            far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= self.min_separation
            f = known & (np.nan_to_num(labels) > 0.5) & far
            pair[:, 0], pair[:, 1] = f.ravel(), known.ravel()
            self.background_sums["contact"] += [f.sum(), known.sum()]
        pair[:, 2] = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).ravel()
        pair[:, 3] = 1.0
        residue = np.zeros((n, 2 * len(self.residue_names)), dtype=np.float32)
        if self.residue_names:
            values = np.stack([protein.residue_property(p) for p in self.residue_names], axis=1)  # (L, P)
            known = ~np.isnan(values)
            f = np.where(known, values > 0.5, False)
            residue = np.concatenate([f, known], axis=1).astype(np.float32)
            # every query i attends over every key j: the rate over pairs is the rate over residues j
            for k, p in enumerate(self.residue_names):
                self.background_sums[p] += [n * f[:, k].sum(), n * known[:, k].sum()]
        self._current = {"pair": torch.as_tensor(pair, device=device),
                         "residue": torch.as_tensor(residue, device=device)}

    def add(self, layer: int, attention: torch.Tensor) -> None:
        """Add one layer of the current protein.

        Parameters
        ----------
        layer : int
            1-based layer number.
        attention : Tensor, shape=(heads, L + 2, L + 2)
            Raw softmax weights, ``<cls>`` and ``<eos>`` rows and columns included.
        """
        if self._current is None:
            raise RuntimeError("call start(protein) before add()")
        n = self.lengths[-1]
        heads = self.shape[1]
        if tuple(attention.shape) != (heads, n + 2, n + 2):
            raise ValueError(f"attention of layer {layer} has shape {tuple(attention.shape)}; expected "
                             f"({heads}, {n + 2}, {n + 2}) (heads, L + 2, L + 2)")
        full = attention.float()
        a = full[:, 1:-1, 1:-1]
        confident = (a > self.threshold).float()
        weights = a if self.weighted_threshold == 0 else a * (a > self.weighted_threshold)
        slots = torch.stack([confident, weights] if self.weighted_threshold == 0 else [confident, weights, a])
        sums = self._sums
        row = layer - 1
        sums["pair"][row] += (rearrange(slots, "s h i j -> s h (i j)") @ self._current["pair"]).double()
        if self.residue_names:
            to_key = reduce(slots[:2], "s h i j -> s h j", "sum")
            sums["residue"][row] += (to_key @ self._current["residue"]).double()
        rows = full[:, 1:-1, :]
        sums["entropy"][row] += reduce(-torch.special.xlogy(rows, rows), "h i j -> h", "sum").double()
        sums["rows"][row] += n

    def result(self, **settings) -> AttentionProperties:
        """The pooled ratios (``settings`` fill the record's ``model``, ``sse_method``, ``seconds``)."""
        sums = {k: v.cpu().numpy() for k, v in (self._sums or self._zeros("cpu")).items()}
        pair, residue = sums["pair"], sums["residue"]
        p = len(self.residue_names)
        hits, attended, weighted_hits, weighted_mass = {}, {}, {}, {}
        for name in self.properties:
            if name == "contact":
                num, den = pair[..., 0], pair[..., 1]
            else:
                k = self.residue_names.index(name)
                num, den = residue[..., k], residue[..., p + k]
            hits[name], attended[name] = num[:, 0], den[:, 0]
            weighted_hits[name], weighted_mass[name] = num[:, 1], den[:, 1]
        return AttentionProperties(
            proportion={q: _ratio(hits[q], attended[q]) for q in self.properties},
            weighted={q: _ratio(weighted_hits[q], weighted_mass[q]) for q in self.properties},
            background={q: float(_ratio(s[0], s[1])) for q, s in self.background_sums.items()},
            hits=hits, attended=attended, weighted_hits=weighted_hits, weighted_mass=weighted_mass,
            # attention-weighted |i - j| over residue pairs, all weights (the last slot)
            mean_distance=_ratio(pair[:, -1, :, 2], pair[:, -1, :, 3]),
            entropy=_ratio(sums["entropy"], sums["rows"][:, None] * np.ones(self.shape)),
            proteins=list(self.names), lengths=list(self.lengths), threshold=self.threshold,
            weighted_threshold=self.weighted_threshold, min_separation=self.min_separation, **settings,
        )


def attention_properties(
    model,
    structures,
    properties: Sequence[str] | None = None,
    threshold: float = VIG_THRESHOLD,
    min_separation: int = MIN_SEPARATION,
    *,
    weighted_threshold: float = 0.0,
    split: str | None = None,
    cutoff: float = CONTACT_CUTOFF,
    atom: str = CONTACT_ATOM,
    sse: str = "auto",
    additives: Iterable[str] = ADDITIVES,
    full_sequence: bool = True,
    progress: bool | Callable = False,
) -> AttentionProperties:
    """What share of every head's confident attention falls on each property, over structures.

    Parameters
    ----------
    model : contacts.Predictor
        Anything with ``config`` (``num_layers``, ``num_heads``), ``device`` and
        :meth:`~contacts.Predictor.iter_attention`.
    structures : Structure, path, manifest, folder, or iterable of them, or of AnnotatedProtein
        See :func:`resolve_structures`; already annotated proteins are used as they are.
    properties : sequence of str, optional
        Default :data:`DEFAULT_PROPERTIES`.
    threshold : float
        theta (Vig et al.: 0.3).
    min_separation : int
        Contacts closer in sequence do not count as the ``contact`` property.
    weighted_threshold : float
        theta_w of :attr:`AttentionProperties.weighted` (default 0: all attention).
    split : str, optional
        Manifest split to use (None: all rows).
    cutoff, atom, sse, additives, full_sequence
        Label options (:func:`annotate`).
    progress : bool or callable
        A tqdm bar over proteins.

    Returns
    -------
    AttentionProperties
        ``seconds`` holds ``labels`` (reading and annotating), ``forward`` (the
        model's layers) and ``analysis`` (the sums), wall-clock.
    """
    properties = list(DEFAULT_PROPERTIES if properties is None else properties)
    cfg = model.config
    acc = PropertyAccumulator(cfg.num_layers, cfg.num_heads, properties, threshold=threshold,
                              weighted_threshold=weighted_threshold, min_separation=min_separation)
    seconds = {"labels": 0.0, "forward": 0.0, "analysis": 0.0}
    start = time.perf_counter()
    if isinstance(structures, (list, tuple)) and structures and all(isinstance(s, AnnotatedProtein)
                                                                     for s in structures):
        proteins = list(structures)
    else:
        proteins = load_annotated(structures, split, properties=properties, cutoff=cutoff, atom=atom,
                                  full_sequence=full_sequence, sse=sse, additives=additives,
                                  max_residues=getattr(cfg, "max_residues", None))
    seconds["labels"] = time.perf_counter() - start
    stream = track(proteins, progress, total=len(proteins), desc="proteins", unit="protein")
    sync = torch.cuda.synchronize if torch.device(model.device).type == "cuda" else (lambda: None)
    for protein in stream:
        tick = time.perf_counter()
        acc.start(protein, model.device)
        seconds["analysis"] += time.perf_counter() - tick
        layers = model.iter_attention(protein.sequence)
        while True:
            tick = time.perf_counter()
            item = next(layers, None)
            sync()
            seconds["forward"] += time.perf_counter() - tick
            if item is None:
                break
            tick = time.perf_counter()
            acc.add(item[0], item[1])
            sync()
            seconds["analysis"] += time.perf_counter() - tick
            del item
    return acc.result(model=getattr(cfg, "name", ""), sse_method=sse_method(sse), seconds=seconds)


def head_statistics(model, sequences: str | Sequence[str], *, progress: bool | Callable = False) -> dict[str, np.ndarray]:
    """Clark et al. (2019)'s per-head summaries from sequences alone: no structure needed.

    Parameters
    ----------
    model : contacts.Predictor
    sequences : str or sequence of str

    Returns
    -------
    dict
        ``mean_distance`` and ``entropy``, each ndarray, shape=(layers, heads), pooled
        over the sequences as in :class:`AttentionProperties`.
    """
    sequences = [sequences] if isinstance(sequences, str) else list(sequences)
    if not sequences:
        raise ValueError("no sequences")
    cfg = model.config
    acc = PropertyAccumulator(cfg.num_layers, cfg.num_heads, [])
    stream = track(enumerate(sequences), progress, total=len(sequences), desc="sequences", unit="sequence")
    for k, sequence in stream:
        n = len(sequence)
        acc.start(AnnotatedProtein(f"sequence {k}", sequence, np.full((n, n), np.nan)), model.device)
        for layer, attention, _ in model.iter_attention(sequence):
            acc.add(layer, attention)
    result = acc.result()
    return {"mean_distance": result.mean_distance, "entropy": result.entropy}


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
    path.write_text(json.dumps(clean(record), indent=2))
    return path


# --------------------------------------------------------------------------- report


def _save(figure, path: Path) -> Path:
    figure.savefig(path, dpi=110)
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
    np.savez_compressed(npz, **result.arrays())
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
    paths["report"].write_text("\n".join(lines))
    return paths
