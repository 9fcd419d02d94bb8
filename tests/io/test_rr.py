"""CASP RR files: round trip, order, atomic writes, and the errors a reader names."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.io import rr as rr_module
from contacts.io.rr import RRFormatError, _contact_lines, read_rr, read_rr_models, write_rr

DATA = Path(__file__).parent / "data"  # ConKit-written files; make_conkit_files.py regenerates them


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


def test_write_is_atomic(tmp_path, failing_replace):
    path = tmp_path / "x.rr"
    path.write_text("old\n")
    failing_replace()
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
                                        ("1 5 0 8 1.5", "outside"), ("1 2 3 4 0.5 9", "line 3.*6 columns"),
                                        ("4 4 0.5", "line 3.*itself"), ("RMODE2 x", "line 3.*cannot read"),
                                        ("A12 B34 0 8 0.5", "line 3")])
def test_malformed_lines_name_the_line(tmp_path, line, match):
    path = tmp_path / "bad.rr"
    path.write_text(f"PFRMAT RR\nMODEL 1\n{line}\nEND\n")
    with pytest.raises(RRFormatError, match=match):
        read_rr(path)


def test_index_beyond_sequence_is_an_error(tmp_path):
    path = tmp_path / "x.rr"
    path.write_text("PFRMAT RR\nMODEL 1\nACD\n1 9 0 8 0.5\nEND\n")
    with pytest.raises(RRFormatError, match="x.rr line 4: pair 1 9 lies beyond the sequence of 3 residues"):
        read_rr(path)  # at the reader's door, not when a map is made
    path.write_text("PFRMAT RR\nMODEL 1\n1 9 0 8 0.5\nEND\n")
    with pytest.raises(RRFormatError, match="residue 9.*3 residues"):
        read_rr(path).to_matrix(3)


def conkit_expected(name):
    """Contacts of a fixture as ConKit read them back: {model: [(i, j, lb, ub, score), ...]} (1-based)."""
    rows = [line.split("\t") for line in (DATA / f"{name}.expected.tsv").read_text().splitlines()[1:]]
    out = {}
    for model, i, j, lb, ub, score in rows:
        out.setdefault(int(model), []).append((int(i), int(j), float(lb), float(ub), float(score)))
    return out


def as_rows(rr):
    return [(int(a) + 1, int(b) + 1, lo, hi, p)
            for a, b, lo, hi, p in zip(rr.i, rr.j, rr.d_lower, rr.d_upper, rr.probability)]


@pytest.mark.parametrize("name", ["conkit_one_model", "conkit_two_models", "conkit_rescaled"])
def test_conkit_written_files_read_pair_for_pair(name):
    """ConKit ends each model with ENDMDL; the sequence must not swallow it, every pair must match."""
    expected = conkit_expected(name)
    models = read_rr_models(DATA / f"{name}.rr")
    assert [m.model for m in models] == sorted(expected)
    text = (DATA / f"{name}.rr").read_text().splitlines()
    sequence_lines = [line for line in text if line.isalpha() and line not in ("ENDMDL", "END")]
    for rr in models:
        assert rr.target == "T0999"
        assert "ENDMDL" not in rr.sequence and rr.sequence == sequence_lines[0] + sequence_lines[1]
        assert rr.to_matrix().shape == (len(rr.sequence),) * 2
        np.testing.assert_allclose(as_rows(rr), expected[rr.model])


def test_several_models_first_by_default_model_chooses_all_listed():
    first, second = read_rr(DATA / "conkit_two_models.rr"), read_rr(DATA / "conkit_two_models.rr", model=2)
    expected = conkit_expected("conkit_two_models")
    assert first.model == 1 and second.model == 2 and first.models == second.models == (1, 2)
    np.testing.assert_allclose(as_rows(first), expected[1])
    np.testing.assert_allclose(as_rows(second), expected[2])
    with pytest.raises(RRFormatError, match="no MODEL 3; models present: 1, 2"):
        read_rr(DATA / "conkit_two_models.rr", model=3)


def test_headers_in_any_order_and_every_column_variant(tmp_path):
    path = tmp_path / "casp.rr"
    path.write_text(
        "REMARK written by hand\nMETHOD none\nTARGET T0001\nAUTHOR 0000\nPFRMAT RR\nRMODE 2\n"
        "ACDEFGHIKL\nMODEL 1\n1 9\n2 8 0.6\n3 7 0 6\n10 4 2 8 0.25\nENDMDL\nEND\n"
    )
    rr = read_rr(path)
    assert rr.target == "T0001" and rr.sequence == "ACDEFGHIKL" and rr.models == (1,)
    assert as_rows(rr) == [(1, 9, 0.0, 8.0, 1.0), (2, 8, 0.0, 8.0, 0.6), (3, 7, 0.0, 6.0, 1.0), (4, 10, 2.0, 8.0, 0.25)]


def test_header_sequence_holds_for_models_without_their_own(tmp_path):
    path = tmp_path / "x.rr"
    path.write_text("PFRMAT RR\nACDEF\nMODEL 1\n1 5 0.5\nENDMDL\nMODEL 2\nACDEG\n1 4 0.5\nENDMDL\nEND\n")
    one, two = read_rr_models(path)
    assert one.sequence == "ACDEF" and two.sequence == "ACDEG"


def test_reads_back_what_write_rr_writes_and_missing_pairs_can_be_nan(tmp_path):
    probs = random_map(12)
    rr = read_rr(write_rr(tmp_path / "x.rr", probs, "A" * 12, "T", max_pairs=5))
    assert len(rr.i) == 5 and rr.models == (1,)
    m = rr.to_matrix(fill=np.nan)
    assert np.isfinite(m).sum() == 10  # 5 pairs, both triangles


@pytest.mark.parametrize("text,match", [
    ("MODEL 1\n1 5 0.5\nMODEL 1\n1 6 0.5\n", "line 3: MODEL 1 appears a second time"),
    ("MODEL x\n", "line 1.*MODEL <number>"),
    ("MODEL 1\n1 5 0.5\nENDMDL\n2 6 0.5\n", "line 4.*outside a MODEL"),
])
def test_model_structure_errors_name_the_line(tmp_path, text, match):
    path = tmp_path / "bad.rr"
    path.write_text(text)
    with pytest.raises(RRFormatError, match=match):
        read_rr(path)


# ----------------------------------------------------------------------------- writing at memory speed


def reference_lines(i, j, p, middle=" 0 8 "):
    """What write_rr wrote one pair at a time before it formatted whole arrays: numpy's shortest repr."""
    return "".join(f"{a} {b}{middle}{np.format_float_positional(x, unique=True, trim='0')}\n"
                   for a, b, x in zip(i, j, p))


EDGES = np.array([0, 1, 0.5, 0.1, 0.01, 1e-7, 0.99999994, 2**-10, 2**-23, 2**-24, 0.396484375, 0.018554687],
                 np.float32)


def edge_values():
    """Ends of the range, values below 1e-7 (written one by one), powers of two (their float32 spacing halves
    below them) and their neighbours, and values exactly halfway between two shortest decimals."""
    powers = (2.0 ** -np.arange(1, 40)).astype(np.float32)
    tiny = np.array([np.nextafter(np.float32(1e-7), np.float32(0)), 3e-8, 1e-30, 1e-45], np.float32)
    return np.concatenate([EDGES, tiny, powers, np.nextafter(powers, np.float32(0)), np.nextafter(powers, np.float32(1))])


@pytest.mark.parametrize("draw", ["uniform", "skewed", "edges"])
def test_whole_array_digits_are_numpys_shortest_repr_byte_for_byte(draw):
    rng = np.random.default_rng(7)
    p = {"uniform": lambda: rng.random(50_000, dtype=np.float32),
         "skewed": lambda: np.exp(-rng.random(50_000) * 40).astype(np.float32),
         "edges": edge_values}[draw]()
    # residue numbers of every width up to seven digits (long sequences are written in windows)
    i, j = rng.integers(1, 10**rng.integers(1, 8, len(p))), rng.integers(1, 10**6, len(p))
    assert _contact_lines(i, j, p, " 0 8 ").tobytes().decode() == reference_lines(i, j, p)


@pytest.mark.parametrize("chunk", [None, 1000])  # 1000: several chunks, whatever the default is
def test_float32_file_is_what_one_pair_at_a_time_wrote(tmp_path, monkeypatch, chunk):
    if chunk:
        monkeypatch.setattr(rr_module, "_CHUNK", chunk)
    rng = np.random.default_rng(3)
    probs = rng.random((120, 120), dtype=np.float32)
    probs = np.triu(probs, 1) + np.triu(probs, 1).T
    probs[5, 50] = probs[50, 5] = probs[7, 9] = probs[9, 7] = probs[1, 2]  # ties: (i, j) order
    probs[3, 40] = probs[40, 3] = np.nan
    probs[:4, 60:64] = probs[60:64, :4] = EDGES[:4].reshape(1, 4)
    text = write_rr(tmp_path / "x.rr", probs, "A" * 120, "T", min_separation=3).read_text()
    i, j = np.triu_indices(120, 3)
    keep = ~np.isnan(probs[i, j])
    i, j = i[keep], j[keep]
    order = np.argsort(-probs[i, j], kind="stable")
    body = text.split("MODEL 1\n", 1)[1].split("\n", 3)[3]  # after the three sequence lines
    assert body == reference_lines(i[order] + 1, j[order] + 1, probs[i, j][order]) + "END\n"


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 40), data=st.data())
def test_random_float32_maps_read_back_exactly(tmp_path_factory, length, data):
    """Every probability reads back as the same float32, pairs by probability descending, ties in (i, j) order."""
    values = st.floats(0, 1, width=32) | st.just(np.nan) | st.sampled_from(edge_values().tolist())
    upper = data.draw(st.lists(values, min_size=length * length, max_size=length * length))
    probs = np.array(upper, np.float32).reshape(length, length)
    probs = np.triu(probs, 1) + np.triu(probs, 1).T
    separation = data.draw(st.integers(1, 3))
    path = write_rr(tmp_path_factory.mktemp("rr") / "x.rr", probs, "A" * length, "T", min_separation=separation)
    rr = read_rr(path)
    i, j = np.triu_indices(length, separation)
    keep = ~np.isnan(probs[i, j])
    expected = sorted(zip(-probs[i, j][keep], i[keep], j[keep]))
    got = list(zip(-rr.probability.astype(np.float32), rr.i, rr.j))
    assert [(float(a), int(b), int(c)) for a, b, c in got] == [(float(a), int(b), int(c)) for a, b, c in expected]


def test_negative_zero_and_maps_without_pairs(tmp_path):
    probs = np.full((3, 3), 0.25, np.float32)
    probs[0, 2] = probs[2, 0] = -0.0
    rr = read_rr(write_rr(tmp_path / "x.rr", probs, "AAA", "T"))
    assert list(zip(rr.i, rr.j, rr.probability)) == [(0, 1, 0.25), (1, 2, 0.25), (0, 2, 0.0)]
    for probs in (np.zeros((1, 1), np.float32), np.full((4, 4), np.nan, np.float32)):
        text = write_rr(tmp_path / "y.rr", probs, "A" * len(probs), "T").read_text()
        assert text.endswith("MODEL 1\n" + "A" * len(probs) + "\nEND\n")
