"""Options shared by the commands that read structures to fit or inspect probes."""

from __future__ import annotations

import argparse
import hashlib
import warnings
from pathlib import Path

import probes

from .common import add_model_arguments, add_overwrite_argument, report


def add_structure_arguments(parser: argparse.ArgumentParser, default_split: str, output: str) -> None:
    """The model options plus ``--structures``, ``--split``, ``--no-progress`` and ``--overwrite`` (of ``output``)."""
    add_model_arguments(parser, regression_help="contact-regression file to load with the model "
                                                "(a probe is what is being made or inspected)")
    parser.add_argument("--structures", required=True, metavar="DIR", type=Path,
                        help="folder of structures (with MANIFEST.tsv for splits and chains), or a manifest file")
    parser.add_argument("--split", default=default_split,
                        help=f"manifest split to use (default {default_split}; 'all' for every row)")
    parser.add_argument("--domains", metavar="TSV",
                        help="read the domains this table lists (name, file, chain, first, last, split; or "
                             "antibody_domains, the one the package ships) instead of the manifest's whole chains")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_overwrite_argument(parser, output)


def proteins(args: argparse.Namespace, predictor, command: str):
    """The structures of ``--structures``/``--split`` as probe proteins (contact labels only); skipped ones reported
    as warnings."""
    split = None if args.split == "all" else args.split
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.domains:
            found = probes.proteins.load_domains(args.structures, args.domains, split, properties=(),
                                                 max_residues=predictor.config.max_residues)
        else:
            found = probes.proteins.load_proteins(args.structures, split, properties=(),
                                                  max_residues=predictor.config.max_residues)
    for w in caught:
        report(command, str(w.message), kind="warning")
    return found


def proteins_input(proteins) -> dict:
    """What identifies a run's proteins (:class:`probes.proteins.Protein`) in its record: their names, and one hash
    of names, sequences and contact labels (a changed structure file changes the labels)."""
    digest = hashlib.sha256()
    for p in proteins:
        digest.update(f"{p.name}\0{p.sequence}\0".encode())
        digest.update(p.contacts.tobytes())
    return {"proteins": [p.name for p in proteins], "proteins_sha256": digest.hexdigest()}
