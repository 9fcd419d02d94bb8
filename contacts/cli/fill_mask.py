"""``contacts fill-mask``: rank the vocabulary at each ``<mask>`` of a sequence."""

from __future__ import annotations

import argparse
import json
import sys

from contacts import encoder, io, runners

from .common import add_model_arguments, add_overwrite_argument, dtype_name, load, output_file, positive_int, run_settings

NAME = "fill-mask"
HELP = "predict the residues behind <mask> tokens"
DESCRIPTION = ("Rank the vocabulary at each <mask> of a sequence. Printed as a table (or JSON with --json); "
               "-o FILE writes the JSON instead, atomically, with its run record FILE.run.json.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser, regression_help="contact-regression file (not used by fill-mask)")
    parser.add_argument("sequence", help="a protein sequence with one or more <mask> tokens")
    parser.add_argument("--top-k", type=positive_int, default=5, help="predictions per mask (default 5)")
    parser.add_argument("--amino-acids-only", action="store_true", help="rank only the 20 standard amino acids")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the predictions as JSON to FILE (a run record "
                        "FILE.run.json beside it) instead of printing them")
    add_overwrite_argument(parser, "FILE")


def run(args: argparse.Namespace) -> int:
    out = output_file(args.output) if args.output is not None else None
    sequence = encoder.sequences.check_sequences([args.sequence], ["sequence"])[0]  # before the model loads
    model = load(args, needs_regression=False)
    if out is None:
        _show(model.fill_mask(sequence, top_k=args.top_k, amino_acids_only=args.amino_acids_only), args.json)
        return 0
    settings = run_settings(args, {"top_k": args.top_k, "amino_acids_only": args.amino_acids_only,
                                   "dtype": dtype_name(model), "device_type": model.device.type}, model=model)
    with runners.runfolder.RunFolder(out.parent, NAME, settings, record=runners.runfolder.record_name(out),
                                     overwrite=args.overwrite, outputs=[out.name]) as run:
        run.start([{"id": out.name, "sequence_sha256": runners.provenance.sequence_sha256(sequence)}],
                  unit="prediction")
        if not run.pending():
            return 0
        result = model.fill_mask(sequence, top_k=args.top_k, amino_acids_only=args.amino_acids_only)
        with io.files.atomic_write(out, "w") as handle:
            json.dump(result, handle, indent=2)
            handle.write("\n")
        run.mark_done({out.name: [out.name]})
    print(f"{len(result) if isinstance(result[0], list) else 1} mask(s) -> {out}")
    return 0


def _show(result, as_json: bool) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    per_mask = result if isinstance(result[0], list) else [result]
    for m, preds in enumerate(per_mask, 1):
        print(f"mask {m}:")
        for p in preds:
            print(f"  {p['token_str']:<8} {p['score']:.4f}")
