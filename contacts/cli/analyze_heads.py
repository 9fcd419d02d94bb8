"""``contacts analyze-heads``: which attention heads see structure: scores, heatmaps, a report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import probes
from contacts import io, runners
from contacts.constants import VIG_THRESHOLD

from .common import load, provenance, write_provenance
from .probe_options import add_structure_arguments, proteins

NAME = "analyze-heads"
HELP = "which attention heads see structure: scores, heatmaps, report"
DESCRIPTION = ("Score each attention head alone as a contact predictor over structures and "
               "write arrays, plots and a markdown summary.")

def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_structure_arguments(parser, "train")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="report folder: arrays, records, plots, summary.md")
    parser.add_argument("--probe", type=Path, metavar="PROBE.pt",
                        help="mark this probe's non-zero coefficients on the heatmaps")
    parser.add_argument("--threshold", type=float, default=VIG_THRESHOLD,
                        help=f"attention above this counts as confident (Vig et al.: {VIG_THRESHOLD})")


def run(args: argparse.Namespace) -> int:
    """Score every head on the structures and write the report."""
    predictor = load(args, needs_regression=False)
    probe = None
    if args.probe is not None:
        probe = probes.ContactProbe.load(args.probe, num_heads=predictor.config.num_heads)
    found = proteins(args, predictor)
    scores = probes.heads.head_scores(predictor, found, threshold=args.threshold, progress=io.progress.wrapper(
        "proteins", "protein", total=len(found), enable=not args.no_progress))
    if not scores.model or args.model.startswith("random:"):
        scores.model = args.model
    io.files.remove_partials(args.output)  # what a killed run left
    paths = probes.heads.write_report(scores, args.output, probe=probe)
    write_provenance(args.output / runners.provenance.RUN_RECORD, provenance("analyze-heads", args, {
        "dtype": args.dtype, "device_type": predictor.device.type, "structures": str(args.structures),
        "split": args.split, "threshold": args.threshold, "probe": args.probe,
        "proteins": [p.name for p in found]}, model=predictor))
    summary = json.loads(Path(paths["summary_json"]).read_text())
    best = summary["best_head_long"]
    print(f"wrote {args.output}/: {len(paths)} files; best head for long-range contacts: "
          f"layer {best['layer']} head {best['head']} (P@L {best['P@L']:.3f}; "
          f"contact rate {scores.contact_rate:.3f})")
    return 0
