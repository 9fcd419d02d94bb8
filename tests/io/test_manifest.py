"""Structure manifests: write_manifest -> read_manifest gives back the rows, extra columns and order."""

import csv

import pytest

from contacts.io.manifest import (
    MANIFEST_NAME,
    PACKAGE_MANIFEST,
    ManifestError,
    folder_manifest,
    read_manifest,
    structure_files,
    structure_name,
    write_manifest,
)

ROWS = [
    {"file": "zeta.cif", "chain": "B", "split": "test", "n_res": "120", "notes": "other chains: A:99"},
    {"file": "1tim.pdb.gz", "chain": "A", "split": "train", "n_res": "247", "notes": ""},
    {"file": "alpha.bcif", "chain": "AA", "split": "valid", "n_res": "7", "notes": 'a "quoted" note, commas'},
    {"file": "d1asha_.pdb", "chain": "A", "split": "test", "n_res": "0", "notes": "unicode: Å β"},
]


def test_round_trip_gives_back_rows_extra_columns_and_order(tmp_path):
    back = read_manifest(write_manifest(tmp_path / "m.tsv", ROWS))
    assert list(back) == [r["file"] for r in ROWS]  # file order, not sorted
    assert list(back.values()) == ROWS
    assert [list(row) for row in back.values()] == [list(row) for row in ROWS]  # column order too


def test_required_columns_come_first_whatever_the_row_order(tmp_path):
    rows = [{"notes": r["notes"], "split": r["split"], "file": r["file"], "chain": r["chain"]} for r in ROWS]
    path = write_manifest(tmp_path / "m.tsv", rows)
    assert path.read_text().splitlines()[0].split("\t") == ["file", "chain", "split", "notes"]
    assert list(read_manifest(path).values()) == [
        {"file": r["file"], "chain": r["chain"], "split": r["split"], "notes": r["notes"]} for r in ROWS
    ]


def test_round_trip_of_only_the_required_columns_and_non_string_values(tmp_path):
    rows = [{"file": "a.pdb", "chain": "A", "split": 1}, {"file": "b.pdb", "chain": "B", "split": 2.5}]
    back = read_manifest(write_manifest(tmp_path / "m.tsv", rows))
    # values come back as text
    assert list(back.values()) == [{k: str(v) for k, v in r.items()} for r in rows]


def test_the_package_manifest_survives_a_round_trip(tmp_path):
    rows = read_manifest(PACKAGE_MANIFEST)
    assert rows  # the package ships one
    back = read_manifest(write_manifest(tmp_path / "m.tsv", rows.values()))
    assert list(back.items()) == list(rows.items())
    with open(PACKAGE_MANIFEST, newline="") as handle:
        header = next(csv.reader(handle, delimiter="\t"))
    assert list(next(iter(back.values()))) == ["file", "chain", "split", *(c for c in header if c not in ("file", "chain", "split"))]


# ---------------------------------------------------------------- the writer refuses, naming the value


@pytest.mark.parametrize("column", ["split", "chain", "file"])
def test_rows_without_a_required_column_are_refused(tmp_path, column):
    rows = [{k: v for k, v in r.items() if k != column} for r in ROWS]
    with pytest.raises(ManifestError, match=rf"missing \['{column}'\]"):
        write_manifest(tmp_path / "m.tsv", rows)
    assert not (tmp_path / "m.tsv").exists()


def test_a_later_row_without_split_is_refused(tmp_path):
    rows = [*ROWS[:2], {k: v for k, v in ROWS[2].items() if k != "split"}]
    with pytest.raises(ManifestError, match=r"row 3 \('alpha.bcif'\).*missing \['split'\]"):
        write_manifest(tmp_path / "m.tsv", rows)


def test_a_later_row_with_a_column_the_first_has_not_is_refused(tmp_path):
    rows = [*ROWS[:2], {**ROWS[2], "resolution": "1.5"}]
    with pytest.raises(ManifestError, match=r"row 3 \('alpha.bcif'\).*\['resolution'\] not in the first row"):
        write_manifest(tmp_path / "m.tsv", rows)


def test_a_file_listed_twice_is_refused(tmp_path):
    rows = [*ROWS, {**ROWS[1], "chain": "B"}]
    with pytest.raises(ManifestError, match=r"'1tim.pdb.gz' is listed twice"):
        write_manifest(tmp_path / "m.tsv", rows)


@pytest.mark.parametrize("value", ["two\tcolumns", "two\nlines", "cr\r"])
def test_values_with_tabs_or_line_breaks_are_refused(tmp_path, value):
    rows = [*ROWS[:1], {**ROWS[1], "notes": value}]
    with pytest.raises(ManifestError, match="holds a tab or a line break") as err:
        write_manifest(tmp_path / "m.tsv", rows)
    assert repr(value) in str(err.value)


def test_no_rows_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="no rows to write to .*m.tsv"):
        write_manifest(tmp_path / "m.tsv", [])


# ---------------------------------------------------------------- atomic writes


def test_refused_rows_leave_an_existing_manifest_untouched(tmp_path):
    path = write_manifest(tmp_path / "m.tsv", ROWS[:1])
    before = path.read_bytes()
    with pytest.raises(ManifestError, match="'bad\\\\tvalue'"):
        write_manifest(path, [*ROWS, {**ROWS[0], "file": "x.pdb", "notes": "bad\tvalue"}])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.tsv"]


def test_failure_midway_through_the_rows_leaves_no_file_and_no_part(tmp_path, monkeypatch):
    written = []

    def half_then_fail(self, rows):
        rows = list(rows)
        self.writerow(rows[0])
        written.append(rows[0]["file"])
        raise OSError("disk full")

    monkeypatch.setattr(csv.DictWriter, "writerows", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_manifest(tmp_path / "m.tsv", ROWS)
    assert written == [ROWS[0]["file"]]
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_keeps_the_existing_manifest(tmp_path, failing_replace):
    path = write_manifest(tmp_path / "m.tsv", ROWS[:2])
    before = path.read_bytes()
    failing_replace(OSError("rename refused"))
    with pytest.raises(OSError, match="rename refused"):
        write_manifest(path, ROWS)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.tsv"]


# ---------------------------------------------------------------- reader errors and folder helpers


def test_reader_refuses_a_manifest_without_split(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("file\tchain\n1abc.pdb\tA\n")
    with pytest.raises(ManifestError, match=r"m.tsv line 1: the manifest needs columns file, chain, split; "
                                            r"its header \[.file., .chain.\] lacks split"):
        read_manifest(path)


def test_reader_refuses_a_header_without_rows(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("file\tchain\tsplit\n")
    with pytest.raises(ManifestError, match="m.tsv has a header but no rows"):
        read_manifest(path)


def test_folder_manifest_and_structure_files(tmp_path):
    assert folder_manifest(tmp_path) is None
    for name in ("b.cif", "a.pdb.gz", "c.bcif", "readme.txt", "d.ent", "e.CIF"):
        (tmp_path / name).write_text("")
    write_manifest(tmp_path / MANIFEST_NAME, [{"file": "a.pdb.gz", "chain": "A", "split": "test"}])
    assert folder_manifest(tmp_path) == tmp_path / MANIFEST_NAME
    files = structure_files(tmp_path)
    assert [p.name for p in files] == ["a.pdb.gz", "b.cif", "c.bcif", "d.ent", "e.CIF"]
    assert [structure_name(p) for p in files] == ["a", "b", "c", "d", "e"]
    assert list(read_manifest(folder_manifest(tmp_path))) == ["a.pdb.gz"]
