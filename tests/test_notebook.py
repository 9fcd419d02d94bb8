"""docs/tutorial.ipynb runs from top to bottom, on a kernel of this very interpreter."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
KERNEL = "contacts-tutorial"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the tutorial has no code"
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the notebook's outputs"


def test_tutorial_finds_shared_from_the_repository_root_and_from_docs(monkeypatch, structures_dir):
    shared = structures_dir.parent
    if shared.resolve() != (REPO.parent / "shared").resolve():
        pytest.skip("the shared data is not beside the repository here (CONTACTS_SHARED points elsewhere)")
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    setup = next("".join(c["source"]) for c in cells if c["cell_type"] == "code" and "SHARED =" in "".join(c["source"]))
    finding = "\n".join(line for line in setup.splitlines()
                        if line.startswith(("import os", "from pathlib", "candidates", "    Path.cwd", "SHARED =")))
    monkeypatch.delenv("CONTACTS_SHARED", raising=False)
    for where in (REPO, REPO / "docs"):
        monkeypatch.chdir(where)
        namespace = {}
        exec(finding, namespace)
        assert namespace["SHARED"].resolve() == shared.resolve(), where


def test_tutorial_runs(tmp_path, monkeypatch, structures_dir, msas_dir):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    kernelspec = pytest.importorskip("ipykernel.kernelspec")

    # A kernelspec whose argv is sys.executable, in a folder only this test sees: the
    # kernel imports the same packages as the tests, whatever 'python3' means elsewhere.
    prefix = tmp_path / "jupyter"
    kernelspec.install(kernel_name=KERNEL, prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CONTACTS_SHARED", str(structures_dir.parent))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # a shared CI machine
    spec = (prefix / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text()
    assert sys.executable.replace("\\", "\\\\") in spec

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError naming the cell on any error

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "MI-APC (alignment)" in text and "pairs marked" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the two matplotlib figures did not display"
    # the explorer displays as a widget whose state (script and data) the notebook keeps
    views = [o["data"][WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1, "the explorer did not display as a widget"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][views[0]]["state"]
    assert "contactsExplorer" in state["_esm"] and state["_meta"]["n"] == len(state["_meta"]["residues"])
