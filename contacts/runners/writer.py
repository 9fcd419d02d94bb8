"""Host work beside device work: one background thread writes finished results, a bounded queue feeds it.

``contacts predict`` (and each Ray worker) hands every finished contact map to a
:class:`BackgroundWriter` and goes on with the next batch: formatting the RR file, saving
the ``.npy``, drawing the ``.png`` and writing the record's ``ID.json`` run in the writer's
thread while the model runs (numpy, file writes and torch release the GIL for their work).

What it guarantees:

Bounded memory
    The tasks queued and running hold at most ``max_bytes`` of results (each task says
    its size); :meth:`~BackgroundWriter.submit` blocks while they would hold more, so the
    device runs at most that far ahead of the disk. One task larger than the budget still
    goes through, alone.
In order
    Tasks start in the order they were submitted; with one thread (the default) they also
    end in that order. With ``threads`` > 1 (a GPU host with cores to spare: numpy and file
    writes release the GIL) several run at once, so tasks must not depend on each other;
    each of ``predict``'s tasks writes one record's files, ``ID.json`` last.
Errors surface where the work was asked for
    A task that raises stops the writer: the tasks behind it are dropped, and the same
    exception is raised in the submitting thread, by the next
    :meth:`~BackgroundWriter.submit` or by :meth:`~BackgroundWriter.close`.
Ctrl-C stops both, nothing half-written
    Leaving the ``with`` block by ``KeyboardInterrupt`` (raised in it, or while it waits
    for the last tasks at its end) drops the queued tasks and waits for the running one to
    finish, so the records on disk are whole (each file is written atomically besides);
    then the interrupt goes on. Leaving it by another exception (the model failed on a
    later batch) lets the queued tasks finish first: what was computed is kept. A
    ``kill -9`` can stop a task in the middle of a file: that file is a temporary
    ``.part`` that the next run removes, and a record is done only once its last file
    is written.

>>> with BackgroundWriter(max_bytes=64 * 2**20) as writer:          # doctest: +SKIP
...     for i, probs in model.iter_contacts(sequences):
...         writer.submit(lambda i=i, probs=probs: save(i, probs), size=probs.nbytes)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

#: Queued results a writer holds by default, in bytes.
DEFAULT_MAX_BYTES = 256 * 2**20


class BackgroundWriter:
    """Threads that run submitted tasks in order, behind a queue bounded in bytes.

    Parameters
    ----------
    max_bytes : int
        The most bytes of results (the ``size`` of each task) held by tasks queued or
        running; :meth:`submit` blocks beyond it (one task alone may hold more).
    threads : int
        Tasks run at once (default 1).
    name : str
        The threads' name (``-2``, ``-3`` ... after the first).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, *, threads: int = 1, name: str = "contacts-writer"):
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.max_bytes = max_bytes
        self._queue: deque[tuple[Callable[[], object], int]] = deque()
        self._held = 0  # bytes of the tasks queued and running
        self._closing = False
        self._error: BaseException | None = None  # raised once, in the submitting thread
        self._failed = False
        self._changed = threading.Condition()
        self._running = threads  # threads not yet out of their loop: what close() and abort() wait for
        # Daemons: a process that must end (a second Ctrl-C) never waits for them.
        self._threads = [threading.Thread(target=self._work, name=name if k == 0 else f"{name}-{k + 1}", daemon=True)
                         for k in range(threads)]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.abort()
        else:  # the work that fed the writer failed: what it finished is still written
            try:
                self.close()
            except Exception:  # noqa: BLE001 - the error that ended the block is the one to report
                pass

    @property
    def held_bytes(self) -> int:
        """Bytes of results held by the tasks queued and running."""
        return self._held

    def submit(self, task: Callable[[], object], *, size: int = 0) -> None:
        """Queue ``task`` (called with no arguments, in the writer's thread); block while the queue is full.

        Raises
        ------
        BaseException
            What an earlier task raised: the writer has stopped, and later tasks are refused.
        RuntimeError
            After :meth:`close` or :meth:`abort`, or once the error above was raised.
        """
        with self._changed:
            while not self._closing and self._held and self._held + size > self.max_bytes:
                self._changed.wait()
            self._raise_error()
            if self._closing:
                raise RuntimeError("the writer has stopped")
            self._queue.append((task, size))
            self._held += size
            self._changed.notify_all()

    @property
    def alive(self) -> bool:
        """Whether any of the threads still runs its loop."""
        with self._changed:
            return self._running > 0

    def close(self) -> None:
        """Wait until every task has run and end the threads; raise what a task raised, if not raised yet.

        Ctrl-C while waiting is Ctrl-C inside the ``with`` block: the queued tasks are dropped, the running
        ones finish (:meth:`abort`), and the interrupt goes on.
        """
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        try:
            self._wait()
        except KeyboardInterrupt:
            self.abort()
            raise
        with self._changed:
            self._raise_error()

    def abort(self) -> None:
        """Drop the queued tasks, wait for the running ones to finish, end the threads (raises nothing)."""
        with self._changed:
            self._closing = True
            self._drop()
        self._wait()

    def _wait(self) -> None:
        """Until every thread is out of its loop. Not Thread.join: a join that Ctrl-C interrupts leaves the
        thread marked stopped while it still runs its task (CPython 3.11), and a second join returns at once."""
        with self._changed:
            while self._running:
                self._changed.wait()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _drop(self) -> None:
        self._held -= sum(size for _, size in self._queue)
        self._queue.clear()
        self._changed.notify_all()

    def _work(self) -> None:
        try:
            self._loop()
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closing:
                    self._changed.wait()
                if not self._queue:
                    return
                task, size = self._queue.popleft()
            try:
                task()
            except BaseException as exc:  # noqa: BLE001 - handed to the submitting thread
                with self._changed:
                    if not self._failed:  # the first error, not those of tasks running beside it
                        self._error, self._failed = exc, True
                    self._closing = True
                    self._held -= size
                    self._drop()
                return
            with self._changed:
                self._held -= size
                self._changed.notify_all()
