"""The one door every file comes in through: UTF-8 text (a BOM accepted), gzip checked, the package's own errors.

Every reader of :mod:`contacts.io` (and the model readers of :mod:`contacts.encoder`)
opens its file here, so that a broken or hostile file is refused in the same words
whichever reader meets it:

- text is UTF-8, with or without a byte-order mark (Windows editors and Excel write
  one); anything else (binary data, UTF-16, Latin-1) is refused as ``PATH: not a
  UTF-8 text file (byte 0x91 at offset 0)``. A NUL or another control character
  (other than tab, line feed, vertical tab, form feed, carriage return) counts as
  binary, though UTF-8 could carry it: no text format read here holds one;
- a file whose first two bytes are gzip's magic is read as gzip, whatever its name;
  a truncated or corrupt one is refused as such (``truncated gzip file``);
- line ends are ``\\n``, ``\\r\\n`` or ``\\r``;
- the operating system's errors (no such file, is a directory, permission denied,
  too many levels of symbolic links) are left as the ``OSError`` it raises, naming
  the file: the command line says them in plain words.

:class:`FileFormatError` is the base of every reader's error type
(``FastaFormatError``, ``RRFormatError``, ``StructureError``, ``CheckpointError``
...): a ``ValueError`` that names the file and, where there is one, the line.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import json
import os
import re
import zlib
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["FileFormatError", "iter_lines", "open_binary", "read_bytes", "read_json", "read_table", "read_text"]

#: Bytes read at a time (decoded and checked chunk by chunk, so that a large file is never held twice).
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
#: Control characters no text format read here holds (tab, LF, VT, FF and CR are whitespace).
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f]")
_NEWLINE = re.compile(r"\r\n|\r|\n")
#: What a refused file's first bytes say it is, where they say it clearly.
_MAGIC = ((codecs.BOM_UTF16_LE, "it starts with a UTF-16 byte-order mark: save it as UTF-8"),
          (codecs.BOM_UTF16_BE, "it starts with a UTF-16 byte-order mark: save it as UTF-8"),
          (b"PK\x03\x04", "it is a zip archive"), (b"\x93NUMPY", "it is a NumPy .npy file"),
          (b"\x80", "it is a Python pickle (a PyTorch file?)"))


class FileFormatError(ValueError):
    """A file that is not what its reader reads; the message names the file, the line or field, and the rule.

    Attributes
    ----------
    path : str or None
        The file refused.
    line : int or None
        1-based line number, where the rule is about one line.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.line = line


def _where(path, line: int | None = None) -> str:
    return f"{path} line {line}" if line is not None else str(path)


@contextlib.contextmanager
def open_binary(path: str | os.PathLike) -> Iterator[tuple[BinaryIO, bool]]:
    """The file's bytes, gunzipped where its first bytes say gzip: ``(stream, gzipped)``.

    Reads through the stream raise :class:`FileFormatError` for a truncated or corrupt
    gzip file (use :func:`_read`); the operating system's errors are raised as they come.
    """
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if gzipped:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped, True
        else:
            yield raw, False


def _read(stream: BinaryIO, size: int, path, gzipped: bool, error: type[FileFormatError]) -> bytes:
    """``stream.read(size)``, a gzip stream's failures said as what they are."""
    if not gzipped:
        return stream.read(size)
    try:
        return stream.read(size)
    except EOFError:
        raise error(f"{path}: truncated gzip file (the compressed data ends before its end marker)",
                              path=path) from None
    except gzip.BadGzipFile as exc:
        raise error(f"{path}: not a valid gzip file ({exc}), though its first bytes say gzip",
                              path=path) from None
    except zlib.error as exc:
        raise error(f"{path}: corrupt gzip data ({exc})", path=path) from None


def read_bytes(path: str | os.PathLike, *, error: type[FileFormatError] = FileFormatError) -> bytes:
    """Every byte of a file, gunzipped where it is gzip (checked: truncated or corrupt gzip refused as ``error``)."""
    with open_binary(path) as (stream, gzipped):
        parts = []
        while True:
            data = _read(stream, CHUNK, path, gzipped, error)
            if not data:
                return b"".join(parts)
            parts.append(data)


def _not_text(path, byte: int, offset: int, head: bytes, gzipped: bool, error: type[FileFormatError]) -> FileFormatError:
    hint = next((f"; {what}" for magic, what in _MAGIC if offset == 0 and head.startswith(magic)), "")
    inside = " of its gunzipped content" if gzipped else ""
    return error(f"{path}: not a UTF-8 text file (byte 0x{byte:02x} at offset {offset}{inside}{hint})",
                           path=path)


def _chunks(path, error: type[FileFormatError]) -> Iterator[str]:
    """The file's text in decoded chunks: UTF-8 checked, a leading BOM dropped."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_binary(path) as (stream, gzipped):
        offset, head = 0, b""
        while True:
            data = _read(stream, CHUNK, path, gzipped, error)
            if offset == 0:  # a short first read: the BOM (3 bytes) must be seen whole
                while data and len(data) < 3:
                    more = _read(stream, CHUNK, path, gzipped, error)
                    if not more:
                        break
                    data += more
                head = data[:8]
                if data.startswith(codecs.BOM_UTF8):
                    data, offset = data[3:], 3
            pending = decoder.getstate()[0]
            control = _CONTROL.search(data)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                start = offset - len(pending) + exc.start
                if control is None or start < offset + control.start():
                    raise _not_text(path, (pending + data)[exc.start], start, head, gzipped, error) from None
                text = ""
            if control is not None:
                raise _not_text(path, data[control.start()], offset + control.start(), head, gzipped, error)
            offset += len(data)
            if text:
                yield text
            if not data:
                return


def iter_lines(path: str | os.PathLike, *, error: type[FileFormatError] = FileFormatError) -> Iterator[str]:
    """The lines of a text file (UTF-8, gzip or not; see the module), without their line ends.

    Streams: a large file is read a chunk at a time.

    Raises
    ------
    FileFormatError (``error``, the reader's own subclass)
        Not UTF-8 text, or a truncated or corrupt gzip file.
    OSError
        As the operating system raises it (no such file, a directory, no permission).
    """
    rest = ""
    for text in _chunks(path, error):
        text = rest + text
        hold = text.endswith("\r")  # perhaps half of a \r\n
        parts = _NEWLINE.split(text[:-1] if hold else text)
        rest = parts.pop() + ("\r" if hold else "")
        yield from parts
    if rest:
        parts = _NEWLINE.split(rest)
        yield from (parts[:-1] if parts[-1] == "" else parts)


def read_text(path: str | os.PathLike, *, error: type[FileFormatError] = FileFormatError) -> str:
    """A whole text file (UTF-8, gzip or not; see the module) with ``\\n`` line ends; its problems raised as ``error``."""
    text = "".join(_chunks(path, error))
    return _NEWLINE.sub("\n", text) if "\r" in text else text


_JSON_TYPES = {dict: "a JSON object ({...})", list: "a JSON array ([...])", str: "a JSON string",
               int: "a JSON number", float: "a JSON number", bool: "true or false", type(None): "null"}


def read_json(path: str | os.PathLike, expect: type | None = dict, what: str = "", *,
              error: type[FileFormatError] = FileFormatError) -> object:
    """A JSON file, read as text through :func:`read_text`; of type ``expect`` where given.

    Raises
    ------
    FileFormatError
        Not UTF-8 text, not valid JSON (the line and column named), or not ``expect``.
    """
    text = read_text(path, error=error)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        empty = " (the file is empty)" if not text.strip() else ""
        raise error(f"{path} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg}){empty}",
                              path=path, line=exc.lineno) from None
    except RecursionError:
        raise error(f"{path}: JSON nested too deeply to read", path=path) from None
    if expect is not None and not isinstance(value, expect):
        got = _JSON_TYPES.get(type(value), type(value).__name__)
        raise error(f"{path}: {what or 'the file'} must be {_JSON_TYPES.get(expect, expect.__name__)}, "
                              f"not {got}", path=path)
    return value


def read_table(path: str | os.PathLike, *, delimiter: str = "\t", required: tuple[str, ...] = (),
               what: str = "table", error: type[FileFormatError] = FileFormatError
               ) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A delimited table with a header row: ``(columns, [(line number, row), ...])``, blank lines skipped.

    Every row must have the header's number of fields; column names must be unique.

    Raises
    ------
    FileFormatError
        Not UTF-8 text; no header; a ``required`` column missing; a duplicate column
        name; a row with too few or too many fields; a field over the CSV reader's limit.
    """
    lines = iter_lines(path, error=error)
    reader = csv.reader(lines, delimiter=delimiter)
    rows: list[tuple[int, dict[str, str]]] = []
    columns: list[str] | None = None
    try:
        for fields in reader:
            number = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if columns is None:
                columns = [f.strip() for f in fields]
                twice = sorted({c for c in columns if columns.count(c) > 1})
                if twice:
                    raise error(f"{path} line {number}: the {what}'s header names column(s) "
                                          f"{', '.join(map(repr, twice))} twice", path=path, line=number)
                missing = [c for c in required if c not in columns]
                if missing:
                    raise error(f"{path} line {number}: the {what} needs columns {', '.join(required)}; "
                                          f"its header {columns} lacks {', '.join(missing)}", path=path, line=number)
                continue
            if len(fields) != len(columns):
                name = "delimiter tab" if delimiter == "\t" else f"delimiter {delimiter!r}"
                raise error(f"{path} line {number}: {len(fields)} field(s), the header has {len(columns)} "
                                      f"({', '.join(columns)}; {name})", path=path, line=number)
            rows.append((number, dict(zip(columns, fields))))
    except csv.Error as exc:
        number = reader.line_num
        if "field larger than field limit" in str(exc):
            raise error(f"{path} line {number}: a field is longer than {csv.field_size_limit():,} "
                                  "characters, the CSV reader's limit", path=path, line=number) from None
        raise error(f"{path} line {number}: not a readable {what} ({exc})", path=path, line=number) from None
    if columns is None:
        raise error(f"{path}: the {what} is empty (no header row)", path=path)
    return columns, rows

