"""contacts.viz.explorer without a browser: the data the page gets, checked against the package's own functions.

The page only reads what :meth:`Explorer.payload` hands it, so these tests pin that
data: the prediction and labels as stored, the ranked pairs (they must be
``select_pairs``' so that the hits shown are the hits P@k counts), the head
scores, thumbnails and 8-bit head maps, the messages a live kernel answers, and
the saved page. ``test_explorer_browser.py`` drives the page itself.
"""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
import torch
from test_viewer import make_structure

import contacts
from contacts.analysis.labels import contact_points
from contacts.analysis.metrics import precision
from contacts.constants import RANGES
from contacts.features import apc, symmetrize
from contacts.viz.explorer import DEFAULT_HEADS, explore
from contacts.viz.pairs import select_pairs
from contacts.viz.viewer import CDN_3DMOL_JS, JS_ENV

SEQUENCE = "ALAGAKALAGLAKALAGAKALAGLAKALAGALAK" * 2  # 68 residues
LAYERS, HEADS = 3, 4


def decode(meta: dict, arrays: dict, name: str) -> np.ndarray:
    spec = meta["arrays"][name]
    raw = gzip.decompress(arrays[name]) if spec["gzip"] else arrays[name]
    return np.frombuffer(raw, dtype={"float32": "<f4", "float64": "<f8", "uint8": "u1", "uint32": "<u4",
                                     "int32": "<i4"}[spec["dtype"]])


def unpack(packed: np.ndarray, n: int) -> np.ndarray:
    out = np.full((n, n), np.nan)
    i, j = np.triu_indices(n, 1)
    out[i, j] = packed
    return out


def attention(n: int, seed: int = 0) -> np.ndarray:
    """Softmax rows, one head in layer 2 leaning on the structure's contacts (so heads differ in precision)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(LAYERS, HEADS, n, n))
    return torch.as_tensor(logits).softmax(-1).numpy().astype(np.float32)


def hairpin(sequence: str):
    """Two antiparallel strands 5 Å apart: residue i touches n - 1 - i, so there are long-range contacts."""
    s = make_structure(sequence)
    n = len(sequence)
    half = np.arange(n) < n // 2
    z = np.where(half, np.arange(n), n - 1 - np.arange(n)) * 3.4
    shift = np.stack([np.where(half, 0.0, 5.0), np.zeros(n), z], axis=1) - s.coords[:, 1]
    s.coords[:] = s.coords + shift[:, None, :].astype(np.float32)
    return s


@pytest.fixture(scope="module")
def case():
    s = hairpin(SEQUENCE)
    labels = contacts.contact_map(s)
    rng = np.random.default_rng(1)
    noise = rng.random(labels.shape)
    probs = (0.3 * np.nan_to_num(labels) + 0.7 * (noise + noise.T) / 2).astype(np.float32)
    maps = attention(len(s))
    maps[1, 2] = 0.5 * maps[1, 2] + 0.5 * np.nan_to_num(labels) / np.maximum(np.nan_to_num(labels).sum(1, keepdims=True), 1)
    return s, probs, labels, maps


def test_payload_holds_the_prediction_labels_and_the_points_behind_them(case):
    s, probs, labels, maps = case
    x = explore(s, probs, maps=maps)
    meta, arrays = x.payload(compress=True)
    n = len(s)
    assert meta["n"] == n and json.loads(json.dumps(meta)) == meta  # JSON as it is
    pred = unpack(decode(meta, arrays, meta["maps"]["prediction"]["values"]), n)
    i, j = np.triu_indices(n, 1)
    np.testing.assert_array_equal(pred[i, j], probs[i, j])
    assert meta["maps"]["prediction"]["prob"] and meta["maps"]["prediction"]["range"] == [0.0, 1.0]
    code = unpack(decode(meta, arrays, meta["labels"]), n)[i, j]
    np.testing.assert_array_equal(code, np.where(np.isnan(labels[i, j]), 2, labels[i, j]))
    points = decode(meta, arrays, meta["structure"]["points"]).reshape(n, 3)
    np.testing.assert_array_equal(points, contact_points(s))
    distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.testing.assert_array_equal(distance[i, j] < 8.0, labels[i, j] > 0.5)  # the hover's distance is the label's
    assert meta["residues"][0] == "ALA 1" and meta["residues"][3] == "GLY 4" and meta["numbers"][3] == "4"
    assert meta["lower"] == "labels"


def test_ranked_pairs_are_select_pairs_in_every_range(case):
    s, probs, labels, _ = case
    x = explore(s, probs, top_k=20)
    meta, arrays = x.payload()
    n = len(s)
    assert meta["top_k"] == 20 and meta["max_top_k"] == 2 * n
    for name in RANGES:
        flat = decode(meta, arrays, meta["maps"]["prediction"]["ranked"][name]).astype(int)
        want = select_pairs(probs, top_k=2 * n, range=name)
        np.testing.assert_array_equal(flat // n, want.i, err_msg=name)
        np.testing.assert_array_equal(flat % n, want.j, err_msg=name)
        got = x.pairs(7, name)
        want = select_pairs(probs, top_k=7, range=name)
        np.testing.assert_array_equal(np.stack([got.i, got.j]), np.stack([want.i, want.j]))
    # the hits the page colours are P@k's hits: with every label known, their share is precision()
    top = x.pairs(n, "long")
    assert np.mean(labels[top.i, top.j] > 0.5) == precision(probs, labels, k=n, min_separation=24)


def test_heads_are_scored_by_long_range_precision_and_the_best_are_in_the_page(case):
    s, probs, labels, maps = case
    x = explore(s, probs, maps=maps)
    n = len(s)
    for layer in range(LAYERS):
        for head in range(HEADS):
            corrected = apc(symmetrize(torch.as_tensor(maps[layer, head]))).double().numpy()
            want = precision(corrected, labels, k=n, min_separation=24)
            assert x.head_score[layer, head] == pytest.approx(want), (layer, head)
    assert x.best_heads(1) == [(2, 2)]  # the head built on the contacts
    meta, _ = x.payload()
    assert list(meta["heads"]["maps"]) == [f"{layer},{head}" for layer, head in x.best_heads(DEFAULT_HEADS)]
    assert meta["heads"]["score_name"] == "long-range P@L" and len(meta["heads"]["colors"]) == LAYERS * HEADS
    meta, _ = x.payload(heads=[(3, 1)])
    assert list(meta["heads"]["maps"]) == ["3,1"]
    with pytest.raises(ValueError, match=r"layer=4, head=0 is outside layers 1..3, heads 0..3"):
        x.payload(heads=[(4, 0)])


def test_head_maps_are_8_bit_with_the_exact_scores_of_their_best_pairs(case):
    s, probs, _, maps = case
    x = explore(s, probs, maps=maps)
    meta, arrays = x.payload(heads=[(2, 2)])
    n = len(s)
    spec = meta["heads"]["maps"]["2,2"]
    corrected = apc(symmetrize(torch.as_tensor(maps[1, 2]))).numpy()
    np.testing.assert_array_equal(x.head_map(2, 2), corrected)
    # the grey scale: from max(0, min) to the L-th best pair at separation >= 6
    i, j = np.triu_indices(n, 6)
    lo, hi = max(0.0, float(corrected.min())), float(np.sort(corrected[i, j])[-n])
    assert spec["range"] == pytest.approx([lo, hi])
    i, j = np.triu_indices(n, 1)
    display = decode(meta, arrays, spec["bytes"])
    want = np.rint(np.clip((corrected[i, j].astype(np.float64) - lo) / (hi - lo), 0, 1) * 254).astype(int) + 1
    np.testing.assert_array_equal(display, want)
    for name in RANGES:
        flat = decode(meta, arrays, spec["ranked"][name]).astype(int)
        pairs = select_pairs(corrected, top_k=2 * n, range=name)
        np.testing.assert_array_equal(flat, pairs.i * n + pairs.j)
        np.testing.assert_array_equal(decode(meta, arrays, spec["scores"][name]), corrected[pairs.i, pairs.j])


def test_thumbnails_are_block_maxima_of_each_heads_display_values(case):
    s, probs, _, maps = case
    x = explore(s, probs, maps=maps, thumbnail=8)
    n = len(s)
    assert x.thumbnails.shape == (LAYERS, HEADS, 8, 8) and x.thumbnails.dtype == np.uint8
    layer, head = 1, 2
    corrected = apc(symmetrize(torch.as_tensor(maps[layer, head]))).double().numpy()
    lo, hi = x.payload(heads=[(layer + 1, head)])[0]["heads"]["maps"][f"{layer + 1},{head}"]["range"]
    scaled = np.clip((corrected - lo) / (hi - lo), 0, 1)
    scaled[np.abs(np.subtract.outer(np.arange(n), np.arange(n))) < 6] = 0  # not scored, left out
    edges = [(a * n // 8, -(-(a + 1) * n // 8)) for a in range(8)]  # adaptive pooling's blocks
    want = np.array([[scaled[r0:r1, c0:c1].max() for c0, c1 in edges] for r0, r1 in edges])
    np.testing.assert_allclose(x.thumbnails[layer, head], np.round(want * 255), atol=1)


def test_attention_properties_colour_the_grid_by_p_alpha(case):
    from probes.attention import AttentionProperties

    s, probs, _, maps = case
    proportion = np.arange(LAYERS * HEADS, dtype=float).reshape(LAYERS, HEADS) / 20
    zeros = {"contact": np.zeros((LAYERS, HEADS))}
    props = AttentionProperties(
        proportion={"contact": proportion}, weighted=zeros, background={"contact": 0.07}, hits=zeros,
        attended=zeros, weighted_hits=zeros, weighted_mass=zeros, mean_distance=np.zeros((LAYERS, HEADS)),
        entropy=np.zeros((LAYERS, HEADS)), proteins=["x"], lengths=[len(s)],
    )
    x = explore(s, probs, maps=maps, head_scores=props)
    np.testing.assert_array_equal(x.head_score, proportion)
    assert x.best_heads(2) == [(3, 3), (3, 2)]
    assert x.head_score_name.startswith("p_alpha(contact), background 0.070")
    with pytest.raises(ValueError, match=r"head_scores have shape \(2, 2\); the maps have 3 layers x 4 heads"):
        explore(s, probs, maps=maps, head_scores=np.zeros((2, 2)))


class _Widget:
    def __init__(self):
        self.sent = []

    def send(self, content, buffers=None):
        self.sent.append((content, buffers or []))


def test_a_live_kernel_answers_a_clicked_head_with_its_map(case):
    s, probs, _, maps = case
    x = explore(s, probs, maps=maps)
    widget = _Widget()
    x._on_message(widget, {"type": "head", "layer": 3, "head": 1}, [])
    content, buffers = widget.sent[-1]
    assert (content["layer"], content["head"]) == (3, 1) and "error" not in content
    raw = dict(zip(content["buffers"], buffers))
    meta, arrays = x.payload(heads=[(3, 1)], compress=False)
    spec = meta["heads"]["maps"]["3,1"]
    assert content["map"] == spec
    for name in content["buffers"]:
        assert bytes(raw[name]) == arrays[name], name
    x._on_message(widget, {"type": "head", "layer": 9, "head": 0}, [])
    assert "outside layers 1..3" in widget.sent[-1][0]["error"]
    x._on_message(widget, {"type": "other"}, [])
    assert len(widget.sent) == 2


def test_the_widget_syncs_the_payload_and_displays_as_a_widget(case):
    pytest.importorskip("anywidget")
    s, probs, _, maps = case
    x = explore(s, probs, maps=maps, js=CDN_3DMOL_JS)
    w = x.widget
    assert w is x.widget  # built once
    assert "export default" in w._esm and ".cx" in w._css
    assert w._meta["live"] and w._meta["js3dmol"] == CDN_3DMOL_JS
    assert set(w._arrays) == set(w._meta["arrays"])
    bundle = x._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id


def test_a_saved_page_is_self_contained_with_a_local_3dmol(case, tmp_path, monkeypatch):
    s, probs, _, maps = case
    js = tmp_path / "3Dmol-min.js"
    js.write_text("window.$3Dmol = {marker: 'local copy'};")
    x = explore(s, probs, maps=maps)
    path = x.write_html(tmp_path / "page.html", js=js)
    text = path.read_text()
    assert "marker: 'local copy'" in text and '"js3dmol":"inline"' in text
    assert not re.search(r"src=[\"']?https?:", text) and "cdn.jsdelivr" not in text
    # the data and script blocks cannot be closed early by their content
    blocks = re.findall(r"<script[^>]*>(.*?)</script>", text, flags=re.S)
    assert len(blocks) == 4 and all("</" not in b for b in blocks)
    # with nothing named, the CDN: the page says so where it cannot load (checked in the browser test)
    monkeypatch.delenv(JS_ENV, raising=False)
    meta, _ = explore(s, probs).payload()
    assert meta["js3dmol"] == CDN_3DMOL_JS


def test_a_map_without_structure_has_the_sequence_on_its_axes():
    n = 30
    probs = np.random.default_rng(0).random((n, n)).astype(np.float32)
    meta, _ = explore(None, probs, sequence="M" + "K" * (n - 1)).payload()
    assert meta["structure"] is None and meta["labels"] is None and meta["lower"] is None
    assert meta["sequence"].startswith("MK") and meta["residues"][:2] == ["M 1", "K 2"]
    meta, _ = explore(None, probs).payload()
    assert meta["sequence"] is None and meta["residues"][4] == "5"


def test_a_longer_sequence_is_placed_on_the_structure():
    s = make_structure(SEQUENCE)
    longer = "MW" + SEQUENCE
    probs = np.random.default_rng(0).random((len(longer),) * 2).astype(np.float32)
    x = explore(s, probs, sequence=longer)
    meta, arrays = x.payload()
    np.testing.assert_array_equal(decode(meta, arrays, meta["structure"]["index"])[:4], [-1, -1, 0, 1])
    assert meta["residues"][:3] == ["M 1 (not in the structure)", "W 2 (not in the structure)", "ALA 1"]
    assert np.isnan(x.labels[0]).all() and not np.isnan(x.labels[2, 30])


def test_other_prediction_goes_below_the_diagonal(case):
    s, probs, _, _ = case
    other = probs.T * 3.0  # not probabilities: a raw score
    meta, arrays = explore(s, probs, other=other, other_name="Potts").payload()
    assert meta["lower"] == "other" and meta["maps"]["other"]["label"] == "Potts"
    assert not meta["maps"]["other"]["prob"] and meta["maps"]["other"]["range"][1] > 1
    flat = decode(meta, arrays, meta["maps"]["other"]["ranked"]["long"]).astype(int)
    want = select_pairs(other, top_k=2 * len(s), range="long")
    np.testing.assert_array_equal(flat, want.i * len(s) + want.j)


def test_bad_input_is_one_line_naming_the_value(case):
    s, probs, _, maps = case
    cases = [
        (dict(probs=probs[:, :-1]), r"probs must be a square \(L, L\) map; got shape \(68, 67\)"),
        (dict(maps=maps[..., :-1, :-1]), r"maps must have shape \(layers, heads, 68, 68\); got \(3, 4, 67, 67\)"),
        (dict(other=probs[:-1, :-1]), r"other is 67 x 67 but the prediction is 68 x 68"),
        (dict(top_k=50, max_top_k=40), r"top_k=50 must be an integer in 0..40 \(max_top_k\)"),
        (dict(top_k=2.5), r"top_k=2.5 must be an integer in 0..136"),
        (dict(range="far"), r"range='far' is not one of"),
        (dict(thumbnail=2), r"thumbnail=2 must be an integer in 4..128"),
    ]
    for change, message in cases:
        kwargs = dict(probs=probs, maps=None)
        kwargs.update(change)
        with pytest.raises(ValueError, match=message):
            explore(s, kwargs.pop("probs"), **kwargs)
    with pytest.raises(ValueError, match="sequence has 5 residues but the map is 68 x 68"):
        explore(None, probs, sequence="MKVLA")
    x = explore(s, probs)
    with pytest.raises(ValueError, match="no attention maps"):
        x.head_map(1, 0)
    with pytest.raises(ValueError, match="no attention maps"):
        x.payload(heads=[(1, 0)])
