"""``contacts score-variants``: zero-shot variant-effect scores for the mutations of a CSV file."""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import sys
from pathlib import Path

from contacts import constants, encoder, io, predictor, runners

from .common import (
    UserError,
    add_model_arguments,
    add_overwrite_argument,
    dtype_name,
    existing_file,
    load,
    output_file,
    positive_int,
    run_settings,
)

NAME = "score-variants"
HELP = "zero-shot variant-effect scores (Meier et al. 2021)"
DESCRIPTION = ("Score the mutations listed in a CSV file (like A42G, 1-based; multi-mutants A42G:L50P add up) "
               "with the masked LM and write the same CSV with a score column added (written atomically, with "
               "its run record OUT.csv.run.json). Every mutation that cannot be scored is listed at once; "
               "--skip-invalid scores the others and leaves their score empty.")


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
    parser.add_argument("--skip-invalid", action="store_true",
                        help="score the mutations that can be scored, leave the others' score empty and list them")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    add_overwrite_argument(parser, "OUT.csv")


def _wild_type(args: argparse.Namespace) -> str:
    """The wild type, through the input check every door shares (a trailing stop codon removed with a note)."""
    if args.sequence is not None:
        sequence, name = args.sequence, "--sequence"
    else:
        records = io.fasta.read_fasta(existing_file(args.fasta, "--fasta"))
        if len(records) != 1:
            raise UserError(f"--fasta {args.fasta} holds {len(records)} records; give a FASTA with the one wild type")
        sequence, name = records[0].sequence, f"--fasta {args.fasta}"
    return encoder.sequences.check_sequences([sequence], [name], mask=False)[0]


def run(args: argparse.Namespace) -> int:
    """Read the CSV, check every mutation, score them, write the CSV plus a score column."""
    existing_file(args.mutations, "--mutations")
    out = output_file(args.output)
    sequence = _wild_type(args)
    fields, numbered = io.text.read_table(args.mutations, delimiter=",", what="mutations CSV")
    lines, rows = [n for n, _ in numbered], [row for _, row in numbered]
    if args.column not in fields:
        raise UserError(f"--mutations {args.mutations} has no column {args.column!r} (--column); its columns are "
                        f"{fields}")
    if args.score_column in fields:
        raise UserError(f"--mutations {args.mutations} already has a column {args.score_column!r}; "
                        "name the new one with --score-column")
    # Every mutation that cannot be scored, before the model loads: the wild type's residues are all they need.
    residues = list("".join(sequence.split()).upper())  # checked: letters only
    texts = [(row[args.column] or "").strip() for row in rows]
    found = predictor.variants.mutation_problems(residues, texts)
    invalid = {i: "no mutation" if not texts[i] else why for i, why in found.items()}
    if invalid and not args.skip_invalid:
        raise predictor.MutationError(encoder.sequences.problem_block(
            {f"line {lines[i]}": why for i, why in invalid.items()}, "mutation",
            f"in {args.mutations}, column {args.column!r}; --skip-invalid scores the others"))
    model = load(args, needs_regression=False)
    settings = run_settings(args, {"method": args.method, "column": args.column, "score_column": args.score_column,
                                   "skip_invalid": args.skip_invalid, "dtype": dtype_name(model),
                                   "device_type": model.device.type}, model=model)
    item = {"id": out.name, "wild_type_sha256": runners.provenance.sequence_sha256(sequence),
            "mutations_sha256": hashlib.sha256(Path(args.mutations).read_bytes()).hexdigest()}
    with runners.runfolder.RunFolder(out.parent, NAME, settings, record=runners.runfolder.record_name(out),
                                     overwrite=args.overwrite, outputs=[out.name]) as run:
        run.start([item], unit="table")
        if not run.pending():
            return 0
        scores = predictor.score_variants(model, sequence, texts, args.method,
                                          max_tokens=args.max_tokens, progress=not args.no_progress,
                                          skip_invalid=args.skip_invalid)
        with io.files.atomic_write(out, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*fields, args.score_column], lineterminator="\n")
            writer.writeheader()
            for row, score in zip(rows, scores):
                writer.writerow({**row, args.score_column: "" if math.isnan(score) else repr(float(score))})
        run.mark_done({out.name: [out.name]})
    for i, why in invalid.items():
        print(f"  skipped line {lines[i]}: {why}", file=sys.stderr)
    print(f"{len(rows) - len(invalid)} mutations scored ({args.method}), {len(invalid)} skipped as invalid -> {out}")
    return 0
