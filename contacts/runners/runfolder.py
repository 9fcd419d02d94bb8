"""One run-folder contract for every command that writes files: run record, lock, resume, ``--overwrite``.

``predict``, ``evaluate``, ``train-probe``, ``analyze-heads``, ``finetune``,
``score-variants`` and ``fill-mask --output`` all write through :class:`RunFolder`.
What a user can count on, whichever command wrote a folder:

Where the record lives
    A *folder command* (``predict``, ``analyze-heads``, ``finetune``) owns its output
    folder; its run record is ``OUTDIR/contacts-run.json`` (:data:`RUN_RECORD`). A *file
    command* (``evaluate``, ``train-probe``, ``score-variants``, ``fill-mask``) writes
    named files into a folder it may share; its record sits beside them as
    ``NAME.run.json`` (``PREFIX.run.json``, ``probe.pt.run.json``, ``scored.csv.run.json``).

The run record (``contacts-run/2``)
    ``format``; ``command``; ``contacts_version``, ``torch_version``; ``created`` (UTC,
    kept by every rerun that resumes) and ``updated``; ``state`` of the run (``running``,
    ``done``, ``incomplete`` where items failed or were left, ``interrupted`` by Ctrl-C,
    ``failed`` with ``reason``, written only where a rerun has work to resume: a run that fails
    before any item is done, with no earlier record, leaves no record, no file of an item
    begun and no folder it made); ``model`` (source and content hashes) and ``options`` (what
    changes numbers), compared by every rerun; ``items``, one entry per item: ``id``,
    ``state`` (``done``, ``failed`` with ``reason``, ``pending``), ``files`` (the names it
    wrote, relative to the folder) and what identifies its input (``predict``: the
    sequence hash); ``files``, what the run wrote besides its items' own (``evaluate``'s
    table); and what a command adds (``predict``: ``formats``, ``invalid``).

Items
    What a command writes as a unit and a rerun skips once done: ``predict``'s FASTA
    records, ``evaluate``'s proteins, ``finetune``'s checkpoints; ``train-probe``,
    ``analyze-heads``, ``score-variants`` and ``fill-mask`` have one item, their output.

Rerun
    With the same model hashes and options, a rerun does only the items not done and
    says so before any work (``resuming: 37 of 300 records done``). An item whose input
    changed (another sequence under the same id) is done again; the files the record
    lists for an item that is not done are removed at the start, so no stale file
    survives beside new ones (an old ``ID.png`` beside a new ``ID.npy``).

Refusals, before any work (:class:`RunFolderError`, all ``ValueError``)
    Other settings: :class:`~contacts.runners.runfolder.ProvenanceMismatch` naming each
    difference in the record's words (``dtype: 'float32' -> 'bfloat16'``); ``--overwrite``
    runs anyway. Another command's folder (a ``contacts-run.json`` of ``analyze-heads``
    where ``predict`` is asked): :class:`ForeignRunError`, whatever ``--overwrite`` says,
    since ``--overwrite`` only ever removes this command's files. Files this run would
    write that another run's record lists, or that lie there with no record naming them:
    refused, the latter unless ``--overwrite``.

``--overwrite``
    Removes every file the previous run of this command listed in its record (nothing
    else), then runs afresh (a new ``created``).

The lock
    ``.contacts-run.lock`` in the folder (:data:`LOCK`), held with ``flock`` from
    :meth:`RunFolder.open` to :meth:`RunFolder.close`, names the holder (PID, host,
    command, start). A second run into the folder is refused (:class:`FolderBusy`, naming
    the PID). The kernel drops the lock of a process that dies, even by ``kill -9``; the
    next run takes the lock file over with a note naming the run that is gone. Leftover
    temporary files (``.NAME.XXXXXXXX.part``, :func:`contacts.io.files.remove_partials`)
    are removed only while holding the lock: at the start, and at the end (a Ctrl-C
    between a temporary file's creation and the guard that removes it can strand one).

Batched updates, for a writer thread
    :meth:`RunFolder.mark_done` (``{item: files}``, any number at once),
    :meth:`RunFolder.mark_failed` and :meth:`RunFolder.flush` are cheap and safe to call
    from one writer thread while the main thread asks :meth:`RunFolder.state`. The record
    is written every :data:`FLUSH_EVERY` items or :data:`FLUSH_SECONDS` seconds,
    whichever comes first, and when the run ends (done, failed or interrupted). Between
    two writes it may lag: commands whose items prove their own completion (``predict``
    writes each record's ``ID.json`` last, atomically) pass ``done=`` to
    :meth:`RunFolder.start`, which reconciles a lagging record at the next start, so a
    finished item is never lost, even to ``kill -9``.

Notes (resuming, a lock taken over, files removed by ``--overwrite``) go to this module's
logger at INFO; the command line prints them as ``contacts COMMAND: ...``.

>>> with RunFolder(outdir, "predict", settings, outputs=names) as run:     # doctest: +SKIP
...     run.start(items, done=proof, unit="record")     # "resuming: 37 of 300 records done"
...     for item in run.pending():
...         run.mark_done({item: write(item)})
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import torch

from ..io.files import atomic_write, remove_partials
from ..io.text import FileFormatError, read_json
from .provenance import package_version

log = logging.getLogger(__name__)

FORMAT = "contacts-run/2"
#: The run record of a folder command's output folder.
RUN_RECORD = "contacts-run.json"
#: The lock file of a folder while a run writes into it.
LOCK = ".contacts-run.lock"
#: A file command's record: its output's name plus this.
RECORD_SUFFIX = ".run.json"
DONE, FAILED, PENDING = "done", "failed", "pending"
#: The record is written after this many items are marked, or ...
FLUSH_EVERY = 256
#: ... after this many seconds, whichever comes first (and always when the run ends).
FLUSH_SECONDS = 5.0


class RunFolderError(ValueError):
    """A run cannot go into this folder as asked (a user error: one line, exit 1)."""


class ProvenanceMismatch(RunFolderError):
    """An output was made with another model or other options than this run's (or by no known run)."""


class FolderBusy(RunFolderError):
    """Another live run holds the folder's lock."""


class ForeignRunError(RunFolderError):
    """The folder (or a file this run would write) belongs to another command's run."""


def write_run_record(path: str | os.PathLike, record: Mapping, items: Sequence[str] | None = None) -> Path:
    """Write a run record as indented JSON, atomically.

    ``items``: the texts of its ``items`` list (:func:`item_text`, in order), already made
    (a run keeps those of items that did not change); they go last, the bytes being those
    of ``record`` with that list dumped whole.
    """
    path = Path(path)
    text = json.dumps(record, indent=1, sort_keys=False, default=str)
    if items is not None:  # the record's last field, as json.dumps(indent=1) would write it
        listed = "[\n  " + ",\n  ".join(items) + "\n ]" if items else "[]"
        text = text[:-2] + ',\n "items": ' + listed + "\n}"
    with atomic_write(path, "w") as fh:
        fh.write(text + "\n")
    return path


def item_text(entry: Mapping) -> str:
    """An item's entry as :func:`write_run_record` writes it inside the record's ``items`` list."""
    return json.dumps(entry, indent=1, sort_keys=False, default=str).replace("\n", "\n  ")


class RunRecordError(ProvenanceMismatch, FileFormatError):
    """A run record that cannot be read, or whose fields are not what the contract writes."""


#: Top-level fields of a record and the JSON type each must have where present.
_RECORD_FIELDS = {"format": str, "command": str, "created": str, "updated": str, "state": str, "reason": str,
                  "model": (dict, type(None)), "options": dict, "files": list, "items": list, "records": list,
                  "formats": list}


def read_run_record(path: str | os.PathLike) -> dict | None:
    """The run record at ``path``, or None where there is none.

    Raises
    ------
    RunRecordError
        Not UTF-8 JSON, not a JSON object, or a field of the wrong kind (``items`` not a
        list of objects with an ``id`` and a known ``state``, a file name that is not a
        string ...), naming the field; each message ends in ``--overwrite replaces it``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = read_json(path, dict, "a run record", error=RunRecordError)
    except RunRecordError as exc:
        raise RunRecordError(f"{exc}; --overwrite replaces it", path=path) from None
    problem = _record_problem(record)
    if problem:
        raise RunRecordError(f"{path} is not a run record this package writes: {problem}; --overwrite replaces it",
                             path=path)
    return record


def _record_problem(record: dict) -> str | None:
    """What makes a record unreadable to the contract, in words; None where nothing does."""
    for key, kind in _RECORD_FIELDS.items():
        if key in record and not isinstance(record[key], kind):
            return f"its field {key!r} is {type(record[key]).__name__}"
    if not all(isinstance(f, str) for f in record.get("files", [])):
        return "its field 'files' holds something that is not a file name"
    for number, entry in enumerate(record.get("items", []), 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            return f"item {number} is not an object with an 'id'"
        if entry.get("state", PENDING) not in (DONE, FAILED, PENDING):
            return f"item {entry['id']!r} has the state {entry.get('state')!r} (done, failed or pending)"
        files = entry.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            return f"item {entry['id']!r}: its 'files' is not a list of file names"
    return None


def differences(old: Mapping, new: Mapping) -> list[str]:
    """What differs between two run records in what changes numbers, in plain words: model hashes, then options.

    >>> differences({"options": {"dtype": "float32"}}, {"options": {"dtype": "bfloat16"}})
    ["dtype: 'float32' -> 'bfloat16'"]
    """
    found = []
    old_model, new_model = old.get("model") or {}, new.get("model") or {}
    old_model, new_model = (m if isinstance(m, Mapping) else {} for m in (old_model, new_model))
    for key in ("weights_sha256", "regression_sha256"):
        if old_model.get(key) != new_model.get(key):
            what = key.removesuffix("_sha256")
            found.append(f"{what}: {old_model.get('source')!r} ({_short(old_model.get(key))}) "
                         f"-> {new_model.get('source')!r} ({_short(new_model.get(key))})")
    old_opts, new_opts = (o if isinstance(o, Mapping) else {} for o in (old.get("options") or {}, new.get("options") or {}))
    for key in sorted(old_opts.keys() | new_opts.keys()):
        if old_opts.get(key) != new_opts.get(key):
            found.append(f"{key}: {old_opts.get(key)!r} -> {new_opts.get(key)!r}")
    return found


def _short(digest: str | None) -> str:
    return "none" if digest is None else f"sha256 {digest[:12]}"


def record_name(output: str | os.PathLike) -> str:
    """A file command's record name: ``probe.pt`` -> ``probe.pt.run.json``."""
    return Path(output).name + RECORD_SUFFIX


def now() -> str:
    """UTC time, ISO 8601, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class FolderLock:
    """An exclusive ``flock`` on ``path``, naming its holder in the file; refused while a live process holds it.

    The kernel releases the lock of a process that dies, so a lock file left behind by
    ``kill -9`` is taken over (with a note naming that run) rather than blocking.
    """

    def __init__(self, path: str | os.PathLike, command: str):
        self.path, self.command, self.fd = Path(path), command, None

    def acquire(self) -> None:
        for _ in range(100):  # the lock file may be replaced between open and flock: retry
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise FolderBusy(f"{self.path.parent} is in use by another run ({_describe(holder)}); wait for it "
                                 "to end, or choose another output folder") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:
            raise RunFolderError(f"could not take the lock {self.path}: it keeps being replaced")
        previous = _holder(fd)
        if previous:
            log.info("took over the lock of a run that is gone (%s)", _describe(previous))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "started": now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        # unlink while holding the lock: a waiting run then finds no file or a fresh one (inode check above)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = None


def _holder(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {"pid": "unknown"}


def _describe(holder: dict) -> str:
    if not holder:
        return "PID unknown: it is starting"
    host = holder.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    command = f"contacts {holder['command']}, " if holder.get("command") else ""
    since = f", started {holder['started']}" if holder.get("started") else ""
    return f"{command}PID {holder.get('pid', 'unknown')}{where}{since}"


class RunFolder:
    """A command's run in a folder: its record, its lock, what is done (see the module docstring).

    Parameters
    ----------
    folder : path
        Where the outputs go (created if absent).
    command : str
        The command's name (``predict``, ``evaluate``, ...).
    settings : mapping
        ``{"model": ..., "options": ...}``: the model's identity and the options that
        change numbers; a rerun must match them (else
        :class:`~contacts.runners.runfolder.ProvenanceMismatch`, unless ``overwrite``).
    record : str
        The record's file name: :data:`RUN_RECORD` for a folder command,
        :func:`record_name` of the output for a file command.
    overwrite : bool
        Remove every file the previous run of this command listed, and run afresh.
    outputs : iterable of str
        Names this run may write: refused where another run's record lists them, or
        where they exist without a record of this command (unless ``overwrite``).
    extra : mapping, optional
        Top-level fields the record carries besides the contract's (``formats``, ...).
    flush_every, flush_seconds
        The record is written after this many items are marked or this many seconds.
    """

    def __init__(self, folder: str | os.PathLike, command: str, settings: Mapping, *, record: str = RUN_RECORD,
                 overwrite: bool = False, outputs: Iterable[str] = (), extra: Mapping | None = None,
                 flush_every: int = FLUSH_EVERY, flush_seconds: float = FLUSH_SECONDS):
        self.folder, self.command, self.record = Path(folder), command, record
        # as the record will read back (tuples as lists, paths as text), so that a rerun compares like with like
        self.settings = json.loads(json.dumps({"model": settings.get("model"), "options": settings.get("options") or {}},
                                              default=str))
        self.overwrite, self.outputs, self.extra = overwrite, set(outputs), dict(extra or {})
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self.created = now()
        self._old: dict | None = None
        self._items: dict[str, dict] = {}
        # Each item's text in the record, kept until the item changes: a flush of a run of
        # 100,000 items encodes the few that changed, not all of them again.
        self._texts: dict[str, str] = {}
        self._asked: list[str] = []
        self._lock = threading.Lock()  # the items, between a writer thread and the main thread
        self._writing = threading.Lock()  # one record write at a time
        self._unflushed, self._last_flush = 0, time.monotonic()
        self._folder_lock: FolderLock | None = None
        self._started = False
        self._state, self._reason = "running", None
        self._files: list[str] = []
        self._made_folder = False

    @property
    def path(self) -> Path:
        """The run record's path."""
        return self.folder / self.record

    # ------------------------------------------------------------------ open and close

    def __enter__(self) -> RunFolder:
        self.open()
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(value)

    def open(self) -> RunFolder:
        """Take the lock, clear leftovers, read and check the previous record (see the module docstring)."""
        self._made_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._folder_lock = FolderLock(self.folder / LOCK, self.command)
        self._folder_lock.acquire()
        try:
            remove_partials(self.folder)
            self._check()
        except BaseException:
            self._folder_lock.release()
            raise
        return self

    def _check(self) -> None:
        try:
            old = read_run_record(self.path)
        except ProvenanceMismatch:
            if not self.overwrite:
                raise
            old = None
        if old is not None and old.get("command", self.command) != self.command:
            raise ForeignRunError(
                f"{self._where()} holds the run of 'contacts {old['command']}' ({self.record}); 'contacts {self.command}' "
                "keeps its files apart: choose another output" + (" folder" if self.record == RUN_RECORD else " name"))
        self._check_other_records()
        if old is not None and not self.overwrite:
            changed = differences(old, self.settings)
            if changed:
                raise ProvenanceMismatch(f"{self._where()} was made with other settings ({'; '.join(changed)}); "
                                         "--overwrite replaces its files, or choose another output")
        if old is None and not self.overwrite:
            there = sorted(name for name in self.outputs if (self.folder / name).exists())
            if there:
                more = f" and {len(there) - 1} more" if len(there) > 1 else ""
                raise ProvenanceMismatch(
                    f"{self.folder / there[0]}{more} already exist(s) and no run record ({self.record}) says what made "
                    "them; --overwrite replaces them, or choose another output")
        if old is not None and self.overwrite:
            removed = self._remove([*old.get("files", []), *(name for entry in _items(old) for name in entry.get("files", []))])
            if removed:
                log.info("--overwrite: removed %d file(s) of the previous %s run", len(removed), self.command)
            old = None
        self._old = old
        if old is not None and old.get("created"):
            self.created = old["created"]
        if old is not None:  # a rerun rewrites them; until then they are this command's, for --overwrite
            self._files = [f for f in old.get("files", []) if isinstance(f, str)]

    def _check_other_records(self) -> None:
        """Refuse to write a file another run's record in this folder lists."""
        if not self.outputs:
            return
        others = [p for p in self.folder.iterdir() if p.name != self.record
                  and (p.name == RUN_RECORD or p.name.endswith(RECORD_SUFFIX)) and p.is_file()]
        for path in sorted(others):
            try:
                other = read_run_record(path) or {}
            except (ProvenanceMismatch, OSError):
                continue
            theirs = {*other.get("files", []), *(name for entry in _items(other) for name in entry.get("files", []))}
            clash = sorted(self.outputs & theirs)
            if clash:
                raise ForeignRunError(f"{self.folder / clash[0]} belongs to the run of 'contacts {other.get('command')}' "
                                      f"recorded in {path.name}; choose another output")

    def close(self, error: BaseException | None = None) -> None:
        """Write the final record (its state from ``error``), clear leftovers, release the lock."""
        if self._folder_lock is None:
            return
        try:
            if self._started:
                if error is None:
                    left = [i for i in self._asked if self._items[i]["state"] != DONE]
                    self.flush("incomplete" if left else DONE)
                elif isinstance(error, KeyboardInterrupt):
                    self.flush("interrupted")
                elif self._resumable():
                    first = (str(error).strip().splitlines() or [""])[0]
                    self.flush("failed", reason=f"{type(error).__name__}: {first}")
                else:  # a refusal before anything was done: no record, no file of an item begun, as if never run
                    self._discard()
            remove_partials(self.folder)
        finally:
            self._folder_lock.release()
            self._folder_lock = None
        if error is not None and self._made_folder and not self.path.exists():
            with contextlib.suppress(OSError):  # only where empty: a folder this run made and left nothing in
                self.folder.rmdir()

    def _resumable(self) -> bool:
        """Whether the record is worth keeping after a failure: a previous run's, or an item done, or a file listed."""
        with self._lock:
            return self._old is not None or bool(self._files) or any(
                e.get("state") == DONE for e in self._items.values())

    def _discard(self) -> None:
        """Remove the record and every file an item of this run listed (none is done: see :meth:`_resumable`)."""
        with self._lock:
            names = [f for e in self._items.values() for f in e.get("files", [])]
        for name in [*names, self.record]:
            (self.folder / name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ items

    def start(self, items: Sequence[Mapping], *, done: Callable[[Mapping], Sequence[str] | None] | None = None,
              unit: str = "item", resumable: bool = True) -> None:
        """Say which items are done already, remove the files of those that are not, write the record.

        Parameters
        ----------
        items : sequence of mapping
            Each with ``id`` and what identifies its input (compared with the previous
            record's entry: a change means not done).
        done : callable, optional
            ``done(item)`` -> the files that prove it done, or None. Given, it decides
            (and reconciles a record that lagged behind); otherwise an item is done when
            the previous record says so, for the same input, and its files exist.
        unit : str
            How the note names the items (``record``, ``protein``, ``checkpoint``).
        resumable : bool
            False where the work cannot start midway (``finetune``: a checkpoint holds no
            optimizer state): unless every item is done, none is, and the run starts over.
        """
        previous = {e["id"]: e for e in _items(self._old or {})}
        entries = dict(previous)  # items no longer asked for keep their entries (and files, for --overwrite)
        stale = []
        for item in items:
            meta = dict(item)
            iid = meta["id"]
            before = previous.get(iid)
            if done is not None:
                files = done(meta)
            elif (before is not None and before.get("state") == DONE and _same_input(before, meta)
                  and all((self.folder / f).exists() for f in before.get("files", []))):
                files = before["files"]
            else:
                files = None
            if files is None:
                stale += before.get("files", []) if before else []
                entries[iid] = {**meta, "state": PENDING, "files": []}
            else:
                entries[iid] = {**(before or {}), **meta, "state": DONE, "files": list(files)}
                entries[iid].pop("reason", None)
        asked = [dict(i)["id"] for i in items]
        finished = sum(entries[i]["state"] == DONE for i in asked)
        if not resumable and 0 < finished < len(asked):
            log.info("starting over: %d of %d %ss were done, but 'contacts %s' cannot resume midway",
                     finished, len(asked), unit, self.command)
            for i in asked:
                stale += entries[i]["files"]
                entries[i] = {**entries[i], "state": PENDING, "files": []}
        with self._lock:
            self._items, self._asked, self._texts = entries, asked, {}
            self._started = True
        self._remove(stale)
        finished, total = self.count(DONE), len(self._asked)
        units = unit + ("s" if total != 1 else "")
        if total == 1 and finished == 1:
            log.info("nothing to do: the %s is done with these settings (--overwrite does it again)", unit)
        elif total and finished == total:
            log.info("nothing to do: all %d %s are done with these settings (--overwrite does them again)", total, units)
        elif finished:
            log.info("resuming: %d of %d %s done", finished, total, units)
        self.flush("running")

    def state(self, item: str) -> str:
        with self._lock:
            return self._items[item]["state"]

    def entry(self, item: str) -> dict:
        """A copy of an item's entry (its state, files, input and result)."""
        with self._lock:
            return dict(self._items[item])

    def pending(self) -> list[str]:
        """The items asked for at :meth:`start` that are not done, in their order."""
        with self._lock:
            return [i for i in self._asked if self._items[i]["state"] != DONE]

    def count(self, state: str = DONE) -> int:
        """Items asked for at :meth:`start` in this state."""
        with self._lock:
            return sum(self._items[i]["state"] == state for i in self._asked)

    def mark_done(self, files: Mapping[str, Sequence[str]], results: Mapping[str, object] | None = None) -> None:
        """Items written: ``{item: [file names]}``; optional ``results`` kept in their entries.

        Cheap (the record is written when :data:`FLUSH_EVERY` items or
        :data:`FLUSH_SECONDS` seconds have passed) and safe from a writer thread.
        """
        with self._lock:
            for item, names in files.items():
                entry = self._changing(item)
                entry.update(state=DONE, files=[str(n) for n in names])
                entry.pop("reason", None)
                if results is not None and item in results:
                    entry["result"] = results[item]
            self._unflushed += len(files)
            due = self._unflushed >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_seconds
        if due:
            self.flush()

    def add_files(self, names: Iterable[str], item: str | None = None) -> None:
        """Files written: an item's before it is done (removed if it never is), or with no item, the run's own
        besides its items' (``evaluate``'s table), listed in the record's ``files``."""
        with self._lock:
            if item is None:
                self._files = [*dict.fromkeys([*self._files, *map(str, names)])]
            else:
                entry = self._changing(item, PENDING)
                entry["files"] = [*dict.fromkeys([*entry.get("files", []), *map(str, names)])]
            self._unflushed += 1

    def mark_failed(self, item: str, reason: str) -> None:
        """An item that could not be done, and why (a rerun tries it again)."""
        with self._lock:
            entry = self._changing(item)
            entry.update(state=FAILED, reason=str(reason), files=entry.get("files", []))
            self._unflushed += 1

    def flush(self, state: str | None = None, *, reason: str | None = None) -> None:
        """Write the record now (atomically); ``state`` of the run, default as last written."""
        with self._writing:
            with self._lock:
                if state is not None:
                    self._state, self._reason = state, reason
                record = self._record()
                items = [self._text(i, e) for i, e in self._items.items()]
                self._unflushed, self._last_flush = 0, time.monotonic()
            write_run_record(self.path, record, items)

    def _changing(self, item: str, state: str | None = None) -> dict:
        """``item``'s entry (made, with ``state`` if given, where it has none), its JSON text forgotten; under the lock."""
        self._texts.pop(item, None)
        return self._items.setdefault(item, {"id": item} if state is None else {"id": item, "state": state})

    def _text(self, item: str, entry: dict) -> str:
        """``entry``'s JSON text as the record holds it, kept until the entry changes; under the lock."""
        text = self._texts.get(item)
        if text is None:
            text = self._texts[item] = item_text(entry)
        return text

    def provenance(self) -> dict:
        """What made this run's outputs, for files that carry it inside (a probe's metadata, an evaluation's JSON):
        the record's ``format``, ``command``, versions, ``created``, ``model`` and ``options``."""
        return {"format": FORMAT, "command": self.command, "contacts_version": package_version(),
                "torch_version": str(torch.__version__), "created": self.created, "model": self.settings["model"],
                "options": self.settings["options"]}

    def _record(self) -> dict:
        made = self.provenance()
        record = {k: made[k] for k in ("format", "command", "contacts_version", "torch_version", "created")}
        record.update(updated=now(), state=self._state)
        if self._reason:
            record["reason"] = self._reason
        record.update(model=made["model"], options=made["options"], **self.extra)
        record["files"] = list(self._files)
        return record  # its items: the texts flush() keeps

    # ------------------------------------------------------------------ helpers

    def _where(self) -> str:
        return str(self.folder) if self.record == RUN_RECORD else str(self.folder / self.record[:-len(RECORD_SUFFIX)])

    def _remove(self, names: Iterable[str]) -> list[str]:
        """Remove these files of the folder (names from a record: plain names, never outside the folder)."""
        removed = []
        for name in dict.fromkeys(names):
            path = self.folder / name
            if Path(name).name != name or not path.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(name)
        return removed


def _items(record: Mapping) -> list[dict]:
    """A record's item entries; a ``contacts-run/1`` record (predict's ``records``) read as items of unknown state."""
    if "items" in record:
        return [e for e in record["items"] if isinstance(e, dict) and "id" in e]
    formats = record.get("formats") or []
    return [{**e, "state": PENDING, "files": [f"{e['file']}.{f}" for f in formats] + [f"{e['file']}.json"]}
            for e in record.get("records", []) if isinstance(e, dict) and "id" in e and "file" in e]


def _same_input(before: Mapping, item: Mapping) -> bool:
    return all(before.get(key) == value for key, value in item.items())


__all__ = ["DONE", "FAILED", "FLUSH_EVERY", "FLUSH_SECONDS", "FORMAT", "LOCK", "PENDING", "RECORD_SUFFIX",
           "RUN_RECORD", "FolderBusy", "FolderLock", "ForeignRunError", "ProvenanceMismatch", "RunFolder", "RunRecordError",
           "RunFolderError", "differences", "now", "read_run_record", "record_name", "write_run_record"]
