"""In float64 this package and fair-esm agree to rounding: the float32 gap between them is float32 rounding.

In float32 the two differ by about 1e-7 in contact probability (more at some
lengths: ``bench/float_gap.py``, docs/benchmarks.md), because they sum in another
order (the streaming contact sum, einsum against bmm). If that is all, the same
weights in float64 must agree to about float64's rounding instead, some 2**29
(5e8) times closer. Measured here: 1e-16 to 5e-16 on contacts and 2e-14 on
logits, for the small presets and for the ESM-1b shape. :data:`BOUND` (1e-12)
leaves three to four orders of magnitude for other machines' summation orders
while staying five below float32's gap: any step that still rounded to float32
(a softmax, an APC sum, the regression) would leave about 1e-8 and fail it.

fair-esm takes every attention softmax in float32 even in a float64 model, so
the reference runs with its softmax in float64 (:func:`reference.fair_esm_softmax`).
"""

import numpy as np
import pytest
import torch
from reference import fair_esm_model, fair_esm_softmax, load_fair_esm, predictor_sharing, write_release

import contacts
from contacts.encoder.config import PRESETS
from contacts.predictor.core import windows

esm = pytest.importorskip("esm")
#: Largest |difference| allowed between the two float64 runs (see the module docstring).
BOUND = 1e-12
AMINO = list("ACDEFGHIKLMNPQRSTVWY")


def random_sequence(length: int, seed: int = 0) -> str:
    return "".join(np.random.default_rng(seed).choice(AMINO, length))


def _fair_esm(ref, alphabet, seqs):
    _, _, tokens = alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(seqs)])
    with torch.no_grad(), fair_esm_softmax():
        out = ref(tokens, return_contacts=True)
    return tokens, out


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory):
    """fair-esm and this package on one release file of the `small` preset, both in float64."""
    path = write_release(tmp_path_factory.mktemp("small"), PRESETS["small"], seed=0)
    ref, alphabet = load_fair_esm(path)
    return ref.double(), alphabet, contacts.load_model(path, device="cpu", dtype="float64"), path


@pytest.mark.parametrize("length", [64, 300])
def test_small_model_in_float64_agrees_to_rounding(small_pair, length):
    ref, alphabet, ours, path = small_pair
    seq = random_sequence(length)
    tokens, expected = _fair_esm(ref, alphabet, [seq])
    got = ours.predict_contacts(seq)
    assert got.dtype == np.float64
    with torch.no_grad():
        out = ours.model(tokens, need_weights=True)
    assert out.attentions.dtype == torch.float64
    assert _max_diff(got, expected["contacts"][0]) < BOUND
    assert _max_diff(out.logits, expected["logits"]) < BOUND * 100  # logits run to ~10, not ~1
    assert _max_diff(out.attentions, expected["attentions"]) < BOUND
    assert _max_diff(ours.attention_maps(seq), expected["attentions"][0, :, :, 1:-1, 1:-1]) < BOUND

    # The same weights in float32: the gap the float64 run explains, orders of magnitude larger.
    float32 = contacts.load_model(path, device="cpu")
    ref32, _ = load_fair_esm(path)
    with torch.no_grad():
        expected32 = ref32(tokens, return_contacts=True)["contacts"][0]
    gap32 = _max_diff(float32.predict_contacts(seq), expected32)
    assert 1e-9 < gap32 < 1e-4
    assert _max_diff(got, expected["contacts"][0]) < gap32 / 1e4


def test_padded_batch_and_windows_stay_float64(small_pair):
    ref, alphabet, ours, _ = small_pair
    seqs = [random_sequence(40, 1), random_sequence(25, 2)]
    tokens, expected = _fair_esm(ref, alphabet, seqs)
    padded = ours._contacts(tokens).numpy()  # fair-esm's own padded batch: <eos> inside the width
    assert padded.dtype == np.float64
    for i, seq in enumerate(seqs):
        n = len(seq)
        assert _max_diff(padded[i, :n, :n], expected["contacts"][i, :n, :n]) < BOUND
    # Windows are averaged in the model's dtype too: a float32 buffer would leave ~1e-8 here.
    seq = random_sequence(50, 3)
    windowed = ours.predict_contacts(seq, window=30, overlap=20)
    assert windowed.dtype == np.float64
    total, count = np.zeros((50, 50)), np.zeros((50, 50))
    for lo, hi in windows(50, 30, 20):
        total[lo:hi, lo:hi] += ours.predict_contacts(seq[lo:hi])
        count[lo:hi, lo:hi] += 1
    with np.errstate(invalid="ignore"):
        mean = total / count
    np.testing.assert_array_equal(np.isnan(windowed), count == 0)
    assert _max_diff(windowed[count > 0], mean[count > 0]) < BOUND


@pytest.mark.slow
def test_esm1b_shape_in_float64_agrees_to_rounding():
    """The full ESM-1b shape (33 layers x 20 heads x 1280, random weights) at L = 64, both in float64."""
    cfg = PRESETS["esm1b_t33_650M_UR50S"]
    ref = fair_esm_model(cfg, seed=0, dtype=torch.float64)
    ours = predictor_sharing(ref, cfg, dtype="float64")  # the same tensors: 5 GB once, not twice
    seq = random_sequence(64)
    tokens, expected = _fair_esm(ref, esm.Alphabet.from_architecture("roberta_large"), [seq])
    got = ours.predict_contacts(seq)
    assert got.dtype == np.float64 and got.shape == (64, 64)
    assert _max_diff(got, expected["contacts"][0]) < BOUND
    with torch.no_grad():
        assert _max_diff(ours.model(tokens).logits, expected["logits"]) < BOUND * 100
