"""The contact-regression file: fair-esm's ``-contact-regression.pt``, which is also a probe file.

Layout::

    {"model": {"contact_head.regression.weight": (1, layers * heads),
               "contact_head.regression.bias": (1,)},
     "probe": {...}}            # optional metadata record, plain values only

A probe's record names the model it was trained for under ``"trained_for"``:
``{"name": ..., "weights_sha256": ..., "num_layers": ..., "num_heads": ...}``;
:func:`check_trained_for` refuses, in one line, a model that is not that one.

fair-esm reads only ``"model"`` (it merges it into the model's state dict), so a
file written here drops in beside a fair-esm checkpoint. The released files, the
ones :meth:`probes.ContactProbe.save` writes and the ones fine-tuning writes all
go through :func:`read_regression` and :func:`write_regression`: one set of key
names, one validation, the same strictness everywhere.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .files import atomic_write
from .safe_load import CheckpointError, UnsafeCheckpointError, check_tensors, safe_torch_load

__all__ = [
    "BIAS_KEY",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "REGRESSION_KEYS",
    "WEIGHT_KEY",
    "Regression",
    "TRAINED_FOR",
    "ProbeMismatchError",
    "RegressionFileError",
    "check_regression",
    "check_trained_for",
    "read_regression",
    "regression_from_state",
    "write_regression",
]

WEIGHT_KEY = "contact_head.regression.weight"
BIAS_KEY = "contact_head.regression.bias"
REGRESSION_KEYS = (WEIGHT_KEY, BIAS_KEY)
#: The optional record of how a probe was made (fair-esm ignores it).
METADATA_KEY = "probe"
FORMAT_VERSION = 1
#: The metadata entry naming the model a probe was trained for.
TRAINED_FOR = "trained_for"
_TRAINED_FOR_FIELDS = ("name", "weights_sha256", "num_layers", "num_heads")


class RegressionFileError(CheckpointError):
    """A file that is not in fair-esm's contact-regression layout."""


class ProbeMismatchError(ValueError):
    """A probe trained for one model was asked to run on another."""


def check_trained_for(metadata: Mapping[str, Any], model: Mapping[str, Any], source: str = "the probe") -> None:
    """Refuse, in one line, a probe whose record names another model than ``model``.

    Parameters
    ----------
    metadata : mapping
        The probe's record (:attr:`Regression.metadata`); without a ``"trained_for"``
        entry (fair-esm's released files, older probes) nothing is checked.
    model : mapping
        The model at hand: ``name``, ``weights_sha256``, ``num_layers``, ``num_heads``.
        ``weights_sha256`` may be a callable, called only where the rest agrees (hashing
        large weights takes seconds).

    Raises
    ------
    ProbeMismatchError
        Naming both models (name, weights hash, layers x heads).
    """
    trained = metadata.get(TRAINED_FOR)
    if not isinstance(trained, Mapping):
        return
    def describe(m, digest):
        return f"{m.get('name')!r} ({m.get('num_layers')} layers x {m.get('num_heads')} heads, weights sha256 {str(digest)[:12]})"
    layout = (trained.get("num_layers"), trained.get("num_heads")) == (model["num_layers"], model["num_heads"])
    digest = model["weights_sha256"]
    if layout and trained.get("name") == model["name"]:
        digest = digest() if callable(digest) else digest
        if trained.get("weights_sha256") in (None, digest):
            return
    elif callable(digest):
        digest = "not computed"
    raise ProbeMismatchError(
        f"{source} was trained for {describe(trained, trained.get('weights_sha256'))}, not for this model "
        f"{describe(model, digest)}; train one for it with contacts train-probe"
    )


@dataclass(frozen=True)
class Regression:
    """A contact regression as read from a file.

    Attributes
    ----------
    weight : Tensor, shape=(1, layers * heads)
        As stored (dtype kept), layer-major ``(layer head)`` columns.
    bias : Tensor, shape=(1,)
    metadata : dict
        The ``"probe"`` record, empty where the file has none.
    source : str
    """

    weight: Tensor
    bias: Tensor
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def float32(self) -> tuple[Tensor, Tensor]:
        """Weight and bias as float32, the dtype a model applies them in."""
        return self.weight.float(), self.bias.float()


def check_regression(weight, bias, num_maps: int | None = None, source: str = "regression") -> tuple[Tensor, Tensor]:
    """Weight (1, n) and bias (1,) as float32, with ``n == num_maps`` where given.

    Raises
    ------
    RegressionFileError
        Any other shape.
    """
    weight, bias = torch.as_tensor(weight).detach(), torch.as_tensor(bias).detach()
    expect = (1, num_maps) if num_maps else None
    good = weight.ndim == 2 and weight.shape[0] == 1 and tuple(bias.shape) == (1,)
    if not good or (expect is not None and tuple(weight.shape) != expect):
        want = f"(1, {num_maps})" if num_maps else "(1, layers * heads)"
        raise RegressionFileError(
            f"{source}: weight has shape {tuple(weight.shape)} and bias {tuple(bias.shape)}; "
            f"expected {want} and (1,)" + (" for this model's layers x heads" if num_maps else "")
        )
    return weight.float(), bias.float()


def regression_from_state(data: object, num_maps: int | None = None, source: str = "state") -> Regression:
    """Validate a loaded regression file: a ``"model"`` dict holding exactly the two keys.

    The returned tensors keep the dtype they were stored in.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
        raise RegressionFileError(f"{source}: expected a dict with a 'model' state dict")
    state = check_tensors(data["model"], source, what="'model' entry", finite=False)
    missing = sorted(set(REGRESSION_KEYS) - set(state))
    unexpected = sorted(set(state) - set(REGRESSION_KEYS))
    if missing or unexpected:
        raise RegressionFileError(
            f"{source}: missing keys {missing}, unexpected keys {unexpected}; "
            f"a contact regression has exactly {WEIGHT_KEY!r} and {BIAS_KEY!r}"
        )
    check_regression(state[WEIGHT_KEY], state[BIAS_KEY], num_maps, source)
    check_tensors(state, source, what="'model' entry")  # NaN or infinite weights: every prediction NaN
    metadata = data.get(METADATA_KEY) or {}
    if not isinstance(metadata, Mapping):
        raise RegressionFileError(f"{source}: the {METADATA_KEY!r} record is a {type(metadata).__name__}, not a dict")
    return Regression(torch.as_tensor(state[WEIGHT_KEY]).detach(), torch.as_tensor(state[BIAS_KEY]).detach(),
                      dict(metadata), source)


def read_regression(path: str | os.PathLike, num_maps: int | None = None) -> Regression:
    """Read a contact-regression (or probe) file safely and validate it.

    Parameters
    ----------
    path : str or PathLike
    num_maps : int, optional
        The model's layers x heads; the weight must have that many columns.

    Raises
    ------
    RegressionFileError
        Not the layout above: missing or unexpected keys, wrong shapes.
    UnsafeCheckpointError, CheckpointError
        Refused by the safe unpickler, or not a PyTorch file.
    """
    return regression_from_state(safe_torch_load(path), num_maps, str(path))


def write_regression(
    path: str | os.PathLike, weight: Tensor, bias: Tensor, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write a regression in fair-esm's layout (plus the metadata record, if any), atomically.

    ``metadata`` must hold plain values (str, numbers, lists, dicts) so that the
    file loads with ``weights_only=True``.
    """
    weight, bias = check_regression(weight, bias, source=str(path))
    data: dict[str, Any] = {"model": {WEIGHT_KEY: weight, BIAS_KEY: bias}}
    if metadata is not None:
        data[METADATA_KEY] = dict(metadata)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    if metadata is not None:
        # refuse here what read_regression would refuse (numpy scalars and arrays, other classes)
        try:
            safe_torch_load(io.BytesIO(buffer.getvalue()))
        except UnsafeCheckpointError:
            where, kind = _not_plain(data[METADATA_KEY], METADATA_KEY) or (METADATA_KEY, "record")
            raise RegressionFileError(
                f"{path}: {where} is a {kind}; the {METADATA_KEY!r} record must hold plain values "
                "(str, numbers, lists, dicts, tensors) so that the file loads with weights_only=True"
            ) from None
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fh.write(buffer.getvalue())
    return path


_PLAIN = (str, bytes, bool, int, float, complex, type(None))


def _not_plain(value: object, where: str) -> tuple[str, str] | None:
    """The first value in ``value`` that is not plain, as (``probe['key'][0] = ...``, its type); None if all are."""
    if type(value) is dict:
        for key, item in value.items():
            found = _not_plain(key, f"{where} key") or _not_plain(item, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if type(value) in (list, tuple, set, frozenset):
        for index, item in enumerate(value):
            found = _not_plain(item, f"{where}[{index}]")
            if found:
                return found
        return None
    if type(value) in _PLAIN or isinstance(value, Tensor):
        return None
    return f"{where} = {value!r}"[:120], f"{type(value).__module__}.{type(value).__qualname__}"
