"""Contact-regression files: write_regression -> read_regression gives back the tensors and metadata.

The same strictness holds for files written by hand with ``torch.save``, and the
safe loader refuses pickles that name classes outside its allow-list without running them.
"""

import fractions
import os

import numpy as np
import pytest
import torch

from contacts.io.regression import (
    BIAS_KEY,
    METADATA_KEY,
    WEIGHT_KEY,
    RegressionFileError,
    check_regression,
    read_regression,
    regression_from_state,
    write_regression,
)
from contacts.io.safe_load import CheckpointError, UnsafeCheckpointError, safe_torch_load

NUM_MAPS = 33 * 20  # ESM-1b: 33 layers x 20 heads

METADATA = {
    "format_version": 1,
    "model": "esm1b_t33_650M_UR50S",
    "num_layers": 33,
    "num_heads": 20,
    "heads": [[0, 1], [32, 19]],
    "C": 0.15,
    "penalty": "l1",
    "fit": {"proteins": ["1abc", "2xyz"], "auc": 0.875, "converged": True, "note": None},
}


def random_regression(num_maps=NUM_MAPS, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, num_maps, generator=generator), torch.randn(1, generator=generator)


def test_round_trip_gives_back_weight_bias_and_metadata(tmp_path):
    weight, bias = random_regression()
    path = write_regression(tmp_path / "r.pt", weight, bias, METADATA)
    back = read_regression(path, num_maps=NUM_MAPS)
    assert torch.equal(back.weight, weight) and torch.equal(back.bias, bias)
    assert back.weight.dtype == back.bias.dtype == torch.float32
    assert back.metadata == METADATA
    assert back.source == str(path)


def test_round_trip_without_metadata_and_with_an_empty_record(tmp_path):
    weight, bias = random_regression(12, seed=1)
    none = read_regression(write_regression(tmp_path / "a.pt", weight, bias))
    empty = read_regression(write_regression(tmp_path / "b.pt", weight, bias, {}))
    for back in (none, empty):
        assert torch.equal(back.weight, weight) and torch.equal(back.bias, bias)
        assert back.metadata == {}
    assert METADATA_KEY not in torch.load(tmp_path / "a.pt", weights_only=True)


def test_file_is_in_fair_esm_layout(tmp_path):
    weight, bias = random_regression(40, seed=2)
    data = torch.load(write_regression(tmp_path / "r.pt", weight, bias, {"k": "v"}), weights_only=True)
    assert set(data) == {"model", METADATA_KEY}
    assert set(data["model"]) == {WEIGHT_KEY, BIAS_KEY}
    assert torch.equal(data["model"][WEIGHT_KEY], weight) and torch.equal(data["model"][BIAS_KEY], bias)


def test_other_dtypes_are_written_as_float32_and_read_back_equal(tmp_path):
    weight, bias = random_regression(16, seed=3)
    half = read_regression(write_regression(tmp_path / "h.pt", weight.half(), bias.double()))
    assert half.weight.dtype == half.bias.dtype == torch.float32
    assert torch.equal(half.weight, weight.half().float()) and torch.equal(half.bias, bias.double().float())
    listed = read_regression(write_regression(tmp_path / "l.pt", weight.tolist(), bias.tolist()))
    assert torch.equal(listed.weight, weight) and torch.equal(listed.bias, bias)


def test_tensor_needing_grad_is_written_detached(tmp_path):
    weight, bias = random_regression(8, seed=4)
    back = read_regression(write_regression(tmp_path / "r.pt", weight.requires_grad_(), bias))
    assert not back.weight.requires_grad and torch.equal(back.weight, weight.detach())


def test_hand_written_file_in_the_layout_reads_with_its_dtype_kept(tmp_path):
    weight, bias = random_regression(20, seed=5)
    path = tmp_path / "hand.pt"
    torch.save({"model": {WEIGHT_KEY: weight.double(), BIAS_KEY: bias.double()}}, path)
    back = read_regression(path, num_maps=20)
    assert back.weight.dtype == torch.float64
    assert torch.equal(back.weight, weight.double()) and torch.equal(back.bias, bias.double())


# ---------------------------------------------------------------- the writer refuses, naming the value


@pytest.mark.parametrize(
    "weight_shape,bias_shape",
    [((NUM_MAPS,), (1,)), ((2, NUM_MAPS), (1,)), ((1, 33, 20), (1,)), ((1, NUM_MAPS), ()), ((1, NUM_MAPS), (2,))],
)
def test_weight_or_bias_of_the_wrong_shape_is_refused(tmp_path, weight_shape, bias_shape):
    path = tmp_path / "r.pt"
    with pytest.raises(RegressionFileError, match="expected") as err:
        write_regression(path, torch.zeros(weight_shape), torch.zeros(bias_shape))
    message = str(err.value)
    assert f"weight has shape {weight_shape} and bias {bias_shape}" in message
    assert str(path) in message
    assert not path.exists()


@pytest.mark.parametrize(
    "metadata,named",
    [
        ({"auc": np.float64(0.8)}, "probe['auc'] = np.float64(0.8) is a numpy.float64"),
        ({"heads": np.arange(3)}, "probe['heads'] = array([0, 1, 2]) is a numpy.ndarray"),
        ({"fit": {"ratio": [1, fractions.Fraction(1, 3)]}}, "probe['fit']['ratio'][1] = Fraction(1, 3) is a fractions.Fraction"),
    ],
)
def test_metadata_the_reader_would_refuse_is_refused_before_writing(tmp_path, metadata, named):
    path = tmp_path / "r.pt"
    weight, bias = random_regression()
    with pytest.raises(RegressionFileError, match="plain values") as err:
        write_regression(path, weight, bias, metadata)
    assert named in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_check_regression_names_the_models_width(tmp_path):
    weight, bias = random_regression(12)
    with pytest.raises(RegressionFileError, match=r"weight has shape \(1, 12\).*expected \(1, 660\)"):
        check_regression(weight, bias, num_maps=NUM_MAPS, source="x")
    w, b = check_regression(weight.double(), bias, num_maps=12)
    assert w.dtype == torch.float32 and torch.equal(w, weight)


# ---------------------------------------------------------------- the reader is as strict as the writer


def test_num_maps_mismatch_is_refused(tmp_path):
    weight, bias = random_regression(12 * 20)
    path = write_regression(tmp_path / "r.pt", weight, bias)
    with pytest.raises(RegressionFileError, match=rf"weight has shape \(1, 240\).*expected \(1, {NUM_MAPS}\)"):
        read_regression(path, num_maps=NUM_MAPS)
    assert torch.equal(read_regression(path, num_maps=240).weight, weight)


def test_hand_written_file_with_an_extra_key_is_refused(tmp_path):
    weight, bias = random_regression()
    path = tmp_path / "extra.pt"
    torch.save({"model": {WEIGHT_KEY: weight, BIAS_KEY: bias, "contact_head.regression.scale": bias}}, path)
    with pytest.raises(RegressionFileError, match=r"unexpected keys \['contact_head.regression.scale'\]"):
        read_regression(path)


@pytest.mark.parametrize("key", [WEIGHT_KEY, BIAS_KEY])
def test_hand_written_file_with_a_missing_key_is_refused(tmp_path, key):
    weight, bias = random_regression()
    state = {WEIGHT_KEY: weight, BIAS_KEY: bias}
    del state[key]
    path = tmp_path / "missing.pt"
    torch.save({"model": state}, path)
    with pytest.raises(RegressionFileError, match=rf"missing keys \['{key}'\]"):
        read_regression(path)


def test_hand_written_file_with_a_wrong_shape_or_without_model_is_refused(tmp_path):
    weight, bias = random_regression()
    torch.save({"model": {WEIGHT_KEY: weight.reshape(33, 20), BIAS_KEY: bias}}, tmp_path / "shape.pt")
    with pytest.raises(RegressionFileError, match=r"shape.pt: weight has shape \(33, 20\)"):
        read_regression(tmp_path / "shape.pt")
    torch.save({WEIGHT_KEY: weight, BIAS_KEY: bias}, tmp_path / "flat.pt")
    with pytest.raises(RegressionFileError, match="flat.pt: expected a dict with a 'model' state dict"):
        read_regression(tmp_path / "flat.pt")
    torch.save({"model": {WEIGHT_KEY: weight, BIAS_KEY: bias}, METADATA_KEY: ["not", "a", "dict"]}, tmp_path / "md.pt")
    with pytest.raises(RegressionFileError, match="'probe' record is a list"):
        read_regression(tmp_path / "md.pt")


def test_regression_from_state_matches_read_regression(tmp_path):
    weight, bias = random_regression(30, seed=6)
    path = write_regression(tmp_path / "r.pt", weight, bias, METADATA)
    from_state = regression_from_state(torch.load(path, weights_only=True), 30, source="loaded")
    from_file = read_regression(path, 30)
    assert torch.equal(from_state.weight, from_file.weight) and torch.equal(from_state.bias, from_file.bias)
    assert from_state.metadata == from_file.metadata == METADATA and from_state.source == "loaded"


# ---------------------------------------------------------------- unsafe pickles are refused, not run

CALLED: list[str] = []


def _tripwire(*args):
    CALLED.append("ran")
    return 0.5


class Tripwire:
    """Unpickling this calls :func:`_tripwire`; the safe loader must refuse it first."""

    def __reduce__(self):
        return _tripwire, ("payload",)


def test_pickle_with_a_disallowed_class_raises_unsafe_checkpoint_error(tmp_path):
    weight, bias = random_regression()
    path = tmp_path / "fraction.pt"
    torch.save({"model": {WEIGHT_KEY: weight, BIAS_KEY: bias}, METADATA_KEY: {"C": fractions.Fraction(1, 3)}}, path)
    with pytest.raises(UnsafeCheckpointError, match="Nothing from it was executed") as err:
        read_regression(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, CheckpointError)
    assert not isinstance(err.value, RegressionFileError)


def test_pickled_callable_is_not_run(tmp_path):
    weight, bias = random_regression()
    path = tmp_path / "tripwire.pt"
    torch.save({"model": {WEIGHT_KEY: weight, BIAS_KEY: bias}, METADATA_KEY: {"C": Tripwire()}}, path)
    CALLED.clear()
    with pytest.raises(UnsafeCheckpointError):
        read_regression(path)
    assert CALLED == []
    # the file does run the callable when unpickled unsafely: the tripwire works
    torch.load(path, weights_only=False)
    assert CALLED == ["ran"]


def test_not_a_pytorch_file_is_a_checkpoint_error(tmp_path):
    truncated = tmp_path / "truncated.pt"
    write_regression(truncated, *random_regression())
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated.pt is not a readable PyTorch checkpoint"):
        read_regression(truncated)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="text.pt"):  # (reported as unsafe: the unpickler cannot tell)
        read_regression(text)
    with pytest.raises(FileNotFoundError):
        safe_torch_load(tmp_path / "absent.pt")


# ---------------------------------------------------------------- atomic writes


def test_crash_while_saving_leaves_no_file_and_no_part(tmp_path, monkeypatch):
    weight, bias = random_regression()
    target = tmp_path / "r.pt"
    partial = []
    real_fdopen = os.fdopen

    class HalfThenCrash:
        """The temporary file's handle: writes half of what it is given, then fails."""

        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(bytes(data)[: len(data) // 2])
            self.handle.flush()
            partial.append([p.name for p in tmp_path.iterdir()])
            raise OSError("disk full")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: HalfThenCrash(real_fdopen(fd, mode, *a, **k)))
    with pytest.raises(OSError, match="disk full"):
        write_regression(target, weight, bias, METADATA)
    # half a file existed, as a temporary beside the target, and nothing else
    assert partial and all(len(names) == 1 and names[0].endswith(".part") for names in partial)
    assert list(tmp_path.iterdir()) == []


def test_crash_while_saving_keeps_the_existing_file(tmp_path, failing_replace):
    weight, bias = random_regression(seed=7)
    path = write_regression(tmp_path / "r.pt", weight, bias, {"first": True})
    before = path.read_bytes()
    failing_replace(OSError("rename refused"))
    with pytest.raises(OSError, match="rename refused"):
        write_regression(path, *random_regression(seed=8), METADATA)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.pt"]
    assert read_regression(path).metadata == {"first": True}
