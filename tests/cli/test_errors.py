"""One error vocabulary, as a user meets it: every error one line ``contacts COMMAND: error: ...`` naming the
flag and what to do, the exit codes of docs/cli.md, warnings and notes on one line, a bug told apart."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest
from test_runs import REPO, contacts, one_error_line

from contacts.cli import main
from contacts.cli.common import EXIT_BUG, error_line

WT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "in.fasta").write_text(f">a\n{WT}\n")
    (folder / "a-file.txt").write_text("not a folder")
    return folder


@pytest.mark.parametrize(("argv", "expected"), [
    (["predict", "--model", "random:tiny", "{d}/nope.fasta", "-o", "{d}/out"],
     "{d}/nope.fasta: no such file (INPUT takes a FASTA file or a protein sequence)"),
    (["finetune", "--model", "random:tiny", "--fasta", "{d}/nope.fasta", "-o", "{d}/out"],
     "--fasta {d}/nope.fasta: no such file"),
    (["score-variants", "--model", "random:tiny", "--sequence", WT, "--mutations", "{d}/nope.csv", "-o", "{d}/s.csv"],
     "--mutations {d}/nope.csv: no such file"),
    (["train-probe", "--model", "random:tiny", "--structures", "{d}/nowhere", "-o", "{d}/p.pt"],
     "--structures {d}/nowhere: no such file or folder"),
    (["analyze-heads", "--model", "random:tiny", "--structures", "{d}/nowhere", "-o", "{d}/out"],
     "--structures {d}/nowhere: no such file or folder"),
    (["evaluate", "--model", "random:tiny", "--structures", "{d}/nowhere", "--output", "{d}/ev"],
     "--structures {d}/nowhere: no such file or folder"),
    (["predict", "--model", "random:tiny", "{d}/in.fasta", "-o", "{d}/a-file.txt"],
     "-o {d}/a-file.txt: {d}/a-file.txt is a file, not a folder; choose a folder for the outputs"),
    (["finetune", "--model", "random:tiny", "--fasta", "{d}/in.fasta", "-o", "{d}/a-file.txt/sub"],
     "-o {d}/a-file.txt/sub: {d}/a-file.txt is a file, not a folder; choose a folder for the outputs"),
    (["train-probe", "--model", "random:tiny", "--structures", "{d}", "-o", "{d}"],
     "-o {d}: is a folder; name the file to write"),
    (["predict", "--model", "random:tiny", "{d}/in.fasta", "-o", "{d}/out", "--window", "10", "--overlap", "20"],
     "--overlap 20 must be in 0..9 for --window 10"),
    (["predict", "--model", "random:tiny", "{d}/in.fasta", "-o", "{d}/out", "--revision", "v2"],
     "--revision v2: only a HuggingFace Hub id (--model OWNER/NAME) has revisions, not --model random:tiny"),
    (["predict", "--model", "{d}/in.fasta", "{d}/in.fasta", "-o", "{d}/out", "--revision", "v2", "--ray"],
     "--revision v2: only a HuggingFace Hub id (--model OWNER/NAME) has revisions, not --model {d}/in.fasta"),
    (["fill-mask", "--model", "random:tiny", "MK-T<mask>"],
     "sequence: gap '-' at residue 3 (an alignment symbol, not a residue: remove gaps or use the ungapped sequence)"),
])
def test_user_errors_are_one_line_naming_the_flag_with_exit_1(files, argv, expected):
    out = contacts(*(a.format(d=files) for a in argv))
    assert one_error_line(out, argv[0]) == f"contacts {argv[0]}: error: {expected.format(d=files)}"
    assert not (files / "out").exists()


@pytest.mark.parametrize(("argv", "fragment"), [
    (["predict", "--model", "random:tiny", "MKT", "-o", "x", "--rr-top", "abc"], "argument --rr-top: 'abc': expected N"),
    (["predict", "--model", "random:tiny", "MKT", "-o", "x", "--overlap", "-1"], "argument --overlap: -1 must be at least 0"),
    (["evaluate", "--structures", "x", "--model", "random:tiny", "--length", "abc"], "argument --length: 'abc' is neither"),
    (["fill-mask", "--model", "random:tiny", "MK<mask>", "--top-k", "0"], "argument --top-k: 0 must be at least 1"),
    (["predict", "--model", "random:tiny", "MKT", "-o", "x", "--no-such-option"], "unrecognized arguments"),
])
def test_usage_errors_exit_2_on_one_line(argv, fragment):
    line = one_error_line(contacts(*argv), argv[0], code=2)
    assert fragment in line and line.endswith(f"(see contacts {argv[0]} --help)")


OFFLINE = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def test_missing_weights_name_the_urls_and_only_the_files_a_command_needs(tmp_path):
    env = {"CONTACTS_CACHE": str(tmp_path / "cache"), "TORCH_HOME": str(tmp_path / "torch"), **OFFLINE}
    line = one_error_line(contacts("predict", "--model", "esm2_t6_8M_UR50D", "MKTAY", "-o", tmp_path / "out", env=env))
    assert "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t6_8M_UR50D.pt" in line
    assert "https://dl.fbaipublicfiles.com/fair-esm/regression/esm2_t6_8M_UR50D-contact-regression.pt" in line
    line = one_error_line(contacts("fill-mask", "--model", "esm2_t6_8M_UR50D", "MK<mask>", env=env), "fill-mask")
    assert "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t6_8M_UR50D.pt" in line
    assert "regression" not in line  # fill-mask never reads it


def test_warnings_and_notes_are_one_line_without_source_paths(files, tmp_path):
    (tmp_path / "stop.fasta").write_text(f">a\n{WT}*\n>b\n{WT[:20]}\n")
    run = contacts("finetune", "--model", "random:tiny", "--fasta", tmp_path / "stop.fasta", "-o", tmp_path / "ft",
                   "--steps", "2", "--max-tokens", "128", "--warmup", "16000", "--no-progress", check=0)
    lines = run.stderr.strip().splitlines()
    assert lines == [
        "contacts finetune: warning: warmup of 16000 updates is at least the run's 2 steps: the learning rate ends at "
        "1.25e-08, never reaching its peak 0.0001; leave the warmup out (it becomes 1, 10% of the run) or give fewer "
        "updates",
        "contacts finetune: note: trailing '*' (stop codon) removed from a"]
    predicted = contacts("predict", "--model", "random:tiny", tmp_path / "stop.fasta", "-o", tmp_path / "p",
                         "--no-progress", check=0)
    assert predicted.stderr == "contacts predict: note: trailing '*' (stop codon) removed from a\n"


def test_version_names_the_package_torch_and_devices():
    out = contacts("--version", check=0)
    lines = out.stdout.splitlines()
    import torch
    assert lines[0].startswith("contacts ") and lines[1] == f"torch {torch.__version__}"
    assert lines[2].startswith("devices: cpu, ") and ("cuda" in lines[2]) and ("mps" in lines[2])


BUG = """
import sys
import contacts.runners.predict as predict
def broken(*args, **kwargs):
    raise KeyError("inside")
predict.predict_to_dir = broken
from contacts.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_bug_is_told_apart_from_bad_input(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": ""}
    argv = [sys.executable, "-c", BUG, "predict", "--model", "random:tiny", "MKTAY", "-o", str(tmp_path / "out")]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == EXIT_BUG == 70
    assert out.stderr == ("contacts predict: bug: KeyError: 'inside' (an error the package did not expect; please "
                          "report it with what --debug shows)\n")
    debug = subprocess.run([*argv, "--debug"], capture_output=True, text=True, env=env, timeout=300)
    assert debug.returncode == 70 and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("contacts predict: bug: KeyError")


@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOENT, "no such file or folder"), (errno.EEXIST, "file exists"), (errno.EISDIR, "is a folder, not a file"),
    (errno.EACCES, "permission denied"), (errno.ENOSPC, "disk full (no space left on the device)"),
    (errno.ELOOP, "too many levels of symbolic links"), (errno.EROFS, "read-only file system"),
])
def test_os_errors_in_plain_words_naming_the_file(code, words):
    assert error_line(OSError(code, os.strerror(code), "out/a.npy")) == f"out/a.npy: {words}"
    assert error_line(OSError(code, os.strerror(code), "a", None, "b")) == f"a -> b: {words}"
    assert error_line(KeyError("x")) is None and error_line(IndexError("x")) is None


def test_an_os_error_from_inside_a_command_becomes_its_line(tmp_path, capsys, monkeypatch):
    import contacts.runners.predict as predict

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "a.npy"))

    monkeypatch.setattr(predict, "predict_to_dir", full)
    assert main(["predict", "--model", "random:tiny", "MKTAY", "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    assert capsys.readouterr().err == (f"contacts predict: error: {tmp_path / 'out' / 'a.npy'}: disk full (no space "
                                       "left on the device)\n")


def test_score_variants_lists_three_bad_mutations_at_once_and_skips_them_on_request(tmp_path):
    table = tmp_path / "dms.csv"
    table.write_text("mutant,fitness\nK2R,0.1\nA3G,0.2\nV34A,0.3\nK2,0.4\nY5F,0.5\n")
    base = ["score-variants", "--model", "random:tiny", "--sequence", WT, "--mutations", table,
            "-o", tmp_path / "scored.csv", "--no-progress"]
    refused = contacts(*base)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"contacts score-variants: error: 3 invalid mutations (in {table}, column 'mutant'; --skip-invalid scores "
        "the others):",
        "  line 3: mutation 'A3G': position 3 holds 'T' in the sequence, not the wild type 'A' that A3G expects",
        "  line 4: mutation 'V34A': position 34 is outside the sequence's 1..33",
        "  line 5: mutation 'K2': 'K2' is not written as wild type, 1-based position, mutant in capitals (like 'A42G'; "
        "multi-mutants 'A42G:L50P')"]
    assert not (tmp_path / "scored.csv").exists()
    done = contacts(*base, "--skip-invalid", env={"CONTACTS_PROGRESS_INTERVAL": "0"}, check=0)
    assert "2 mutations scored (masked_marginal), 3 skipped as invalid" in done.stdout
    assert [line.split(":")[0] for line in done.stderr.splitlines() if "skipped" in line] == [
        "  skipped line 3", "  skipped line 4", "  skipped line 5"]
    rows = (tmp_path / "scored.csv").read_text().splitlines()
    assert [r.rsplit(",", 1)[1] == "" for r in rows[1:]] == [False, True, True, True, False]


def test_score_variants_progress_is_plain_lines_in_logs(tmp_path):
    table = tmp_path / "dms.csv"
    table.write_text("mutant\nK2R\nT3W\n")
    run = contacts("score-variants", "--model", "random:tiny", "--sequence", WT, "--mutations", table,
                   "-o", tmp_path / "scored.csv", env={"CONTACTS_PROGRESS_INTERVAL": "0"}, check=0)
    assert "\r" not in run.stderr
    assert run.stderr.splitlines()[-1].startswith("masked marginals: 2/2 pass done, ")
