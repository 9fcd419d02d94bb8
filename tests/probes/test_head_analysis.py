"""analyze_heads: one pass per protein gives what attention_properties, head_scores and layer_probes give on their own."""

from __future__ import annotations

import numpy as np
import pytest
from doubles import Counting, assert_same, made_up_proteins

from contacts import Predictor
from probes.attention import attention_properties
from probes.head_analysis import analyze_heads
from probes.heads import head_scores, protein_head_scores
from probes.probing import layer_probes
from probes.proteins import load_proteins

pytestmark = pytest.mark.usefixtures("one_thread")

PROTEINS = made_up_proteins()


@pytest.fixture(scope="module")
def small():
    return Predictor.random("small", seed=3, device="cpu")  # 6 layers x 4 heads


def separately(model, proteins, properties, threshold, weighted_threshold, contact_layers):
    """The three results as the three functions compute them, each with its own pass over the proteins."""
    return (
        attention_properties(model, proteins, properties, threshold, weighted_threshold=weighted_threshold),
        head_scores(model, proteins, threshold=threshold),
        layer_probes(model, proteins, contact_layers=contact_layers, folds=3),
    )


def assert_one_pass_equals_separate(model, proteins, properties=None, threshold=0.3, weighted_threshold=0.0,
                                    contact_layers=None):
    # The contact probes' liblinear fits order their coordinates by numpy's global RNG (ContactProbe's
    # random_state=None): the same seed before each path, or the coefficients differ by ~1e-5 run to run.
    np.random.seed(0)
    counting = Counting(model)
    together = analyze_heads(counting, proteins, properties, threshold, weighted_threshold=weighted_threshold,
                             contact_layers=contact_layers, folds=3)
    assert counting.calls == [(p.sequence, model.config.num_layers) for p in proteins]  # once each, every layer
    np.random.seed(0)
    properties_, scores, probing = separately(model, proteins, properties, threshold, weighted_threshold,
                                              contact_layers)
    assert_same(properties_.arrays(), together.properties.arrays(), "properties")
    assert_same(properties_.summary(), together.properties.summary(), "properties summary")
    assert_same(vars(scores), vars(together.scores), "scores")
    assert_same(probing.summary(), together.probing.summary(), "probing")
    # and the per-head scores against the stacked maps of Predictor.attention_maps
    for k, p in enumerate(proteins):
        precision, _, _ = protein_head_scores(model.attention_maps(p.sequence), p.contacts, threshold=threshold)
        assert_same(precision, {name: a[k] for name, a in together.scores.per_protein.items()}, p.name)
    assert together.seconds["forward"] > 0 and together.seconds["probing_fit"] > 0


def test_one_pass_equals_the_three_analyses_on_their_own(small):
    assert_one_pass_equals_separate(small, PROTEINS, threshold=0.1, contact_layers=[1, 4])


def test_one_pass_equals_them_with_weighted_threshold_and_some_properties(small):
    assert_one_pass_equals_separate(small, PROTEINS, ["contact", "strand", "W"], threshold=0.2, weighted_threshold=0.05)


def test_one_pass_equals_them_on_real_structures(structures_dir):
    files = [structures_dir / name for name in ("1crr.bcif", "2rtg.bcif", "1hml.bcif", "1k6p.cif")]
    model = Predictor.random("tiny", seed=4, device="cpu")
    assert_one_pass_equals_separate(model, load_proteins(files, sse="psea"), contact_layers=[2])


def test_without_probing_and_reading_structures(small, structures_dir):
    counting = Counting(small)
    analysis = analyze_heads(counting, [structures_dir / "1crr.bcif"], ["contact", "helix"], probing=False, sse="psea")
    assert analysis.probing is None and analysis.seconds["probing"] == 0
    assert analysis.properties.sse_method == "psea" and analysis.properties.proteins == ["1crr_A"]
    assert len(counting.calls) == 1 and np.isfinite(analysis.scores.contact_rate)
