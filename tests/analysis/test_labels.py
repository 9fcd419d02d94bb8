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


def test_contact_points_are_the_points_contact_map_measures(structures_dir):
    from contacts.analysis.labels import contact_points, impute_cb

    structure = load_structure(structures_dir / "1aki.cif")
    xyz = structure.coords.astype(np.float64)
    np.testing.assert_array_equal(contact_points(structure), impute_cb(xyz[:, 0], xyz[:, 1], xyz[:, 2]))
    np.testing.assert_array_equal(contact_points(structure, "CA"), xyz[:, 1])
    for atom, impute in (("CB", True), ("CB", False), ("CA", True)):
        points = contact_points(structure, atom, impute=impute)
        dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
        labels = contact_map(structure, 8.0, atom, impute=impute)
        np.testing.assert_array_equal(np.isnan(labels), np.isnan(dist))
        np.testing.assert_array_equal(labels[~np.isnan(dist)], dist[~np.isnan(dist)] < 8.0)
    glycine = np.array([a == "G" for a in structure.sequence])
    np.testing.assert_array_equal(contact_points(structure, impute=False)[glycine], xyz[glycine, 1])
