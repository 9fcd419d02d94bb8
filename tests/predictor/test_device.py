"""The device path on any machine: no waits on the device, fused attention where maps are not needed,
and the error of half precision pinned against float32."""

import numpy as np
import pytest
import torch

import contacts
from contacts import features
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


@pytest.fixture
def asked(monkeypatch):
    """What each attention layer run is asked for (its ``need_weights``), in order."""
    seen = []
    real = SelfAttention.forward

    def recording(self, x, padding_mask, need_weights):
        seen.append(need_weights)
        return real(self, x, padding_mask, need_weights)

    monkeypatch.setattr(SelfAttention, "forward", recording)
    return seen


def test_fused_attention_for_every_layer_whose_maps_are_not_needed(asked):
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


# ----------------------------------------------------------------------------- the fused contact pass


@pytest.fixture
def uncompiled(monkeypatch):
    """The fused pass with :func:`contacts.features.contact_term` run as it is (the compiled one is
    checked in tests/test_features.py): same order of operations, no compiler in the loop."""
    monkeypatch.setattr(features, "_compiled", {"fn": features.contact_term})


def test_fused_pass_matches_the_unfused_one_in_float32(uncompiled):
    model = sparse_model()
    unfused = model.predict_contacts(SEQS)
    model.fused_contacts = True
    fused = model.predict_contacts(SEQS)
    alone = model.predict_contacts(SEQS[1])  # no padding
    for a, b in zip(unfused, fused):
        np.testing.assert_allclose(b, a, atol=2e-6, rtol=0)
    np.testing.assert_allclose(alone, unfused[1], atol=2e-6, rtol=0)


def test_fused_pass_reads_scores_not_maps(uncompiled, asked):
    model = sparse_model()
    model.fused_contacts = True
    model.predict_contacts(SEQS[0])
    assert asked == [False, "scores", False, "scores"]


@pytest.mark.parametrize(("dtype", "bound"), [("bfloat16", 0.15), ("float16", 0.012), ("float32", 2e-6)])
def test_fused_pass_keeps_the_pinned_reduced_precision_bounds(peaked, uncompiled, dtype, bound):
    """The fused pass in half precision against the unfused float32 one: within the bounds pinned above for
    the unfused pass (its output comes from the fused attention kernel, so it rounds differently)."""
    reference = peaked["float32"].predict_contacts(SEQS)
    model = peaked[dtype]
    model.fused_contacts = True
    try:
        fused = model.predict_contacts(SEQS)
    finally:
        model.fused_contacts = None
    assert max(float(np.abs(f - r).max()) for f, r in zip(fused, reference)) < bound


def test_fused_pass_never_waits_for_the_device(uncompiled):
    model = sparse_model(device="meta")
    model.fused_contacts = True
    tokens = model._pad([model.alphabet.ids(model.alphabet.tokenize(s)) for s in SEQS])
    probs = model._contacts(tokens, ragged=True)
    assert probs.shape == (3, len(SEQS[0]), len(SEQS[0])) and probs.device.type == "meta"


@pytest.mark.slow
def test_compiled_fused_pass_end_to_end(monkeypatch):
    """The default on CUDA, here on the CPU with inductor's C++ backend: batches of several shapes."""
    monkeypatch.setattr(features, "_compiled", {})
    model = sparse_model()
    unfused = model.predict_contacts(SEQS + [SEQS[0][:9]], max_tokens=70)
    monkeypatch.setenv(features.FUSED_ENV, "1")
    fused = model.predict_contacts(SEQS + [SEQS[0][:9]], max_tokens=70)
    for a, b in zip(unfused, fused):
        np.testing.assert_allclose(b, a, atol=2e-6, rtol=0)
    assert features._compiled["fn"] is not features.contact_term


def test_fused_pass_of_a_float64_model_stays_float64(uncompiled):
    """float64 is for checking exactness: the fused pass takes its softmax and sums in float64 too, so it
    agrees with the unfused float64 pass far below float32's rounding."""
    model = sparse_model(dtype="float64")
    unfused = model.predict_contacts(SEQS)
    model.fused_contacts = True
    fused = model.predict_contacts(SEQS)
    for a, b in zip(unfused, fused):
        assert b.dtype == np.float64
        np.testing.assert_allclose(b, a, atol=1e-12, rtol=0)


@pytest.mark.parametrize("preset", ["tiny_bert", "tiny_t5"])
def test_families_that_stream_heads_take_their_own_pass_whatever_fused_says(uncompiled, preset):
    """BERT and T5 hand their maps over one head at a time (memory-bounded already): asking for the fused
    pass changes nothing there, numbers included (T5 has no start token: lead 0)."""
    model = contacts.Predictor.random(preset, seed=2, device="cpu")
    unfused = model.predict_contacts(SEQS)
    model.fused_contacts = True
    for a, b in zip(unfused, model.predict_contacts(SEQS)):
        np.testing.assert_array_equal(b, a)


def test_auto_dtype_is_float16_on_gpus_with_tensor_cores_float32_elsewhere(monkeypatch):
    auto_dtype = contacts.predictor.auto_dtype
    assert auto_dtype("cpu") == torch.float32 and auto_dtype("meta") == torch.float32
    for capability, expected in (((8, 0), torch.float16), ((7, 0), torch.float16), ((6, 1), torch.float32)):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        assert auto_dtype("cuda:0") == expected
    model = contacts.load_model("random:tiny", device="cpu", dtype="auto")
    assert model.dtype == torch.float32 and next(model.model.parameters()).dtype == torch.float32
    with pytest.raises(ValueError, match=r"'half' is not one of .*'float16'.* or 'auto'"):
        contacts.load_model("random:tiny", device="cpu", dtype="half")
