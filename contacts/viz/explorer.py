"""One linked view of a protein's contacts: the map, the structure and every attention head.

:func:`explore` returns an :class:`Explorer`: the contact map on a canvas
(predictions above the diagonal, the structure's contacts or a second
prediction below, separation bands, the top-k pairs marked in
:data:`~contacts.viz.pairs.PAIR_COLORS`), the structure in 3Dmol.js with the
same pairs drawn, and, given attention maps, a layers x heads grid coloured by
each head's long-range precision. Hovering a cell names both residues (as
numbered in the file), the score, the distance behind the label and the label;
clicking it labels and centres the pair in 3D; clicking a residue in 3D marks
its row and column and lists its best partners; clicking a head shows its
symmetrized, APC-corrected map and its best pairs.

Data plus one small script (``explorer.js``, ``explorer.css`` beside this
file): :meth:`Explorer.payload` is everything the page gets, so a widget in a
notebook (anywidget, an optional dependency) and a saved page
(:meth:`Explorer.write_html`, no kernel, offline with a local 3Dmol.js) show
the same thing. The page exposes ``element.contactsExplorer`` (``select``,
``selectHead``, ``state``, ...; see ``docs/viewer.md``) for scripts and tests.

What the page holds, and what the hover shows:

- the prediction (and ``other``) as float32, upper triangle only, gzipped: the
  hover shows that value to 4 significant digits (the model's own float32;
  a float64 input is rounded to float32 first);
- labels as one byte per pair (contact, none, unknown) and the per-residue
  points they were measured between (float64), so the hover's distance is the
  one behind the label;
- per head a ``thumbnail`` x ``thumbnail`` 8-bit picture (block maximum) and its
  score; full maps only for some heads (:meth:`Explorer.write_html`'s
  ``heads``, default the 5 best), as 8-bit display values plus the exact float32
  scores of their best pairs: hovering one of those shows the exact score,
  any other pair the 8-bit value marked ``≈``. In a live kernel any head's full
  map is computed when it is clicked.
- the ranking of the top ``max_top_k`` pairs of every separation range, made
  by :func:`contacts.viz.pairs.select_pairs`: the page slices it, so the pairs
  it draws are the pairs P@k counts (ties in ``(i, j)`` order).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from biotite.structure import AtomArray, AtomArrayStack

from ..analysis.heads import corrected_maps, head_precision, range_pairs
from ..analysis.labels import contact_points
from ..constants import CONTACT_ATOM, CONTACT_CUTOFF, RANGES
from ..io.files import atomic_write
from ..io.structures import Structure, as_structure, structure_pdb
from .pairs import PAIR_COLORS, Pairs, display_range, select_pairs
from .plots import RANGE_COLORS, SCORE_CMAP, TRUE_COLOR
from .viewer import CARTOON_COLOR, JS_ENV, _anchor, _labels_for, _placement, resolve_3dmol_js

__all__ = ["DEFAULT_HEADS", "Explorer", "explore"]

#: The script and style of the page, shipped beside this module (package data).
ASSETS = Path(__file__).resolve().parent
#: Heads whose full maps a saved page holds when none are named: the best by their score.
DEFAULT_HEADS = 5
#: Format of the data the page reads; the script refuses other versions.
PAYLOAD_VERSION = 1

_DTYPES = {"float32": "<f4", "float64": "<f8", "uint8": "u1", "uint32": "<u4", "int32": "<i4"}


# --------------------------------------------------------------------------- display values (plain numpy)


def _packed(values: np.ndarray) -> np.ndarray:
    """The strict upper triangle, row-major (``np.triu_indices(L, 1)`` order): what the page indexes."""
    return values[np.triu_indices(values.shape[0], 1)]


def _quantize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """8-bit display values: 0 for NaN, 1..255 linear from ``lo`` to ``hi`` (clipped)."""
    scaled = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    out = np.rint(scaled * 254.0).astype(np.uint8) + 1
    out[~np.isfinite(values)] = 0
    return out


def _display_and_thumbnails(corrected: torch.Tensor, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per head of a layer: where its grey scale starts and saturates, and its ``size`` x ``size`` thumbnail.

    The scale runs from max(0, min) to the L-th best pair at separation >= 6, as
    :func:`~contacts.viz.pairs.display_range` does for one map; the thumbnail is the block maximum of
    the display value, 8-bit, with separations below 6 (not scored, where raw
    attention piles up) left out so the off-diagonal structure shows. The maps are
    symmetric, so the L-th best pair is the 2L-th best entry. ``corrected`` is
    overwritten (the near-diagonal band), which spares a copy of the layer.

    Returns
    -------
    lo, hi : ndarray, shape=(heads,)
    thumbnails : ndarray, shape=(heads, size, size), dtype=uint8
    """
    n = corrected.shape[-1]
    lo = corrected.flatten(1).min(dim=1).values.double().clamp(min=0).numpy()
    idx = torch.arange(n)
    near = (idx.view(-1, 1) - idx.view(1, -1)).abs() < RANGES["all"][0]
    corrected.masked_fill_(near, -torch.inf)
    flat = corrected.flatten(1)
    hi = flat.topk(min(2 * n, flat.shape[1]), dim=1).values[:, -1].double().numpy()
    hi = np.where(hi > lo, hi, lo + 1.0)  # nothing above the floor (or no pair at separation >= 6)
    pooled = torch.nn.functional.adaptive_max_pool2d(corrected.unsqueeze(1), size).squeeze(1).double()
    scaled = ((pooled - torch.as_tensor(lo).view(-1, 1, 1)) / torch.as_tensor(hi - lo).view(-1, 1, 1)).clamp(0, 1)
    return lo, hi, (scaled * 255).round().to(torch.uint8).numpy()


def _colors(values: np.ndarray, cmap: str = SCORE_CMAP) -> tuple[list, list[str], tuple[float, float]]:
    """Hex colours of a score grid (None where NaN), five colours of its bar, and its range."""
    from matplotlib import colormaps  # noqa: PLC0415 (optional heavy dependency, loaded when used)
    from matplotlib.colors import to_hex  # noqa: PLC0415 (optional heavy dependency, loaded when used)

    colormap = colormaps[cmap]
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = hi - lo if hi > lo else 1.0
    flat = [None if not np.isfinite(v) else to_hex(colormap((v - lo) / span)) for v in values.ravel()]
    return flat, [to_hex(colormap(x)) for x in np.linspace(0, 1, 5)], (lo, hi)


# --------------------------------------------------------------------------- the explorer


def _rank(values: np.ndarray, top_k: int) -> dict[str, Pairs]:
    """The best ``top_k`` pairs of every separation range, as :func:`~contacts.viz.pairs.select_pairs` ranks them."""
    values = np.asarray(values, dtype=np.float64)
    return {name: select_pairs(values, top_k=top_k, range=name) for name in RANGES}


class _Arrays:
    """Named arrays of a payload: their spec (dtype, gzipped or not) and their bytes."""

    def __init__(self, compress: bool):
        self.spec: dict[str, dict] = {}
        self.data: dict[str, bytes] = {}
        self.compress = compress

    def add(self, name: str, array: np.ndarray, dtype: str) -> str:
        raw = np.ascontiguousarray(array, dtype=_DTYPES[dtype]).tobytes()
        self.spec[name] = {"dtype": dtype, "gzip": self.compress}
        self.data[name] = gzip.compress(raw, compresslevel=6, mtime=0) if self.compress else raw
        return name


class Explorer:
    """The data behind one linked view; displays itself in Jupyter, and writes a page.

    Built by :func:`explore`. Positions ``i, j`` are 0-based map positions (as in
    :class:`~contacts.viz.pairs.Pairs`); layers are 1-based, heads 0-based (as
    :func:`~contacts.viz.viewer.show_attention` numbers them).

    Attributes
    ----------
    prediction : ndarray, shape=(L, L), dtype=float32
    labels : ndarray, shape=(L, L), dtype=float32, or None
        1 contact, 0 none, NaN unknown.
    other : ndarray, shape=(L, L), dtype=float32, or None
    structure : Structure or None
    index : ndarray, shape=(L,), dtype=int, or None
        Structure residue of each map position, -1 for none.
    sequence : str or None
    head_score : ndarray, shape=(layers, heads), or None
        What colours the head grid (``head_score_name`` says what it is).
    thumbnails : ndarray, shape=(layers, heads, t, t), dtype=uint8, or None
    """

    def __init__(self, *, prediction, labels, other, ranked, structure, index, sequence, maps, head_score,
                 head_score_name, thumbnails, head_range, names, top_k, max_top_k, range_, cutoff, atom,
                 js, size, title):
        self.prediction = prediction
        self.labels = labels
        self.other = other
        self.structure = structure
        self.index = index
        self.sequence = sequence
        self.head_score = head_score
        self.head_score_name = head_score_name
        self.thumbnails = thumbnails
        self.names = names
        self.top_k = top_k
        self.max_top_k = max_top_k
        self.range = range_
        self.cutoff = cutoff
        self.atom = atom
        self.js = js
        self.size = size
        self.title = title
        self._maps = maps
        self._head_range = head_range  # (lo, hi) per head, shape (layers, heads, 2)
        self._ranked = ranked  # which -> range -> Pairs, ranked on the maps as given (float64)
        self._widget = None

    def __repr__(self) -> str:
        heads = "" if self._maps is None else f", heads={self.layers}x{self.heads}"
        where = f"{self.structure!r}" if self.structure is not None else "no structure"
        return f"Explorer(L={len(self)}, {where}{heads})"

    def __len__(self) -> int:
        return self.prediction.shape[0]

    @property
    def layers(self) -> int:
        return 0 if self._maps is None else int(self._maps.shape[0])

    @property
    def heads(self) -> int:
        return 0 if self._maps is None else int(self._maps.shape[1])

    # ----------------------------------------------------------------------- pairs

    def pairs(self, top_k: int | None = None, range: str | None = None, *, which: str = "prediction") -> Pairs:  # noqa: A002
        """The pairs the page marks and draws: :func:`~contacts.viz.pairs.select_pairs` of the prediction.

        Parameters
        ----------
        top_k : int, optional
            Default the explorer's ``top_k`` (L unless given); at most ``max_top_k``.
        range : {'all', 'short', 'medium', 'long'}, optional
            Default the explorer's.
        which : {'prediction', 'other'}
        """
        top_k = self.top_k if top_k is None else int(top_k)
        band = self.range if range is None else range
        if not 0 <= top_k <= self.max_top_k:
            raise ValueError(f"top_k={top_k} is outside 0..{self.max_top_k} (max_top_k)")
        if which not in self._ranked:
            raise ValueError(f"which={which!r}: this explorer holds {sorted(self._ranked)}")
        if band not in RANGES:
            raise ValueError(f"range={band!r} is not one of {sorted(RANGES)}")
        ranked = self._ranked[which][band]
        return Pairs(i=ranked.i[:top_k], j=ranked.j[:top_k], score=ranked.score[:top_k])

    # ----------------------------------------------------------------------- heads

    def _check_head(self, layer: int, head: int) -> tuple[int, int]:
        if self._maps is None:
            raise ValueError("this explorer has no attention maps: pass maps= to explore()")
        if not (1 <= layer <= self.layers and 0 <= head < self.heads):
            raise ValueError(f"layer={layer}, head={head} is outside layers 1..{self.layers}, heads 0..{self.heads - 1}")
        return int(layer), int(head)

    def head_map(self, layer: int, head: int) -> np.ndarray:
        """One head's symmetrized, APC-corrected map, shape=(L, L), float32 (layer 1-based, head 0-based)."""
        layer, head = self._check_head(layer, head)
        return corrected_maps(_layer(self._maps, layer - 1, head)).numpy()

    def best_heads(self, k: int = DEFAULT_HEADS) -> list[tuple[int, int]]:
        """The ``k`` heads with the highest score, best first, as ``(layer, head)``."""
        if self._maps is None:
            return []
        score = self.head_score if self.head_score is not None else np.zeros((self.layers, self.heads))
        order = np.argsort(-np.nan_to_num(score, nan=-np.inf).ravel(), kind="stable")[:k]
        return [(int(f // self.heads) + 1, int(f % self.heads)) for f in order]

    def _head_arrays(self, arrays: _Arrays, layer: int, head: int) -> dict:
        values = self.head_map(layer, head)
        lo, hi = (float(x) for x in self._head_range[layer - 1, head])
        key = f"head_{layer}_{head}"
        ranked = _rank(values, self.max_top_k)
        return {
            "label": f"layer {layer}, head {head}", "prob": False, "range": [lo, hi],
            "bytes": arrays.add(key, _quantize(_packed(values), lo, hi), "uint8"),
            "ranked": {r: arrays.add(f"{key}_{r}", p.i * len(self) + p.j, "uint32") for r, p in ranked.items()},
            "scores": {r: arrays.add(f"{key}_{r}_score", p.score, "float32") for r, p in ranked.items()},
        }

    def _resolve_heads(self, heads) -> list[tuple[int, int]]:
        if self._maps is None:
            if heads:
                raise ValueError("heads= names heads to include, but this explorer has no attention maps")
            return []
        if heads is None:
            return self.best_heads()
        if heads == "all":
            return [(layer, head) for layer in range(1, self.layers + 1) for head in range(self.heads)]
        return [self._check_head(*pair) for pair in heads]

    # ----------------------------------------------------------------------- payload

    def _residues(self) -> list[str]:
        """How the page names each map position: residue name and number as in the file, else letter + position."""
        out = []
        s = self.structure
        for p in range(len(self)):
            r = -1 if self.index is None else int(self.index[p])
            if r >= 0:
                out.append(f"{s.res_names[r]} {s.res_ids[r]}{s.ins_codes[r]}")
            elif self.sequence is not None:
                out.append(f"{self.sequence[p]} {p + 1}" + (" (not in the structure)" if s is not None else ""))
            else:
                out.append(str(p + 1))
        return out

    def _numbers(self) -> list[str]:
        s = self.structure
        return [f"{s.res_ids[r]}{s.ins_codes[r]}" if self.index is not None and (r := int(self.index[p])) >= 0
                else str(p + 1) for p in range(len(self))]

    def payload(self, heads: Sequence[tuple[int, int]] | str | None = None, *, compress: bool = True,
                js: str | os.PathLike | None = None) -> tuple[dict, dict[str, bytes]]:
        """Everything the page gets: a JSON-able description and its named arrays.

        Parameters
        ----------
        heads : sequence of (layer, head), 'all' or None
            Heads whose full maps are included; default the :data:`DEFAULT_HEADS` best.
        compress : bool
            Gzip each array (the page inflates them with the browser's DecompressionStream).
        js : str or PathLike, optional
            Where the page loads 3Dmol.js from (:func:`~contacts.viz.viewer.resolve_3dmol_js`);
            default the explorer's ``js``.

        Returns
        -------
        meta : dict
        arrays : dict of str -> bytes
            Little-endian; ``meta['arrays']`` gives each one's dtype and compression.
        """
        n = len(self)
        included = self._resolve_heads(heads)
        arrays = _Arrays(compress)
        maps = {}
        for which, values in (("prediction", self.prediction), ("other", self.other)):
            if values is None:
                continue
            lo, hi = display_range(values, n)
            ranked = self._ranked[which]
            maps[which] = {
                "label": self.names[which], "prob": lo == 0.0 and hi == 1.0, "range": [lo, hi],
                "values": arrays.add(which, _packed(values), "float32"),
                "ranked": {r: arrays.add(f"{which}_{r}", p.i * n + p.j, "uint32") for r, p in ranked.items()},
            }
        meta: dict = {
            "version": PAYLOAD_VERSION, "n": n, "title": self.title, "sequence": self.sequence,
            "residues": self._residues(), "numbers": self._numbers(), "size": self.size,
            "maps": maps, "labels": None, "lower": "other" if self.other is not None else
            ("labels" if self.labels is not None else None),
            "top_k": self.top_k, "max_top_k": self.max_top_k, "range": self.range,
            "ranges": {name: list(band) for name, band in RANGES.items()},
            "colors": PAIR_COLORS, "range_colors": RANGE_COLORS, "true_color": TRUE_COLOR,
            "cartoon_color": CARTOON_COLOR, "cutoff": self.cutoff, "atom": self.atom,
            "structure": None, "heads": None, "live": False,
            # a page without a structure loads no 3Dmol.js (and $CONTACTS_3DMOL_JS need not exist)
            "js3dmol": resolve_3dmol_js(self.js if js is None else js) if self.structure is not None else None,
            "js_env": JS_ENV,
        }
        if self.labels is not None:
            code = np.where(np.isnan(self.labels), 2, self.labels > 0.5).astype(np.uint8)
            meta["labels"] = arrays.add("labels", _packed(code), "uint8")
        if self.structure is not None:
            s = self.structure
            anchors = np.array([a if (a := _anchor(s, r)) is not None else np.full(3, np.nan) for r in range(len(s))])
            points = np.full((n, 3), np.nan)
            placed = self.index >= 0
            points[placed] = contact_points(s, self.atom)[self.index[placed]]
            meta["structure"] = {
                "pdb": structure_pdb(s), "chain": s.chain if len(s.chain) == 1 else "A",
                "residues": [[int(r), str(c).strip()] for r, c in zip(s.res_ids, s.ins_codes)],
                "index": arrays.add("index", self.index, "int32"),
                "anchors": arrays.add("anchors", anchors, "float64"),
                "points": arrays.add("points", points, "float64"),
            }
        if self._maps is not None:
            score = self.head_score if self.head_score is not None else np.full((self.layers, self.heads), np.nan)
            colors, colorbar, (lo, hi) = _colors(score)
            meta["heads"] = {
                "layers": self.layers, "heads": self.heads, "score_name": self.head_score_name,
                "score": [None if not np.isfinite(v) else float(v) for v in score.ravel()],
                "colors": colors, "colorbar": colorbar, "score_range": [lo, hi],
                "thumb": int(self.thumbnails.shape[-1]),
                "thumbnails": arrays.add("thumbnails", self.thumbnails, "uint8"),
                "maps": {f"{layer},{head}": self._head_arrays(arrays, layer, head) for layer, head in included},
            }
        meta["arrays"] = arrays.spec
        return meta, arrays.data

    # ----------------------------------------------------------------------- the page

    def to_html(self, heads: Sequence[tuple[int, int]] | str | None = None, *,
                js: str | os.PathLike | None = None) -> str:
        """A self-contained page: data, script, style, and 3Dmol.js inlined when it is a local file."""
        meta, data = self.payload(heads, js=js)
        source = meta["js3dmol"] or ""
        inline = ""
        if source.startswith("data:text/javascript;base64,"):
            # the page carries the library as text (a quarter smaller than base64) and needs no loader
            inline = base64.b64decode(source.split(",", 1)[1]).decode("utf-8")
            meta["js3dmol"] = "inline"
        blob = json.dumps({"meta": meta, "arrays": {k: base64.b64encode(v).decode("ascii") for k, v in data.items()}},
                          separators=(",", ":"), allow_nan=False)
        # ids from the content: the same data gives the same page, byte for byte (reruns, Ray workers)
        uid = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]
        return _PAGE.format(
            title=html.escape(self.title or "contacts explorer"),
            css=_asset("explorer.css"),
            uid=uid,
            data=_script_text(blob),
            esm=_script_text(_asset("explorer.js")),
            lib=f"<script>{_library_text(inline)}</script>" if inline else "",
        )

    def write_html(self, path: str | os.PathLike, heads: Sequence[tuple[int, int]] | str | None = None, *,
                   js: str | os.PathLike | None = None) -> Path:
        """Write :meth:`to_html` to ``path`` (atomically); it works without a kernel, and offline with a local 3Dmol.js.

        Parameters
        ----------
        path : str or PathLike
        heads : sequence of (layer, head), 'all' or None
            Heads whose full maps the page holds (layer 1-based, head 0-based);
            default the :data:`DEFAULT_HEADS` best by their score. Other heads show
            their thumbnail.
        js : str or PathLike, optional
            A local ``3Dmol-min.js`` (inlined) or a URL; default the explorer's
            ``js``, else ``$CONTACTS_3DMOL_JS``, else the CDN (the page says so
            where it cannot load).

        Returns
        -------
        Path
        """
        path = Path(path)
        text = self.to_html(heads, js=js)
        with atomic_write(path, "wb") as fh:
            fh.write(text.encode("utf-8"))
        return path

    # ----------------------------------------------------------------------- Jupyter

    @property
    def widget(self):
        """The anywidget view (built once): put it in an ipywidgets layout, or let the notebook display it."""
        if self._widget is None:
            meta, data = self.payload(compress=True)
            meta["live"] = self._maps is not None
            self._widget = _widget_class()(_meta=meta, _arrays=data)
            self._widget.on_msg(self._on_message)
        return self._widget

    def _on_message(self, widget, content, buffers) -> None:
        """A head clicked in a live notebook: its full map goes back to the page."""
        if not isinstance(content, dict) or content.get("type") != "head":
            return
        try:
            layer, head = self._check_head(int(content["layer"]), int(content["head"]))
        except (KeyError, TypeError, ValueError) as error:
            widget.send({"type": "head", "layer": content.get("layer"), "head": content.get("head"),
                         "error": str(error)})
            return
        arrays = _Arrays(compress=False)
        spec = self._head_arrays(arrays, layer, head)
        names = list(arrays.data)
        widget.send({"type": "head", "layer": layer, "head": head, "map": spec, "arrays": arrays.spec,
                     "buffers": names}, buffers=[arrays.data[k] for k in names])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


@functools.lru_cache(maxsize=1)
def _widget_class():
    import anywidget  # noqa: PLC0415 (optional heavy dependency, loaded when used)
    import traitlets  # noqa: PLC0415 (comes with anywidget)

    class ExplorerWidget(anywidget.AnyWidget):
        _esm = ASSETS / "explorer.js"
        _css = ASSETS / "explorer.css"
        _meta = traitlets.Dict().tag(sync=True)
        _arrays = traitlets.Dict().tag(sync=True)

    return ExplorerWidget


@functools.lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _script_text(text: str) -> str:
    """Our script, data or style inside a <script>/<style> element: no '</' can close it early (the page undoes it)."""
    if "<\\/" in text:
        raise ValueError("text to embed already holds '<\\/', which the page would turn into '</'")
    return text.replace("</", "<\\/")


def _library_text(text: str) -> str:
    """3Dmol.js inside a <script> element, run as it is: a closing tag in its strings is escaped (``<\\/`` is ``</``)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<div id="cx-{uid}"></div>
<script type="application/json" id="cx-data-{uid}">{data}</script>
<script type="text/plain" id="cx-esm-{uid}">{esm}</script>
{lib}
<script type="module">
const root = document.getElementById("cx-{uid}");
const text = (id) => document.getElementById(id).textContent.replaceAll("<\\\\/", "<" + "/");
try {{
  const url = URL.createObjectURL(new Blob([text("cx-esm-{uid}")], {{type: "text/javascript"}}));
  const explorer = await import(url);
  await explorer.mount(root, JSON.parse(text("cx-data-{uid}")));
}} catch (error) {{
  root.textContent = "contacts explorer: " + error;
  throw error;
}}
</script>
</body>
</html>
"""


# --------------------------------------------------------------------------- building it


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)


def _layer(maps, layer: int, head: int | None = None) -> torch.Tensor:
    """One layer's maps (or one head's) as a float32 CPU tensor; arrays are copied, so a read-only memmap is fine."""
    one = maps[layer] if head is None else maps[layer][head]
    return one.detach().float().cpu() if isinstance(one, torch.Tensor) else torch.from_numpy(np.array(one, np.float32))


def _square(name: str, values, n: int | None = None) -> np.ndarray:
    values = _as_numpy(values).astype(np.float32, copy=False)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"{name} must be a square (L, L) map; got shape {values.shape}")
    if n is not None and values.shape[0] != n:
        raise ValueError(f"{name} is {values.shape[0]} x {values.shape[0]} but the prediction is {n} x {n}")
    return values


def _head_scores_from(head_scores, layers: int, heads: int) -> tuple[np.ndarray, str]:
    """A given head score: an array, or what probes computes (HeadScores: long-range P@L; AttentionProperties: p_alpha)."""
    if hasattr(head_scores, "proportion") and hasattr(head_scores, "background"):
        score, name = head_scores.proportion["contact"], (
            f"p_alpha(contact), background {float(head_scores.background['contact']):.3f}")
    elif hasattr(head_scores, "precision") and isinstance(head_scores.precision, dict):
        score, name = head_scores.precision["long"], "long-range P@L (mean over proteins)"
    else:
        score, name = head_scores, "score"
    score = np.asarray(score, dtype=np.float64)
    if score.shape != (layers, heads):
        raise ValueError(f"head_scores have shape {score.shape}; the maps have {layers} layers x {heads} heads")
    return score, name


def _scan_heads(maps, labels: np.ndarray | None, thumbnail: int):
    """One pass over the maps, a layer at a time: long-range P@L, display range and thumbnail of every head."""
    layers, heads, n = int(maps.shape[0]), int(maps.shape[1]), int(maps.shape[-1])
    precision = None if labels is None else np.full((layers, heads), np.nan)
    pairs = None if labels is None else range_pairs(labels, {"long": RANGES["long"]})
    display = np.zeros((layers, heads, 2))
    thumbs = np.zeros((layers, heads, thumbnail, thumbnail), dtype=np.uint8)
    for layer in range(layers):
        corrected = corrected_maps(_layer(maps, layer))
        if corrected.shape != (heads, n, n):
            raise ValueError(f"layer {layer + 1} of the maps has shape {tuple(corrected.shape)}; "
                             f"expected {(heads, n, n)}")
        if pairs is not None:
            precision[layer] = head_precision(corrected, pairs)["long"]
        lo, hi, thumbs[layer] = _display_and_thumbnails(corrected, thumbnail)  # last: it overwrites corrected
        display[layer] = np.stack([lo, hi], axis=-1)
    return precision, display, thumbs


def explore(
    structure: Structure | str | os.PathLike | AtomArray | AtomArrayStack | None,
    probs: np.ndarray,
    *,
    maps: np.ndarray | torch.Tensor | None = None,
    labels: np.ndarray | bool | None = True,
    other: np.ndarray | None = None,
    sequence: str | None = None,
    head_scores=None,
    top_k: int | None = None,
    max_top_k: int | None = None,
    range: str = "all",  # the name users know from metrics.RANGES
    name: str = "prediction",
    other_name: str = "other",
    cutoff: float = CONTACT_CUTOFF,
    atom: str = CONTACT_ATOM,
    thumbnail: int = 32,
    size: int = 480,
    js: str | os.PathLike | None = None,
    title: str | None = None,
) -> Explorer:
    """The contact map, the structure and the attention heads in one linked view.

    Parameters
    ----------
    structure : Structure, path, PDB id, AtomArray, AtomArrayStack or None, length L
        None: the map alone, with ``sequence`` on its axes.
    probs : ndarray or Tensor, shape=(L, L) or (N, N)
        Contact probabilities or any score (higher: more likely in contact); NaN
        where nothing was predicted (windows of long sequences).
    maps : ndarray or Tensor, shape=(layers, heads, L, L), optional
        Raw attention maps (``model.attention_maps(seq)``), or anything indexed
        by layer like them (a memmap): read one layer at a time, kept by
        reference for the heads a notebook asks for later.
    labels : bool or ndarray, shape=(L, L)
        True: the structure's contacts (:func:`contacts.analysis.labels.contact_map`
        with ``cutoff`` and ``atom``), below the diagonal and colouring the
        marked pairs; an array: those; False: none.
    other : ndarray, shape=(L, L), optional
        A second prediction (a Potts model, another language model), drawn below
        the diagonal instead of the labels, its top pairs marked there.
    sequence : str, optional
        The sequence the map was predicted for, when not the structure's observed
        residues (positions are aligned onto the structure), or the sequence on
        the axes of a structure-free map.
    head_scores : ndarray (layers, heads), probes.HeadScores or probes.AttentionProperties, optional
        What colours the head grid: default each head's long-range P@L on this
        structure; an AttentionProperties colours by Vig's p_alpha(contact).
    top_k : int, optional
        Pairs marked and drawn in 3D at first; default L (the page has a control).
    max_top_k : int, optional
        Most pairs the control offers; default 2L.
    range : {'all', 'short', 'medium', 'long'}
        Separation band of the marked pairs at first (:data:`contacts.constants.RANGES`).
    name, other_name : str
        What the page calls the prediction and ``other``.
    cutoff, atom
        Passed to :func:`contacts.analysis.labels.contact_map`.
    thumbnail : int
        Side of each head's thumbnail, in pixels.
    size : int
        Side of the map and of the 3D panel, in CSS pixels.
    js : str or PathLike, optional
        Where 3Dmol.js comes from (:func:`~contacts.viz.viewer.resolve_3dmol_js`).
    title : str, optional

    Returns
    -------
    Explorer
        Displays itself in Jupyter (needs ``anywidget``); ``write_html(path)``
        saves the page.

    Examples
    --------
    >>> s = contacts.load_structure("1aki.cif")                                  # doctest: +SKIP
    >>> explore(s, model.predict_contacts(s.sequence),
    ...         maps=model.attention_maps(s.sequence))                           # doctest: +SKIP
    """
    prediction = _square("probs", probs)
    n = prediction.shape[0]
    if range not in RANGES:
        raise ValueError(f"range={range!r} is not one of {sorted(RANGES)}")
    top_k = n if top_k is None else top_k
    max_top_k = max(2 * n, top_k) if max_top_k is None else max_top_k
    if int(top_k) != top_k or not 0 <= top_k <= max_top_k:
        raise ValueError(f"top_k={top_k} must be an integer in 0..{max_top_k} (max_top_k)")
    if int(thumbnail) != thumbnail or not 4 <= thumbnail <= 128:
        raise ValueError(f"thumbnail={thumbnail} must be an integer in 4..128 (pixels)")
    other_values = None if other is None else _square("other", other, n)
    if maps is not None and (len(maps.shape) != 4 or tuple(maps.shape[-2:]) != (n, n)):
        raise ValueError(f"maps must have shape (layers, heads, {n}, {n}); got {tuple(maps.shape)}")
    index = label_values = None
    if structure is not None:
        structure = as_structure(structure)
        index, placed = _placement(prediction, structure, sequence)
        sequence = placed or structure.sequence
        label_values = _labels_for(structure, labels, placed, cutoff, atom)
    elif sequence is not None and len(sequence) != n:
        raise ValueError(f"sequence has {len(sequence)} residues but the map is {n} x {n}")
    elif labels is not True:
        label_values = _labels_for(None, labels, None, cutoff, atom)
    if label_values is not None:
        label_values = _square("labels", label_values, n)
    head_score = head_range = thumbs = None
    score_name = ""
    if maps is not None:
        precision, head_range, thumbs = _scan_heads(maps, label_values, thumbnail)
        if head_scores is not None:
            head_score, score_name = _head_scores_from(head_scores, int(maps.shape[0]), int(maps.shape[1]))
        elif precision is not None:
            head_score, score_name = precision, "long-range P@L"
    ranked = {"prediction": _rank(_as_numpy(probs), max_top_k)}
    if other is not None:
        ranked["other"] = _rank(_as_numpy(other), max_top_k)
    return Explorer(
        prediction=prediction, labels=label_values, other=other_values, ranked=ranked, structure=structure,
        index=index,
        sequence=sequence, maps=maps, head_score=head_score, head_score_name=score_name, thumbnails=thumbs,
        head_range=head_range, names={"prediction": name, "other": other_name}, top_k=int(top_k),
        max_top_k=int(max_top_k), range_=range, cutoff=cutoff, atom=atom, js=js, size=size, title=title,
    )
