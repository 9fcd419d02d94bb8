"""Assemble the ``contacts`` command from its command modules; run one; turn errors into exit codes."""

from __future__ import annotations

import argparse
import sys

import contacts

from . import analyze_heads, evaluate, fill_mask, finetune, predict, score_variants, train_probe
from .common import DEBUG_ENV, EXIT_INTERRUPTED, EXIT_USAGE, EXIT_USER_ERROR, debug_requested, report, user_errors

#: in the order ``contacts --help`` lists them
COMMANDS = (predict, evaluate, train_probe, analyze_heads, fill_mask, score_variants, finetune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contacts",
        description="Contacts, attention maps and masked-LM predictions from ESM-1b and ESM-2.",
        epilog="Exit codes: 0 done, 1 bad input (one line on stderr naming it), 2 bad usage, 130 interrupted. "
               f"--debug (or {DEBUG_ENV}=1) shows tracebacks.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command_parser = sub.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(command_parser)
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                    help=f"show the traceback of an error (or set {DEBUG_ENV}=1)")
        command_parser.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``contacts`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt as exc:
        if debug_requested(args):
            raise
        # Files are written atomically; a Ctrl-C that lands between a temporary file's creation and
        # the write that guards it can still strand one, so the run's own output folder is swept.
        output = getattr(args, "output", None)
        if output is not None:
            contacts.io.files.remove_partials(output)
        done = getattr(exc, "done", None)
        if done is not None:
            print(f"contacts {args.command}: interrupted: {done} of {exc.total} records done; "
                  "rerun the same command to resume", file=sys.stderr)
        else:
            print(f"contacts {args.command}: interrupted; nothing half-written was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if not debug_requested(args) and isinstance(exc, user_errors()):
            report(args.command, str(exc))
            return EXIT_USER_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
