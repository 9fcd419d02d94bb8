"""Progress that fits the place: a bar on a terminal, plain periodic lines in logs and CI.

A tqdm bar redraws itself with ``\\r``, which a log file keeps as one long line of
frames. When standard error is not a terminal, :func:`progress` gives an object with
the same ``update``/iteration interface that writes ``DESC: N/M UNIT done, R UNIT/s,
ETA T`` at most every :data:`INTERVAL` seconds (``$CONTACTS_PROGRESS_INTERVAL``), and
once at the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator

from tqdm import std


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel that draws widgets (tqdm.autonotebook's test)."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False  # a terminal, IPython, a script
    if any(name == "QT_API" or name.startswith("SPYDER") for name in os.environ):
        return False  # qtconsole, Spyder
    return True


# tqdm's widget bar in a notebook where ipywidgets can draw it, its text bar everywhere else. tqdm.auto
# chooses the same, but where ipywidgets is missing it first warns ("TqdmWarning: IProgress not found"),
# which every notebook without ipywidgets showed; here the text bar is simply taken.
if _in_notebook():
    from tqdm import notebook as _notebook

    tqdm = _notebook.tqdm if _notebook.IProgress is not None else std.tqdm
else:
    tqdm = std.tqdm

#: Seconds between plain progress lines, unless ``$CONTACTS_PROGRESS_INTERVAL`` says otherwise.
INTERVAL = 30.0
INTERVAL_ENV = "CONTACTS_PROGRESS_INTERVAL"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class LineProgress:
    """A progress report in plain lines on standard error, for logs (see the module docstring).

    Parameters
    ----------
    iterable : iterable, optional
        Iterating the object iterates this and counts one per item.
    total : int, optional
        Items expected (default ``len(iterable)`` where it has one); without it, no ETA.
    desc, unit : str
    interval : float, optional
        Seconds between lines (default :data:`INTERVAL` or ``$CONTACTS_PROGRESS_INTERVAL``).
    """

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", interval: float | None = None, stream=None):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit = total, desc, unit
        self.interval = float(os.environ.get(INTERVAL_ENV, INTERVAL)) if interval is None else interval
        self.stream = stream
        self.n = 0
        self.start = self.last = time.monotonic()
        self.closed = False

    def line(self) -> str:
        """``DESC: N/M UNIT done, R UNIT/s, ETA T`` (the parts known so far)."""
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        done = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        text = f"{self.desc + ': ' if self.desc else ''}{done} {self.unit} done, {rate:.3g} {self.unit}/s"
        if self.total is not None and rate > 0 and self.n < self.total:
            text += f", ETA {_duration((self.total - self.n) / rate)}"
        return text + f" ({_duration(elapsed)} elapsed)"

    def _write(self) -> None:
        stream = self.stream or sys.stderr
        stream.write(self.line() + "\n")
        stream.flush()
        self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.interval:
            self._write()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n:
                self._write()

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        except BaseException:
            self.closed = True  # no final line: the error is reported on its own
            raise
        self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:  # the error (or Ctrl-C) is reported by whoever catches it, on its own line
            self.closed = True
        self.close()


class _Silent:
    """No output; the same interface."""

    def __init__(self, iterable=None):
        self.iterable, self.n = iterable, 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def track(iterable: Iterable, option: bool | Callable, *, total: int | None = None, desc: str = "",
          unit: str = "it") -> Iterable:
    """``iterable`` as a library function's ``progress=`` option asks for it.

    A callable wraps the iterable itself (``tqdm``, a notebook bar, a logger); ``True``
    gives a tqdm bar; ``False`` leaves the iterable as it is.
    """
    if callable(option):
        return option(iterable)
    if option:
        return tqdm(iterable, total=total, desc=desc, unit=unit)
    return iterable


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             enable: bool = True, terminal: bool | None = None):
    """A progress reporter: a tqdm bar on a terminal, :class:`LineProgress` elsewhere, nothing when disabled.

    Use it as tqdm: iterate it, or ``with progress(total=n) as bar: bar.update(1)``.
    ``terminal`` overrides the check of ``sys.stderr.isatty()``.
    """
    if not enable:
        return _Silent(iterable)
    if terminal is None:
        terminal = sys.stderr.isatty()
    if terminal:
        return tqdm(iterable, total=total, desc=desc, unit=unit)
    return LineProgress(iterable, total=total, desc=desc, unit=unit)


def wrapper(desc: str, unit: str, *, total: int | None = None, enable: bool = True):
    """A callable ``iterable -> progress(iterable, ...)``, for functions that take ``progress=callable``."""
    def wrap(iterable):
        return progress(iterable, total=total, desc=desc, unit=unit, enable=enable)
    return wrap


__all__ = ["INTERVAL", "INTERVAL_ENV", "LineProgress", "progress", "track", "wrapper"]
