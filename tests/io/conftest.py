"""Fixtures for the file-format tests."""

import os

import pytest


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
