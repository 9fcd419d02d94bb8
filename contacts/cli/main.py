"""Assemble the ``contacts`` command from its command modules; run one; turn errors into exit codes.

Everything a command says besides its results goes to standard error as one line
``contacts COMMAND: ...``: errors (``error:``, :func:`~contacts.cli.common.error_line`),
usage errors (exit 2), warnings of the library (``warning:``, without a source path),
notes (a trailing stop codon removed, a run resuming, a lock taken over).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import traceback
import warnings

import contacts

from . import analyze_heads, evaluate, fill_mask, finetune, predict, score_variants, train_probe
from .common import (
    DEBUG_ENV,
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    EXIT_USER_ERROR,
    debug_requested,
    error_line,
    report,
)

#: in the order ``contacts --help`` lists them
COMMANDS = (predict, evaluate, train_probe, analyze_heads, fill_mask, score_variants, finetune)
#: Loggers whose INFO lines are notes a user should see (the others only from WARNING up).
NOTES = ("contacts.runners.runfolder",)


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line, like every other error (exit 2)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Version(argparse.Action):
    """``--version``: the package, torch and the devices torch sees; torch is loaded only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        found = contacts.runners.provenance.environment()
        print(f"contacts {found['contacts']}\ntorch {found['torch']}\ndevices: {found['devices']}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="contacts",
        description="Contacts, attention maps and masked-LM predictions from ESM-1b and ESM-2.",
        epilog=f"Exit codes: 0 done, 1 bad input (one line on stderr naming it), 2 bad usage, 130 interrupted, "
               f"{EXIT_BUG} a bug. --debug (or {DEBUG_ENV}=1) shows tracebacks.",
    )
    parser.add_argument("--version", action=Version, help="print the versions of the package and torch, and the "
                                                          "devices torch sees, then exit")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = {}
    for command in COMMANDS:
        command_parser = sub.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        parser.commands[command.NAME] = command_parser
        command.add_arguments(command_parser)
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help=f"show the traceback of an error (or set {DEBUG_ENV}=1)")
        command_parser.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``contacts`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said by the command's own parser, so that the line names the command
        parser.commands.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    with one_line_messages(args.command):
        try:
            return args.run(args)
        except KeyboardInterrupt as exc:
            if debug_requested(args):
                traceback.print_exc()
            # Files are written atomically, and a run folder sweeps temporary files under its lock as it closes.
            done = getattr(exc, "done", None)
            if done is not None:
                report(args.command, f"interrupted: {done} of {exc.total} records done; rerun the same command to "
                       "resume", kind="")
            else:
                report(args.command, "interrupted; nothing half-written was left behind", kind="")
            return EXIT_INTERRUPTED
        except Exception as exc:
            line = error_line(exc)
            if debug_requested(args):
                traceback.print_exc()
            if line is not None:
                report(args.command, line)
                return EXIT_USER_ERROR
            report(args.command, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                   f" (an error the package did not expect; please report it with what --debug shows)", kind="bug")
            return EXIT_BUG


@contextlib.contextmanager
def one_line_messages(command: str):
    """While a command runs: warnings and notes as ``contacts COMMAND: warning: ...`` lines, no source paths."""
    stop = contacts.encoder.sequences.StopCodonRemoved

    def show(message, category, filename, lineno, file=None, line=None):
        kind = "note" if issubclass(category, stop) else "warning"
        report(command, " ".join(str(message).split()), kind=kind)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogLines(command))
    root = logging.getLogger("contacts")
    notes = [logging.getLogger(name) for name in NOTES]
    levels = (root.level, [n.level for n in notes])
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for logger in notes:
        logger.setLevel(logging.INFO)
    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(levels[0])
            for logger, level in zip(notes, levels[1]):
                logger.setLevel(level)


class _LogLines(logging.Formatter):
    """``contacts COMMAND: message`` for notes, ``contacts COMMAND: warning: message`` above them."""

    def __init__(self, command: str):
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        kind = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"contacts {self.command}: {kind}{' '.join(record.getMessage().split())}"


if __name__ == "__main__":
    sys.exit(main())
