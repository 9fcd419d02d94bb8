"""The device path on any machine: no waits on the device, fused attention where maps are not needed,
and the error of half precision pinned against float32."""

import numpy as np
import pytest
import torch

import contacts
from contacts.encoder.model import SelfAttention

pytestmark = pytest.mark.usefixtures("one_thread")

SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMKVLAAGHWEEKLLR", "ACDEFGHIKLMNPQRSTVWYACDEFGHIK"]


def sparse_model(device="cpu", dtype=None) -> contacts.Predictor:
    """The small preset (6 layers x 4 heads) with a regression that reads heads of layers 2 and 4 only."""
    model = contacts.Predictor.random("small", seed=1, device=device, dtype=dtype)
    weight = torch.zeros(6, 4)
    weight[1, [0, 3]] = torch.tensor([0.8, -0.5])
    weight[3] = torch.tensor([0.3, 0.2, -0.4, 0.6])
    model.set_regression(weight.reshape(1, -1), torch.tensor([-1.0]))
    return model


def test_contact_pass_never_waits_for_the_device():
    """On the meta device any read of a value (``bool(t)``, ``.item()``, a boolean mask index) raises,
    so a contact pass that runs there to the end never synchronises with the device before its result."""
    model = sparse_model(device="meta")
    ids = [model.alphabet.ids(model.alphabet.tokenize(s)) for s in SEQS]
    tokens = model._pad(ids)
    assert tokens.device.type == "meta"
    probs = model._contacts(tokens, ragged=True)
    assert probs.shape == (3, len(SEQS[0]), len(SEQS[0])) and probs.dtype == torch.float32
    # The same pass without the host's knowledge of the lengths has to look at the device, and fails there.
    with pytest.raises((RuntimeError, NotImplementedError)):
        model._contacts(tokens)


def test_fused_attention_for_every_layer_whose_maps_are_not_needed(monkeypatch):
    asked = []
    real = SelfAttention.forward

    def recording(self, x, padding_mask, need_weights):
        asked.append(need_weights)
        return real(self, x, padding_mask, need_weights)

    monkeypatch.setattr(SelfAttention, "forward", recording)
    model = sparse_model()
    model.predict_contacts(SEQS[0])
    # Layers 1-4 run, maps only from 2 and 4; layers 5-6 never run.
    assert asked == [False, True, False, True]
    asked.clear()
    model.embed(SEQS, layers=[2, -1])
    model.logits(SEQS[0])
    assert asked and not any(asked)


def test_sparse_regression_matches_the_dense_reference():
    """Heads and layers left out of the pass change nothing beyond float rounding."""
    model = sparse_model()
    weight, bias = model.regression
    for seq, got in zip(SEQS, model.predict_contacts(SEQS)):
        maps = torch.from_numpy(model.attention_maps(seq))
        sym = maps + maps.transpose(-1, -2)
        corrected = sym - sym.sum(-1, keepdim=True) * sym.sum(-2, keepdim=True) / sym.sum((-1, -2), keepdim=True)
        logits = torch.einsum("lhij,lh->ij", corrected, weight.reshape(6, 4)) + bias
        np.testing.assert_allclose(got, torch.sigmoid(logits).numpy(), atol=2e-6, rtol=0)


@pytest.fixture(scope="module")
def peaked():
    """A small model whose query and key weights are scaled up: most rows put over half their attention
    on one residue, the case where rounding the scores moves the maps most."""
    models = {}
    for dtype in ("float32", "bfloat16", "float16"):
        model = contacts.Predictor.random("small", seed=4, device="cpu")
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.q_proj.weight.mul_(2.0)
                layer.self_attn.k_proj.weight.mul_(2.0)
        models[dtype] = contacts.Predictor(model.model, model.regression, device="cpu", dtype=dtype)
    return models


def test_peaked_fixture_is_peaked(peaked):
    maps = peaked["float32"].attention_maps(SEQS[0])
    assert np.median(maps.max(-1)) > 0.5


@pytest.mark.parametrize(("dtype", "bound"), [("bfloat16", 0.15), ("float16", 0.012)])
def test_reduced_precision_error_is_pinned(peaked, dtype, bound):
    """Weights and activations in half precision, softmax, APC and the regression in float32:
    the contacts move by at most ``bound`` from float32's (measured when this was written, torch 2.13
    on CPU: 0.116 for bfloat16, 0.008 for float16; bfloat16 keeps 8 bits of mantissa, float16 11)."""
    reference = peaked["float32"].predict_contacts(SEQS)
    reduced = peaked[dtype].predict_contacts(SEQS)
    worst = max(float(np.abs(r - f).max()) for r, f in zip(reduced, reference))
    assert all(r.dtype == np.float32 for r in reduced)
    assert 0 < worst < bound
    # The maps themselves come out of a float32 softmax: rows sum to 1 to float32 precision.
    maps = peaked[dtype].attention_maps(SEQS[1])
    assert maps.dtype == np.float32
    with torch.inference_mode():
        full = peaked[dtype].model(peaked[dtype]._pad(peaked[dtype]._encode([SEQS[1]])), need_weights=True).attentions
    assert full.dtype == torch.float32
    np.testing.assert_allclose(full.sum(-1).numpy(), 1.0, atol=1e-5)
