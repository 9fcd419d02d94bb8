"""``contacts score-variants``: zero-shot variant-effect scores for the mutations of a CSV file."""

from __future__ import annotations

import argparse
import csv

from contacts import constants, io, predictor

from .common import add_model_arguments, load, positive_int

NAME = "score-variants"
HELP = "zero-shot variant-effect scores (Meier et al. 2021)"
DESCRIPTION = ("Score the mutations listed in a CSV file (like A42G, 1-based; multi-mutants A42G:L50P add up) "
               "with the masked LM and write the same CSV with a score column added (written atomically).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser, regression_help="contact-regression file (not used by score-variants)")
    wild = parser.add_mutually_exclusive_group(required=True)
    wild.add_argument("--sequence", metavar="SEQ", help="the wild-type sequence")
    wild.add_argument("--fasta", metavar="FILE", help="a FASTA file holding the wild type as its one record")
    parser.add_argument("--mutations", required=True, metavar="CSV",
                        help="CSV file with a column of mutations like A42G or A42G:L50P (1-based)")
    parser.add_argument("--column", default="mutant", help="the column holding the mutations (default mutant)")
    parser.add_argument("-o", "--output", required=True, metavar="CSV", help="the scored CSV to write")
    parser.add_argument("--method", choices=constants.VARIANT_METHODS,
                        default="masked_marginal",
                        help="masked_marginal (one pass per mutated position, default) or wt_marginal (one pass)")
    parser.add_argument("--score-column", default="score", help="name of the added column (default score)")
    parser.add_argument("--max-tokens", type=positive_int, default=constants.MAX_TOKENS,
                        help=f"token budget per batch of masked copies (default {constants.MAX_TOKENS})")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _wild_type(args: argparse.Namespace) -> str:
    if args.sequence is not None:
        return args.sequence
    records = io.fasta.read_fasta(args.fasta)
    if len(records) != 1:
        raise ValueError(f"{args.fasta} holds {len(records)} records; give a FASTA with the one wild type")
    return records[0].sequence


def run(args: argparse.Namespace) -> int:
    """Read the CSV, score each row's mutation, write the CSV plus a score column."""
    sequence = _wild_type(args)
    with open(args.mutations, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    if args.column not in fields:
        raise ValueError(f"{args.mutations} has no column {args.column!r}; its columns are {fields}")
    if args.score_column in fields:
        raise ValueError(f"{args.mutations} already has a column {args.score_column!r}; "
                         "name the new one with --score-column")
    # Line 1 is the header, so row i of the data is line i + 2 (without multi-line cells).
    empty = [i + 2 for i, row in enumerate(rows) if not (row[args.column] or "").strip()]
    if empty:
        raise predictor.MutationError(
            f"{args.mutations}: no mutation in column {args.column!r} on line(s) {empty[:10]}")
    model = load(args, needs_regression=False)
    scores = predictor.score_variants(model, sequence, [row[args.column] for row in rows], args.method,
                                      max_tokens=args.max_tokens, progress=not args.no_progress)
    with io.files.atomic_write(args.output, "w") as out:
        writer = csv.DictWriter(out, fieldnames=[*fields, args.score_column], lineterminator="\n")
        writer.writeheader()
        for row, score in zip(rows, scores):
            writer.writerow({**row, args.score_column: repr(float(score))})
    print(f"{len(rows)} mutations scored ({args.method}) -> {args.output}")
    return 0
