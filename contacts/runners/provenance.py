"""Where outputs came from: the model named by content hashes, sequences by hash, the package version.

:func:`model_identity` is what a run record's ``model`` holds (its source, the SHA-256
of its weights and of its contact regression); the run records themselves, and how a
rerun compares them, are :mod:`contacts.runners.runfolder`'s.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib import metadata
from pathlib import Path

import torch

from ..encoder.families import FOLDER_FILE_SUFFIXES, NAMED, NAMED_FILES, PRESETS
from ..encoder.hub import RELEASES, cache_dir, fetch_hub, is_hub_id
from ..io.hashing import sha256_file, sha256_files, sha256_tensors
from ..predictor.core import RANDOM_PREFIX, Predictor


@functools.cache
def package_version() -> str:
    """This package's installed version ("unknown" when not installed); read once (each read parses metadata
    files, a few milliseconds: too much for every record of a run)."""
    try:
        return metadata.version("esm-contacts")
    except metadata.PackageNotFoundError:
        return "unknown"


def environment() -> dict:
    """The package and torch versions, and the devices torch sees here (what ``contacts --version`` prints)."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        devices.append(f"cuda ({len(names)} GPU{'s' * (len(names) > 1)}: {', '.join(dict.fromkeys(names))}; "
                       f"CUDA {torch.version.cuda or torch.version.hip})")
    else:
        devices.append("no cuda" + (" (this torch build has none)" if torch.version.cuda is None
                                    and torch.version.hip is None else " (no GPU visible)"))
    devices.append("mps" if torch.backends.mps.is_available() else "no mps")
    return {"contacts": package_version(), "torch": str(torch.__version__), "devices": ", ".join(devices)}


def sequence_sha256(sequence: str) -> str:
    """Hex SHA-256 of a sequence as the model reads it (whitespace dropped, upper case)."""
    return hashlib.sha256("".join(sequence.split()).upper().encode()).hexdigest()


def model_files(source: str | os.PathLike, regression: str | os.PathLike | None = None, *,
                revision: str | None = None) -> tuple[list[Path], Path | None]:
    """The files :func:`contacts.load_model` reads for ``source``: weights, and the regression file or None.

    No weights are read, nothing is downloaded. For a release name the paths are those of the
    cache (which may not exist yet); for a Hub id (at ``revision``, default ``main``)
    those of its snapshot in the HuggingFace cache (:class:`~contacts.encoder.hub.DownloadError`
    where it has none); ``random:PRESET`` has no files.
    """
    text = str(source)
    if text.startswith(RANDOM_PREFIX):
        return [], Path(regression) if regression is not None else None
    path = Path(source)
    if is_hub_id(text):  # owner/name that is no path here
        path = fetch_hub(text, revision=revision, progress=False, download=False)
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
                   model: Predictor | None = None, *, revision: str | None = None) -> dict:
    """The model as a run record names it: its source and content hashes of its weights and regression.

    Files are hashed as they lie on disk. A Hub id's record adds the ``revision`` its snapshot
    holds (the commit ``revision``, default ``main``, resolved to). ``random:PRESET`` (seeded, the same everywhere)
    hashes the float32 weights the seed gives (:meth:`Predictor.weights_sha256`, taken
    before any cast, so that a dtype change reads as a dtype change, never as other
    weights). A regression stored inside
    the weights (HuggingFace folders) has ``regression_sha256`` None and
    ``regression`` ``"in the weights"``.
    """
    weights, reg = model_files(source, regression, revision=revision)
    identity = {"source": str(source)}
    if str(source).startswith(RANDOM_PREFIX):
        preset = str(source)[len(RANDOM_PREFIX):]
        if model is None:
            if preset not in PRESETS:
                raise ValueError(f"unknown preset {preset!r} in {str(source)!r}; presets: {sorted(PRESETS)}")
            model = Predictor.random(preset, device="cpu")
        identity["weights_sha256"] = model.weights_sha256()
        if reg is not None:
            identity["regression_sha256"], identity["regression"] = sha256_file(reg), str(reg)
        else:
            identity["regression_sha256"] = sha256_tensors(model.regression_state()) if model.regression else None
        return identity
    hub = is_hub_id(source)
    if hub:  # its snapshot folder is named by its commit
        identity["revision"] = weights[0].parent.name
    identity["weights_sha256"] = sha256_files(weights) if len(weights) > 1 else sha256_file(weights[0])
    identity["regression_sha256"] = sha256_file(reg) if reg is not None else None
    if reg is not None:
        identity["regression"] = str(reg)
    elif hub or Path(source).is_dir():
        identity["regression"] = "in the weights"
    return identity


def without_regression(identity: dict) -> dict:
    """A model identity for a method that reads no regression (the categorical Jacobian): the same weights, no
    regression named, so that a changed or missing regression never reads as a changed run."""
    return {**{k: v for k, v in identity.items() if k != "regression"}, "regression_sha256": None}


__all__ = ["environment", "model_files", "model_identity", "package_version", "sequence_sha256", "sha256_file",
           "sha256_files", "sha256_tensors", "without_regression"]
