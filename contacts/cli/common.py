"""What every command shares: the model options, loading, the FASTA-or-sequence input, exit codes.

Exit codes: 0 done; 1 a user error, reported on one line that names the value
(``contacts predict: error: ...``); 2 a usage error (argparse's own); 130 Ctrl-C.
``--debug`` (or ``CONTACTS_DEBUG=1``) shows the traceback instead.

:func:`check_model_options` finds what is knowable before any work: a regression
file that is not there, a device this machine lacks, a model source that is
neither a file, a folder, a release name nor ``random:PRESET``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

import contacts

DTYPES = ("float32", "float16", "bfloat16")

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEBUG_ENV = "CONTACTS_DEBUG"
TRY_RANDOM = "--model random:tiny tries the tools with random weights"


class UserError(ValueError):
    """Bad input found by the command line itself (reported on one line, exit 1)."""


def debug_requested(args: argparse.Namespace | None = None) -> bool:
    """``--debug`` given, or ``$CONTACTS_DEBUG`` set to anything but empty or 0."""
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def add_model_arguments(parser: argparse.ArgumentParser, *, model_group=None, required: bool = True,
                        regression_help: str | None = None) -> None:
    """``--model``, ``--regression``, ``--device`` and ``--dtype``: the same on every command that loads a model.

    ``model_group`` puts ``--model`` in a mutually exclusive group (``evaluate``
    takes a model or prediction files or alignments).
    """
    (model_group or parser).add_argument(
        "--model", required=required and model_group is None, metavar="SOURCE",
        help="release .pt file; transformers folder or Hub id of an ESM, BERT, RoBERTa or T5 encoder (e.g. "
             "facebook/esm2_t33_650M_UR50D, Rostlab/prot_bert); release name (e.g. esm1b_t33_650M_UR50S); "
             "antiberty (the antiberty package's trained weights); or random:PRESET")
    parser.add_argument("--regression", metavar="PATH",
                        help=regression_help or "contact-regression file (default: the one beside the model)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: cuda when available)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="weights and activations (default float32). Softmax, APC and the regression "
                        "stay float32; contacts then move by up to about 0.001 (float16) or 0.01 (bfloat16) "
                        "from float32's, see docs/benchmarks.md. float16 on GPUs, bfloat16 on CPUs")


def check_device_option(device: str) -> None:
    """A ``--device`` that is misspelt or absent on this machine, refused in one line."""
    try:
        contacts.predictor.core.check_device(device)
    except ValueError as exc:
        raise UserError(f"--device {device}: {exc}") from None


def check_model_options(args: argparse.Namespace, *, needs_regression: bool = True, here: bool = True) -> None:
    """Refuse, before loading anything, the model options that cannot work.

    A ``--regression`` that is not a file; a release ``.pt`` without a regression beside
    it where contacts are asked for; a ``--device`` that is misspelt or absent here; a
    ``--model`` that names nothing. With ``here=False`` (Ray: the workers load the
    model, on their machines) only the device's spelling is checked.
    """
    if args.device is not None and (here or str(args.device).split(":")[0] not in ("cpu", "cuda", "mps")):
        check_device_option(args.device)  # on Ray only a misspelling is refused here
    if not here:
        return
    if args.regression is not None and not Path(args.regression).is_file():
        raise UserError(f"--regression {args.regression}: no such file")
    source = str(args.model)
    if source.startswith("random:"):
        preset = source.removeprefix("random:")
        if preset not in contacts.encoder.families.PRESETS:
            raise UserError(f"--model {source}: no preset {preset!r}; presets: "
                            f"{', '.join(sorted(contacts.encoder.families.PRESETS))}")
        return
    if source in contacts.encoder.families.NAMED and not Path(source).exists():
        if needs_regression and args.regression is None:
            raise UserError(_no_regression(source))  # named models ship no contact regression
        return
    path = Path(source)
    if path.is_file():
        beside = path.with_name(f"{path.name.removesuffix('.pt')}-contact-regression.pt")
        if needs_regression and args.regression is None and not beside.exists():
            raise UserError(f"--model {source} has no contact-regression file beside it (expected {beside}); "
                            "pass --regression PATH")
    elif path.is_dir():
        if needs_regression and args.regression is None and _model_type(path) not in (None, "esm"):
            raise UserError(_no_regression(source))  # only ESM folders carry a contact head
    elif source not in contacts.encoder.hub.RELEASES and not contacts.encoder.hub.is_hub_id(source):
        raise UserError(f"--model {source}: no such file or folder, not a release name "
                        f"({', '.join(sorted(contacts.encoder.hub.RELEASES))}), not a named model "
                        f"({', '.join(sorted(contacts.encoder.families.NAMED))}) and not a HuggingFace Hub id "
                        f"(OWNER/NAME); {TRY_RANDOM}")


def _no_regression(source: str) -> str:
    return (f"--model {source} comes without contact-regression weights; pass --regression PATH "
            f"(a probe trained for it with contacts train-probe --model {source})")


def _model_type(folder: Path) -> str | None:
    """``model_type`` of a model folder's config.json (None where unreadable: the loader says why)."""
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def load(args: argparse.Namespace, *, needs_regression: bool = True):
    """The model the options name; without the missing-regression warning where contacts are not asked for.

    Offline, a release name whose files are not in the cache fails with one message naming
    every missing file and the ``random:PRESET`` way to try the tools.
    """
    check_model_options(args, needs_regression=needs_regression)
    source = str(args.model)
    if source in contacts.encoder.hub.RELEASES and not Path(source).exists():
        weights, regression = contacts.runners.provenance.model_files(source, args.regression)
        missing = [str(p) for p in [*weights, regression] if p is not None and not p.exists()]
        if missing:
            try:
                contacts.encoder.hub.fetch_release(source)
            except contacts.encoder.hub.DownloadError as exc:
                raise UserError(
                    f"--model {source}: {' and '.join(missing)} are not here and could not be downloaded "
                    f"({str(exc).split(' (', 1)[-1].split(')', 1)[0]}); fetch them on a machine with network "
                    f"access and put them there (or point ${contacts.encoder.hub.CACHE_ENV} at a folder holding "
                    f"them), or {TRY_RANDOM}") from None
    with warnings.catch_warnings():
        if not needs_regression:
            warnings.simplefilter("ignore", UserWarning)
        model = contacts.load_model(args.model, regression=args.regression, device=args.device, dtype=args.dtype)
    if needs_regression and model.regression is None:
        raise UserError(_no_regression(source))
    return model


def provenance(command: str, args: argparse.Namespace, options: dict, model=None) -> dict:
    """The run record of a command's output (:mod:`contacts.runners.provenance`): model hashes, version, options."""
    identity = None
    if getattr(args, "model", None):
        identity = contacts.runners.provenance.model_identity(args.model, getattr(args, "regression", None),
                                                              model=model)
    return contacts.runners.provenance.run_record(command, identity, options)


def write_provenance(path, record: dict):
    """Write a run record as JSON (atomically); returns the path."""
    return contacts.runners.provenance.write_run_record(path, record)


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} must be at least 1")
    return number


def records(value: str):
    """FASTA records from a file, or one record from a sequence typed on the command line."""
    if Path(value).is_file():
        return contacts.io.fasta.read_fasta(value)
    if value.replace("<mask>", "").isalpha():
        return [contacts.io.fasta.FastaRecord("sequence", "sequence (command line)", value)]
    raise FileNotFoundError(f"{value!r} is neither a FASTA file nor a protein sequence")


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad input rather than a bug: reported in one line, exit 1.

    Read when a command has failed, so the classes behind them are loaded by then.
    """
    return (ValueError, OSError, contacts.MissingRegressionError,
            contacts.runners.distributed.DistributedError, contacts.encoder.hub.DownloadError)


def report(command: str, message: str) -> None:
    """``contacts COMMAND: error: message`` on standard error."""
    print(f"contacts {command}: error: {message}", file=sys.stderr)


__all__ = ["DEBUG_ENV", "DTYPES", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EXIT_USER_ERROR", "UserError",
           "add_model_arguments", "check_model_options", "debug_requested", "load", "positive_int", "provenance",
           "records", "report", "user_errors", "write_provenance"]
