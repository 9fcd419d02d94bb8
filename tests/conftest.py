"""Shared fixtures: where the real data lives, and small random models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The folder of real structures and alignments: $CONTACTS_SHARED, else ../shared beside the repo."""
    path = Path(os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def structures_dir() -> Path:
    root = shared_dir()
    if root is None or not (root / "structures").is_dir():
        pytest.skip("real structures not found: set CONTACTS_SHARED to the folder holding structures/")
    return root / "structures"


@pytest.fixture(scope="session")
def msas_dir() -> Path:
    root = shared_dir()
    if root is None or not (root / "msas").is_dir():
        pytest.skip("real alignments not found: set CONTACTS_SHARED to the folder holding msas/")
    return root / "msas"


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models are all overhead: on a shared machine two threads spin for minutes where one takes a second."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def failing_replace(monkeypatch):
    """Arm ``os.replace`` to raise ``error`` (default ``OSError("disk full")``): an atomic write failing at its
    last step, the rename, after everything went into the temporary file (which must not be empty by then)."""

    def arm(error: BaseException = OSError("disk full")) -> None:
        def replace(src, dst):
            assert os.path.getsize(src) > 0  # the content was written before the rename failed
            raise error

        monkeypatch.setattr(os, "replace", replace)

    return arm
