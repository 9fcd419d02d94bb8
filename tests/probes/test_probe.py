"""ContactProbe: scikit-learn conventions, a planted signal, and exchange with fair-esm."""

from __future__ import annotations

from argparse import Namespace
from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from contacts.features import ContactAccumulator, attention_features
from probes.probe import (
    BIAS_KEY,
    WEIGHT_KEY,
    ContactProbe,
    ProbeFileError,
    all_heads,
    first_layers,
    head_columns,
    select_features,
    top_heads,
)

esm = pytest.importorskip("esm")


@parametrize_with_checks([ContactProbe(), ContactProbe(C=1.0, penalty="l2", solver="lbfgs")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- a planted signal ---------------------------------------------------------------------

LAYERS, HEADS = 6, 8
PLANTED = np.array([[1, 3], [4, 0], [5, 6]])  # 0-based (layer, head)


def planted_pairs(n: int, seed: int, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Pair features where three known heads see contacts through unit noise; the rest is noise."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    X = rng.normal(size=(n, LAYERS * HEADS))
    X[:, head_columns(PLANTED, HEADS)] += signal * y[:, None]
    return X, y


def precision_at(scores: np.ndarray, y: np.ndarray, k: int) -> float:
    return float(y[np.argsort(-scores, kind="stable")[:k]].mean())


def test_planted_heads_carry_the_weight_and_beat_any_single_head():
    X, y = planted_pairs(6000, seed=0)
    probe = ContactProbe(num_heads=HEADS).fit(X, y)

    weight = np.abs(probe.coef_grid())
    planted = np.zeros_like(weight, dtype=bool)
    planted[tuple(PLANTED.T)] = True
    assert planted.shape == (LAYERS, HEADS)
    # L1 leaves the noise heads with at most crumbs of weight.
    assert weight[planted].min() > 5 * weight[~planted].max()
    assert {tuple(h) for h in PLANTED} <= {tuple(h) for h in probe.nonzero_heads()}

    X_test, y_test = planted_pairs(6000, seed=1)
    k = int(y_test.sum())
    probe_precision = precision_at(probe.predict_proba(X_test)[:, 1], y_test, k)
    single = [precision_at(X_test[:, j], y_test, k) for j in range(X_test.shape[1])]
    assert probe_precision > max(single) + 0.05, (probe_precision, max(single))


def test_l1_is_sparser_than_l2_on_the_same_data():
    X, y = planted_pairs(3000, seed=2)
    l1 = ContactProbe(num_heads=HEADS).fit(X, y)
    l2 = ContactProbe(penalty="l2", num_heads=HEADS).fit(X, y)
    assert np.count_nonzero(l1.coef_) < np.count_nonzero(l2.coef_) == LAYERS * HEADS


def test_defaults_are_rao_et_al():
    params = ContactProbe().get_params()
    assert (params["C"], params["penalty"], params["solver"]) == (0.15, "l1", "liblinear")


# -- layout helpers -----------------------------------------------------------------------


def test_all_heads_is_layer_major_like_fair_esm():
    heads = all_heads(3, 4)
    assert np.array_equal(head_columns(heads, 4), np.arange(12))
    assert tuple(heads[5]) == (1, 1)
    assert np.array_equal(first_layers(2, 4), heads[:8])


def test_top_heads_picks_the_best_and_skips_nan():
    scores = np.array([[0.1, np.nan, 0.9], [0.5, 0.8, 0.0]])
    assert top_heads(scores, 2).tolist() == [[0, 2], [1, 1]]
    with pytest.raises(ValueError, match="k=7 is outside 1..6"):
        top_heads(scores, 7)


def test_subset_probe_expands_to_the_full_layout():
    X, y = planted_pairs(3000, seed=3)
    subset = np.array([[0, 0], [1, 3], [5, 6]])
    probe = ContactProbe(heads=subset, num_layers=LAYERS, num_heads=HEADS)
    probe.fit(select_features(X, subset, HEADS), y)
    assert probe.coef_.shape == (1, 3)
    weight, bias = probe.to_regression()
    assert weight.shape == (1, LAYERS * HEADS)
    assert torch.equal(weight[0, head_columns(subset, HEADS)], torch.tensor(probe.coef_[0]).float())
    assert np.count_nonzero(weight.numpy()) == np.count_nonzero(probe.coef_)
    assert probe.last_layer == 6 and bias.shape == (1,)
    # Same predictions from the subset columns and from the expanded full layout.
    full = X @ weight[0].double().numpy() + bias.item()
    np.testing.assert_allclose(probe.decision_function(select_features(X, subset, HEADS)), full, rtol=1e-5, atol=1e-5)


def test_last_layer_follows_the_nonzero_coefficients():
    X, y = planted_pairs(3000, seed=4)
    head = np.array([[1, 3]])
    X1 = select_features(X, head, HEADS)
    probe = ContactProbe(heads=head, num_layers=LAYERS, num_heads=HEADS).fit(X1, y)
    assert probe.last_layer == 2
    # Extra layers in the target model get zeros; fewer than the probe uses is an error.
    weight, _ = probe.to_regression(num_layers=10)
    assert weight.shape == (1, 10 * HEADS) and np.count_nonzero(weight.numpy()) == 1
    with pytest.raises(ValueError, match="uses layer 2"):
        probe.to_regression(num_layers=1)


@pytest.mark.parametrize(
    "kwargs, width, match",
    [
        (dict(num_heads=7), 48, "not a whole number of layers of 7 heads"),
        (dict(num_layers=5, num_heads=8), 48, "5 \\* 8 = 40"),
        (dict(heads=[[0, 0]], num_heads=8), 1, "needs num_layers and num_heads"),
        (dict(heads=[[0, 9]], num_layers=6, num_heads=8), 1, "head \\(0, 9\\) is outside the 6 x 8"),
        (dict(heads=[[0, 1], [0, 1]], num_layers=6, num_heads=8), 2, "duplicates"),
        (dict(heads=[[0, 1]], num_layers=6, num_heads=8), 2, "1 heads given for 2 feature columns"),
        (dict(penalty="elasticnet"), 4, "penalty='elasticnet'"),
    ],
)
def test_bad_layouts_are_refused_in_fit_with_the_values(kwargs, width, match):
    X, y = planted_pairs(200, seed=5)
    with pytest.raises(ValueError, match=match):
        ContactProbe(**kwargs).fit(X[:, :width], y)


# -- the fair-esm regression layout -------------------------------------------------------


def test_save_writes_fair_esm_layout_with_plain_metadata(tmp_path):
    X, y = planted_pairs(3000, seed=6)
    probe = ContactProbe(num_heads=HEADS).fit(X, y)
    path = probe.save(tmp_path / "probe.pt", metadata={"model": "tiny", "proteins": ["1abc_A"]})
    data = torch.load(path, weights_only=True)
    assert set(data["model"]) == {WEIGHT_KEY, BIAS_KEY}
    assert data["model"][WEIGHT_KEY].shape == (1, LAYERS * HEADS)
    assert data["model"][BIAS_KEY].shape == (1,)
    meta = data["probe"]
    assert (meta["model"], meta["proteins"], meta["C"]) == ("tiny", ["1abc_A"], 0.15)
    assert (meta["num_layers"], meta["num_heads"], len(meta["heads"])) == (LAYERS, HEADS, 48)
    assert meta["n_pairs"] == 3000 and meta["n_contacts"] == int(y.sum()) and meta["date"]


def test_save_load_round_trip_full_and_subset(tmp_path):
    X, y = planted_pairs(3000, seed=7)
    full = ContactProbe(num_heads=HEADS).fit(X, y)
    subset = np.array([[1, 3], [4, 0], [5, 6], [2, 2]])
    part = ContactProbe(heads=subset, num_layers=LAYERS, num_heads=HEADS).fit(
        select_features(X, subset, HEADS), y
    )
    for probe, X_in in ((full, X), (part, select_features(X, subset, HEADS))):
        loaded = ContactProbe.load(probe.save(tmp_path / "p.pt"))
        np.testing.assert_allclose(loaded.coef_, probe.coef_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(loaded.predict_proba(X_in), probe.predict_proba(X_in), atol=1e-6)
        assert np.array_equal(loaded.heads_, probe.heads_)
        assert (loaded.num_layers_, loaded.num_heads_) == (LAYERS, HEADS)
        assert loaded.get_params()["C"] == probe.C


def released_style_file(path, layers=33, heads=20, seed=0):
    """A file laid out as fair-esm's released ``*-contact-regression.pt``: only ``"model"``."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(1, layers * heads, generator=g) * (torch.rand(1, layers * heads, generator=g) < 0.2)
    torch.save({"model": {WEIGHT_KEY: weight, BIAS_KEY: torch.tensor([-3.0])}}, path)
    return weight


def test_released_layout_loads_as_a_probe(tmp_path):
    weight = released_style_file(tmp_path / "esm1b-contact-regression.pt")
    probe = ContactProbe.load(tmp_path / "esm1b-contact-regression.pt", num_heads=20)
    assert probe.coef_.shape == (1, 660)
    assert (probe.num_layers_, probe.num_heads_) == (33, 20)
    np.testing.assert_array_equal(probe.coef_grid(), weight.reshape(33, 20).numpy())
    assert torch.equal(probe.to_regression()[0], weight)
    # Without num_heads the coefficients load; placing them on (layer, head) is refused.
    blind = ContactProbe.load(tmp_path / "esm1b-contact-regression.pt")
    assert blind.coef_.shape == (1, 660) and blind.heads_ is None
    with pytest.raises(ValueError, match="layout is unknown"):
        blind.nonzero_heads()


def test_load_is_strict_and_safe(tmp_path):
    torch.save({"model": {WEIGHT_KEY: torch.zeros(1, 8)}}, tmp_path / "missing.pt")
    with pytest.raises(ProbeFileError, match=r"missing keys \['contact_head.regression.bias'\]"):
        ContactProbe.load(tmp_path / "missing.pt")
    torch.save(
        {"model": {WEIGHT_KEY: torch.zeros(1, 8), BIAS_KEY: torch.zeros(1), "extra": torch.zeros(1)}},
        tmp_path / "extra.pt",
    )
    with pytest.raises(ProbeFileError, match=r"unexpected keys \['extra'\]"):
        ContactProbe.load(tmp_path / "extra.pt")
    torch.save({"model": {WEIGHT_KEY: torch.zeros(8), BIAS_KEY: torch.zeros(1)}}, tmp_path / "shape.pt")
    with pytest.raises(ProbeFileError, match=r"weight has shape \(8,\)"):
        ContactProbe.load(tmp_path / "shape.pt")
    # fairseq-era files carry an argparse.Namespace: allowed; any other object is refused.
    torch.save({"model": {WEIGHT_KEY: torch.zeros(1, 8), BIAS_KEY: torch.zeros(1)}, "args": Namespace(a=1)}, tmp_path / "args.pt")
    assert ContactProbe.load(tmp_path / "args.pt").coef_.shape == (1, 8)
    torch.save({"model": {WEIGHT_KEY: torch.zeros(1, 8), BIAS_KEY: torch.zeros(1)}, "x": Fraction(1, 3)}, tmp_path / "pickle.pt")
    with pytest.raises(ProbeFileError, match="refused"):
        ContactProbe.load(tmp_path / "pickle.pt")
    torch.save({"model": {WEIGHT_KEY: torch.zeros(1, 10), BIAS_KEY: torch.zeros(1)}}, tmp_path / "odd.pt")
    with pytest.raises(ProbeFileError, match="10 coefficients are not a whole number of layers of 4"):
        ContactProbe.load(tmp_path / "odd.pt", num_heads=4)


# -- round trip through fair-esm ------------------------------------------------------------


def tiny_fair_esm(layers=2, heads=4, embed_dim=32, seed=0):
    """A random-weight fair-esm ESM-1b of a tiny shape, and its checkpoint dict (no regression)."""
    torch.manual_seed(seed)
    args = Namespace(
        arch="roberta_large", layers=layers, embed_dim=embed_dim, ffn_embed_dim=2 * embed_dim,
        attention_heads=heads, max_positions=1024, emb_layer_norm_before=True,
        token_dropout=True, final_bias=True,
    )
    alphabet = esm.Alphabet.from_architecture("roberta_large")
    model = esm.ProteinBertModel(args, alphabet).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("contact_head.")}
    return model, alphabet, {"args": args, "model": state}


SEQUENCES = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVV",
    "GSHMSLFDFFKNKGSAAATATDRLKLTVDKLAEYADGKL",
]


def fair_esm_features(model, alphabet):
    """fair-esm's attention maps for SEQUENCES, as this package's pair features."""
    _, _, tokens = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(SEQUENCES)])
    with torch.no_grad():
        attn = model(tokens, need_head_weights=True)["attentions"]
    return tokens, attn, attention_features(attn, tokens, alphabet.eos_idx)


def planted_labels(features, lengths, cols):
    """Contacts defined by a few maps, so that a fitted probe is not all zeros."""
    X, y = [], []
    for f, n in zip(features, lengths):
        f = f[:n, :n].numpy()
        i, j = np.triu_indices(n, 6)
        pair = f[i, j]
        score = pair[:, cols].sum(1)
        X.append(pair)
        y.append((score > np.quantile(score, 0.9)).astype(int))
    return np.concatenate(X), np.concatenate(y)


@pytest.mark.parametrize("subset", [False, True])
def test_probe_drops_into_fair_esm_and_gives_the_same_contacts(tmp_path, subset):
    layers, heads = 2, 4
    model, alphabet, checkpoint = tiny_fair_esm(layers, heads)
    tokens, attn, features = fair_esm_features(model, alphabet)
    lengths = [len(s) for s in SEQUENCES]
    X, y = planted_labels(features, lengths, cols=[1, 6])
    if subset:
        used = np.array([[0, 1], [1, 2]])  # heads of both layers, so the layout matters
        probe = ContactProbe(C=1.0, heads=used, num_layers=layers, num_heads=heads)
        probe.fit(select_features(X, used, heads), y)
    else:
        probe = ContactProbe(C=1.0, num_heads=heads).fit(X, y)
    assert np.count_nonzero(probe.coef_) >= 2
    path = probe.save(tmp_path / "tiny-contact-regression.pt", metadata={"model": "tiny"})

    # fair-esm's own loader merges the file into the checkpoint, strictly.
    regression = torch.load(path, map_location="cpu", weights_only=True)
    reference, _ = esm.pretrained.load_model_and_alphabet_core("esm1b_tiny", checkpoint, regression)
    reference.eval()
    with torch.no_grad():
        theirs = reference.predict_contacts(tokens).numpy()

    ours_features = features if not subset else select_features(features, used, heads)
    weight, bias = probe.to_regression()
    accumulator = ContactAccumulator(weight[0], bias[0], num_heads=heads)
    for layer in range(1, layers + 1):
        accumulator.add(layer, attn[:, layer - 1], tokens, alphabet.eos_idx)
    streamed = accumulator.probabilities(len(SEQUENCES), tokens.shape[1] - 2).numpy()
    ours = probe.contact_map(ours_features)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(ours[b, :n, :n], theirs[b, :n, :n], atol=1e-5)
        np.testing.assert_allclose(streamed[b, :n, :n], theirs[b, :n, :n], atol=1e-5)
    # And back: the file fair-esm read loads as the same probe.
    again = ContactProbe.load(path)
    np.testing.assert_allclose(again.contact_map(ours_features), ours, atol=1e-6)


def test_fair_esm_head_weights_load_as_a_probe():
    """The other direction: a fair-esm model's contact head read as a ContactProbe."""
    model, alphabet, _ = tiny_fair_esm(2, 4, seed=1)
    torch.nn.init.normal_(model.contact_head.regression.weight)
    tokens, _, features = fair_esm_features(model, alphabet)
    state = {f"contact_head.{k}": v for k, v in model.contact_head.state_dict().items()}
    probe = ContactProbe.from_state({"model": state}, num_heads=4)
    with torch.no_grad():
        theirs = model.predict_contacts(tokens).numpy()
    n = len(SEQUENCES[1])
    np.testing.assert_allclose(probe.contact_map(features)[1, :n, :n], theirs[1, :n, :n], atol=1e-5)


# -- with this package's predictor ----------------------------------------------------------


@pytest.mark.parametrize("heads", [None, np.array([[1, 1], [3, 2]])])
def test_predictor_with_a_probe_gives_the_probe_contacts_and_stops_early(heads, monkeypatch):
    from einops import rearrange

    from contacts import Predictor
    from contacts.features import apc, symmetrize
    from probes import probe_of, use_probe
    from probes.pairs import collect_pairs
    from probes.proteins import Protein

    predictor = Predictor.random("small", seed=2)  # 6 layers x 4 heads
    seq = SEQUENCES[0]
    maps = torch.from_numpy(predictor.attention_maps(seq))
    features = rearrange(apc(symmetrize(maps)), "l h i j -> i j (l h)").numpy()
    planted = features[..., 5] + features[..., 14]
    labels = (planted > np.quantile(planted, 0.9)).astype(float)
    pairs = collect_pairs(predictor, [Protein("p", seq, np.maximum(labels, labels.T))], heads=heads)
    probe = ContactProbe(C=1.0, heads=heads, num_layers=6, num_heads=4).fit(pairs.X, pairs.y)
    assert np.count_nonzero(probe.coef_) >= 1

    use_probe(predictor, probe)
    seen = []
    original = predictor.model.iter_layers

    def recording(*args, **kwargs):
        seen.append(kwargs.get("num_layers"))
        return original(*args, **kwargs)

    monkeypatch.setattr(predictor.model, "iter_layers", recording)
    ours = predictor.predict_contacts(seq)
    cols = slice(None) if heads is None else head_columns(heads, 4)
    np.testing.assert_allclose(ours, probe.contact_map(features[..., cols]), atol=1e-5)
    assert seen == [probe.last_layer]
    if heads is not None:
        assert probe.last_layer == 4  # the model never ran layers 5-6
    back = probe_of(predictor)
    np.testing.assert_allclose(back.coef_grid(), probe.coef_grid(), atol=1e-7)


def test_saved_probe_is_a_regression_file_for_load_model(tmp_path):
    """``load_model(source, regression=probe.pt)`` reads the file through the package loader."""
    from contacts.io.regression import read_regression

    X, y = planted_pairs(2000, seed=8)
    subset = np.array([[1, 3], [4, 0]])
    probe = ContactProbe(heads=subset, num_layers=LAYERS, num_heads=HEADS).fit(
        select_features(X, subset, HEADS), y
    )
    regression = read_regression(probe.save(tmp_path / "p.pt"), LAYERS * HEADS)
    weight, bias = regression.weight, regression.bias
    expected_weight, expected_bias = probe.to_regression()
    assert torch.equal(weight, expected_weight) and torch.equal(bias, expected_bias)


# -- the train-probe command ----------------------------------------------------------------


@pytest.fixture
def small_structures(structures_dir, tmp_path):
    """Three short chains of the shared set under a manifest of their own, split train/valid."""
    import csv

    with open(structures_dir / "MANIFEST.tsv", newline="") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh, delimiter="\t")}
    folder = tmp_path / "structures"
    folder.mkdir()
    chosen = [("5fbz_1_B.pdb", "train"), ("2zc3_1_C.pdb", "train"), ("1h75_1_A.pdb", "valid")]
    with open(folder / "MANIFEST.tsv", "w") as fh:
        fh.write("file\tchain\tsplit\n")
        for name, split in chosen:
            (folder / name).symlink_to(structures_dir / name)
            fh.write(f"{name}\t{rows[name]['chain']}\t{split}\n")
    return folder


def test_train_probe_command_writes_a_probe_with_its_record(small_structures, tmp_path, capsys):
    import argparse

    from contacts.cli.train_probe import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "probe.pt"
    args = parser.parse_args([
        "--model", "random:tiny", "--structures", str(small_structures), "-o", str(out),
        "--select-C", "0.1", "1.0", "--folds", "2", "--heads", "layers:1", "--no-progress",
    ])
    assert run(args) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    data = torch.load(out, weights_only=True)
    assert data["model"][WEIGHT_KEY].shape == (1, 8)  # tiny: 2 layers x 4 heads, full layout
    assert not data["model"][WEIGHT_KEY][0, 4:].any()  # layer 2 unused
    meta = data["probe"]
    assert meta["proteins"] == ["5fbz_1_B", "2zc3_1_C"] and meta["split"] == "train"
    assert meta["heads"] == [[0, h] for h in range(4)] and meta["model"] == "random:tiny"
    assert [row["C"] for row in meta["selection"]] == [0.1, 1.0] and meta["C"] in (0.1, 1.0)
    assert ContactProbe.load(out).n_features_in_ == 4
