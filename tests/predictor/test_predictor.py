"""The user-facing API on a random tiny model: shapes, batching, options and errors."""

import numpy as np
import pytest
import torch

import contacts
from contacts.predictor import token_batches

SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHM", "MKVLAAGHWEEKLLR", "ACDEFGHIKLMNPQRSTVWY"]


@pytest.fixture(scope="module")
def model():
    return contacts.Predictor.random("small", seed=0, device="cpu")


def test_contacts_shape_dtype_and_symmetry(model):
    probs = model.predict_contacts(SEQS[0])
    assert probs.shape == (22, 22) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, probs.T, atol=1e-6)
    assert ((probs > 0) & (probs < 1)).all()


@pytest.mark.parametrize("max_tokens", [1, 30, 10_000])
def test_batched_equals_one_at_a_time(model, max_tokens):
    batched = model.predict_contacts(SEQS, max_tokens=max_tokens)
    assert [b.shape[0] for b in batched] == [22, 4, 15, 20]  # input order kept
    for seq, got in zip(SEQS, batched):
        np.testing.assert_allclose(got, model.predict_contacts(seq), atol=1e-5, rtol=0)


def test_token_batches_respect_the_budget():
    lengths = [10, 50, 20, 20, 5]
    batches = list(token_batches(lengths, max_tokens=60))
    assert sorted(i for b in batches for i in b) == list(range(5))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 60
    assert batches[0] == [1]  # longest first
    with pytest.raises(ValueError, match="max_tokens must be >= 1, got 0"):
        list(token_batches(lengths, 0))


def test_token_batches_limit_padding():
    lengths = [100, 95, 90, 60, 58, 10]
    assert list(token_batches(lengths, 10_000)) == [[0, 1, 2], [3, 4], [5]]
    assert list(token_batches(lengths, 10_000, min_fill=0)) == [[0, 1, 2, 3, 4, 5]]
    with pytest.raises(ValueError, match="min_fill must be in"):
        list(token_batches(lengths, 100, min_fill=2))


def test_attention_maps_layers_and_heads(model):
    cfg = model.config
    maps = model.attention_maps(SEQS[1])
    assert maps.shape == (cfg.num_layers, cfg.num_heads, 4, 4)
    last = model.attention_maps(SEQS[1], layers=[-1, 2])
    np.testing.assert_array_equal(last[0], maps[-1])
    np.testing.assert_array_equal(last[1], maps[1])
    with pytest.raises(ValueError, match=f"layer 0 is outside 1..{cfg.num_layers}"):
        model.attention_maps(SEQS[1], layers=0)


def test_embed_shapes_and_pooling(model):
    e = model.config.embed_dim
    assert model.embed(SEQS[0]).shape == (22, e)
    assert model.embed(SEQS[0], pool="mean").shape == (e,)
    per_layer = model.embed(SEQS[0], layers=[0, 3, -1])
    assert list(per_layer) == [0, 3, -1]  # keyed by what was asked
    np.testing.assert_array_equal(per_layer[-1], model.embed(SEQS[0], layers=model.config.num_layers))
    many = model.embed(SEQS, pool="mean", max_tokens=25)
    assert isinstance(many, np.ndarray) and many.shape == (len(SEQS), e)
    both = model.embed(SEQS, layers=[1, -1], pool="mean")
    assert list(both) == [1, -1] and both[-1].shape == (len(SEQS), e)
    np.testing.assert_allclose(both[-1], many, atol=1e-5)
    np.testing.assert_allclose(many[2], model.embed(SEQS[2], pool="mean"), atol=1e-5)
    np.testing.assert_allclose(model.embed(SEQS[2]).mean(0), many[2], atol=1e-5)
    with pytest.raises(ValueError, match="pool must be None or 'mean'"):
        model.embed(SEQS[0], pool="max")


def test_fill_mask_shapes_and_restriction(model):
    one = model.fill_mask("MKT<mask>YIAK", top_k=3)
    assert len(one) == 3 and [p["score"] for p in one] == sorted((p["score"] for p in one), reverse=True)
    assert all(p["sequence"] == f"MKT{p['token_str']}YIAK" for p in one)  # written as a sequence: no spaces
    two = model.fill_mask("<mask>KT<mask>", top_k=2)
    assert len(two) == 2 and all(len(preds) == 2 for preds in two)
    assert two[0][0]["sequence"] == f"{two[0][0]['token_str']}KT<mask>"  # the other mask stays in place
    aa = model.fill_mask("MKT<mask>YIAK", top_k=20, amino_acids_only=True)
    assert {p["token_str"] for p in aa} == set("ACDEFGHIKLMNPQRSTVWY")
    assert sum(p["score"] for p in aa) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no <mask>"):
        model.fill_mask("MKTAY")
    with pytest.raises(ValueError, match=r"top_k must be in 1..20, got 21"):
        model.fill_mask("MK<mask>", top_k=21, amino_acids_only=True)


def test_bad_sequences_name_the_problem(model):
    with pytest.raises(contacts.InvalidSequenceError, match="sequence 1: character 'J' at residue 2"):
        model.predict_contacts(["MKT", "AJ"])
    with pytest.raises(contacts.InvalidSequenceError, match="empty"):
        model.predict_contacts("")
    with pytest.raises(contacts.InvalidSequenceError) as both:
        model.predict_contacts(["MK-T", "AJ", "MKT"])
    assert str(both.value).splitlines() == [
        "2 invalid sequences:",
        "  sequence 0: gap '-' at residue 3 (an alignment symbol, not a residue: remove gaps or use the "
        "ungapped sequence)",
        "  sequence 1: character 'J' at residue 2"]


GAPPED = "MQIFV-KTLTG"
DOORS = {
    "predict_contacts": lambda m, s: m.predict_contacts(s),
    "iter_contacts": lambda m, s: list(m.iter_contacts([s])),
    "attention_maps": lambda m, s: m.attention_maps(s),
    "iter_attention": lambda m, s: list(m.iter_attention(s)),
    "embed": lambda m, s: m.embed(s),
    "logits": lambda m, s: m.logits(s),
    "fill_mask": lambda m, s: m.fill_mask(s[:2] + "<mask>" + s[3:]),
    "score_variants": lambda m, s: m.score_variants(s, "M1A"),
}


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_door_checks_sequences_alike(model, door):
    """The same check behind every method: gaps refused with the same words, a trailing '*' removed with a
    warning (the result equals the one without it), lowercase read as uppercase."""
    call = DOORS[door]
    with pytest.raises(contacts.InvalidSequenceError, match=r"gap '-' at residue 6 \(an alignment symbol"):
        call(model, GAPPED)
    with pytest.raises(contacts.InvalidSequenceError, match="gap '.' at residue 6"):
        call(model, GAPPED.replace("-", "."))
    plain = GAPPED.replace("-", "")
    expected = call(model, plain)
    with pytest.warns(contacts.StopCodonRemoved, match=r"trailing '\*' \(stop codon\) removed from "):
        stopped = call(model, plain + "*")
    lower = call(model, plain.lower())
    for got in (stopped, lower):
        for a, b in zip(_flat(expected), _flat(got)):
            np.testing.assert_array_equal(a, b)


def _flat(value):
    """The arrays and numbers of a method's result, in order."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, str):
        return [value.upper()]
    return [np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)]
    with pytest.raises(contacts.SequenceTooLongError, match="sequence 0 has 1023 residues"):
        model.embed("A" * 1023)


def test_stops_after_the_last_layer_the_regression_uses(model):
    cfg = model.config
    weight, bias = model.regression
    full = model.predict_contacts(SEQS[0])
    cut = weight.clone().view(cfg.num_layers, cfg.num_heads)
    cut[3:] = 0
    ran = []
    hooks = [layer.register_forward_hook(lambda m, i, o, n=n: ran.append(n))
             for n, layer in enumerate(model.model.layers)]
    try:
        model.set_regression(cut.view(1, -1), bias)
        early = model.predict_contacts(SEQS[0])
    finally:
        model.set_regression(weight, bias)
        for h in hooks:
            h.remove()
    assert ran == [0, 1, 2]
    assert not np.allclose(early, full)
    # Same numbers as the full pass with those coefficients.
    with torch.no_grad():
        tokens = contacts.ALPHABET.batch_encode([SEQS[0]])
        attn = model.model(tokens, need_weights=True).attentions
    from contacts.features import attention_features, contact_probabilities
    ref = contact_probabilities(attention_features(attn, tokens, contacts.ALPHABET.eos_idx), cut.view(-1), bias)
    np.testing.assert_allclose(early, ref[0].numpy(), atol=1e-5)


def test_wrong_regression_size(model):
    with pytest.raises(ValueError, match=r"has 5 coefficients; this model has 6 x 4 = 24 maps"):
        model.set_regression(torch.zeros(1, 5), torch.zeros(1))


def test_windows_cover_the_sequence():
    from contacts.predictor import windows

    assert windows(5, 8, 4) == [(0, 5)]
    assert windows(20, 8, 4) == [(0, 8), (4, 12), (8, 16), (12, 20)]
    assert windows(21, 8, 3) == [(0, 8), (5, 13), (10, 18), (13, 21)]
    with pytest.raises(ValueError, match="overlap 8 must be in 0..7"):
        windows(20, 8, 8)


def test_one_window_is_the_direct_computation(model):
    seq = SEQS[0]
    np.testing.assert_array_equal(model.predict_contacts(seq, window=22), model.predict_contacts(seq))


def test_windowed_prediction_averages_windows_and_marks_uncovered_pairs(model):
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLG"  # 28 residues
    window, overlap = 10, 4
    got = model.predict_contacts(seq, window=window, overlap=overlap)
    from contacts.predictor import windows

    total = np.zeros((28, 28))
    count = np.zeros((28, 28))
    for lo, hi in windows(28, window, overlap):
        total[lo:hi, lo:hi] += model.predict_contacts(seq[lo:hi])
        count[lo:hi, lo:hi] += 1
    expected = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    sep = np.abs(np.subtract.outer(np.arange(28), np.arange(28)))
    assert not np.isnan(got[sep <= overlap]).any()
    assert np.isnan(got[sep >= window]).all()
    # Batched with other sequences, the same numbers.
    np.testing.assert_allclose(
        model.predict_contacts([SEQS[1], seq], window=window, overlap=overlap)[1], got, atol=1e-5)


def test_window_outside_the_model_limit(model):
    with pytest.raises(ValueError, match="window 2000 is outside 1..1022"):
        model.predict_contacts("MKT", window=2000)


def test_half_precision_keeps_contacts_close_and_float32():
    ref = contacts.Predictor.random("small", seed=0, device="cpu")
    half = contacts.Predictor.random("small", seed=0, device="cpu", dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    got = half.predict_contacts(SEQS[0])
    assert got.dtype == np.float32
    # bfloat16 keeps ~3 significant digits in the encoder; softmax and APC run in float32.
    np.testing.assert_allclose(got, ref.predict_contacts(SEQS[0]), atol=0.05)
    assert not np.array_equal(got, ref.predict_contacts(SEQS[0]))
    with pytest.raises(ValueError, match="dtype 'float8' is not one of"):
        contacts.Predictor.random("small", dtype="float8")
