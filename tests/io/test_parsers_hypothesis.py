"""Property-based layer of issue 26's suite: random bytes and random near-valid records for the text parsers.

Whatever the bytes, a reader returns a valid parse (checked against the format's rules) or raises
its own error (a :class:`~contacts.io.text.FileFormatError` subclass), never a ``KeyError``,
``IndexError``, ``UnicodeDecodeError`` or anything else from inside. Examples are bounded and
derandomized, so that CI sees the same ones on every run.
"""

from __future__ import annotations

import codecs
import gzip
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.constants import MAX_RESIDUES
from contacts.io.a3m import AlignmentError, read_alignment
from contacts.io.fasta import FastaFormatError, read_fasta
from contacts.io.manifest import MANIFEST_COLUMNS, ManifestError, read_manifest
from contacts.io.matrix import MatrixFormatError, read_matrix
from contacts.io.rr import RRFormatError, read_rr_models

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hypothesis")


def _outcome(read, path, error: type[Exception], data: bytes):
    """``data`` written to ``path`` and read: the reader's value, or None where it raised its own error (anything
    else fails the test)."""
    path.write_bytes(data)
    try:
        return read(path)
    except error as exc:
        assert str(path) in str(exc), f"the message does not name the file: {exc}"
        return None


# ------------------------------------------------------------------ how near-valid text is made

line_ends = st.sampled_from(["\n", "\r\n", "\r"])
#: Characters a careless editor or a hostile file puts in text: controls, NUL, quotes, non-ASCII, tabs.
noise = st.sampled_from(["\x00", "\x01", "\x1b", "\t", " ", '"', "'", ",", "#", ";", ">", "é", "—", "\ufeff", "\u2028",
                         "\x85", "\\", "1e999", "nan", "-inf", "-1", "0x1f", "99999999999"])


@st.composite
def assembled(draw, lines):
    """Lines joined by random line ends, perhaps with a BOM, perhaps a noise token spliced in, perhaps gzipped."""
    parts = draw(lines)
    end = draw(line_ends)
    text = end.join(parts) + draw(st.sampled_from(["", end]))
    if draw(st.booleans()) and text:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(noise) + text[at:]
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = codecs.BOM_UTF8 + data
    if draw(st.integers(0, 9)) == 0:
        data = gzip.compress(data, mtime=0)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    return data


residues = st.text("ACDEFGHIKLMNPQRSTVWYXacdefgh-.*", min_size=0, max_size=30)
fasta_lines = st.lists(st.one_of(residues, st.builds(lambda s: ">" + s, st.text(max_size=12)),
                                 st.just(""), st.just(";comment")), max_size=12)


nasty = st.sampled_from(["nan", "inf", "-1", "1e999", "1.5", str(MAX_RESIDUES + 1), "x", "", "0 8 0.5 1"])


@st.composite
def rr_lines(draw):
    """A valid RR file (header, sequence, ``i j 0 8 p`` contacts), then 0-3 edits: a field made nasty, a line
    repeated (perhaps as ``j i``), a sequence or junk line after the contacts, a header line dropped."""
    length = draw(st.integers(2, 30))
    pairs = draw(st.lists(st.tuples(st.integers(1, length), st.integers(1, length),
                                    st.sampled_from(["0.1", "0.5", "1", "0"])).filter(lambda p: p[0] < p[1]),
                          unique_by=lambda p: p[:2], min_size=1, max_size=8))
    lines = ["PFRMAT RR", "TARGET T1", "MODEL 1", "A" * length, *(f"{i} {j} 0 8 {p}" for i, j, p in pairs), "END"]
    for edit in draw(st.lists(st.sampled_from(["field", "bounds", "bounds", "again", "insert", "drop", "append"]),
                              min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=3)):
        at = min(draw(st.integers(4, 3 + len(pairs))) if draw(st.sampled_from([True, True, False])) else
                 draw(st.integers(0, len(lines) - 1)), len(lines) - 1)
        fields = lines[at].split()
        if edit == "field" and fields:  # one field of a line made nasty
            fields[draw(st.integers(0, len(fields) - 1))] = draw(nasty)
            lines[at] = " ".join(fields)
        elif edit == "bounds" and len(fields) == 5:  # a distance bound not finite, negative, or above the other
            fields[draw(st.sampled_from([2, 3]))] = draw(st.sampled_from(["nan", "inf", "1e999", "-inf", "-1", "9"]))
            lines[at] = " ".join(fields)
        elif edit == "again":  # a line again, perhaps reversed
            lines.insert(at, " ".join([fields[1], fields[0], *fields[2:]]) if len(fields) > 1 and draw(st.booleans())
                         else lines[at])
        elif edit == "insert":
            lines.insert(at, draw(st.sampled_from(["ACDEF", "junk", "MODEL 2", "ENDMDL", "REMARK x", "MODEL 1"])))
        elif edit == "drop":
            del lines[at]
        elif edit == "append":
            lines[at] = lines[at] + " " + draw(nasty)
    return lines


manifest_cell = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


@st.composite
def manifest_lines(draw):
    """A header of the required columns (one of them perhaps missing) and an extra, rows of 1-5 fields."""
    columns = list(draw(st.permutations([*MANIFEST_COLUMNS, "note"])))
    if draw(st.integers(0, 4)) == 0:
        columns.remove(draw(st.sampled_from(MANIFEST_COLUMNS)))
    names = st.sampled_from(["1abc.cif", "2xyz.pdb", "3def.bcif", " 1abc.cif", ""])
    rows = draw(st.lists(st.one_of(
        st.lists(st.one_of(manifest_cell, names), min_size=1, max_size=5),
        st.builds(lambda name, cells: [name if c == "file" else cells[n] for n, c in enumerate(columns)],
                  names, st.lists(manifest_cell, min_size=len(columns), max_size=len(columns)))), max_size=6))
    return ["\t".join(columns), *("\t".join(r) for r in rows)]


matrix_row = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                                st.sampled_from(["0", "1", "nan", "#", "", "x", "1,2"])), max_size=6)


# ------------------------------------------------------------------ random bytes: every reader


READERS = {
    "fasta": (read_fasta, FastaFormatError, "x.fasta"),
    "a3m": (read_alignment, AlignmentError, "x.a3m"),
    "rr": (read_rr_models, RRFormatError, "x.rr"),
    "npy": (read_matrix, MatrixFormatError, "x.npy"),
    "npz": (read_matrix, MatrixFormatError, "x.npz"),
    "text-matrix": (read_matrix, MatrixFormatError, "x.mat"),
    "manifest": (read_manifest, ManifestError, "MANIFEST.tsv"),
}


@pytest.mark.parametrize("kind", list(READERS))
@SETTINGS
@given(data=st.one_of(st.binary(max_size=600),
                      st.binary(max_size=300).map(lambda b: b"\x93NUMPY" + b),
                      st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b),
                      st.binary(max_size=300).map(lambda b: b"\x1f\x8b" + b)))
def test_random_bytes_raise_only_the_readers_own_error(folder, kind, data):
    read, error, name = READERS[kind]
    _outcome(read, folder / f"bytes-{name}", error, data)


# ------------------------------------------------------------------ near-valid records, and what a parse must hold


def _check_matrix(matrix) -> None:
    if matrix is not None:
        assert matrix.ndim == 2 and matrix.shape[0] == matrix.shape[1] and matrix.dtype == np.float64
        assert not np.isinf(matrix).any()


@SETTINGS
@given(data=assembled(fasta_lines))
def test_fasta_near_valid(folder, data):
    records = _outcome(read_fasta, folder / "near.fasta", FastaFormatError, data)
    if records is not None:
        assert records and all(not any(c.isspace() for c in r.sequence) for r in records)


@SETTINGS
@given(data=assembled(fasta_lines))
def test_a3m_near_valid(folder, data):
    rows = _outcome(read_alignment, folder / "near.a3m", AlignmentError, data)
    if rows is not None:
        widths = {len(seq) for _, seq in rows}
        assert len(widths) == 1 and all(set(seq) <= set("ACDEFGHIKLMNPQRSTVWYXBZJUO-") for _, seq in rows)


@SETTINGS
@given(data=assembled(rr_lines()))
def test_rr_near_valid(folder, data):
    models = _outcome(read_rr_models, folder / "near.rr", RRFormatError, data)
    for model in models or []:
        assert (model.i < model.j).all() and (model.i >= 0).all() and (model.j < MAX_RESIDUES).all()
        assert np.isfinite(model.d_lower).all() and np.isfinite(model.d_upper).all()
        assert ((model.probability >= 0) & (model.probability <= 1)).all()
        pairs = list(zip(model.i.tolist(), model.j.tolist()))
        assert len(pairs) == len(set(pairs))
        if model.sequence is not None:
            assert (model.j < len(model.sequence)).all()


@SETTINGS
@given(data=assembled(st.lists(matrix_row.map(lambda r: "\t".join(r)), max_size=6)))
def test_text_matrix_near_valid(folder, data):
    _check_matrix(_outcome(read_matrix, folder / "near.mat", MatrixFormatError, data))


@SETTINGS
@given(array=st.one_of(
    st.builds(lambda n, m, fill: np.full((n, m), fill), st.integers(0, 4), st.integers(0, 4),
              st.floats(allow_nan=True, allow_infinity=True)),
    st.builds(lambda n, kind: np.zeros((n,) * 2, dtype=kind), st.integers(0, 3),
              st.sampled_from(["f4", "i8", "u1", "?", "c8", "U3", "S2", "m8", "M8", "V4", "f2"])),
    st.builds(lambda dims: np.zeros(dims), st.lists(st.integers(0, 3), max_size=4).map(tuple))),
    npz=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 200)))
def test_npy_and_npz_near_valid(folder, array, npz, cut):
    buffer = io.BytesIO()
    if npz:
        np.savez(buffer, contacts=array)
    else:
        np.save(buffer, array)
    data = buffer.getvalue()
    matrix = _outcome(read_matrix, folder / ("near.npz" if npz else "near.npy"), MatrixFormatError,
                      data if cut is None else data[:cut])
    _check_matrix(matrix)


@SETTINGS
@given(data=assembled(manifest_lines()))
def test_manifest_near_valid(folder, data):
    rows = _outcome(read_manifest, folder / "MANIFEST.tsv", ManifestError, data)
    if rows is not None:
        assert rows and all(set(MANIFEST_COLUMNS) <= set(row) and row["file"] == name and name.strip() == name
                            for name, row in rows.items())
