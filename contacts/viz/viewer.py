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
the file is then inlined into the view (see :func:`resolve_3dmol_js`). A view that
loads it from the CDN says so in one line of its HTML (:data:`CDN_NOTE`), which the
page removes once 3Dmol.js has loaded: it stays only where the view stays blank.
Python cannot tell whether the browser reaches the CDN, so there is no warning; the
note is logged (``logging``, level INFO) once per process.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import os
from pathlib import Path

import numpy as np
from biotite.structure import AtomArray, AtomArrayStack

from ..analysis.labels import align_to_structure, contact_map
from ..constants import CONTACT_ATOM, CONTACT_CUTOFF, MIN_SEPARATION
from ..io.structures import Structure, as_structure, structure_pdb
from .pairs import PAIR_COLORS, Pairs, label_pairs, select_pairs

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

#: Shown in a view's HTML where 3Dmol.js comes from the CDN; removed by the page once it has loaded.
CDN_NOTE = "3D view: this page loads 3Dmol.js from {url}; for a local copy pass js=PATH or set ${env}."
_cdn_noted = False
logger = logging.getLogger(__name__)

#: Cartoon color of the chain: light, so that the pairs stand out.
CARTOON_COLOR = "#d0d0d0"


# --------------------------------------------------------------------------- cylinders (pure numpy)


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
        :func:`contacts.analysis.labels.align_to_structure`); default the identity.
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
    import py3Dmol  # noqa: PLC0415 (optional heavy dependency, loaded when used)

    source = resolve_3dmol_js(js)
    kwargs = {"width": width * n_panels, "height": height, "js": source}
    if n_panels > 1:
        kwargs.update(viewergrid=(1, n_panels), linked=True)
    view = py3Dmol.view(**kwargs)
    if source == CDN_3DMOL_JS:
        _note_cdn(view)
    return view


def _note_cdn(view) -> None:
    """Put :data:`CDN_NOTE` into the view's HTML (gone once 3Dmol.js loads) and log it once per process."""
    global _cdn_noted
    note = CDN_NOTE.format(url=CDN_3DMOL_JS, env=JS_ENV)
    element = "contacts_cdn_note_UNIQUEID"
    view.startjs = (f'<p id="{element}" style="background-color:#fff3cd;color:black;font-family:sans-serif;'
                    f'font-size:small">{note}</p>\n') + view.startjs
    opening = "$3Dmolpromise.then(function() {\n"
    view.startjs = view.startjs.replace(
        opening, opening + f'var contacts_note = document.getElementById("{element}"); '
                           "if (contacts_note) { contacts_note.remove(); }\n", 1)
    if not _cdn_noted:
        _cdn_noted = True
        logger.info(note)


def _draw(view, panel, structure, pdb, cylinders, cartoon_color, hover):
    where = {"viewer": panel} if panel is not None else {}
    view.addModel(pdb, "pdb", **where)
    view.setStyle({}, {"cartoon": {"color": cartoon_color}}, **where)
    for spec in cylinders:
        view.addCylinder({k: v for k, v in spec.items() if k != "pair"}, **where)
    if hover:
        view.setHoverable({}, True, _RESIDUE_HOVER, _UNLABEL, **where)
    view.zoomTo(**where)


def show_contacts(
    structure: Structure | str | os.PathLike | AtomArray | AtomArrayStack,
    contacts: np.ndarray,
    *,
    top_k: int | None = None,
    min_separation: int = MIN_SEPARATION,
    max_separation: int | None = None,
    range: str | None = None,  # shadows the builtin: the name users know from metrics.RANGES
    labels: np.ndarray | bool | None = True,
    other: Structure | AtomArray | AtomArrayStack | str | os.PathLike | None = None,
    sequence: str | None = None,
    cutoff: float = CONTACT_CUTOFF,
    atom: str = CONTACT_ATOM,
    cartoon_color: str = CARTOON_COLOR,
    width: int = 640,
    height: int = 480,
    js: str | os.PathLike | None = None,
    hover: bool = True,
    radius: tuple[float, float] = (0.2, 0.5),
    opacity: tuple[float, float] = (0.6, 1.0),
    score_name: str = "p",
):
    """Predicted contacts on a structure, in 3D.

    The chain is drawn as a cartoon; the ``top_k`` most probable pairs as
    cylinders between CB atoms (CA for glycine), thicker and more opaque the more
    probable, colored by the structure's labels (:data:`PAIR_COLORS`: blue in
    contact, vermilion not, grey unknown). Hovering a residue or a cylinder
    shows its name, or the pair and its probability.

    Parameters
    ----------
    structure : Structure, path, PDB id, AtomArray or AtomArrayStack, length L
        Anything but a Structure goes through :func:`contacts.io.structures.load_structure`
        (an AtomArrayStack: its first model; the first protein chain).
    contacts : ndarray, shape=(L, L) or (N, N)
        Contact probabilities (NaN: not predicted, never drawn). (N, N) when
        predicted for another sequence: pass it as ``sequence``.
    top_k : int, optional
        How many pairs; default the map's length (top-L).
    min_separation, max_separation : int
        Separation band ``min <= j - i < max`` (max None: no limit).
    range : {'short', 'medium', 'long', 'all'}, optional
        A band of :data:`contacts.analysis.metrics.RANGES` instead of min/max.
    labels : bool or ndarray, shape=(L, L) or (N, N)
        True (default): labels from ``structure`` (:func:`contacts.analysis.labels.contact_map`
        with ``cutoff`` and ``atom``); an array: those labels; False: one color for all.
    other : Structure, AtomArray, AtomArrayStack or path, optional
        A second structure, or another chain (``load_structure(path, chain='B')``):
        drawn beside the first (linked rotation) with the same pairs, placed by
        sequence alignment and colored by its own labels.
    sequence : str, optional
        The sequence ``contacts`` was predicted for, when it is not the
        structure's observed residues (e.g. its deposited full sequence);
        positions are aligned onto the structure.
    cutoff, atom
        Passed to :func:`contacts.analysis.labels.contact_map`.
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
    score_name : str
        What a pair's value is called in its hover label (``p = 0.93``).

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
    structure = as_structure(structure)
    other = None if other is None else as_structure(other)
    scores = np.asarray(contacts, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"the map must be square (L, L); got shape {scores.shape}")
    index, seq = _placement(scores, structure, sequence)
    # pairs off the structure cannot be drawn or labelled: never select them
    placed = index >= 0
    visible = np.where(np.outer(placed, placed), scores, np.nan)
    pairs = select_pairs(visible, top_k=top_k, min_separation=min_separation,
                         max_separation=max_separation, range=range)
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


def show_attention(
    structure: Structure | str | os.PathLike | AtomArray | AtomArrayStack,
    attention_map: np.ndarray,
    *,
    layer: int | None = None,
    head: int | None = None,
    **options,
):
    """One attention head's (or a probe's) strongest pairs on a structure, drawn as :func:`show_contacts` does.

    Attention is not symmetric: a pair scores the mean of ``a[i, j]`` and
    ``a[j, i]``.

    Parameters
    ----------
    structure : Structure, path, PDB id, AtomArray or AtomArrayStack
    attention_map : ndarray, shape=(L, L) or (layers, heads, L, L)
        One map, or all of :meth:`contacts.Predictor.attention_maps` with
        ``layer`` and ``head`` picking one.
    layer : int, optional
        1-based, as the predictor numbers them, counting into the first axis
        (negative from the end).
    head : int, optional
        0-based.
    **options
        Any keyword of :func:`show_contacts` (``top_k``, ``range``, ``labels``,
        ``other``, ``js``, ...); ``score_name`` defaults to ``'attention'``.

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
    return show_contacts(structure, score, **{"score_name": "attention", **options})


# help(show_attention) lists the options it passes on to show_contacts.
_contacts_options = [p for p in inspect.signature(show_contacts).parameters.values() if p.kind is p.KEYWORD_ONLY]
show_attention.__signature__ = inspect.signature(show_attention).replace(parameters=[
    *list(inspect.signature(show_attention).parameters.values())[:-1],
    *(p.replace(default="attention") if p.name == "score_name" else p for p in _contacts_options),
])
