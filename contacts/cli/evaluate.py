"""``contacts evaluate``: precision@L by range of a model, prediction files or a coevolution baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contacts import analysis, constants, runners

from .common import (
    UserError,
    add_jacobian_arguments,
    add_model_arguments,
    add_overwrite_argument,
    check_device_option,
    domain_table,
    dtype_name,
    existing_file,
    existing_folder,
    jacobian_options,
    load,
    output_file,
    run_settings,
)

NAME = "evaluate"
HELP = "score contact maps against structures (precision@L by range)"
DESCRIPTION = ("Precision at L, L/2, L/5 (short, medium, long range) of a model (its contact regression, a "
               "probe, or --method jacobian), a folder of predictions or a coevolution baseline, against "
               "PDB/mmCIF/BinaryCIF structures.")
#: --method for a model, and for alignments
MODEL_METHODS = constants.CONTACT_METHODS
MSA_METHODS = ("potts", "mi")

#: skipped proteins listed on the terminal; the JSON lists them all
SHOWN_SKIPPED = 5


def _length(value: str) -> int | str:
    if value == "observed":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither 'observed' nor an integer") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--structures", nargs="+", required=True, metavar="DIR_OR_FILE",
                        help="structure files or folders (PDB, mmCIF, BinaryCIF, optionally .gz)")
    source = parser.add_mutually_exclusive_group(required=True)
    add_model_arguments(parser, model_group=source)
    source.add_argument("--predictions", metavar="DIR",
                        help="folder of <name>.npy, .npz, .rr (CASP RR) or L x L matrix text (.mat, .ccmpred, "
                             ".txt, .tsv, .csv) predictions; the reader is picked by extension")
    source.add_argument("--msa", metavar="DIR", help="folder of <name>.a3m alignments (coevolution baseline; "
                        "fitted on the CPU unless --device names a GPU)")
    parser.add_argument("--probe", metavar="PROBE.pt",
                        help="with --model: a contact probe (fair-esm regression layout, e.g. from "
                             "`contacts train-probe`) instead of the model's own regression")
    parser.add_argument("--method", choices=(*MODEL_METHODS, *MSA_METHODS),
                        help="with --model: regression (default; the model's contact regression or --probe) or "
                             "jacobian (the categorical Jacobian of its masked LM, no regression: 20 L forward "
                             "passes per protein); with --msa: the coevolution baseline, potts (default) or mi")
    add_jacobian_arguments(parser)
    parser.add_argument("--split", help="score only this split of the manifest (train, valid, test; 'all', as "
                                        "without --split, for every row)")
    parser.add_argument("--manifest", metavar="TSV", help="file/chain/split manifest (default: the folder's "
                        "MANIFEST.tsv, else the package's own, contacts/data/structures.tsv)")
    parser.add_argument("--domains", metavar="TSV", help="score the domains this table lists (name, file, chain, "
                        "first, last, split; or antibody_domains, the one the package ships) instead of whole "
                        "chains; their files are read from the one --structures folder")
    parser.add_argument("--length", type=_length, default=None, help="L of P@L: 'observed', an integer, or "
                        "(default) the number of observed residues")
    parser.add_argument("--cutoff", type=float, default=constants.CONTACT_CUTOFF,
                        help=f"contact distance in Å (default {constants.CONTACT_CUTOFF:g})")
    parser.add_argument("--real-cb", action="store_true",
                        help="deposited CB (CA for glycine) instead of CB imputed from the backbone")
    parser.add_argument("--skip-missing", action="store_true",
                        help="skip proteins without a prediction or alignment (listed); without it, any missing "
                             "one stops the command before scoring")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    parser.add_argument("--output", default="contacts-evaluation", metavar="PREFIX",
                        help="write PREFIX.csv and PREFIX.json, with the run record PREFIX.run.json "
                             "(default: contacts-evaluation)")
    add_overwrite_argument(parser, "PREFIX.*")


def run(args: argparse.Namespace) -> int:
    """Print the table, write CSV and JSON; a rerun scores only the proteins not done."""
    evaluation = analysis.evaluation
    if args.probe and args.regression:
        raise evaluation.EvaluationError("--probe and --regression both name the regression; give one")
    regression = args.probe or args.regression
    if regression and not args.model:
        raise evaluation.EvaluationError(f"--{'probe' if args.probe else 'regression'} needs --model")
    if args.dtype != "float32" and not args.model:
        raise evaluation.EvaluationError("--dtype needs --model")
    if args.device and args.predictions:
        raise evaluation.EvaluationError("--device needs --model or --msa (prediction files are only read)")
    method = args.method or ("regression" if args.model else "potts" if args.msa else None)
    if method is not None and args.predictions:
        raise UserError(f"--method {method} scores a model or alignments; --predictions are read as they are")
    if args.model and method not in MODEL_METHODS:
        raise UserError(f"--method {method} is a coevolution baseline for --msa; with --model choose "
                        f"{' or '.join(MODEL_METHODS)}")
    if args.msa and method not in MSA_METHODS:
        raise UserError(f"--method {method} needs --model; with --msa choose {' or '.join(MSA_METHODS)}")
    jacobian = jacobian_options(args, method)
    if jacobian and regression:
        raise UserError(f"--method jacobian reads no regression; leave out --{'probe' if args.probe else 'regression'}")
    if args.device and args.msa:
        check_device_option(args.device)  # before any alignment is read
    for path in args.structures:
        existing_file(path, "--structures", folder_ok=True)
    for flag, value in (("--manifest", args.manifest), ("--probe", args.probe)):
        if value is not None:
            existing_file(value, flag)
    for flag, value in (("--predictions", args.predictions), ("--msa", args.msa)):
        if value is not None:
            existing_folder(value, flag)
    domain_table(args.domains)
    prefix = output_file(args.output, "--output")
    split = None if args.split == "all" else args.split  # as train-probe and analyze-heads read it
    if args.domains and (args.manifest or len(args.structures) != 1):
        raise evaluation.EvaluationError("--domains reads one --structures folder and takes no --manifest")
    targets = (evaluation.domain_targets(args.structures[0], args.domains, split=split) if args.domains
               else evaluation.find_targets(args.structures, split=split, manifest=args.manifest))
    folder, suffixes, what = ((args.predictions, evaluation.PREDICTION_SUFFIXES, "prediction") if args.predictions
                              else (args.msa, evaluation.ALIGNMENT_SUFFIXES, "alignment"))
    if folder and not args.skip_missing:
        missing = evaluation.missing_inputs(targets, folder, suffixes)
        if missing:
            raise UserError(f"{len(missing)} of {len(targets)} proteins have no {what} "
                            f"(NAME{', '.join(suffixes)}) in {folder}: {', '.join(missing)}; "
                            "--skip-missing scores the others")
    model = None
    if args.model:
        args = argparse.Namespace(**{**vars(args), "regression": regression})  # the probe is the regression
        model = load(args, needs_regression=not jacobian)
        source = {"model": str(args.model), "probe": str(regression) if regression else None, "method": method,
                  **(jacobian or {})}
        predictor = evaluation.model_predictor(model, method=method, jacobian=jacobian)
    elif args.predictions:
        predictor, source = evaluation.predictions_dir_predictor(args.predictions), {"predictions": str(args.predictions)}
    else:
        predictor = evaluation.msa_predictor(args.msa, method, device=args.device)
        source = {"msa": str(args.msa), "method": method}
    made_by = runners.runfolder.read_run_record(Path(args.predictions) / runners.runfolder.RUN_RECORD) \
        if args.predictions else None
    if made_by is not None:  # predictions traced to their model
        source["predictions_run"] = {"model": made_by.get("model"), "options": made_by.get("options")}
    options = {**source, "split": args.split, "domains": args.domains, "cutoff": args.cutoff, "length": args.length,
               "real_cb": args.real_cb, "dtype": dtype_name(model) if model is not None else None,
               "device_type": model.device.type if model is not None else (args.device and str(args.device).split(":")[0])}
    sha = runners.provenance.sha256_file
    # A protein is done again when its structure or its prediction (alignment) file changed.
    items = []
    for t in targets:
        read = evaluation.input_file(folder, t.name, suffixes) if folder else None
        items.append({"id": t.name, "structure": t.path.name, "chain": t.chain, "first": t.first, "last": t.last,
                      "structure_sha256": sha(t.path),
                      "input": read and read.name, "input_sha256": read and sha(read)})
    outputs = [f"{prefix.name}.csv", f"{prefix.name}.json"]
    settings = run_settings(args, options, model)
    if jacobian:  # the Jacobian reads no regression: the record names the weights only
        settings["model"] = runners.provenance.without_regression(settings["model"])
    with runners.runfolder.RunFolder(prefix.parent, NAME, settings,
                                     record=runners.runfolder.record_name(prefix), overwrite=args.overwrite,
                                     outputs=outputs) as run:
        run.start(items, unit="protein")
        kept = {i["id"]: run.entry(i["id"]).get("result") for i in items if run.state(i["id"]) == runners.runfolder.DONE}
        result = evaluation.evaluate(targets, predictor, cutoff=args.cutoff, impute_cb=not args.real_cb,
                                     length=args.length, skip_missing=args.skip_missing,
                                     progress=not args.no_progress, done={k: v for k, v in kept.items() if v},
                                     on_scored=lambda r: run.mark_done({r["name"]: []}, {r["name"]: evaluation.jsonable(r)}),
                                     settings={**source, "split": args.split, "run": run.provenance()})
        for name, reason in result.skipped:
            run.mark_failed(name, reason)
        csv_path, json_path = evaluation.write_results(result, prefix)
        run.add_files(outputs)
    print(evaluation.format_table(result))
    readers = getattr(predictor, "readers", None)
    if readers:
        used = {reader: sum(r == reader for r in readers.values()) for reader in dict.fromkeys(readers.values())}
        print("predictions read as " + ", ".join(f"{reader} ({n} file{'s' * (n > 1)})" for reader, n in used.items()),
              file=sys.stderr)
    for name, reason in result.skipped[:SHOWN_SKIPPED]:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    if len(result.skipped) > SHOWN_SKIPPED:
        print(f"... and {len(result.skipped) - SHOWN_SKIPPED} more skipped (all listed in {json_path})",
              file=sys.stderr)
    print(f"wrote {csv_path} and {json_path}")
    return 0
