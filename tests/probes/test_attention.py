"""Attention to properties (Vig et al.): counts pinned on hand-made cases; the streamed sums against a dense
computation on a random model; the report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contacts import Predictor
from contacts.analysis.labels import contact_map
from contacts.io.structures import Structure, load_structure
from probes.attention import PropertyAccumulator, attention_properties, blosum62, head_statistics
from probes.attention_report import write_report
from probes.proteins import AMINO_ACIDS, DEFAULT_PROPERTIES, Protein, annotate

pytestmark = pytest.mark.usefixtures("one_thread")


def ca_chain(ca: np.ndarray, sequence: str) -> Structure:
    n = len(sequence)
    coords = np.full((n, 4, 3), np.nan, dtype=np.float32)
    coords[:, 1] = ca
    return Structure(sequence=sequence, coords=coords, atom_mask=~np.isnan(coords[..., 0]),
                     res_ids=np.arange(1, n + 1), ins_codes=np.array([""] * n), res_names=np.array(["ALA"] * n),
                     chain="A")


def full_map(residue_rows: np.ndarray) -> np.ndarray:
    """(h, L, L) residue-to-residue weights -> (h, L + 2, L + 2) rows summing to 1, the rest on <cls>."""
    h, n, _ = residue_rows.shape
    out = np.zeros((h, n + 2, n + 2))
    out[:, 1:-1, 1:-1] = residue_rows
    out[:, 1:-1, 0] = 1 - residue_rows.sum(-1)
    out[:, 0, 0] = out[:, -1, -1] = 1.0
    return out


# ------------------------------------------------------------------ a 6-residue chain with known contacts

#: A U-turn on a 3.8 Å grid: residues 0-1-2 along x, 3-4-5 back along y = 3.8.
U_TURN = np.array([[0, 0, 0], [3.8, 0, 0], [7.6, 0, 0], [7.6, 3.8, 0], [3.8, 3.8, 0], [0, 3.8, 0]], dtype=float)


@pytest.fixture
def six():
    s = ca_chain(U_TURN, "MKAGLA")
    contacts = contact_map(s, atom="CA")
    # |i - j| >= 3 and CA within 8 Å: (0,4) 5.4 Å, (0,5) 3.8, (1,4) 3.8, (1,5) 5.4; (0,3) and (2,5) are 8.5 Å
    far = np.abs(np.subtract.outer(range(6), range(6))) >= 3
    assert sorted(zip(*np.nonzero(np.triu(contacts * far)))) == [(0, 4), (0, 5), (1, 4), (1, 5)]
    residues = {"helix": np.array([1, 1, 0, 0, np.nan, 1.0])}
    return Protein("six", s.sequence, contacts, residues)


def six_attention() -> np.ndarray:
    rows = np.zeros((2, 6, 6))
    # head 0: confident (> 0.3) entries (0,4) (1,1) (2,5) (4,0) (4,1) (5,2) (5,1); 0.3 itself is not above
    rows[0, 0, 4] = 0.8
    rows[0, 1, 1] = 0.8
    rows[0, 2, 5] = 0.8
    rows[0, 3] = 1 / 8
    rows[0, 4, 0], rows[0, 4, 1] = 0.5, 0.4
    rows[0, 5, 2], rows[0, 5, 1], rows[0, 5, 3] = 0.35, 0.35, 0.3
    # head 1: uniform, never confident
    rows[1] = 1 / 8
    return full_map(rows)


def test_six_residue_counts(six):
    acc = PropertyAccumulator(1, 2, ["contact", "helix", "A", "K"], min_separation=3)
    acc.start(six)
    acc.add(1, torch.as_tensor(six_attention(), dtype=torch.float32))
    r = acc.result()
    # contact: of the 7 confident entries, (0,4) (4,0) (4,1) (5,1) are contacts at |i - j| >= 3; (1,1), (2,5),
    # (5,2) are not; every pair is labelled
    assert r.hits["contact"][0].tolist() == [4, 0] and r.attended["contact"][0].tolist() == [7, 0]
    assert r.proportion["contact"][0, 0] == pytest.approx(4 / 7)
    assert np.isnan(r.proportion["contact"][0, 1])  # no attention above theta
    assert r.background["contact"] == pytest.approx(8 / 36)
    # helix of residue j: j = 4 is unknown, so (0,4) counts in neither sum; helix at j in {0, 1, 5}
    assert r.hits["helix"][0, 0] == 5 and r.attended["helix"][0, 0] == 6
    assert r.background["helix"] == pytest.approx(3 / 5)
    # amino acids of "MKAGLA": A at j in {2, 5}, K at j = 1
    assert r.hits["A"][0, 0] == 2 and r.attended["A"][0, 0] == 7
    assert r.hits["K"][0, 0] == 3
    assert r.background["A"] == pytest.approx(2 / 6)
    # weighted (theta_w = 0): all weights, head 1 too
    a = six_attention()[0, 1:-1, 1:-1]
    f = np.zeros((6, 6))
    for i, j in [(0, 4), (0, 5), (1, 4), (1, 5)]:
        f[i, j] = f[j, i] = 1
    assert r.weighted["contact"][0, 0] == pytest.approx((a * f).sum() / a.sum())


def test_weighted_threshold_and_layer_share(six):
    acc = PropertyAccumulator(2, 2, ["contact"], weighted_threshold=0.3, min_separation=3)
    acc.start(six)
    acc.add(1, torch.as_tensor(six_attention(), dtype=torch.float32))
    acc.add(2, torch.as_tensor(six_attention()[::-1].copy(), dtype=torch.float32))  # heads swapped
    r = acc.result()
    on = 0.8 + 0.5 + 0.4 + 0.35
    total = 0.8 * 3 + 0.5 + 0.4 + 0.35 * 2
    assert r.weighted["contact"][0, 0] == pytest.approx(on / total)
    assert r.weighted["contact"][1, 1] == pytest.approx(on / total)
    np.testing.assert_allclose(r.layer_share["contact"], [0.5, 0.5])
    assert np.isnan(r.weighted["contact"][0, 1])
    # theta_w leaves the mean distance (all weights, Clark et al.) alone
    plain = PropertyAccumulator(2, 2, ["contact"], min_separation=3)
    plain.start(six)
    plain.add(1, torch.as_tensor(six_attention(), dtype=torch.float32))
    plain.add(2, torch.as_tensor(six_attention()[::-1].copy(), dtype=torch.float32))
    np.testing.assert_allclose(r.mean_distance, plain.result().mean_distance)


def test_mean_distance_and_entropy_of_hand_made_rows(six):
    acc = PropertyAccumulator(1, 2, ["contact"], min_separation=3)
    acc.start(six)
    full = six_attention()
    acc.add(1, torch.as_tensor(full, dtype=torch.float32))
    r = acc.result()
    a = full[:, 1:-1, 1:-1]
    d = np.abs(np.subtract.outer(range(6), range(6)))
    np.testing.assert_allclose(r.mean_distance[0], (a * d).sum((1, 2)) / a.sum((1, 2)), rtol=1e-6)
    rows = full[:, 1:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(rows > 0, rows * np.log(rows), 0).sum(-1).mean(-1)
    np.testing.assert_allclose(r.entropy[0], ent, rtol=1e-6)
    assert r.entropy[0, 1] > r.entropy[0, 0]  # spread over 7 keys vs mostly one


def test_wrong_shapes_and_names_are_errors(six):
    with pytest.raises(ValueError, match="unknown properties"):
        PropertyAccumulator(1, 2, ["contact", "sheet"])
    with pytest.raises(ValueError, match="threshold=1.5"):
        PropertyAccumulator(1, 2, ["contact"], threshold=1.5)
    acc = PropertyAccumulator(1, 2, ["contact"])
    with pytest.raises(RuntimeError, match="start"):
        acc.add(1, torch.zeros(2, 8, 8))
    acc.start(six)
    with pytest.raises(ValueError, match=r"expected \(2, 8, 8\)"):
        acc.add(1, torch.zeros(2, 6, 6))


# ------------------------------------------------------------------ a ligand at known distances, a helix


def _ligand_file(tmp_path):
    lines, serial = [], 1
    for k in range(3):
        for name, dx, dy, element in (("N", -1.2, 0.5, "N"), ("CA", 0.0, 0.0, "C"), ("C", 1.2, 0.5, "C"),
                                      ("CB", 0.0, -1.5, "C")):
            lines.append(f"ATOM  {serial:5d} {name:<4s} ALA A{k + 1:4d}    {10.0 * k + dx:8.3f}{dy:8.3f}"
                         f"{0.0:8.3f}  1.00  0.00           {element}")
            serial += 1
    # a ligand atom 3.5 Å from residue 2's CB (10, -1.5, 0) and more than 6 Å from the others
    lines.append(f"HETATM{serial:5d} C1   LIG A 101    {10.0:8.3f}{-5.0:8.3f}{0.0:8.3f}  1.00  0.00           C")
    path = tmp_path / "ligand.pdb"
    path.write_text("\n".join([*lines, "END", ""]))
    return path


def test_binding_site_count_with_a_ligand_at_known_distance(tmp_path):
    protein = annotate(load_structure(_ligand_file(tmp_path)), properties=["binding_site"])
    np.testing.assert_array_equal(protein.residues["binding_site"], [0.0, 1.0, 0.0])
    rows = np.zeros((1, 3, 3))
    rows[0, 0, 1] = 0.9   # to the binding residue
    rows[0, 1, 1] = 0.6   # to the binding residue
    rows[0, 2, 0] = 0.7   # to a residue that binds nothing
    acc = PropertyAccumulator(1, 1, ["binding_site"])
    acc.start(protein)
    acc.add(1, torch.as_tensor(full_map(rows), dtype=torch.float32))
    r = acc.result()
    assert r.hits["binding_site"][0, 0] == 2 and r.attended["binding_site"][0, 0] == 3
    assert r.background["binding_site"] == pytest.approx(1 / 3)


def test_a_chain_without_ligand_has_unknown_binding_sites():
    with pytest.warns(UserWarning, match="binding sites unknown"):
        protein = annotate(ca_chain(U_TURN, "MKAGLA"), properties=["binding_site"])  # no file to read: unknown
    assert np.isnan(protein.residues["binding_site"]).all()


def test_helix_count_on_an_ideal_helix():
    rise, turn, radius = 1.5, np.radians(100.0), 2.3
    k = np.arange(16)
    ca = np.stack([radius * np.cos(k * turn), radius * np.sin(k * turn), rise * k], 1)
    protein = annotate(ca_chain(ca, "A" * 16), properties=["helix", "strand", "turn"], sse="psea")
    helix = protein.residues["helix"]
    assert (helix[3:-3] == 1).all()
    rows = np.zeros((1, 16, 16))
    rows[0, :, 8] = 0.9  # every residue attends to the middle of the helix
    acc = PropertyAccumulator(1, 1, ["helix", "strand"])
    acc.start(protein)
    acc.add(1, torch.as_tensor(full_map(rows), dtype=torch.float32))
    r = acc.result()
    assert r.hits["helix"][0, 0] == 16 and r.attended["helix"][0, 0] == 16
    assert r.proportion["strand"][0, 0] == 0
    assert r.background["helix"] == pytest.approx(np.nanmean(helix))


# ------------------------------------------------------------------ random model: streamed vs dense


def random_protein(name: str, n: int, seed: int) -> Protein:
    rng = np.random.default_rng(seed)
    sequence = "".join(rng.choice(list(AMINO_ACIDS), n))
    contacts = np.triu((rng.random((n, n)) < 0.2).astype(float), 1)
    contacts = contacts + contacts.T
    contacts[2] = contacts[:, 2] = np.nan
    residues = {}
    states = rng.integers(0, 3, n)
    for k, state in enumerate(("helix", "strand", "turn")):
        values = (states == k).astype(float)
        values[5] = np.nan
        residues[state] = values
    sites = (rng.random(n) < 0.2).astype(float)
    sites[[1, 7]] = np.nan
    residues["binding_site"] = sites
    return Protein(name, sequence, contacts, residues)


def dense_proportion(predictor, proteins, name, threshold, min_separation):
    """p_alpha straight from the stacked maps of every layer, one protein at a time."""
    hits = attended = 0
    for p in proteins:
        maps = predictor.attention_maps(p.sequence)  # (layers, heads, L, L), all at once
        n = len(p.sequence)
        if name == "contact":
            known = ~np.isnan(p.contacts)
            far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= min_separation
            f = known & (np.nan_to_num(p.contacts) == 1) & far
        else:
            values = p.residue_property(name)
            known = np.broadcast_to(~np.isnan(values), (n, n))
            f = np.broadcast_to(np.nan_to_num(values) == 1, (n, n))
        confident = maps > threshold
        hits = hits + (confident & f).sum((-1, -2))
        attended = attended + (confident & known).sum((-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(attended > 0, hits / attended, np.nan)


@pytest.fixture(scope="module")
def tiny():
    return Predictor.random("tiny", seed=3, device="cpu")


def test_streamed_proportion_equals_the_dense_computation(tiny):
    proteins = [random_protein("p1", 23, 0), random_protein("p2", 31, 1)]
    threshold = 0.1  # the tiny random model's maps are rarely above 0.3
    r = attention_properties(tiny, proteins, threshold=threshold, min_separation=4)
    assert r.shape == (tiny.config.num_layers, tiny.config.num_heads)
    for name in ("contact", "helix", "strand", "turn", "binding_site", "A", "W"):
        expected = dense_proportion(tiny, proteins, name, threshold, 4)
        assert np.isfinite(expected).any(), name
        np.testing.assert_allclose(r.proportion[name], expected, rtol=1e-6, err_msg=name)
    for name, share in r.layer_share.items():
        if r.weighted_hits[name].sum() > 0:
            assert share.sum() == pytest.approx(1.0), name
        else:  # an amino acid absent from both sequences
            assert name in AMINO_ACIDS and np.isnan(share).all() and r.background[name] == 0
    assert r.seconds["forward"] > 0 and r.seconds["analysis"] > 0


def test_streaming_holds_one_layer_at_a_time(tiny):
    """The analysis only ever sees one layer's maps: a model that yields layers one by one suffices."""
    seen = []

    class OneLayerAtATime:
        config = tiny.config
        device = tiny.device

        def iter_attention(self, sequence, num_layers=None):
            for layer, attention, hidden in tiny.iter_attention(sequence, num_layers):
                seen.append(tuple(attention.shape))
                yield layer, attention, hidden

    proteins = [random_protein("p1", 23, 0)]
    r = attention_properties(OneLayerAtATime(), proteins, threshold=0.1)
    h = tiny.config.num_heads
    assert seen == [(h, 25, 25)] * tiny.config.num_layers
    np.testing.assert_allclose(r.proportion["contact"], attention_properties(tiny, proteins, threshold=0.1)
                               .proportion["contact"])


def test_head_statistics_need_no_structure(tiny):
    sequences = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVAGKTQ"]
    stats = head_statistics(tiny, sequences)
    with_labels = attention_properties(tiny, [random_protein("a", 22, 0), random_protein("b", 14, 1)],
                                       properties=["contact"])
    # the summaries do not depend on the labels, only on the maps: same sequences, same numbers
    same = attention_properties(tiny, [Protein("a", sequences[0], np.full((22, 22), np.nan)),
                                       Protein("b", sequences[1], np.full((14, 14), np.nan))],
                                properties=["contact"])
    np.testing.assert_allclose(stats["mean_distance"], same.mean_distance)
    np.testing.assert_allclose(stats["entropy"], same.entropy)
    assert not np.allclose(stats["entropy"], with_labels.entropy)  # other sequences, other maps
    maps = tiny.attention_maps(sequences[0])
    d = np.abs(np.subtract.outer(range(22), range(22)))
    one = head_statistics(tiny, sequences[0])
    np.testing.assert_allclose(one["mean_distance"], (maps * d).sum((-1, -2)) / maps.sum((-1, -2)), rtol=1e-5)


def test_blosum62_is_biotites_matrix_in_our_order():
    from biotite.sequence.align import SubstitutionMatrix

    matrix = SubstitutionMatrix.std_protein_matrix()
    b = blosum62()
    for x, a in enumerate(AMINO_ACIDS):
        for y, c in enumerate(AMINO_ACIDS):
            assert b[x, y] == matrix.get_score(a, c)


def test_amino_acid_similarity_against_blosum(tiny):
    proteins = [random_protein(f"p{k}", 40, k) for k in range(3)]
    r = attention_properties(tiny, proteins, threshold=0.05)
    sim = r.aa_similarity
    assert sim.shape == (20, 20) and np.isnan(np.diag(sim)).all()
    np.testing.assert_allclose(sim, sim.T, equal_nan=True)
    vectors = np.stack([r.proportion[a].ravel() for a in AMINO_ACIDS])
    assert sim[0, 1] == pytest.approx(np.corrcoef(vectors[0], vectors[1])[0, 1])
    i, j = np.tril_indices(20, -1)
    assert r.blosum_correlation == pytest.approx(np.corrcoef(sim[i, j], blosum62()[i, j])[0, 1])


# ------------------------------------------------------------------ real structures, report


def test_report_on_real_structures(tiny, structures_dir, tmp_path):
    files = [structures_dir / name for name in ("1crr.bcif", "2rtg.bcif", "1hml.bcif")]
    r = attention_properties(tiny, files, threshold=0.1)
    assert list(r.proportion) == list(DEFAULT_PROPERTIES)
    assert np.isfinite(r.background["binding_site"]) and 0 < r.background["binding_site"] < 0.5
    assert r.sse_method in ("psea", "dssp")
    paths = write_report(r, tmp_path, min_attended=1)
    for key in ("arrays", "summary_json", "report", "heads_contact", "layers_helix", "blosum62", "entropy"):
        assert paths[key].stat().st_size > 0, key
    arrays = np.load(paths["arrays"])
    np.testing.assert_array_equal(arrays["proportion_contact"], r.proportion["contact"])
    text = paths["report"].read_text()
    assert "| contact |" in text and "BLOSUM62" in text
