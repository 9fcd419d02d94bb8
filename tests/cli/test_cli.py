import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from reference import write_release

from contacts import _moved
from contacts.cli import COMMANDS, build_parser, fill_mask, main
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
    assert len(preds) == 3 and all(p["sequence"] == f"MKT{p['token_str']}YIAK" for p in preds)


def test_fill_mask_table(release, capsys):
    assert main(["fill-mask", "--model", str(release), "<mask>KTAY<mask>", "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("mask ") == 2 and len(out.strip().splitlines()) == 6


def test_bad_sequence_is_an_error_not_a_traceback(release, capsys):
    assert main(["fill-mask", "--model", str(release), "MKJ<mask>"]) == 1
    err = capsys.readouterr().err
    assert err == "contacts fill-mask: error: sequence: character 'J' at residue 3\n"


# -- the command line is a light client of the library ---------------------------------------------

HEAVY = ("torch", "numpy", "biotite", "sklearn", "scipy", "matplotlib", "py3Dmol", "ray")


def _modules_after(code: str) -> set[str]:
    """Top-level modules a fresh interpreter has loaded after running ``code``."""
    probe = code + "\nimport sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", [None, *(c.NAME for c in COMMANDS)])
def test_help_imports_no_heavy_library(command):
    argv = ["--help"] if command is None else [command, "--help"]
    loaded = _modules_after(
        "import contextlib, io\nfrom contacts.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main({argv!r})"
    )
    assert "contacts" in loaded
    assert sorted(loaded & set(HEAVY)) == []


def test_the_contact_path_imports_no_structure_plot_or_sklearn_code():
    loaded = _modules_after(
        "import contacts\nmodel = contacts.Predictor.random('tiny', device='cpu')\n"
        "probs = model.predict_contacts('MKTAYIAKQRQISFVKSHFSRQ')\nassert probs.shape == (22, 22)"
    )
    assert "torch" in loaded
    assert sorted(loaded & {"biotite", "py3Dmol", "matplotlib", "sklearn", "scipy"}) == []


def test_structures_load_biotite_on_first_use(structures_dir):
    assert "biotite" not in _modules_after("import contacts\ncontacts.ALPHABET")
    assert "biotite" in _modules_after(
        f"import contacts\ns = contacts.load_structure({str(structures_dir / '1aki.cif')!r})\nassert len(s) > 0")


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_old_module_paths_resolve_to_the_new_homes(old):
    module = importlib.import_module(old)
    homes = [importlib.import_module(name) for name in _moved.MOVED[old]]
    if len(homes) == 1:
        assert module is homes[0]
    else:
        for home in homes:
            assert all(getattr(module, name) is getattr(home, name) for name in home.__all__)
    parent, _, leaf = old.rpartition(".")
    assert getattr(importlib.import_module(parent), leaf) is module


def test_documented_paths_keep_working():
    import contacts
    from contacts.casp import read_rr
    from contacts.io import read_fasta
    from contacts.structure import contact_map, load_structure
    from contacts.viewer import show_contacts
    from probes import ContactProbe

    assert contacts.metrics.precision is contacts.analysis.metrics.precision
    assert contacts.load_structure is load_structure and contacts.contact_map is contact_map
    assert read_rr is contacts.io.rr.read_rr and read_fasta is contacts.io.fasta.read_fasta
    assert show_contacts is contacts.viz.viewer.show_contacts
    assert ContactProbe.__module__ == "probes.probe"
    assert contacts.ESM1b is contacts.ESMEncoder


def test_every_command_that_loads_a_model_takes_the_same_options():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        options = {o for a in sub._actions for o in a.option_strings}
        assert {"--model", "--regression", "--device", "--dtype"} <= options, name


def test_exit_codes_user_error_usage_and_interrupt(release, capsys, monkeypatch):
    with pytest.raises(SystemExit) as usage:
        main(["fill-mask", "--model", str(release), "MK<mask>", "--top-k", "0"])
    assert usage.value.code == 2
    assert "--top-k: 0 must be at least 1" in capsys.readouterr().err
    assert main(["predict", "--model", str(release), "MKT", "-o", "x", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert err == "contacts predict: error: --workers 2 needs --ray\n"

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(fill_mask, "run", interrupted)
    assert main(["fill-mask", "--model", str(release), "MK<mask>"]) == 130
    assert "contacts fill-mask: interrupted" in capsys.readouterr().err


def test_architecture_has_no_cycles_and_no_function_level_imports_of_our_modules():
    script = Path(__file__).resolve().parents[2] / ".ci" / "architecture.py"
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "import cycles among contacts, probes: 0" in out.stdout
    assert "imports inside functions of the project's own modules: 0" in out.stdout
