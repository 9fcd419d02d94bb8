"""A3M alignments: write_alignment -> read_alignment gives back the rows; bad rows are refused, atomically."""

import gzip

import pytest

from contacts.io.a3m import AlignmentError, read_alignment, write_alignment

ROWS = [
    ("query T1234 the sequence being predicted", "MKTAYIAKQRQISFVKSHFSRQ"),
    ("UniRef100_A0A0 hit 1 E=1e-30", "MKTAYIAKQRQ-SFVKSHFSRQ"),
    ("UniRef100_B1B1", "--TAYLAKQRQISFVKSH----"),
    ("all gaps", "----------------------"),
    ("X and B, Z, U, O are columns too", "XKTBYZAKURQOSFVKSHFSRQ"),
    ("name\twith a tab  and  spaces", "MKTAYIAKQRQISFVKSHFSRQ"),
]


def test_round_trip_gives_back_names_and_rows_in_order(tmp_path):
    path = write_alignment(tmp_path / "x.a3m", ROWS)
    assert read_alignment(path) == ROWS


def test_round_trip_of_a_generator_and_of_a_single_row(tmp_path):
    assert read_alignment(write_alignment(tmp_path / "a.a3m", (r for r in ROWS))) == ROWS
    assert read_alignment(write_alignment(tmp_path / "b.a3m", ROWS[:1])) == ROWS[:1]


def test_max_sequences_reads_the_first_rows(tmp_path):
    path = write_alignment(tmp_path / "x.a3m", ROWS)
    for n in (1, 3, len(ROWS)):
        assert read_alignment(path, max_sequences=n) == ROWS[:n]


def test_gzipped_file_reads_like_the_plain_one(tmp_path):
    plain = write_alignment(tmp_path / "x.a3m", ROWS)
    for name in ("x.a3m.gz", "no_gz_suffix.a3m"):  # gzip is detected from the content
        zipped = tmp_path / name
        zipped.write_bytes(gzip.compress(plain.read_bytes()))
        assert read_alignment(zipped) == ROWS


def test_a_read_file_with_insertions_writes_back_to_the_same_rows(tmp_path):
    path = tmp_path / "ins.a3m"
    path.write_text(">q\nMKTA\n>s with insertions\nMkkKTA..\n# a comment line\n>t wrapped\n-K\n-A*\n")
    rows = read_alignment(path)
    assert rows == [("q", "MKTA"), ("s with insertions", "MKTA"), ("t wrapped", "-K-A")]
    assert read_alignment(write_alignment(tmp_path / "again.a3m", rows)) == rows


# ---------------------------------------------------------------- the writer refuses, naming the value


def test_rows_of_unequal_width_are_refused(tmp_path):
    rows = [*ROWS[:2], ("too short", "MKTAYIAK"), *ROWS[2:]]
    width = len(ROWS[0][1])
    with pytest.raises(AlignmentError, match=rf"record 3 \('too short'\) has 8 aligned columns; the query has {width}"):
        write_alignment(tmp_path / "x.a3m", rows)
    assert not (tmp_path / "x.a3m").exists()


@pytest.mark.parametrize("seq", ["MKtA", "MK.A", "MK*A"])
def test_insertions_are_refused(tmp_path, seq):
    with pytest.raises(AlignmentError, match=r"record 2 \('hit'\) holds insertions"):
        write_alignment(tmp_path / "x.a3m", [("q", "MKTA"), ("hit", seq)])


@pytest.mark.parametrize("seq", ["MK A", ">KTA", "#KTA"])
def test_rows_the_reader_would_not_give_back_are_refused(tmp_path, seq):
    with pytest.raises(AlignmentError, match=r"record 2 \('hit'\)") as err:
        write_alignment(tmp_path / "x.a3m", [("q", "MKTA"), ("hit", seq)])
    assert repr(seq) in str(err.value)


@pytest.mark.parametrize("name", ["two\nlines", "cr\r", " padded "])
def test_names_with_line_breaks_or_outer_spaces_are_refused(tmp_path, name):
    with pytest.raises(AlignmentError, match="record 2: its name") as err:
        write_alignment(tmp_path / "x.a3m", [("q", "MKTA"), (name, "MKTA")])
    assert repr(name) in str(err.value)


def test_no_records_is_refused(tmp_path):
    with pytest.raises(AlignmentError, match="no records to write to .*x.a3m"):
        write_alignment(tmp_path / "x.a3m", [])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- atomic writes


def test_refused_rows_leave_an_existing_file_untouched(tmp_path):
    path = write_alignment(tmp_path / "x.a3m", ROWS[:2])
    before = path.read_bytes()
    with pytest.raises(AlignmentError, match="'bad'"):
        write_alignment(path, [*ROWS, ("bad", "MK")])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.a3m"]


def test_failure_while_writing_leaves_no_file_and_no_part(tmp_path, failing_replace):
    path = tmp_path / "x.a3m"
    failing_replace()
    with pytest.raises(OSError, match="disk full"):
        write_alignment(path, ROWS)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_keeps_the_existing_file(tmp_path, failing_replace):
    path = write_alignment(tmp_path / "x.a3m", ROWS[:1])
    before = path.read_bytes()
    failing_replace(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_alignment(path, ROWS)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.a3m"]


# ---------------------------------------------------------------- reader errors


def test_reader_names_the_row_of_another_width(tmp_path):
    path = tmp_path / "x.a3m"
    path.write_text(">q\nMKTA\n>ok\nM-TA\n>short one\nMKT\n")
    with pytest.raises(AlignmentError, match=r"x.a3m: record 3 \('short one'\) has 3 aligned columns; the query has 4"):
        read_alignment(path)


def test_reader_refuses_a_file_without_records(tmp_path):
    path = tmp_path / "x.a3m"
    path.write_text("# nothing\n\n")
    with pytest.raises(AlignmentError, match="x.a3m holds no sequence records"):
        read_alignment(path)
    path.write_text("# nothing\nMKTA\n")
    with pytest.raises(AlignmentError, match="x.a3m line 2: alignment row before the first '>' header"):
        read_alignment(path)
