"""Broken and hostile variants of real files, one :class:`Case` each: the catalogue of issue 26's suite.

Each case builds one broken file from a real one (``../shared``: structures, alignments, FASTA)
or from a file the package writes (RR, ``.npy``/``.npz``, manifests, domain tables, run
records, checkpoints), reads it through one door (an API reader, or a command run in-process
through :func:`contacts.cli.main`), and says what must come out: the package's own error naming
the file and the rule, the documented warning, or the same result as the good file (a
byte-order mark is accepted).

``tests/io/test_broken_files.py`` runs every case and checks it; ``bench/broken_files_table.py``
runs them all and writes the table of ``docs/broken-files.md`` (case, door, outcome), and each
test checks that its row there is what it saw, so the table cannot go stale.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import os
import random
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from reference import write_huggingface, write_release

from contacts import load_model
from contacts.analysis.labels import contact_map
from contacts.cli import main
from contacts.encoder.checkpoints import read_huggingface, read_release
from contacts.encoder.config import PRESETS
from contacts.io.a3m import AlignmentError, read_alignment
from contacts.io.domains import PACKAGE_DOMAINS, DomainTableError, read_domains
from contacts.io.fasta import FastaFormatError, read_fasta
from contacts.io.manifest import ManifestError, read_manifest
from contacts.io.matrix import MatrixFormatError, read_matrix, write_matrix
from contacts.io.regression import BIAS_KEY, WEIGHT_KEY, read_regression, write_regression
from contacts.io.rr import RRFormatError, read_rr, write_rr
from contacts.io.safe_load import CheckpointError
from contacts.io.structures import StructureError, StructureWarning, load_structure
from contacts.io.text import FileFormatError
from contacts.runners.runfolder import RunRecordError, read_run_record, write_run_record

REPO = Path(__file__).resolve().parents[2]

#: The folder of real structures and alignments (as tests/conftest.py finds it).
SHARED = Path(os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"))


@dataclass(frozen=True)
class Exit:
    """What a command run in-process gave: its exit code and standard error."""

    code: int
    stderr: str


@dataclass(frozen=True)
class Outcome:
    """What a door made of a case: ``kind`` is error, warning, accepted, or ``exit N`` (a command)."""

    kind: str
    name: str  # the error's or warning's class; '' for accepted and commands
    message: str
    exc: BaseException | None = None
    value: object = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One broken file and what its door must make of it.

    ``make(folder)`` builds the file (or folder, link) in ``folder`` and returns the path the
    door is given; ``read(path)`` is the door. ``expect``: ``error`` (raised, of class
    ``error``, naming the file and holding every fragment of ``says``), ``warning`` (read, with
    exactly one warning of class ``error`` saying ``says``), ``accepted`` (read, equal to
    ``good(folder)`` read through the same door), ``exit 1`` (a command: one line
    ``contacts COMMAND: error: ...`` naming the file and saying ``says``).
    """

    id: str
    door: str
    make: Callable[[Path], Path]
    read: Callable[[Path], object]
    expect: str = "error"
    says: tuple[str, ...] = ()
    error: type[BaseException] | None = None
    good: Callable[[Path], Path] | None = None
    same: Callable[[object, object], bool] | None = None
    needs_user: bool = False  # the case means something only to a user other than root (permissions)
    leaves_nothing: tuple[str, ...] = ()  # outputs (relative to the case's folder) a refusal must not have written
    xfail: str = ""
    block: bool = False  # a command's list of problems found at once: a block under its one error line (docs/cli.md)
    hangs: bool = False  # with xfail: not run at all (a refusal missing, the work would start and take minutes)


# --------------------------------------------------------------------------- how a broken file is made


def shared(*parts: str) -> Path:
    return SHARED.joinpath(*parts)


def _bytes_of(source: Path) -> bytes:
    data = source.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def write(name: str, data: bytes | Callable[[Path], bytes]) -> Callable[[Path], Path]:
    """A maker that writes ``data`` (or ``data(folder)``) to ``folder/name``."""

    def make(folder: Path) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data(folder) if callable(data) else data)
        return path

    return make


def from_file(source: Callable[[Path], Path] | Path, name: str, change: Callable[[bytes], bytes] = lambda b: b
              ) -> Callable[[Path], Path]:
    """A maker: ``change`` applied to the (gunzipped) bytes of a real file or of a file made by ``source``."""

    def make(folder: Path) -> Path:
        origin = source if isinstance(source, Path) else source(folder / "good")
        path = folder / name
        path.write_bytes(change(_bytes_of(origin)))
        return path

    return make


def copy_of(source: Path | Callable[[Path], Path], name: str | None = None) -> Callable[[Path], Path]:
    """A maker of the good file itself (for ``good``): a copy, so that both readings name a file of the case."""

    def make(folder: Path) -> Path:
        origin = source if isinstance(source, Path) else source(folder / "good")
        path = folder / "original" / (name or origin.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, path)
        return path

    return make


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def binary(_: bytes = b"") -> bytes:
    """4 KiB of random bytes (a fixed seed: the table names the first bad byte)."""
    return random.Random(26).randbytes(4096)


def utf16(data: bytes) -> bytes:
    return data.decode("utf-8").encode("utf-16")  # with its byte-order mark, as Windows' 'Unicode' writes


def latin1(data: bytes) -> bytes:
    """The first line ending in Windows-1252 quotes (0x91 ... 0x92), as Word and Excel write them."""
    first, _, rest = data.partition(b"\n")
    return first + b" \x91quoted\x92\n" + rest


def with_bom(data: bytes) -> bytes:
    return codecs.BOM_UTF8 + data


def gzip_truncated(data: bytes) -> bytes:
    return truncated(gzip.compress(data, mtime=0))


def fake_gzip(_: bytes = b"") -> bytes:
    return b"\x1f\x8b" + random.Random(8).randbytes(200)


def a_directory(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.mkdir()
        return path

    return make


def symlink_loop(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path, other = folder / name, folder / f"other-{name}"
        path.symlink_to(other)
        other.symlink_to(path)
        return path

    return make


def unreadable(source: Path | Callable[[Path], Path], name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = from_file(source, name)(folder)
        path.chmod(0)
        return path

    return make


def lines_changed(change: Callable[[list[str]], list[str]]) -> Callable[[bytes], bytes]:
    """A change of a text file's lines (without their ends)."""

    def apply(data: bytes) -> bytes:
        return ("\n".join(change(data.decode("utf-8").split("\n")))).encode("utf-8")

    return apply


def replace_first(pattern: str, replacement: str, count: int = 1) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        text, n = re.subn(pattern, replacement, data.decode("utf-8"), count=count, flags=re.M)
        assert n, f"{pattern!r} not found"
        return text.encode("utf-8")

    return apply


# --------------------------------------------------------------------------- files the package writes


def _labels(folder: Path) -> tuple[str, np.ndarray]:

    structure = load_structure(shared("structures", "1LCD.cif"), "A")
    labels = contact_map(structure)
    return structure.sequence, labels


def made_rr(folder: Path) -> Path:
    """An RR file written by :func:`contacts.io.rr.write_rr` from the contacts of a real chain (1LCD A, 51 residues)."""

    sequence, labels = _labels(folder)
    probs = np.nan_to_num(labels, nan=0.0) * 0.9 + 0.05
    folder.mkdir(parents=True, exist_ok=True)
    return write_rr(folder / "1LCD.rr", probs, sequence, "1LCD", min_separation=6)


def made_npy(folder: Path) -> Path:

    _, labels = _labels(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_matrix(folder / "1LCD.npy", labels)


def made_text_matrix(folder: Path) -> Path:

    _, labels = _labels(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_matrix(folder / "1LCD.mat", np.nan_to_num(labels, nan=0.0))


def made_manifest(folder: Path) -> Path:
    """The shared folder's own manifest, as its maintainers wrote it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "MANIFEST.tsv"
    shutil.copyfile(shared("structures", "MANIFEST.tsv"), path)
    return path


def made_domains(folder: Path) -> Path:

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "domains.tsv"
    shutil.copyfile(PACKAGE_DOMAINS["antibody_domains"], path)
    return path


def made_record(folder: Path) -> Path:

    folder.mkdir(parents=True, exist_ok=True)
    return write_run_record(folder / "contacts-run.json", {"format": "contacts-run/2", "command": "predict",
                                                           "state": "done", "items": []})


def made_regression(folder: Path) -> Path:
    """A contact regression in fair-esm's layout, written by :func:`contacts.io.regression.write_regression`."""


    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    return write_regression(folder / "tiny-contact-regression.pt", torch.randn(1, 8, generator=generator),
                            torch.zeros(1))


def made_release(folder: Path) -> Path:
    """A tiny ESM-1b release checkpoint (fair-esm's layout: tests/reference.py)."""


    return write_release(folder, PRESETS["tiny"], regression=False)


# --------------------------------------------------------------------------- running a case


def cli(*argv: object) -> Exit:
    """``contacts ARGV`` in this process: its exit code and standard error (standard output dropped)."""

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return Exit(code, err.getvalue())


def command(*argv: object) -> Exit:
    """``python -m contacts ARGV`` in a fresh interpreter (the exit code and the one line, end to end)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CONTACTS_DEBUG": ""}
    out = subprocess.run([sys.executable, "-m", "contacts", *map(str, argv)], capture_output=True, text=True, env=env,
                         timeout=300)
    return Exit(out.returncode, out.stderr)


def run_case(case: Case, folder: Path) -> Outcome:
    """Build the case's file in ``folder`` and read it through its door."""
    folder.mkdir(parents=True, exist_ok=True)
    path = case.make(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = case.read(path)
        except Exception as exc:  # what the door raised is the outcome
            return Outcome("error", type(exc).__name__, str(exc), exc=exc)
    said = tuple(f"{w.category.__name__}: {w.message}" for w in caught
                 if w.category.__module__.startswith("contacts"))
    if isinstance(value, Exit):
        lines = value.stderr.strip().splitlines()
        return Outcome(f"exit {value.code}", "", "\n".join(lines), value=value)
    if said:
        name, _, message = said[0].partition(": ")
        return Outcome("warning", name, message, value=value, warnings=said)
    return Outcome("accepted", "", "", value=value)


def shown(outcome: Outcome, folder: Path) -> str:
    """The outcome as the table shows it: paths relative to the case's folder, one line."""
    text = outcome.message.replace(f"{folder}{os.sep}", "").replace(str(folder), ".")
    text = " ".join(text.split())
    if outcome.kind == "accepted":
        return "accepted: read as the file without it"
    if outcome.kind == "error":
        return f"`{outcome.name}`: {text}"
    if outcome.kind == "warning":
        return f"warning `{outcome.name}`: {text}"
    return f"{outcome.kind}: {text}"


def row(case: Case, outcome: Outcome, folder: Path) -> str:
    cell = shown(outcome, folder).replace("|", "\\|")
    if case.xfail:
        cell += f" (**not yet as it must be**, a strict xfail of the suite: {case.xfail})"
    return f"| `{case.id}` | {case.door} | {cell} |"


# --------------------------------------------------------------------------- the catalogue












def _same_structure(a, b) -> bool:
    return a.sequence == b.sequence and np.array_equal(a.coords, b.coords, equal_nan=True)


def _same_matrix(a, b) -> bool:
    return np.array_equal(a, b, equal_nan=True)


def _same_rr(a, b) -> bool:
    return a.sequence == b.sequence and all(np.array_equal(getattr(a, k), getattr(b, k))
                                            for k in ("i", "j", "d_lower", "d_upper", "probability"))


def _text_cases(kind: str, door: str, read: Callable, source, name: str, *, same=None,
                plain: bool = True) -> list[Case]:
    """The variants every text format meets: empty, binary, UTF-16, Latin-1, a BOM (accepted), gzip truncated or fake,
    a directory, a symlink loop, no read permission."""
    good = copy_of(source, name)
    cases = [
        Case(f"{kind}-empty", door, write(name, b""), read, says=("empty",) if plain else ()),
        Case(f"{kind}-binary", door, write(name, binary()), read, says=("not a UTF-8 text file (byte 0x",)),
        Case(f"{kind}-utf16", door, from_file(source, name, utf16), read,
             says=("not a UTF-8 text file (byte 0xff at offset 0", "UTF-16")),
        Case(f"{kind}-latin1", door, from_file(source, name, latin1), read,
             says=("not a UTF-8 text file (byte 0x91 at offset",)),
        Case(f"{kind}-bom", door, from_file(source, name, with_bom), read, expect="accepted", good=good, same=same),
        Case(f"{kind}-gzip-truncated", door, from_file(source, name + ".gz", gzip_truncated), read,
             says=("truncated gzip file",)),
        Case(f"{kind}-gzip-fake", door, write(name + ".gz", fake_gzip()), read, says=("gzip",)),
        Case(f"{kind}-directory", door, a_directory(name), read, error=IsADirectoryError),
        Case(f"{kind}-symlink-loop", door, symlink_loop(name), read, error=OSError),
        Case(f"{kind}-no-permission", door, unreadable(source, name), read, error=PermissionError, needs_user=True),
    ]
    return cases


def _catalogue() -> list[Case]:

    fasta = shared("msas", "few_proteins.fasta")
    a3m = shared("msas", "3jrv_1_A.a3m")
    cif, pdb, bcif = shared("structures", "1LCD.cif"), shared("structures", "2KL8.pdb"), shared("structures", "1mol.bcif")
    pdb_gz = shared("structures", "1tim.pdb.gz")
    cases: list[Case] = []

    # ---- FASTA
    fa = "read_fasta"
    cases += _text_cases("fasta", fa, read_fasta, fasta, "few.fasta", same=lambda a, b: a == b)
    cases += [
        Case("fasta-sequence-before-header", fa, from_file(fasta, "x.fasta", lambda b: b"MKV\n" + b), read_fasta,
             says=("line 1", "before the first '>'")),
        Case("fasta-truncated-gzip-of-real", fa, from_file(fasta, "few.fasta.gz", gzip_truncated), read_fasta,
             error=FastaFormatError, says=("truncated gzip",)),
    ]
    # ---- A3M
    al = "read_alignment"
    cases += _text_cases("a3m", al, read_alignment, a3m, "3jrv.a3m", same=lambda a, b: a == b)
    cases += [
        Case("a3m-truncated", al, from_file(a3m, "3jrv.a3m", truncated), read_alignment, error=AlignmentError,
             says=("aligned columns; the query has",)),
        Case("a3m-digits-in-row", al, from_file(a3m, "3jrv.a3m", replace_first(r"^([A-Z-]{5})", r"\g<1>42")),
             read_alignment, error=AlignmentError, says=("line 2", "character '4' at column 6")),
        Case("a3m-punctuation-in-row", al, from_file(a3m, "3jrv.a3m", replace_first(r"^([A-Z-]{5})", r"\1;")),
             read_alignment, error=AlignmentError, says=("character ';' at column 6",)),
        Case("a3m-nul-in-row", al, from_file(a3m, "3jrv.a3m", lambda b: b.replace(b"\n", b"\nM\x00", 2)),
             read_alignment, error=AlignmentError, says=("not a UTF-8 text file (byte 0x00",)),
        Case("a3m-row-before-header", al, from_file(a3m, "3jrv.a3m", lambda b: b"MKV\n" + b), read_alignment,
             error=AlignmentError, says=("line 1", "before the first '>'")),
    ]
    # ---- RR (written by write_rr from a real chain)
    rr = "read_rr"
    cases += _text_cases("rr", rr, read_rr, made_rr, "1LCD.rr", same=_same_rr)
    contact = r"^(\d+) (\d+) 0 8 (\S+)$"
    cases += [
        Case("rr-nan-bounds", rr, from_file(made_rr, "1LCD.rr", replace_first(contact, r"\1 \2 nan 8 \3")), read_rr,
             error=RRFormatError, says=("line", "must be finite")),
        Case("rr-inf-bounds", rr, from_file(made_rr, "1LCD.rr", replace_first(contact, r"\1 \2 0 inf \3")), read_rr,
             error=RRFormatError, says=("line", "must be finite")),
        Case("rr-nan-probability", rr, from_file(made_rr, "1LCD.rr", replace_first(contact, r"\1 \2 0 8 nan")),
             read_rr, error=RRFormatError, says=("probability nan is outside [0, 1]",)),
        Case("rr-pair-twice-conflicting", rr, from_file(made_rr, "1LCD.rr", lines_changed(
            lambda ls: [*ls[:-2], _first_contact(ls).rsplit(" ", 1)[0] + " 0.01", *ls[-2:]])), read_rr,
             error=RRFormatError, says=("listed a second time (first on line",)),
        Case("rr-pair-reversed", rr, from_file(made_rr, "1LCD.rr", lines_changed(
            lambda ls: [*ls[:-2], _reversed(_first_contact(ls)), *ls[-2:]])), read_rr,
             error=RRFormatError, says=("listed a second time",)),
        Case("rr-junk-after-contacts", rr, from_file(made_rr, "1LCD.rr", lines_changed(
            lambda ls: [*ls[:-2], "ACDEF", *ls[-2:]])), read_rr, error=RRFormatError,
             says=("after the contact lines of MODEL 1",)),
        Case("rr-index-past-sequence", rr, from_file(made_rr, "1LCD.rr", replace_first(contact, r"\1 60 0 8 \3")),
             read_rr, error=RRFormatError, says=("beyond the sequence of 51 residues",)),
        Case("rr-huge-index-no-sequence", rr, write("big.rr", b"PFRMAT RR\nMODEL 1\n1 1000000 0 8 0.9\nEND\n"),
             read_rr, error=RRFormatError, says=("line 3", "residue 1,000,000 is beyond the limit")),
        Case("rr-wrong-columns", rr, from_file(made_rr, "1LCD.rr", replace_first(contact, r"\1 \2 0 8 \3 1 2")),
             read_rr, error=RRFormatError, says=("at most 5",)),
    ]
    # ---- matrices (.npy written by write_matrix from a real chain's labels)
    mx = "read_matrix"
    cases += [
        Case("npy-empty", mx, write("1LCD.npy", b""), read_matrix, error=MatrixFormatError,
             says=("not a NumPy .npy file (the file is empty)",)),
        Case("npy-truncated", mx, from_file(made_npy, "1LCD.npy", truncated), read_matrix, error=MatrixFormatError,
             says=("truncated .npy file",)),
        Case("npy-text", mx, from_file(made_text_matrix, "1LCD.npy"), read_matrix, error=MatrixFormatError,
             says=("not a NumPy .npy file (it holds text",)),
        Case("npy-binary", mx, write("1LCD.npy", binary()), read_matrix, error=MatrixFormatError,
             says=("not a NumPy .npy file",)),
        Case("npy-inf", mx, write("1LCD.npy", lambda f: _npy(np.where(np.eye(51) > 0, np.inf, 0.0))), read_matrix,
             error=MatrixFormatError, says=("infinite",)),
        Case("npy-complex", mx, write("1LCD.npy", lambda f: _npy(np.zeros((51, 51), complex))), read_matrix,
             error=MatrixFormatError, says=("complex numbers",)),
        Case("npy-pickled-objects", mx, write("1LCD.npy", lambda f: _npy(np.zeros((3, 3), object))), read_matrix,
             error=MatrixFormatError, says=("Python objects",)),
        Case("npy-not-square", mx, write("1LCD.npy", lambda f: _npy(np.zeros((51, 50)))), read_matrix,
             error=MatrixFormatError, says=("expected (L, L)",)),
        Case("npy-huge-shape", mx, write("1LCD.npy", lambda f: _npy_header((60000, 60000))), read_matrix,
             error=MatrixFormatError, says=("past the limit of",)),
        Case("npy-nan-is-no-prediction", mx, from_file(made_npy, "1LCD.npy"), read_matrix, expect="accepted",
             good=copy_of(made_npy), same=_same_matrix),
        Case("npz-plain-npy", mx, from_file(made_npy, "1LCD.npz"), read_matrix, error=MatrixFormatError,
             says=("not an .npz (zip) archive (it is a NumPy .npy file)",)),
        Case("npz-truncated", mx, write("1LCD.npz", lambda f: truncated(_npz(np.zeros((51, 51))))), read_matrix,
             error=MatrixFormatError, says=("not a readable .npz file",)),
        Case("npy-directory", mx, a_directory("1LCD.npy"), read_matrix, error=IsADirectoryError),
        Case("matrix-text-inf", mx, from_file(made_text_matrix, "1LCD.mat", replace_first(r"^0", "inf")),
             read_matrix, error=MatrixFormatError, says=("line 4", "inf is not a finite score")),
        Case("matrix-text-ragged", mx, from_file(made_text_matrix, "1LCD.mat", replace_first(r"\t0$", "")),
             read_matrix, error=MatrixFormatError, says=("line 2", "columns, the first row has")),
        Case("matrix-text-words", mx, from_file(made_text_matrix, "1LCD.mat", replace_first(r"^0", "zero")),
             read_matrix, error=MatrixFormatError, says=("is not a row of numbers",)),
        Case("matrix-text-utf16", mx, from_file(made_text_matrix, "1LCD.mat", utf16), read_matrix,
             error=MatrixFormatError, says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("matrix-text-latin1", mx, from_file(made_text_matrix, "1LCD.mat", latin1), read_matrix,
             error=MatrixFormatError, says=("not a UTF-8 text file (byte 0x91",)),
        Case("matrix-text-bom", mx, from_file(made_text_matrix, "1LCD.mat", with_bom), read_matrix,
             expect="accepted", good=copy_of(made_text_matrix), same=_same_matrix),
    ]
    # ---- manifests (the shared folder's own)
    mf = "read_manifest"
    cases += _text_cases("manifest", mf, read_manifest, made_manifest, "MANIFEST.tsv", same=lambda a, b: a == b)
    cases += [
        Case("manifest-row-without-chain-and-split", mf, from_file(made_manifest, "MANIFEST.tsv", lines_changed(
            lambda ls: [ls[0], "1LCD.cif", *ls[1:]])), read_manifest, error=ManifestError,
             says=("line 2", "1 field(s), the header has 18")),
        Case("manifest-file-twice", mf, from_file(made_manifest, "MANIFEST.tsv", lines_changed(
            lambda ls: [*ls[:3], ls[1], *ls[3:]])), read_manifest, error=ManifestError,
             says=("line 4", "listed a second time (first on line 2)")),
        Case("manifest-no-split-column", mf, from_file(made_manifest, "MANIFEST.tsv", lines_changed(
            lambda ls: [re.sub(r"\tsplit$", "\tsplits", ls[0]), *ls[1:]])), read_manifest, error=ManifestError,
             says=("line 1", "lacks split")),
        Case("manifest-header-only", mf, from_file(made_manifest, "MANIFEST.tsv", lambda b: b.split(b"\n")[0]),
             read_manifest, error=ManifestError, says=("header but no rows",)),
        Case("manifest-huge-field", mf, from_file(made_manifest, "MANIFEST.tsv", lines_changed(
            lambda ls: [*ls[:2], ls[2].replace("\t", "\t" + "x" * 200_000, 1), *ls[3:]])), read_manifest,
             error=ManifestError, says=("line 3", "longer than 131,072 characters")),
        Case("manifest-comma-separated", mf, from_file(made_manifest, "MANIFEST.tsv",
                                                       lambda b: b.replace(b"\t", b",")),
             read_manifest, error=ManifestError, says=("line 1", "lacks file, chain, split")),
    ]
    # ---- domain tables (the package's own)
    dm = "read_domains"
    cases += [
        Case("domains-bom", dm, from_file(made_domains, "domains.tsv", with_bom), read_domains, expect="accepted",
             good=copy_of(made_domains), same=lambda a, b: a == b),
        Case("domains-utf16", dm, from_file(made_domains, "domains.tsv", utf16), read_domains,
             error=DomainTableError, says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("domains-latin1", dm, from_file(made_domains, "domains.tsv", latin1), read_domains,
             error=DomainTableError, says=("not a UTF-8 text file (byte 0x91",)),
        Case("domains-binary", dm, write("domains.tsv", binary()), read_domains, error=DomainTableError,
             says=("not a UTF-8 text file",)),
        Case("domains-empty", dm, write("domains.tsv", b""), read_domains, error=DomainTableError,
             says=("empty",)),
        Case("domains-name-twice", dm, from_file(made_domains, "domains.tsv", lines_changed(
            lambda ls: [*ls[:2], ls[1], *ls[2:]])), read_domains, error=DomainTableError, says=("line 3", "twice")),
        Case("domains-missing-columns", dm, from_file(made_domains, "domains.tsv", lines_changed(
            lambda ls: ["\t".join(f for f in line.split("\t")[:3]) for line in ls])), read_domains,
             error=DomainTableError, says=("line 1", "lacks first, last, split")),
        Case("domains-short-row", dm, from_file(made_domains, "domains.tsv", lines_changed(
            lambda ls: [ls[0], ls[1].rsplit("\t", 2)[0], *ls[2:]])), read_domains, error=DomainTableError,
             says=("line 2", "field(s), the header has")),
    ]
    # ---- structures (real mmCIF, PDB, BinaryCIF, PDB.gz)
    st = "load_structure"
    cases += [
        Case("mmcif-truncated-before-atoms", st, from_file(cif, "1LCD.cif", _before_atoms),
             load_structure, error=StructureError, says=("no _atom_site category",)),
        Case("mmcif-truncated-in-atoms", st, from_file(cif, "1LCD.cif", _cut_in_atoms), load_structure,
             error=StructureError),
        Case("mmcif-no-cartn-x", st, from_file(cif, "1LCD.cif", _without_field("Cartn_x")), load_structure,
             error=StructureError, says=("_atom_site lacks the field(s) Cartn_x",)),
        Case("mmcif-question-coordinates", st, from_file(cif, "1LCD.cif", _unknown_coordinates), load_structure,
             expect="warning", error=StructureWarning, says=("unknown coordinates ('?')", "read as missing atoms")),
        Case("mmcif-nan-coordinates", st, from_file(cif, "1LCD.cif", _nan_coordinates), load_structure,
             error=StructureError, says=("Cartn_x", "finite")),
        Case("mmcif-atom-twice", st, from_file(cif, "1LCD.cif", _first_atom_twice), load_structure,
             error=StructureError, says=("twice",)),
        Case("mmcif-empty", st, write("1LCD.cif", b""), load_structure, error=StructureError, says=("empty",)),
        Case("mmcif-binary", st, write("1LCD.cif", binary()), load_structure, error=StructureError,
             says=("not a UTF-8 text file",)),
        Case("mmcif-utf16", st, from_file(cif, "1LCD.cif", utf16), load_structure, error=StructureError,
             says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("mmcif-latin1", st, from_file(cif, "1LCD.cif", latin1), load_structure, error=StructureError,
             says=("not a UTF-8 text file (byte 0x91",)),
        Case("mmcif-bom", st, from_file(cif, "1LCD.cif", with_bom), load_structure, expect="accepted",
             good=copy_of(cif), same=_same_structure),
        Case("mmcif-gzip-truncated", st, from_file(cif, "1LCD.cif.gz", gzip_truncated), load_structure,
             error=StructureError, says=("truncated gzip file",)),
        Case("mmcif-gzip-fake", st, write("1LCD.cif.gz", fake_gzip()), load_structure, error=StructureError,
             says=("gzip",)),
        Case("mmcif-pdb-content", st, from_file(pdb, "2KL8.cif"), load_structure, error=StructureError,
             says=("not an mmCIF file", "name it .pdb")),
        Case("mmcif-directory", st, a_directory("1LCD.cif"), load_structure, error=IsADirectoryError),
        Case("mmcif-symlink-loop", st, symlink_loop("1LCD.cif"), load_structure, error=OSError),
        Case("mmcif-no-permission", st, unreadable(cif, "1LCD.cif"), load_structure, error=PermissionError,
             needs_user=True),
        Case("pdb-nan-ca", st, from_file(pdb, "2KL8.pdb", _pdb_nan_ca), load_structure, error=StructureError,
             says=("line", "not finite numbers")),
        Case("pdb-atom-block-twice", st, from_file(pdb, "2KL8.pdb", _atom_block_twice), load_structure,
             error=StructureError, says=("twice",)),
        Case("pdb-ca-only", st, from_file(pdb, "2KL8.pdb", _ca_only), load_structure, expect="warning",
             error=StructureWarning, says=("CA atoms only",)),
        Case("pdb-short-lines", st, from_file(pdb, "2KL8.pdb", _pdb_short_line), load_structure,
             error=StructureError, says=("line", "characters")),
        Case("pdb-mmcif-content", st, from_file(cif, "1LCD.pdb"), load_structure, error=StructureError,
             says=("name it .cif",)),
        Case("pdb-utf16", st, from_file(pdb, "2KL8.pdb", utf16), load_structure, error=StructureError,
             says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("pdb-bom", st, from_file(pdb, "2KL8.pdb", with_bom), load_structure, expect="accepted",
             good=copy_of(pdb), same=_same_structure),
        Case("pdb-gz-truncated", st, from_file(pdb_gz, "1tim.pdb.gz", gzip_truncated), load_structure,
             error=StructureError, says=("truncated gzip file",)),
        Case("pdb-gz-fake", st, write("1tim.pdb.gz", fake_gzip()), load_structure, error=StructureError,
             says=("gzip",)),
        Case("bcif-mmcif-content", st, from_file(cif, "1LCD.bcif"), load_structure, error=StructureError,
             says=("not a BinaryCIF file", "name it .cif")),
        Case("bcif-truncated", st, from_file(bcif, "1mol.bcif", truncated), load_structure, error=StructureError,
             says=("cannot be read as BinaryCIF",)),
        Case("bcif-random-bytes", st, write("1mol.bcif", binary()), load_structure, error=StructureError,
             says=("BinaryCIF",)),
        Case("bcif-empty", st, write("1mol.bcif", b""), load_structure, error=StructureError),
        Case("bcif-gzip-truncated", st, from_file(bcif, "1mol.bcif.gz", gzip_truncated), load_structure,
             error=StructureError, says=("truncated gzip file",)),
    ]
    # ---- run records (contacts-run.json, written by write_run_record)
    rec = "read_run_record"
    cases += [
        Case("record-json-list", rec, write("contacts-run.json", b"[]\n"), read_run_record, error=RunRecordError,
             says=("must be a JSON object ({...}), not a JSON array",)),
        Case("record-truncated", rec, from_file(made_record, "contacts-run.json", truncated), read_run_record,
             error=RunRecordError, says=("line 3 column 13: not valid JSON",)),
        Case("record-empty", rec, write("contacts-run.json", b""), read_run_record, error=RunRecordError,
             says=("the file is empty",)),
        Case("record-utf16", rec, from_file(made_record, "contacts-run.json", utf16), read_run_record,
             error=RunRecordError, says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("record-binary", rec, write("contacts-run.json", binary()), read_run_record, error=RunRecordError,
             says=("not a UTF-8 text file",)),
    ]
    # ---- checkpoints: a contact regression and a tiny release (fair-esm's layout)
    rg, rl = "read_regression", "read_release"
    cases += [
        Case("regression-random-bytes", rg, write("r.pt", binary()), read_regression, error=CheckpointError,
             says=("not a PyTorch file",)),
        Case("regression-json-text", rg, write("r.pt", b'{"weight": [1, 2]}\n'), read_regression,
             error=CheckpointError, says=("not a PyTorch file", "text")),
        Case("regression-empty", rg, write("r.pt", b""), read_regression, error=CheckpointError,
             says=("not a PyTorch file",)),
        Case("regression-truncated", rg, from_file(made_regression, "r.pt", truncated), read_regression,
             error=CheckpointError, says=("truncated or corrupt",)),
        Case("regression-nan-weight", rg, write("r.pt", lambda f: _saved(
            {"model": {WEIGHT_KEY: torch.full((1, 8), float("nan")), BIAS_KEY: torch.zeros(1)}})), read_regression,
             error=ValueError, says=("finite",)),
        Case("release-model-a-tensor", rl, write("tiny.pt", lambda f: _saved({"args": None, "model": torch.zeros(3)})),
             read_release, error=CheckpointError, says=("'model'",)),
        Case("release-weight-a-list", rl, write("tiny.pt", lambda f: _release_changed(
            f, lambda state: state.__setitem__(next(iter(state)), [1.0, 2.0]))), read_release, error=CheckpointError,
             says=("list",)),
        Case("release-random-bytes", rl, write("tiny.pt", binary()), read_release, error=CheckpointError,
             says=("not a PyTorch file",)),
        Case("release-truncated", rl, from_file(made_release, "tiny.pt", truncated), read_release,
             error=CheckpointError, says=("truncated or corrupt",)),
    ]
    lm = "load_model"
    cases += [
        Case("release-nan-weight", lm, write("tiny.pt", lambda f: _release_changed(
            f, lambda state: state[next(k for k in state if k.endswith("layers.0.fc1.weight"))].fill_(float("nan")))),
             _load_model, error=CheckpointError, says=("non-finite",)),
        Case("release-one-weight-missing", lm, write("tiny.pt", lambda f: _release_changed(
            f, lambda state: state.pop(next(k for k in state if k.endswith("layers.1.fc2.bias"))))),
             _load_model, error=ValueError, says=("fc2.bias",)),
        Case("huggingface-config-a-list", "read_huggingface", lambda f: _hf_changed(f, "config.json", b"[]\n"),
             lambda p: read_huggingface(p.parent), error=FileFormatError,
             says=("config.json", "must be a JSON object ({...}), not a JSON array")),
        Case("huggingface-config-utf16", "read_huggingface",
             lambda f: _hf_changed(f, "config.json", lambda d: utf16(d)), lambda p: read_huggingface(p.parent),
             error=FileFormatError, says=("config.json", "not a UTF-8 text file (byte 0xff at offset 0")),
        Case("huggingface-safetensors-truncated", "read_huggingface",
             lambda f: _hf_changed(f, "model.safetensors", truncated), lambda p: read_huggingface(p.parent),
             error=FileFormatError, says=("model.safetensors",)),
        Case("huggingface-safetensors-random", "read_huggingface",
             lambda f: _hf_changed(f, "model.safetensors", binary), lambda p: read_huggingface(p.parent),
             error=FileFormatError, says=("model.safetensors",)),
    ]
    cases += [
        Case("pdb-latin1", st, from_file(pdb, "2KL8.pdb", latin1), load_structure, error=StructureError,
             says=("not a UTF-8 text file (byte 0x91",)),
        Case("pdb-binary", st, write("2KL8.pdb", binary()), load_structure, error=StructureError,
             says=("not a UTF-8 text file",)),
        Case("pdb-empty", st, write("2KL8.pdb", b""), load_structure, error=StructureError, says=("empty",)),
    ]
    cases += _command_cases()
    return cases


def _load_model(path: Path):
    return load_model(path, device="cpu")


def _hf_changed(folder: Path, name: str, change: bytes | Callable[[bytes], bytes]) -> Path:
    """A tiny ESM-2 folder written by transformers (tests/reference.py), ``name`` in it broken."""
    model = write_huggingface(folder / "hf", PRESETS["tiny_esm2"])
    path = model / name
    path.write_bytes(change if isinstance(change, bytes) else change(path.read_bytes()))
    return path


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _release_changed(folder: Path, change: Callable[[dict], None]) -> bytes:
    data = torch.load(made_release(folder / "good"), weights_only=False)
    change(data["model"])
    return _saved(data)


# --------------------------------------------------------------------------- through the command line


def _structures(folder: Path, broken: bytes | None = None, *, name: str = "1LCD.cif") -> Path:
    """A folder of two real structures (1LCD, 2N2U) with a manifest; ``broken`` in place of ``name``."""
    out = folder / "structures"
    out.mkdir(parents=True, exist_ok=True)
    for real in ("1LCD.cif", "2N2U.pdb"):
        shutil.copyfile(shared("structures", real), out / real)
    (out / "MANIFEST.tsv").write_text("file\tchain\tsplit\n1LCD.cif\tA\ttrain\n2N2U.pdb\tA\ttrain\n")
    if broken is not None:
        (out / name).write_bytes(broken)
    return out / name


def _predictions(folder: Path, name: str, data: bytes) -> Path:
    _structures(folder)
    out = folder / "predictions"
    out.mkdir(exist_ok=True)
    (out / name).write_bytes(data)
    return out / name


def _command_cases() -> list[Case]:
    cif = _bytes_of(shared("structures", "1LCD.cif"))
    manifest_twice = b"file\tchain\tsplit\n1LCD.cif\tA\ttrain\n2N2U.pdb\tA\ttrain\n1LCD.cif\tA\ttest\n"
    manifest_short = b"file\tchain\tsplit\n1LCD.cif\n2N2U.pdb\tA\ttrain\n"
    manifest_missing = b"file\tchain\tsplit\n1LCD.cif\tA\ttrain\n2N2U.pdb\tA\ttrain\n9XYZ.cif\tA\ttest\n"
    tiny = ("--model", "random:tiny", "--device", "cpu")

    def evaluate(folder: Path, *argv: object, structures: str = "structures", skip: bool = True) -> Exit:
        """``contacts evaluate`` on the case's structures, its output inside the case's folder (never the cwd)."""
        return cli("evaluate", "--structures", folder / structures, *argv, *(["--skip-missing"] if skip else []),
                   "--no-progress", "--output", folder / "ev")

    def evaluate_predictions(path: Path) -> Exit:  # one structure, its prediction broken: nothing to skip
        return evaluate(path.parent.parent, "--predictions", path.parent, structures="structures/1LCD.cif",
                        skip=False)

    def evaluate_structures(path: Path) -> Exit:
        (path.parent.parent / "predictions").mkdir(exist_ok=True)
        return evaluate(path.parent.parent, "--predictions", path.parent.parent / "predictions")

    def mutations(path: Path) -> Exit:
        return cli("score-variants", *tiny, "--sequence", "MKTAYIAKQRQISFVKSHFSRQ", "--mutations", path,
                   "-o", path.parent / "scored.csv", "--no-progress")

    return [
        Case("cli-predict-fasta-utf16", "contacts predict INPUT", from_file(shared("msas", "few_proteins.fasta"),
             "in.fasta", utf16), lambda p: cli("predict", *tiny, p, "-o", p.parent / "out", "--no-progress"),
             expect="exit 1", says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("cli-finetune-fasta-binary", "contacts finetune --fasta", write("train.fasta", binary()),
             lambda p: cli("finetune", *tiny, "--fasta", p, "-o", p.parent / "out", "--steps", "1", "--no-progress"),
             expect="exit 1", says=("not a UTF-8 text file",)),
        Case("cli-score-variants-fasta-latin1", "contacts score-variants --fasta",
             write("wt.fasta", b">wt \x91quoted\x92\nMKTAYIAKQRQ\n"),
             lambda p: cli("score-variants", *tiny, "--fasta", p, "--mutations", p, "-o", p.parent / "s.csv",
                           "--no-progress"), expect="exit 1", says=("not a UTF-8 text file (byte 0x91 at offset 4",)),
        Case("cli-score-variants-huge-field", "contacts score-variants --mutations",
             write("dms.csv", b"mutant,note\nA4G," + b"x" * 200_000 + b"\n"), mutations, expect="exit 1",
             says=("line 2", "131,072")),
        Case("cli-score-variants-mutations-utf16", "contacts score-variants --mutations",
             write("dms.csv", "mutant\nA4G\n".encode("utf-16")), mutations, expect="exit 1",
             says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("cli-evaluate-mmcif-truncated", "contacts evaluate --structures",
             lambda f: _structures(f, _before_atoms(cif)), evaluate_structures, expect="exit 1",
             says=("no _atom_site category",)),
        Case("cli-evaluate-npy-inf", "contacts evaluate --predictions",
             lambda f: _predictions(f, "1LCD.npy", _npy(np.full((51, 51), np.inf))), evaluate_predictions,
             expect="exit 1", says=("infinite",)),
        Case("cli-evaluate-npz-plain-npy", "contacts evaluate --predictions",
             lambda f: _predictions(f, "1LCD.npz", _npy(np.zeros((51, 51)))), evaluate_predictions,
             expect="exit 1", says=("not an .npz (zip) archive",)),
        Case("cli-evaluate-rr-nan", "contacts evaluate --predictions",
             lambda f: _predictions(f, "1LCD.rr", b"PFRMAT RR\nMODEL 1\n1 9 nan 8 0.5\nEND\n"),
             evaluate_predictions, expect="exit 1", says=("line 3", "must be finite")),
        Case("cli-evaluate-a3m-digits", "contacts evaluate --msa",
             lambda f: _predictions(f, "1LCD.a3m", b">q\nMK7LV\n"),
             lambda p: evaluate(p.parent.parent, "--msa", p.parent, structures="structures/1LCD.cif", skip=False),
             expect="exit 1",
             says=("character '7' at column 3",)),
        Case("cli-evaluate-manifest-file-twice", "contacts evaluate --manifest",
             lambda f: write("m.tsv", manifest_twice)(f) if _structures(f) else None,
             lambda p: evaluate(p.parent, "--manifest", p, "--predictions", p.parent), expect="exit 1",
             says=("line 4", "listed a second time")),
        Case("cli-evaluate-domains-utf16", "contacts evaluate --domains",
             lambda f: from_file(made_domains, "d.tsv", utf16)(f) if _structures(f) else None,
             lambda p: evaluate(p.parent, "--domains", p, "--predictions", p.parent), expect="exit 1",
             says=("not a UTF-8 text file (byte 0xff at offset 0",)),
        Case("cli-evaluate-record-json-list", "contacts evaluate --output",
             lambda f: _predictions(f, "1LCD.npy", _npy(np.zeros((51, 51)))) and write("ev.run.json", b"[]")(f),
             lambda p: evaluate(p.parent, "--predictions", p.parent / "predictions"),
             expect="exit 1", says=("a run record must be a JSON object",)),
        Case("cli-predict-record-json-list", "contacts predict -o (run record)",
             lambda f: write("out/contacts-run.json", b"[]")(f),
             lambda p: cli("predict", *tiny, "MKTAYIAKQRQ", "-o", p.parent, "--no-progress"), expect="exit 1",
             says=("a run record must be a JSON object",)),
        Case("cli-train-probe-mmcif-truncated", "contacts train-probe --structures",
             lambda f: _structures(f, _before_atoms(cif)),
             lambda p: cli("train-probe", *tiny, "--structures", p.parent, "--split", "all", "-o",
                           p.parent.parent / "probe.pt", "--no-progress"), expect="exit 1",
             says=("no _atom_site category",)),
        Case("cli-train-probe-manifest-short-row", "contacts train-probe --structures (MANIFEST.tsv)",
             lambda f: _structures(f, manifest_short, name="MANIFEST.tsv"),
             lambda p: cli("train-probe", *tiny, "--structures", p.parent, "-o", p.parent.parent / "probe.pt",
                           "--no-progress"), expect="exit 1", says=("line 2", "1 field(s), the header has 3")),
        Case("cli-analyze-heads-mmcif-truncated", "contacts analyze-heads --structures",
             lambda f: _structures(f, _before_atoms(cif)),
             lambda p: cli("analyze-heads", *tiny, "--structures", p.parent, "--split", "all", "-o",
                           p.parent.parent / "report", "--no-progress", "--no-probing"), expect="exit 1",
             says=("no _atom_site category",)),
        Case("cli-fill-mask-model-random-bytes", "contacts fill-mask --model", write("model.pt", binary()),
             lambda p: cli("fill-mask", "--model", p, "--device", "cpu", "MK<mask>"), expect="exit 1",
             says=("not a PyTorch file",)),
        Case("cli-predict-regression-nan", "contacts predict --regression", write("r.pt", lambda f: _saved(
            {"model": {WEIGHT_KEY: torch.full((1, 8), float("nan")), BIAS_KEY: torch.zeros(1)}})),
             lambda p: cli("predict", *tiny, "--regression", p, "MKTAYIAKQRQ", "-o", p.parent / "out",
                           "--no-progress"), expect="exit 1", says=("finite",)),
        Case("cli-evaluate-model-mmcif-truncated", "contacts evaluate --model --structures",
             lambda f: _structures(f, _before_atoms(cif)),
             lambda p: evaluate(p.parent.parent, *tiny), expect="exit 1", says=("no _atom_site category",),
             leaves_nothing=("ev.csv", "ev.json")),
        Case("cli-evaluate-split-all", "contacts evaluate --split all",
             lambda f: _predictions(f, "1LCD.npy", _npy(np.zeros((51, 51)))),
             lambda p: evaluate(p.parent.parent, "--predictions", p.parent, "--split", "all"), expect="exit 0"),
        Case("cli-evaluate-manifest-names-missing-file", "contacts evaluate --structures (MANIFEST.tsv)",
             lambda f: _structures(f, manifest_missing, name="MANIFEST.tsv"), evaluate_structures,
             expect="exit 1", says=("names '9XYZ.cif', not found in",)),
        Case("cli-evaluate-manifest-option-names-missing-file", "contacts evaluate --manifest",
             lambda f: write("m.tsv", manifest_missing)(f) if _structures(f) else None,
             lambda p: evaluate(p.parent, "--manifest", p, "--predictions", p.parent), expect="exit 1",
             says=("names '9XYZ.cif', not found in",)),
        Case("cli-evaluate-manifest-directory", "contacts evaluate --manifest",
             lambda f: a_directory("m.tsv")(f) if _structures(f) else None,
             lambda p: evaluate(p.parent, "--manifest", p, "--predictions", p.parent), expect="exit 1",
             says=("is a folder",)),
        Case("cli-score-variants-mutations-symlink-loop", "contacts score-variants --mutations",
             symlink_loop("dms.csv"), mutations, expect="exit 1", says=("too many levels of symbolic links",)),
        Case("cli-score-variants-mutations-latin1", "contacts score-variants --mutations",
             write("dms.csv", b"mutant,note\nA4G,\x91hot\x92\n"), mutations, expect="exit 1",
             says=("not a UTF-8 text file (byte 0x91 at offset 16",)),
        Case("cli-predict-60000-residues", "contacts predict INPUT", write("long.fasta", b">long\n" + b"A" * 60_000),
             lambda p: cli("predict", *tiny, p, "-o", p.parent / "out", "--no-progress"), expect="exit 1",
             says=("long: 60,000 residues", "40,000"), leaves_nothing=("out",), block=True),
        Case("cli-analyze-heads-probe-heads-outside", "contacts analyze-heads --probe",
             lambda f: write("probe.pt", lambda _: _saved({"model": {
                 WEIGHT_KEY: torch.ones(1, 33 * 20), BIAS_KEY: torch.zeros(1)}}))(f) if _structures(f) else None,
             lambda p: cli("analyze-heads", *tiny, "--structures", p.parent / "structures", "--split", "all",
                           "--probe", p, "-o", p.parent / "report", "--no-progress", "--no-probing"),
             expect="exit 1", says=("probe.pt",), leaves_nothing=("report",)),
        Case("cli-fill-mask-huggingface-config-list", "contacts fill-mask --model (a folder)",
             lambda f: _hf_changed(f, "config.json", b"[]\n"),
             lambda p: cli("fill-mask", "--model", p.parent, "--device", "cpu", "MK<mask>"), expect="exit 1",
             says=("config.json", "not a JSON array")),
        # end to end, in a fresh interpreter: the exit code and the one line a pipeline sees
        Case("process-predict-fasta-gz-truncated", "python -m contacts predict INPUT",
             from_file(shared("msas", "few_proteins.fasta"), "in.fasta.gz", gzip_truncated),
             lambda p: command("predict", *tiny, p, "-o", p.parent / "out", "--no-progress"), expect="exit 1",
             says=("truncated gzip file",)),
        Case("process-evaluate-mmcif-truncated", "python -m contacts evaluate --structures",
             lambda f: _structures(f, _before_atoms(cif)),
             lambda p: command("evaluate", "--structures", p.parent, "--predictions", p.parent, "--skip-missing",
                               "--no-progress", "--output", p.parent.parent / "ev"), expect="exit 1",
             says=("no _atom_site category",)),
        Case("process-train-probe-manifest-short-row", "python -m contacts train-probe --structures",
             lambda f: _structures(f, manifest_short, name="MANIFEST.tsv"),
             lambda p: command("train-probe", *tiny, "--structures", p.parent, "-o", p.parent.parent / "probe.pt",
                               "--no-progress"), expect="exit 1", says=("line 2", "1 field(s)")),
        Case("process-fill-mask-model-random-bytes", "python -m contacts fill-mask --model", write("model.pt", binary()),
             lambda p: command("fill-mask", "--model", p, "--device", "cpu", "MK<mask>"), expect="exit 1",
             says=("not a PyTorch file",)),
        Case("process-score-variants-huge-field", "python -m contacts score-variants --mutations",
             write("dms.csv", b"mutant,note\nA4G," + b"x" * 200_000 + b"\n"),
             lambda p: command("score-variants", *tiny, "--sequence", "MKTAYIAKQRQ", "--mutations", p, "-o",
                               p.parent / "scored.csv", "--no-progress"), expect="exit 1", says=("line 2", "131,072")),
    ]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A ``.npy`` header announcing ``shape`` of float64, and 8 bytes of data: the limit must be seen from the header."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(8)


def _npz(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, contacts=array)
    return buffer.getvalue()


def _first_contact(lines: list[str]) -> str:
    return next(line for line in lines if re.match(r"^\d+ \d+ ", line))


def _reversed(line: str) -> str:
    i, j, *rest = line.split()
    return " ".join([j, i, *rest])


def _atom_site_lines(text: str) -> tuple[list[str], int, int]:
    """The lines of an mmCIF, the index of its first ``_atom_site.`` key and of its first atom row."""
    lines = text.split("\n")
    first_key = next(n for n, line in enumerate(lines) if line.startswith("_atom_site."))
    first_row = next(n for n in range(first_key, len(lines)) if not lines[n].startswith("_atom_site."))
    return lines, first_key, first_row


def _atom_keys(lines: list[str], first_key: int, first_row: int) -> list[str]:
    return [lines[n].split(".", 1)[1].strip() for n in range(first_key, first_row)]


def _before_atoms(data: bytes) -> bytes:
    """The file cut before the ``loop_`` of its atoms (a download that stopped there)."""
    return data[: data.rindex(b"loop_", 0, data.index(b"_atom_site."))]


def _cut_in_atoms(data: bytes) -> bytes:
    lines, _, first_row = _atom_site_lines(data.decode())
    return "\n".join(lines[: first_row + 40]).encode()[:-20]


def _without_field(field: str) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        lines, first_key, first_row = _atom_site_lines(data.decode())
        keys = _atom_keys(lines, first_key, first_row)
        drop = keys.index(field)
        out = lines[:first_key] + [line for n, line in enumerate(lines[first_key:first_row]) if n != drop]
        for line in lines[first_row:]:
            if line.startswith(("ATOM", "HETATM")):
                fields = line.split()
                line = " ".join(fields[:drop] + fields[drop + 1:])
            out.append(line)
        return "\n".join(out).encode()

    return change


#: Residue names of protein atoms (1LCD starts with DNA: the cases change the protein chain's atoms).
_AMINO = re.compile(r"\b(ALA|ARG|ASN|ASP|CYS|GLN|GLU|GLY|HIS|ILE|LEU|LYS|MET|PHE|PRO|SER|THR|TRP|TYR|VAL)\b")


def _protein_rows(lines: list[str], first_row: int) -> list[int]:
    return [n for n in range(first_row, len(lines)) if lines[n].startswith("ATOM") and _AMINO.search(lines[n])]


def _set_atom_field(field: str, value: str, rows: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        lines, first_key, first_row = _atom_site_lines(data.decode())
        keys = _atom_keys(lines, first_key, first_row)
        at = keys.index(field)
        done = 0
        for n in _protein_rows(lines, first_row):
            if done == rows:
                break
            fields = lines[n].split()
            fields[at] = value
            lines[n] = " ".join(fields)
            done += 1
        return "\n".join(lines).encode()

    return change


def _unknown_coordinates(data: bytes) -> bytes:
    for name in ("Cartn_x", "Cartn_y", "Cartn_z"):
        data = _set_atom_field(name, "?", 8)(data)
    return data


_nan_coordinates = _set_atom_field("Cartn_x", "nan", 1)


def _first_atom_twice(data: bytes) -> bytes:
    lines, _, first_row = _atom_site_lines(data.decode())
    at = _protein_rows(lines, first_row)[0]
    return "\n".join([*lines[: at + 1], lines[at], *lines[at + 1:]]).encode()


def _pdb_lines(data: bytes) -> list[str]:
    return data.decode().split("\n")


def _pdb_nan_ca(data: bytes) -> bytes:
    lines = _pdb_lines(data)
    at = next(n for n, line in enumerate(lines) if line.startswith("ATOM") and line[12:16] == " CA ")
    lines[at] = lines[at][:30] + f"{'nan':>8}" + lines[at][38:]
    return "\n".join(lines).encode()


def _atom_block_twice(data: bytes) -> bytes:
    """Model 1's ATOM records written again after themselves (as a careless concatenation does)."""
    lines = _pdb_lines(data)
    atoms = [n for n, line in enumerate(lines) if line.startswith("ATOM")]
    end = next((n for n in range(atoms[0], len(lines)) if lines[n].startswith(("ENDMDL", "TER"))), atoms[-1] + 1)
    block = [line for line in lines[atoms[0]:end] if line.startswith("ATOM")]
    return "\n".join([*lines[:end], *block, *lines[end:]]).encode()


def _ca_only(data: bytes) -> bytes:
    return "\n".join(line for line in _pdb_lines(data)
                     if not line.startswith(("ATOM", "HETATM")) or line[12:16] == " CA ").encode()


def _pdb_short_line(data: bytes) -> bytes:
    lines = _pdb_lines(data)
    at = next(n for n, line in enumerate(lines) if line.startswith("ATOM"))
    lines[at] = lines[at][:40]
    return "\n".join(lines).encode()


def catalogue() -> list[Case]:
    """Every case, in table order (built on each call: makers hold no state)."""
    return _catalogue()
