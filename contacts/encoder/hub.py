"""Named releases: where they are downloaded from and kept (the cache), fetched only when asked for.

A download happens only when a user names a release (``esm1b_t33_650M_UR50S``):
it goes to ``$CONTACTS_CACHE`` (default ``~/.cache/contacts``), shows progress,
is checked against its announced length and is written atomically. fair-esm's
own ``torch.hub`` cache is used where it already holds the file.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..io.files import atomic_write

__all__ = ["CACHE_ENV", "RELEASES", "RELEASE_BASE_URL", "DownloadError", "cache_dir", "download", "fetch_release"]

RELEASE_BASE_URL = "https://dl.fbaipublicfiles.com/fair-esm"
# Named models that load_model() can fetch: file names as released by fair-esm.
_RELEASE_FILES = ("models/{name}.pt", "regression/{name}-contact-regression.pt")
RELEASES = {
    name: _RELEASE_FILES
    for name in ("esm1b_t33_650M_UR50S", "esm2_t6_8M_UR50D", "esm2_t12_35M_UR50D",
                 "esm2_t30_150M_UR50D", "esm2_t33_650M_UR50D", "esm2_t36_3B_UR50D",
                 "esm2_t48_15B_UR50D")
}
CACHE_ENV = "CONTACTS_CACHE"


class DownloadError(OSError):
    """A released file could not be fetched."""


def cache_dir() -> Path:
    """Where named models are kept: ``$CONTACTS_CACHE``, else ``~/.cache/contacts``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "contacts"


def download(url: str, dest: Path, *, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` atomically (a temporary file, then a rename), with a progress bar."""
    try:
        with atomic_write(dest, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                written = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            if total is not None and written != total:
                raise DownloadError(f"{url}: got {written} of {total} bytes; try again")
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url} ({reason}). Without network access, fetch that file on a "
            f"machine that has it and put it at {dest} (or point ${CACHE_ENV} at the folder "
            f"that holds it)."
        ) from None
    return dest


def fetch_release(
    name: str, *, base_url: str = RELEASE_BASE_URL, progress: bool = True
) -> tuple[Path, Path]:
    """Paths of a named release checkpoint and its regression, downloading what is missing.

    fair-esm's own cache (``torch.hub`` checkpoints folder) is used when it already
    holds the files.
    """
    if name not in RELEASES:
        raise KeyError(f"unknown model name {name!r}; known: {sorted(RELEASES)}")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    paths = []
    for template in RELEASES[name]:
        rel = template.format(name=name)
        filename = Path(rel).name
        dest = cache_dir() / filename
        if not dest.exists() and (hub / filename).exists():
            dest = hub / filename
        if not dest.exists():
            download(f"{base_url}/{rel}", dest, progress=progress)
        paths.append(dest)
    return paths[0], paths[1]
