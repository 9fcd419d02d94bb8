"""Batch runs: FASTA records in, one set of files per sequence out; resumable and atomic.

For each record ``ID`` (its FASTA id, made safe for file names) the run writes
``ID.npy`` (L x L float32 probabilities), ``ID.rr`` (CASP RR) and, if asked,
``ID.png``. A rerun skips records whose files all exist; each file is written
to a temporary name and renamed, so an interrupted run leaves no half files.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..encoder.alphabet import ALPHABET, MASK, InvalidSequenceError
from ..io.fasta import FastaRecord
from ..io.files import atomic_write, safe_filename
from ..io.rr import write_rr
from ..viz.plots import plot_contact_map

OUTPUT_SUFFIXES = {"npy": ".npy", "rr": ".rr", "png": ".png"}


@dataclass
class BatchReport:
    """What a batch run did: record ids written, skipped as already done, and refused."""

    written: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)


def check_records(records: list[FastaRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """Validate records before any work.

    Returns
    -------
    stems : dict
        Record id -> file-name stem.
    invalid : dict
        Record id -> why it cannot be predicted (empty, a bad residue and its position).

    Raises
    ------
    ValueError
        For duplicate ids, or distinct ids that map to the same file name.
    """
    dupes = sorted(k for k, n in Counter(r.id for r in records).items() if n > 1)
    if dupes:
        raise ValueError(f"duplicate record ids: {dupes}")
    stems = {r.id: safe_filename(r.id) for r in records}
    clashes = sorted(k for k, n in Counter(stems.values()).items() if n > 1)
    if clashes:
        raise ValueError(f"different ids map to the same file names: {clashes}")
    invalid = {}
    for r in records:
        try:
            ALPHABET.tokenize(r.sequence)
        except InvalidSequenceError as exc:
            invalid[r.id] = "empty record" if not r.sequence.strip() else str(exc)
    return stems, invalid


def output_paths(outdir: Path, stem: str, formats) -> list[Path]:
    """The files a record with this stem gets under ``outdir``, one per format."""
    return [outdir / (stem + OUTPUT_SUFFIXES[f]) for f in formats]


def pending_records(
    records: list[FastaRecord], outdir: str | os.PathLike, formats, *, skip_invalid: bool = False
) -> tuple[list[FastaRecord], dict[str, str], BatchReport]:
    """Validate records and split off those whose files all exist under ``outdir``.

    Returns
    -------
    todo : list of FastaRecord
        Valid records still to predict, in input order.
    stems : dict
        Record id -> file-name stem (see :func:`check_records`).
    report : BatchReport
        With ``invalid`` and ``already_done`` filled in.

    Raises
    ------
    ValueError
        For an unknown format, duplicate ids, or ids that map to the same file name.
    InvalidSequenceError
        For empty or invalid records, unless ``skip_invalid``.
    """
    unknown = set(formats) - set(OUTPUT_SUFFIXES)
    if unknown:
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {sorted(OUTPUT_SUFFIXES)}")
    outdir = Path(outdir)
    stems, invalid = check_records(records)
    if invalid and not skip_invalid:
        lines = "\n".join(f"  {rid}: {why}" for rid, why in invalid.items())
        raise InvalidSequenceError(f"{len(invalid)} invalid record(s) (use --skip-invalid to go on):\n{lines}")
    report = BatchReport(invalid=invalid)
    todo = []
    for r in records:
        if r.id in invalid:
            continue
        if all(p.exists() for p in output_paths(outdir, stems[r.id], formats)):
            report.already_done.append(r.id)
        else:
            todo.append(r)
    return todo, stems, report


def predict_to_dir(
    model,
    records: list[FastaRecord],
    outdir: str | os.PathLike,
    *,
    formats: tuple[str, ...] = ("npy", "rr"),
    skip_invalid: bool = False,
    progress: bool = True,
    **predict_options,
) -> BatchReport:
    """Predict contacts for FASTA records and write them under ``outdir``.

    Parameters
    ----------
    model : Predictor
    records : list of FastaRecord
    formats : tuple of str
        Any of ``"npy"``, ``"rr"``, ``"png"``.
    skip_invalid : bool
        Go on with the valid records when some are empty or hold bad residues
        (they are listed in the report); otherwise refuse the whole run.
    **predict_options
        Passed to :meth:`Predictor.iter_contacts` (``max_tokens``, ``window``, ``overlap``).
    """
    outdir = Path(outdir)
    todo, stems, report = pending_records(records, outdir, formats, skip_invalid=skip_invalid)
    outdir.mkdir(parents=True, exist_ok=True)
    results = model.iter_contacts([r.sequence for r in todo], **predict_options)
    with tqdm(total=len(todo), unit="seq", desc="contacts", disable=not progress) as bar:
        for i, probs in results:
            record = todo[i]
            write_outputs(record, probs, outdir, stems[record.id], formats, method_line(model))
            report.written.append(record.id)
            bar.update(1)
    return report


def method_line(model) -> str:
    """The METHOD of RR files: this package and the model that made the map."""
    return f"contacts, attention of {model.config.name} with its contact regression"


def write_outputs(
    record: FastaRecord, probs: np.ndarray, outdir: Path, stem: str, formats, method: str = "contacts"
) -> None:
    """Write one record's files, each atomically; ``method`` goes in the RR file's METHOD line."""
    residues = "".join("X" if t == MASK else t for t in ALPHABET.tokenize(record.sequence))
    if "npy" in formats:
        with atomic_write(outdir / f"{stem}.npy", "wb") as fh:
            np.save(fh, probs.astype(np.float32))
    if "rr" in formats:

        write_rr(outdir / f"{stem}.rr", probs, residues, record.id, method=method)
    if "png" in formats:

        fig = plot_contact_map(probs, title=record.id)
        with atomic_write(outdir / f"{stem}.png", "wb") as fh:
            fig.savefig(fh, format="png", dpi=100)
