"""The one protein record: its checks, and reading it from folders, manifests and files with or without annotations."""

from __future__ import annotations

import numpy as np
import pytest

from contacts.analysis.labels import contact_map
from contacts.io.structures import load_structure
from probes.proteins import Protein, load_proteins, protein_name, resolve_structures


def test_protein_rejects_labels_of_another_length():
    with pytest.raises(ValueError, match=r"contacts have shape \(3, 3\); the sequence has 4"):
        Protein("x", "MKTA", np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"helix has shape \(3,\); the sequence has 4"):
        Protein("x", "MKTA", np.zeros((4, 4)), {"helix": np.zeros(3)})


def test_amino_acids_come_from_the_sequence_other_properties_from_the_annotations():
    protein = Protein("x", "MKAK", np.zeros((4, 4)), {"helix": np.array([1.0, 0.0, np.nan, 1.0])})
    np.testing.assert_array_equal(protein.residue_property("K"), [0, 1, 0, 1])
    np.testing.assert_array_equal(protein.residue_property("helix"), [1.0, 0.0, np.nan, 1.0])
    assert np.isnan(protein.residue_property("binding_site")).all()  # not loaded: unknown


def test_resolve_structures_reads_folders_manifests_and_files(structures_dir):
    rows = resolve_structures(structures_dir, "train")
    assert len(rows) == 20 and all(path.exists() for path, _ in rows)
    assert resolve_structures(structures_dir / "MANIFEST.tsv", "train") == rows
    assert resolve_structures([structures_dir / "1crr.bcif"]) == [(structures_dir / "1crr.bcif", None)]
    with pytest.raises(ValueError, match="'nope'"):
        resolve_structures(structures_dir, "nope")
    with pytest.raises(FileNotFoundError, match="absent.tsv does not exist"):
        resolve_structures(structures_dir / "absent.tsv")


def test_contacts_lie_on_the_deposited_sequence_and_annotations_only_when_asked(structures_dir):
    path = structures_dir / "2rtg.bcif"  # chain B: 135 deposited residues, 123 with coordinates
    structure = load_structure(path, chain="B")
    plain, = load_proteins([structure], properties=())
    assert plain.sequence == structure.full_sequence != structure.sequence
    np.testing.assert_array_equal(plain.contacts, contact_map(structure, sequence=structure.full_sequence))
    assert plain.residues == {}
    annotated, = load_proteins([structure], properties=("contact", "helix", "binding_site"), sse="psea")
    np.testing.assert_array_equal(annotated.contacts, plain.contacts)
    assert sorted(annotated.residues) == ["binding_site", "helix", "strand", "turn"]
    assert all(v.shape == (len(plain.sequence),) for v in annotated.residues.values())
    observed, = load_proteins([structure], properties=(), full_sequence=False)
    assert observed.sequence == structure.sequence
    np.testing.assert_array_equal(observed.contacts, contact_map(structure))


def test_long_chains_are_skipped_with_a_warning_and_nothing_left_is_an_error(structures_dir):
    files = [structures_dir / "1crr.bcif", structures_dir / "1hml.bcif"]  # 166 and 142 residues
    with pytest.warns(UserWarning, match="166 residues exceed 150; skipped"):
        kept = load_proteins(files, properties=(), max_residues=150)
    assert [len(p.sequence) for p in kept] == [142]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="all 2 chains of .* exceed 100 residues"):
        load_proteins(files, properties=(), max_residues=100)


def test_a_folder_without_structures_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no structures in"):
        load_proteins(tmp_path)


def test_names_say_the_chain_once(structures_dir, tmp_path):
    """Per-chain files already end with their chain: ``1e7l_1_A.pdb`` is ``1e7l_1_A``, not ``1e7l_1_A_A`` (issue 22)."""
    (tmp_path / "1e7l_1_B.pdb").symlink_to(structures_dir / "1e7l_1_A.pdb")  # the file's only chain is A
    files = [structures_dir / "1e7l_1_A.pdb", structures_dir / "1crr.bcif", tmp_path / "1e7l_1_B.pdb"]
    names = [p.name for p in load_proteins(files, properties=())]
    assert names == ["1e7l_1_A", "1crr_A", "1e7l_1_B_A"]
    assert protein_name(None, "C") == "structure_C" and protein_name("x/d1a_A.cif.gz", "A") == "d1a_A"
