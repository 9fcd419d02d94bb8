"""What every command shares: the model options, loading, inputs and outputs, the error vocabulary, exit codes.

Exit codes (:data:`EXIT_OK` ...): 0 done; 1 a user error, reported on one line that names
the flag as typed, the value and what to do (``contacts predict: error: ...``); 2 a usage
error (an unknown option, a missing argument, a value its option cannot read), one line
too; 130 Ctrl-C; 70 a bug (an exception the package did not expect: one line saying so).
``--debug`` (or ``CONTACTS_DEBUG=1``) adds the traceback.

:func:`error_line` is the one place where exceptions become words: the package's own
errors and ``ValueError`` say what they say, OS errors are translated into plain words
naming the file (:data:`OS_WORDS`), anything else is a bug. Readers that raise the
package's own error types (issue 26) need no change here; a new kind of error that needs
words of its own gets them in :func:`error_line`.

:func:`check_model_options` finds what is knowable before any work: a regression
file that is not there, a device this machine lacks, a model source that is
neither a file, a folder, a release name nor ``random:PRESET``.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import warnings
from pathlib import Path

import contacts

DTYPES = ("float32", "float16", "bfloat16", "auto")

EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: An exception the package did not expect (sysexits.h's EX_SOFTWARE, "internal software error").
EXIT_BUG = 70
DEBUG_ENV = "CONTACTS_DEBUG"
TRY_RANDOM = "--model random:tiny tries the tools with random weights"
#: OS errors in plain words.
OS_WORDS = {
    errno.ENOENT: "no such file or folder", errno.EEXIST: "file exists", errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EACCES: "permission denied",
    errno.EPERM: "permission denied", errno.ENOSPC: "disk full (no space left on the device)",
    errno.EDQUOT: "disk quota exceeded", errno.ELOOP: "too many levels of symbolic links",
    errno.EROFS: "read-only file system", errno.ENAMETOOLONG: "file name too long",
    errno.ENOTEMPTY: "folder not empty", errno.EXDEV: "on another file system",
}
# Names that read as a file rather than a sequence typed on the command line.
_FILE_LIKE = re.compile(r"[/\\]|\.(fa|fasta|faa|fas|fna|ffn|seq|txt|gz|a3m|aln)$", re.IGNORECASE)


class UserError(ValueError):
    """Bad input found by the command line itself (reported on one line, exit 1)."""


def debug_requested(args: argparse.Namespace | None = None) -> bool:
    """``--debug`` given, or ``$CONTACTS_DEBUG`` set to anything but empty or 0."""
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def add_model_arguments(parser: argparse.ArgumentParser, *, model_group=None, required: bool = True,
                        regression_help: str | None = None) -> None:
    """``--model``, ``--revision``, ``--regression``, ``--device`` and ``--dtype``: the same on every command that
    loads a model.

    ``model_group`` puts ``--model`` in a mutually exclusive group (``evaluate``
    takes a model or prediction files or alignments).
    """
    (model_group or parser).add_argument(
        "--model", required=required and model_group is None, metavar="SOURCE",
        help="release .pt file; transformers folder or Hub id of an ESM, BERT, RoBERTa or T5 encoder (e.g. "
             "facebook/esm2_t33_650M_UR50D, Rostlab/prot_bert); release name (e.g. esm1b_t33_650M_UR50S); "
             "antiberty (the antiberty package's trained weights); or random:PRESET")
    parser.add_argument("--revision", metavar="REV",
                        help="branch, tag or commit of a HuggingFace Hub id (default main); the run record names "
                             "the commit it resolved to")
    parser.add_argument("--regression", metavar="PATH",
                        help=regression_help or "contact-regression file (default: the one beside the model)")
    parser.add_argument("--device", help="cpu, cuda, mps (default: cuda when available)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="weights and activations (default float32). Softmax, APC and the regression "
                        "stay float32; contacts then move by up to about 0.001 (float16) or 0.01 (bfloat16) "
                        "from float32's, see docs/benchmarks.md. float16 on GPUs, bfloat16 on CPUs; auto: "
                        "float16 on a CUDA GPU with tensor cores, else float32 (the run record names the choice)")


def dtype_name(model) -> str:
    """The dtype a loaded model runs in, as run records name it (``--dtype auto`` resolved): ``float16``."""
    return str(model.dtype).removeprefix("torch.")


def check_device_option(device: str) -> None:
    """A ``--device`` that is misspelt or absent on this machine, refused in one line."""
    try:
        contacts.predictor.core.check_device(device)
    except ValueError as exc:
        raise UserError(f"--device {device}: {exc}") from None


def check_model_options(args: argparse.Namespace, *, needs_regression: bool = True, here: bool = True) -> None:
    """Refuse, before loading anything, the model options that cannot work.

    A ``--regression`` that is not a file; a release ``.pt`` without a regression beside
    it where contacts are asked for; a ``--device`` that is misspelt or absent here; a
    ``--model`` that names nothing; a ``--revision`` of a model that is no Hub id. With
    ``here=False`` (Ray: the workers load the model, on their machines) only the device's
    spelling and the revision are checked.
    """
    if args.revision is not None and not contacts.encoder.hub.is_hub_id(str(args.model)):
        raise UserError(f"--revision {args.revision}: only a HuggingFace Hub id (--model OWNER/NAME) has revisions, "
                        f"not --model {args.model}")
    if args.device is not None and (here or str(args.device).split(":")[0] not in ("cpu", "cuda", "mps")):
        check_device_option(args.device)  # on Ray only a misspelling is refused here
    if not here:
        return
    if args.regression is not None:
        existing_file(args.regression, "--regression")
    source = str(args.model)
    if source.startswith("random:"):
        preset = source.removeprefix("random:")
        if preset not in contacts.encoder.families.PRESETS:
            raise UserError(f"--model {source}: no preset {preset!r}; presets: "
                            f"{', '.join(sorted(contacts.encoder.families.PRESETS))}")
        return
    if source in contacts.encoder.families.NAMED and not Path(source).exists():
        if needs_regression and args.regression is None:
            raise UserError(_no_regression(source))  # named models ship no contact regression
        return
    path = Path(source)
    if path.is_file():
        beside = path.with_name(f"{path.name.removesuffix('.pt')}-contact-regression.pt")
        if needs_regression and args.regression is None and not beside.exists():
            raise UserError(f"--model {source} has no contact-regression file beside it (expected {beside}); "
                            "pass --regression PATH")
    elif path.is_dir():
        if needs_regression and args.regression is None and _model_type(path) not in (None, "esm"):
            raise UserError(_no_regression(source))  # only ESM folders carry a contact head
    elif os.path.lexists(source):  # there, yet neither file nor folder: a symbolic-link loop or a dangling link
        existing_file(source, "--model", folder_ok=True)
    elif source not in contacts.encoder.hub.RELEASES and not contacts.encoder.hub.is_hub_id(source):
        raise UserError(f"--model {source}: no such file or folder, not a release name "
                        f"({', '.join(sorted(contacts.encoder.hub.RELEASES))}), not a named model "
                        f"({', '.join(sorted(contacts.encoder.families.NAMED))}) and not a HuggingFace Hub id "
                        f"(OWNER/NAME); {TRY_RANDOM}")


def _no_regression(source: str) -> str:
    return (f"--model {source} comes without contact-regression weights; pass --regression PATH "
            f"(a probe trained for it with contacts train-probe --model {source})")


def _model_type(folder: Path) -> str | None:
    """``model_type`` of a model folder's config.json (None where unreadable: the loader says why)."""
    try:
        return contacts.encoder.family.read_hf_config(folder).get("model_type")
    except (OSError, ValueError):
        return None


def load(args: argparse.Namespace, *, needs_regression: bool = True):
    """The model the options name; without the missing-regression warning where contacts are not asked for.

    Offline, a release name whose files are not in the cache fails with one message naming
    every missing file it needs (the regression only where contacts are asked for), the
    URLs to fetch them from, and the ``random:PRESET`` way to try the tools.
    """
    check_model_options(args, needs_regression=needs_regression)
    source = str(args.model)
    hub = contacts.encoder.hub
    if source in hub.RELEASES and not Path(source).exists():
        weights, regression = contacts.runners.provenance.model_files(source, args.regression)
        wanted = [*weights, *([regression] if needs_regression and args.regression is None else [])]
        missing = [p for p in wanted if p is not None and not p.exists()]
        if missing:
            try:
                hub.fetch_release(source)
            except hub.DownloadError as exc:
                urls = {Path(t.format(name=source)).name: f"{hub.RELEASE_BASE_URL}/{t.format(name=source)}"
                        for t in hub.RELEASES[source]}
                raise UserError(
                    f"--model {source}: {' and '.join(map(str, missing))} {'is' if len(missing) == 1 else 'are'} not "
                    f"here and could not be downloaded ({str(exc).split(' (', 1)[-1].split(')', 1)[0]}); on a machine "
                    f"with network access fetch {' and '.join(urls[p.name] for p in missing)}, then put "
                    f"{'it' if len(missing) == 1 else 'them'} there (or point ${hub.CACHE_ENV} at a folder holding "
                    f"{'it' if len(missing) == 1 else 'them'}; docs/weights.md), or {TRY_RANDOM}") from None
    with warnings.catch_warnings():
        if not needs_regression:
            warnings.simplefilter("ignore", UserWarning)
        model = contacts.load_model(args.model, regression=args.regression, device=args.device, dtype=args.dtype,
                                    revision=args.revision)
    if needs_regression and model.regression is None:
        raise UserError(_no_regression(source))
    return model


def run_settings(args: argparse.Namespace, options: dict, model=None) -> dict:
    """What a run record compares: the model (:func:`contacts.runners.provenance.model_identity`) and ``options``."""
    identity = None
    if getattr(args, "model", None):
        identity = contacts.runners.provenance.model_identity(args.model, getattr(args, "regression", None),
                                                              model=model, revision=getattr(args, "revision", None))
    return {"model": identity, "options": options}


def add_jacobian_arguments(parser: argparse.ArgumentParser) -> None:
    """``--center`` and ``--no-apc``: the options of ``--method jacobian``, the same on predict and evaluate."""
    parser.add_argument("--center", choices=contacts.constants.JACOBIAN_CENTERS,
                        help="with --method jacobian: centre the Jacobian over all four axes (iajb, the default, as "
                             "the paper) or each 20 x 20 block (ab)")
    parser.add_argument("--no-apc", action="store_true", help="with --method jacobian: no APC after symmetrizing")


def jacobian_options(args: argparse.Namespace, method: str | None) -> dict | None:
    """``center`` and ``apc`` of ``--method jacobian`` (None for another method, where either flag is refused)."""
    if method == "jacobian":
        return {"center": args.center or "iajb", "apc": not args.no_apc}
    for flag, given in (("--center", args.center is not None), ("--no-apc", args.no_apc)):
        if given:
            raise UserError(f"{flag} needs --method jacobian")
    return None


def add_overwrite_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--overwrite``, the same on every command that writes files (the run-folder contract)."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"remove every file the previous run of this command wrote in {what} (its run record "
                             "lists them) and run again, also with another model or options")


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    return _int_at_least(value, 1)


def nonnegative_int(value: str) -> int:
    """An argparse type: an integer of at least 0."""
    return _int_at_least(value, 0)


def _int_at_least(value: str, low: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < low:
        raise argparse.ArgumentTypeError(f"{number} must be at least {low}")
    return number


def records(value: str):
    """FASTA records from a file, or one record from a sequence typed on the command line.

    A value that reads as a file name (a path separator, a FASTA-like suffix) and is not
    there is "no such file"; anything else not a file is taken as a sequence, which the
    input check then reads (naming each gap or bad character).
    """
    path = Path(value)
    if path.is_file():
        return contacts.io.fasta.read_fasta(value)
    if path.is_dir():
        raise UserError(f"{value}: is a folder; INPUT takes a FASTA file or a protein sequence")
    if os.path.lexists(value):  # a name that is there but is no file: a symbolic-link loop or a dangling link
        path.stat()  # the operating system's error, said in plain words
    if _FILE_LIKE.search(value) or not re.fullmatch(r"[A-Za-z*.\-\s]+", value.replace("<mask>", "")):
        raise UserError(f"{value}: no such file (INPUT takes a FASTA file or a protein sequence)")
    return [contacts.io.fasta.FastaRecord("sequence", "sequence (command line)", value)]


def existing_file(value, flag: str, *, folder_ok: bool = False) -> Path:
    """An input path that must be there: refused in one line naming the flag (``--fasta x: no such file``)."""
    path = Path(value)
    try:
        path.stat()
    except FileNotFoundError:
        raise UserError(f"{flag} {value}: no such file" + (" or folder" if folder_ok else "")) from None
    except OSError as exc:  # a symbolic-link loop, a part of the path that is a file: said by the OS, in plain words
        raise UserError(f"{flag} {error_line(exc)}") from None
    if path.is_dir() and not folder_ok:
        raise UserError(f"{flag} {value}: is a folder; give a file")
    return path


def existing_folder(value, flag: str) -> Path:
    """An input folder that must be there: refused in one line naming the flag (``--msa x: no such folder; ...``)."""
    path = Path(value)
    try:
        path.stat()
    except FileNotFoundError:
        raise UserError(f"{flag} {value}: no such folder; give the folder that holds the files") from None
    except OSError as exc:  # a symbolic-link loop, a part of the path that is a file: said by the OS, in plain words
        raise UserError(f"{flag} {error_line(exc)}") from None
    if not path.is_dir():
        raise UserError(f"{flag} {value}: is a file; give the folder that holds the files")
    return path


def domain_table(value: str | None) -> str | None:
    """``--domains``: a table the package ships, by name, else a file that must be there (a folder, a symbolic-link
    loop refused in plain words)."""
    shipped = contacts.io.domains.PACKAGE_DOMAINS
    if value is None or (value in shipped and not os.path.lexists(value)):
        return value
    if not os.path.lexists(value):
        raise UserError(f"--domains {value}: no such file, and not a table the package ships "
                        f"({', '.join(sorted(shipped))})")
    existing_file(value, "--domains")
    return value


def output_folder(value, flag: str = "-o") -> Path:
    """An output folder: refused where the path is a file (or lies under one)."""
    path = Path(value)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise UserError(f"{flag} {value}: {part} is a file, not a folder; choose a folder for the outputs")
        if part.exists():
            break
    return path


def output_file(value, flag: str = "-o") -> Path:
    """An output file: refused where the path is a folder (or lies under a file)."""
    path = Path(value)
    if path.is_dir():
        raise UserError(f"{flag} {value}: is a folder; name the file to write")
    output_folder(path.parent, flag)
    return path


def check_window(flag_window: int | None, overlap: int | None, limit: int | None = None) -> None:
    """``--window`` within the model's limit and ``--overlap`` below the window, in one line naming the flags."""
    window = flag_window if flag_window is not None else limit
    if limit is not None and flag_window is not None and flag_window > limit:
        raise UserError(f"--window {flag_window} is more than the model's {limit} residues; choose 1..{limit}")
    if window is not None and overlap is not None and overlap >= window:
        where = f"--window {window}" if flag_window is not None else f"the model's window of {window} (--window)"
        raise UserError(f"--overlap {overlap} must be in 0..{window - 1} for {where}")


#: The folders of the package's own code: a ValueError raised there is a refusal, one raised inside a library a bug.
PACKAGE_FOLDERS = (Path(contacts.__file__).resolve().parent, Path(contacts.__file__).resolve().parent.parent / "probes")


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that may mean bad input rather than a bug (see :func:`is_user_error` for which do).

    The package's own errors are ``ValueError`` or ``OSError`` subclasses (or listed
    here); read when a command has failed, so the classes behind them are loaded by then.
    """
    return (ValueError, OSError, contacts.MissingRegressionError,
            contacts.runners.distributed.DistributedError, contacts.encoder.hub.DownloadError)


def is_user_error(exc: BaseException) -> bool:
    """Bad input rather than a bug: the package's own error types (any module of ``contacts`` or ``probes``), an
    ``OSError``, or a plain ``ValueError`` the package itself raised. A ``ValueError`` (``UnicodeDecodeError``,
    ``JSONDecodeError`` ...) raised inside a library, a ``KeyError``, ``IndexError`` or ``TypeError`` is one the
    package did not expect: a bug."""
    if not isinstance(exc, user_errors()):
        return False
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("contacts", "probes"):
        return True
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return True  # raised, not yet propagated: by whoever called error_line
    where = Path(frame.tb_frame.f_code.co_filename).resolve()
    return any(where.is_relative_to(folder) for folder in PACKAGE_FOLDERS)


def error_line(exc: BaseException) -> str | None:
    """The words a user error becomes (after ``contacts COMMAND: error: ``), or None for a bug (:func:`is_user_error`).

    OS errors the operating system raised (an errno, a file name) become plain words
    naming the file: ``out/a.npy: permission denied``, ``out: disk full (no space left on
    the device)``; the package's own errors keep their message.
    """
    if not is_user_error(exc):
        return None
    if isinstance(exc, OSError) and exc.errno is not None and type(exc).__module__ == "builtins":
        words = OS_WORDS.get(exc.errno) or os.strerror(exc.errno).lower()
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        return f"{' -> '.join(names)}: {words}" if names else words
    return str(exc) or type(exc).__name__


def report(command: str, message: str, kind: str = "error") -> None:
    """``contacts COMMAND: KIND: message`` on standard error (``kind`` empty: no kind)."""
    print(f"contacts {command}: {kind + ': ' if kind else ''}{message}", file=sys.stderr)


__all__ = ["DEBUG_ENV", "DTYPES", "EXIT_BUG", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "EXIT_USER_ERROR",
           "OS_WORDS", "PACKAGE_FOLDERS", "UserError", "add_jacobian_arguments", "add_model_arguments",
           "add_overwrite_argument", "check_model_options", "check_window", "debug_requested", "domain_table",
           "dtype_name", "error_line", "existing_file", "existing_folder", "is_user_error", "jacobian_options", "load",
           "nonnegative_int", "output_file", "output_folder", "positive_int", "records", "report", "run_settings",
           "user_errors"]
