import warnings

import numpy as np
import pytest
import torch

from contacts import features
from contacts.features import (
    FUSED_ENV,
    ContactAccumulator,
    apc,
    attention_features,
    contact_probabilities,
    contact_term,
    fused_contact_term,
    fused_default,
    strip_special,
    symmetrize,
)

EOS = 2


def test_apc_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # a1 = row sums (3, 7), a2 = column sums (4, 6), total 10.
    expected = x - torch.tensor([[3 * 4, 3 * 6], [7 * 4, 7 * 6]]) / 10
    torch.testing.assert_close(apc(x), expected)


def test_apc_ignores_zero_padding():
    x = torch.rand(5, 5)
    padded = torch.zeros(8, 8)
    padded[:5, :5] = x
    torch.testing.assert_close(apc(padded)[:5, :5], apc(x))


def test_symmetrize():
    x = torch.rand(3, 4, 4)
    s = symmetrize(x)
    torch.testing.assert_close(s, s.transpose(-1, -2))
    torch.testing.assert_close(s[0, 1, 2], x[0, 1, 2] + x[0, 2, 1])


def test_strip_special_removes_cls_and_eos_of_each_sequence():
    tokens = torch.tensor([[0, 5, 6, 7, 2], [0, 5, 6, 2, 1]])
    att = torch.rand(2, 1, 1, 5, 5)
    out = strip_special(att, tokens, EOS)
    assert out.shape == (2, 1, 1, 3, 3)
    torch.testing.assert_close(out[0, 0, 0], att[0, 0, 0, 1:4, 1:4])
    assert (out[1, 0, 0, 2] == 0).all() and (out[1, 0, 0, :, 2] == 0).all()  # the shorter one's eos


def test_streaming_equals_materialized_features():
    gen = torch.Generator().manual_seed(0)
    b, l, h, t = 2, 3, 4, 9
    att = torch.rand(b, l, h, t, t, generator=gen).softmax(-1)
    tokens = torch.tensor([[0] + [5] * 7 + [2], [0] + [5] * 5 + [2, 1, 1]])
    att = att * tokens.ne(1)[:, None, None, :, None] * tokens.ne(1)[:, None, None, None, :]
    weight, bias = torch.randn(l * h, generator=gen), 0.3
    ref = contact_probabilities(attention_features(att, tokens, EOS), weight, bias)
    acc = ContactAccumulator(weight, bias, h)
    for layer in range(1, l + 1):
        acc.add(layer, att[:, layer - 1], tokens, EOS)
    np.testing.assert_allclose(acc.probabilities(b, t - 2), ref, atol=1e-6)


def test_last_layer_of_the_regression():
    w = torch.zeros(5, 4)
    assert ContactAccumulator(w.flatten(), 0.0, 4).last_layer == 0
    w[2, 1] = 0.5
    assert ContactAccumulator(w.flatten(), 0.0, 4).last_layer == 3


# ----------------------------------------------------------------------------- the fused contact pass

PAD = 1


def scores_batch(seed=0, b=3, h=4, lengths=(11, 8, 5), heads_scale=3.0):
    """Scaled QK^T of a padded batch as the encoder makes them (padded keys -inf), and its tokens."""
    gen = torch.Generator().manual_seed(seed)
    t = max(lengths) + 2
    tokens = torch.full((b, t), PAD)
    for row, n in enumerate(lengths):
        tokens[row, : n + 2] = torch.tensor([0] + [5] * n + [EOS])
    scores = torch.randn(b, h, t, t, generator=gen) * heads_scale
    return scores.masked_fill(tokens.eq(PAD)[:, None, None, :], float("-inf")), tokens


def softmax_path(scores, tokens, weight, h):
    """The unfused pass: float32 softmax maps, padded rows and columns zeroed (as the encoder yields them)."""
    acc = ContactAccumulator(weight, 0.0, h)
    keep = tokens.ne(PAD).float()
    maps = scores.float().softmax(-1) * keep[:, None, :, None] * keep[:, None, None, :]
    acc.add(1, maps, tokens, EOS)
    return acc.logits


@pytest.mark.parametrize("sparse", [False, True])
def test_contact_term_from_scores_is_the_softmax_path(sparse):
    scores, tokens = scores_batch()
    weight = torch.tensor([0.7, -0.4, 0.0, 1.3]) if sparse else torch.tensor([0.7, -0.4, 0.2, 1.3])
    acc = ContactAccumulator(weight, 0.0, 4)
    acc.add_scores(1, scores.bfloat16().float(), tokens, PAD, EOS, compiled=False)
    reference = softmax_path(scores.bfloat16().float(), tokens, weight, 4)
    torch.testing.assert_close(acc.logits, reference, atol=1e-6, rtol=0)
    # each shorter sequence's rows past its own end (its <eos>, its padding) add nothing
    assert (acc.logits[1, 8:] == 0).all() and (acc.logits[2, :, 5:] == 0).all()


def test_fused_default_reads_the_environment(monkeypatch):
    monkeypatch.delenv(FUSED_ENV, raising=False)
    assert not fused_default("cpu") and not fused_default("meta")
    monkeypatch.setenv(FUSED_ENV, "1")
    assert fused_default("cpu") and not fused_default("meta")
    monkeypatch.setenv(FUSED_ENV, "0")
    assert not fused_default("cpu")
    monkeypatch.setenv(FUSED_ENV, "yes")
    with pytest.raises(ValueError, match=r"CONTACTS_FUSED='yes'.*1.*0.*auto"):
        fused_default("cpu")


def test_a_compiler_that_fails_falls_back_to_the_same_numbers_with_one_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler here")

    monkeypatch.setattr(features, "_compiled", {"fn": broken})
    scores, tokens = scores_batch()
    weight = torch.tensor([0.7, -0.4, 0.2, 1.3])
    with pytest.warns(UserWarning, match="could not be compiled.*no C\\+\\+ compiler here.*unfused"):
        got = fused_contact_term(scores, tokens.ne(PAD).float() * tokens.ne(EOS), weight)
    torch.testing.assert_close(got, contact_term(scores, tokens.ne(PAD).float() * tokens.ne(EOS), weight))
    assert features._compiled["fn"] is contact_term  # compiled once, refused once: not retried per layer


@pytest.mark.slow
def test_compiled_contact_term_matches_the_unfused_pass_on_every_batch_shape(monkeypatch):
    """inductor (C++ on the CPU, Triton on CUDA) compiles the pass once for every shape (dynamic shapes);
    each shape agrees with the softmax path to float32 rounding."""
    monkeypatch.setattr(features, "_compiled", {})
    for seed, (b, h, lengths) in enumerate([(3, 4, (11, 8, 5)), (1, 20, (40,)), (2, 6, (30, 29))]):
        scores, tokens = scores_batch(seed, b, h, lengths)
        weight = torch.randn(h, generator=torch.Generator().manual_seed(seed))
        acc = ContactAccumulator(weight, 0.0, h)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", "the fused contact pass")  # a fallback would pass unnoticed
            acc.add_scores(1, scores, tokens, PAD, EOS)
        torch.testing.assert_close(acc.logits, softmax_path(scores, tokens, weight, h), atol=2e-6, rtol=0)
    assert features._compiled["fn"] is not contact_term
