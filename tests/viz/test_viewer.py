"""contacts.viewer: pair selection, labels, cylinder specs, 3Dmol.js source, the py3Dmol views."""

from __future__ import annotations

import base64
import re
import warnings

import numpy as np
import pytest

from contacts.analysis import metrics
from contacts.analysis.labels import contact_map
from contacts.io.structures import Structure, load_structure
from contacts.viz.viewer import (
    CDN_3DMOL_JS,
    JS_ENV,
    PAIR_COLORS,
    Pairs,
    contact_cylinders,
    label_pairs,
    resolve_3dmol_js,
    select_pairs,
    show_attention,
    show_contacts,
    structure_pdb,
)


def make_structure(sequence: str, *, missing_cb=(), missing_all=(), source: str = "") -> Structure:
    """A helix-like chain: CA 1.5 Å apart along a spiral (radius 2.3 Å, 100° a residue)."""
    n = len(sequence)
    t = np.deg2rad(100.0) * np.arange(n)
    ca = np.stack([2.3 * np.cos(t), 2.3 * np.sin(t), 1.5 * np.arange(n)], axis=1)
    coords = np.stack([ca + [0.5, -1.2, -0.4], ca, ca + [1.0, 1.1, 0.3], ca + [-1.2, 0.8, 0.5]], axis=1)
    coords = coords.astype(np.float32)
    for r, aa in enumerate(sequence):
        if aa == "G" or r in missing_cb:
            coords[r, 3] = np.nan
        if r in missing_all:
            coords[r] = np.nan
    three = {"A": "ALA", "G": "GLY", "L": "LEU", "K": "LYS"}
    return Structure(
        sequence=sequence, coords=coords, atom_mask=~np.isnan(coords[..., 0]),
        res_ids=np.arange(1, n + 1), ins_codes=np.array([""] * n), res_names=np.array([three[a] for a in sequence]),
        chain="A", source=source,
    )


def random_scores(n: int, seed: int = 0) -> np.ndarray:
    s = np.random.default_rng(seed).random((n, n))
    return (s + s.T) / 2


# --------------------------------------------------------------------------- select_pairs


def test_select_pairs_takes_the_best_upper_triangle_pairs_in_band():
    scores = random_scores(40)
    pairs = select_pairs(scores, top_k=15)
    assert len(pairs) == 15
    assert np.all(pairs.i < pairs.j) and np.all(pairs.j - pairs.i >= 6)
    assert np.all(np.diff(pairs.score) <= 0)
    # nothing left out scores higher than the last pair taken
    i, j = np.triu_indices(40, 6)
    taken = set(zip(pairs.i.tolist(), pairs.j.tolist()))
    rest = [scores[a, b] for a, b in zip(i, j) if (a, b) not in taken]
    assert max(rest) <= pairs.score[-1]
    np.testing.assert_array_equal(pairs.score, scores[pairs.i, pairs.j])


def test_select_pairs_default_top_k_is_length_and_reads_only_the_upper_triangle():
    scores = random_scores(30)
    assert len(select_pairs(scores)) == 30
    lower_boost = scores.copy()
    lower_boost[np.tril_indices(30, -1)] = 10.0
    a, b = select_pairs(scores), select_pairs(lower_boost)
    np.testing.assert_array_equal(a.i, b.i)
    np.testing.assert_array_equal(a.j, b.j)


@pytest.mark.parametrize("name", ["short", "medium", "long", "all"])
def test_select_pairs_range_uses_the_metrics_bands(name):
    lo, hi = metrics.RANGES[name]
    pairs = select_pairs(random_scores(60), range=name, top_k=10_000)
    sep = pairs.separation
    assert sep.min() >= lo and (hi is None or sep.max() < hi)
    # every valid pair of the band is there when k is large
    expected = sum(1 for d in range(lo, 60 if hi is None else hi) for _ in range(60 - d))
    assert len(pairs) == expected
    explicit = select_pairs(random_scores(60), min_separation=lo, max_separation=hi, top_k=10_000)
    np.testing.assert_array_equal(pairs.i, explicit.i)


def test_select_pairs_never_takes_nan_or_infinite():
    scores = random_scores(50)
    scores[np.triu_indices(50, 30)] = np.nan  # a windowed prediction: far pairs not predicted
    scores[0, 10] = np.inf
    scores[1, 11] = -np.inf
    pairs = select_pairs(scores, top_k=10_000)
    assert np.all(np.isfinite(pairs.score))
    assert np.all(pairs.separation < 30)
    assert (0, 10) not in set(zip(pairs.i.tolist(), pairs.j.tolist()))
    only_nan = np.full((20, 20), np.nan)
    assert len(select_pairs(only_nan)) == 0


def test_select_pairs_breaks_ties_in_row_major_order():
    scores = np.zeros((20, 20))
    tied = [(9, 19), (0, 12), (3, 10), (0, 7)]
    for a, b in tied:
        scores[a, b] = 0.5
    pairs = select_pairs(scores, top_k=4)
    assert list(zip(pairs.i.tolist(), pairs.j.tolist())) == sorted(tied)
    # and the same order whatever the memory layout
    again = select_pairs(np.asfortranarray(scores), top_k=4)
    np.testing.assert_array_equal(pairs.i, again.i)


def test_selected_pairs_score_what_metrics_precision_scores():
    """The top-k shown are the top-k metrics.precision scores (same ranking, same ties)."""
    rng = np.random.default_rng(3)
    labels = (rng.random((45, 45)) < 0.15).astype(float)
    labels = np.triu(labels) + np.triu(labels, 1).T
    pred = np.round(random_scores(45, seed=4), 1)  # coarse: many ties
    for name, (lo, hi) in metrics.RANGES.items():
        for k in (1, 5, 45):
            pairs = select_pairs(pred, top_k=k, range=name)
            shown = (label_pairs(pairs, labels) == "hit").mean()
            expected = metrics.precision(pred, labels, k=k, min_separation=lo, max_separation=hi)
            assert shown == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": -1}, "top_k=-1"),
        ({"top_k": 2.5}, "top_k=2.5"),
        ({"range": "far"}, "range='far'"),
        ({"min_separation": 0}, "min_separation=0"),
        ({"min_separation": 12, "max_separation": 12}, "max_separation=12"),
    ],
)
def test_select_pairs_errors_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        select_pairs(random_scores(20), **kwargs)


def test_select_pairs_refuses_a_non_square_map():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        select_pairs(np.zeros((3, 4)))


# --------------------------------------------------------------------------- labels and cylinders


def test_label_pairs_by_label():
    pairs = Pairs(i=np.array([0, 0, 1, 2]), j=np.array([7, 8, 9, 9]), score=np.ones(4))
    labels = np.zeros((10, 10))
    labels[0, 7] = 1
    labels[1, 9] = np.nan
    labels[2, 9] = -1  # the notebook's "unknown"
    assert label_pairs(pairs, labels).tolist() == ["hit", "miss", "unknown", "unknown"]
    assert label_pairs(pairs, None).tolist() == ["unlabelled"] * 4
    with pytest.raises(ValueError, match="position 9"):
        label_pairs(pairs, np.zeros((5, 5)))


def test_cylinders_join_cb_or_glycine_ca_and_follow_labels():
    s = make_structure("ALAGAKALAGLA", missing_cb=(5,), missing_all=(11,))
    pairs = Pairs(i=np.array([0, 1, 3, 0]), j=np.array([8, 9, 10, 11]), score=np.array([0.9, 0.6, 0.3, 0.2]))
    kinds = np.array(["hit", "miss", "unknown", "hit"])
    specs = contact_cylinders(s, pairs, kinds)
    # residue 11 has no atom at all: its pair cannot be drawn
    assert [spec["pair"][:2] for spec in specs] == [(0, 8), (1, 9), (3, 10)]
    xyz = lambda d: np.array([d["x"], d["y"], d["z"]])  # noqa: E731
    # 0 is ALA -> CB; 9 is GLY -> CA; 3 is GLY -> CA
    np.testing.assert_allclose(xyz(specs[0]["start"]), s.coords[0, 3], rtol=0, atol=1e-5)
    np.testing.assert_allclose(xyz(specs[1]["end"]), s.coords[9, 1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(xyz(specs[2]["start"]), s.coords[3, 1], rtol=0, atol=1e-5)
    assert [spec["color"] for spec in specs] == [PAIR_COLORS[k] for k in kinds[:3]]
    # stronger pairs are thicker and more opaque
    assert specs[0]["radius"] > specs[1]["radius"] > specs[2]["radius"]
    assert specs[0]["opacity"] > specs[1]["opacity"] > specs[2]["opacity"]
    assert "ALA1" in specs[0]["hover_callback"] and "GLY10" in specs[1]["hover_callback"]


def test_cylinders_of_a_residue_missing_its_cb_fall_back_to_ca():
    s = make_structure("AAAAAAAAAAAA", missing_cb=(2,))
    specs = contact_cylinders(s, Pairs(np.array([2]), np.array([9]), np.array([0.5])), np.array(["hit"]))
    np.testing.assert_allclose([specs[0]["start"][k] for k in "xyz"], s.coords[2, 1], atol=1e-5)


def test_cylinder_strength_rescales_scores_outside_unit_interval():
    s = make_structure("A" * 20)
    pairs = Pairs(np.array([0, 1]), np.array([10, 12]), np.array([7.0, -3.0]))  # e.g. Potts scores
    specs = contact_cylinders(s, pairs, np.array(["hit", "hit"]), radius=(0.1, 0.9))
    assert specs[0]["radius"] == pytest.approx(0.9) and specs[1]["radius"] == pytest.approx(0.1)


# --------------------------------------------------------------------------- 3Dmol.js source


def test_js_defaults_to_the_cdn(monkeypatch):
    monkeypatch.delenv(JS_ENV, raising=False)
    assert resolve_3dmol_js() == CDN_3DMOL_JS


def test_js_local_file_is_inlined(tmp_path, monkeypatch):
    js = tmp_path / "3Dmol-min.js"
    js.write_text("window.$3Dmol = {};")
    monkeypatch.setenv(JS_ENV, str(js))
    uri = resolve_3dmol_js()
    assert uri.startswith("data:text/javascript;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).decode() == "window.$3Dmol = {};"
    # an argument beats the environment
    assert resolve_3dmol_js("https://example.org/3Dmol.js") == "https://example.org/3Dmol.js"
    assert resolve_3dmol_js("/files/3Dmol-min.js") == "/files/3Dmol-min.js"


def test_js_missing_file_names_the_path(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "3Dmol-min.js"
    monkeypatch.setenv(JS_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))) as info:
        resolve_3dmol_js()
    assert JS_ENV in str(info.value)


# --------------------------------------------------------------------------- views


@pytest.fixture
def local_js(tmp_path, monkeypatch):
    js = tmp_path / "3Dmol-min.js"
    js.write_text("/* stand-in */")
    monkeypatch.setenv(JS_ENV, str(js))
    return js


def html_of(view) -> str:
    return view.write_html()


def test_show_contacts_draws_top_l_pairs_colored_by_structure(local_js):
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    n = len(s)
    labels = contact_map(s)
    pred = random_scores(n, seed=7)
    view = show_contacts(s, pred)
    html = html_of(view)
    assert "data:text/javascript;base64," in html and "cdn.jsdelivr" not in html
    assert html.count(".addCylinder(") == len(view.contact_cylinders) == n
    assert html.count(".addModel(") == 1 and '"cartoon"' in html and ".setHoverable(" in html
    kinds = label_pairs(select_pairs(pred), labels)
    for kind in ("hit", "miss"):
        assert sum(c["color"] == PAIR_COLORS[kind] for c in view.contact_cylinders) == int((kinds == kind).sum())
    assert {c["pair"][3] for c in view.contact_cylinders} <= {"hit", "miss"}


def test_a_cdn_view_says_where_3dmol_comes_from_without_a_warning(monkeypatch, caplog):
    from contacts.viz import viewer  # noqa: PLC0415 (its once-per-process flag)

    monkeypatch.delenv(JS_ENV, raising=False)
    monkeypatch.setattr(viewer, "_cdn_noted", False)
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    with warnings.catch_warnings(), caplog.at_level("INFO", logger="contacts.viz.viewer"):
        warnings.simplefilter("error")  # Python cannot know whether the browser reaches the CDN: no warning
        first = show_contacts(s, random_scores(len(s), seed=1))
        second = show_contacts(s, random_scores(len(s), seed=2))
    note = viewer.CDN_NOTE.format(url=viewer.CDN_3DMOL_JS, env=JS_ENV)
    assert [r.getMessage() for r in caplog.records] == [note]  # logged once per process
    assert "\n" not in note and "stays blank" not in note and ".py" not in note
    assert f"loads 3Dmol.js from {viewer.CDN_3DMOL_JS}" in note and "js=PATH" in note and "$CONTACTS_3DMOL_JS" in note
    for view in (first, second):
        html = html_of(view)
        assert html.index(note) < html.index("<script>")
        assert "contacts_note.remove()" in html


def test_a_local_js_view_has_no_note(local_js):
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = html_of(show_contacts(s, random_scores(len(s), seed=1)))
    assert "this page loads 3Dmol.js" not in html


def test_show_contacts_options(local_js):
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    pred = random_scores(len(s), seed=8)
    long = show_contacts(s, pred, range="long", top_k=5)
    assert len(long.contact_cylinders) == 5
    assert all(c["pair"][1] - c["pair"][0] >= 24 for c in long.contact_cylinders)
    plain = show_contacts(s, pred, labels=False, top_k=4)
    assert {c["color"] for c in plain.contact_cylinders} == {PAIR_COLORS["unlabelled"]}
    given = np.ones((len(s), len(s)))
    all_hits = show_contacts(s, pred, labels=given, top_k=4)
    assert {c["color"] for c in all_hits.contact_cylinders} == {PAIR_COLORS["hit"]}
    spectrum = show_contacts(s, pred, cartoon_color="spectrum", hover=False, top_k=2)
    html = html_of(spectrum)
    assert '"spectrum"' in html and ".setHoverable(" not in html
    none = show_contacts(s, pred, top_k=0)
    assert none.contact_cylinders == [] and ".addCylinder(" not in html_of(none)


def test_show_contacts_second_structure_draws_side_by_side(local_js):
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    other = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK", missing_all=(3,))
    pred = random_scores(len(s), seed=9)
    view = show_contacts(s, pred, other=other, top_k=20)
    first, second = view.contact_cylinders
    assert len(first) == 20
    assert len(second) == 20 - sum(3 in c["pair"][:2] for c in first)
    html = html_of(view)
    assert "viewergrid_" in html and html.count(".addModel(") == 2


def test_show_contacts_aligns_a_map_of_another_sequence(local_js):
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    longer = "MKK" + s.sequence  # e.g. the deposited sequence with an unobserved tag
    pred = random_scores(len(longer), seed=10)
    pred[:3, :] = pred[:, :3] = 1.0  # the tag scores highest but has no residue to draw on
    view = show_contacts(s, pred, sequence=longer, top_k=10)
    assert len(view.contact_cylinders) == 10
    assert all(min(c["pair"][:2]) >= 3 for c in view.contact_cylinders)
    with pytest.raises(ValueError, match="34 observed residues"):
        show_contacts(s, pred)
    with pytest.raises(ValueError, match="sequence has 34 residues"):
        show_contacts(s, pred, sequence=s.sequence)


def test_show_attention_picks_a_head_and_symmetrizes(local_js):
    s = make_structure("ALAGAKALAGLAKALAGAKALAGLAKALAGALAK")
    n = len(s)
    maps = np.zeros((3, 2, n, n))
    maps[1, 1, 20, 2] = 0.9  # only the lower triangle: symmetrized, the pair (2, 20) scores 0.45
    view = show_attention(s, maps, layer=2, head=1, top_k=1)
    assert view.contact_cylinders[0]["pair"][:3] == (2, 20, pytest.approx(0.45))
    assert "attention=0.45" in view.contact_cylinders[0]["hover_callback"]
    same = show_attention(s, maps[1, 1], top_k=1)
    assert same.contact_cylinders[0]["pair"][:2] == (2, 20)
    with pytest.raises(ValueError, match="layer= and head="):
        show_attention(s, maps)
    with pytest.raises(ValueError, match="layer=4 is outside 1..3"):
        show_attention(s, maps, layer=4, head=0)
    with pytest.raises(ValueError, match="head=2 is outside 0..1"):
        show_attention(s, maps, layer=1, head=2)


def test_structure_without_file_gets_its_backbone_as_pdb():
    s = make_structure("ALAGA", missing_all=(2,))
    pdb = structure_pdb(s)
    atoms = [line for line in pdb.splitlines() if line.startswith("ATOM")]
    assert len(atoms) == int(s.atom_mask.sum())
    assert [line[17:20] for line in atoms if line[12:16] == " CA "] == ["ALA", "LEU", "GLY", "ALA"]
    assert float(atoms[1][30:38]) == pytest.approx(float(s.coords[0, 1, 0]), abs=1e-3)


# --------------------------------------------------------------------------- real structures


@pytest.mark.parametrize("name", ["1aki.cif", "1crr.bcif", "1tim.pdb.gz", "1e7l_1_A.pdb", "1igy.cif"])
def test_structure_pdb_holds_exactly_the_structures_residues(structures_dir, name):
    s = load_structure(structures_dir / name)
    pdb = structure_pdb(s)
    residues = list(dict.fromkeys(
        (line[21], line[22:26].strip(), line[26].strip())
        for line in pdb.splitlines() if line.startswith(("ATOM", "HETATM"))
    ))
    assert [(r, i) for _, r, i in residues] == [(str(r), c) for r, c in zip(s.res_ids, s.ins_codes)]
    ca = {(line[22:26].strip(), line[26].strip()): [float(line[30:38]), float(line[38:46]), float(line[46:54])]
          for line in pdb.splitlines() if line.startswith(("ATOM", "HETATM")) and line[12:16].strip() == "CA"}
    first = (str(s.res_ids[0]), s.ins_codes[0])
    np.testing.assert_allclose(ca[first], s.coords[0, 1], atol=1e-3)


def test_show_contacts_on_a_real_structure(structures_dir, local_js):
    s = load_structure(structures_dir / "1aki.cif")
    labels = contact_map(s)
    pred = np.where(np.isnan(labels), 0.0, labels) * 0.5 + random_scores(len(s), seed=1) * 0.5
    view = show_contacts(s, pred, range="long")
    assert len(view.contact_cylinders) == len(s)
    hits = sum(c["pair"][3] == "hit" for c in view.contact_cylinders)
    assert hits / len(s) == pytest.approx(metrics.precision(pred, labels, k=len(s), min_separation=24))


def test_show_contacts_takes_an_atom_array_and_draws_all_its_atoms(structures_dir, local_js):
    import biotite.structure.io as strucio

    path = structures_dir / "1aki.cif"
    atoms = strucio.load_structure(path, altloc="occupancy")
    from_file = load_structure(path)
    pred = random_scores(len(from_file), seed=2)
    view = show_contacts(atoms, pred, range="long")
    expected = show_contacts(from_file, pred, range="long")
    assert [c["pair"] for c in view.contact_cylinders] == [c["pair"] for c in expected.contact_cylinders]
    # the cartoon gets every atom of the chain's residues, not the backbone-only fallback
    assert structure_pdb(load_structure(atoms)).count("\nATOM") == structure_pdb(from_file).count("\nATOM")
    html = html_of(view)
    assert " SG " in html or " OG " in html  # side-chain atoms are in the drawn model
    att = show_attention(atoms[0] if hasattr(atoms, "stack_depth") else atoms, pred, top_k=5)
    assert len(att.contact_cylinders) == 5
