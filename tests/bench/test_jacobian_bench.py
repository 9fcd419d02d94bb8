"""bench/jacobian_bench.py: the cost section on a tiny model, the doc from saved records, the notebook's order."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import jacobian_bench as bench  # noqa: E402

from contacts.predictor.jacobian import jacobian_scores  # noqa: E402


def test_the_cost_section_counts_every_pass_and_writes_its_table(tmp_path, one_thread):
    results, doc = tmp_path / "r.json", tmp_path / "evaluation.md"
    doc.write_text("# Evaluation\n\nkept text\n")
    assert bench.main(["--sections", "cost", "--cost", "random:tiny_bert:8,12", "--threads", "1",
                       "--results", str(results), "--output", str(doc)]) == 0
    records = json.loads(results.read_text())
    assert [(r["L"], r["passes"]) for r in records] == [(8, 160), (12, 240)]  # 20 substitutions a residue
    for r in records:
        assert 0 < r["forward_seconds"] < r["seconds"] and 0 < r["outside_share"] < 1
        assert r["batches"] == -(-r["L"] // (4096 // (20 * (r["L"] + 2))))  # positions a batch by the budget
    text = doc.read_text()
    assert "kept text" in text and text.count("<!-- begin jacobian-bench -->") == 1
    assert "| random:tiny_bert | 12 | 240 |" in text


def record(name, split, jacobian, **extra):
    base = {"section": "antiberty", "model": "antiberty", "name": name, "split": split, "L": 100, "center": "iajb",
            "seconds": 100.0, "outside_share": 0.02, "jacobian": jacobian, "notebook": jacobian,
            "random": {"short": 0.05, "medium": 0.04, "long": 0.02}, "orders_max_diff": 0.01, "scores_max": 1.0,
            "orders_top_overlap": 0.9, "date": "2026-12-03", "commit": "abc", "threads": 2, "load": 3.0,
            "machine": "x86_64", "torch": "2", "device": "cpu"}
    return base | extra


def test_the_doc_from_saved_records_puts_the_probe_beside_the_jacobian_on_the_test_domains(tmp_path):
    bands = ("short", "medium", "long")
    runs = [record("a_test", "test", dict(zip(bands, (0.1, 0.2, 0.05)))),
            record("b_test", "test", dict(zip(bands, (0.3, 0.1, 0.15)))),
            record("c_train", "train", dict(zip(bands, (0.2, 0.3, 0.10))))]
    probes = [{"section": "probe", "model": "antiberty", "name": n, "split": "test", "L": 100,
               "probe": dict(zip(bands, p))} for n, p in (("a_test", (0.2, 0.1, 0.1)), ("b_test", (0.0, 0.1, 0.0)))]
    first, second, doc = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "evaluation.md"
    first.write_text(json.dumps(runs + probes))
    second.write_text(json.dumps([record("c_train", "train", dict(zip(bands, (0.5, 0.5, 0.5))))]))  # replaces c
    assert bench.main(["--from-results", str(first), str(second), "--output", str(doc)]) == 0
    text = doc.read_text()
    test_mean = [np.mean([r["jacobian"][b] for r in runs[:2]]) for b in bands]
    probe_mean = [np.mean([p["probe"][b] for p in probes]) for b in bands]
    assert ("| **mean, 2 test** | | | " + " | ".join(f"{x:.3f}" for x in test_mean + probe_mean)) in text
    all_mean = [np.mean([0.1, 0.3, 0.5]), np.mean([0.2, 0.1, 0.5]), np.mean([0.05, 0.15, 0.5])]
    # 3 of the table's 12 domains: a run cut short says how much of it the mean covers
    assert ("| **mean, 3 of 12 measured** | | | " + " | ".join(f"{x:.3f}" for x in all_mean) + " | - | - | - |") in text
    assert "| c_train | train | 100 | 0.500 | 0.500 | 0.500 | - | - | - |" in text


def test_both_orders_agree_on_symmetric_norms_and_differ_on_the_others():
    rng = np.random.default_rng(0)
    norms = rng.random((12, 12)) + 1
    symmetric = (norms + norms.T) / 2
    package = jacobian_scores(torch.from_numpy(symmetric)).numpy()
    np.testing.assert_allclose(bench.notebook_order(symmetric), package, atol=1e-12)
    # APC does not commute with symmetrizing when the rows differ from the columns
    difference = np.abs(bench.notebook_order(norms) - jacobian_scores(torch.from_numpy(norms)).numpy())
    assert difference.max() > 1e-3


def test_top_overlap_counts_shared_top_pairs():
    ref = np.zeros((10, 10))
    ref[0, 9], ref[1, 8] = 2, 1
    other = ref.copy()
    assert bench.top_overlap(ref, other, 2, 6) == 1
    other[1, 8], other[2, 9] = 0, 5
    assert bench.top_overlap(ref, other, 2, 6) == 0.5


class Loaded(Exception):
    """A domain's structure was loaded: it is about to be measured."""


def test_a_rerun_into_the_same_results_skips_the_domains_already_measured(tmp_path, monkeypatch):
    def target(name):
        def load():
            raise Loaded(name)
        return SimpleNamespace(name=name, split="test", load=load)

    monkeypatch.setattr(bench, "domain_targets", lambda *args: [target(n) for n in ("a", "b", "c")])
    monkeypatch.setattr(bench, "load", lambda *args, **kwargs: None)
    results = bench.Results(None, [record("a", "test", {}), record("b", "test", {})])
    run = dict(structures=tmp_path, arrays=tmp_path / "arrays", workdir=tmp_path / "work", device="cpu")
    with pytest.raises(Loaded, match="^c$"):
        bench.antiberty(results, centers=["iajb"], **run)
    with pytest.raises(Loaded, match="^a$"):  # another centring is another measurement
        bench.antiberty(results, centers=["ab"], **run)
    with pytest.raises(Loaded, match="^a$"):
        bench.antiberty(results, centers=["iajb"], redo=True, **run)
