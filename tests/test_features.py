import numpy as np
import torch

from contacts.features import (
    ContactAccumulator,
    apc,
    attention_features,
    contact_probabilities,
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
