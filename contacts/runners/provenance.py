"""Where outputs came from: run records (JSON) naming the model by content hash, the package
version and the options that change numbers.

Every command that writes results calls :func:`run_record` and :func:`write_run_record`
at its output writing point: ``predict`` (``OUTDIR/contacts-run.json``, and a
per-map record ``ID.json`` beside ``ID.npy``), ``evaluate`` (``PREFIX.run.json``),
``train-probe`` (in the probe's metadata and ``PROBE.pt.run.json``), ``analyze-heads``
and ``finetune`` (``OUTDIR/contacts-run.json``).

A run record::

    {"format": "contacts-run/1", "command": "predict", "contacts_version": "0.3.0",
     "created": "2026-11-26T09:00:00+00:00",
     "model": {"source": "...", "weights_sha256": "...", "regression_sha256": "..." or null},
     "options": {...the options that change numbers...},
     "records": [{"id": "...", "sequence_sha256": "...", "length": 76}, ...]}   # predict only
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import torch

from ..encoder.families import FOLDER_FILE_SUFFIXES, NAMED, NAMED_FILES, PRESETS
from ..encoder.hub import RELEASES, cache_dir
from ..io.files import atomic_write
from ..io.hashing import sha256_file, sha256_files, sha256_tensors
from ..predictor.core import RANDOM_PREFIX, Predictor

FORMAT = "contacts-run/1"
#: The run record of an output folder.
RUN_RECORD = "contacts-run.json"


class ProvenanceMismatch(ValueError):
    """An output folder was made with another model or other options than this run's."""


def package_version() -> str:
    try:
        return metadata.version("esm-contacts")
    except metadata.PackageNotFoundError:
        return "unknown"


def sequence_sha256(sequence: str) -> str:
    """Hex SHA-256 of a sequence as the model reads it (whitespace dropped, upper case)."""
    return hashlib.sha256("".join(sequence.split()).upper().encode()).hexdigest()


def model_files(source: str | os.PathLike, regression: str | os.PathLike | None = None
                ) -> tuple[list[Path], Path | None]:
    """The files :func:`contacts.load_model` reads for ``source``: weights, and the regression file or None.

    Nothing is read or downloaded. For a release name the paths are those of the
    cache (which may not exist yet); ``random:PRESET`` has no files.
    """
    text = str(source)
    if text.startswith(RANDOM_PREFIX):
        return [], Path(regression) if regression is not None else None
    path = Path(source)
    if path.is_dir():
        weights = sorted(p for p in path.iterdir() if p.suffix in FOLDER_FILE_SUFFIXES and p.is_file())
        return weights, Path(regression) if regression is not None else None
    if path.is_file():
        beside = path.with_name(f"{path.name.removesuffix('.pt')}-contact-regression.pt")
        if regression is not None:
            return [path], Path(regression)
        return [path], beside if beside.exists() else None
    if text in NAMED and not path.exists():
        return NAMED_FILES[text](), Path(regression) if regression is not None else None
    if text in RELEASES:
        names = [Path(t.format(name=text)).name for t in RELEASES[text]]
        hub = Path(torch.hub.get_dir()) / "checkpoints"
        found = [cache_dir() / n if (cache_dir() / n).exists() or not (hub / n).exists() else hub / n
                 for n in names]
        return [found[0]], Path(regression) if regression is not None else found[1]
    return [path], Path(regression) if regression is not None else None


def model_identity(source: str | os.PathLike, regression: str | os.PathLike | None = None,
                   model: Predictor | None = None) -> dict:
    """The model as a run record names it: its source and content hashes of its weights and regression.

    Files are hashed as they lie on disk. ``random:PRESET`` (seeded, the same everywhere)
    hashes the weights it builds (``model``'s if given). A regression stored inside
    the weights (HuggingFace folders) has ``regression_sha256`` None and
    ``regression`` ``"in the weights"``.
    """
    weights, reg = model_files(source, regression)
    identity = {"source": str(source)}
    if str(source).startswith(RANDOM_PREFIX):
        preset = str(source)[len(RANDOM_PREFIX):]
        if model is None:
            if preset not in PRESETS:
                raise ValueError(f"unknown preset {preset!r} in {str(source)!r}; presets: {sorted(PRESETS)}")
            model = Predictor.random(preset, device="cpu")
        identity["weights_sha256"] = sha256_tensors(model.model.state_dict())
        if reg is not None:
            identity["regression_sha256"], identity["regression"] = sha256_file(reg), str(reg)
        else:
            identity["regression_sha256"] = sha256_tensors(model.regression_state()) if model.regression else None
        return identity
    identity["weights_sha256"] = sha256_files(weights) if len(weights) > 1 else sha256_file(weights[0])
    identity["regression_sha256"] = sha256_file(reg) if reg is not None else None
    if reg is not None:
        identity["regression"] = str(reg)
    elif Path(source).is_dir():
        identity["regression"] = "in the weights"
    return identity


def run_record(command: str, model: dict | None, options: Mapping, **extra) -> dict:
    """A run record (see the module docstring); ``extra`` adds top-level fields (e.g. ``records``)."""
    record = {
        "format": FORMAT,
        "command": command,
        "contacts_version": package_version(),
        "torch_version": str(torch.__version__),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "options": dict(options),
    }
    record.update(extra)
    return record


def write_run_record(path: str | os.PathLike, record: Mapping) -> Path:
    """Write a run record as indented JSON, atomically."""
    path = Path(path)
    with atomic_write(path, "w") as fh:
        json.dump(record, fh, indent=1, sort_keys=False, default=str)
        fh.write("\n")
    return path


def read_run_record(path: str | os.PathLike) -> dict | None:
    """The run record at ``path``, or None where there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ProvenanceMismatch(f"{path} is not a readable run record ({exc}); --overwrite replaces it") from None


def differences(old: Mapping, new: Mapping) -> list[str]:
    """What differs between two run records in the fields that change numbers: the model hashes and options."""
    found = []
    old_model, new_model = old.get("model") or {}, new.get("model") or {}
    for key in ("weights_sha256", "regression_sha256"):
        if old_model.get(key) != new_model.get(key):
            what = key.removesuffix("_sha256")
            found.append(f"{what}: {old_model.get('source')!r} ({_short(old_model.get(key))}) "
                         f"-> {new_model.get('source')!r} ({_short(new_model.get(key))})")
    old_opts, new_opts = old.get("options") or {}, new.get("options") or {}
    for key in sorted(old_opts.keys() | new_opts.keys()):
        if old_opts.get(key) != new_opts.get(key):
            found.append(f"{key}: {old_opts.get(key)!r} -> {new_opts.get(key)!r}")
    return found


def _short(digest: str | None) -> str:
    return "none" if digest is None else f"sha256 {digest[:12]}"


__all__ = ["FORMAT", "RUN_RECORD", "ProvenanceMismatch", "differences", "model_files",
           "model_identity", "package_version", "read_run_record", "run_record", "sequence_sha256",
           "sha256_file", "sha256_files", "sha256_tensors", "write_run_record"]
