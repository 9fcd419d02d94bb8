"""``contacts predict``: contact maps for every record of a FASTA file, resumable, on one machine or on Ray."""

from __future__ import annotations

import argparse
import sys

from contacts import constants, runners

from .common import add_model_arguments, load, positive_int, records

NAME = "predict"
HELP = "predict contact maps for a FASTA file (resumable)"
DESCRIPTION = ("Contact probabilities for every record of a FASTA file (or one sequence): "
               "ID.npy (L x L float32) and ID.rr (CASP RR) per record, written atomically; "
               "a rerun skips records already done.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", metavar="INPUT", help="FASTA file (.gz allowed) or a sequence")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument("--max-tokens", type=positive_int, default=constants.MAX_TOKENS,
                        help=f"token budget per batch: batch size x longest sequence (default {constants.MAX_TOKENS})")
    parser.add_argument("--window", type=positive_int, help="residues per window for long sequences "
                        f"(default: the model limit, {constants.ESM1B_MAX_RESIDUES} for ESM-1b)")
    parser.add_argument("--overlap", type=int, help="residues shared by consecutive windows "
                        f"(default: window x {constants.WINDOW_OVERLAP})")
    parser.add_argument("--png", action="store_true", help="also write ID.png contact-map plots")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="go on past empty records and invalid residues, listing them")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="run on Ray: a cluster address ('auto', HOST:PORT), or none to start a local "
                             "cluster (bare --ray goes after INPUT); OUTDIR must be shared by every worker")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="with --ray: model replicas (default: one per GPU, else one per CPU)")


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.ray is None:
        raise ValueError(f"--workers {args.workers} needs --ray")
    fasta = records(args.input)
    formats = ("npy", "rr") + (("png",) if args.png else ())
    options = dict(formats=formats, skip_invalid=args.skip_invalid,
                   max_tokens=args.max_tokens, window=args.window, overlap=args.overlap)
    if args.ray is not None:
        report = runners.distributed.predict_on_ray(
            args.model, fasta, args.output, address=args.ray, workers=args.workers,
            regression=args.regression, device=args.device, dtype=args.dtype, **options)
    else:
        report = runners.predict.predict_to_dir(load(args), fasta, args.output, **options)
    print(f"{len(report.written)} written, {len(report.already_done)} already done, "
          f"{len(report.invalid)} skipped as invalid -> {args.output}")
    for rid, why in report.invalid.items():
        print(f"  skipped {rid}: {why}", file=sys.stderr)
    missing = getattr(report, "missing", {})
    for rid, why in list(missing.items())[:20]:
        print(f"  missing {rid}: {why}", file=sys.stderr)
    if missing:
        print(f"contacts predict: error: {len(missing)} record(s) have no files"
              f"{' (20 listed)' if len(missing) > 20 else ''}; rerun the same command to do only those",
              file=sys.stderr)
        return 1
    return 0
