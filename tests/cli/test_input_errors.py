"""Every command's inputs, as the operating system refuses them: one line ``contacts COMMAND: error: ...`` in plain
words naming the flag and the file, exit 1; an error the package did not expect is a bug, exit 70, for every
command, with its traceback only under ``--debug`` (issue 26)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_runs import REPO

from contacts.cli import main
from contacts.cli.common import EXIT_BUG, EXIT_USER_ERROR
from contacts.cli.main import build_parser
from contacts.io.manifest import write_manifest
from contacts.runners.predict import resolve_window

pytestmark = pytest.mark.usefixtures("one_thread")

WT = "MKTAYIAKQRQISFVKSHFSRQ"
TINY = ("--model", "random:tiny")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, structures_dir):
    """Good inputs for every flag but the one a case breaks; the broken paths: missing, a folder, a loop."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "in.fasta").write_text(f">a\n{WT}\n")
    (d / "m.csv").write_text("mutant\nK2R\n")
    (d / "folder").mkdir()
    (d / "loop").symlink_to(d / "loop")
    write_manifest(d / "one.tsv", [{"file": str(structures_dir / "1crr.bcif"), "chain": "A", "split": "train"}])
    return d


def commands(d: Path, p: Path) -> dict[str, list]:
    """``COMMAND FLAG`` -> the command line with ``p`` as that flag's value and good values elsewhere."""
    one = d / "one.tsv"
    return {
        "predict INPUT": ["predict", *TINY, p, "-o", d / "out"],
        "predict --regression": ["predict", *TINY, "--regression", p, d / "in.fasta", "-o", d / "out"],
        "predict --model": ["predict", "--model", p, d / "in.fasta", "-o", d / "out"],
        "evaluate --structures": ["evaluate", "--structures", p, *TINY, "--output", d / "ev"],
        "evaluate --predictions": ["evaluate", "--structures", one, "--predictions", p, "--output", d / "ev"],
        "evaluate --msa": ["evaluate", "--structures", one, "--msa", p, "--output", d / "ev"],
        "evaluate --manifest": ["evaluate", "--structures", d, "--manifest", p, *TINY, "--output", d / "ev"],
        "evaluate --domains": ["evaluate", "--structures", d, "--domains", p, *TINY, "--output", d / "ev"],
        "evaluate --probe": ["evaluate", "--structures", one, "--probe", p, *TINY, "--output", d / "ev"],
        "train-probe --structures": ["train-probe", *TINY, "--structures", p, "-o", d / "p.pt"],
        "train-probe --domains": ["train-probe", *TINY, "--structures", d, "--domains", p, "-o", d / "p.pt"],
        "analyze-heads --structures": ["analyze-heads", *TINY, "--structures", p, "-o", d / "ah"],
        "analyze-heads --domains": ["analyze-heads", *TINY, "--structures", d, "--domains", p, "-o", d / "ah"],
        "analyze-heads --probe": ["analyze-heads", *TINY, "--structures", one, "--probe", p, "-o", d / "ah"],
        "fill-mask --model": ["fill-mask", "--model", p, "MK<mask>"],
        "score-variants --mutations": ["score-variants", *TINY, "--sequence", WT, "--mutations", p, "-o", d / "s.csv"],
        "score-variants --fasta": ["score-variants", *TINY, "--fasta", p, "--mutations", d / "m.csv", "-o",
                                   d / "s.csv"],
        "finetune --fasta": ["finetune", *TINY, "--fasta", p, "-o", d / "ft", "--steps", "1"],
        "finetune --valid": ["finetune", *TINY, "--fasta", d / "in.fasta", "--valid", p, "-o", d / "ft", "--steps", "1"],
    }


#: Flags that take a folder (or either): a folder in their place is no error.
FOLDERS_TAKEN = {"predict --model", "evaluate --structures", "evaluate --predictions", "evaluate --msa",
                 "train-probe --structures", "analyze-heads --structures", "fill-mask --model"}
CASES = list(commands(Path("d"), Path("p")))


def run(argv: list, capsys) -> tuple[int, list[str]]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def _error(code: int, lines: list[str], command: str) -> str:
    assert code == EXIT_USER_ERROR and len(lines) == 1, lines
    assert lines[0].startswith(f"contacts {command}: error: "), lines
    return lines[0].removeprefix(f"contacts {command}: error: ")


@pytest.mark.parametrize("case", CASES)
def test_a_symbolic_link_loop_is_named_in_plain_words(inputs, case, capsys):
    command, flag = case.split()
    loop = inputs / "loop"
    said = _error(*run(commands(inputs, loop)[case], capsys), command)
    where = str(loop) if flag == "INPUT" else f"{flag} {loop}"
    assert said == f"{where}: too many levels of symbolic links"


@pytest.mark.parametrize("case", CASES)
def test_a_missing_input_is_no_such_file(inputs, case, capsys):
    command, flag = case.split()
    missing = inputs / "nowhere"
    said = _error(*run(commands(inputs, missing)[case], capsys), command)
    assert said.startswith(str(missing) if flag == "INPUT" else f"{flag} {missing}: no such ")
    assert ": no such file" in said or ": no such folder" in said


@pytest.mark.parametrize("case", [c for c in CASES if c not in FOLDERS_TAKEN])
def test_a_folder_in_place_of_a_file_is_refused_naming_the_flag(inputs, case, capsys):
    command, flag = case.split()
    folder = inputs / "folder"
    said = _error(*run(commands(inputs, folder)[case], capsys), command)
    assert said.startswith(f"{folder}: is a folder" if flag == "INPUT" else f"{flag} {folder}: is a folder")


@pytest.mark.parametrize("case", ["evaluate --predictions", "evaluate --msa"])
def test_a_file_in_place_of_a_folder_is_refused_naming_the_flag(inputs, case, capsys):
    command, flag = case.split()
    said = _error(*run(commands(inputs, inputs / "in.fasta")[case], capsys), command)
    assert said == f"{flag} {inputs / 'in.fasta'}: is a file; give the folder that holds the files"


UNREADABLE = ["predict INPUT", "score-variants --mutations", "finetune --fasta", "analyze-heads --probe"]


def test_an_unreadable_input_is_permission_denied_end_to_end(inputs):
    """Run without the right to read what the file's mode forbids (root reads anything: as root, its capabilities to
    do so are dropped for the run)."""
    drop = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop the capability of reading any file")
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    secret = inputs / "secret"
    secret.write_text(f">a\n{WT}\n")
    secret.chmod(0)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": ""}
    cases = commands(inputs, secret)
    for case in UNREADABLE:
        argv = [*drop, sys.executable, "-m", "contacts", *map(str, cases[case])]
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == EXIT_USER_ERROR, out.stderr
        assert out.stderr == f"contacts {case.split()[0]}: error: {secret}: permission denied\n"


def test_a_record_past_the_residue_limit_is_refused_before_any_model_loads(tmp_path, monkeypatch, capsys):
    """A release not in an empty cache, offline: had the model begun to load, the error would be its download's."""
    monkeypatch.setenv("CONTACTS_CACHE", str(tmp_path / "empty"))
    long = tmp_path / "long.fasta"
    long.write_text(f">ok\n{WT}\n>long\n{'A' * 60_000}\n")
    for argv in (["predict", "--model", "esm2_t6_8M_UR50D", long, "-o", tmp_path / "out", "--no-progress"],
                 ["finetune", "--model", "esm2_t6_8M_UR50D", "--fasta", long, "-o", tmp_path / "ft", "--steps", "1"]):
        code, lines = run(argv, capsys)
        assert code == EXIT_USER_ERROR, lines
        assert "long: 60,000 residues, past the limit of 40,000 a record may have (contacts.constants.MAX_RESIDUES)" \
            in "\n".join(lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.fasta"]  # no output folder, no cache begun


# ------------------------------------------------------------------------------------------------ bugs: exit 70

#: Each command with good inputs (the model's loading is where the test breaks it).
GOOD = {
    "predict": lambda d: ["predict", *TINY, d / "in.fasta", "-o", d / "bug-out", "--no-progress"],
    "evaluate": lambda d: ["evaluate", "--structures", d / "one.tsv", *TINY, "--output", d / "bug-ev",
                           "--no-progress"],
    "train-probe": lambda d: ["train-probe", *TINY, "--structures", d / "one.tsv", "-o", d / "bug.pt",
                              "--no-progress"],
    "analyze-heads": lambda d: ["analyze-heads", *TINY, "--structures", d / "one.tsv", "-o", d / "bug-ah",
                                "--no-progress"],
    "fill-mask": lambda d: ["fill-mask", *TINY, "MK<mask>"],
    "score-variants": lambda d: ["score-variants", *TINY, "--sequence", WT, "--mutations", d / "m.csv", "-o",
                                 d / "bug.csv", "--no-progress"],
    "finetune": lambda d: ["finetune", *TINY, "--fasta", d / "in.fasta", "-o", d / "bug-ft", "--steps", "1",
                           "--no-progress"],
}
MODULES = {"predict": "predict", "evaluate": "evaluate", "train-probe": "train_probe",
           "analyze-heads": "analyze_heads", "fill-mask": "fill_mask", "score-variants": "score_variants",
           "finetune": "finetune"}


def key_error(*args, **kwargs):
    raise KeyError("inside")


def library_value_error(*args, **kwargs):
    return json.loads("{")  # a ValueError (JSONDecodeError) raised inside a library, not by the package


def own_value_error(*args, **kwargs):
    return resolve_window(10, 20, None)  # the package's own refusal: a plain ValueError raised in contacts/


def test_every_command_is_listed():
    assert set(build_parser().commands) == set(GOOD)


@pytest.mark.parametrize("command", list(GOOD))
@pytest.mark.parametrize(("broken", "code", "said"), [
    (key_error, EXIT_BUG, "bug: KeyError: 'inside' (an error the package did not expect; please report it with "
                          "what --debug shows)"),
    (library_value_error, EXIT_BUG, "bug: JSONDecodeError: Expecting property name enclosed in double quotes: "
                                    "line 1 column 2 (char 1) (an error the package did not expect; please report "
                                    "it with what --debug shows)"),
    (own_value_error, EXIT_USER_ERROR, "error: window 20 is outside 1..10 residues"),
], ids=["KeyError", "library-ValueError", "own-ValueError"])
def test_an_unexpected_error_is_a_bug_in_every_command(inputs, command, broken, code, said, monkeypatch, capsys):
    monkeypatch.setattr(f"contacts.cli.{MODULES[command]}.load", broken)
    got, lines = run(GOOD[command](inputs), capsys)
    assert (got, lines) == (code, [f"contacts {command}: {said}"])
    assert not [p for p in inputs.iterdir() if p.name.startswith("bug")]  # nothing begun, nothing left


@pytest.mark.parametrize("command", ["evaluate", "score-variants"])
def test_the_traceback_only_under_debug(inputs, command, monkeypatch, capsys):
    monkeypatch.setattr(f"contacts.cli.{MODULES[command]}.load", key_error)
    got, lines = run([*GOOD[command](inputs), "--debug"], capsys)
    assert got == EXIT_BUG and lines[0] == "Traceback (most recent call last):"
    assert lines[-1].startswith(f"contacts {command}: bug: KeyError: 'inside'")
