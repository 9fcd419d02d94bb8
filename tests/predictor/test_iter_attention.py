"""Predictor.iter_attention: the layers attention_maps stacks, one at a time, with the hidden states embed returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contacts import Predictor

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny():
    return Predictor.random("small", seed=1, device="cpu")


def test_layers_match_attention_maps_and_rows_sum_to_one(tiny):
    sequence = "MKTAYIAKQRQISFVKSHFSRQ"
    dense = tiny.attention_maps(sequence)
    layers = list(tiny.iter_attention(sequence))
    assert [layer for layer, _, _ in layers] == list(range(1, tiny.config.num_layers + 1))
    n = len(sequence)
    for layer, attention, hidden in layers:
        assert attention.shape == (tiny.config.num_heads, n + 2, n + 2) and attention.dtype == torch.float32
        np.testing.assert_array_equal(attention[:, 1:-1, 1:-1].numpy(), dense[layer - 1])
        np.testing.assert_allclose(attention.sum(-1).numpy(), 1.0, rtol=1e-5)
        assert hidden.shape == (n, tiny.config.embed_dim)
    # the hidden states are embed()'s, before the final LayerNorm for the last layer
    reps = tiny.embed(sequence, layers=list(range(1, tiny.config.num_layers)))
    for layer, _, hidden in layers[:-1]:
        np.testing.assert_allclose(hidden.numpy(), reps[layer], rtol=1e-5, atol=1e-5)


def test_stops_after_num_layers(tiny):
    assert [layer for layer, _, _ in tiny.iter_attention("MKTAYIAK", num_layers=2)] == [1, 2]
