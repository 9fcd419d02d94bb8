"""``contacts train-probe``: fit the sparse (L1) contact regression on structures."""

from __future__ import annotations

import argparse
from pathlib import Path

import probes
from contacts import io, runners
from contacts.constants import RAO_C

from .common import domain_table, dtype_name, existing_file, load, output_file, run_settings
from .probe_options import add_structure_arguments, proteins, proteins_input

NAME = "train-probe"
HELP = "fit the sparse (L1) contact regression on structures"
DESCRIPTION = ("Fit Rao et al.'s L1 logistic regression on the symmetrized, APC-corrected "
               "attention maps, one row per residue pair; saved in fair-esm's regression layout.")

def heads_option(value: str):
    """``--heads`` as ``layers:N`` (the first N layers) or ``L:H,L:H`` (1-based layer, 0-based head)."""
    try:
        if value.startswith("layers:"):
            return ("layers", int(value.split(":", 1)[1]))
        pairs = []
        for item in value.split(","):
            layer, head = item.split(":")
            pairs.append((int(layer) - 1, int(head)))
        return ("heads", pairs)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither 'layers:N' nor a list 'L:H,L:H' (1-based layer, 0-based head)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_structure_arguments(parser, "train", "PROBE.pt")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="PROBE.pt",
                        help="where to write the probe (fair-esm contact-regression layout), with its run record "
                             "PROBE.pt.run.json")
    parser.add_argument("--C", type=float, default=RAO_C, help=f"inverse L1 strength (default {RAO_C}, Rao et al.)")
    parser.add_argument("--select-C", type=float, nargs="+", metavar="C",
                        help="choose C among these by cross-validation over proteins (long-range P@L)")
    parser.add_argument("--folds", type=int, default=5, help="folds of proteins for --select-C (default 5)")
    parser.add_argument("--negative-fraction", type=float, default=1.0,
                        help="keep this share of non-contacts when fitting (reweighted; default 1 = all)")
    parser.add_argument("--heads", type=heads_option, metavar="SPEC",
                        help="a subset of maps: 'layers:N' (first N layers) or 'L:H,L:H' "
                             "(1-based layer, 0-based head); the model stops after the last one")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the negative subsampling and of the solver's shuffling (the same seed fits the same probe)")


def run(args: argparse.Namespace) -> int:
    """Build pair features on the structures, fit (optionally choosing C), save; nothing again if done."""
    existing_file(args.structures, "--structures", folder_ok=True)
    domain_table(args.domains)
    output_file(args.output)
    predictor = load(args, needs_regression=False)
    cfg = predictor.config
    heads = None
    if args.heads is not None:
        kind, value = args.heads
        heads = probes.first_layers(value, cfg.num_heads) if kind == "layers" else value
    found = proteins(args, predictor, NAME)
    settings = run_settings(args, {
        "dtype": dtype_name(predictor), "device_type": predictor.device.type, "structures": str(args.structures),
        "split": args.split, "domains": args.domains, "C": args.C, "select_C": args.select_C, "folds": args.folds,
        "negative_fraction": args.negative_fraction, "heads": args.heads, "seed": args.seed}, model=predictor)
    with runners.runfolder.RunFolder(args.output.parent, NAME, settings, overwrite=args.overwrite,
                                     record=runners.runfolder.record_name(args.output),
                                     outputs=[args.output.name]) as run:
        run.start([{"id": args.output.name, **proteins_input(found)}], unit="probe")
        if not run.pending():
            return 0
        progress = not args.no_progress
        # Cross-validation scores held-out proteins on all their pairs, so subsample at fit time only.
        pairs = probes.pairs.collect_pairs(predictor, found, heads=heads, progress=io.progress.wrapper(
            "proteins", "protein", total=len(found), enable=progress))
        C, selection = args.C, None
        if args.select_C:
            selection = probes.selection.select_C(pairs, args.select_C, n_splits=args.folds,
                                                  train_negative_fraction=args.negative_fraction, seed=args.seed,
                                                  progress=io.progress.wrapper("C x fold", "fit", enable=progress))
            C = selection.best_C
        probe = probes.selection.fit_probe(pairs, C, negative_fraction=args.negative_fraction, seed=args.seed)
        metadata = {"model": args.model, "split": args.split, "C": C,
                    "run": {**run.provenance(), "proteins": [p.name for p in found]}}
        if selection is not None:
            metadata["selection"] = selection.records()
        probe.save(args.output, metadata=metadata, trained_for=predictor.identity())
        run.mark_done({args.output.name: [args.output.name]}, {args.output.name: {"C": C}})
    nonzero = probe.nonzero_heads()
    print(f"wrote {args.output}: C={C}, {len(nonzero)} non-zero of {probe.n_features_in_} coefficients, "
          f"last layer used {probe.last_layer}; {len(pairs.y)} pairs from {len(found)} proteins")
    if selection is not None:
        for row in selection.records():
            print(f"  C={row['C']:<8g} mean long-range P@L {row['mean_long_P@L']:.3f} "
                  f"(+/- {row['std_long_P@L']:.3f}), {row['mean_nonzero']:.0f} non-zero")
    return 0
