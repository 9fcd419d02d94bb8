"""``contacts train-probe`` and ``contacts analyze-heads``: thin commands over :mod:`probes`.

The ``contacts`` entry point (``contacts/cli.py``) wires these in::

    train = sub.add_parser("train-probe", help=...)
    probes.cli.add_train_arguments(train)
    train.set_defaults(func=probes.cli.run_train)

``--model`` takes what :func:`contacts.load_model` takes, or ``random:PRESET``
(e.g. ``random:tiny``, ``random:esm1b_t33_650M_UR50S``) for a random-weight model.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

def load_predictor(source: str, *, device: str | None = None):
    """A predictor from a model source (``random:PRESET`` included), without the
    missing-regression warning: a probe is what is being made or inspected."""
    from contacts import load_model  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_model(source, device=device)


def _add_common(parser: argparse.ArgumentParser, default_split: str) -> None:
    from contacts.cli import add_model_arguments  # noqa: PLC0415

    add_model_arguments(parser, regression=False)
    parser.add_argument("--structures", required=True, metavar="DIR", type=Path,
                        help="folder of structures (with MANIFEST.tsv for splits and chains)")
    parser.add_argument("--split", default=default_split,
                        help=f"manifest split to use (default {default_split}; 'all' for every row)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _proteins(args, predictor):
    from probes.pairs import load_proteins  # noqa: PLC0415

    split = None if args.split == "all" else args.split
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proteins = load_proteins(args.structures, split, max_residues=predictor.config.max_residues)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return proteins


def _heads_option(value: str):
    """``--heads`` as ``layers:N`` (the first N layers) or ``L:H,L:H`` (1-based layer, 0-based head)."""
    if value.startswith("layers:"):
        return ("layers", int(value.split(":", 1)[1]))
    pairs = []
    for item in value.split(","):
        layer, head = item.split(":")
        pairs.append((int(layer) - 1, int(head)))
    return ("heads", pairs)


# --------------------------------------------------------------------------- train-probe


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``contacts train-probe``."""
    _add_common(parser, "train")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="PROBE.pt",
                        help="where to write the probe (fair-esm contact-regression layout)")
    parser.add_argument("--C", type=float, default=0.15, help="inverse L1 strength (default 0.15, Rao et al.)")
    parser.add_argument("--select-C", type=float, nargs="+", metavar="C",
                        help="choose C among these by cross-validation over proteins (long-range P@L)")
    parser.add_argument("--folds", type=int, default=5, help="folds of proteins for --select-C (default 5)")
    parser.add_argument("--negative-fraction", type=float, default=1.0,
                        help="keep this share of non-contacts when fitting (reweighted; default 1 = all)")
    parser.add_argument("--heads", type=_heads_option, metavar="SPEC",
                        help="a subset of maps: 'layers:N' (first N layers) or 'L:H,L:H' "
                             "(1-based layer, 0-based head); the model stops after the last one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the negative subsampling")


def run_train(args: argparse.Namespace) -> int:
    """Build pair features on the structures, fit (optionally choosing C), save. Returns 0."""
    from probes.pairs import collect_pairs  # noqa: PLC0415
    from probes.probe import first_layers  # noqa: PLC0415
    from probes.selection import fit_probe, select_C  # noqa: PLC0415

    predictor = load_predictor(args.model, device=args.device)
    cfg = predictor.config
    heads = None
    if args.heads is not None:
        kind, value = args.heads
        heads = first_layers(value, cfg.num_heads) if kind == "layers" else np.array(value, dtype=np.int64)
    proteins = _proteins(args, predictor)
    progress = not args.no_progress
    selecting = bool(args.select_C)
    # Cross-validation scores held-out proteins on all their pairs, so subsample at fit time only.
    pairs = collect_pairs(predictor, proteins, heads=heads, progress=progress)
    C, selection = args.C, None
    if selecting:
        selection = select_C(pairs, args.select_C, n_splits=args.folds,
                             train_negative_fraction=args.negative_fraction, seed=args.seed,
                             progress=progress)
        C = selection.best_C
    probe = fit_probe(pairs, C, negative_fraction=args.negative_fraction, seed=args.seed)
    metadata = {"model": args.model, "split": args.split}
    if selection is not None:
        metadata["selection"] = selection.records()
    probe.save(args.output, metadata=metadata)
    nonzero = probe.nonzero_heads()
    print(f"wrote {args.output}: C={C}, {len(nonzero)} non-zero of {probe.n_features_in_} coefficients, "
          f"last layer used {probe.last_layer}; {len(pairs.y)} pairs from {len(proteins)} proteins")
    if selection is not None:
        for row in selection.records():
            print(f"  C={row['C']:<8g} mean long-range P@L {row['mean_long_P@L']:.3f} "
                  f"(+/- {row['std_long_P@L']:.3f}), {row['mean_nonzero']:.0f} non-zero")
    return 0


# --------------------------------------------------------------------------- analyze-heads


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``contacts analyze-heads``."""
    _add_common(parser, "train")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="report folder: arrays, records, plots, summary.md")
    parser.add_argument("--probe", type=Path, metavar="PROBE.pt",
                        help="mark this probe's non-zero coefficients on the heatmaps")
    parser.add_argument("--threshold", type=float, default=0.3,
                        help="attention above this counts as confident (Vig et al.: 0.3)")


def run_analyze(args: argparse.Namespace) -> int:
    """Score every head on the structures and write the report. Returns 0."""
    from probes.heads import head_scores, write_report  # noqa: PLC0415
    from probes.probe import ContactProbe  # noqa: PLC0415

    predictor = load_predictor(args.model, device=args.device)
    probe = None
    if args.probe is not None:
        probe = ContactProbe.load(args.probe, num_heads=predictor.config.num_heads)
    proteins = _proteins(args, predictor)
    scores = head_scores(predictor, proteins, threshold=args.threshold, progress=not args.no_progress)
    if not scores.model or args.model.startswith("random:"):
        scores.model = args.model
    paths = write_report(scores, args.output, probe=probe)
    summary = json.loads(Path(paths["summary_json"]).read_text())
    best = summary["best_head_long"]
    print(f"wrote {args.output}/: {len(paths)} files; best head for long-range contacts: "
          f"layer {best['layer']} head {best['head']} (P@L {best['P@L']:.3f}; "
          f"contact rate {scores.contact_rate:.3f})")
    return 0


def add_probe_argument(parser: argparse.ArgumentParser) -> None:
    """``--probe PROBE.pt`` for ``contacts evaluate`` / ``predict``: use a trained probe."""
    parser.add_argument("--probe", type=Path, metavar="PROBE.pt",
                        help="predict contacts with this probe instead of the model's regression")


def apply_probe_argument(predictor, args: argparse.Namespace) -> None:
    """Give the predictor the ``--probe`` file, if one was given (see :func:`probes.use_probe`)."""
    from probes.probe import use_probe  # noqa: PLC0415

    if getattr(args, "probe", None) is not None:
        use_probe(predictor, args.probe)
