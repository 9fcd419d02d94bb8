"""data/: every dataset file has its section in data/README.md; the package's manifest is data/structures.tsv."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from contacts.io.manifest import PACKAGE_MANIFEST, read_manifest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_package_ships_data_structures_tsv_byte_for_byte():
    assert PACKAGE_MANIFEST.read_bytes() == (DATA / "structures.tsv").read_bytes(), (
        "contacts/data/structures.tsv differs from data/structures.tsv: edit data/, then "
        "cp data/structures.tsv contacts/data/structures.tsv")


def test_every_dataset_file_has_its_section_and_every_section_its_file():
    readme = (DATA / "README.md").read_text()
    sections = re.findall(r"^## `([^`]+)`", readme, flags=re.M)
    files = sorted(p.name for p in DATA.iterdir() if p.name != "README.md")
    assert sorted(sections) == files
    for name in files:
        body = readme.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        assert all(part in body for part in ("**What.**", "**Where from.**", "**How to get it.**", "**Columns.**")), name
        header = list(read_table(DATA / name)[0])
        assert [c for c in header if f"| `{c}` |" not in body] == [], f"{name}: columns without a line in its section"


def test_structures_tsv_is_the_shared_manifest(structures_dir):
    ours = read_manifest(DATA / "structures.tsv")
    shared = read_manifest(structures_dir / "MANIFEST.tsv")
    assert list(ours) == list(shared)
    renamed = {"msa": "has_msa"}
    for name, row in ours.items():
        assert {k: v for k, v in row.items() if k != "file"} == \
            {k: shared[name][renamed.get(k, k)] for k in row if k != "file"}, name
    files = {p.name for p in structures_dir.iterdir() if p.name not in ("MANIFEST.tsv", "README.md")}
    assert files == set(ours)


def test_msas_tsv_is_the_shared_table(msas_dir):
    ours = read_table(DATA / "msas.tsv")
    shared = read_table(msas_dir / "MSAS.tsv")
    assert [{k: r[k] for k in ours[0]} for r in shared] == ours
    assert {r["file"] for r in ours} == {p.name for p in msas_dir.iterdir() if p.name != "MSAS.tsv"}
    structures = read_manifest(DATA / "structures.tsv")
    with_msa = {r["msa"]: name for name, r in structures.items() if r["msa"]}
    assert with_msa == {r["file"]: r["matching_structure_file"] for r in ours if r["matching_structure_file"]}
