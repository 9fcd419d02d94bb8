"""The ``contacts`` command: thin subcommands over the library."""

from __future__ import annotations

import argparse
import json
import sys
import warnings


def _load(args):
    from .predictor import load_model

    return load_model(args.model, regression=getattr(args, "regression", None),
                      device=getattr(args, "device", None), dtype=getattr(args, "dtype", None))


def add_model_arguments(parser: argparse.ArgumentParser, *, regression: bool = True) -> None:
    """``--model`` and ``--device`` (and ``--regression``) for every command that loads a model."""
    parser.add_argument("--model", required=True, metavar="SOURCE",
                        help="release .pt file, HuggingFace folder, release name "
                             "(e.g. esm1b_t33_650M_UR50S) or random:PRESET")
    if regression:
        parser.add_argument("--regression", metavar="PATH",
                            help="contact-regression file (default: the one beside the model)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: cuda when available)")


def _fill_mask(args) -> int:
    with warnings.catch_warnings():
        # fill-mask needs no contact regression; do not warn about its absence.
        warnings.simplefilter("ignore", UserWarning)
        model = _load(args)
    result = model.fill_mask(args.sequence, top_k=args.top_k, amino_acids_only=args.amino_acids_only)
    per_mask = result if isinstance(result[0], list) else [result]
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    for m, preds in enumerate(per_mask, 1):
        print(f"mask {m}:")
        for p in preds:
            print(f"  {p['token_str']:<8} {p['score']:.4f}")
    return 0


def _records(value: str):
    """FASTA records from a file, or one record from a sequence typed on the command line."""
    from pathlib import Path

    from .io import FastaRecord, read_fasta

    if Path(value).is_file():
        return read_fasta(value)
    if value.replace("<mask>", "").isalpha():
        return [FastaRecord("sequence", "sequence (command line)", value)]
    raise FileNotFoundError(f"{value!r} is neither a FASTA file nor a protein sequence")


def _predict(args) -> int:
    from .batch import predict_to_dir

    records = _records(args.input)
    formats = ("npy", "rr") + (("png",) if args.png else ())
    options = dict(formats=formats, skip_invalid=args.skip_invalid,
                   max_tokens=args.max_tokens, window=args.window, overlap=args.overlap)
    if args.workers is not None and args.ray is None:
        raise ValueError(f"--workers {args.workers} needs --ray")
    if args.ray is not None:
        from .distributed import DistributedError, predict_on_ray

        try:
            report = predict_on_ray(args.model, records, args.output, address=args.ray, workers=args.workers,
                                    regression=args.regression, device=args.device, dtype=args.dtype, **options)
        except DistributedError as exc:
            print(f"contacts predict: error: {exc}", file=sys.stderr)
            return 1
    else:
        report = predict_to_dir(_load(args), records, args.output, **options)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contacts",
        description="Contacts, attention maps and masked-LM predictions from ESM-1b.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fill = sub.add_parser("fill-mask", help="predict the residues behind <mask> tokens",
                          description="Rank the vocabulary at each <mask> of a sequence.")
    add_model_arguments(fill)
    fill.add_argument("sequence", help="a protein sequence with one or more <mask> tokens")
    fill.add_argument("--top-k", type=int, default=5, help="predictions per mask (default 5)")
    fill.add_argument("--amino-acids-only", action="store_true",
                      help="rank only the 20 standard amino acids")
    fill.add_argument("--json", action="store_true", help="print the predictions as JSON")
    fill.set_defaults(func=_fill_mask)

    pred = sub.add_parser(
        "predict", help="predict contact maps for a FASTA file (resumable)",
        description="Contact probabilities for every record of a FASTA file (or one sequence): "
                    "ID.npy (L x L float32) and ID.rr (CASP RR) per record, written atomically; "
                    "a rerun skips records already done.")
    add_model_arguments(pred)
    pred.add_argument("input", metavar="INPUT", help="FASTA file (.gz allowed) or a sequence")
    pred.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    pred.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                      help="weights and activations (softmax and APC stay float32)")
    pred.add_argument("--max-tokens", type=int, default=4096,
                      help="token budget per batch: batch size x longest sequence (default 4096)")
    pred.add_argument("--window", type=int, help="residues per window for long sequences "
                      "(default: the model limit, 1022)")
    pred.add_argument("--overlap", type=int, help="residues shared by consecutive windows "
                      "(default: window // 2)")
    pred.add_argument("--png", action="store_true", help="also write ID.png contact-map plots")
    pred.add_argument("--skip-invalid", action="store_true",
                      help="go on past empty records and invalid residues, listing them")
    pred.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                      help="run on Ray: a cluster address ('auto', HOST:PORT), or none to start a local "
                           "cluster (bare --ray goes after INPUT); OUTDIR must be shared by every worker")
    pred.add_argument("--workers", type=int, metavar="N",
                      help="with --ray: model replicas (default: one per GPU, else one per CPU)")
    pred.set_defaults(func=_predict)

    from probes import cli as probes_cli

    from . import evaluation, finetune, variants

    evaluate = sub.add_parser(
        "evaluate", help="score contact maps against structures (precision@L by range)",
        description="Precision at L, L/2, L/5 (short, medium, long range) of a model, a folder of "
                    "predictions or a coevolution baseline, against PDB/mmCIF/BinaryCIF structures.")
    evaluation.add_arguments(evaluate)
    evaluate.set_defaults(func=evaluation.run)

    train = sub.add_parser(
        "train-probe", help="fit the sparse (L1) contact regression on structures",
        description="Fit Rao et al.'s L1 logistic regression on the symmetrized, APC-corrected "
                    "attention maps, one row per residue pair; saved in fair-esm's regression layout.")
    probes_cli.add_train_arguments(train)
    train.set_defaults(func=probes_cli.run_train)

    heads = sub.add_parser(
        "analyze-heads", help="which attention heads see structure: scores, heatmaps, report",
        description="Score each attention head alone as a contact predictor over structures and "
                    "write arrays, plots and a markdown summary.")
    probes_cli.add_analyze_arguments(heads)
    heads.set_defaults(func=probes_cli.run_analyze)

    scores = sub.add_parser(
        "score-variants", help="zero-shot variant-effect scores (Meier et al. 2021)",
        description="Score mutations like A42G (1-based; multi-mutants A42G:L50P add up) from a CSV.")
    variants.add_arguments(scores)
    scores.set_defaults(func=variants.run)

    tune = sub.add_parser(
        "finetune", help="fine-tune with the masked-LM recipe of the model card",
        description="Masked-LM fine-tuning (15%% selected: 80/10/10), Adam, warmup then "
                    "inverse-square-root decay; checkpoints in the fair-esm release layout.")
    finetune.add_arguments(tune)
    tune.set_defaults(func=finetune.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .alphabet import InvalidSequenceError, SequenceTooLongError
    from .checkpoints import CheckpointError, DownloadError

    try:
        return args.func(args)
    except (InvalidSequenceError, SequenceTooLongError, CheckpointError, DownloadError,
            FileNotFoundError, ValueError) as exc:
        print(f"contacts {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
