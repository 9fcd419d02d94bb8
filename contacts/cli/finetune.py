"""``contacts finetune``: masked-LM fine-tuning with the model card's recipe; release-layout checkpoints."""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import asdict

from contacts import constants, runners
from contacts.runners.finetune_config import RECIPE_WARMUP, WARMUP_FRACTION, FinetuneConfig

from .common import (
    add_model_arguments,
    add_overwrite_argument,
    dtype_name,
    existing_file,
    load,
    output_folder,
    positive_int,
    run_settings,
)

NAME = "finetune"
HELP = "fine-tune with the masked-LM recipe of the model card"
DESCRIPTION = ("Fine-tune with ESM-1b's masked-LM recipe (15% selected: 80% <mask>, 10% random, "
               "10% unchanged; Adam, warmup then 1/sqrt decay). Checkpoints are written in the "
               "fair-esm release layout.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = FinetuneConfig()
    add_model_arguments(parser, regression_help="contact-regression file, written beside each checkpoint")
    parser.add_argument("--fasta", required=True, metavar="FILE", help="training sequences (FASTA, .gz allowed)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder for checkpoint_<step>.pt files and history.json")
    parser.add_argument("--valid", metavar="FILE", help="held-out FASTA for validation perplexity")
    parser.add_argument("--steps", type=positive_int, default=defaults.steps,
                        help=f"optimizer updates (default {defaults.steps})")
    parser.add_argument("--max-tokens", type=positive_int, default=defaults.max_tokens,
                        help=f"token budget per batch (default {defaults.max_tokens})")
    parser.add_argument("--accumulate", type=positive_int, default=defaults.accumulate,
                        help=f"batches summed into one update (default {defaults.accumulate})")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate,
                        help=f"peak learning rate (default {defaults.learning_rate})")
    parser.add_argument("--warmup", type=positive_int, default=None,
                        help=f"warmup updates (default: the recipe's {RECIPE_WARMUP} on runs of at least "
                             f"{round(RECIPE_WARMUP / WARMUP_FRACTION)} steps, else {WARMUP_FRACTION * 100:g}%% of --steps; "
                             "a warning when it is at least --steps)")
    parser.add_argument("--max-residues", type=positive_int,
                        help=f"crop length (default: the model's limit, {constants.ESM1B_MAX_RESIDUES} for ESM-1b)")
    parser.add_argument("--valid-every", type=positive_int, default=defaults.valid_every,
                        help=f"updates between validations (default {defaults.valid_every})")
    parser.add_argument("--save-every", type=positive_int, default=defaults.save_every,
                        help=f"updates between checkpoints (default {defaults.save_every})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of batches, crops and masks")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_overwrite_argument(parser, "OUTDIR")


def run(args: argparse.Namespace) -> int:
    """Read the FASTA files, train, write checkpoints; print a summary. Nothing again where every checkpoint is done."""
    existing_file(args.fasta, "--fasta")
    if args.valid:
        existing_file(args.valid, "--valid")
    output_folder(args.output)
    config = FinetuneConfig(
        steps=args.steps, max_tokens=args.max_tokens, accumulate=args.accumulate,
        learning_rate=args.lr, warmup_updates=args.warmup, max_residues=args.max_residues,
        valid_every=args.valid_every, save_every=args.save_every, seed=args.seed,
    )
    train = runners.finetune.read_sequences(args.fasta)
    valid = runners.finetune.read_sequences(args.valid) if args.valid else None
    model = load(args, needs_regression=False)
    settings = run_settings(args, {**asdict(config), "dtype": dtype_name(model), "device_type": model.device.type,
                                   "fasta": str(args.fasta), "valid": args.valid}, model=model)
    # The checkpoints are the items; each holds what trained it, so other sequences make them all again.
    data = {"train_sha256": _digest(train), "valid_sha256": valid and _digest(valid)}
    steps = runners.finetune.checkpoint_steps(config)
    names = {step: runners.finetune.checkpoint_name(model.config, step) for step in steps}
    outputs = [*names.values(), *(runners.finetune.regression_name(n) for n in names.values()), "history.json"]
    with runners.runfolder.RunFolder(args.output, NAME, settings, overwrite=args.overwrite, outputs=outputs) as run:
        run.start([{"id": names[step], "step": step, **data} for step in steps], unit="checkpoint", resumable=False)
        if not run.pending():
            return 0
        result = runners.finetune.finetune(model, train, config, valid=valid, outdir=args.output,
                                           progress=not args.no_progress, on_checkpoint=lambda path, files: (
                                               run.add_files(["history.json"]), run.mark_done({path.name: files})))
    last = result.history[-1]
    summary = f"{config.steps} updates, last loss {last['loss']:.4f}"
    if "valid_perplexity" in last:
        summary += f", validation perplexity {last['valid_perplexity']:.3f}"
    print(f"{summary} -> {result.checkpoints[-1]}")
    return 0


def _digest(sequences) -> str:
    return hashlib.sha256("\n".join(sequences).encode()).hexdigest()
