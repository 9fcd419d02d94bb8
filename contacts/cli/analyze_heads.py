"""``contacts analyze-heads``: what each attention head attends to and which heads see structure.

Two analyses over the same structures, from one forward pass per protein
(:func:`probes.head_analysis.analyze_heads`), into one folder:

- per head, the share of its confident attention on contacts, secondary
  structure, binding sites and each amino acid against the background (Vig et
  al. 2021; :func:`probes.attention.attention_properties`), its mean distance and
  entropy, probing classifiers per layer (:func:`probes.probing.layer_probes`):
  ``attention_properties.npz``, ``attention_summary.json``, ``attention.md``, PNGs;
- per head, its map used alone as a contact predictor (P@L), as before
  (:func:`probes.heads.head_scores`): ``head_scores.*``, ``summary.md``, PNGs.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import contacts
import probes
from contacts import io, runners
from contacts.constants import VIG_THRESHOLD

from .common import UserError, domain_table, dtype_name, existing_file, load, output_folder, positive_int, report, run_settings
from .probe_options import add_structure_arguments, proteins_input

NAME = "analyze-heads"
HELP = "what each attention head attends to, and which heads see structure: arrays, figures, report"
DESCRIPTION = ("Measure, for every attention head, the share of its confident attention on contacts, "
               "helix/strand/turn, binding sites and each amino acid against the background (Vig et al. 2021), "
               "probe each layer's embeddings, and score each head alone as a contact predictor; write arrays "
               "(npz), a JSON summary, PNGs and markdown reports. --structures takes a folder or a manifest file.")

#: Properties by name (``aa`` stands for the 20 amino acids); the library checks them.
SSE = ("helix", "strand", "turn")
AMINO_ACIDS = tuple("ARNDCQEGHILKMFPSTWYV")
ALL_PROPERTIES = ("contact", *SSE, "binding_site", *AMINO_ACIDS)
#: Files every report holds: where they lie without a run record naming them, the folder is someone else's.
REPORT_FILES = ("attention_properties.npz", "attention_summary.json", "attention.md", "summary.md", "summary.json")


def property_list(value: str) -> list[str]:
    """``--property`` as a comma-separated list; ``aa`` expands to the 20 amino acids, ``all`` to everything."""
    out: list[str] = []
    for item in (v.strip() for v in value.split(",")):
        if item == "all":
            out += ALL_PROPERTIES
        elif item == "aa":
            out += AMINO_ACIDS
        elif item in ALL_PROPERTIES:
            out.append(item)
        else:
            raise argparse.ArgumentTypeError(
                f"unknown property {item!r}; choose from contact, helix, strand, turn, binding_site, "
                "an amino acid letter, aa or all")
    return list(dict.fromkeys(out))


def layer_list(value: str):
    """``--contact-layers``: ``auto``, ``none``, ``all`` or ``1,6,12`` (1-based)."""
    if value in ("auto", "none", "all"):
        return value
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not auto, none, all or a list of layers like 1,6,12") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_structure_arguments(parser, "train", "DIR")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="report folder: arrays, summaries, figures, markdown")
    parser.add_argument("--property", type=property_list, default=list(ALL_PROPERTIES), metavar="LIST",
                        help="comma-separated: contact, helix, strand, turn, binding_site, amino acid letters, "
                             "aa (all 20), all (default)")
    parser.add_argument("--threshold", type=float, default=VIG_THRESHOLD,
                        help=f"attention above this counts as confident (Vig et al.: {VIG_THRESHOLD})")
    parser.add_argument("--weighted-threshold", type=float, default=0.0,
                        help="attention at or below this is left out of the weighted version (default 0)")
    parser.add_argument("--sse", choices=("auto", "psea", "dssp"), default="auto",
                        help="secondary structure: dssp (mkdssp, as Vig et al.; Debian package 'dssp'), psea "
                             "(biotite's P-SEA, from CA atoms alone) or auto (default): dssp when mkdssp is on "
                             "the PATH, else psea. The reports and the run record name the one used")
    parser.add_argument("--additives", metavar="NAMES",
                        help="comma-separated residue names that are not ligands (replaces the default list)")
    parser.add_argument("--no-probing", action="store_true", help="skip the probing classifiers per layer")
    parser.add_argument("--contact-layers", type=layer_list, default="auto", metavar="LAYERS",
                        help="depths of the contact probe by layer: auto (every layer up to 12 layers, else 8 "
                             "spread over the depth), all, none, or 1,6,12")
    parser.add_argument("--folds", type=positive_int, default=5, help="cross-validation folds of proteins")
    parser.add_argument("--probe", type=Path, metavar="PROBE.pt",
                        help="mark this probe's non-zero coefficients on the P@L heatmaps")


def _contact_layers(choice, num_layers: int) -> list[int]:
    if choice == "none":
        return []
    if choice == "all":
        return list(range(1, num_layers + 1))
    return probes.probing.default_contact_layers(num_layers) if choice == "auto" else list(choice)


def run(args: argparse.Namespace) -> int:
    """Analyse every head on the structures and write the reports; nothing again if done."""
    existing_file(args.structures, "--structures", folder_ok=True)
    domain_table(args.domains)
    if args.probe is not None:
        existing_file(args.probe, "--probe")
    output_folder(args.output)
    predictor = load(args, needs_regression=False)
    cfg = predictor.config
    probe = None if args.probe is None else probes.ContactProbe.load(args.probe, num_heads=cfg.num_heads)
    if probe is not None and (probe.num_layers_, probe.num_heads_) != (cfg.num_layers, cfg.num_heads):
        # refused before the report is begun: found at the heatmaps, it left half a report
        raise UserError(f"--probe {args.probe}: its coefficients lie on {probe.num_layers_} layers x {probe.num_heads_} "
                        f"heads; this model has {cfg.num_layers} x {cfg.num_heads} (a probe trained for another model?)")
    split = None if args.split == "all" else args.split
    options = {"properties": args.property, "sse": args.sse}
    if args.additives is not None:
        options["additives"] = [a.strip().upper() for a in args.additives.split(",") if a.strip()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.domains:
            annotated = probes.proteins.load_domains(args.structures, args.domains, split,
                                                     max_residues=cfg.max_residues, **options)
        else:
            annotated = probes.proteins.load_proteins(args.structures, split, max_residues=cfg.max_residues, **options)
    for w in caught:
        if issubclass(w.category, UserWarning) and "skipped" in str(w.message):
            report(NAME, str(w.message), kind="warning")
    fit_probing = not args.no_probing and len(annotated) >= 2
    settings = run_settings(args, {
        "dtype": dtype_name(predictor), "device_type": predictor.device.type, "structures": str(args.structures),
        "split": args.split, "domains": args.domains, "threshold": args.threshold,
        "weighted_threshold": args.weighted_threshold,
        "properties": args.property, "sse": contacts.analysis.annotations.sse_method(args.sse), "additives": options.get("additives"),
        "probing": fit_probing, "contact_layers": args.contact_layers, "folds": args.folds,
        "probe": None if args.probe is None else str(args.probe)}, model=predictor)
    with runners.runfolder.RunFolder(args.output, NAME, settings, overwrite=args.overwrite,
                                     outputs=REPORT_FILES) as run:
        run.start([{"id": "report", **proteins_input(annotated)}], unit="report")
        if not run.pending():
            return 0
        if not args.no_probing and not fit_probing:
            report(NAME, "probing classifiers need at least 2 proteins (folds of proteins); skipped", kind="note")
        analysis = probes.head_analysis.analyze_heads(
            predictor, annotated, args.property, args.threshold, weighted_threshold=args.weighted_threshold,
            probing=fit_probing, contact_layers=_contact_layers(args.contact_layers, cfg.num_layers),
            folds=args.folds, sse=args.sse, progress=io.progress.wrapper(
                "proteins", "protein", total=len(annotated), enable=not args.no_progress))
        result, probing, scores = analysis.properties, analysis.probing, analysis.scores
        result.model = scores.model = args.model if args.model.startswith("random:") or not result.model else result.model
        paths = probes.attention_report.write_report(result, args.output, probing=probing)
        run.add_files(sorted({Path(p).name for p in paths.values()}), item="report")
        summary = json.loads(Path(paths["summary_json"]).read_text())
        paths.update({f"precision_{k}": v
                      for k, v in probes.heads.write_report(scores, args.output, probe=probe).items()})
        run.mark_done({"report": sorted({Path(p).name for p in paths.values()})})

    best = summary["properties"].get("contact", {}).get("top_heads") or [None]
    line = f"wrote {args.output}/: {len(paths)} files; {len(annotated)} proteins; secondary structure by {result.sse_method}"
    if best[0] is not None:
        line += (f"; head attending most to contacts: layer {best[0]['layer']} head {best[0]['head']} "
                 f"(p_alpha {best[0]['proportion']:.3f} vs background {best[0]['background']:.3f})")
    long = json.loads(Path(paths["precision_summary_json"]).read_text())["best_head_long"]
    line += (f"; best head for long-range contacts: layer {long['layer']} head {long['head']} "
             f"(P@L {long['P@L']:.3f}; contact rate {scores.contact_rate:.3f})")
    print(line)
    return 0
