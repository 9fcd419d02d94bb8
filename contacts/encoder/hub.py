"""Named models: where they are downloaded from and kept (the cache), fetched only when asked for.

Two kinds of names:

* a fair-esm release (``esm1b_t33_650M_UR50S``): downloaded to ``$CONTACTS_CACHE``
  (default ``~/.cache/contacts``) with progress, checked against its announced
  length and written atomically; fair-esm's own ``torch.hub`` cache is used
  where it already holds the file;
* a HuggingFace Hub id (``facebook/esm1b_t33_650M_UR50S``, ``facebook/esm2_t33_650M_UR50D``,
  any ``EsmForMaskedLM`` repository, or a BERT, RoBERTa or T5 one such as ``Rostlab/prot_bert``):
  fetched through ``huggingface_hub`` into its own cache, so that transformers and this package share the files. ``HF_HOME``
  / ``HF_HUB_CACHE`` choose the cache and ``HF_HUB_OFFLINE=1`` keeps to it; both
  are read when a model is loaded, not when this module is imported.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import huggingface_hub
import torch
from huggingface_hub import errors as hub_errors

from ..io.files import atomic_write
from ..io.progress import tqdm

__all__ = [
    "CACHE_ENV",
    "HUB_TOKENIZER_FILES",
    "HUB_WEIGHT_FILES",
    "RELEASES",
    "RELEASE_BASE_URL",
    "DownloadError",
    "cache_dir",
    "check_revision",
    "download",
    "fetch_hub",
    "fetch_release",
    "hub_cache_dir",
    "hub_offline",
    "is_hub_id",
]

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


# ----------------------------------------------------------------------------- HuggingFace Hub

# "owner/name" as the Hub spells repository ids (letters, digits, '-', '_', '.')
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: The vocabulary files the families tokenize with (BERT, RoBERTa, T5); ESM's is built in.
HUB_TOKENIZER_FILES = ("vocab.txt", "vocab.json", "merges.txt", "spiece.model", "tokenizer.json")
#: The files of a model repository that the loader reads, safetensors first (weights second in each row).
HUB_WEIGHT_FILES = (
    ("config.json", "model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors",
     *HUB_TOKENIZER_FILES),
    ("config.json", "pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin",
     *HUB_TOKENIZER_FILES),
)
_TRUE = ("1", "ON", "YES", "TRUE")


def is_hub_id(source: str | os.PathLike) -> bool:
    """True for ``owner/name`` that is not a file or folder here (a local path wins)."""
    text = str(source)
    return bool(_HUB_ID.match(text)) and not Path(text).exists() and not text.endswith((".pt", ".bin"))


def check_revision(source: str | os.PathLike, revision: str | None) -> None:
    """Refuse a ``revision`` for a ``source`` that is no Hub id (a path, a release name, ``random:PRESET``)."""
    if revision is not None and not is_hub_id(source):
        raise ValueError(f"revision={revision!r} applies to HuggingFace Hub ids (owner/name) only, not {str(source)!r}")


def hub_cache_dir() -> Path:
    """huggingface_hub's cache, from the environment now: ``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "huggingface" / "hub"


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or transformers' ``TRANSFORMERS_OFFLINE``) is set: use the cache only."""
    return any(os.environ.get(k, "").upper() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def fetch_hub(repo_id: str, *, revision: str | None = None, progress: bool = True, download: bool = True) -> Path:
    """The local folder of a Hub model (config and weights), downloading what the cache lacks.

    Parameters
    ----------
    repo_id : str
        ``owner/name``, e.g. ``facebook/esm2_t33_650M_UR50D``.
    revision : str, optional
        A branch, tag or commit; default ``main``.
    progress : bool
        huggingface_hub's progress bars while downloading.
    download : bool
        ``False``: the cache only, as offline (what a loaded model was read from).

    Returns
    -------
    Path
        The snapshot folder in :func:`hub_cache_dir` (``models--owner--name/snapshots/<commit>``).

    Raises
    ------
    DownloadError
        The id or revision is unknown, or the files are neither cached nor
        downloadable (offline); one line naming the id and the cache folder.
    """
    cache = hub_cache_dir()
    told_offline = hub_offline()
    offline = told_offline or not download
    where = f"{repo_id!r}" + (f" (revision {revision!r})" if revision else "")
    try:
        folder = None
        for patterns in HUB_WEIGHT_FILES:  # safetensors where the repository has them, else the .bin
            folder = Path(huggingface_hub.snapshot_download(
                repo_id, revision=revision, cache_dir=cache, local_files_only=offline,
                allow_patterns=list(patterns), tqdm_class=None if progress else _Silent,
            ))
            if any(folder.glob(patterns[1].replace(".", "*.", 1))) or (folder / patterns[2]).exists():
                return folder
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError) as exc:
        kind = "revision" if isinstance(exc, hub_errors.RevisionNotFoundError) else "repository"
        raise DownloadError(f"HuggingFace Hub has no {kind} {where}; check the spelling (cache: {cache})") from None
    except (hub_errors.LocalEntryNotFoundError, hub_errors.HfHubHTTPError, OSError, ValueError) as exc:
        why = ("HF_HUB_OFFLINE is set" if told_offline else "it was not downloaded" if offline
               else f"the Hub could not be reached ({type(exc).__name__})")
        raise DownloadError(
            f"model {where} is not in the HuggingFace cache {cache} and {why}; download it on a machine "
            f"with network access (hf download {repo_id}{f' --revision {revision}' if revision else ''}) and point "
            "HF_HOME at that cache"
        ) from None
    raise DownloadError(f"HuggingFace repository {where} holds no model.safetensors or pytorch_model.bin "
                        f"(looked in {folder})")


class _Silent(tqdm):
    """A progress bar that never shows (``progress=False``)."""

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)
