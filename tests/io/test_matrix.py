"""Contact maps as .npy, .npz and L x L text: round trips, ConKit's CCMpred layout, and named errors."""

from pathlib import Path

import numpy as np
import pytest

from contacts.io.matrix import MATRIX_SUFFIXES, MatrixFormatError, matrix_reader, read_matrix, write_matrix

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("suffix", MATRIX_SUFFIXES)
def test_round_trip_keeps_values_and_nan(tmp_path, suffix):
    m = np.random.default_rng(0).random((9, 9))
    m[2, 5] = m[5, 2] = np.nan
    back = read_matrix(write_matrix(tmp_path / f"x{suffix}", m))
    assert back.shape == (9, 9) and np.isnan(back[2, 5]) and np.isnan(back).sum() == 2
    np.testing.assert_allclose(back, m, rtol=1e-5)


def test_reads_the_ccmpred_matrix_conkit_writes():
    """ConKit's CCMpred writer: tab-separated L x L, the sequence's length, symmetric, zero diagonal."""
    m = read_matrix(DATA / "conkit_ccmpred.mat")
    n = len((DATA / "conkit_ccmpred.sequence").read_text().strip())
    assert m.shape == (n, n) and matrix_reader(DATA / "conkit_ccmpred.mat") == "L x L matrix text"
    np.testing.assert_array_equal(m, m.T)
    assert (np.diag(m) == 0).all() and (m[np.triu_indices(n, 1)] > 0).all()
    np.testing.assert_array_equal(m, np.loadtxt(DATA / "conkit_ccmpred.mat"))


def test_text_with_spaces_commas_comments_and_blank_lines(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("# plmc-style scores\n0 0.5, 0.25\n\n0.5 0 nan\n0.25 nan 0\n")
    m = read_matrix(path)
    assert m.shape == (3, 3) and m[0, 2] == 0.25 and np.isnan(m[1, 2])


def test_npz_takes_its_only_array_or_a_known_name(tmp_path):
    m = np.eye(4)
    np.savez(tmp_path / "one.npz", whatever=m)
    np.savez(tmp_path / "two.npz", seq=np.zeros(4), probs=m)
    np.savez(tmp_path / "bad.npz", a=m, b=m)
    np.testing.assert_array_equal(read_matrix(tmp_path / "one.npz"), m)
    np.testing.assert_array_equal(read_matrix(tmp_path / "two.npz"), m)
    with pytest.raises(MatrixFormatError, match=r"bad.npz holds 2 arrays \(a, b\)"):
        read_matrix(tmp_path / "bad.npz")


@pytest.mark.parametrize("name,text,match", [
    ("ragged.mat", "0 1 2\n1 0\n", "line 2: 2 columns, the first row has 3"),
    ("words.mat", "0 1\nx y\n", "line 2: 'x y' is not a row of numbers"),
    ("wide.mat", "0 1 2\n1 0 2\n", r"shape \(2, 3\); expected \(L, L\)"),
    ("x.json", "[]", "expected one of .npy, .npz"),
])
def test_errors_name_the_file_and_line(tmp_path, name, text, match):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MatrixFormatError, match=match):
        read_matrix(path)
