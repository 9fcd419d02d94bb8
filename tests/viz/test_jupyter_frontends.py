"""The explorer widget in real Jupyter front ends: JupyterLab 4 and Notebook 7, a live kernel, headless Chromium.

For each front end the test starts its server (this interpreter, 127.0.0.1, a free port, a
token, a fresh root, config and data folders, a kernelspec that runs this interpreter's
ipykernel on this checkout), writes a notebook that builds an explorer on 1aki with a
small random prediction and a 2 x 4 stack of random attention maps, opens it in headless
Chromium (playwright, every request off 127.0.0.1 blocked), runs all cells through the
front end's own command registry (``notebook:run-all-cells``), and drives the widget
through ``element.contactsExplorer``:

- ``select(i, j)``: both residues labelled in 3Dmol.js and the view centred on their atoms;
- ``selectHead(layer, head)`` on a head the widget's page does not hold: the page asks the
  kernel over the widget's message channel and the map it shows is that head's
  (the pairs drawn are :func:`~contacts.viz.pairs.select_pairs` of ``Explorer.head_map``
  computed here, and the map's digest changed); this is the only path that needs a kernel;
- the mouse on a cell: the tooltip names the residues, score, distance and label.

Needs jupyterlab / notebook, playwright, chromium and a local 3Dmol.js (skipped without
them; chromium and 3Dmol.js missing fail under CI=true, as in tests/viz/test_browser.py),
and the real structures of ../shared. Select with ``-k jupyter``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_browser import chromium, local_js  # noqa: F401 (fixtures)
from test_explorer_browser import browser, check_tooltip, expected_lines, residue_atoms, residue_name  # noqa: F401

import contacts
from contacts.viz.explorer import explore

REPO = Path(__file__).resolve().parents[2]
STRUCTURE = "1aki.cif"
LAYERS, HEADS = 2, 4  # 8 heads: the widget's page holds the 5 best, the kernel sends the others
HANDLE = "document.querySelector('.contacts-explorer').contactsExplorer"
FRONT_ENDS = {  # command, the notebook's URL under the server, the package that provides it
    "jupyterlab": (["lab"], "lab/tree/{name}", "jupyterlab"),
    "notebook7": (["notebook"], "notebooks/{name}", "notebook"),
}

pytestmark = pytest.mark.jupyter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inputs(structures_dir: Path):
    """The structure, a random prediction and random attention maps: what the notebook loads, and what we check against."""
    structure = contacts.load_structure(structures_dir / STRUCTURE)
    n = len(structure.sequence)
    rng = np.random.default_rng(24)
    probs = rng.random((n, n), dtype=np.float32)
    probs = (probs + probs.T) / 2
    maps = rng.random((LAYERS, HEADS, n, n), dtype=np.float32)
    return structure, probs, maps


NOTEBOOK_CELLS = [
    "import numpy as np\n"
    "import contacts\n"
    "from contacts.viz.explorer import explore\n"
    "structure = contacts.load_structure({structure!r})\n"
    "probs, maps = np.load('probs.npy'), np.load('maps.npy')",
    "x = explore(structure, probs, maps=maps, js={js!r})\n"
    "x",
]


def _notebook(path: Path, structure: Path, js: Path) -> None:
    cells = [{"cell_type": "code", "id": f"cell-{k}", "metadata": {}, "execution_count": None, "outputs": [],
              "source": cell.format(structure=str(structure), js=str(js))} for k, cell in enumerate(NOTEBOOK_CELLS)]
    path.write_text(json.dumps({
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "contacts-test", "display_name": "contacts test", "language": "python"}},
    }))


@pytest.fixture(params=sorted(FRONT_ENDS))
def server(request, tmp_path, chromium, local_js, structures_dir):  # noqa: F811 (the fixtures above)
    """A running front end serving ``tmp_path/root``, with the notebook and its inputs written there; stopped after."""
    command, url, package = FRONT_ENDS[request.param]
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed: pip install {package} (the test extras have it)")
    if importlib.util.find_spec("anywidget") is None:
        pytest.skip("anywidget is not installed: pip install anywidget (the test extras have it)")
    structure, probs, maps = _inputs(structures_dir)
    root, data = tmp_path / "root", tmp_path / "data"
    root.mkdir()
    np.save(root / "probs.npy", probs)
    np.save(root / "maps.npy", maps)
    _notebook(root / "explore.ipynb", structures_dir / STRUCTURE, local_js)
    # this interpreter's ipykernel on this checkout (not whatever "python3" the data path names)
    spec = data / "kernels" / "contacts-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "contacts test", "language": "python",
    }))
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    port, token = _free_port(), secrets.token_hex(16)
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", *command, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--expose-app-in-browser", *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter {command[0]} exited with {proc.returncode}:\n"
                            + (tmp_path / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter {command[0]} did not answer on {base} in 60 s:\n"
                            + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.25)
        yield {"url": base + url.format(name="explore.ipynb") + f"?token={token}", "structure": structure,
               "probs": probs, "maps": maps, "log": tmp_path / "server.log", "name": request.param, "js": local_js}
    finally:
        proc.terminate()  # jupyter shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _local_only(page) -> list[str]:
    """Block every request off this machine; the list of those blocked."""
    blocked: list[str] = []

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return blocked


def test_the_widget_runs_in_a_jupyter_front_end_and_fetches_heads_from_the_kernel(browser, server):  # noqa: F811
    structure, probs, maps = server["structure"], server["probs"], server["maps"]
    x = explore(structure, probs, maps=maps, js=server["js"])  # the kernel's explorer, rebuilt here to check
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    blocked = _local_only(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    try:
        page.goto(server["url"])
        # the app, its notebook and the notebook's kernel, then every cell run by the front end itself
        page.wait_for_function("() => { const w = window.jupyterapp?.shell?.currentWidget;"
                               " return w?.sessionContext?.session?.kernel?.connectionStatus === 'connected'"
                               " && w.sessionContext.session.kernel.status === 'idle'; }", timeout=60_000, polling=100)
        # Notebook 7.6 throws one error of its own while it starts ("reading 'schema'", in its settings
        # registry), before any cell runs: what is thrown from here on is the widget's
        errors.clear()
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".contacts-explorer[data-contacts-explorer=ready]", state="attached", timeout=60_000)
        state = page.evaluate(f"{HANDLE}.state()")
        assert state["viewer3d"] == "ready" and state["note"] == "" and state["n"] == len(x), state
        embedded = {tuple(map(int, k.split(","))) for k in state["heads"]}
        assert embedded == set(x.best_heads())  # the page holds the 5 best; the other heads are the kernel's

        # select(i, j): both residues labelled in 3D, the view centred on their atoms
        i, j = 10, 60
        page.evaluate(f"{HANDLE}.select({i}, {j})")
        assert page.evaluate(f"{HANDLE}.state().pair") == [i, j]
        assert page.evaluate(f"{HANDLE}.viewer.labels.map((l) => l.text)") == [
            residue_name(structure, x.index[p]) for p in (i, j)]
        atoms = residue_atoms(structure, [x.index[i], x.index[j]])
        view = np.array(page.evaluate(f"{HANDLE}.viewer.getView()")[:3])
        np.testing.assert_allclose(-view, atoms.mean(axis=0), atol=1e-3)

        # selectHead on a head the page does not hold: asked of the kernel, and the map becomes that head's
        layer, head = next((lay, h) for lay in range(LAYERS, 0, -1) for h in range(HEADS) if (lay, h) not in embedded)
        before = page.evaluate(f"{HANDLE}.mapDigest()")
        assert page.evaluate(f"{HANDLE}.selectHead({layer}, {head})") is True, page.evaluate(f"{HANDLE}.state().note")
        state = page.evaluate(f"{HANDLE}.state()")
        assert state["map"] == f"{layer},{head}" and f"{layer},{head}" in state["heads"], state
        assert page.evaluate(f"{HANDLE}.mapDigest()") != before
        ranked = contacts.viz.pairs.select_pairs(x.head_map(layer, head), top_k=len(x))
        assert [p[:2] for p in state["pairs"]] == [[int(a), int(b)] for a, b in zip(ranked.i, ranked.j)]

        # the mouse on a cell of the prediction: the tooltip names what Python computes for that pair
        page.evaluate(f"{HANDLE}.showPrediction()")
        page.evaluate("document.querySelector('.contacts-explorer').scrollIntoView({block: 'start'})")
        labels = contacts.contact_map(structure)
        i, j = 5, 70
        point = page.evaluate(f"{HANDLE}.cellCenter({i}, {j})")
        page.mouse.move(point["x"], point["y"])
        text = page.evaluate(f"{HANDLE}.state().tooltip")
        check_tooltip(text, *expected_lines(x, structure, labels, probs, i, j))
        assert blocked == [] and errors == [], (blocked, errors)  # offline, and nothing thrown
    finally:
        page.close()
