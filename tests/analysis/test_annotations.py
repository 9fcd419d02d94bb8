"""Per-residue labels: three-state secondary structure on built helices and strands, binding sites at known distances."""

from __future__ import annotations

import numpy as np
import pytest
from builders import backbone, chain

from contacts.analysis.annotations import (
    ADDITIVES,
    DSSP_TO_THREE,
    SSE_STATES,
    binding_sites,
    ligand_mask,
    place_residues,
    secondary_structure,
    sse_labels,
    sse_method,
)
from contacts.io.structures import load_structure, read_atoms


def test_psea_calls_an_ideal_helix_helix_and_an_extended_chain_strand():
    helix = secondary_structure(chain(backbone(16, -57, -47), "A" * 16), method="psea")
    assert (helix[2:-2] == "helix").all(), helix
    strand = secondary_structure(chain(backbone(12, -120, 130), "A" * 12), method="psea")
    assert (strand[2:-2] == "strand").all(), strand
    assert set(helix) | set(strand) <= set(SSE_STATES)


def test_residue_without_ca_has_no_secondary_structure():
    s = chain(backbone(16, -57, -47), "A" * 16)
    s.coords[7, 1] = np.nan
    s.atom_mask[7, 1] = False
    sse = secondary_structure(s, method="psea")
    assert sse[7] == ""
    labels = sse_labels(sse)
    assert set(labels) == set(SSE_STATES)
    assert all(np.isnan(v[7]) for v in labels.values())
    assert sum(np.nan_to_num(v) for v in labels.values()).tolist() == [1.0] * 7 + [0.0] + [1.0] * 8


def test_dssp_eight_states_map_to_three_as_q3_does():
    assert {k for k, v in DSSP_TO_THREE.items() if v == "helix"} == {"H", "G", "I"}
    assert {k for k, v in DSSP_TO_THREE.items() if v == "strand"} == {"E", "B"}
    assert {"T", "S", "-", " "} <= {k for k, v in DSSP_TO_THREE.items() if v == "turn"}
    assert sse_method("psea") == "psea"
    assert sse_method("auto") in ("psea", "dssp")
    with pytest.raises(ValueError, match="'stride'"):
        sse_method("stride")


def _atom(serial, name, res, resnum, x, y, z, element, het=False, chain_id="A"):
    record = "HETATM" if het else "ATOM  "
    return (f"{record}{serial:5d} {name:<4s} {res:>3s} {chain_id}{resnum:4d}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}")


@pytest.fixture
def ligand_pdb(tmp_path):
    """Three alanines 10 Å apart on x; a ligand atom 3.5 Å from residue 1's CB and 4.5 Å from residue 2's,
    glycerol (an additive) 2 Å from residue 3's CB, a water 2 Å from residue 2's N."""
    lines, serial = [], 1
    for k in range(3):
        x0 = 10.0 * k
        for name, dx, dy, element in (("N", -1.2, 0.5, "N"), ("CA", 0.0, 0.0, "C"), ("C", 1.2, 0.5, "C"),
                                      ("O", 1.5, 1.6, "O"), ("CB", 0.0, -1.5, "C")):
            lines.append(_atom(serial, name, "ALA", k + 1, x0 + dx, dy, 0.0, element))
            serial += 1
    # residue 1's CB is at (0, -1.5, 0), residue 2's at (10, -1.5, 0)
    lines.append(_atom(serial, "C1", "LIG", 101, 0.0, -5.0, 0.0, "C", het=True))       # 3.5 Å from res 1's CB
    lines.append(_atom(serial + 1, "C2", "LIG", 101, 10.0, -6.0, 0.0, "C", het=True))  # 4.5 Å from res 2's CB
    lines.append(_atom(serial + 2, "O1", "GOL", 102, 20.0, -3.5, 0.0, "O", het=True))  # 2 Å from res 3's CB
    lines.append(_atom(serial + 3, "O", "HOH", 201, 8.8, 2.5, 0.0, "O", het=True))     # 2 Å from res 2's N
    path = tmp_path / "ligand.pdb"
    path.write_text("\n".join([*lines, "END", ""]))
    return path


def test_binding_sites_at_known_distances(ligand_pdb):
    s = load_structure(ligand_pdb)
    assert s.sequence == "AAA"
    # the ligand is 3.5 Å from residue 1 and 4.5 Å from residue 2; glycerol and water do not count
    assert binding_sites(s).tolist() == [1.0, 0.0, 0.0]
    # cutoffs on either side of the distances
    assert binding_sites(s, cutoff=3.0).tolist() == [0.0, 0.0, 0.0]
    assert binding_sites(s, cutoff=5.0).tolist() == [1.0, 1.0, 0.0]
    # without the additive list, glycerol binds residue 3
    assert binding_sites(s, exclude=()).tolist() == [1.0, 0.0, 1.0]
    assert "GOL" in ADDITIVES


def test_ligand_mask_leaves_out_polymer_water_and_additives(ligand_pdb):
    atoms = read_atoms(ligand_pdb)
    mask = ligand_mask(atoms)
    assert sorted(set(atoms.res_name[mask])) == ["LIG"]
    assert mask.sum() == 2
    everything = ligand_mask(atoms, exclude=())
    assert mask.dtype == bool and everything.dtype == bool  # an int mask would index, not select
    assert sorted(set(atoms.res_name[everything])) == ["GOL", "LIG"] and everything.sum() == 3


def test_binding_sites_of_a_real_complex(structures_dir):
    # streptavidin with biotin (BTN), chain B: residues that hold biotin
    s = load_structure(structures_dir / "2rtg.bcif", chain="B")
    sites = binding_sites(s)
    assert sites.shape == (len(s),) and not np.isnan(sites).any()
    assert 5 <= sites.sum() <= 30
    atoms = read_atoms(s.source)
    assert set(atoms.res_name[ligand_mask(atoms)]) == {"BTN"}


def test_place_residues_lays_values_on_another_sequence():
    values = np.array([1.0, 0.0, np.nan])
    out = place_residues(values, np.array([-1, 0, 1, 2, -1]))
    np.testing.assert_array_equal(out, [np.nan, 1.0, 0.0, np.nan, np.nan])
