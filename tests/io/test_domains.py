"""Domain tables: the reader and writer round trip, the shipped copy, and cutting a chain to a range."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import contacts
from contacts.io.domains import PACKAGE_DOMAINS, Domain, DomainTableError, read_domains, write_domains
from contacts.io.structures import StructureError, cut_residues

REPO = Path(__file__).resolve().parents[2]


def test_round_trip_keeps_rows_and_extra_columns(tmp_path):
    rows = [Domain("a_H", "a.cif", "H", "1", "82A", "train", {"kind": "H"}),
            Domain("a_L", "a.cif", "L", "2", "107", "test", {"kind": "L"})]
    path = write_domains(tmp_path / "d.tsv", rows)
    assert read_domains(path) == rows
    assert read_domains(path, "test") == rows[1:]
    with pytest.raises(DomainTableError, match="split 'valid' is not in"):
        read_domains(path, "valid")


def test_a_name_given_twice_is_refused(tmp_path):
    (tmp_path / "d.tsv").write_text("name\tfile\tchain\tfirst\tlast\tsplit\nx\ta\tA\t1\t9\t\nx\ta\tB\t1\t9\t\n")
    with pytest.raises(DomainTableError, match="line 3: the name 'x' is given twice"):
        read_domains(tmp_path / "d.tsv")


def test_the_shipped_table_is_the_data_folders():
    assert PACKAGE_DOMAINS["antibody_domains"].read_bytes() == (REPO / "data" / "antibody_domains.tsv").read_bytes()
    assert len(read_domains("antibody_domains")) == 12


def test_cut_keeps_the_range_and_the_deposited_sequence_between(structures_dir):
    chain = contacts.load_structure(structures_dir / "1ncb.cif", chain="H")
    domain = cut_residues(chain, "1", "113")
    assert domain.sequence == chain.sequence[: len(domain)] and domain.res_ids[-1] == 113
    assert domain.full_sequence == chain.full_sequence[: len(domain.full_sequence)]
    assert re.search("WGQG", domain.sequence[-11:])
    with pytest.raises(StructureError, match="residue 900 is not an observed residue"):
        cut_residues(chain, "1", "900")


def test_every_listed_domain_holds_its_conserved_residues(structures_dir):
    for domain in read_domains("antibody_domains"):
        chain = contacts.load_structure(structures_dir / domain.file, chain=domain.chain)
        sequence = cut_residues(chain, domain.first, domain.last).sequence
        assert len(sequence) == int(domain.extra["length"])
        for site in domain.extra["conserved"].split(","):
            kabat, position = site.split(":")
            assert sequence[int(position) - 1] == kabat[0], (domain.name, site)
