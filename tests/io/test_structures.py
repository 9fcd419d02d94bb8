"""Structures from real PDB / mmCIF / BinaryCIF files, and contact labels on hand-built geometry."""

import csv

import numpy as np
import pytest
from builders import chain, ideal_helix

from contacts.analysis.labels import SequenceMismatchError, align_to_structure, contact_map, impute_cb
from contacts.io.structures import ChainNotFoundError, StructureError, load_structure


@pytest.fixture(scope="module")
def manifest(structures_dir):
    with open(structures_dir / "MANIFEST.tsv", newline="") as handle:
        return {r["file"]: r for r in csv.DictReader(handle, delimiter="\t")}


# ---------------------------------------------------------------- every format, every file


@pytest.mark.parametrize("name", ["1BHL.pdb", "1tim.pdb.gz", "1aki.cif", "1ay7.bcif", "6wg6.bcif.gz", "6WQA.cif"])
def test_each_format_reads_the_manifest_counts(structures_dir, manifest, name):
    row = manifest[name]
    s = load_structure(structures_dir / name, row["chain"])
    assert s.chain == row["chain"]
    assert int(s.atom_mask[:, 1].sum()) == int(row["n_res_with_CA"])
    assert s.coords.shape == (len(s.sequence), 4, 3)
    assert np.isnan(s.coords[~s.atom_mask]).all() and not np.isnan(s.coords[s.atom_mask]).any()


def test_all_manifest_entries_load_with_their_counts(structures_dir, manifest):
    for name, row in manifest.items():
        s = load_structure(structures_dir / name, row["chain"])
        n_ca = int(s.atom_mask[:, 1].sum())
        glycine = np.array([c == "G" for c in s.sequence])
        n_cb = int((s.atom_mask[:, 3] | (glycine & s.atom_mask[:, 1])).sum())
        if name == "4osx.bcif":
            # three free glycines (HETATM, outside the polymer) are ligands, not residues of the chain
            assert n_ca == int(row["n_res_with_CA"]) - 3
            assert not any((s.res_names == "GLY") & (s.res_ids > 400))
        else:
            assert (n_ca, n_cb) == (int(row["n_res_with_CA"]), int(row["n_res_with_CB_or_GlyCA"])), name


def test_default_chain_is_the_first_protein_chain_and_missing_chain_lists_chains(structures_dir):
    s = load_structure(structures_dir / "1ay7.bcif")
    assert s.chain == "A"
    with pytest.raises(ChainNotFoundError, match=r"chain 'Z'.*A, B"):
        load_structure(structures_dir / "1ay7.bcif", chain="Z")


def test_unknown_extension_is_an_error(tmp_path):
    path = tmp_path / "thing.xyz"
    path.write_text("nothing")
    with pytest.raises(StructureError, match="thing.xyz"):
        load_structure(path)


# ---------------------------------------------------------------- awkward cases


@pytest.mark.parametrize("name,chain", [("1crr.bcif", "A"), ("2axd.cif", "S"), ("1LCD.cif", "A")])
def test_nmr_uses_model_1(structures_dir, name, chain):
    from biotite.structure.io import load_structure as biotite_load

    s = load_structure(structures_dir / name, chain)
    assert s.n_models > 1
    first, second = (biotite_load(structures_dir / name, model=m) for m in (1, 2))
    ca1 = first[(first.chain_id == chain) & (first.atom_name == "CA") & ~first.hetero]
    ca2 = second[(second.chain_id == chain) & (second.atom_name == "CA") & ~second.hetero]
    np.testing.assert_allclose(s.coords[s.atom_mask[:, 1], 1][: len(ca1)], ca1.coord[: s.atom_mask[:, 1].sum()], atol=1e-3)
    assert not np.allclose(ca1.coord, ca2.coord, atol=1e-2)  # the models do differ


def _altloc_cases(path, chain):
    """(res_id, ins, atom) -> coordinate of the highest-occupancy alternate location, where occupancies differ."""
    groups = {}
    for line in path.read_text().splitlines():
        if line.startswith(("ATOM", "HETATM")) and line[21] == chain and line[16] != " ":
            if line.startswith("ENDMDL"):
                break
            key = (int(line[22:26]), line[26].strip(), line[12:16].strip())
            groups.setdefault(key, []).append((float(line[54:60]), [float(line[30:38]), float(line[38:46]), float(line[46:54])]))
    return {k: max(v, key=lambda t: t[0])[1] for k, v in groups.items() if len({o for o, _ in v}) > 1}


def test_altlocs_keep_the_highest_occupancy(structures_dir):
    checked = 0
    for name in ["4GYT.pdb", "5L33.pdb", "6EHB.pdb", "6MRR.pdb", "5an7.pdb", "7zkr_GABARAP.pdb", "3HTN.pdb"]:
        s = load_structure(structures_dir / name, "A")
        for (res_id, ins, atom), xyz in _altloc_cases(structures_dir / name, "A").items():
            if atom not in ("N", "CA", "C", "CB"):
                continue
            r = np.flatnonzero((s.res_ids == res_id) & (s.ins_codes == ins))
            assert r.size == 1
            np.testing.assert_allclose(s.coords[r[0], ("N", "CA", "C", "CB").index(atom)], xyz, atol=1e-3)
            checked += 1
    assert checked > 0, "no alternate location with unequal occupancies found to check"


def test_insertion_codes_are_separate_residues(structures_dir, manifest):
    s = load_structure(structures_dir / "4ZHL.cif", "U")
    inserted = s.ins_codes != ""
    assert inserted.sum() > 0
    # a residue number with an insertion code also occurs without one: two residues, one number
    shared = [r for r in s.res_ids[inserted] if ((s.res_ids == r) & ~inserted).any()]
    assert shared
    assert len(set(zip(s.res_ids.tolist(), s.ins_codes.tolist()))) == len(s)
    assert len(s) == int(manifest["4ZHL.cif"]["n_res_with_CA"])


@pytest.mark.parametrize("name,chain", [("1qys.pdb", "A"), ("1A8O.cif", "A")])
def test_selenomethionine_reads_as_methionine(structures_dir, name, chain):
    s = load_structure(structures_dir / name, chain)
    mse = s.res_names == "MSE"
    assert mse.any()
    assert {s.sequence[i] for i in np.flatnonzero(mse)} == {"M"}


def test_modified_residue_without_parent_letter_is_x(structures_dir):
    s = load_structure(structures_dir / "3kcs.bcif", "A")  # NRQ: a chromophore made of three residues
    assert [s.sequence[i] for i in np.flatnonzero(s.res_names == "NRQ")] == ["X"]


def test_missing_cb_is_unknown_with_real_cb_and_imputed_otherwise(structures_dir):
    s = load_structure(structures_dir / "3IOL.pdb", "A")
    lacking = np.flatnonzero(~s.atom_mask[:, 3] & np.array([c != "G" for c in s.sequence]) & s.atom_mask[:, 1])
    assert lacking.size == 1
    real = contact_map(s, impute=False)
    assert np.isnan(real[lacking[0]]).all()
    imputed = contact_map(s)
    if s.atom_mask[lacking[0], :3].all():
        assert not np.isnan(imputed[lacking[0]]).any()


def test_gaps_map_onto_the_full_sequence(structures_dir):
    s = load_structure(structures_dir / "2XHE.cif", "A")
    assert len(s.full_sequence) > len(s)
    assert (s.full_index >= 0).all() and (np.diff(s.full_index) > 0).all()
    assert "".join(s.full_sequence[i] for i in s.full_index) == s.sequence
    full = contact_map(s, sequence=s.full_sequence)
    unobserved = np.setdiff1d(np.arange(len(s.full_sequence)), s.full_index)
    assert np.isnan(full[unobserved]).all() and np.isnan(full[:, unobserved]).all()
    np.testing.assert_array_equal(full[np.ix_(s.full_index, s.full_index)], contact_map(s))


def test_pdb_seqres_is_aligned_onto_observed_residues(structures_dir):
    s = load_structure(structures_dir / "1BHL.pdb", "A")
    assert s.full_sequence is not None and len(s.full_sequence) >= len(s)
    placed = s.full_index >= 0
    assert placed.mean() > 0.95
    assert all(s.full_sequence[j] == s.sequence[i] for i, j in zip(np.flatnonzero(placed), s.full_index[placed]))


def test_alignment_helper_places_a_mutated_fragment(structures_dir):
    s = load_structure(structures_dir / "1aki.cif", "A")
    fragment = list(s.sequence[10:90])
    fragment[5] = "W" if fragment[5] != "W" else "A"
    index = align_to_structure("".join(fragment), s)
    np.testing.assert_array_equal(index, np.arange(10, 90))
    rng = np.random.default_rng(0)
    unrelated = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 80))
    with pytest.raises(SequenceMismatchError, match="identity"):
        align_to_structure(unrelated, s)


def test_imputed_cb_is_close_to_the_deposited_cb(structures_dir):
    s = load_structure(structures_dir / "1aki.cif", "A")
    ok = s.atom_mask.all(1)
    cb = impute_cb(*(s.coords[ok, i].astype(float) for i in range(3)))
    err = np.linalg.norm(cb - s.coords[ok, 3], axis=-1)
    assert np.median(err) < 0.2 and err.max() < 0.6


# ---------------------------------------------------------------- hand-built geometry


def test_ideal_helix_contacts():
    s = chain(ideal_helix(30), "A" * 30)
    ca = s.coords[:, 1]
    rise = np.linalg.norm(ca[4:] - ca[:-4], axis=-1)
    assert np.allclose(rise, 6.2, atol=0.3)  # it is a helix: CA(i)-CA(i+4) about 6.2 Å
    labels = contact_map(s)
    i, j = np.indices(labels.shape)
    sep = np.abs(i - j)
    assert (labels[(sep == 3) | (sep == 4)] == 1).all()
    assert (labels[sep >= 6] == 0).all()
    assert not np.isnan(labels).any()


def test_missing_backbone_atom_makes_the_residue_unknown():
    s = chain(ideal_helix(12), "A" * 12)
    s.coords[5, 0] = np.nan  # N of residue 5 missing: no imputed CB
    s.atom_mask[5, 0] = False
    labels = contact_map(s)
    assert np.isnan(labels[5]).all() and np.isnan(labels[:, 5]).all()
    assert not np.isnan(np.delete(np.delete(labels, 5, 0), 5, 1)).any()
    ca_labels = contact_map(s, atom="CA")  # CA is still there
    assert not np.isnan(ca_labels).any()


def test_glycine_uses_ca_with_real_cb():
    s = chain(ideal_helix(10), "G" * 10)  # no CB atoms at all
    real = contact_map(s, impute=False)
    np.testing.assert_array_equal(real, contact_map(s, atom="CA"))


def test_cutoff_is_strict():
    s = chain(ideal_helix(10), "A" * 10)
    ca = s.coords[:, 1].astype(float)
    d = np.linalg.norm(ca[0] - ca[4])
    assert contact_map(s, cutoff=d, atom="CA")[0, 4] == 0.0
    assert contact_map(s, cutoff=d + 1e-3, atom="CA")[0, 4] == 1.0


def test_gzipped_mmcif_reads_like_the_plain_file(structures_dir, tmp_path):
    import gzip

    # the shared set has no .cif.gz: make one in a temporary folder
    path = tmp_path / "1aki.cif.gz"
    path.write_bytes(gzip.compress((structures_dir / "1aki.cif").read_bytes()))
    plain, zipped = load_structure(structures_dir / "1aki.cif"), load_structure(path)
    assert zipped.sequence == plain.sequence and zipped.full_sequence == plain.full_sequence
    np.testing.assert_array_equal(zipped.coords, plain.coords)


# ---------------------------------------------------------------- biotite AtomArray and PDB ids


def _same_structure(a, b):
    assert a.sequence == b.sequence and a.chain == b.chain
    np.testing.assert_array_equal(a.res_ids, b.res_ids)
    np.testing.assert_array_equal(a.ins_codes, b.ins_codes)
    np.testing.assert_array_equal(np.isnan(a.coords), np.isnan(b.coords))
    np.testing.assert_allclose(np.nan_to_num(a.coords), np.nan_to_num(b.coords), atol=1e-3)


@pytest.mark.parametrize("name,chain", [("1aki.cif", None), ("1BHL.pdb", None), ("1ncb.cif", "N")])
def test_atom_array_and_stack_load_like_the_file(structures_dir, name, chain):
    import biotite.structure.io as strucio

    from_file = load_structure(structures_dir / name, chain)
    stack = strucio.load_structure(structures_dir / name, altloc="occupancy")  # every model: a stack
    array = stack[0] if hasattr(stack, "stack_depth") else stack
    for given in (array, stack):
        s = load_structure(given, chain)
        _same_structure(s, from_file)
        assert s.source == "" and s.full_sequence is None and s.atoms is not None
    assert load_structure(stack, chain).n_models == (stack.stack_depth() if hasattr(stack, "stack_depth") else 1)
    with pytest.raises(ChainNotFoundError, match="chain 'QQ' is not a protein chain of the AtomArray"):
        load_structure(array, "QQ")


def test_contact_map_takes_an_atom_array_a_path_or_a_structure(structures_dir):
    import biotite.structure.io as strucio

    path = structures_dir / "1aki.cif"
    expected = contact_map(load_structure(path))
    atoms = strucio.load_structure(path, model=1, altloc="occupancy")
    np.testing.assert_array_equal(contact_map(atoms), expected)
    np.testing.assert_array_equal(contact_map(path), expected)


def test_pdb_id_is_fetched_once_into_the_package_cache(structures_dir, tmp_path, monkeypatch):
    """load_structure('1AKI') asks RCSB for 1aki.bcif into $CONTACTS_CACHE/pdb, then reads the cached file."""
    import shutil

    from contacts.io import structures

    monkeypatch.setenv("CONTACTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    asked = []

    def fetch(pdb_id, fmt, target):  # RCSB stand-in: serves the shared copy of the entry
        asked.append((pdb_id, fmt, target))
        return shutil.copy(structures_dir / "1ay7.bcif", f"{target}/{pdb_id}.{fmt}")

    monkeypatch.setattr(structures.rcsb, "fetch", fetch)
    s = load_structure("1AY7")
    assert asked == [("1ay7", "bcif", str(tmp_path / "cache" / "pdb"))]
    assert s.source == str(tmp_path / "cache" / "pdb" / "1ay7.bcif")
    _same_structure(s, load_structure(structures_dir / "1ay7.bcif"))
    load_structure("1ay7")
    assert len(asked) == 1  # the second time from the cache


def test_pdb_id_offline_is_one_line_naming_the_id_and_cache(tmp_path, monkeypatch):
    import requests

    from contacts.io import structures

    monkeypatch.setenv("CONTACTS_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    def offline(*args, **kwargs):
        raise requests.ConnectionError("Failed to resolve 'models.rcsb.org'\nmore detail")

    monkeypatch.setattr(structures.rcsb, "fetch", offline)
    with pytest.raises(StructureError) as error:
        load_structure("9XYZ")
    message = str(error.value)
    assert "'9XYZ'" in message and str(tmp_path / "pdb") in message and "\n" not in message
    assert structures.is_pdb_id("1abc") and not structures.is_pdb_id("abcd") and not structures.is_pdb_id("1abcd")
    (tmp_path / "1abc").write_text("")
    assert not structures.is_pdb_id("1abc")  # a local file wins
