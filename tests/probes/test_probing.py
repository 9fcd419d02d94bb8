"""Probing classifiers per layer: folds never split a protein; scores and baselines on known data; the full run."""

from __future__ import annotations

import numpy as np
import pytest

from contacts import Predictor
from probes.probing import _folds, default_contact_layers, layer_probes, residue_probe_scores
from probes.proteins import Protein

pytestmark = pytest.mark.usefixtures("one_thread")


def test_folds_never_put_a_protein_on_both_sides():
    groups = np.repeat(np.arange(7), [5, 3, 8, 2, 6, 4, 9])
    splits = _folds(groups, 5)
    assert len(splits) == 5
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested) == list(range(len(groups)))
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(ValueError, match="at least 2 proteins; got 1"):
        _folds(np.zeros(10, int), 5)


def test_separable_residues_score_one_against_the_majority_baseline():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 10)
    y = np.tile((np.arange(10) < 3).astype(int), 4)  # 30 % positives in every protein
    X = (y[:, None] + 0.05 * rng.normal(size=(40, 3))).astype(np.float32)
    scores = residue_probe_scores(X, y, groups, folds=4)
    assert scores["accuracy"] == 1.0 and scores["f1"] == 1.0
    assert scores["baseline"] == pytest.approx(np.mean(y == 0)) and scores["baseline_f1"] == 0.0


def test_a_protein_identity_feature_does_not_leak_across_folds():
    # the label is a property of the protein and the features name the protein: only a split that puts
    # a protein on both sides could score well
    groups = np.repeat(np.arange(6), 8)
    y = (groups % 2).astype(int)
    X = np.eye(6)[groups].astype(np.float32)
    scores = residue_probe_scores(X, y, groups, folds=3)
    assert scores["accuracy"] <= 0.5


def synthetic(name: str, n: int, seed: int) -> Protein:
    rng = np.random.default_rng(seed)
    sequence = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n))
    contacts = (np.abs(np.subtract.outer(np.arange(n), np.arange(n))) % 7 == 0).astype(float)
    states = rng.integers(0, 3, n)
    residues = {s: (states == k).astype(float) for k, s in enumerate(("helix", "strand", "turn"))}
    residues["binding_site"] = (rng.random(n) < 0.3).astype(float)
    return Protein(name, sequence, contacts, residues)


def test_layer_probes_on_a_random_model():
    model = Predictor.random("tiny", seed=0, device="cpu")
    proteins = [synthetic(f"p{k}", 30 + 3 * k, k) for k in range(4)]
    r = layer_probes(model, proteins, contact_layers=[1, 2], folds=2)
    layers = model.config.num_layers
    assert r.layers.tolist() == list(range(1, layers + 1))
    for name in ("secondary_structure", "binding_site", "binding_site_f1"):
        assert r.scores[name].shape == (layers,) and ((0 <= r.scores[name]) & (r.scores[name] <= 1)).all()
    y = np.concatenate([np.argmax(np.stack([p.residues[s] for s in ("helix", "strand", "turn")], 1), 1)
                        for p in proteins])
    assert r.counts["secondary_structure"] == len(y) == sum(len(p.sequence) for p in proteins)
    assert 0 < r.baselines["secondary_structure"] < 1
    assert r.contact_layers.tolist() == [1, 2] and r.contact_precision.shape == (2,)
    rate = np.mean([np.mean(p.contacts[np.triu_indices(len(p.sequence), 24)]) for p in proteins])
    assert r.contact_baseline == pytest.approx(rate)
    assert set(r.curves()) == {"secondary_structure", "binding_site", "binding_site_f1", "contact"}
    with pytest.raises(ValueError, match=r"outside 1..2"):
        layer_probes(model, proteins, contact_layers=[3])


def test_a_task_without_labels_is_left_out():
    model = Predictor.random("tiny", seed=0, device="cpu")
    proteins = [synthetic(f"p{k}", 25, k) for k in range(3)]
    proteins = [Protein(p.name, p.sequence, p.contacts, {"binding_site": p.residues["binding_site"]})
                for p in proteins]  # no secondary structure
    r = layer_probes(model, proteins, contact_layers=[], folds=3)
    assert set(r.scores) == {"binding_site", "binding_site_f1"} and r.counts["secondary_structure"] == 0
    assert len(r.contact_layers) == 0 and set(r.curves()) == {"binding_site", "binding_site_f1"}


def test_default_contact_layers_are_every_layer_up_to_12_else_8_spread_over_the_depth():
    assert default_contact_layers(6) == [1, 2, 3, 4, 5, 6] and default_contact_layers(12) == list(range(1, 13))
    assert default_contact_layers(33) == [1, 6, 10, 15, 19, 24, 28, 33]  # 1 + k * 32 / 7, rounded
    assert len(default_contact_layers(13)) == 8 and default_contact_layers(13)[-1] == 13
