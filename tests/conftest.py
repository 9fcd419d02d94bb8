"""Shared fixtures: where the real data lives, and small random models."""

from __future__ import annotations

import os
import sys
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


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """Run a notebook on a kernel of this very interpreter: ``run_notebook(nb, path=..., env=...)``.

    The kernelspec's argv is ``sys.executable``, in a folder only this test sees, so the
    kernel imports the same packages as the tests, whatever 'python3' means elsewhere;
    the repository leads its PYTHONPATH (after ``pythonpath``, if given). Raises
    nbclient's CellExecutionError naming the cell on any error; returns the notebook.
    """
    nbclient = pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    prefix = tmp_path / "jupyter"
    kernelspec.install(kernel_name="contacts-tests", prefix=str(prefix))
    spec = (prefix / "share" / "jupyter" / "kernels" / "contacts-tests" / "kernel.json").read_text()
    assert sys.executable.replace("\\", "\\\\") in spec
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # a shared CI machine

    def run(nb, *, path: Path = REPO, pythonpath: tuple[str, ...] = (), env: dict | None = None):
        paths = [*pythonpath, str(REPO), os.environ.get("PYTHONPATH")]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        client = nbclient.NotebookClient(nb, kernel_name="contacts-tests", timeout=300,
                                         resources={"metadata": {"path": str(path)}})
        client.execute()
        return nb

    return run
