"""Runs you can trust, as a user types them (``python -m contacts``): provenance, refusals,
resumption after kill -9 and Ctrl-C, one-line errors, file modes, every input problem at once."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from reference import write_release

from contacts.encoder.config import PRESETS

REPO = Path(__file__).resolve().parents[2]
FASTA = ">a first\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>b\nGSHMDEKLLRMKTAYIAKQ\n>c\nACDEFGHIKLMNPQRSTVWY\n"


def contacts(*argv, cwd=None, env=None, umask=None, check=None):
    """Run ``python -m contacts ARGV`` in a fresh interpreter; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": "", **(env or {})}
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    out = subprocess.run([sys.executable, "-m", "contacts", *map(str, argv)], capture_output=True, text=True,
                         cwd=cwd, env=full_env, preexec_fn=preexec, timeout=300)
    if check is not None:
        assert out.returncode == check, out.stderr
    return out


def one_error_line(out, command="predict", code=1) -> str:
    """The process failed with exit ``code`` and exactly one line on stderr, ``contacts COMMAND: error: ...``."""
    assert out.returncode == code, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"contacts {command}: error: "), out.stderr
    return lines[0]


def _fasta(folder: Path, text: str = FASTA) -> Path:
    path = folder / "in.fasta"
    path.write_text(text)
    return path


def _record(out: Path) -> dict:
    return json.loads((out / "contacts-run.json").read_text())


def test_run_record_and_a_rerun_that_does_only_what_is_missing(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    first = contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    assert "3 written, 0 already done" in first.stdout
    record = _record(out)
    assert record["model"]["source"] == "random:tiny" and len(record["model"]["weights_sha256"]) == 64
    assert len(record["model"]["regression_sha256"]) == 64 and record["contacts_version"]
    assert record["options"]["dtype"] == "float32" and record["options"]["device_type"] == "cpu"
    assert {"window", "overlap", "rr_min_separation", "rr_top"} <= record["options"].keys()
    ids = {e["id"]: e["sequence_sha256"] for e in record["items"]}
    assert set(ids) == {"a", "b", "c"} and len(set(ids.values())) == 3
    assert record["state"] == "done" and {e["state"] for e in record["items"]} == {"done"}
    assert record["items"][0]["files"] == ["a.npy", "a.rr", "a.json"]
    # the same record travels with each map: ID.json beside ID.npy, REMARK lines in ID.rr
    beside = json.loads((out / "a.json").read_text())
    assert beside["sequence_sha256"] == ids["a"] and beside["run"]["model"] == record["model"]
    rr = (out / "a.rr").read_text()
    assert f"REMARK sequence sha256 {ids['a']}" in rr and record["model"]["weights_sha256"] in rr
    again = contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    assert "0 written, 3 already done" in again.stdout
    assert again.stderr == ("contacts predict: nothing to do: all 3 records are done with these settings "
                            "(--overwrite does them again)\n")
    assert _record(out)["created"] == record["created"]


def test_dtype_auto_writes_its_choice_in_the_run_record(tmp_path):
    """On the CPU --dtype auto is float32: the run record says so, and a float32 rerun finds the work done."""
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    contacts("predict", "--model", "random:tiny", fasta, "-o", out, "--dtype", "auto", check=0)
    assert _record(out)["options"]["dtype"] == "float32"
    assert json.loads((out / "a.json").read_text())["run"]["options"]["dtype"] == "float32"
    again = contacts("predict", "--model", "random:tiny", fasta, "-o", out, "--dtype", "float32", check=0)
    assert "0 written, 3 already done" in again.stdout


def test_no_rr_writes_maps_and_records_only_and_a_run_with_rr_adds_them(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    contacts("predict", "--model", "random:tiny", fasta, "-o", out, "--no-rr", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npy", "b.json", "b.npy", "c.json", "c.npy",
                                                    "contacts-run.json"]
    assert json.loads((out / "a.json").read_text())["files"] == ["a.npy"]
    again = contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    assert "3 written, 0 already done" in again.stdout and (out / "c.rr").read_text().endswith("END\n")


def test_model_changed_between_runs_is_refused_then_overwritten(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    before = np.load(out / "a.npy")
    line = one_error_line(contacts("predict", "--model", "random:small", fasta, "-o", out))
    assert "weights: 'random:tiny'" in line and "'random:small'" in line and "--overwrite" in line
    np.testing.assert_array_equal(np.load(out / "a.npy"), before)
    done = contacts("predict", "--model", "random:small", fasta, "-o", out, "--overwrite", check=0)
    assert "3 written" in done.stdout
    assert _record(out)["model"]["source"] == "random:small"
    assert not np.array_equal(np.load(out / "a.npy"), before)


def test_options_changed_between_runs_are_refused(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    line = one_error_line(contacts("predict", "--model", "random:tiny", fasta, "-o", out,
                                   "--rr-min-separation", "3", "--window", "16"))
    assert "rr_min_separation: 6 -> 3" in line and "window: 1022 -> 16" in line


def test_a_changed_sequence_is_recomputed_not_skipped(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    assert np.load(out / "b.npy").shape == (19, 19)
    _fasta(tmp_path, FASTA.replace("GSHMDEKLLRMKTAYIAKQ", "GSHMDEKLLR"))
    again = contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    assert "1 written, 2 already done" in again.stdout
    assert np.load(out / "b.npy").shape == (10, 10)
    assert "\nGSHMDEKLLR\n" in (out / "b.rr").read_text()


KILL_ON_THIRD_SAVE = """
import os, signal, sys
from contacts.io import files
real, saves = files._create_part, []
def create_part(path):
    fd, tmp = real(path)
    if path.suffix == ".npy":
        saves.append(1)
        if len(saves) == 3:  # half of the third map is on disk: kill -9 now
            os.write(fd, b"\\x93NUMPY half a file")
            os.kill(os.getpid(), signal.SIGKILL)
    return fd, tmp
files._create_part = create_part
from contacts.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_9_mid_write_then_rerun_leaves_no_part_and_every_record_complete(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILL_ON_THIRD_SAVE, "predict", "--model", "random:tiny",
                             str(fasta), "-o", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert len(list(out.glob(".*.npy.*.part"))) == 1, "the kill did not land mid-write"
    (out / ".notes.txt.part").write_text("not ours: a name outside the package's pattern")
    rerun = contacts("predict", "--model", "random:tiny", fasta, "-o", out, check=0)
    assert "1 written, 2 already done" in rerun.stdout
    assert sorted(p.name for p in out.glob(".*")) == [".notes.txt.part"]
    for rid, n in (("a", 33), ("b", 19), ("c", 20)):
        assert np.load(out / f"{rid}.npy").shape == (n, n)
        assert (out / f"{rid}.rr").read_text().endswith("END\n")
        assert json.loads((out / f"{rid}.json").read_text())["length"] == n


def test_ctrl_c_exits_130_with_one_line(tmp_path):
    fasta = _fasta(tmp_path, "".join(f">r{i}\n{'MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ' * 2}\n" for i in range(400)))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": ""}
    proc = subprocess.Popen([sys.executable, "-m", "contacts", "predict", "--model", "random:tiny", str(fasta),
                             "-o", str(out), "--max-tokens", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not list(out.glob("r*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    done = int(lines[0].split("interrupted: ")[1].split(" of ")[0])
    assert lines[0] == f"contacts predict: interrupted: {done} of 400 records done; rerun the same command to resume"
    # a record counts once its last file (ID.json) is written; the signal may land just after that
    assert done <= len(list(out.glob("r*.json"))) <= done + 1 and done < 400
    assert not list(out.glob(".*.part"))


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_outputs_honour_the_umask(tmp_path, umask, mode):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    contacts("predict", "--model", "random:tiny", fasta, "-o", out, "--png", umask=umask, check=0)
    files = sorted(out.iterdir())
    assert {p.suffix for p in files} == {".npy", ".rr", ".png", ".json"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(mode)}


def test_every_fasta_problem_at_once_and_skip_invalid_skips_them_all(tmp_path):
    fasta = _fasta(tmp_path, ">dup\nMKTAY\n>ok\nMKTAYIAKQR\n>dup\nGSHMD\n>empty\n>bad\nMKJAYZ1Q\n"
                             ">gapped\nMQIF--VKTLTGKT\n>dotted\nMQ.F\n")
    out = tmp_path / "out"
    refused = contacts("predict", "--model", "random:tiny", fasta, "-o", out)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    err = refused.stderr
    assert err.startswith("contacts predict: error: 5 invalid record(s) (--skip-invalid skips them):")
    for expected in ("dup: duplicate id (2 records)", "empty: empty sequence (no residues)",
                     "bad: character 'J' at residue 3; character '1' at residue 7",
                     "gapped: gap '-' at residue 5 (an alignment symbol, not a residue: remove gaps or use the "
                     "ungapped sequence); gap '-' at residue 6",
                     "dotted: gap '.' at residue 3"):
        assert expected in err
    assert not out.exists()
    skipped = contacts("predict", "--model", "random:tiny", fasta, "-o", out, "--skip-invalid", check=0)
    assert "1 written, 0 already done, 5 skipped as invalid" in skipped.stdout
    assert sorted(line.split(":")[0].split()[-1] for line in skipped.stderr.splitlines() if "skipped" in line) \
        == ["bad", "dotted", "dup", "empty", "gapped"]
    assert sorted(p.name for p in out.glob("*.npy")) == ["ok.npy"]


@pytest.fixture(scope="module")
def bare_release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("bare"), PRESETS["tiny"], regression=False)


def test_missing_regression_is_one_line_before_the_output_folder(tmp_path, bare_release):
    out = tmp_path / "out"
    line = one_error_line(contacts("predict", "--model", bare_release, _fasta(tmp_path), "-o", out))
    assert "contact-regression" in line and "--regression PATH" in line and "regression=" not in line
    assert not out.exists()
    line = one_error_line(contacts("predict", "--model", bare_release, "--regression", tmp_path / "no.pt",
                                   _fasta(tmp_path), "-o", out))
    assert line.endswith("no.pt: no such file") and not out.exists()


def test_devices_and_debug(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    line = one_error_line(contacts("predict", "--model", "random:tiny", "--device", "gpu", fasta, "-o", out))
    assert "--device gpu: unknown device 'gpu'; choose cpu, cuda, cuda:N or mps" in line
    import torch  # noqa: PLC0415 (tests only: is this machine able to run cuda at all)
    if not torch.cuda.is_available():
        line = one_error_line(contacts("predict", "--model", "random:tiny", "--device", "cuda", fasta, "-o", out))
        assert "--device cuda:" in line and "choose cpu" in line
    assert not out.exists()
    debug = contacts("predict", "--model", "random:tiny", "--device", "gpu", fasta, "-o", out, "--debug")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    env = contacts("predict", "--model", "random:tiny", "--device", "gpu", fasta, "-o", out,
                   env={"CONTACTS_DEBUG": "1"})
    assert "Traceback (most recent call last)" in env.stderr


def test_offline_weights_name_both_files_and_random_models(tmp_path):
    cache = tmp_path / "cache"
    offline = {"CONTACTS_CACHE": str(cache), "TORCH_HOME": str(tmp_path / "torch"),
               "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    line = one_error_line(contacts("predict", "--model", "esm1b_t33_650M_UR50S", _fasta(tmp_path),
                                   "-o", tmp_path / "out", env=offline))
    assert str(cache / "esm1b_t33_650M_UR50S.pt") in line
    assert str(cache / "esm1b_t33_650M_UR50S-contact-regression.pt") in line
    assert "--model random:tiny" in line and not (tmp_path / "out").exists()
    line = one_error_line(contacts("predict", "--model", tmp_path / "nowhere.pt", "MKTAY", "-o", tmp_path / "out"))
    assert "no such file or folder" in line and "random:tiny" in line


def test_progress_lines_in_logs_not_bars(tmp_path):
    fasta, out = _fasta(tmp_path), tmp_path / "out"
    run = contacts("predict", "--model", "random:tiny", fasta, "-o", out, env={"CONTACTS_PROGRESS_INTERVAL": "0"},
                   check=0)
    assert "\r" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("contacts: ")]
    assert lines[-1].startswith("contacts: 3/3 seq done, ") and " seq/s" in lines[-1]
    assert any(" ETA " in line for line in lines[:-1])


def test_evaluate_lists_every_missing_prediction_before_scoring_and_traces_its_inputs(structures_dir, tmp_path):
    import contacts as lib  # noqa: PLC0415 (the structure's sequence, read as evaluate reads it)

    sequence = lib.load_structure(structures_dir / "1aki.cif").sequence
    preds = tmp_path / "preds"
    contacts("predict", "--model", "random:tiny", _fasta(tmp_path, f">1aki\n{sequence}\n"), "-o", preds, check=0)
    structures = [structures_dir / name for name in ("1aki.cif", "1A8O.cif", "1A7G.cif")]
    line = one_error_line(contacts("evaluate", "--structures", *structures, "--predictions", preds,
                                   "--output", tmp_path / "ev"), command="evaluate")
    assert "2 of 3 proteins have no prediction" in line and line.endswith(": 1A8O, 1A7G; --skip-missing scores the others")
    assert not (tmp_path / "ev.json").exists()
    done = contacts("evaluate", "--structures", *structures, "--predictions", preds, "--skip-missing",
                    "--output", tmp_path / "ev", env={"CONTACTS_PROGRESS_INTERVAL": "0"}, check=0)
    assert "proteins: 3/3 protein done" in done.stderr and "\r" not in done.stderr
    run = json.loads((tmp_path / "ev.json").read_text())["settings"]["run"]
    assert run["command"] == "evaluate" and run["contacts_version"]
    assert run["options"]["predictions_run"]["model"] == _record(preds)["model"]


@pytest.fixture(scope="module")
def two_structures(structures_dir, tmp_path_factory):
    """A structures folder of two chains (links to the shared files) with its own manifest."""
    folder = tmp_path_factory.mktemp("structures")
    rows = (structures_dir / "MANIFEST.tsv").read_text().splitlines()
    keep = [r for r in rows[1:] if r.split("\t")[0] in ("1aki.cif", "1A8O.cif")]
    assert len(keep) == 2
    header = rows[0].split("\t")
    split = header.index("split")
    (folder / "MANIFEST.tsv").write_text("\n".join([rows[0], *("\t".join(
        [*r.split("\t")[:split], "train", *r.split("\t")[split + 1:]]) for r in keep)]) + "\n")
    for name in ("1aki.cif", "1A8O.cif"):
        (folder / name).symlink_to(structures_dir / name)
    return folder


def test_train_probe_and_analyze_heads_outputs_carry_their_run_record(two_structures, tmp_path):
    logs = {"CONTACTS_PROGRESS_INTERVAL": "0"}
    probe = tmp_path / "probe.pt"
    fit = contacts("train-probe", "--model", "random:tiny", "--structures", two_structures, "-o", probe,
                   env=logs, check=0)
    assert "proteins: 2/2 protein done" in fit.stderr and "\r" not in fit.stderr
    run = json.loads((tmp_path / "probe.pt.run.json").read_text())
    tiny = _model_of_a_tiny_predict(tmp_path)
    assert run["command"] == "train-probe" and run["model"] == tiny
    assert sorted(run["items"][0]["proteins"]) == ["1A8O_A", "1aki_A"] and run["items"][0]["state"] == "done"
    import torch  # noqa: PLC0415 (the record also travels inside the probe file)
    inside = torch.load(probe, weights_only=True)["probe"]["run"]
    assert inside["model"] == tiny and sorted(inside["proteins"]) == ["1A8O_A", "1aki_A"]
    heads = contacts("analyze-heads", "--model", "random:tiny", "--structures", two_structures,
                     "-o", tmp_path / "heads", env=logs, check=0)
    assert "proteins: 2/2 protein done" in heads.stderr and heads.stderr.count("1/2") == 1  # one pass, one bar
    record = _record(tmp_path / "heads")
    assert record["command"] == "analyze-heads" and record["model"] == tiny


def _model_of_a_tiny_predict(tmp_path) -> dict:
    out = tmp_path / "tiny-predict"
    contacts("predict", "--model", "random:tiny", "MKTAYIAKQR", "-o", out, check=0)
    return _record(out)["model"]


def test_finetune_warns_when_warmup_cannot_end_and_records_its_run(tmp_path):
    fasta = _fasta(tmp_path)
    short = contacts("finetune", "--model", "random:tiny", "--fasta", fasta, "-o", tmp_path / "ft", "--steps", "2",
                     "--max-tokens", "128", "--warmup", "16000", "--no-progress", check=0)
    assert "warmup of 16000 updates is at least the run's 2 steps" in short.stderr
    record = _record(tmp_path / "ft")
    assert record["command"] == "finetune" and record["options"]["warmup_updates"] == 16000
    (tmp_path / "ft2").mkdir()
    left = tmp_path / "ft2" / ".checkpoint_000002.pt.k1ll3d_9.part"  # a killed run's half checkpoint
    left.write_bytes(b"half")
    scaled = contacts("finetune", "--model", "random:tiny", "--fasta", fasta, "-o", tmp_path / "ft2", "--steps", "2",
                      "--max-tokens", "128", "--no-progress", check=0)
    assert "warmup" not in scaled.stderr and not left.exists()
    assert _record(tmp_path / "ft2")["options"]["warmup_updates"] == 1


def test_evaluate_with_a_model_checks_it_as_every_command_does(bare_release, structures_dir, tmp_path):
    line = one_error_line(contacts("evaluate", "--structures", structures_dir / "1aki.cif", "--model", bare_release,
                                   "--output", tmp_path / "ev"), command="evaluate")
    assert "has no contact-regression file beside it" in line and "--regression PATH" in line
    line = one_error_line(contacts("evaluate", "--structures", structures_dir / "1aki.cif", "--model", "random:tiny",
                                   "--device", "gpu", "--output", tmp_path / "ev"), command="evaluate")
    assert "--device gpu: unknown device" in line
    assert not (tmp_path / "ev.json").exists()


def test_evaluate_device_goes_to_the_coevolution_fit_and_is_checked_first(structures_dir, msas_dir, tmp_path):
    structure = structures_dir / "6anz_1_B.pdb"
    line = one_error_line(contacts("evaluate", "--structures", structure, "--msa", msas_dir, "--device", "gpu",
                                   "--output", tmp_path / "ev"), command="evaluate")
    assert "--device gpu: unknown device 'gpu'" in line
    line = one_error_line(contacts("evaluate", "--structures", structure, "--predictions", tmp_path, "--device", "cpu",
                                   "--output", tmp_path / "ev"), command="evaluate")
    assert "--device needs --model or --msa" in line
    line = one_error_line(contacts("evaluate", "--structures", structure, "--msa", msas_dir, "--dtype", "bfloat16",
                                   "--output", tmp_path / "ev"), command="evaluate")
    assert "--dtype needs --model" in line
    assert not (tmp_path / "ev.json").exists()
    contacts("evaluate", "--structures", structure, "--msa", msas_dir, "--method", "mi", "--device", "cpu",
             "--no-progress", "--output", tmp_path / "ev", check=0)
    options = json.loads((tmp_path / "ev.json").read_text())["settings"]["run"]["options"]
    assert options["device_type"] == "cpu" and options["method"] == "mi"


def _rr_pairs(path: Path) -> list[tuple[int, int, str]]:
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(int(r[0]), int(r[1]), r[4]) for r in rows if len(r) == 5 and r[0].isdigit()]


def test_rr_separation_top_and_digits(tmp_path):
    fasta = _fasta(tmp_path)
    contacts("predict", "--model", "random:tiny", fasta, "-o", tmp_path / "all", check=0)
    probs = np.load(tmp_path / "all" / "a.npy")
    n = len(probs)
    pairs = _rr_pairs(tmp_path / "all" / "a.rr")
    assert min(j - i for i, j, _ in pairs) == 6 and len(pairs) == (n - 6) * (n - 5) // 2  # CASP's default
    # every score reads back as the float32 in the .npy: distinct probabilities never tie
    assert all(np.float32(text) == probs[i - 1, j - 1] for i, j, text in pairs)
    upper = probs[np.triu_indices(n, 6)]
    assert len({text for *_, text in pairs}) == len(np.unique(upper))
    contacts("predict", "--model", "random:tiny", fasta, "-o", tmp_path / "top", "--rr-top", "L/2",
             "--rr-min-separation", "3", check=0)
    top = _rr_pairs(tmp_path / "top" / "a.rr")
    assert len(top) == round(n / 2) and min(j - i for i, j, _ in top) >= 3
    best = np.sort(probs[np.triu_indices(n, 3)])[::-1][: len(top)]
    np.testing.assert_array_equal([np.float32(t) for *_, t in top], best)
    line = one_error_line(contacts("predict", "--model", "random:tiny", fasta, "-o", tmp_path / "bad",
                                   "--rr-top", "2Lx"), code=2)
    assert "argument --rr-top: '2Lx': expected N (pairs), xL (e.g. 2L, 0.5L) or L/k" in line
