"""Which family a file or name holds, and the model built from it: the one place that knows the families.

* a folder (or Hub id) is read by the family its ``config.json`` names
  (``model_type``: ``esm``, ``bert``, ``roberta``, ``t5``);
* a ``.pt`` file or a fair-esm release name is an ESM release;
* ``antiberty`` is the trained AntiBERTy the ``antiberty`` package ships (a BERT);
* :data:`PRESETS` holds every family's shapes for ``random:PRESET``.

Adding a family: one module beside this one with a config dataclass (meeting
:class:`~contacts.encoder.family.EncoderConfig`), a module class (meeting
:class:`~contacts.encoder.family.Encoder`), ``read_folder`` and ``build``; then one
line in each table below.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..io.regression import read_regression
from ..io.safe_load import CheckpointError
from . import bert, roberta, t5
from .checkpoints import build_esm, read_huggingface, read_release
from .config import PRESETS as ESM_PRESETS
from .config import ModelConfig
from .family import Checkpoint, read_hf_config
from .hub import RELEASES, check_revision, fetch_hub, fetch_release, is_hub_id
from .model import ESMEncoder

__all__ = ["FOLDER_FILE_SUFFIXES", "MODEL_TYPES", "NAMED", "NAMED_FILES", "PRESETS", "build", "build_model",
           "family_of", "read_checkpoint", "read_folder"]

#: ``config.json``'s ``model_type`` -> the reader of such a folder.
MODEL_TYPES: dict[str, Callable[[Path], Checkpoint]] = {
    "esm": read_huggingface,
    "bert": bert.read_folder,
    "roberta": roberta.read_folder,
    "t5": t5.read_folder,
}
#: Names that load without a path: trained weights some installed package ships.
NAMED: dict[str, Callable[[], Checkpoint]] = {bert.ANTIBERTY: bert.read_antiberty}
#: The files each named model is read from (what a run record hashes).
NAMED_FILES: dict[str, Callable[[], list[Path]]] = {bert.ANTIBERTY: bert.antiberty_weight_files}
#: Files of a model folder that decide numbers: weights, config, and the vocabulary that tokenizes.
FOLDER_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")
#: Config class -> (family name, module class).
_MODULES: dict[type, tuple[str, type[torch.nn.Module]]] = {
    ModelConfig: ("esm", ESMEncoder),
    bert.BertConfig: ("bert", bert.BertEncoder),
    roberta.RobertaConfig: ("roberta", roberta.RobertaEncoder),
    t5.T5Config: ("t5", t5.T5Encoder),
}
#: Every family's named shapes (random weights only), for ``random:PRESET``.
PRESETS = {**ESM_PRESETS, **bert.PRESETS, **roberta.PRESETS, **t5.PRESETS}


def family_of(config) -> str:
    """The family name of a config: ``esm``, ``bert``, ``roberta`` or ``t5``."""
    return _family(config)[0]


def _family(config) -> tuple[str, type[torch.nn.Module]]:
    try:
        return _MODULES[type(config)]
    except KeyError:
        raise TypeError(f"{type(config).__name__} is no family's config ({', '.join(t.__name__ for t in _MODULES)})") from None


def build(config) -> torch.nn.Module:
    """A family's module of this shape, with freshly initialized weights."""
    return _family(config)[1](config)


def build_model(checkpoint: Checkpoint) -> torch.nn.Module:
    """The checkpoint's family module holding its weights, checked key by key and shape by shape."""
    name, _ = _family(checkpoint.config)
    builders = {"esm": build_esm, "bert": bert.build, "roberta": roberta.build, "t5": t5.build}
    return builders[name](checkpoint)


def read_folder(folder: str | os.PathLike) -> Checkpoint:
    """A transformers model folder, read by the family its ``config.json`` names."""
    folder = Path(folder)
    model_type = read_hf_config(folder).get("model_type")
    reader = MODEL_TYPES.get(model_type)
    if reader is None:
        raise CheckpointError(f"{folder}: model_type {model_type!r} is not one this package reads "
                              f"({', '.join(sorted(MODEL_TYPES))})")
    return reader(folder)


def read_checkpoint(
    source: str | os.PathLike, regression: str | os.PathLike | None = None, *, revision: str | None = None
) -> Checkpoint:
    """Read any supported source: a release ``.pt`` file, a model folder, a release name, a Hub id or a named model.

    Parameters
    ----------
    source : str or PathLike
        A local path wins over a name; ``antiberty`` is the model the installed
        ``antiberty`` package ships; ``owner/name`` that is no local path is a
        HuggingFace Hub id (an ESM repository's contact head is its regression).
    regression : path, optional
        A regression file used instead of the one the source holds.
    revision : str, optional
        Branch, tag or commit of a Hub id (only with a Hub id).
    """
    path = Path(source)
    hub = is_hub_id(source)
    check_revision(source, revision)
    if path.is_dir():
        checkpoint = read_folder(path)
    elif path.is_file():
        return read_release(path, regression)
    elif str(source) in RELEASES:
        model_path, regression_path = fetch_release(str(source))
        return read_release(model_path, regression or regression_path)
    elif str(source) in NAMED:
        checkpoint = NAMED[str(source)]()
    elif hub:
        folder = fetch_hub(str(source), revision=revision)
        checkpoint = read_folder(folder)
        # the snapshot folder is named by its commit: the id is the name users know
        checkpoint.config = checkpoint.config.replace(name=str(source))
        checkpoint.source = f"{source}@{folder.name}"
    else:
        raise FileNotFoundError(
            f"{source!r} is neither a checkpoint file, a model folder, a HuggingFace Hub id (owner/name), "
            f"a named model ({', '.join(sorted(NAMED))}) nor a known release name ({', '.join(sorted(RELEASES))})"
        )
    if regression is not None:
        checkpoint.regression = read_regression(regression, checkpoint.config.num_maps).float32()
    return checkpoint
