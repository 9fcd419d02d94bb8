"""What every command shares: the model options, loading, the FASTA-or-sequence input, exit codes.

Exit codes: 0 done; 1 a user error, reported on one line that names the value
(``contacts predict: error: ...``); 2 a usage error (argparse's own); 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import contacts

DTYPES = ("float32", "float16", "bfloat16")

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_model_arguments(parser: argparse.ArgumentParser, *, model_group=None, required: bool = True,
                        regression_help: str | None = None) -> None:
    """``--model``, ``--regression``, ``--device`` and ``--dtype``: the same on every command that loads a model.

    ``model_group`` puts ``--model`` in a mutually exclusive group (``evaluate``
    takes a model or prediction files or alignments).
    """
    (model_group or parser).add_argument(
        "--model", required=required and model_group is None, metavar="SOURCE",
        help="release .pt file, HuggingFace folder or Hub id (e.g. facebook/esm2_t33_650M_UR50D), release name "
             "(e.g. esm1b_t33_650M_UR50S) or random:PRESET")
    parser.add_argument("--regression", metavar="PATH",
                        help=regression_help or "contact-regression file (default: the one beside the model)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: cuda when available)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="weights and activations (default float32). Softmax, APC and the regression "
                        "stay float32; contacts then move by up to about 0.001 (float16) or 0.01 (bfloat16) "
                        "from float32's, see docs/benchmarks.md. float16 on GPUs, bfloat16 on CPUs")


def load(args: argparse.Namespace, *, needs_regression: bool = True):
    """The model the options name; without the missing-regression warning where contacts are not asked for."""
    with warnings.catch_warnings():
        if not needs_regression:
            warnings.simplefilter("ignore", UserWarning)
        return contacts.load_model(args.model, regression=args.regression, device=args.device, dtype=args.dtype)


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
            contacts.runners.distributed.DistributedError)


def report(command: str, message: str) -> None:
    """``contacts COMMAND: error: message`` on standard error."""
    print(f"contacts {command}: error: {message}", file=sys.stderr)


__all__ = ["DTYPES", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EXIT_USER_ERROR", "add_model_arguments",
           "load", "positive_int", "records", "report", "user_errors"]
