"""Batch runs: FASTA records in, one set of files per sequence out; resumable, atomic, traceable.

For each record ``ID`` (its FASTA id, made safe for file names) the run writes
``ID.npy`` (L x L float32 probabilities), ``ID.rr`` (CASP RR, with REMARK lines
naming the model, options and sequence hash), if asked ``ID.png`` and ``ID.html``
(the map in :mod:`contacts.viz.explorer`'s page, the sequence on its axes, with
``index.html`` listing every record's page), and last ``ID.json``: the record's
provenance (id, sequence hash, model hashes, options).
The folder follows the run-folder contract (:mod:`contacts.runners.runfolder`): a run
record ``contacts-run.json`` with each record's state, a lock, resume, ``overwrite``.

The files of finished records are written by a background thread
(:class:`~contacts.runners.writer.BackgroundWriter`) while the model runs the next batch.

A rerun with the same model and options does only what is missing: a record is
done when all its files exist and its ``ID.json`` names the same sequence hash,
model and options (so a run record that lagged behind a ``kill -9`` loses nothing).
A record whose sequence changed is recomputed, its old files removed. A rerun with
another model or other options refuses
(:class:`~contacts.runners.runfolder.ProvenanceMismatch`) unless ``overwrite``. Each
file is written to a temporary name and renamed; the temporary files of a run that
was killed are removed by the next run, under the folder's lock.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import threading
import warnings
from collections import Counter
from collections.abc import Container, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..constants import CONTACT_METHODS, JACOBIAN_CENTERS, MAX_TOKENS, MIN_SEPARATION
from ..encoder.alphabet import ALPHABET, MASK
from ..encoder.sequences import InvalidSequenceError, StopCodonRemoved, clean_sequence, sequence_problems, stop_note
from ..io.fasta import FastaRecord
from ..io.files import atomic_write, safe_filename, write_atomic
from ..io.progress import progress as progress_bar
from ..io.rr import write_rr
from ..predictor.batching import check_window
from ..predictor.jacobian import check_masked_lm
from ..viz.explorer import explore
from ..viz.plots import plot_contact_map
from .provenance import model_identity, package_version, sequence_sha256, sha256_tensors, without_regression
from .runfolder import DONE, RUN_RECORD, RunFolder, differences
from .writer import BackgroundWriter

OUTPUT_SUFFIXES = {"npy": ".npy", "rr": ".rr", "png": ".png", "html": ".html"}
#: With ``html``: the page listing every record's page.
INDEX_PAGE = "index.html"
#: The per-record provenance file, written after the record's other files.
RECORD_SUFFIX = ".json"
#: CASP lists contacts from a sequence separation of 6.
RR_MIN_SEPARATION = MIN_SEPARATION


@dataclass
class BatchReport:
    """What a batch run did: record ids written, skipped as already done, and refused."""

    written: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch run: ``done`` of ``total`` records have all their files."""

    def __init__(self, done: int, total: int):
        super().__init__(f"{done} of {total} records done")
        self.done, self.total = done, total


def strip_stops(records: list[FastaRecord]) -> list[FastaRecord]:
    """The records with a trailing ``*`` (stop codon) removed; one :class:`StopCodonRemoved` warning names them."""
    cleaned, stopped = [], []
    for r in records:
        sequence, removed = clean_sequence(r.sequence)
        cleaned.append(replace(r, sequence=sequence) if removed else r)
        if removed:
            stopped.append(r.id)
    if stopped:
        warnings.warn(stop_note(stopped), StopCodonRemoved, stacklevel=3)
    return cleaned


def check_records(records: list[FastaRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """Validate records before any work, finding every problem of every record in one pass.

    Returns
    -------
    stems : dict
        Record id -> file-name stem.
    invalid : dict
        Record id -> every reason it cannot be predicted, joined with ``; ``: a duplicate
        id (every record of that id is invalid: which one is meant is unknown), an id
        whose file name clashes with another's, and every problem of its sequence
        (:func:`contacts.encoder.sequences.sequence_problems`: empty, each bad character
        and each gap with its position). Trailing stop codons are removed before
        (:func:`strip_stops`).
    """
    problems: dict[str, list[str]] = {}
    counts = Counter(r.id for r in records)
    for rid, n in counts.items():
        if n > 1:
            problems.setdefault(rid, []).append(f"duplicate id ({n} records)")
    stems = {r.id: safe_filename(r.id) for r in records}
    by_stem: dict[str, list[str]] = {}
    for rid, stem in stems.items():
        by_stem.setdefault(stem, []).append(rid)
    for stem, ids in by_stem.items():
        if len(ids) > 1:
            for rid in ids:
                others = [i for i in ids if i != rid]
                problems.setdefault(rid, []).append(f"same file name {stem!r} as {others}")
    reserved = RUN_RECORD.removesuffix(RECORD_SUFFIX)
    for rid, stem in stems.items():
        if stem == reserved:
            problems.setdefault(rid, []).append(f"file name {stem!r} is the run record's ({RUN_RECORD})")
    for r in records:
        found = sequence_problems(r.sequence)
        if found:
            problems.setdefault(r.id, []).extend(p for p in found if p not in problems.get(r.id, []))
    return stems, {rid: "; ".join(why) for rid, why in problems.items()}


def resolve_window(limit: int, window: int | None, overlap: int | None) -> tuple[int, int]:
    """``window`` and ``overlap`` as :meth:`Predictor.iter_contacts` resolves them for a model of ``limit`` residues."""
    return check_window(window, overlap, limit)


def check_method(method: str, center: str = "iajb", model=None) -> None:
    """A contact method and its centring, refused in one line before any work (and a model without an LM head
    for the Jacobian)."""
    if method not in CONTACT_METHODS:
        raise ValueError(f"method {method!r} is not one of {list(CONTACT_METHODS)}")
    if center not in JACOBIAN_CENTERS:
        raise ValueError(f"center {center!r} is not one of {list(JACOBIAN_CENTERS)}")
    if method == "jacobian" and model is not None:
        check_masked_lm(model)


def rr_pairs(top: int | str | None, length: int) -> int | None:
    """Pairs an RR file keeps: ``None`` all; ``N`` the best N; ``xL`` or ``L/k`` that share of the length (>= 1).

    >>> rr_pairs("2L", 50), rr_pairs("L/5", 50), rr_pairs(10, 50), rr_pairs(None, 50)
    (100, 10, 10, None)
    """
    if top is None:
        return None
    text = str(top).strip().upper()
    try:
        if "L" in text:
            before, _, after = text.partition("L")
            factor = float(before) if before else 1.0
            if after:
                if not after.startswith("/"):
                    raise ValueError
                factor /= float(after[1:])
            if factor <= 0:
                raise ValueError
            return max(1, round(factor * length))
        count = int(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"RR top {top!r}: expected N (pairs), xL (e.g. 2L, 0.5L) or L/k (e.g. L/5)") from None
    if count < 1:
        raise ValueError(f"RR top {count} must be at least 1 pair")
    return count


def output_paths(outdir: Path, stem: str, formats) -> list[Path]:
    """The files a record with this stem gets under ``outdir``, one per format (the ``ID.json`` record not included)."""
    return [outdir / (stem + OUTPUT_SUFFIXES[f]) for f in formats]


def record_path(outdir: Path, stem: str) -> Path:
    """The per-record provenance file ``ID.json``."""
    return outdir / (stem + RECORD_SUFFIX)


def record_files(stem: str, formats) -> list[str]:
    """The names one record's files have, ``ID.json`` last (as they are written)."""
    return [stem + OUTPUT_SUFFIXES[f] for f in formats] + [stem + RECORD_SUFFIX]


def run_settings(model, *, source=None, regression=None, revision=None, model_record: dict | None = None,
                 window: int | None = None, overlap: int | None = None,
                 rr_min_separation: int = RR_MIN_SEPARATION, rr_top=None,
                 method: str = "regression", center: str = "iajb", apc: bool = True) -> dict:
    """The model and the options that change numbers, as run records hold them.

    ``model_record`` (from :func:`contacts.runners.provenance.model_identity`) wins;
    else it is made from ``source`` (hashing its files; a Hub id's at ``revision``), else from the loaded tensors.
    The Jacobian (``method="jacobian"``, with its ``center`` and ``apc``) reads no
    regression: the record names none.
    """
    if model_record is None:
        if source is not None:
            model_record = model_identity(source, regression, model=model, revision=revision)
        else:
            model_record = {"source": model.config.name, "weights_sha256": model.weights_sha256(),
                            "regression_sha256": sha256_tensors(model.regression_state()) if model.regression else None}
    window, overlap = resolve_window(model.config.max_residues, window, overlap)
    options = {"method": method, **({"center": center, "apc": apc} if method == "jacobian" else {}),
               "dtype": str(model.dtype).removeprefix("torch."), "device_type": model.device.type,
               "window": window, "overlap": overlap,
               "rr_min_separation": rr_min_separation, "rr_top": None if rr_top is None else str(rr_top)}
    if method == "jacobian":
        model_record = without_regression(model_record)
    return {"model": model_record, "options": options}


def done_files(outdir: Path, stem: str, digest: str, formats, settings: dict) -> list[str] | None:
    """The files of a record proven done by its ``ID.json`` (same sequence hash, model and options), else None."""
    if not all(p.exists() for p in output_paths(outdir, stem, formats)):
        return None
    try:
        saved = json.loads(record_path(outdir, stem).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("sequence_sha256") != digest or not isinstance(saved.get("run"), dict) \
            or differences(saved["run"], settings):
        return None  # a record file that is not one proves nothing: the record is done again
    listed = [str(f) for f in saved.get("files", []) if isinstance(f, str)] if isinstance(saved.get("files"), list) else []
    return [*dict.fromkeys([*listed, *record_files(stem, formats)])]


def valid_records(records: list[FastaRecord], formats, *, skip_invalid: bool = False
                  ) -> tuple[list[FastaRecord], dict[str, str], BatchReport]:
    """Every input problem, before any work: the records to predict (stop codons removed), their stems, the report.

    Returns
    -------
    valid : list of FastaRecord
        In input order.
    stems : dict
        Record id -> file-name stem (see :func:`check_records`).
    report : BatchReport
        With ``invalid`` filled in.

    Raises
    ------
    ValueError
        For an unknown format.
    InvalidSequenceError
        Listing every problem of every record (duplicate ids, clashing file names,
        empty records, bad characters, gaps), unless ``skip_invalid``.
    """
    unknown = set(formats) - set(OUTPUT_SUFFIXES)
    if unknown:
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {sorted(OUTPUT_SUFFIXES)}")
    records = strip_stops(records)
    stems, invalid = check_records(records)
    if "html" in formats:
        page = INDEX_PAGE.removesuffix(OUTPUT_SUFFIXES["html"])
        for rid in [rid for rid, stem in stems.items() if stem == page]:
            reason = f"file name {page!r} is the index page's ({INDEX_PAGE})"
            invalid[rid] = f"{invalid[rid]}; {reason}" if rid in invalid else reason
    if invalid and not skip_invalid:
        lines = "\n".join(f"  {rid}: {why}" for rid, why in invalid.items())
        raise InvalidSequenceError(f"{len(invalid)} invalid record(s) (--skip-invalid skips them):\n{lines}")
    return [r for r in records if r.id not in invalid], stems, BatchReport(invalid=invalid)


@contextlib.contextmanager
def predict_run(outdir: str | os.PathLike, settings: dict, valid: list[FastaRecord], stems: dict[str, str], formats,
                *, overwrite: bool = False, invalid: dict[str, str] | None = None,
                command: str = "predict") -> Iterator[RunFolder]:
    """The folder's :class:`~contacts.runners.runfolder.RunFolder` for these records, opened and started.

    A record is done when :func:`done_files` proves it; the others are :meth:`RunFolder.pending`.
    Everything the run-folder contract refuses is refused here, before any work. With
    ``html``, ``index.html`` is rewritten as the run ends (interrupted or not), under the
    folder's lock, so that it lists what the folder holds.
    """
    outdir = Path(outdir)
    outputs = {name for r in valid for name in record_files(stems[r.id], OUTPUT_SUFFIXES)}
    outputs |= {INDEX_PAGE} if "html" in formats else set()
    items = [{"id": r.id, "sequence_sha256": sequence_sha256(r.sequence),
              "length": len(ALPHABET.tokenize(r.sequence)), "file": stems[r.id]} for r in valid]
    with RunFolder(outdir, command, settings, overwrite=overwrite, outputs=outputs,
                   extra={"formats": list(formats), "invalid": dict(invalid or {})}) as run:
        run.start(items, done=lambda item: None if overwrite else done_files(
            outdir, item["file"], item["sequence_sha256"], formats, run.settings), unit="record")
        try:
            yield run
        finally:
            if "html" in formats:
                write_index(outdir, valid)
                run.add_files([INDEX_PAGE])


def predict_to_dir(
    model,
    records: list[FastaRecord],
    outdir: str | os.PathLike,
    *,
    formats: tuple[str, ...] = ("npy", "rr"),
    skip_invalid: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    source: str | os.PathLike | None = None,
    regression: str | os.PathLike | None = None,
    revision: str | None = None,
    model_record: dict | None = None,
    rr_min_separation: int = RR_MIN_SEPARATION,
    rr_top: int | str | None = None,
    method: str = "regression",
    center: str = "iajb",
    apc: bool = True,
    **predict_options,
) -> BatchReport:
    """Predict contacts for FASTA records and write them under ``outdir``, with a run record.

    Parameters
    ----------
    model : Predictor
    records : list of FastaRecord
    formats : tuple of str
        Any of ``"npy"``, ``"rr"``, ``"png"``.
    skip_invalid : bool
        Go on with the valid records when some are invalid (duplicate ids, empty,
        bad characters, gaps; all listed in the report); otherwise refuse the whole run.
    progress : bool
        A bar on a terminal, plain periodic lines elsewhere (:mod:`contacts.io.progress`).
    overwrite : bool
        Remove every file the folder's previous predict run listed, and recompute every
        record, even where the folder was made with another model or options.
    source, regression, revision, model_record
        How the run record names the model: ``model_record`` as made by
        :func:`contacts.runners.provenance.model_identity`, else that of ``source``,
        ``regression`` and ``revision`` (the files the model was loaded from), else a
        hash of the loaded tensors.
    rr_min_separation : int
        RR files list pairs with ``j - i`` at least this (default 6, as CASP).
    rr_top : int or str, optional
        RR files keep the best N pairs, or ``"xL"`` / ``"L/k"`` of the length (:func:`rr_pairs`); default all.
    method : {"regression", "jacobian"}
        Contact probabilities from the attention maps and the model's regression (or probe),
        or scores from the categorical Jacobian of its masked LM
        (:meth:`Predictor.jacobian_contacts`, with ``center`` and ``apc``; one sequence at a
        time): ``ID.npy`` holds the scores, RR files min-max scale them to [0, 1].
    **predict_options
        Passed to :meth:`Predictor.iter_contacts` or :meth:`Predictor.jacobian_contacts`
        (``max_tokens``, ``window``, ``overlap``).

    Raises
    ------
    InvalidSequenceError
        Listing every problem of every record, unless ``skip_invalid``.
    RunFolderError
        What the run-folder contract refuses (:mod:`contacts.runners.runfolder`): another
        model or options (``ProvenanceMismatch``), another command's folder, a folder
        another live run holds (``FolderBusy``).
    RunInterrupted
        On Ctrl-C, saying how many records are done (a rerun resumes); the run record
        says which.
    """
    outdir = Path(outdir)
    if rr_min_separation < 1:
        raise ValueError(f"rr_min_separation={rr_min_separation} must be at least 1")
    rr_pairs(rr_top, 1)  # refuse a bad spec before any work
    check_method(method, center, model)
    valid, stems, report = valid_records(records, formats, skip_invalid=skip_invalid)
    settings = run_settings(model, source=source, regression=regression, revision=revision, model_record=model_record,
                            window=predict_options.get("window"), overlap=predict_options.get("overlap"),
                            rr_min_separation=rr_min_separation, rr_top=rr_top, method=method, center=center,
                            apc=apc)
    with predict_run(outdir, settings, valid, stems, formats, overwrite=overwrite, invalid=report.invalid) as run:
        pending = set(run.pending())
        todo = [r for r in valid if r.id in pending]
        report.already_done = [r.id for r in valid if r.id not in pending]
        method_text = method_line(model, settings["options"])
        budget = writer_bytes(predict_options.get("max_tokens") or MAX_TOKENS,
                              min(max((len(r.sequence) for r in todo), default=1), model.config.max_residues))
        counted = threading.Lock()
        present = frozenset(os.listdir(outdir))  # the stale files to remove: one listing, not a call per record
        try:
            # The writer's threads write each record's files and report them to the run record while the
            # model runs the next batch; they drain (or, on Ctrl-C, finish the records being written) before
            # the run folder's final record and lock release, and before index.html.
            with progress_bar(total=len(todo), unit="seq", desc="contacts", enable=progress) as bar, \
                    BackgroundWriter(budget, threads=writer_threads(model.device.type, formats)) as writer:
                sequences = [r.sequence for r in todo]
                maps = (model.iter_contacts(sequences, **predict_options) if method == "regression" else
                        # a bar over each sequence's forward passes too: one sequence takes 20 L of them
                        ((i, model.jacobian_contacts(s, center=center, apc=apc, progress=progress, **predict_options))
                         for i, s in enumerate(sequences)))
                for i, probs in maps:

                    def write(record=todo[i], probs=probs):
                        files = write_outputs(record, probs, outdir, stems[record.id], formats, method_text,
                                              settings=settings, present=present)
                        run.mark_done({record.id: files})
                        with counted:
                            report.written.append(record.id)
                            bar.update(1)

                    writer.submit(write, size=probs.nbytes)
        except KeyboardInterrupt:
            raise RunInterrupted(run.count(DONE), len(valid)) from None
    return report


def write_index(outdir: str | os.PathLike, records: list[FastaRecord]) -> Path:
    """``index.html``: a link to the ``ID.html`` of every valid record that has one in ``outdir``, in input order.

    Written atomically, after a run (interrupted or not), so it lists what the folder holds.
    """
    outdir = Path(outdir)
    stems, invalid = check_records(records)
    index = INDEX_PAGE.removesuffix(OUTPUT_SUFFIXES["html"])
    rows = []
    for r in records:
        stem = stems[r.id]
        if r.id in invalid or stem == index or not (outdir / f"{stem}.html").exists():
            continue
        length = len(ALPHABET.tokenize(r.sequence))
        rows.append(f'<tr><td><a href="{html.escape(stem)}.html">{html.escape(r.id)}</a></td>'
                    f"<td>{length}</td><td>{html.escape(r.description)}</td></tr>")
    text = _INDEX.format(title="contact maps", count=len(rows), rows="\n".join(rows))
    path = outdir / INDEX_PAGE
    with atomic_write(path, "wb") as fh:
        fh.write(text.encode("utf-8"))
    return path


_INDEX = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: system-ui, sans-serif; font-size: 14px; }} td, th {{ padding: 2px 10px; text-align: left; }}
td:nth-child(2) {{ text-align: right; }}</style></head>
<body>
<h1>{title}</h1>
<p>{count} contact maps; each page shows the map with the sequence on its axes (hover, zoom, top-k pairs).</p>
<table>
<tr><th>record</th><th>L</th><th>description</th></tr>
{rows}
</table>
</body>
</html>
"""


def writer_threads(device_type: str, formats) -> int:
    """Writer threads: one where the model runs on the CPU (it has the cores) or where PNGs are drawn
    (matplotlib is not thread-safe); beside a GPU up to four, leaving a core to the thread that feeds it."""
    if device_type == "cpu" or "png" in formats:
        return 1
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def writer_bytes(max_tokens: int, length: int, batches: int = 3) -> int:
    """What the background writer may hold: the maps of ``batches`` batches of ``max_tokens``
    tokens of sequences up to ``length`` residues (a batch of L-residue sequences holds at most
    ``max_tokens / L`` maps of L x L float32), at least 16 MiB."""
    return max(16 * 2**20, batches * max_tokens * length * 4)


def method_line(model, options: dict | None = None) -> str:
    """The METHOD of RR files: this package, the model that made the map and how (``options`` of :func:`run_settings`)."""
    options = options or {}
    if options.get("method") == "jacobian":
        return (f"contacts, categorical Jacobian of {model.config.name}'s masked LM "
                f"(center={options.get('center')}{', APC' if options.get('apc') else ''})")
    return f"contacts, attention of {model.config.name} with its contact regression"


def unit_scaled(scores: np.ndarray) -> np.ndarray:
    """Scores min-max scaled to [0, 1] over their finite values (NaN kept): the ranking of an RR file, for a map
    that is not probabilities.

    >>> unit_scaled(np.array([[0.0, -2.0], [2.0, np.nan]])).tolist()
    [[0.5, 0.0], [1.0, nan]]
    """
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return scores
    lo, hi = finite.min(), finite.max()
    return (scores - lo) / (hi - lo) if hi > lo else np.where(np.isfinite(scores), 0.5, scores).astype(scores.dtype)


def write_outputs(
    record: FastaRecord, probs: np.ndarray, outdir: Path, stem: str, formats, method: str = "contacts",
    settings: dict | None = None, present: Container[str] | None = None,
) -> list[str]:
    """Write one record's files, each atomically, then its ``ID.json`` record; returns their names.

    ``method`` goes in the RR file's METHOD line; ``settings`` (:func:`run_settings`)
    in its REMARK lines and in ``ID.json``, with the record's id and sequence hash.
    A file of another format this record had (an ``ID.png`` from a run with ``--png``)
    is removed first: it showed what this record held before. ``present``: the names in
    ``outdir`` when the run began (no other run writes there while it holds the folder),
    so that only those are tried; by default every other format's name is.
    """
    for stale in output_paths(outdir, stem, set(OUTPUT_SUFFIXES) - set(formats)):
        if present is None or stale.name in present:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    residues = "".join("X" if t == MASK else t for t in ALPHABET.tokenize(record.sequence))
    settings = settings or {"model": None, "options": {}}
    options = settings["options"]
    digest = sequence_sha256(record.sequence)
    if "npy" in formats:  # each file in one write (write_atomic): the writer thread makes few system calls
        npy = io.BytesIO()
        np.save(npy, probs.astype(np.float32, copy=False))
        write_atomic(outdir / f"{stem}.npy", npy.getbuffer())
    if "rr" in formats:
        model = settings["model"] or {}
        remarks = [f"contacts {package_version()}",
                   f"model {model.get('source')} weights sha256 {model.get('weights_sha256')} "
                   + (f"regression sha256 {model['regression_sha256']}" if model.get("regression_sha256")
                      else "no regression"),
                   "options " + " ".join(f"{k}={v}" for k, v in options.items()),
                   f"sequence sha256 {digest}"]
        values = probs
        if options.get("method") == "jacobian":  # scores, not probabilities: RR files hold [0, 1]
            values = unit_scaled(probs)
            remarks.append(f"scores min-max scaled to [0, 1] from {np.nanmin(probs):.6g}..{np.nanmax(probs):.6g}: "
                           f"a ranking, not probabilities; {stem}.npy holds them unscaled")
        write_rr(outdir / f"{stem}.rr", values, residues, record.id, method=method, remarks=remarks,
                 min_separation=options.get("rr_min_separation", RR_MIN_SEPARATION),
                 max_pairs=rr_pairs(options.get("rr_top"), len(residues)))
    if "png" in formats:
        fig = plot_contact_map(probs, title=record.id)
        with atomic_write(outdir / f"{stem}.png", "wb") as fh:
            fig.savefig(fh, format="png", dpi=100)
    if "html" in formats:
        explore(None, probs, sequence=residues, title=record.id).write_html(outdir / f"{stem}.html")
    entry = {"format": "contacts-record/1", "id": record.id, "description": record.description,
             "sequence_sha256": digest, "length": len(residues),
             "files": [p.name for p in output_paths(outdir, stem, formats)], "run": settings}
    write_atomic(record_path(outdir, stem), (json.dumps(entry, indent=1) + "\n").encode())
    return record_files(stem, formats)
