"""DSSP (``mkdssp``) on the shared structures, against P-SEA; labels that stay on their residues.

``.ci/run`` installs the Debian package ``dssp``; without ``mkdssp`` these tests are
skipped, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat

import numpy as np
import pytest

from contacts.analysis.annotations import SSE_STATES, secondary_structure, sse_agreement, sse_method
from contacts.io.manifest import PACKAGE_MANIFEST, read_manifest
from contacts.io.structures import StructureError, load_structure

#: Pooled per-residue agreement of DSSP and P-SEA (three states) that the train and valid chains
#: must reach. Measured with mkdssp 4.2.2 (bench/sse_agreement.py, docs/attention.md): 0.772 on
#: them (0.788 on all 122 chains), where two independent assignments with the same state
#: frequencies would reach 0.355.
POOLED_FLOOR = 0.75
#: Cohen's kappa floor on the same residues (measured 0.647; 0.667 on all 122 chains).
KAPPA_FLOOR = 0.6
#: No chain below this (measured: lowest 0.617, 3o14_1_A, on them and on all 122).
CHAIN_FLOOR = 0.55


@pytest.fixture(scope="module")
def mkdssp():
    path = shutil.which("mkdssp")
    if path is None:
        what = "mkdssp not found (Debian package 'dssp')"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{what} (CI=true: .ci/run installs it, so this is a failure, not a skip)")
        pytest.skip(what)
    return path


def test_dssp_agrees_with_psea_on_the_shared_train_and_valid_chains(mkdssp, structures_dir):
    assert sse_method("auto") == "dssp"  # mkdssp on the PATH makes it the default
    rows = [(name, row["chain"]) for name, row in read_manifest(PACKAGE_MANIFEST).items()
            if row["split"] in ("train", "valid")]
    assert len(rows) >= 20
    dssp_all, psea_all, per_chain = [], [], {}
    for name, chain in rows:
        structure = load_structure(structures_dir / name, chain=chain)
        dssp = secondary_structure(structure, "dssp")
        psea = secondary_structure(structure, "psea")
        # both label (nearly) every residue, and only residues with the atoms they need
        known = dssp != ""
        assert known.mean() > 0.98 and not (known & ~structure.atom_mask[:, :3].all(1)).any(), name
        assert ((psea != "") == structure.atom_mask[:, 1]).all(), name
        assert set(dssp) <= {*SSE_STATES, ""} and {"helix", "turn"} <= set(dssp), name
        per_chain[name] = sse_agreement(dssp, psea)["agreement"]
        dssp_all.append(dssp)
        psea_all.append(psea)
    pooled = sse_agreement(np.concatenate(dssp_all), np.concatenate(psea_all))
    assert pooled["residues"] > 5000
    assert pooled["agreement"] >= POOLED_FLOOR, pooled
    assert pooled["kappa"] >= KAPPA_FLOOR, pooled
    assert pooled["agreement"] - pooled["chance"] > 0.3  # far above what unrelated labels reach
    worst = min(per_chain, key=per_chain.get)
    assert per_chain[worst] >= CHAIN_FLOOR, (worst, per_chain[worst])


def _without_atom(path, out, residue: int, atom: str):
    """A copy of a PDB file without one atom of one residue (chain A)."""
    kept = [line for line in path.read_text().splitlines()
            if not (line.startswith("ATOM") and line[21] == "A" and int(line[22:26]) == residue
                    and line[12:16].strip() == atom)]
    out.write_text("\n".join(kept) + "\n")
    return out


def test_a_residue_dssp_cannot_use_shifts_no_other_residue(mkdssp, structures_dir, tmp_path):
    """mkdssp leaves out residues without N, CA, C and O; every other residue keeps its own state."""
    plain = tmp_path / "1tim.pdb"
    plain.write_bytes(gzip.decompress((structures_dir / "1tim.pdb.gz").read_bytes()))
    whole = load_structure(plain, chain="A")
    before = secondary_structure(whole, "dssp")
    k = 60
    residue = int(whole.res_ids[k])
    cut = load_structure(_without_atom(plain, tmp_path / "cut.pdb", residue, "O"), chain="A")
    assert len(cut) == len(whole)  # the structure keeps the residue (it has N, CA, C)
    after = secondary_structure(cut, "dssp")
    assert after[k] == ""
    far = np.abs(np.arange(len(whole)) - k) > 5
    # Only residues near the cut (and their ladder partners) may change; a shift by one would
    # change every state boundary after it.
    assert (after[far] == before[far]).mean() > 0.98
    after_cut = np.arange(len(whole)) > k + 5
    assert (after[after_cut] == before[after_cut]).mean() > 0.98


def test_a_chain_whose_numbering_falls_runs(mkdssp, structures_dir):
    """6WQA numbers an insertion 1001-1106 inside chain A, then goes on from 219."""
    structure = load_structure(structures_dir / "6WQA.cif", chain="A")
    assert (np.diff(structure.res_ids) < 0).any()
    sse = secondary_structure(structure, "dssp")
    assert (sse != "").mean() > 0.98
    assert sse_agreement(sse, secondary_structure(structure, "psea"))["agreement"] > CHAIN_FLOOR


def test_a_failing_mkdssp_is_one_structure_error(mkdssp, structures_dir, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "mkdssp"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo "mkdssp version 4.2.2"; exit 0; fi\n'
                    'echo "Error while reading: something broke" >&2\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    structure = load_structure(structures_dir / "1crr.bcif", chain="A")
    with pytest.raises(StructureError, match=r"1crr.bcif chain A: mkdssp failed .*'psea'"):
        secondary_structure(structure, "dssp")


def test_sse_agreement_counts_only_residues_both_know():
    a = np.array(["helix", "helix", "strand", "turn", ""])
    b = np.array(["helix", "strand", "strand", "turn", "turn"])
    got = sse_agreement(a, b)
    assert got["residues"] == 4 and got["agreement"] == 0.75
    np.testing.assert_array_equal(got["confusion"], [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    # chance from the marginals (a: 2, 1, 1; b: 1, 2, 1 of 4), kappa beyond it
    assert got["chance"] == pytest.approx((2 * 1 + 1 * 2 + 1 * 1) / 16)
    assert got["kappa"] == pytest.approx((0.75 - got["chance"]) / (1 - got["chance"]))
    assert sse_agreement(a, a)["kappa"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same residues"):
        sse_agreement(a, b[:3])
