"""Score contact predictions against real structures: the library behind ``contacts evaluate``.

Every protein is scored on its observed residues (L = residues of the chain
with coordinates): a prediction made for the deposited full sequence, or for
any other sequence, is first placed on those residues (:func:`place_prediction`).
Predictions come from one of three sources:

- a model (``contacts.load_model(source).predict_contacts``, or its categorical
  Jacobian, ``jacobian_contacts``), run on the structure's full sequence where the
  file has one, else on the observed residues;
- a folder of prediction files, the reader picked by extension: ``<name>.npy``
  or ``<name>.npz`` (an (N, N) map), ``<name>.rr`` (CASP RR, any variant
  :func:`contacts.io.rr.read_rr` reads), or plain (N, N) matrix text
  ``<name>.mat`` / ``.ccmpred`` / ``.txt`` / ``.tsv`` / ``.csv`` (CCMpred,
  plmc and similar tools). Pairs an RR file does not list, and NaN entries of a
  map, are "not predicted" and never counted (see :mod:`contacts.analysis.metrics`);
- a folder of alignments ``<name>.a3m`` / ``<name>.small.a3m`` / ``<name>.fasta``
  scored with a coevolution baseline (``potts`` or ``mi``).

``<name>`` is the structure file's name without its extensions (``1crr`` for
``1crr.bcif``, ``1tim`` for ``1tim.pdb.gz``).
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..constants import CONTACT_CUTOFF, CONTACT_METHODS
from ..io.a3m import read_alignment
from ..io.domains import read_domains
from ..io.files import atomic_write
from ..io.manifest import PACKAGE_MANIFEST, folder_manifest, read_manifest, structure_files, structure_name
from ..io.matrix import MATRIX_SUFFIXES, MatrixFormatError, matrix_reader, read_matrix
from ..io.progress import progress as progress_bar
from ..io.rr import RRFormatError, read_rr
from ..io.structures import Structure, StructureError, cut_residues, load_structure
from ..predictor import load_model
from ..predictor.jacobian import check_masked_lm
from . import metrics
from .coevolution import encode, mutual_information, potts_contacts
from .labels import align_to_structure, contact_map

__all__ = [
    "EvaluationError",
    "EvaluationResult",
    "Target",
    "domain_targets",
    "evaluate",
    "find_targets",
    "format_table",
    "input_file",
    "jsonable",
    "missing_inputs",
    "model_predictor",
    "msa_predictor",
    "PREDICTION_SUFFIXES",
    "place_prediction",
    "predictions_dir_predictor",
    "table_of",
    "write_results",
]

#: A contact source takes a structure and returns (sequence predicted on, (N, N) scores).
ContactSource = Callable[[Structure], tuple[str, np.ndarray]]


#: What :func:`predictions_dir_predictor` and :func:`msa_predictor` look for, ``<name><suffix>``.
#: Extensions a predictions folder is searched for, in this order (the first found is read).
PREDICTION_SUFFIXES = (".npy", ".npz", ".rr", *MATRIX_SUFFIXES[2:])
ALIGNMENT_SUFFIXES = (".a3m", ".small.a3m", ".fasta", ".fa")


class EvaluationError(ValueError):
    """Inputs of an evaluation that do not fit together (no structures, no prediction for one, ...)."""


@dataclass(frozen=True)
class Target:
    """One structure to score: its file, chain (None: the first protein chain) and split.

    A domain (:func:`domain_targets`) also has its residue range ``first``..``last``
    (author numbering) and its own ``label`` as name.
    """

    path: Path
    chain: str | None = None
    split: str | None = None
    first: str | None = None
    last: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or structure_name(self.path)

    def load(self) -> Structure:
        """The target's chain (cut to its residue range where it has one)."""
        structure = load_structure(self.path, self.chain)
        return structure if self.first is None else cut_residues(structure, self.first, self.last)


def domain_targets(folder: str | os.PathLike, domains: str | os.PathLike, *, split: str | None = None) -> list[Target]:
    """The domains of a domain table (a path or a shipped name, :mod:`contacts.io.domains`) as targets in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationError(f"--domains reads its structure files from one folder; {str(folder)!r} is not a folder")
    targets = [Target(folder / d.file, d.chain, d.split or None, d.first, d.last, d.name)
               for d in read_domains(domains, split)]
    missing = [str(t.path) for t in targets if not t.path.is_file()]
    if missing:
        raise EvaluationError(f"{len(missing)} structure file(s) of the domain table are not in {folder}: "
                              f"{', '.join(sorted(set(missing))[:5])}")
    return targets


def find_targets(
    inputs: Sequence[str | os.PathLike],
    *,
    split: str | None = None,
    manifest: str | os.PathLike | None = None,
) -> list[Target]:
    """Structure files from folders and files, with chains and splits from a manifest.

    Parameters
    ----------
    inputs : sequence of paths
        Structure files, or folders whose structure files are all taken.
    split : str, optional
        Keep only targets of this split (needs a manifest entry for each file).
    manifest : path, optional
        Default: a folder's ``MANIFEST.tsv`` where present, else the package's
        ``data/structures.tsv``.
    """
    rows: dict[str, dict[str, str]] = {}
    if manifest is not None:
        rows.update(read_manifest(manifest))
    elif PACKAGE_MANIFEST.is_file():
        rows.update(read_manifest(PACKAGE_MANIFEST))
    files: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found, own_manifest = structure_files(item), folder_manifest(item)
            if manifest is None and own_manifest is not None:
                own = read_manifest(own_manifest)
                _check_listed(own_manifest, own, found, str(item))
                rows.update(own)
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise EvaluationError(f"structure input {str(item)!r} is neither a file nor a folder")
    if manifest is not None and all(Path(item).is_dir() for item in inputs):
        # the user's own table for these folders: a row whose file is not there would drop out unseen
        _check_listed(Path(manifest), rows, files, ", ".join(map(str, inputs)))
    targets = []
    for path in files:
        row = rows.get(path.name, {})
        target = Target(path, row.get("chain") or None, row.get("split") or None)
        if split is None or target.split == split:
            targets.append(target)
    if not targets:
        where = ", ".join(map(str, inputs))
        raise EvaluationError(f"no structure files{'' if split is None else f' of split {split!r}'} in {where}")
    return targets


def _check_listed(manifest: Path, rows: dict[str, dict[str, str]], files: Sequence[Path], where: str) -> None:
    """Refuse a manifest that names structure files the folders do not hold (the package's own table,
    which lists every shared entry, is not checked: a folder may hold some of them)."""
    present = {path.name for path in files}
    missing = [name for name in rows if name not in present]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise EvaluationError(f"{manifest} names {', '.join(map(repr, missing[:3]))}{more}, not found in {where} "
                              "(a manifest lists the structure files that are there)")


def place_prediction(pred: np.ndarray, sequence: str, structure: Structure) -> np.ndarray:
    """Put an (N, N) prediction for ``sequence`` onto the structure's L observed residues.

    Parameters
    ----------
    pred : ndarray, shape=(N, N)
    sequence : str, length N
        The sequence the prediction was made for: the observed residues, the
        deposited full sequence, or any sequence that aligns (see
        :func:`contacts.analysis.labels.align_to_structure`).
    structure : Structure, length L

    Returns
    -------
    ndarray, shape=(L, L), dtype=float64
        NaN for residues the sequence does not cover (ranked last by the metrics).
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != (len(sequence), len(sequence)):
        raise EvaluationError(f"prediction of shape {pred.shape} does not match its sequence of {len(sequence)} residues")
    index = align_to_structure(sequence, structure)  # sequence position -> structure residue
    out = np.full((len(structure), len(structure)), np.nan)
    ok = np.flatnonzero(index >= 0)
    out[np.ix_(index[ok], index[ok])] = pred[np.ix_(ok, ok)]
    return out


def _prediction_sequence(structure: Structure) -> str:
    return structure.full_sequence or structure.sequence


def model_predictor(source, *, method: str = "regression", jacobian: dict | None = None,
                    **load_options) -> ContactSource:
    """Predict with ``contacts.load_model(source).predict_contacts`` on each full sequence
    (``source`` may also be a loaded :class:`~contacts.predictor.Predictor`); with
    ``method="jacobian"``, score with its categorical Jacobian instead
    (:meth:`~contacts.predictor.Predictor.jacobian_contacts`, given the options in ``jacobian``:
    ``center``, ``apc``, ``max_tokens``)."""
    if method not in CONTACT_METHODS:
        raise EvaluationError(f"method {method!r} is not one of {list(CONTACT_METHODS)}")
    model = source if hasattr(source, "predict_contacts") else load_model(source, **load_options)
    if method == "jacobian":
        check_masked_lm(model)

    def predict(structure: Structure) -> tuple[str, np.ndarray]:
        sequence = _prediction_sequence(structure)
        if method == "jacobian":
            return sequence, np.asarray(model.jacobian_contacts(sequence, **(jacobian or {})))
        return sequence, np.asarray(model.predict_contacts(sequence))

    return predict


def predictions_dir_predictor(folder: str | os.PathLike) -> Callable[[Structure, str], tuple[str, np.ndarray]]:
    """Read ``<name>`` + one of :data:`PREDICTION_SUFFIXES` from a folder, the reader chosen by extension.

    The returned callable has a ``readers`` attribute: a dict filled as it
    reads, ``{file name: reader name}`` (``'CASP RR'``, ``'NumPy .npz'``,
    ``'L x L matrix text'``, ...), so that callers can say which reader was used.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationError(f"predictions folder {str(folder)!r} does not exist")
    readers: dict[str, str] = {}

    def predict(structure: Structure, name: str) -> tuple[str, np.ndarray]:
        found = [folder / f"{name}{suffix}" for suffix in PREDICTION_SUFFIXES if (folder / f"{name}{suffix}").is_file()]
        if not found:
            text = "|".join(suffix[1:] for suffix in PREDICTION_SUFFIXES[3:])
            raise EvaluationError(f"no prediction {name}.npy, {name}.npz, {name}.rr or {name}.{{{text}}} in {folder}")
        path = found[0]
        if path.suffix == ".rr":
            try:
                rr_file = read_rr(path)
            except RRFormatError as error:
                raise EvaluationError(str(error)) from error
            readers[path.name] = "CASP RR"
            sequence = rr_file.sequence or structure.sequence
            # unlisted pairs are not predicted: NaN, never counted by the metrics
            return sequence, rr_file.to_matrix(len(sequence), fill=np.nan)
        try:
            pred = read_matrix(path)
        except MatrixFormatError as error:
            raise EvaluationError(str(error)) from error
        readers[path.name] = matrix_reader(path)
        for sequence in (structure.sequence, structure.full_sequence):
            if sequence is not None and len(sequence) == pred.shape[0]:
                return sequence, pred
        full = "" if structure.full_sequence is None else f" or the full sequence ({len(structure.full_sequence)})"
        raise EvaluationError(
            f"{path.name} holds a map of shape {pred.shape}; expected the observed residues ({len(structure)}){full}"
        )

    predict.readers = readers
    return predict


def msa_predictor(folder: str | os.PathLike, method: str = "potts", **options) -> Callable[[Structure, str], tuple[str, np.ndarray]]:
    """Coevolution scores from ``<name>.a3m``, ``<name>.small.a3m`` or ``<name>.fasta`` in a folder."""
    folder = Path(folder)
    if method not in ("potts", "mi"):
        raise EvaluationError(f"coevolution method {method!r}; expected 'potts' or 'mi'")
    if not folder.is_dir():
        raise EvaluationError(f"alignment folder {str(folder)!r} does not exist")

    def predict(structure: Structure, name: str) -> tuple[str, np.ndarray]:
        for suffix in (".a3m", ".small.a3m", ".fasta", ".fa"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                alignment = read_alignment(path)
                msa = encode(alignment)
                scores = potts_contacts(msa, **options) if method == "potts" else mutual_information(msa, **options)
                return alignment[0][1].replace("-", "X"), scores
        raise EvaluationError(f"no alignment {name}.a3m, {name}.small.a3m or {name}.fasta in {folder}")

    return predict


@dataclass
class EvaluationResult:
    """Per-protein records and their mean.

    Attributes
    ----------
    records : list of dict
        One per protein: ``name``, ``file``, ``chain``, ``split``, ``L``, then
        ``'<range> <metric>'`` columns (e.g. ``'long P@L/5'``).
    mean : dict
        ``mean[range][metric]`` over the proteins (NaN entries left out).
    skipped : list of (name, reason)
        Proteins that had no prediction (only with ``skip_missing=True``).
    settings : dict
    """

    records: list[dict]
    mean: dict[str, dict[str, float]]
    skipped: list[tuple[str, str]]
    settings: dict

    def metric_columns(self) -> list[str]:
        return list(metrics.flatten_table(self.mean))


def evaluate(
    targets: Iterable[Target],
    predictor: Callable,
    *,
    cutoff: float = CONTACT_CUTOFF,
    impute_cb: bool = True,
    length: int | str | None = None,
    skip_missing: bool = False,
    progress: bool = True,
    settings: dict | None = None,
    done: Mapping[str, Mapping] | None = None,
    on_scored: Callable[[dict], None] | None = None,
) -> EvaluationResult:
    """Score a predictor on structures: precision by range and k, per protein and mean.

    Parameters
    ----------
    targets : iterable of Target
    predictor : callable
        ``predictor(structure)`` or ``predictor(structure, name)`` returning
        ``(sequence, (N, N) scores)``; see :func:`model_predictor`,
        :func:`predictions_dir_predictor`, :func:`msa_predictor`.
    cutoff : float
        Contact distance (Å).
    impute_cb : bool
        Ideal CB from the backbone (default) or the deposited CB with CA for glycine.
    length : int, 'observed' or None
        The L of P@L (:func:`contacts.analysis.metrics.resolve_length`); the labels are
        over the observed residues, so None means their number.
    skip_missing : bool
        Record proteins without a prediction in ``skipped`` instead of raising.
    progress : bool
        Progress over proteins: a bar on a terminal, plain periodic lines elsewhere.
    done : mapping, optional
        Target name -> its record from an earlier run (as :attr:`EvaluationResult.records`
        holds it; None for NaN, as JSON keeps it): taken as it is, not scored again.
    on_scored : callable, optional
        Called with each record as soon as its protein is scored (to keep it across an
        interruption).
    """
    takes_name = len(inspect.signature(predictor).parameters) >= 2
    targets = list(targets)
    done = done or {}
    records, tables, skipped = [], [], []
    todo = [t for t in targets if t.name not in done]
    scored = {}
    for target in progress_bar(todo, desc="proteins", unit="protein", enable=progress and bool(todo)):
        try:
            structure = target.load()
        except StructureError as error:
            # the readers name the file; a message that does not (a chain of an AtomArray) gets its name
            named = str(target.path) in str(error)
            raise EvaluationError(str(error) if named else f"{target.path.name}: {error}") from error
        try:
            sequence, pred = predictor(structure, target.name) if takes_name else predictor(structure)
        except EvaluationError as error:
            if not skip_missing:
                raise
            skipped.append((target.name, str(error)))
            continue
        labels = contact_map(structure, cutoff, impute=impute_cb)
        placed = place_prediction(pred, sequence, structure)
        table = metrics.precision_table(placed, labels, length=length)
        scored[target.name] = {
            "name": target.name, "file": target.path.name, "chain": structure.chain,
            "split": target.split or "", "L": metrics.resolve_length(labels, length),
            **metrics.flatten_table(table),
        }
        if on_scored is not None:
            on_scored(scored[target.name])
    for target in targets:  # in the targets' order, whether scored now or before
        if target.name in done:
            records.append({k: (math.nan if v is None else v) for k, v in done[target.name].items()})
        elif target.name in scored:
            records.append(scored[target.name])
        else:
            continue
        tables.append(table_of(records[-1]))
    if not tables:
        raise EvaluationError("no protein could be scored" + (f"; skipped: {skipped[:3]}" if skipped else ""))
    base = {"cutoff": cutoff, "impute_cb": impute_cb, "length": length, "n_proteins": len(records)}
    return EvaluationResult(records, metrics.mean_table(tables), skipped, {**base, **(settings or {})})


#: The entries of a record that name the protein; the others are ``'<range> <metric>'``.
RECORD_FIELDS = ("name", "file", "chain", "split", "L")


def table_of(record: Mapping) -> dict[str, dict[str, float]]:
    """The precision table of a record (the inverse of :func:`contacts.analysis.metrics.flatten_table`)."""
    table: dict[str, dict[str, float]] = {}
    for key, value in record.items():
        if key not in RECORD_FIELDS:
            rng, metric = key.split(" ", 1)
            table.setdefault(rng, {})[metric] = math.nan if value is None else value
    return table


def jsonable(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value


def input_file(folder: str | os.PathLike, name: str, suffixes: Sequence[str]) -> Path | None:
    """The file a folder holds for ``name``: ``<name><suffix>`` for the first suffix found, else None."""
    return next((Path(folder) / f"{name}{s}" for s in suffixes if (Path(folder) / f"{name}{s}").is_file()), None)


def missing_inputs(targets: Iterable[Target], folder: str | os.PathLike, suffixes: Sequence[str]) -> list[str]:
    """Names of the targets that have no ``<name><suffix>`` file in ``folder`` (for any suffix), in order.

    Lets a command list every missing prediction or alignment before scoring any protein.
    """
    return [t.name for t in targets if input_file(folder, t.name, suffixes) is None]


def write_results(result: EvaluationResult, prefix: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``PREFIX.csv`` (one row per protein, then a ``mean`` row) and ``PREFIX.json``, atomically."""
    prefix = Path(prefix)
    csv_path, json_path = prefix.with_name(prefix.name + ".csv"), prefix.with_name(prefix.name + ".json")
    columns = ["name", "file", "chain", "split", "L", *result.metric_columns()]
    with atomic_write(csv_path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for record in result.records:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in record.items()})
        writer.writerow({"name": "mean", **{k: f"{v:.4f}" for k, v in metrics.flatten_table(result.mean).items()}})
    payload = {"settings": result.settings, "mean": result.mean, "proteins": result.records,
               "skipped": [{"name": n, "reason": r} for n, r in result.skipped]}
    with atomic_write(json_path, "w") as handle:
        json.dump(jsonable(payload), handle, indent=1)
        handle.write("\n")
    return csv_path, json_path


def format_table(result: EvaluationResult, metrics_shown: Sequence[str] = ("P@L", "P@L/2", "P@L/5")) -> str:
    """A plain-text table of about 100 columns: one line per protein and the mean, the ranges as column groups.

    Where a precision was taken over fewer than its k pairs (a sparse
    prediction, or a range with few known pairs), the entry shows the count:
    ``1.000 (12)`` is 12 hits out of the 12 pairs taken. The mean row names how many
    proteins it averages (``mean of 21``); its ``L`` is empty.
    """
    ranges = list(result.mean)
    nan = lambda v: v is None or (isinstance(v, float) and math.isnan(v))  # noqa: E731
    short = False

    def cell(record: dict, rng: str, metric: str) -> str:
        nonlocal short
        value = record[f"{rng} {metric}"]
        if nan(value):
            return "nan"
        count = record.get(f"{rng} {metrics.count_name(metric)}")
        k = max(1, record["L"] // metrics.TOP_K.get(metric, 1))
        if count is None or nan(count) or count >= k:
            return f"{value:.3f}"
        short = True
        return f"{value:.3f} ({int(count)})"

    flat = metrics.flatten_table(result.mean)
    rows = [(r["name"], str(r["L"]), [cell(r, rng, m) for rng in ranges for m in metrics_shown]) for r in result.records]
    rows.append((f"mean of {len(result.records)}", "",
                 [("nan" if nan(flat[f"{rng} {m}"]) else f"{flat[f'{rng} {m}']:.3f}") for rng in ranges for m in metrics_shown]))
    widths = [max(len(m), *(len(row[2][j]) for row in rows)) for j, m in enumerate(metrics_shown * len(ranges))]
    name_width = max(7, *(len(row[0]) for row in rows))
    lead = " " * (name_width + 1 + 5)
    groups, start = [], 0
    for rng in ranges:
        span = sum(widths[start:start + len(metrics_shown)]) + len(metrics_shown) - 1
        groups.append(f"{rng:^{span}}")
        start += len(metrics_shown)
    lines = [f"{lead}  {'  '.join(groups)}".rstrip(),
             f"{'protein':<{name_width}} {'L':>5}  " + _grouped(list(metrics_shown) * len(ranges), widths,
                                                              len(metrics_shown))]
    rule = "-" * len(lines[1])
    lines.append(rule)
    for name, length, cells in rows[:-1]:
        lines.append(f"{name:<{name_width}} {length:>5}  " + _grouped(cells, widths, len(metrics_shown)))
    name, length, cells = rows[-1]
    lines += [rule, f"{name:<{name_width}} {length:>5}  " + _grouped(cells, widths, len(metrics_shown))]
    if short:
        lines.append("(n): precision over the n pairs predicted in that range, fewer than its k")
    return "\n".join(lines)


def _grouped(cells: Sequence[str], widths: Sequence[int], size: int) -> str:
    """Cells right-aligned in their widths, one space within a group of ``size``, two between groups."""
    parts = [" ".join(f"{c:>{w}}" for c, w in zip(cells[i:i + size], widths[i:i + size]))
             for i in range(0, len(cells), size)]
    return "  ".join(parts)
