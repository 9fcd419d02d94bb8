"""The explorer's saved page in headless Chromium, offline, driven as a person would (playwright).

Each step goes through the page's own events (the mouse on the map and on the head grid, a
3Dmol atom's click callback) and is checked against numbers this test computes in Python from
the same prediction and structure: the tooltip's residues, score, distance and label; the 3D
selection as 3Dmol.js itself holds it (its labels, the atoms' styles, the view's centre); a
residue's partners; the map after a head switch. Pages for L = 129 (1aki) and L = 1022 (the
first 1022 residues of 4JSV chain B), a page whose 3Dmol.js cannot load, and a windowed
L = 3000 map. The steps are bench/explorer_bench.py's, which times them for docs/viewer.md.

Needs chromium and a local 3Dmol.js as tests/viz/test_browser.py does (skipped without them,
a failure with CI=true), and the real structures of ../shared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from test_browser import _missing, chromium, local_js  # noqa: F401 (fixtures)

import contacts
from contacts.analysis.labels import impute_cb
from contacts.io.structures import structure_pdb
from contacts.viz.explorer import explore

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import explorer_bench as bench  # noqa: E402

H = bench.HANDLE


@pytest.fixture(scope="module")
def browser(chromium):  # noqa: F811 (the fixture above)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install playwright (the test extras have it)")
    with sync_playwright() as playwright:
        browser = bench.launch(playwright, chromium)
        yield browser
        browser.close()


def _case(structures_dir, name: str, sequence_length: int | None, layers: int, heads: int):
    structure = contacts.load_structure(structures_dir / name)
    sequence = None if sequence_length is None else structure.sequence[:sequence_length]
    labels = contacts.contact_map(structure, sequence=sequence)
    probs = bench.synthetic_prediction(labels)
    maps = bench.SyntheticMaps(labels, layers, heads)
    return structure, sequence, labels, probs, maps


@pytest.fixture(scope="module", params=[("1aki.cif", None, 33, 20), ("4JSV.pdb", 1022, 3, 4)],
                ids=["L=129", "L=1022"])
def page_case(request, structures_dir, local_js, tmp_path_factory):  # noqa: F811 (the fixture above)
    name, length, layers, heads = request.param
    structure, sequence, labels, probs, maps = _case(structures_dir, name, length, layers, heads)
    x = explore(structure, probs, maps=maps, sequence=sequence, js=local_js)
    path = x.write_html(tmp_path_factory.mktemp("explorer") / "page.html")
    return x, path, structure, labels, probs


def residue_name(structure, r: int) -> str:
    return f"{structure.res_names[r]} {structure.res_ids[r]}{structure.ins_codes[r]}"


def expected_lines(x, structure, labels, probs, i: int, j: int) -> tuple[str, float, float, str]:
    """Residues line, score, CB distance (the labels' imputed CB) and verdict, from Python alone."""
    ri, rj = x.index[i], x.index[j]
    sep = j - i
    band = next(b for b, (lo, hi) in contacts.constants.RANGES.items()
                if b != "all" and sep >= lo and (hi is None or sep < hi))
    head = f"{residue_name(structure, ri)} – {residue_name(structure, rj)}  (separation {sep}, {band})"
    xyz = structure.coords.astype(np.float64)
    cb = impute_cb(xyz[:, 0], xyz[:, 1], xyz[:, 2])
    distance = float(np.linalg.norm(cb[ri] - cb[rj]))
    verdict = "contact" if labels[i, j] > 0.5 else "no contact"
    return head, float(probs[i, j]), distance, verdict


def check_tooltip(text: str, head: str, score: float, distance: float, verdict: str) -> None:
    lines = text.split("\n")
    assert lines[0] == head, text
    assert lines[1].startswith("prediction: "), text
    shown = float(lines[1].removeprefix("prediction: "))
    assert shown == pytest.approx(score, rel=6e-4), text  # 4 significant digits of the float32 score
    assert lines[-1].startswith("CB distance ") and lines[-1].endswith(f" Å: {verdict}"), text
    assert float(lines[-1].split()[2]) == pytest.approx(distance, abs=0.0051), text


def residue_atoms(structure, residues: list[int]) -> np.ndarray:
    """Coordinates of the residues' atoms as the page's PDB text holds them, shape (n, 3)."""
    wanted = {(str(structure.res_ids[r]), str(structure.ins_codes[r]).strip()) for r in residues}
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                     for line in structure_pdb(structure).splitlines()
                     if line.startswith(("ATOM", "HETATM")) and (line[22:26].strip(), line[26].strip()) in wanted])


def test_hover_click_and_head_switch_show_what_python_computes(browser, page_case):
    x, path, structure, labels, probs = page_case
    page, _, state, blocked = bench.open_page(browser, path)
    assert blocked == [] and state["viewer3d"] == "ready" and state["note"] == "", state
    assert state["n"] == len(x) and state["topK"] == len(x) and state["lower"] == "labels"
    # the marked pairs are select_pairs' (the hits P@k counts), each named by its label
    top = x.pairs()
    assert [p[:2] for p in state["pairs"]] == [[int(a), int(b)] for a, b in zip(top.i, top.j)]
    kinds = {"hit": 1.0, "miss": 0.0}
    assert all(labels[a, b] == kinds[k] for a, b, k in state["pairs"] if k in kinds)
    hit = next(p for p in state["pairs"] if p[2] == "hit")[:2]
    miss = next(p for p in state["pairs"] if p[2] == "miss")[:2]

    # hover: above the diagonal, and below it (the same pair, labelled)
    for i, j in (hit, miss):
        _, text = bench.hover(page, i, j)
        check_tooltip(text, *expected_lines(x, structure, labels, probs, i, j))
    _, text = bench.hover(page, miss[1], miss[0])
    check_tooltip(text, *expected_lines(x, structure, labels, probs, *miss))

    # click: the pair labelled in 3D, every atom of both residues marked, the view centred on them
    i, j = hit
    _, state = bench.click(page, i, j)
    assert state["pair"] == [i, j]
    names = [residue_name(structure, x.index[p]) for p in (i, j)]
    assert page.evaluate(f"{H}.viewer.labels.map((l) => l.text)") == names
    atoms = residue_atoms(structure, [x.index[i], x.index[j]])
    marked = np.array(page.evaluate(f"{H}.viewer.shapes.filter(Boolean).at(-1).intersectionShape.sphere"
                                    ".map((s) => [s.center.x, s.center.y, s.center.z])"))
    np.testing.assert_allclose(np.sort(marked, axis=0), np.sort(atoms, axis=0), atol=1e-3)
    view = np.array(page.evaluate(f"{H}.viewer.getView()")[:3])  # the model is moved by minus the centre
    np.testing.assert_allclose(-view, atoms.mean(axis=0), atol=1e-3)

    # a residue clicked in 3D (through 3Dmol's own atom callback): its row, column and best partners
    r = i
    rid = int(structure.res_ids[x.index[r]])
    page.evaluate(f"() => {{ const a = {H}.viewer.getModel().selectedAtoms({{resi: {rid}}})[0];"
                  f" a.callback(a, {H}.viewer); }}")
    state = page.evaluate(f"{H}.state()")
    assert state["residue"] == r and state["pair"] is None
    row = probs[r].astype(np.float64)
    far = np.flatnonzero((np.abs(np.arange(len(x)) - r) >= 6) & np.isfinite(row))
    best = far[np.argsort(-row[far], kind="stable")[:8]]
    assert [p[0] for p in state["partners"]] == best.tolist()
    np.testing.assert_allclose([p[1] for p in state["partners"]], row[best], rtol=1e-6)
    assert page.evaluate(f"{H}.viewer.labels.map((l) => l.text)") == [residue_name(structure, x.index[r])]

    # a head in the page: its map replaces the prediction, and its best pairs are the ones drawn
    layer, head = x.best_heads(1)[0]
    _, before, after = bench.switch_head(page, layer, head)
    assert before != after
    state = page.evaluate(f"{H}.state()")
    corrected = x.head_map(layer, head)
    ranked = contacts.viz.pairs.select_pairs(corrected, top_k=len(x))
    assert [p[:2] for p in state["pairs"]] == [[int(a), int(b)] for a, b in zip(ranked.i, ranked.j)]
    _, text = bench.hover(page, int(ranked.i[0]), int(ranked.j[0]))
    shown = float(text.split("\n")[1].removeprefix(f"layer {layer}, head {head}: "))
    assert shown == pytest.approx(float(corrected[ranked.i[0], ranked.j[0]]), rel=6e-4), text
    # a head the page does not hold: its thumbnail, a note saying how to include it, the map unchanged
    absent = next((lay, h) for lay in range(1, x.layers + 1) for h in range(x.heads)
                  if f"{lay},{h}" not in state["heads"])
    digest = page.evaluate(f"{H}.mapDigest()")
    assert page.evaluate(f"{H}.selectHead({absent[0]}, {absent[1]})") is False
    state = page.evaluate(f"{H}.state()")
    assert state["map"] == f"{layer},{head}" and page.evaluate(f"{H}.mapDigest()") == digest
    assert f"heads=[({absent[0]}, {absent[1]})]" in state["note"]
    page.evaluate(f"{H}.showPrediction()")
    assert page.evaluate(f"{H}.state().map") == "prediction"
    page.close()


def test_without_3dmol_the_page_says_so_and_the_map_still_works(browser, structures_dir, tmp_path):
    structure, _, labels, probs, _ = _case(structures_dir, "1aki.cif", None, 1, 1)
    path = explore(structure, probs, js=(tmp_path / "no-such-3Dmol.js").as_uri()).write_html(tmp_path / "p.html")
    page, _, state, blocked = bench.open_page(browser, path)
    assert blocked == [] and state["viewer3d"].startswith("failed")
    assert "3Dmol.js could not be loaded from file://" in state["note"] and "CONTACTS_3DMOL_JS" in state["note"]
    assert page.is_visible(".cx-note")
    _, text = bench.hover(page, 3, 60)
    assert text.startswith(f"{residue_name(structure, 3)} – {residue_name(structure, 60)}  (separation 57, long)")
    assert text.split("\n")[-1].endswith("contact" if labels[3, 60] > 0.5 else "no contact")
    assert bench.click(page, 3, 60)[1]["pair"] == [3, 60]
    page.close()


def test_a_windowed_3000_residue_map_opens_pooled_and_zooms_to_full_resolution(browser, tmp_path):
    n = 3000
    sequence = "".join(np.random.default_rng(1).choice(list("ACDEFGHIKLMNPQRSTVWY"), n))
    probs = bench.windowed_prediction(n)
    path = explore(None, probs, sequence=sequence).write_html(tmp_path / "long.html")
    page, _, state, blocked = bench.open_page(browser, path)
    assert blocked == [] and state["viewer3d"] == "none"
    assert state["render"]["cells"] == n and state["render"]["pooling"] > 2
    _, state = bench.zoom(page, 1500, 0, 200)
    assert state["view"] == {"x0": 1500, "y0": 0, "w": 200} and state["render"]["pooling"] <= 1
    _, text = bench.hover(page, 10, 1600)  # 1590 apart: no window held both
    assert text.split("\n")[:2] == [f"{sequence[10]} 11 – {sequence[1600]} 1601  (separation 1590, long)",
                                    "prediction: not predicted"]
    _, text = bench.hover(page, 1000, 1500)
    assert float(text.split("\n")[1].removeprefix("prediction: ")) == pytest.approx(float(probs[1000, 1500]), rel=6e-4)
    page.close()


def test_contacts_predict_html_pages_open_from_their_index(browser, tmp_path):
    from contacts.io.fasta import FastaRecord
    from contacts.predictor import Predictor
    from contacts.runners.predict import predict_to_dir

    records = [FastaRecord("first", "first protein", "MKTAYIAKQRQISFVKSHFSRQ"), FastaRecord("two", "two", "GSHMDEKLLR")]
    predict_to_dir(Predictor.random("tiny", seed=1, device="cpu"), records, tmp_path, formats=("npy", "html"),
                   progress=False)
    page, blocked = bench.offline_page(browser)
    page.goto((tmp_path / "index.html").as_uri())
    page.click("text=first")
    state = bench.wait_ready(page)
    assert blocked == [] and page.url.endswith("/first.html") and state["viewer3d"] == "none"
    probs = np.load(tmp_path / "first.npy")
    _, text = bench.hover(page, 1, 20)
    assert text.split("\n")[0] == "K 2 – R 21  (separation 19, medium)"
    assert float(text.split("\n")[1].removeprefix("prediction: ")) == pytest.approx(float(probs[1, 20]), rel=6e-4)
    page.close()


def test_the_widget_fetches_a_clicked_heads_map_from_the_kernel(browser, page_case):
    """anywidget's render() with a stand-in for the widget model: the head message goes to Python and back.

    JupyterLab's comm is the one part not run here: the stand-in hands the page's message to
    Explorer's own handler and its reply (content and binary buffers) back to the page.
    """
    import base64

    x, _, _, _, _ = page_case
    meta, arrays = x.widget._meta, x.widget._arrays  # what the kernel syncs
    page, blocked = bench.offline_page(browser)
    page.set_content('<html><body><div id="root"></div></body></html>')
    page.add_style_tag(content=(Path(contacts.viz.explorer.__file__).parent / "explorer.css").read_text())
    page.evaluate("""async ([esm, meta, arrays]) => {
      const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
      const views = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, new DataView(bytes(v).buffer)]));
      const listeners = [];
      window.sent = [];
      const model = {get: (name) => ({_meta: meta, _arrays: views(arrays)})[name], send: (m) => window.sent.push(m),
                     on: (event, cb) => listeners.push(cb), off: () => {}};
      window.deliver = (msg, buffers) => listeners.forEach((cb) => cb(msg, buffers.map((s) => new DataView(bytes(s).buffer))));
      const widget = await import(URL.createObjectURL(new Blob([esm], {type: "text/javascript"})));
      await widget.default.render({model, el: document.getElementById("root")});
    }""", [x.widget._esm, meta, {k: base64.b64encode(v).decode() for k, v in arrays.items()}])
    state = bench.wait_ready(page)
    assert blocked == [] and state["viewer3d"] == "ready"
    layer, head = next((lay, h) for lay in range(x.layers, 0, -1) for h in range(x.heads)
                       if f"{lay},{h}" not in state["heads"])
    before = page.evaluate(f"{H}.mapDigest()")
    page.evaluate(f"() => {{ window.switched = {H}.selectHead({layer}, {head}); }}")  # pending until the reply
    assert page.evaluate("window.sent") == [{"type": "head", "layer": layer, "head": head}]

    class Widget:
        def send(self, content, buffers=None):
            self.reply = (content, [base64.b64encode(bytes(b)).decode() for b in buffers or []])

    widget = Widget()
    x._on_message(widget, page.evaluate("window.sent[0]"), [])
    page.evaluate("([content, buffers]) => window.deliver(content, buffers)", list(widget.reply))
    assert page.evaluate("window.switched") is True
    state = page.evaluate(f"{H}.state()")
    assert state["map"] == f"{layer},{head}" and f"{layer},{head}" in state["heads"]
    assert page.evaluate(f"{H}.mapDigest()") != before
    ranked = contacts.viz.pairs.select_pairs(x.head_map(layer, head), top_k=len(x))
    assert [p[:2] for p in state["pairs"]] == [[int(a), int(b)] for a, b in zip(ranked.i, ranked.j)]
    page.close()
