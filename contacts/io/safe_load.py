"""Reading PyTorch files without running pickled code: the one door every checkpoint comes through.

Checkpoints are untrusted files. ``torch.load(weights_only=True)`` runs no pickled
code; beyond tensors and containers only :class:`argparse.Namespace` is allowed,
because the fair-esm releases keep their model arguments in one.

What a file is gets said before torch reads it: a PyTorch file is a zip archive
(``torch.save`` since 1.6) or a pickle (the legacy format); anything else (text,
random bytes, an empty file, a gzip) is refused as "not a PyTorch file", a pickle that
names classes outside the allow-list as unsafe (nothing run), and a truncated or
corrupt one as such. :func:`check_tensors` is the door for what a file holds: every
weight a tensor, of a floating dtype where weights are, and finite.
"""

from __future__ import annotations

import argparse
import os
import pickle
import warnings
from collections.abc import Mapping

import torch

from .text import FileFormatError

__all__ = ["ALLOWED_GLOBALS", "CheckpointError", "UnsafeCheckpointError", "check_tensors", "safe_torch_load"]

#: Classes a released file may name besides tensors and containers.
ALLOWED_GLOBALS = (argparse.Namespace,)
#: The first bytes of a PyTorch file: a zip archive (torch.save's format), or a pickle of protocol 2 or later.
_ZIP, _PICKLE = b"PK\x03\x04", b"\x80"
#: Keys named in one message before "and N more".
SHOWN = 5


class CheckpointError(FileFormatError):
    """A checkpoint does not match the expected layout (keys, shapes, arguments)."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle asks for classes or functions outside the allow-list; it was not run."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()


def _what_it_is(head: bytes) -> str:
    if not head:
        return "the file is empty"
    if head.startswith(b"\x1f\x8b"):
        return "it is a gzip file"
    if head.startswith(b"{"):
        return "it holds JSON text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with the bytes {head[:8]!r}, neither a zip archive nor a pickle"
    return "it holds text"


def safe_torch_load(path: str | os.PathLike) -> object:
    """``torch.load`` that runs no pickled code: tensors, containers and ``Namespace`` only.

    Raises
    ------
    UnsafeCheckpointError
        The pickle names a class or function outside the allow-list (nothing of it ran).
    CheckpointError
        Not a PyTorch file (named as what it is), or a truncated or corrupt one.
    OSError
        As the operating system raises it (no such file, a directory, no permission).
    """
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as handle:
            head = handle.read(64)
        if not head.startswith((_ZIP, _PICKLE)):
            raise CheckpointError(f"{path}: not a PyTorch file ({_what_it_is(head)})", path=path)
    try:
        with torch.serialization.safe_globals(list(ALLOWED_GLOBALS)), warnings.catch_warnings():
            # torch's note on an unusual pickle protocol: the verdict below says what matters
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        named = next((line for line in lines if "GLOBAL" in line), None)
        if named is None:  # not a refusal of a class: the pickle itself is broken
            detail = next((line for line in lines if line.startswith("Unsupported operand")), _first_line(exc))
            raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: corrupt pickle data ({detail})",
                                  path=path if isinstance(path, (str, os.PathLike)) else None) from None
        raise UnsafeCheckpointError(
            f"{path} was refused: it asks to load objects outside the allow-list "
            f"(tensors, containers, argparse.Namespace). Nothing from it was executed. "
            f"Details: {named}"
        ) from None
    except OSError as exc:
        if type(exc).__module__ == "builtins" and exc.errno is not None:
            raise  # the operating system's own: said in plain words by the command line
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {_first_line(exc)}") from None
    except Exception as exc:  # the zip reader and the unpickler fail in many ways on a corrupt file
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt): "
                              f"{_first_line(exc)}") from None


def check_tensors(state: object, source: str, *, what: str = "state dict", finite: bool = True
                  ) -> dict[str, torch.Tensor]:
    """A state dict as the loaders need it: a mapping of names to tensors, floating ones finite (with ``finite``:
    one pass over the weights, done once, where every family's weights meet: ``load_strict``).

    Raises
    ------
    CheckpointError
        Not a mapping; a value that is not a tensor (a list, a number, a dict), naming its
        key; a floating tensor holding NaN or infinity (every prediction would be NaN),
        naming the first such key and how many values.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: the {what} is a {type(state).__name__}, not a mapping of names to tensors")
    wrong = [(k, v) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if wrong:
        key, value = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise CheckpointError(f"{source}: {what} entry {key!r} is a {type(value).__name__}, not a tensor{more}")
    for key, value in state.items() if finite else ():
        if value.is_floating_point() or value.is_complex():
            ok = torch.isfinite(value)
            if bool(ok.all()):
                continue
            bad = value.numel() - int(ok.sum())
            raise CheckpointError(f"{source}: weight {key!r} holds {bad} non-finite value(s) (NaN or infinity) of "
                                  f"{value.numel()}; every prediction would be NaN")
    return dict(state)
