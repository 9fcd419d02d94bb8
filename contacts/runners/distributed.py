"""Batch runs on Ray: the ``predict`` pipeline over many workers, the same files out.

The driver validates the records (:func:`contacts.runners.predict.valid_records`), holds the
folder's lock and owns its run record (:func:`contacts.runners.predict.predict_run`: the
run-folder contract of :mod:`contacts.runners.runfolder`), marking records done as shards
report them; it cuts the
single-machine batch plan into *units* (:func:`plan_units`) and the units into
length-sorted shards, and hands the shards to Ray actors, one model replica each (a
GPU each where the cluster has GPUs, else ``cpus_per_worker`` CPUs). Workers write every
record's files themselves with :func:`contacts.runners.predict.write_outputs` (each file under a
temporary name, then renamed), so ``outdir`` must be one folder that every worker and
the driver see: a shared filesystem. The driver only collects a small report per shard.

Resuming
    A rerun skips records whose files all exist with an ``ID.json`` naming the same sequence,
    model and options; another model or other options are refused unless ``overwrite``
    (as in :func:`contacts.runners.predict.predict_to_dir`). A worker that dies (a lost node, an
    out-of-memory kill) loses only the shard it was running: the other workers go on,
    and the report lists the records left without files; rerunning the same command
    does exactly those. A shard whose worker died is not retried in the same run, so a
    sequence that kills workers cannot take the whole cluster down.

Byte-identical outputs
    A sequence's float32 map depends, in the last bits, on the batch it runs in (the
    padding to a longer neighbour changes the reduction order). The batches here are
    therefore *the* batches that one process forms over all valid records
    (:func:`contacts.predictor.token_batches` over every window of every sequence), and
    a shard holds whole runs of them: running a unit's sequences through
    :meth:`Predictor.iter_contacts` forms exactly those batches again. The same holds
    on a rerun, which recomputes a partly written unit whole and writes only its
    missing records. Same device type, dtype and library versions as the single-machine
    run are assumed (a GPU and a CPU differ in far more than the last bit).

Ray is an optional dependency: ``pip install 'esm-contacts[ray]'``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..constants import MAX_TOKENS
from ..encoder.alphabet import ALPHABET
from ..encoder.hub import check_revision
from ..io.fasta import FastaRecord
from ..io.progress import progress as progress_bar
from ..predictor import load_model, token_batches, windows
from .predict import (
    RR_MIN_SEPARATION,
    BatchReport,
    RunInterrupted,
    done_files,
    method_line,
    predict_run,
    record_files,
    resolve_window,
    rr_pairs,
    run_settings,
    valid_records,
    write_outputs,
    writer_bytes,
    writer_threads,
)
from .provenance import model_identity, sequence_sha256
from .runfolder import DONE, RUN_RECORD, differences, read_run_record
from .writer import BackgroundWriter

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'esm-contacts[ray]'"
MAX_SHARD_SIZE = 64
# Shards per worker, at least, where there are records enough: the first shards hold the
# longest sequences, so a few shards each keep the workers evenly busy.
SHARDS_PER_WORKER = 4
# Only records and per-shard reports travel through Ray's object store (outputs go to
# files), so a local cluster needs little of it; Ray's default is 30% of the memory.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2


class DistributedError(RuntimeError):
    """A Ray run that could not start: no Ray, too few resources, a model the workers cannot load."""


@dataclass
class RayReport(BatchReport):
    """A :class:`BatchReport` plus what a Ray run left undone.

    Attributes
    ----------
    missing : dict
        Record id -> why it has no files after this run (its worker died, or the
        prediction raised); rerunning the same command does these.
    workers, shards : int
        Model replicas started, and shards handed out.
    """

    missing: dict[str, str] = field(default_factory=dict)
    workers: int = 0
    shards: int = 0


@dataclass
class ShardResult:
    """What one worker did with one shard."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def import_ray(local: bool = False):
    """Import Ray, or say how to install it.

    With ``local``, a cluster this process starts binds to the loopback interface only
    (Ray's own switch for single-machine clusters; it must be set before Ray is imported).
    """
    if local:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray  # noqa: PLC0415 (optional heavy dependency, loaded when used)
    except ImportError as exc:
        raise DistributedError(f"running on Ray needs the ray package: {INSTALL_HINT}") from exc
    return ray


def plan_units(lengths: Sequence[int], *, max_tokens: int, window: int, overlap: int) -> list[list[int]]:
    """Group sequences into units that the single-machine batch plan never splits.

    Parameters
    ----------
    lengths : sequence of int
        Residues per sequence, in input order.
    max_tokens : int
        Token budget of one batch, as in :meth:`Predictor.iter_contacts`.
    window, overlap : int
        Resolved (see :func:`resolve_window`).

    Returns
    -------
    units : list of list of int
        Sequence indices, ascending within a unit; units longest first. A unit is a run
        of consecutive batches of :func:`token_batches` over all windows of all
        sequences, cut only where no sequence has windows on both sides. Given a unit's
        sequences in this order, :meth:`Predictor.iter_contacts` forms the same batches
        again: its sort is stable, so the unit's windows come in the same order, and
        greedy batching restarted at a batch boundary repeats the same cuts.

    >>> plan_units([5, 30, 5, 5], max_tokens=16, window=20, overlap=10)
    [[1], [0, 2], [3]]
    """
    owner = [i for i, n in enumerate(lengths) for _ in windows(n, window, overlap)]
    tokens = [min(lengths[i], window) + 2 for i in owner]
    left = Counter(owner)
    units, unit, straddling = [], set(), 0
    for batch in token_batches(tokens, max_tokens):
        for j in batch:
            i = owner[j]
            if i not in unit:
                unit.add(i)
                straddling += left[i] > 1
            elif left[i] == 1:
                straddling -= 1
            left[i] -= 1
        if not straddling:
            units.append(sorted(unit))
            unit = set()
    return units


def _shards(units: list[list[FastaRecord]], size: int) -> list[list[list[FastaRecord]]]:
    """Consecutive units, gathered until a shard holds at least ``size`` records."""
    shards, shard, count = [], [], 0
    for unit in units:
        shard.append(unit)
        count += len(unit)
        if count >= size:
            shards.append(shard)
            shard, count = [], 0
    return shards + ([shard] if shard else [])


class ShardWorker:
    """One model replica on a Ray worker: predicts shards and writes their files.

    Parameters
    ----------
    source : str or path
        What :func:`contacts.load_model` takes; it must resolve on the worker's machine.
    load_options : dict
        ``regression``, ``device``, ``dtype``, ``revision`` for :func:`contacts.load_model`.
    threads : int
        Torch threads (the CPUs Ray gave this worker).
    """

    def __init__(self, source, load_options: dict, threads: int):
        torch.set_num_threads(threads)
        self.source, self.regression, self.revision = source, load_options.get("regression"), load_options.get("revision")
        self.model = load_model(source, **load_options)

    def max_residues(self) -> int:
        return self.model.config.max_residues

    def settings(self, window, overlap, rr_min_separation, rr_top) -> dict:
        """:func:`contacts.runners.predict.run_settings` of this replica (its files hashed where they lie)."""
        identity = model_identity(self.source, self.regression, model=self.model, revision=self.revision)
        return run_settings(self.model, model_record=identity, window=window, overlap=overlap,
                            rr_min_separation=rr_min_separation, rr_top=rr_top)

    def run(self, units: list[list[FastaRecord]], outdir: str, stems: dict[str, str], formats,
            predict_options: dict, settings: dict | None = None) -> ShardResult:
        """Predict each unit with a record not yet done; write only those records.

        A background writer writes each record's files while the model runs on (as in
        :func:`contacts.runners.predict.predict_to_dir`); a record whose files could not be
        written is reported failed, and the others go on.
        """
        start = time.perf_counter()
        outdir = Path(outdir)
        result = ShardResult()
        self.run_settings = settings
        lengths = [len(r.sequence) for unit in units for r in unit]
        budget = writer_bytes(predict_options.get("max_tokens") or MAX_TOKENS,
                              min(max(lengths, default=1), self.model.config.max_residues))

        def write(record, probs):
            try:
                self.write(record, probs, outdir, stems[record.id], formats)
            except Exception as exc:  # noqa: BLE001 - one record's files, not the shard
                result.failed[record.id] = f"{type(exc).__name__}: {exc}"
            else:
                result.written.append(record.id)

        with BackgroundWriter(budget, threads=writer_threads(self.model.device.type, formats)) as writer:
            for unit in units:
                todo = {r.id for r in unit
                        if done_files(outdir, stems[r.id], sequence_sha256(r.sequence), formats, settings) is None}
                if not todo:
                    continue  # another run finished it meanwhile
                try:
                    for i, probs in self.model.iter_contacts([r.sequence for r in unit], **predict_options):
                        record = unit[i]
                        if record.id not in todo:
                            continue
                        todo.discard(record.id)
                        writer.submit(lambda record=record, probs=probs: write(record, probs), size=probs.nbytes)
                except Exception as exc:  # one bad unit must not stop the shard
                    result.failed.update({rid: f"{type(exc).__name__}: {exc}" for rid in sorted(todo)})
        result.seconds = time.perf_counter() - start
        return result

    def write(self, record: FastaRecord, probs, outdir: Path, stem: str, formats) -> None:
        """Write one record's files (:func:`contacts.runners.predict.write_outputs`); :meth:`run` calls it per record."""
        write_outputs(record, probs, outdir, stem, formats, method_line(self.model),
                      settings=getattr(self, "run_settings", None))


def predict_on_ray(
    model: str | os.PathLike,
    records: list[FastaRecord],
    outdir: str | os.PathLike,
    *,
    address: str | None = None,
    workers: int | None = None,
    formats: tuple[str, ...] = ("npy", "rr"),
    skip_invalid: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    rr_min_separation: int = RR_MIN_SEPARATION,
    rr_top: int | str | None = None,
    regression: str | os.PathLike | None = None,
    device: str | None = None,
    dtype: str | None = None,
    revision: str | None = None,
    cpus_per_worker: int = 1,
    shard_size: int | None = None,
    max_tokens: int = MAX_TOKENS,
    window: int | None = None,
    overlap: int | None = None,
) -> RayReport:
    """:func:`contacts.runners.predict.predict_to_dir` on a Ray cluster: same files, byte for byte.

    Parameters
    ----------
    model : str or path
        A model source as :func:`contacts.load_model` takes it, loaded once per worker:
        a path every worker sees, the release name or a Hub id (each machine's cache,
        downloaded where absent; ``revision`` pins a Hub id's commit), or
        ``"random:PRESET"`` (seeded: the same weights everywhere).
    records : list of FastaRecord
    outdir : str or path
        A folder on a filesystem that every worker shares with the driver.
    address : str, optional
        A Ray cluster to connect to (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``).
        ``None`` or ``"local"``: the cluster this process is already connected to, else
        a local one started here on the loopback interface and shut down at the end.
    workers : int, optional
        Model replicas. Default: one per GPU where the cluster has GPUs, else one per
        ``cpus_per_worker`` CPUs.
    formats, skip_invalid, progress, overwrite, rr_min_separation, rr_top
        As in :func:`contacts.runners.predict.predict_to_dir`; the run record names the
        model by the hashes of the files a worker loaded.
    regression, device, dtype, revision
        As in :func:`contacts.load_model`, applied on each worker. ``device`` defaults
        to ``"cuda"`` on GPU workers and ``"cpu"`` otherwise.
    cpus_per_worker : int
        CPUs (and torch threads) per replica.
    shard_size : int, optional
        Records per shard, at least (shards end on unit boundaries, see :func:`plan_units`).
        Default: enough for ``SHARDS_PER_WORKER`` shards per worker, at most ``MAX_SHARD_SIZE``.
    max_tokens, window, overlap
        As in :meth:`Predictor.iter_contacts`; batches are formed as on one machine.

    Returns
    -------
    RayReport
        ``missing`` lists records left without files (a worker died, a prediction
        raised); a rerun does only those.

    Raises
    ------
    DistributedError
        Without Ray, when the cluster has fewer CPUs or GPUs than ``workers`` need, or
        when the model cannot be loaded on a worker.
    """
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a source each worker loads (a path, a release name, 'random:PRESET'), "
                        f"not a {type(model).__name__}")
    if cpus_per_worker < 1:
        raise ValueError(f"cpus_per_worker must be >= 1, got {cpus_per_worker}")
    if shard_size is not None and shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    local = address in (None, "local")
    ray = import_ray(local=local)
    if rr_min_separation < 1:
        raise ValueError(f"rr_min_separation={rr_min_separation} must be at least 1")
    rr_pairs(rr_top, 1)
    check_revision(model, revision)  # as load_model refuses it, before a cluster starts
    outdir = Path(outdir)
    # Every input problem before a cluster starts; the run record once a worker has the model.
    valid, stems, checked = valid_records(records, formats, skip_invalid=skip_invalid)
    known = None if overwrite else _all_done(model, regression, valid, stems, outdir, formats, dtype=dtype,
                                             device=device, revision=revision, window=window, overlap=overlap,
                                             rr_min_separation=rr_min_separation, rr_top=rr_top)
    if known is not None:  # under the folder's lock, as any run: it says there is nothing to do
        with predict_run(outdir, known, valid, stems, formats, invalid=checked.invalid) as run:
            return RayReport(already_done=[r.id for r in valid if run.state(r.id) == DONE], invalid=checked.invalid)
    started, temp_dir = False, None
    if ray.is_initialized():
        if not local:
            raise DistributedError(f"already connected to a Ray cluster; cannot also connect to {address!r}")
    elif local:
        temp_dir = tempfile.mkdtemp(prefix="contacts-ray-")
        ray.init(address="local", num_cpus=(workers or 0) * cpus_per_worker or os.cpu_count(),
                 include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, _temp_dir=temp_dir,
                 _node_ip_address="127.0.0.1",
                 logging_level=logging.WARNING, log_to_driver=False)
        started = True
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        started = True
    actors = []
    try:
        placement = worker_placement(ray.cluster_resources(), workers, cpus_per_worker, device)
        workers = placement.workers
        load_options = {"regression": regression, "dtype": dtype, "device": placement.device, "revision": revision}
        remote = ray.remote(ShardWorker).options(num_cpus=cpus_per_worker, num_gpus=placement.gpus_per_worker)
        actors = [remote.remote(str(model), load_options, cpus_per_worker) for _ in range(workers)]
        try:
            limit = ray.get(actors[0].max_residues.remote())
            window, overlap = resolve_window(limit, window, overlap)
            settings = ray.get(actors[0].settings.remote(window, overlap, rr_min_separation, rr_top))
        except ray.exceptions.RayError as exc:
            raise DistributedError(f"a Ray worker could not load the model {str(model)!r}: {exc}") from exc
        with predict_run(outdir, settings, valid, stems, formats, overwrite=overwrite,
                         invalid=checked.invalid) as run:
            pending = set(run.pending())
            report = RayReport(already_done=[r.id for r in valid if r.id not in pending], invalid=checked.invalid)
            if not pending:
                return report
            lengths = [len(ALPHABET.tokenize(r.sequence)) for r in valid]
            units = [[valid[i] for i in unit]
                     for unit in plan_units(lengths, max_tokens=max_tokens, window=window, overlap=overlap)]
            if shard_size is None:
                shard_size = max(1, min(MAX_SHARD_SIZE, -(-len(pending) // (SHARDS_PER_WORKER * workers))))
            shards = _shards([u for u in units if any(r.id in pending for r in u)], shard_size)
            report.workers, report.shards = workers, len(shards)
            predict_options = {"max_tokens": max_tokens, "window": window, "overlap": overlap}
            try:
                with progress_bar(total=len(pending), unit="seq", desc="contacts (ray)", enable=progress) as bar:
                    _dispatch(ray, actors, shards, pending, report, bar, stems, run,
                              (str(outdir), tuple(formats), predict_options, settings))
            except KeyboardInterrupt:
                raise RunInterrupted(run.count(DONE), len(valid)) from None
            # Files written by a worker that died before reporting: proven by their ID.json, hence written.
            by_id = {r.id: r for r in valid}
            for rid in list(report.missing):
                files = done_files(outdir, stems[rid], sequence_sha256(by_id[rid].sequence), formats, settings)
                if files is not None:
                    del report.missing[rid]
                    report.written.append(rid)
                    run.mark_done({rid: files})
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return report


@dataclass(frozen=True)
class Placement:
    """How many model replicas run, where, and what each holds."""

    workers: int
    gpus_per_worker: int
    device: str


def worker_placement(resources: dict, workers: int | None, cpus_per_worker: int, device: str | None) -> Placement:
    """One replica per GPU, each holding its GPU, where the cluster has GPUs (and ``device`` allows).

    Parameters
    ----------
    resources : dict
        ``ray.cluster_resources()``: ``{"CPU": n, "GPU": m, ...}``.
    workers : int, optional
        Replicas asked for; default one per GPU, else one per ``cpus_per_worker`` CPUs.
    device : str, optional
        ``None`` or ``"cuda"`` use the GPUs when there are any; ``"cpu"`` never does.

    Raises
    ------
    DistributedError
        When the cluster has fewer CPUs or GPUs than the replicas need.
    """
    use_gpu = resources.get("GPU", 0) >= 1 and device in (None, "cuda")
    if workers is None:
        workers = int(resources["GPU"]) if use_gpu else max(1, int(resources.get("CPU", 0) // cpus_per_worker))
    _check_resources(resources, workers, cpus_per_worker, use_gpu)
    return Placement(workers, 1 if use_gpu else 0, device or ("cuda" if use_gpu else "cpu"))


def _all_done(model, regression, valid: list[FastaRecord], stems: dict[str, str], outdir: Path, formats,
              **options) -> dict | None:
    """The folder's settings where it already holds every record, made as this run would make it, else None.

    Found without starting Ray: the driver hashes the model's files where it sees them
    (``random:PRESET`` it builds) and compares them and the options given with the
    folder's run record; anything it cannot tell (files only the workers see, a record
    not done) means: start the cluster.
    """
    try:
        old = read_run_record(Path(outdir) / RUN_RECORD)
    except ValueError:
        return None
    if old is None or old.get("command", "predict") != "predict":
        return None
    saved = old.get("options") or {}
    dtype = options["dtype"] or "float32"
    if dtype == "auto":  # resolved on each worker's device: float32 on a CPU; elsewhere only a worker can tell
        if options["device"] is None or str(options["device"]).split(":")[0] != "cpu":
            return None
        dtype = "float32"
    given = {"dtype": dtype, "window": options["window"], "overlap": options["overlap"],
             "rr_min_separation": options["rr_min_separation"],
             "rr_top": None if options["rr_top"] is None else str(options["rr_top"]),
             "device_type": None if options["device"] is None else str(options["device"]).split(":")[0]}
    if any(value is not None and saved.get(key) != value for key, value in given.items()):
        return None
    try:
        identity = model_identity(model, regression, revision=options["revision"])
    except (OSError, ValueError, IndexError):
        return None
    settings = {"model": identity, "options": saved}
    if differences(old, settings):
        return None
    if all(done_files(Path(outdir), stems[r.id], sequence_sha256(r.sequence), formats, settings) is not None
           for r in valid):
        return settings
    return None


def _check_resources(resources: dict, workers: int, cpus_per_worker: int, use_gpu: bool) -> None:
    cpus = resources.get("CPU", 0)
    if workers * cpus_per_worker > cpus:
        raise DistributedError(f"{workers} worker(s) x {cpus_per_worker} CPU(s) need {workers * cpus_per_worker} "
                               f"CPUs; the Ray cluster has {cpus:g}")
    if use_gpu and workers > resources.get("GPU", 0):
        raise DistributedError(f"{workers} worker(s) need one GPU each; the Ray cluster has {resources['GPU']:g}")


def _dispatch(ray, actors, shards, pending: set[str], report: RayReport, bar, stems, run, run_args) -> None:
    """Keep every live actor busy with one shard; a dead actor's shard becomes ``missing``.

    The driver owns the run record: each shard's records are marked done (or failed, with
    the reason) on ``run`` as the shard reports.
    """
    queue = deque(shards)
    running = {}
    formats = run_args[1]

    def submit(actor):
        if queue:
            shard = queue.popleft()
            outdir, formats, options, settings = run_args
            names = {r.id: stems[r.id] for unit in shard for r in unit}
            running[actor.run.remote(shard, outdir, names, formats, options, settings)] = (actor, shard)

    def missing(why: dict[str, str]) -> None:
        report.missing.update(why)
        for rid, reason in why.items():
            run.mark_failed(rid, reason)

    for actor in actors:
        submit(actor)
    while running:
        (ref,), _ = ray.wait(list(running), num_returns=1)
        actor, shard = running.pop(ref)
        ids = [r.id for unit in shard for r in unit if r.id in pending]
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            why = f"worker died: {str(exc).strip().splitlines()[0]}"
            log.warning("a Ray worker died; %d record(s) of its shard are left for a rerun", len(ids))
            missing(dict.fromkeys(ids, why))
        except ray.exceptions.RayError as exc:
            missing(dict.fromkeys(ids, f"{type(exc).__name__}: {exc}"))
            submit(actor)
        else:
            # Records finished by an earlier or concurrent run count as already done.
            report.written += result.written
            run.mark_done({rid: record_files(stems[rid], formats) for rid in result.written})
            missing(result.failed)
            others = [i for i in ids if i not in result.failed and i not in result.written]
            report.already_done += others
            run.mark_done({rid: record_files(stems[rid], formats) for rid in others})
            submit(actor)
        bar.update(len(ids))
    for shard in queue:  # every worker died
        missing({r.id: "not run: every worker died" for unit in shard for r in unit if r.id in pending})
