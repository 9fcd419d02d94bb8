"""``contacts predict``: contact maps for every record of a FASTA file, resumable, on one machine or on Ray."""

from __future__ import annotations

import argparse
import sys

from contacts import constants, runners

from .common import (
    UserError,
    add_jacobian_arguments,
    add_model_arguments,
    add_overwrite_argument,
    check_model_options,
    check_window,
    jacobian_options,
    load,
    nonnegative_int,
    output_folder,
    positive_int,
    records,
)

NAME = "predict"
HELP = "predict contact maps for a FASTA file (resumable)"
DESCRIPTION = ("Contact probabilities for every record of a FASTA file (or one sequence), or with --method "
               "jacobian scores from the model's masked LM (no regression): "
               "ID.npy (L x L float32), ID.rr (CASP RR) and ID.json (its provenance) per record, "
               "ID.png with --png, ID.html with --html (the map as an interactive page, index.html listing "
               "them); written atomically, with a run record OUTDIR/contacts-run.json. "
               "A rerun with the same model and options does only what is missing (and records "
               "whose sequence changed); another model or other options are refused without --overwrite.")


def rr_top(value: str) -> str:
    """``--rr-top`` read as :func:`contacts.runners.predict.rr_pairs` reads it (a bad spec is a usage error)."""
    try:
        runners.predict.rr_pairs(value, 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("RR top ")) from None
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("input", metavar="INPUT", help="FASTA file (.gz allowed) or a sequence")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    parser.add_argument("--method", choices=constants.CONTACT_METHODS, default="regression",
                        help="regression (default): the attention maps through the model's contact regression or "
                             "--regression probe; jacobian: the categorical Jacobian of the masked LM (Zhang et al. "
                             "2024), no regression, 20 L forward passes per sequence, scores (RR files scale them to "
                             "[0, 1]); every model with an LM head")
    add_jacobian_arguments(parser)
    parser.add_argument("--max-tokens", type=positive_int, default=constants.MAX_TOKENS,
                        help=f"token budget per batch: batch size x longest sequence (default {constants.MAX_TOKENS})")
    parser.add_argument("--window", type=positive_int, help="residues per window for long sequences "
                        f"(default: the model limit, {constants.ESM1B_MAX_RESIDUES} for ESM-1b)")
    parser.add_argument("--overlap", type=nonnegative_int, help="residues shared by consecutive windows "
                        f"(default: window x {constants.WINDOW_OVERLAP})")
    parser.add_argument("--png", action="store_true",
                        help="also write ID.png contact-map plots (range bands in the legend)")
    parser.add_argument("--html", action="store_true",
                        help="also write ID.html, the map as an interactive page (hover, zoom, top-k pairs; "
                             "the sequence on its axes), and index.html linking them")
    parser.add_argument("--no-rr", action="store_true", help="write no ID.rr (CASP RR) files: ID.npy and ID.json only")
    parser.add_argument("--rr-min-separation", type=positive_int, default=constants.MIN_SEPARATION,
                        metavar="N", help="RR files list pairs at least N apart in sequence "
                        f"(default {constants.MIN_SEPARATION}, as CASP)")
    parser.add_argument("--rr-top", type=rr_top, metavar="N|xL", help="RR files keep the best N pairs, or x*L (2L, 0.5L, L/5) "
                        "for a sequence of L residues (default: all)")
    add_overwrite_argument(parser, "OUTDIR")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="go on past invalid records (duplicate ids, empty, bad characters, gaps), listing them")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="run on Ray: a cluster address ('auto', HOST:PORT), or none to start a local "
                             "cluster (bare --ray goes after INPUT); OUTDIR must be shared by every worker")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="with --ray: model replicas (default: one per GPU, else one per CPU)")


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.ray is None:
        raise UserError(f"--workers {args.workers} needs --ray")
    jacobian = jacobian_options(args, args.method)
    if jacobian and args.regression:
        raise UserError("--method jacobian reads no regression; leave out --regression")
    if jacobian and args.ray is not None:
        raise UserError("--method jacobian runs on one machine; --ray runs the contact regression only")
    output_folder(args.output)
    check_window(args.window, args.overlap)
    fasta = runners.predict.strip_stops(records(args.input))
    formats = ("npy",) + (() if args.no_rr else ("rr",)) + (("png",) if args.png else ()) \
        + (("html",) if args.html else ())
    options = dict(formats=formats, skip_invalid=args.skip_invalid, overwrite=args.overwrite,
                   progress=not args.no_progress, rr_min_separation=args.rr_min_separation, rr_top=args.rr_top,
                   max_tokens=args.max_tokens, window=args.window, overlap=args.overlap)
    method = dict(method=args.method, **jacobian) if jacobian else {}
    # Every input problem before the model loads: a bad record costs no minutes of loading.
    runners.predict.valid_records(fasta, formats, skip_invalid=args.skip_invalid)
    if args.ray is not None:
        check_model_options(args, here=False)
        report = runners.distributed.predict_on_ray(
            args.model, fasta, args.output, address=args.ray, workers=args.workers,
            regression=args.regression, device=args.device, dtype=args.dtype, revision=args.revision, **options)
    else:
        model = load(args, needs_regression=not jacobian)
        check_window(args.window, args.overlap, model.config.max_residues)
        report = runners.predict.predict_to_dir(model, fasta, args.output, source=args.model,
                                                regression=args.regression, revision=args.revision, **method,
                                                **options)
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
