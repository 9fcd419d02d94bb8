"""contacts.analysis.labels: the dtype of the labels beside the probabilities."""

import numpy as np

from contacts import Predictor, contact_map, load_structure


def test_contact_map_is_float32_like_the_probabilities(structures_dir):
    structure = load_structure(structures_dir / "1aki.cif")
    labels = contact_map(structure)
    probs = Predictor.random("tiny", device="cpu").predict_contacts(structure.sequence)
    assert labels.dtype == probs.dtype == np.float32
    assert set(np.unique(labels[~np.isnan(labels)]).tolist()) == {0.0, 1.0}
    assert contact_map(structure, sequence=structure.sequence).dtype == np.float32
