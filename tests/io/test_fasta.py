"""FASTA: write_fasta -> read_fasta gives back the records; bad records are refused, atomically."""

import gzip

import pytest

from contacts.io.fasta import FastaFormatError, FastaRecord, read_fasta, write_fasta

RECORDS = [
    FastaRecord("sp|P69905|HBA_HUMAN", "sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens",
                "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKL"
                "RVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR"),
    FastaRecord("short", "short  two  spaces\tand a tab", "MK"),
    FastaRecord("one", "one", "W"),
    FastaRecord("empty", "empty no residues", ""),
    FastaRecord("exact60", "exact60", "ACDEFGHIKLMNPQRSTVWY" * 3),
    FastaRecord("odd*-X", "odd*-X stop, gap and unknown kept as written", "MKX-*"),
]


@pytest.mark.parametrize("line_width", [0, 1, 7, 60, 80, 1000])
def test_round_trip_gives_back_every_record_at_any_line_width(tmp_path, line_width):
    path = write_fasta(tmp_path / "x.fasta", RECORDS, line_width=line_width)
    assert read_fasta(path) == RECORDS


@pytest.mark.parametrize("line_width", [0, 1, 7, 60])
def test_sequence_lines_are_wrapped_at_line_width(tmp_path, line_width):
    path = write_fasta(tmp_path / "x.fasta", RECORDS, line_width=line_width)
    blocks: list[tuple[str, list[str]]] = []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            blocks.append((line[1:], []))
        else:
            blocks[-1][1].append(line)
    assert [header for header, _ in blocks] == [r.description for r in RECORDS]
    for record, (_, lines) in zip(RECORDS, blocks):
        assert "".join(lines) == record.sequence
        if line_width == 0:
            assert len(lines) == (1 if record.sequence else 0)
        else:
            assert len(lines) == -(-len(record.sequence) // line_width)
            assert all(len(line) == line_width for line in lines[:-1])
            assert all(0 < len(line) <= line_width for line in lines)


def test_default_width_is_sixty(tmp_path):
    long = FastaRecord("long", "long", "ACDEFGHIKLMNPQRSTVWY" * 7)
    lines = write_fasta(tmp_path / "x.fasta", [long]).read_text().splitlines()
    assert [len(line) for line in lines[1:]] == [60, 60, len(long.sequence) - 120]
    assert read_fasta(tmp_path / "x.fasta") == [long]


def test_gzipped_file_reads_like_the_plain_one(tmp_path):
    plain = write_fasta(tmp_path / "x.fasta", RECORDS, line_width=13)
    zipped = tmp_path / "x.fasta.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    # detected from the content, not the name
    hidden = tmp_path / "looks_plain.fa"
    hidden.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_fasta(zipped) == RECORDS
    assert read_fasta(hidden) == RECORDS


def test_record_without_description_reads_back_with_its_id_as_description(tmp_path):
    records = [FastaRecord("a", "", "MKV"), FastaRecord("b", "b more", "W")]
    back = read_fasta(write_fasta(tmp_path / "x.fasta", records))
    assert [(r.id, r.sequence) for r in back] == [(r.id, r.sequence) for r in records]
    assert back[0].description == "a" and back[1] == records[1]


def test_generator_of_records_is_written_once(tmp_path):
    back = read_fasta(write_fasta(tmp_path / "x.fasta", (r for r in RECORDS)))
    assert back == RECORDS


@pytest.mark.parametrize(
    "record,named",
    [
        (FastaRecord("abc", "xyz abc", "MK"), "'xyz abc'"),
        (FastaRecord("abc", "abcd", "MK"), "'abcd'"),
        (FastaRecord("abc", " abc", "MK"), "' abc'"),
        (FastaRecord("", "", "MK"), "''"),
        (FastaRecord("two words", "two words", "MK"), "'two words'"),
    ],
)
def test_description_must_start_with_the_id(tmp_path, record, named):
    with pytest.raises(FastaFormatError, match="must start with its id") as err:
        write_fasta(tmp_path / "x.fasta", [record])
    assert named in str(err.value)
    assert not (tmp_path / "x.fasta").exists()


def test_description_with_a_line_break_is_refused(tmp_path):
    with pytest.raises(FastaFormatError, match=r"'abc x\\nMKV'.*line break"):
        write_fasta(tmp_path / "x.fasta", [FastaRecord("abc", "abc x\nMKV", "W")])


@pytest.mark.parametrize("sequence,bad", [("MK>V", ">"), ("MK V", " "), ("MK;V", ";"), ("MK\nV", "\n")])
def test_sequence_characters_fasta_cannot_carry_are_refused(tmp_path, sequence, bad):
    with pytest.raises(FastaFormatError, match="'abc'.*sequence holds") as err:
        write_fasta(tmp_path / "x.fasta", [FastaRecord("abc", "abc", sequence)], line_width=2)
    assert repr(bad) in str(err.value)


def test_negative_line_width_is_refused(tmp_path):
    with pytest.raises(ValueError, match="-3"):
        write_fasta(tmp_path / "x.fasta", RECORDS, line_width=-3)


# ---------------------------------------------------------------- atomic writes


def test_invalid_record_midway_leaves_no_file_and_no_part(tmp_path):
    path = tmp_path / "x.fasta"
    with pytest.raises(FastaFormatError, match="'bad'"):
        write_fasta(path, [*RECORDS, FastaRecord("bad", "other", "MK")])
    assert list(tmp_path.iterdir()) == []


def test_interrupt_midway_keeps_the_existing_file(tmp_path):
    path = write_fasta(tmp_path / "x.fasta", RECORDS[:2])
    before = path.read_bytes()

    def records():
        yield from RECORDS
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_fasta(path, records())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.fasta"]


def test_failed_rename_keeps_the_existing_file(tmp_path, failing_replace):
    path = write_fasta(tmp_path / "x.fasta", RECORDS[:1])
    before = path.read_bytes()
    failing_replace()
    with pytest.raises(OSError, match="disk full"):
        write_fasta(path, RECORDS)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.fasta"]


# ---------------------------------------------------------------- reader errors


def test_sequence_before_header_names_the_line(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text("; comment\nMKV\n>a\nW\n")
    with pytest.raises(FastaFormatError, match=r"x.fasta line 2: sequence before"):
        read_fasta(path)


def test_file_without_records_is_an_error(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text("; only a comment\n\n")
    with pytest.raises(FastaFormatError, match="no FASTA records"):
        read_fasta(path)
