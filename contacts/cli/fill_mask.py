"""``contacts fill-mask``: rank the vocabulary at each ``<mask>`` of a sequence."""

from __future__ import annotations

import argparse
import json
import sys

from contacts import encoder

from .common import add_model_arguments, load, positive_int

NAME = "fill-mask"
HELP = "predict the residues behind <mask> tokens"
DESCRIPTION = "Rank the vocabulary at each <mask> of a sequence."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser, regression_help="contact-regression file (not used by fill-mask)")
    parser.add_argument("sequence", help="a protein sequence with one or more <mask> tokens")
    parser.add_argument("--top-k", type=positive_int, default=5, help="predictions per mask (default 5)")
    parser.add_argument("--amino-acids-only", action="store_true", help="rank only the 20 standard amino acids")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")


def run(args: argparse.Namespace) -> int:
    sequence = encoder.sequences.check_sequences([args.sequence], ["sequence"])[0]  # before the model loads
    model = load(args, needs_regression=False)
    result = model.fill_mask(sequence, top_k=args.top_k, amino_acids_only=args.amino_acids_only)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    per_mask = result if isinstance(result[0], list) else [result]
    for m, preds in enumerate(per_mask, 1):
        print(f"mask {m}:")
        for p in preds:
            print(f"  {p['token_str']:<8} {p['score']:.4f}")
    return 0
