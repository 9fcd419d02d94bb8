import json
import subprocess
import sys

import pytest
from reference import write_release

from contacts.cli import main
from contacts.encoder.config import PRESETS


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("cli"), PRESETS["tiny"])


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "contacts.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "fill-mask" in out.stdout


def test_fill_mask_on_a_local_checkpoint(release, capsys):
    assert main(["fill-mask", "--model", str(release), "MKT<mask>YIAK", "--top-k", "3", "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert len(preds) == 3 and all(p["sequence"].split()[3] == p["token_str"] for p in preds)


def test_fill_mask_table(release, capsys):
    assert main(["fill-mask", "--model", str(release), "<mask>KTAY<mask>", "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("mask ") == 2 and len(out.strip().splitlines()) == 6


def test_bad_sequence_is_an_error_not_a_traceback(release, capsys):
    assert main(["fill-mask", "--model", str(release), "MKJ<mask>"]) == 1
    err = capsys.readouterr().err
    assert "character 'J' at residue position 3" in err and "Traceback" not in err
