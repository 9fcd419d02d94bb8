"""Structures: load_structure(real file) -> write_structure(.pdb) -> load_structure gives back the chain.

Both writer paths: all atoms re-read from the source file, and the backbone the
Structure keeps when its source is gone.
"""

import dataclasses
import os
import shutil

import numpy as np
import pytest

from contacts.io.structures import StructureError, load_structure, structure_pdb, write_structure

# small real files: PDB with missing CB, gzipped PDB with SEQRES, mmCIF with insertion codes
CASES = [("3IOL.pdb", "A"), ("1tim.pdb.gz", "A"), ("4ZHL.cif", "U")]


@pytest.fixture(scope="module", params=CASES, ids=[name for name, _ in CASES])
def structure(request, structures_dir):
    name, chain = request.param
    return load_structure(structures_dir / name, chain)


def atom_lines(text):
    return [line for line in text.splitlines() if line.startswith(("ATOM", "HETATM"))]


def assert_same_chain(back, structure):
    assert back.sequence == structure.sequence
    np.testing.assert_array_equal(back.res_ids, structure.res_ids)
    np.testing.assert_array_equal(back.ins_codes, structure.ins_codes)
    np.testing.assert_array_equal(back.res_names, structure.res_names)
    np.testing.assert_array_equal(back.atom_mask, structure.atom_mask)
    # NaN where atoms are missing, in the same places (assert_allclose compares NaN as equal)
    np.testing.assert_array_equal(np.isnan(back.coords), np.isnan(structure.coords))
    np.testing.assert_allclose(back.coords, structure.coords, atol=1e-3, rtol=0)


def test_the_cases_cover_missing_atoms_and_insertion_codes(structure):
    # what makes the round trips below worth doing: each case has something a naive writer loses
    assert len(structure) > 50
    name = os.path.basename(structure.source)
    if name == "3IOL.pdb":
        assert (~structure.atom_mask).any()
    if name == "4ZHL.cif":
        assert (structure.ins_codes != "").any()
    if name == "1tim.pdb.gz":
        assert structure.full_sequence is not None


def test_round_trip_from_the_source_file(structure, tmp_path):
    path = write_structure(tmp_path / "chain.pdb", structure)
    back = load_structure(path)
    assert back.chain == structure.chain
    assert_same_chain(back, structure)
    # all atoms of the residues were written, not only the backbone the Structure keeps
    assert len(atom_lines(path.read_text())) > int(structure.atom_mask.sum())


@pytest.mark.parametrize("gone", ["empty", "deleted"])
def test_round_trip_without_the_source_file_writes_the_backbone(structure, tmp_path, gone):
    if gone == "empty":
        orphan = dataclasses.replace(structure, source="")
    else:
        copy = tmp_path / ("copy" + "".join(os.path.basename(structure.source).partition(".")[1:]))
        shutil.copyfile(structure.source, copy)
        orphan = load_structure(copy, structure.chain)
        copy.unlink()
    path = write_structure(tmp_path / "backbone.pdb", orphan)
    lines = atom_lines(path.read_text())
    assert len(lines) == int(structure.atom_mask.sum())  # exactly the atoms the Structure holds
    back = load_structure(path)
    assert back.chain == structure.chain
    assert_same_chain(back, structure)


def test_both_writer_paths_agree_on_the_backbone(structure, tmp_path):
    full = load_structure(write_structure(tmp_path / "full.pdb", structure))
    backbone = load_structure(write_structure(tmp_path / "bb.pdb", dataclasses.replace(structure, source="")))
    assert_same_chain(backbone, full)


def test_deposited_full_sequence_is_not_written(structure, tmp_path):
    back = load_structure(write_structure(tmp_path / "x.pdb", structure))
    assert back.full_sequence is None and back.full_index is None
    assert "SEQRES" not in (tmp_path / "x.pdb").read_text()


def test_chain_is_renamed_on_request_and_long_ids_become_a(structure, tmp_path):
    renamed = load_structure(write_structure(tmp_path / "z.pdb", structure, chain="Z"), "Z")
    assert_same_chain(renamed, structure)
    long_id = dataclasses.replace(structure, chain="AB", source="")
    assert {line[21] for line in atom_lines(structure_pdb(long_id))} == {"A"}
    assert_same_chain(load_structure(write_structure(tmp_path / "a.pdb", long_id), "A"), structure)


# ---------------------------------------------------------------- refusals and atomic writes


@pytest.mark.parametrize("name", ["chain.cif", "chain.pdb.gz", "chain"])
def test_write_structure_refuses_names_that_are_not_pdb(structure, tmp_path, name):
    with pytest.raises(StructureError, match=f"not '{name}'"):
        write_structure(tmp_path / name, structure)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_no_file_and_keeps_the_existing_one(structure, tmp_path, failing_replace):
    existing = tmp_path / "old.pdb"
    existing.write_text("REMARK old\nEND\n")
    failing_replace()
    with pytest.raises(OSError, match="disk full"):
        write_structure(tmp_path / "new.pdb", structure)
    with pytest.raises(OSError, match="disk full"):
        write_structure(existing, structure)
    assert existing.read_text() == "REMARK old\nEND\n"
    assert [p.name for p in tmp_path.iterdir()] == ["old.pdb"]
