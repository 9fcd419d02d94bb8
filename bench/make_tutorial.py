"""Execute docs/tutorial.ipynb from top to bottom and save it with its outputs, after checking them.

The notebook is committed with its outputs, so that it reads as a finished example on
GitHub; ``tests/test_notebook.py`` runs it again in CI and checks the committed copy
with :func:`problems`: no error, no warning or other standard-error output, no path of
the machine that made it. Run from the repository root, with ``../shared`` beside it (or
``$CONTACTS_SHARED`` set)::

    python bench/make_tutorial.py

The kernel is this interpreter, with the repository first on its path; 3D views load
3Dmol.js from the CDN (``$CONTACTS_3DMOL_JS`` is unset for the run), as a reader's do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat
from ipykernel import kernelspec

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
KERNEL = "contacts-tutorial"
#: What the saved notebook's metadata says (not the temporary kernel it ran on).
METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}


def machine_paths() -> list[str]:
    """Absolute paths of this machine that must not appear in saved outputs."""
    paths = {REPO.parent, Path.home(), Path(sys.prefix), Path(tempfile.gettempdir())}
    shared = os.environ.get("CONTACTS_SHARED")
    if shared:
        paths.add(Path(shared).resolve())
    return sorted({str(p) for p in paths if str(p) not in ("/", "")}, key=len, reverse=True)


def output_text(output) -> str:
    """What an output shows as text: stream text, tracebacks, every mime type's data but images
    (base64, where any short string turns up by chance)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return "\n".join(str(v) for k, v in output.get("data", {}).items() if not k.startswith("image/"))


def problems(nb, *, paths: list[str] | None = None) -> list[str]:
    """What must not be in an executed tutorial: errors, warnings, standard error, this machine's paths."""
    paths = machine_paths() if paths is None else paths
    found = []
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        where = f"code cell {number + 1} ({cell.source.splitlines()[0][:40]!r})"
        for output in cell.get("outputs", []):
            text = output_text(output)
            if output.output_type == "error":
                found.append(f"{where}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                found.append(f"{where}: standard error: {text.strip()[:200]!r}")
            elif re.search(r"\b\w*Warning\b", text) and output.output_type == "stream":
                found.append(f"{where}: a warning: {text.strip()[:200]!r}")
            found += [f"{where}: the path {p!r} in an output" for p in paths if p in text]
    state = json.dumps(nb.metadata.get("widgets", {}))
    found += [f"widget state: the path {p!r}" for p in paths if p in state]
    return found


def execute(nb, env: dict[str, str]) -> None:
    """Run ``nb`` in place on a kernel of this interpreter, in docs/, with ``env`` over os.environ."""
    with tempfile.TemporaryDirectory() as prefix:
        kernelspec.install(kernel_name=KERNEL, prefix=prefix)
        saved = dict(os.environ)
        os.environ.update(env, JUPYTER_PATH=str(Path(prefix) / "share" / "jupyter"))
        try:
            nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=600,
                                    resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK)
    args = parser.parse_args(argv)
    nb = nbformat.read(args.notebook, as_version=4)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    os.environ.pop("CONTACTS_3DMOL_JS", None)  # the CDN, as a reader's views load it
    execute(nb, env)
    found = problems(nb)
    if found:
        print("not saved:\n  " + "\n  ".join(found), file=sys.stderr)
        return 1
    # the explorer's widget state (its script and data) stays: it is what shows it without a kernel
    widgets = {"widgets": nb.metadata["widgets"]} if "widgets" in nb.metadata else {}
    nb.metadata = nbformat.from_dict({**METADATA, **widgets})
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # run timestamps: noise in every diff
        for output in cell.get("outputs", []):
            # py3Dmol puts each view's page twice, as text/html and for a JupyterLab extension few have;
            # the text/html copy is what notebook front ends show (half the file's size).
            output.get("data", {}).pop("application/3dmoljs_load.v0", None)
    nbformat.write(nb, args.notebook)
    print(f"wrote {args.notebook.relative_to(REPO)} with outputs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
