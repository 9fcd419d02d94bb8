"""Per-head scores agree with the metrics module, find a planted head, and get drawn and written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from doubles import MapsModel

from contacts import Predictor
from contacts.analysis.metrics import precision
from contacts.features import apc, symmetrize
from probes.heads import (
    RANGES,
    head_scores,
    plot_best_per_layer,
    plot_heads,
    protein_head_scores,
    write_report,
)
from probes.probe import ContactProbe
from probes.proteins import Protein


def band_labels(n: int, seed: int) -> np.ndarray:
    """Contacts scattered at every separation, a few residues unknown."""
    rng = np.random.default_rng(seed)
    labels = np.triu((rng.random((n, n)) < 0.08).astype(float), 1)
    labels = labels + labels.T
    labels[[3, 17]] = np.nan
    labels[:, [3, 17]] = np.nan
    return labels


def softmax_rows(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_precision_per_head_is_the_metrics_precision_of_its_map():
    rng = np.random.default_rng(0)
    n = 60
    maps = softmax_rows(rng.normal(size=(2, 3, n, n)) * 2).astype(np.float32)
    labels = band_labels(n, 1)
    prec, _, _ = protein_head_scores(maps, labels)
    corrected = apc(symmetrize(torch.from_numpy(maps))).numpy()
    for name, (lo, hi) in RANGES.items():
        expected = np.array([
            [precision(corrected[l, h], labels, k=n, min_separation=lo, max_separation=hi) for h in range(3)]
            for l in range(2)
        ])
        np.testing.assert_allclose(prec[name], expected, atol=1e-12)


def test_attention_on_contacts_counts_confident_attention_on_known_contacts():
    n = 30
    labels = np.zeros((n, n))
    for a in range(n - 10):
        labels[a, a + 10] = labels[a + 10, a] = 1.0
    labels[0] = labels[:, 0] = np.nan  # residue 0 unknown
    maps = np.zeros((1, 3, n, n), dtype=np.float32)
    for q in range(n):
        partner = q + 10 if q + 10 < n else q - 10
        maps[0, 0, q, partner] = 0.9  # on its contact
        maps[0, 0, q, (q + 3) % n] = 0.1  # below the threshold: ignored
        maps[0, 1, q, (q + 15) % n] = 1.0  # never on a contact
        maps[0, 2, q, partner] = 0.5
        maps[0, 2, q, (q + 15) % n] = 0.5
    _, on, mass = protein_head_scores(maps, labels, threshold=0.3)
    fraction = on / mass
    # Head 2 splits evenly, except where one of its two targets is the unknown residue 0.
    rows = np.arange(1, n)
    partner = np.where(rows + 10 < n, rows + 10, rows - 10)
    on_2 = 0.5 * np.sum(partner != 0)
    off_2 = 0.5 * np.sum((rows + 15) % n != 0)
    np.testing.assert_allclose(fraction[0], [1.0, 0.0, on_2 / (on_2 + off_2)])
    # The unknown residue's row and column are out of both sums.
    assert mass[0, 0] == pytest.approx(0.9 * np.sum(partner != 0))
    assert mass[0, 1] == pytest.approx(np.sum((rows + 15) % n != 0))
    # With no threshold the weak attention counts too.
    _, on0, mass0 = protein_head_scores(maps, labels, threshold=0.0)
    weak = 0.1 * np.sum((rows + 3) % n != 0)
    assert on0[0, 0] / mass0[0, 0] == pytest.approx(on[0, 0] / (mass[0, 0] + weak))


def planted_model(labels_by_sequence, planted=(2, 1), seed=0) -> MapsModel:
    """Random maps, except one head whose map is the contact map plus noise."""
    rng = np.random.default_rng(seed)

    def maps(sequence):
        n = len(sequence)
        out = softmax_rows(rng.normal(size=(4, 3, n, n)))
        signal = np.nan_to_num(labels_by_sequence[sequence]) + 0.3 * rng.random((n, n))
        out[planted] = signal / signal.sum(-1, keepdims=True)
        return out

    return MapsModel(maps, 4, 3, "planted")


def test_head_scores_find_the_planted_head():
    seqs = ["M" * 80, "A" * 95, "G" * 70]
    labels = {s: band_labels(len(s), k) for k, s in enumerate(seqs)}
    proteins = [Protein(f"p{k}", s, labels[s]) for k, s in enumerate(seqs)]
    # The planted map spreads its rows over many contacts, none above 0.3: count all attention.
    scores = head_scores(planted_model(labels), proteins, threshold=0.0)
    assert scores.shape == (4, 3)
    for name in ("short", "medium", "long"):
        best = np.unravel_index(np.nanargmax(scores.precision[name]), (4, 3))
        assert best == (2, 1), name
        others = np.delete(scores.precision[name].ravel(), 7)
        assert scores.precision[name][2, 1] > 2 * np.nanmax(others), name
    # (Short and medium P@L are capped by how few contacts those bands hold; long is not.)
    assert scores.precision["long"][2, 1] > 0.8
    assert np.nanargmax(scores.attention_on_contacts) == 7
    assert scores.attention_on_contacts[2, 1] > 3 * scores.contact_rate
    value, head = scores.best_per_layer("long")
    assert head[2] == 1 and value[2] == scores.precision["long"][2, 1]
    assert 0.05 < scores.contact_rate < 0.11
    records = scores.records()
    assert len(records) == 12 and records[7]["layer"] == 3 and records[7]["head"] == 1
    assert records[7]["long_P@L"] == scores.precision["long"][2, 1]


def test_head_scores_on_a_model_and_the_report(tmp_path):
    predictor = Predictor.random("small", seed=0)
    seqs = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSG", "GSHMSLFDFFKNKGSAAATATDRLKLTVDKLAEY"]
    proteins = [Protein(f"p{k}", s, band_labels(len(s), k)) for k, s in enumerate(seqs)]
    scores = head_scores(predictor, proteins)
    assert scores.precision["long"].shape == (6, 4) and scores.per_protein["long"].shape == (2, 6, 4)
    np.testing.assert_allclose(
        scores.precision["medium"], np.nanmean(scores.per_protein["medium"], axis=0)
    )
    grid = np.zeros((6, 4))
    grid[1, 2], grid[4, 0] = 0.7, -0.2
    probe = ContactProbe.from_regression(torch.tensor(grid.reshape(1, -1)), torch.tensor([-1.0]), num_heads=4)
    paths = write_report(scores, tmp_path / "report", probe=probe)
    for key in ("arrays", "records", "heatmap_long", "heatmap_attention", "best_per_layer", "summary"):
        assert paths[key].exists() and paths[key].stat().st_size > 0, key
    with np.load(paths["arrays"]) as arrays:
        np.testing.assert_array_equal(arrays["precision_long"], scores.precision["long"])
    text = paths["summary"].read_text()
    assert "2 non-zero coefficients" in text and "| layer | head |" in text
    assert len(paths["records"].read_text().strip().splitlines()) == 1 + 24


def test_heatmap_marks_exactly_the_probe_nonzero_coefficients():
    grid = np.zeros((5, 4))
    grid[0, 3], grid[2, 1], grid[4, 0] = 0.5, -0.3, 1.2
    probe = ContactProbe.from_regression(torch.tensor(grid.reshape(1, -1)), torch.tensor([0.0]), num_heads=4)
    ax = plot_heads(np.random.default_rng(0).random((5, 4)), probe=probe)
    marked = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(map(tuple, marked.astype(int).tolist())) == [(0, 4), (1, 2), (3, 0)]  # (head, layer)
    with pytest.raises(ValueError, match=r"probe's layout \(5, 4\) is not the scores' \(4, 4\)"):
        plot_heads(np.zeros((4, 4)), probe=probe)
    lines = plot_best_per_layer(scores={"x": np.arange(20.0).reshape(5, 4)}).get_lines()
    np.testing.assert_array_equal(lines[0].get_ydata(), [3, 7, 11, 15, 19])


def test_analyze_heads_command_writes_the_report(structures_dir, tmp_path, capsys):
    import argparse
    import csv

    from contacts.cli.analyze_heads import add_arguments, run

    folder = tmp_path / "structures"
    folder.mkdir()
    (folder / "5fbz_1_B.pdb").symlink_to(structures_dir / "5fbz_1_B.pdb")
    (folder / "MANIFEST.tsv").write_text("file\tchain\tsplit\n5fbz_1_B.pdb\tB\ttrain\n")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "random:tiny", "--structures", str(folder),
                              "-o", str(tmp_path / "report"), "--no-progress"])
    assert run(args) == 0
    assert "best head for long-range contacts" in capsys.readouterr().out
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"head_scores.npz", "head_scores.csv", "heads_long_P@L.png", "summary.md",
            "heads_attention_on_contacts.png", "best_head_per_layer.png"} <= names
    with open(tmp_path / "report" / "head_scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and rows[-1]["layer"] == "2" and rows[-1]["head"] == "3"
