"""The run-folder contract, command by command, as a user types it (``python -m contacts``): a rerun with
another model or dtype refused in the record's words, --overwrite leaving no old file, another command's
folder, two runs at once, a killed holder's lock, Ctrl-C at a known point and the record's states."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_runs import REPO, contacts, one_error_line

RECORD = "contacts-run.json"
LOCK = ".contacts-run.lock"
FASTA = ">a first\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>b\nGSHMDEKLLRMKTAYIAKQ\n>c\nACDEFGHIKLMNPQRSTVWY\n"
WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
COMMANDS = ("predict", "evaluate", "train-probe", "analyze-heads", "finetune", "score-variants", "fill-mask")


@pytest.fixture(scope="module")
def inputs(structures_dir, tmp_path_factory):
    """A FASTA file, a mutations table and a structures folder of the two smallest chains (links to the shared
    files: 51 and 67 residues)."""
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "in.fasta").write_text(FASTA)
    (folder / "mutations.csv").write_text("mutant\nK2R\nT3W\nK2R:Y5F\n")
    structures = folder / "structures"
    structures.mkdir()
    rows = (structures_dir / "MANIFEST.tsv").read_text().splitlines()
    keep = [r for r in rows[1:] if r.split("\t")[0] in ("1LCD.cif", "5fbz_1_B.pdb")]
    (structures / "MANIFEST.tsv").write_text("\n".join([rows[0], *keep]) + "\n")
    for name in ("1LCD.cif", "5fbz_1_B.pdb"):
        (structures / name).symlink_to(structures_dir / name)
    return folder


class Command:
    """How a user runs one command into ``where`` (a folder; file commands write one name inside it)."""

    def __init__(self, name: str, inputs: Path, where: Path, *, output: str | None = None):
        self.name, self.inputs, self.where = name, inputs, where
        self.output = output or {"evaluate": "ev", "train-probe": "probe.pt", "score-variants": "scored.csv",
                                 "fill-mask": "masks.json"}.get(name)

    @property
    def record(self) -> Path:
        """The run record: the folder's for a folder command, ``NAME.run.json`` for a file command."""
        return self.where / (RECORD if self.output is None else f"{self.output}.run.json")

    def argv(self, model: str = "random:tiny", *extra, variant: bool = False) -> list:
        """The command line; ``variant`` asks for a run that writes other files than the plain one."""
        i, out = self.inputs, self.where / (self.output or "")
        struct = ["--structures", i / "structures", "--split", "all", "--no-progress"]
        return {
            "predict": ["predict", "--model", model, i / "in.fasta", "-o", self.where,
                        *(["--png", "--html"] if variant else [])],
            "evaluate": ["evaluate", "--model", model, "--structures", i / "structures", "--output", out,
                         "--no-progress"],
            "train-probe": ["train-probe", "--model", model, *struct, "-o", out],
            "analyze-heads": ["analyze-heads", "--model", model, *struct, "-o", self.where, "--no-probing",
                              "--property", "contact,helix" if variant else "contact"],
            "finetune": ["finetune", "--model", model, "--fasta", i / "in.fasta", "-o", self.where,
                         "--steps", "6" if variant else "4", "--save-every", "2", "--max-tokens", "128",
                         "--no-progress"],
            "score-variants": ["score-variants", "--model", model, "--sequence", WT, "--mutations",
                               i / "mutations.csv", "-o", out, "--no-progress"],
            "fill-mask": ["fill-mask", "--model", model, "MKT<mask>YIAK", "-o", out],
        }[self.name] + list(extra)

    def state(self) -> dict:
        return json.loads(self.record.read_text())


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _listed(record: dict) -> set[str]:
    return {*record.get("files", []), *(f for e in record["items"] for f in e.get("files", []))}


@pytest.mark.parametrize("name", COMMANDS)
def test_another_model_or_dtype_is_refused_and_overwrite_leaves_no_old_file(name, inputs, tmp_path):
    run = Command(name, inputs, tmp_path / "out")
    contacts(*run.argv(variant=True), check=0)
    first = run.state()
    assert first["command"] == name and first["state"] == "done" and first["model"]["source"] == "random:tiny"
    old = _files(run.where)
    assert _listed(first) <= old

    line = one_error_line(contacts(*run.argv("random:small")), name)
    assert "weights: 'random:tiny' (sha256 " in line and "-> 'random:small'" in line and "--overwrite" in line
    line = one_error_line(contacts(*run.argv("random:tiny", "--dtype", "bfloat16", variant=True)), name)
    assert "(dtype: 'float32' -> 'bfloat16')" in line and "weights" not in line  # a dtype change is no other weights
    assert _files(run.where) == old and run.state() == first  # refusals touch nothing

    started = time.time()
    replaced = contacts(*run.argv("random:small", "--overwrite"), check=0)
    assert f"contacts {name}: --overwrite: removed" in replaced.stderr
    record = run.state()
    assert record["model"]["source"] == "random:small" and record["created"] >= first["created"]
    now = _files(run.where)
    # every file there is the new run's (or its record): nothing of the old run is left
    assert now - {run.record.name} == _listed(record)
    assert all((run.where / f).stat().st_mtime >= started - 1 for f in now)
    if name in ("predict", "analyze-heads", "finetune"):
        assert old - now  # the variant's own files (PNGs and pages, the helix figures, checkpoint 6) are gone
    if name == "predict":
        assert "index.html" in first["files"] and not {"index.html", "a.html", "a.png"} & now


@pytest.fixture(scope="module")
def predict_folder(inputs, tmp_path_factory):
    """A folder a real ``contacts predict`` made (records a, b, c)."""
    folder = tmp_path_factory.mktemp("made-by-predict")
    contacts(*Command("predict", inputs, folder).argv(), check=0)
    return folder


@pytest.mark.parametrize("name", COMMANDS)
def test_a_rerun_into_another_commands_folder(name, inputs, predict_folder, tmp_path):
    where = tmp_path / "out"
    if name == "predict":  # a finetune folder: one folder holds one folder command's run, whatever --overwrite says
        contacts(*Command("finetune", inputs, where).argv(), check=0)
        for extra in ([], ["--overwrite"]):
            line = one_error_line(contacts(*Command(name, inputs, where).argv("random:tiny", *extra)), name)
            assert line.endswith(f"{where} holds the run of 'contacts finetune' ({RECORD}); 'contacts predict' "
                                 "keeps its files apart: choose another output folder")
        return
    import shutil
    shutil.copytree(predict_folder, where)
    before = {p.name: p.read_bytes() for p in where.iterdir()}
    if name in ("analyze-heads", "finetune"):
        line = one_error_line(contacts(*Command(name, inputs, where).argv("random:tiny", "--overwrite")), name)
        assert f"holds the run of 'contacts predict' ({RECORD}); 'contacts {name}' keeps its files apart" in line
    else:  # a file command keeps its files apart by name, refusing one that predict's record lists
        clash = Command(name, inputs, where, output="a" if name == "evaluate" else "a.json")
        line = one_error_line(contacts(*clash.argv()), name)
        assert line.endswith(f"{where / 'a.json'} belongs to the run of 'contacts predict' recorded in {RECORD}; "
                             "choose another output")
        beside = Command(name, inputs, where)
        contacts(*beside.argv(), check=0)
        assert beside.state()["command"] == name
        assert {p.name: p.read_bytes() for p in where.iterdir() if p.name in before} == before
    assert json.loads((where / RECORD).read_text())["command"] == "predict"


HOLD = """
import sys, time
from contacts.runners.runfolder import FolderLock
FolderLock(sys.argv[1], "predict").acquire()
print("held", flush=True)
time.sleep(600)
"""


def _hold(lock: Path) -> subprocess.Popen:
    """Another run holding the folder's lock (a process that takes it and waits)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("name", COMMANDS)
def test_a_second_run_is_refused_while_the_folder_is_locked_and_a_killed_holders_lock_is_taken_over(
        name, inputs, tmp_path):
    run = Command(name, inputs, tmp_path / "out")
    holder = _hold(run.where / LOCK)
    try:
        line = one_error_line(contacts(*run.argv()), name)
        assert f"is in use by another run (contacts predict, PID {holder.pid}, started " in line
        assert line.endswith("wait for it to end, or choose another output folder")
    finally:
        holder.kill()  # kill -9: its lock file stays behind, its lock does not
        holder.wait()
    assert (run.where / LOCK).exists()
    done = contacts(*run.argv(), check=0)
    assert f"contacts {name}: took over the lock of a run that is gone (contacts predict, PID {holder.pid}, " \
        in done.stderr
    assert not (run.where / LOCK).exists() and run.state()["state"] == "done"


def test_two_real_runs_at_once(inputs, tmp_path):
    fasta = tmp_path / "many.fasta"
    # enough work that the first run is still going when the second starts (random:tiny finished 400
    # records before a second interpreter was up once predict wrote its files beside the model)
    n = 2000
    fasta.write_text("".join(f">r{i}\n{WT * 2}\n" for i in range(n)))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": ""}
    first = subprocess.Popen([sys.executable, "-m", "contacts", "predict", "--model", "random:small", str(fasta),
                              "-o", str(out), "--max-tokens", "200"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("r*.json")) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        line = one_error_line(contacts("predict", "--model", "random:small", fasta, "-o", out))
        assert f"(contacts predict, PID {first.pid}, started " in line
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130
    record = json.loads((out / RECORD).read_text())
    states = [e["state"] for e in record["items"]]
    assert record["state"] == "interrupted" and 0 < states.count("done") < n
    assert states.count("done") + states.count("pending") == n
    resumed = contacts("predict", "--model", "random:small", fasta, "-o", out, "--max-tokens", "2000", check=0)
    assert resumed.stderr.startswith(f"contacts predict: resuming: {states.count('done')} of {n} records done\n")


# Each command interrupted by a real SIGINT at a known point: after the first item of several is done,
# or inside the work of a single item. Where that point runs in a writer thread (predict), the SIGINT
# lands in the main thread while the writer's task goes on: the task is finished (a second later), so
# the record it writes is done, and the queued ones are dropped.
CTRL_C = """
import os, signal, sys, threading, time
import contacts, probes
from contacts.cli.main import main
module, name, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
owner = eval(module, {"contacts": contacts, "probes": probes})
real, calls = getattr(owner, name), []
def interrupt(*args, **kwargs):
    calls.append(1)
    if len(calls) > after:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60 if threading.current_thread() is threading.main_thread() else 1)
    return real(*args, **kwargs)
setattr(owner, name, interrupt)
sys.exit(main(sys.argv[4:]))
"""
KNOWN_POINTS = {  # where Ctrl-C lands, and the item states it leaves
    # a, then c (longest first): c's write is running when Ctrl-C lands, b's queued
    "predict": ("contacts.runners.predict", "write_outputs", 1, {"a": "done", "b": "pending", "c": "done"}),
    "evaluate": ("contacts.analysis.evaluation", "place_prediction", 1, {"1LCD": "done", "5fbz_1_B": "pending"}),
    "train-probe": ("probes.selection", "fit_probe", 0, {"probe.pt": "pending"}),
    "analyze-heads": ("probes.heads", "write_report", 0, {"report": "pending"}),  # the attention report written
    "finetune": ("contacts.runners.finetune", "learning_rate", 2,
                 {"checkpoint_000002.pt": "done", "checkpoint_000004.pt": "pending"}),
    "score-variants": ("contacts.predictor.variants", "position_log_probs", 0, {"scored.csv": "pending"}),
    "fill-mask": ("contacts.predictor.core.Predictor", "fill_mask", 0, {"masks.json": "pending"}),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_ctrl_c_at_a_known_point_leaves_the_states_in_the_record(name, inputs, tmp_path):
    run = Command(name, inputs, tmp_path / "out")
    module, function, after, states = KNOWN_POINTS[name]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": ""}
    out = subprocess.run([sys.executable, "-c", CTRL_C, module, function, str(after), *map(str, run.argv())],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 130, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"contacts {name}: interrupted")
    record = run.state()
    assert record["state"] == "interrupted"
    assert {e["id"]: e["state"] for e in record["items"]} == states
    assert not [p.name for p in run.where.iterdir() if p.name.endswith(".part") or p.name == LOCK]
    if name == "analyze-heads":  # written before the interruption: listed, so a rerun or --overwrite finds them
        assert "attention_summary.json" in record["items"][0]["files"]
    finished = contacts(*run.argv(), check=0)
    if "done" in states.values():
        done = list(states.values()).count("done")
        assert f"contacts {name}: {'starting over' if name == 'finetune' else 'resuming'}: {done} of " in finished.stderr
    assert run.state()["state"] == "done"
