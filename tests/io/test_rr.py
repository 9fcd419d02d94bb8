"""CASP RR files: round trip, order, atomic writes, and the errors a reader names."""

import os

import numpy as np
import pytest

from contacts.io.rr import RRFormatError, read_rr, write_rr


def random_map(n=30, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.random((n, n))
    return (p + p.T) / 2


def test_round_trip_keeps_pairs_sequence_and_target(tmp_path):
    probs = random_map()
    seq = "ACDEFGHIKLMNPQRSTVWY" + "ACDEFGHIKL"
    path = write_rr(tmp_path / "x.rr", probs, seq, "T0001", author="me", method="test")
    rr = read_rr(path)
    assert rr.target == "T0001" and rr.sequence == seq
    assert (rr.i < rr.j).all() and len(rr.i) == 30 * 29 // 2
    back = rr.to_matrix()
    np.testing.assert_allclose(back[np.triu_indices(30, 1)], probs[np.triu_indices(30, 1)], atol=5e-6)
    assert (rr.d_lower == 0).all() and (rr.d_upper == 8).all()


def test_layout_header_sequence_lines_sorted_pairs_end(tmp_path):
    probs = random_map(60)
    seq = "A" * 60
    text = write_rr(tmp_path / "x.rr", probs, seq, "T1", min_separation=6, max_pairs=20).read_text().splitlines()
    assert text[:3] == ["PFRMAT RR", "TARGET T1", "MODEL 1"]
    assert text[3] == "A" * 50 and text[4] == "A" * 10
    assert text[-1] == "END"
    rows = [line.split() for line in text[5:-1]]
    assert len(rows) == 20
    p = [float(r[4]) for r in rows]
    assert p == sorted(p, reverse=True)
    assert all(int(r[1]) - int(r[0]) >= 6 for r in rows)
    i, j = np.triu_indices(60, 6)
    assert p[0] == pytest.approx(probs[i, j].max(), abs=1e-5)


def test_ties_are_written_in_index_order_and_nan_pairs_left_out(tmp_path):
    probs = np.full((8, 8), 0.5)
    probs[0, 7] = probs[7, 0] = np.nan
    rr = read_rr(write_rr(tmp_path / "x.rr", probs, "A" * 8, "T"))
    pairs = list(zip(rr.i.tolist(), rr.j.tolist()))
    assert pairs == sorted(pairs) and (0, 7) not in pairs


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "x.rr"
    path.write_text("old\n")

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_rr(path, random_map(10), "A" * 10, "T")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.rr"]


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"\(10, 10\).*12"):
        write_rr(tmp_path / "x.rr", random_map(10), "A" * 12, "T")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        write_rr(tmp_path / "x.rr", random_map(10) * 3, "A" * 10, "T")


def test_reads_three_column_files_without_header(tmp_path):
    path = tmp_path / "old.rr"
    path.write_text("ACDEFGHIK\n1 9 0.7\n3 2 0.4\n")
    rr = read_rr(path)
    assert rr.sequence == "ACDEFGHIK" and rr.target is None
    assert list(zip(rr.i, rr.j)) == [(0, 8), (1, 2)]
    m = rr.to_matrix()
    assert m[8, 0] == pytest.approx(0.7) and m[0, 1] == 0.0


@pytest.mark.parametrize("line,match", [("1 x 0 8 0.5", "line 3"), ("0 5 0 8 0.5", "start at 1"),
                                        ("1 5 0 8 1.5", "outside"), ("1 2 3 4", "line 3")])
def test_malformed_lines_name_the_line(tmp_path, line, match):
    path = tmp_path / "bad.rr"
    path.write_text(f"PFRMAT RR\nMODEL 1\n{line}\nEND\n")
    with pytest.raises(RRFormatError, match=match):
        read_rr(path)


def test_index_beyond_sequence_is_an_error(tmp_path):
    path = tmp_path / "x.rr"
    path.write_text("PFRMAT RR\nMODEL 1\nACD\n1 9 0 8 0.5\nEND\n")
    with pytest.raises(RRFormatError, match="residue 9.*3 residues"):
        read_rr(path).to_matrix()
