"""docs/tutorial.ipynb: committed with clean outputs, on current module paths, and it runs from top to bottom.

The committed outputs are made by ``bench/make_tutorial.py``; :func:`make_tutorial.problems`
says what must not be in them (errors, warnings, standard error, this machine's paths).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from contacts._moved import MOVED

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
sys.path.insert(0, str(REPO / "bench"))

nbformat = pytest.importorskip("nbformat")
make_tutorial = pytest.importorskip("make_tutorial")  # needs nbclient and ipykernel too


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def stdout(nb) -> list[str]:
    return ["".join(o.text for o in c.outputs if o.output_type == "stream" and o.name == "stdout")
            for c in code_cells(nb)]


def assert_shows_everything(nb) -> None:
    outputs = [o for c in code_cells(nb) for o in c.outputs]
    text = "".join(stdout(nb))
    assert "MI-APC (alignment)" in text and "pairs marked" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the two matplotlib figures did not display"
    # the explorer displays as a widget whose state (script and data) the notebook keeps
    views = [o["data"][WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1, "the explorer did not display as a widget"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][views[0]]["state"]
    assert "contactsExplorer" in state["_esm"] and state["_meta"]["n"] == len(state["_meta"]["residues"])


def test_the_committed_tutorial_holds_its_outputs_and_nothing_it_should_not():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = code_cells(nb)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), \
        "run it from top to bottom: python bench/make_tutorial.py"
    assert all(c.outputs for c in cells)
    assert make_tutorial.problems(nb) == []
    assert_shows_everything(nb)
    assert {k: v for k, v in nb.metadata.items() if k != "widgets"} == make_tutorial.METADATA


def moved_paths_used(source: str) -> set[str]:
    """Module paths of :data:`contacts._moved.MOVED` that code imports or reaches as ``contacts.X``."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    used = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            used |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            used |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Attribute):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                dotted = [node.id, *reversed(parts)]
                used |= {".".join(dotted[:k]) for k in range(2, len(dotted) + 1)}
    return {name for name in used if name in MOVED or any(name.startswith(old + ".") for old in MOVED)}


def test_the_tutorial_imports_no_old_module_path():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert {name for c in code_cells(nb) for name in moved_paths_used(c.source)} == set()
    # the check itself finds every way in
    assert moved_paths_used("from contacts import metrics\nimport contacts.viewer\nfrom contacts.plots import x\n"
                            "contacts.coevolution.read_alignment('a')") == {
        "contacts.metrics", "contacts.viewer", "contacts.plots", "contacts.plots.x", "contacts.coevolution",
        "contacts.coevolution.read_alignment"}
    assert moved_paths_used("from contacts.analysis import metrics\nmodel = contacts.load_model('x')") == set()


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


def test_tutorial_runs_cleanly_and_its_committed_outputs_are_current(run_notebook, structures_dir, msas_dir):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    committed = stdout(nb)
    run_notebook(nb, path=NOTEBOOK.parent, env={"CONTACTS_SHARED": str(structures_dir.parent)})
    assert make_tutorial.problems(nb) == []  # no warning, nothing on standard error, no path of this machine
    assert_shows_everything(nb)
    assert stdout(nb) == committed, "the committed outputs are stale: python bench/make_tutorial.py"


def test_problems_finds_errors_warnings_standard_error_and_paths():
    v4 = nbformat.v4
    cells = [v4.new_code_cell("a"), v4.new_code_cell("b"), v4.new_code_cell("c"), v4.new_code_cell("d")]
    cells[0].outputs = [v4.new_output("stream", name="stderr", text="TqdmWarning: IProgress not found\n")]
    cells[1].outputs = [v4.new_output("error", ename="ValueError", evalue="bad", traceback=["ValueError: bad"])]
    cells[2].outputs = [v4.new_output("execute_result", data={"text/plain": "PosixPath('/home/me/shared')"})]
    cells[3].outputs = [v4.new_output("stream", name="stdout", text="UserWarning: careful\n"),
                        v4.new_output("display_data", data={"image/png": "iVBOR/home/me/w"})]
    found = make_tutorial.problems(v4.new_notebook(cells=cells), paths=["/home/me"])
    assert [f.split(":")[0] for f in found] == ["code cell 1 ('a')", "code cell 2 ('b')", "code cell 3 ('c')",
                                                 "code cell 4 ('d')"]
    assert "standard error" in found[0] and "ValueError" in found[1] and "/home/me" in found[2]
    assert "a warning" in found[3]  # and nothing from the image's base64
