"""Contacts in 3D: predicted pairs drawn on a structure with py3Dmol (in Jupyter or as HTML).

:func:`show_contacts` draws the chain as a cartoon and the top-k predicted pairs as
cylinders between CB atoms (CA for glycine), colored by whether the structure has
them in contact; :func:`show_attention` does the same for one head's attention map
(or any per-pair score, a probe's for example). Both return the ``py3Dmol.view``:
display it in a notebook, or write it out with ``view.write_html(path)``.

The pair selection (:func:`select_pairs`) and the cylinder specs
(:func:`contact_cylinders`) are plain numpy, tested on their own; py3Dmol is
imported only when a view is built.

py3Dmol loads 3Dmol.js from a CDN. Offline, name a local ``3Dmol-min.js`` (for
example from the npm package ``3dmol``) with ``js=`` or ``$CONTACTS_3DMOL_JS``:
the file is then inlined into the view (see :func:`resolve_3dmol_js`).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .metrics import MIN_SEPARATION, RANGES
from .structure import Structure, align_to_structure, contact_map

__all__ = [
    "JS_ENV",
    "PAIR_COLORS",
    "Pairs",
    "contact_cylinders",
    "label_pairs",
    "resolve_3dmol_js",
    "select_pairs",
    "show_attention",
    "show_contacts",
    "structure_pdb",
]

#: Environment variable naming a local 3Dmol.js file (or a URL) to use instead of the CDN.
JS_ENV = "CONTACTS_3DMOL_JS"
#: What py3Dmol uses when nothing else is named (it matches the installed py3Dmol's default).
CDN_3DMOL_JS = "https://cdn.jsdelivr.net/npm/3dmol@2.5.5/build/3Dmol-min.js"

#: Colors of a predicted pair by its label, shared by the 3D viewer and the 2D plots
#: (Okabe-Ito: tell-apart for color-blind readers).
PAIR_COLORS: dict[str, str] = {
    "hit": "#0072B2",       # predicted, in contact in the structure (true positive)
    "miss": "#D55E00",      # predicted, not in contact (false positive)
    "unknown": "#999999",   # predicted, label unknown (atoms missing)
    "unlabelled": "#CC79A7",  # predicted, no labels asked for
}
#: Cartoon color of the chain: light, so that the pairs stand out.
CARTOON_COLOR = "#d0d0d0"


# --------------------------------------------------------------------------- pairs (pure numpy)


@dataclass(frozen=True)
class Pairs:
    """Selected residue pairs, best first.

    Attributes
    ----------
    i, j : ndarray, shape=(n,), dtype=int
        Positions in the score map, ``i < j``.
    score : ndarray, shape=(n,), dtype=float
        The map's value at ``(i, j)``.
    """

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.i)

    @property
    def separation(self) -> np.ndarray:
        return self.j - self.i


def _band(range_: str | None, min_separation: int, max_separation: int | None) -> tuple[int, int | None]:
    if range_ is None:
        lo, hi = min_separation, max_separation
    else:
        if range_ not in RANGES:
            raise ValueError(f"range={range_!r} is not one of {sorted(RANGES)}")
        lo, hi = RANGES[range_]
    if int(lo) != lo or lo < 1:
        raise ValueError(f"min_separation={lo} must be an integer of at least 1 (pairs i < j)")
    if hi is not None and hi <= lo:
        raise ValueError(f"max_separation={hi} must exceed min_separation={lo}")
    return int(lo), hi


def select_pairs(
    scores: np.ndarray,
    *,
    top_k: int | None = None,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    range: str | None = None,  # noqa: A002 - the name users know from metrics.RANGES
) -> Pairs:
    """The ``top_k`` highest-scored pairs ``i < j`` inside a separation band.

    Parameters
    ----------
    scores : ndarray, shape=(L, L)
        Higher means more likely in contact; only the upper triangle is read.
        NaN and infinite values (pairs no window predicted) are never selected.
    top_k : int, optional
        How many pairs; default L. Fewer come back when fewer valid pairs exist.
    min_separation : int
        Smallest ``j - i`` kept (default 6, as in :mod:`contacts.metrics`).
    max_separation : int, optional
        ``j - i`` must be below this (exclusive); None for no limit.
    range : {'short', 'medium', 'long', 'all'}, optional
        A band of :data:`contacts.metrics.RANGES`; replaces min/max_separation.

    Returns
    -------
    Pairs
        Best score first; equal scores in row-major ``(i, j)`` order (the
        tie rule of :func:`contacts.metrics.precision`), so the choice is deterministic.

    Examples
    --------
    >>> s = np.zeros((10, 10)); s[0, 9] = s[1, 8] = 0.9; s[2, 9] = 0.5
    >>> p = select_pairs(s, top_k=2)
    >>> p.i.tolist(), p.j.tolist()
    ([0, 1], [9, 8])
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be a square (L, L) map; got shape {scores.shape}")
    n = scores.shape[0]
    lo, hi = _band(range, min_separation, max_separation)
    if top_k is None:
        top_k = n
    if int(top_k) != top_k or top_k < 0:
        raise ValueError(f"top_k={top_k} must be a non-negative integer")
    i, j = np.triu_indices(n, lo)
    keep = np.isfinite(scores[i, j])
    if hi is not None:
        keep &= (j - i) < hi
    i, j = i[keep], j[keep]
    order = np.argsort(-scores[i, j], kind="stable")[: int(top_k)]  # triu is row-major: ties by (i, j)
    return Pairs(i=i[order], j=j[order], score=scores[i[order], j[order]])


def label_pairs(pairs: Pairs, labels: np.ndarray | None) -> np.ndarray:
    """Name each pair by its label: ``'hit'``, ``'miss'``, ``'unknown'`` or ``'unlabelled'``.

    Parameters
    ----------
    pairs : Pairs
    labels : ndarray, shape=(L, L), or None
        1 contact, 0 none, NaN (or negative) unknown; None gives ``'unlabelled'`` throughout.

    Returns
    -------
    ndarray, shape=(n,), dtype=str
        Keys of :data:`PAIR_COLORS`.
    """
    if labels is None:
        return np.full(len(pairs), "unlabelled", dtype=object).astype(str)
    labels = np.asarray(labels, dtype=np.float64)
    if len(pairs) and (labels.ndim != 2 or max(pairs.i.max(), pairs.j.max()) >= min(labels.shape)):
        raise ValueError(f"labels of shape {labels.shape} do not cover pairs up to position "
                         f"{max(pairs.i.max(), pairs.j.max())}")
    value = labels[pairs.i, pairs.j] if len(pairs) else np.zeros(0)
    out = np.where(value > 0.5, "hit", "miss").astype(object)
    out[np.isnan(value) | (value < 0)] = "unknown"
    return out.astype(str)


def _strength(score: np.ndarray) -> np.ndarray:
    """Scores as 0..1 for radius and opacity: as they are when already in [0, 1], else by rank.

    Raw scores such as Potts couplings are heavy-tailed: a min-max scale would leave
    all but a few pairs at the thinnest, so ranks (best 1, worst 0) are used instead.
    """
    if score.size == 0:
        return score
    if score.min() >= 0 and score.max() <= 1:
        return score
    if score.size == 1:
        return np.ones_like(score)
    ranks = np.argsort(np.argsort(-score, kind="stable"), kind="stable")
    return 1.0 - ranks / (score.size - 1)


def _anchor(structure: Structure, residue: int) -> np.ndarray | None:
    """CB, CA for glycine or where CB is missing; None when neither is there."""
    coords = structure.coords[residue]
    cb, ca = coords[3], coords[1]
    if structure.sequence[residue] != "G" and not np.isnan(cb).any():
        return cb
    return None if np.isnan(ca).any() else ca


def _residue_name(structure: Structure, residue: int) -> str:
    return f"{structure.res_names[residue]}{structure.res_ids[residue]}{structure.ins_codes[residue]}"


def contact_cylinders(
    structure: Structure,
    pairs: Pairs,
    kinds: np.ndarray,
    *,
    index: np.ndarray | None = None,
    radius: tuple[float, float] = (0.2, 0.5),
    opacity: tuple[float, float] = (0.6, 1.0),
    score_name: str = "p",
) -> list[dict]:
    """3Dmol cylinder specs for pairs: CB to CB (CA for glycine), sized by score.

    Parameters
    ----------
    structure : Structure, length L
    pairs : Pairs
        Positions in the score map.
    kinds : ndarray, shape=(n,), dtype=str
        Keys of :data:`PAIR_COLORS` (from :func:`label_pairs`).
    index : ndarray, shape=(N,), dtype=int, optional
        Structure residue of each map position, -1 for none (as from
        :func:`contacts.structure.align_to_structure`); default the identity.
    radius, opacity : (float, float)
        Values for the weakest and the strongest score (scores in [0, 1] are
        used as they are, others by their rank among the pairs).
    score_name : str
        How the hover label names the score.

    Returns
    -------
    list of dict
        One spec per drawable pair (pairs whose residue is not in the structure,
        or has neither CB nor CA, are left out), with ``start``, ``end``,
        ``radius``, ``color``, ``opacity``, ``fromCap``, ``toCap``, hover callbacks,
        and ``pair``: ``(i, j, score, kind)`` for callers and tests.
    """
    if len(kinds) != len(pairs):
        raise ValueError(f"{len(kinds)} kinds for {len(pairs)} pairs")
    if index is None:
        index = np.arange(len(structure))
    strength = _strength(np.asarray(pairs.score, dtype=np.float64))
    specs = []
    for n, (i, j, score, kind) in enumerate(zip(pairs.i, pairs.j, pairs.score, kinds)):
        ri, rj = int(index[i]), int(index[j])
        if ri < 0 or rj < 0:
            continue
        a, b = _anchor(structure, ri), _anchor(structure, rj)
        if a is None or b is None:
            continue
        s = float(strength[n])
        text = (f"{_residue_name(structure, ri)} - {_residue_name(structure, rj)}  "
                f"{score_name}={score:.3g}  ({'' if kind in ('hit', 'miss') else 'label '}{kind})")
        mid = {k: float(v) for k, v in zip("xyz", (a + b) / 2)}
        specs.append({
            "start": {k: float(v) for k, v in zip("xyz", a)},
            "end": {k: float(v) for k, v in zip("xyz", b)},
            "radius": round(radius[0] + (radius[1] - radius[0]) * s, 3),
            "opacity": round(opacity[0] + (opacity[1] - opacity[0]) * s, 3),
            "color": PAIR_COLORS[kind],
            "fromCap": 1,
            "toCap": 1,
            "hoverable": True,
            "hover_callback": _label_callback(text, mid),
            "unhover_callback": _UNLABEL,
            "pair": (int(i), int(j), float(score), str(kind)),
        })
    return specs


_LABEL_STYLE = {"backgroundColor": "white", "backgroundOpacity": 0.85, "fontColor": "black",
                "fontSize": 12, "borderColor": "#444444", "borderThickness": 0.5}
_UNLABEL = "function(o, viewer) { if (o.label) { viewer.removeLabel(o.label); delete o.label; } }"


def _label_callback(text: str, position: dict | None) -> str:
    where = json.dumps(position) if position is not None else "{x: o.x, y: o.y, z: o.z}"
    style = json.dumps(_LABEL_STYLE)[:-1] + ', "position": ' + where + "}"
    return (f"function(o, viewer) {{ if (!o.label) {{ o.label = viewer.addLabel({json.dumps(text)}, "
            f"{style}); }} }}")


# The hover label of a residue (atoms carry resn, resi, chain).
_RESIDUE_HOVER = ("function(o, viewer) { if (!o.label) { o.label = viewer.addLabel("
                  "o.chain + ' ' + o.resn + o.resi, Object.assign("
                  + json.dumps(_LABEL_STYLE) + ", {position: {x: o.x, y: o.y, z: o.z}})); } }")


# --------------------------------------------------------------------------- atoms -> PDB text


def _backbone_pdb(structure: Structure, chain: str) -> str:
    """PDB text of the atoms a Structure keeps (N, CA, C, CB), for structures without a file."""
    lines = []
    serial = 1
    for r in range(len(structure)):
        for a, atom in enumerate(("N", "CA", "C", "CB")):
            x, y, z = structure.coords[r, a]
            if np.isnan(x):
                continue
            lines.append(
                f"ATOM  {serial:5d}  {atom:<3s} {structure.res_names[r]:>3s} {chain}"
                f"{int(structure.res_ids[r]):4d}{(structure.ins_codes[r] or ' ')[:1]}   "
                f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00           {atom[0]}"
            )
            serial += 1
    return "\n".join(lines + ["END", ""])


def structure_pdb(structure: Structure, chain: str | None = None) -> str:
    """PDB text of a structure's chain, model 1, all atoms of its amino-acid residues.

    :class:`~contacts.structure.Structure` keeps only N, CA, C and CB, so the
    atoms are read again from ``structure.source`` (PDB, mmCIF or BinaryCIF,
    gzipped or not), keeping exactly the residues the Structure holds. Without a
    readable source, the backbone the Structure keeps is written instead (the
    cartoon then follows CA).

    Parameters
    ----------
    structure : Structure
    chain : str, optional
        Chain id written into the text; default the structure's (PDB allows one
        character: longer ids become ``'A'``).

    Returns
    -------
    str
    """
    chain = chain or (structure.chain if len(structure.chain) == 1 else "A")
    source = Path(structure.source) if structure.source else None
    if source is None or not source.is_file():
        return _backbone_pdb(structure, chain)
    import biotite.structure as struc
    from biotite.structure.io.pdb import PDBFile

    from .structure import _file_format, _open_bytes, _read_pdb, _read_pdbx

    data = _open_bytes(source)
    fmt = _file_format(source)
    atoms = _read_pdb(data)[0] if fmt == "pdb" else _read_pdbx(data, binary=fmt == "bcif")[0]
    # the residues load_structure keeps: amino acids of the chain, free ones (HETATM) left out
    keep = (atoms.chain_id == structure.chain) & struc.filter_amino_acids(atoms)
    keep &= ~(atoms.hetero & struc.filter_canonical_amino_acids(atoms))
    wanted = set(zip(structure.res_ids.tolist(), structure.ins_codes.tolist()))
    keep &= np.array([(int(r), str(c)) in wanted for r, c in zip(atoms.res_id, atoms.ins_code)], dtype=bool)
    atoms = atoms[keep]
    atoms.chain_id[:] = chain
    out = PDBFile()
    # only the standard annotations: extra fields (occupancy, label_seq_id) are not PDB columns here
    for extra in ("occupancy", "label_seq_id"):
        if extra in atoms.get_annotation_categories():
            atoms.del_annotation(extra)
    out.set_structure(atoms)
    buffer = io.StringIO()
    out.write(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- 3Dmol.js source


@functools.lru_cache(maxsize=4)
def _data_uri(path: str, mtime: float) -> str:
    payload = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:text/javascript;base64,{payload}"


def resolve_3dmol_js(js: str | os.PathLike | None = None) -> str:
    """Where a view loads 3Dmol.js from.

    Parameters
    ----------
    js : str or PathLike, optional
        A local file (``3Dmol-min.js``, e.g. ``node_modules/3dmol/build/3Dmol-min.js``
        after ``npm install 3dmol``): inlined into the view as a ``data:`` URI,
        so the view works with no network and from any page (a notebook, a
        saved HTML file); or a URL (``http(s)://``, ``file://``, or a path
        relative to the page, like ``/files/3Dmol-min.js`` on a Jupyter server),
        used as it is. Default: ``$CONTACTS_3DMOL_JS``, else the CDN.

    Returns
    -------
    str
        The script source to hand to ``py3Dmol.view(js=...)``.

    Raises
    ------
    FileNotFoundError
        ``js`` looks like a local path (no URL scheme, not starting with ``/files/``)
        and is not a file.
    """
    origin = "js"
    if js is None:
        js, origin = os.environ.get(JS_ENV) or None, f"${JS_ENV}"
    if js is None:
        return CDN_3DMOL_JS
    text = os.fspath(js)
    if "://" in text or text.startswith(("data:", "/files/")):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{origin}={text!r} is neither a URL nor an existing file; point it at a local 3Dmol-min.js "
            "(npm install 3dmol, then node_modules/3dmol/build/3Dmol-min.js) or unset it to use the CDN"
        )
    path = path.resolve()
    return _data_uri(str(path), path.stat().st_mtime)


# --------------------------------------------------------------------------- views


def _placement(scores: np.ndarray, structure: Structure, sequence: str | None) -> tuple[np.ndarray, str | None]:
    """Structure residue of each map position, and the sequence labels are laid out on."""
    n = scores.shape[0]
    if sequence is None:
        if n != len(structure):
            raise ValueError(
                f"the map is {n} x {n} but {structure!r} has {len(structure)} observed residues; "
                "pass sequence= (the sequence the map was computed for) to align them"
            )
        return np.arange(n), None
    if len(sequence) != n:
        raise ValueError(f"sequence has {len(sequence)} residues but the map is {n} x {n}")
    return align_to_structure(sequence, structure), sequence


def _labels_for(structure, labels, sequence, cutoff, atom):
    if labels is False or labels is None:
        return None
    if labels is True:
        return contact_map(structure, cutoff, atom, sequence=sequence)
    return np.asarray(labels, dtype=np.float64)


def _view(n_panels: int, width: int, height: int, js):
    import py3Dmol

    kwargs = {"width": width * n_panels, "height": height, "js": resolve_3dmol_js(js)}
    if n_panels > 1:
        kwargs.update(viewergrid=(1, n_panels), linked=True)
    return py3Dmol.view(**kwargs)


def _draw(view, panel, structure, pdb, cylinders, cartoon_color, hover):
    where = {"viewer": panel} if panel is not None else {}
    view.addModel(pdb, "pdb", **where)
    view.setStyle({}, {"cartoon": {"color": cartoon_color}}, **where)
    for spec in cylinders:
        view.addCylinder({k: v for k, v in spec.items() if k != "pair"}, **where)
    if hover:
        view.setHoverable({}, True, _RESIDUE_HOVER, _UNLABEL, **where)
    view.zoomTo(**where)


def _show(
    structure: Structure,
    scores: np.ndarray,
    *,
    top_k, min_separation, max_separation, range_, labels, other, sequence,
    cutoff, atom, cartoon_color, width, height, js, hover, score_name, radius, opacity,
):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"the map must be square (L, L); got shape {scores.shape}")
    index, seq = _placement(scores, structure, sequence)
    # pairs off the structure cannot be drawn or labelled: never select them
    placed = index >= 0
    visible = np.where(np.outer(placed, placed), scores, np.nan)
    pairs = select_pairs(visible, top_k=top_k, min_separation=min_separation,
                         max_separation=max_separation, range=range_)
    panels = [(structure, index, _labels_for(structure, labels, seq, cutoff, atom))]
    if other is not None:
        other_seq = seq if seq is not None else structure.sequence
        other_index = align_to_structure(other_seq, other, min_identity=0.0)
        other_labels = None if labels is False or labels is None else contact_map(other, cutoff, atom,
                                                                                 sequence=other_seq, min_identity=0.0)
        panels.append((other, other_index, other_labels))
    view = _view(len(panels), width, height, js)
    drawn = []
    for p, (s, idx, lab) in enumerate(panels):
        cylinders = contact_cylinders(s, pairs, label_pairs(pairs, lab), index=idx, radius=radius,
                                      opacity=opacity, score_name=score_name)
        drawn.append(cylinders)
        _draw(view, (0, p) if len(panels) > 1 else None, s, structure_pdb(s), cylinders, cartoon_color, hover)
    # what was drawn, for callers that want the numbers behind the picture
    view.contact_pairs = pairs
    view.contact_cylinders = drawn if other is not None else drawn[0]
    return view


def show_contacts(
    structure: Structure,
    contacts: np.ndarray,
    *,
    top_k: int | None = None,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    range: str | None = None,  # noqa: A002
    labels: np.ndarray | bool | None = True,
    other: Structure | None = None,
    sequence: str | None = None,
    cutoff: float = 8.0,
    atom: str = "CB",
    cartoon_color: str = CARTOON_COLOR,
    width: int = 640,
    height: int = 480,
    js: str | os.PathLike | None = None,
    hover: bool = True,
    radius: tuple[float, float] = (0.2, 0.5),
    opacity: tuple[float, float] = (0.6, 1.0),
):
    """Predicted contacts on a structure, in 3D.

    The chain is drawn as a cartoon; the ``top_k`` most probable pairs as
    cylinders between CB atoms (CA for glycine), thicker and more opaque the more
    probable, colored by the structure's labels (:data:`PAIR_COLORS`: blue in
    contact, vermilion not, grey unknown). Hovering a residue or a cylinder
    shows its name, or the pair and its probability.

    Parameters
    ----------
    structure : Structure, length L
    contacts : ndarray, shape=(L, L) or (N, N)
        Contact probabilities (NaN: not predicted, never drawn). (N, N) when
        predicted for another sequence: pass it as ``sequence``.
    top_k : int, optional
        How many pairs; default the map's length (top-L).
    min_separation, max_separation : int
        Separation band ``min <= j - i < max`` (max None: no limit).
    range : {'short', 'medium', 'long', 'all'}, optional
        A band of :data:`contacts.metrics.RANGES` instead of min/max.
    labels : bool or ndarray, shape=(L, L) or (N, N)
        True (default): labels from ``structure`` (:func:`contacts.structure.contact_map`
        with ``cutoff`` and ``atom``); an array: those labels; False: one color for all.
    other : Structure, optional
        A second structure, or another chain (``load_structure(path, chain='B')``):
        drawn beside the first (linked rotation) with the same pairs, placed by
        sequence alignment and colored by its own labels.
    sequence : str, optional
        The sequence ``contacts`` was predicted for, when it is not the
        structure's observed residues (e.g. its deposited full sequence);
        positions are aligned onto the structure.
    cutoff, atom
        Passed to :func:`contacts.structure.contact_map`.
    cartoon_color : str
        A color, or ``'spectrum'`` (N to C terminus rainbow).
    width, height : int
        Pixels of one panel.
    js : str or PathLike, optional
        Where 3Dmol.js comes from (see :func:`resolve_3dmol_js`); default
        ``$CONTACTS_3DMOL_JS``, else the CDN.
    hover : bool
        Residue labels on hover.
    radius, opacity : (float, float)
        Cylinder radius (Å) and opacity for the weakest and strongest pair.

    Returns
    -------
    py3Dmol.view
        Displays itself in Jupyter; ``view.write_html(path)`` saves a page. Its
        ``contact_pairs`` (:class:`Pairs`) and ``contact_cylinders`` (specs, a
        list per panel with ``other``) hold what was drawn.

    Examples
    --------
    >>> s = contacts.load_structure("1aki.cif")                    # doctest: +SKIP
    >>> probs = model.predict_contacts(s.sequence)                  # doctest: +SKIP
    >>> show_contacts(s, probs, range="long")                       # doctest: +SKIP
    """
    return _show(structure, contacts, top_k=top_k, min_separation=min_separation,
                 max_separation=max_separation, range_=range, labels=labels, other=other,
                 sequence=sequence, cutoff=cutoff, atom=atom, cartoon_color=cartoon_color, width=width,
                 height=height, js=js, hover=hover, score_name="p", radius=radius, opacity=opacity)


def show_attention(
    structure: Structure,
    attention_map: np.ndarray,
    *,
    layer: int | None = None,
    head: int | None = None,
    top_k: int | None = None,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    range: str | None = None,  # noqa: A002
    labels: np.ndarray | bool | None = True,
    other: Structure | None = None,
    sequence: str | None = None,
    cutoff: float = 8.0,
    atom: str = "CB",
    cartoon_color: str = CARTOON_COLOR,
    width: int = 640,
    height: int = 480,
    js: str | os.PathLike | None = None,
    hover: bool = True,
    radius: tuple[float, float] = (0.2, 0.5),
    opacity: tuple[float, float] = (0.6, 1.0),
):
    """One attention head's (or a probe's) strongest pairs on a structure, drawn as :func:`show_contacts` does.

    Attention is not symmetric: a pair scores the mean of ``a[i, j]`` and
    ``a[j, i]``.

    Parameters
    ----------
    structure : Structure
    attention_map : ndarray, shape=(L, L) or (layers, heads, L, L)
        One map, or all of :meth:`contacts.Predictor.attention_maps` with
        ``layer`` and ``head`` picking one.
    layer : int, optional
        1-based, as the predictor numbers them, counting into the first axis
        (negative from the end).
    head : int, optional
        0-based.
    Other parameters
        As in :func:`show_contacts`.

    Returns
    -------
    py3Dmol.view
    """
    maps = np.asarray(attention_map, dtype=np.float64)
    if maps.ndim == 4:
        if layer is None or head is None:
            raise ValueError(f"attention maps of shape {maps.shape}: pick one with layer= and head=")
        layers, heads = maps.shape[:2]
        if not (1 <= layer <= layers or -layers <= layer <= -1):
            raise ValueError(f"layer={layer} is outside 1..{layers} (or -{layers}..-1)")
        if not 0 <= head < heads:
            raise ValueError(f"head={head} is outside 0..{heads - 1}")
        maps = maps[layer - 1 if layer > 0 else layer, head]
    elif maps.ndim != 2:
        raise ValueError(f"attention_map must have shape (L, L) or (layers, heads, L, L); got {maps.shape}")
    score = (maps + maps.T) / 2
    return _show(structure, score, top_k=top_k, min_separation=min_separation,
                 max_separation=max_separation, range_=range, labels=labels, other=other,
                 sequence=sequence, cutoff=cutoff, atom=atom, cartoon_color=cartoon_color, width=width,
                 height=height, js=js, hover=hover, score_name="attention", radius=radius, opacity=opacity)
