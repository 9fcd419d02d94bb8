"""Reading PyTorch files without running pickled code: the one door every checkpoint comes through.

Checkpoints are untrusted files. ``torch.load(weights_only=True)`` runs no pickled
code; beyond tensors and containers only :class:`argparse.Namespace` is allowed,
because the fair-esm releases keep their model arguments in one.
"""

from __future__ import annotations

import argparse
import os
import pickle

import torch

__all__ = ["ALLOWED_GLOBALS", "CheckpointError", "UnsafeCheckpointError", "safe_torch_load"]

#: Classes a released file may name besides tensors and containers.
ALLOWED_GLOBALS = (argparse.Namespace,)


class CheckpointError(ValueError):
    """A checkpoint does not match the expected layout (keys, shapes, arguments)."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle asks for classes or functions outside the allow-list; it was not run."""


def safe_torch_load(path: str | os.PathLike) -> object:
    """``torch.load`` that runs no pickled code: tensors, containers and ``Namespace`` only."""
    try:
        with torch.serialization.safe_globals(list(ALLOWED_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path} was refused: it asks to load objects outside the allow-list "
            f"(tensors, containers, argparse.Namespace). Nothing from it was executed. "
            f"Details: {str(exc).splitlines()[0]}"
        ) from None
    except FileNotFoundError:
        raise
    except Exception as exc:  # the unpickler fails in many ways on a corrupt file
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {exc}") from None
