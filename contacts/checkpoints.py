"""Release and HuggingFace files -> config + state dict: rename tables, safe load, download.

Two layouts are read:

* the fair-esm release (``esm1b_t33_650M_UR50S.pt``): ``{"args": Namespace, "model": state}``
  with fairseq names (``encoder_layers``, ``encoder.sentence_encoder.layers.0...``), and
  its ``-contact-regression.pt`` beside it;
* a HuggingFace ``EsmForMaskedLM`` folder: ``config.json`` plus ``model.safetensors``
  (or ``pytorch_model.bin``, or shards with an index), contact head included.

Checkpoints are untrusted files: pickles are read with ``weights_only=True`` and
only :class:`argparse.Namespace` (the release's ``args``) is allow-listed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .alphabet import ALPHABET
from .config import ModelConfig, esm2
from .io import atomic_write

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
REGRESSION_KEYS = ("contact_head.regression.weight", "contact_head.regression.bias")

# fair-esm's loader strips these prefixes from release keys; what remains are our names.
RELEASE_PREFIXES = ("encoder.sentence_encoder.", "encoder.")

# HuggingFace EsmForMaskedLM name -> our name (first match wins).
HF_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^esm\.embeddings\.word_embeddings\.", "embed_tokens."),
    (r"^esm\.embeddings\.position_embeddings\.", "embed_positions."),
    (r"^esm\.embeddings\.layer_norm\.", "emb_layer_norm_before."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.query\.", r"layers.\1.self_attn.q_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.key\.", r"layers.\1.self_attn.k_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.value\.", r"layers.\1.self_attn.v_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.self_attn.out_proj."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.LayerNorm\.", r"layers.\1.self_attn_layer_norm."),
    (r"^esm\.encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.fc1."),
    (r"^esm\.encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.fc2."),
    (r"^esm\.encoder\.layer\.(\d+)\.LayerNorm\.", r"layers.\1.final_layer_norm."),
    (r"^esm\.encoder\.emb_layer_norm_after\.", "emb_layer_norm_after."),
    (r"^esm\.encoder\.layer\.(\d+)\.attention\.self\.rotary_embeddings\.inv_freq$",
     r"layers.\1.self_attn.rot_emb.inv_freq"),
    (r"^esm\.contact_head\.", "contact_head."),
    (r"^lm_head\.decoder\.weight$", "lm_head.weight"),
    (r"^lm_head\.", "lm_head."),
)
# Older (and transformers 5's saved) LayerNorm names, normalized before the table above.
HF_LEGACY = ((r"(LayerNorm|layer_norm)\.gamma$", r"\1.weight"), (r"(LayerNorm|layer_norm)\.beta$", r"\1.bias"))
# HuggingFace keys that carry no weights of ours (a persisted buffer of position ids).
HF_IGNORED = (r"^esm\.embeddings\.position_ids$",)


class CheckpointError(ValueError):
    """A checkpoint does not match the expected layout (keys, shapes, arguments)."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle asks for classes or functions outside the allow-list; it was not run."""


class DownloadError(OSError):
    """A released file could not be fetched."""


@dataclass
class Checkpoint:
    """A checkpoint read from disk, translated to this package's names.

    Attributes
    ----------
    config : ModelConfig
    state : dict[str, Tensor]
        Encoder weights under :class:`contacts.model.ESM1b`'s names.
    regression : tuple of Tensor, shapes=((1, l * h), (1,)), or None
    source : str
    """

    config: ModelConfig
    state: dict[str, Tensor]
    regression: tuple[Tensor, Tensor] | None
    source: str


def safe_torch_load(path: str | os.PathLike) -> object:
    """``torch.load`` that runs no pickled code: tensors, containers and ``Namespace`` only."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path} was refused: it asks to load objects outside the allow-list "
            f"(tensors, containers, argparse.Namespace). Nothing from it was executed. "
            f"Details: {str(exc).splitlines()[0]}"
        ) from None
    except FileNotFoundError:
        raise
    except Exception as exc:  # the unpickler fails in many ways on a corrupt file
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {exc}") from None


# ----------------------------------------------------------------------------- release


def _config_from_release_args(args: object, state: dict[str, Tensor], name: str) -> ModelConfig:
    if not isinstance(args, argparse.Namespace):
        raise CheckpointError(f"'args' is a {type(args).__name__}, expected an argparse.Namespace")
    a = vars(args)
    arch = a.get("arch")
    if arch != "roberta_large":
        raise CheckpointError(
            f"architecture {arch!r} is not ESM-1b ('roberta_large'); ESM-1 and MSA Transformer "
            "checkpoints are not supported"
        )
    required = ("encoder_layers", "encoder_embed_dim", "encoder_ffn_embed_dim",
                "encoder_attention_heads", "max_positions")
    missing = [k for k in required if k not in a]
    if missing:
        raise CheckpointError(f"release args lack {missing}")
    return ModelConfig(
        name=name,
        num_layers=a["encoder_layers"],
        embed_dim=a["encoder_embed_dim"],
        ffn_dim=a["encoder_ffn_embed_dim"],
        num_heads=a["encoder_attention_heads"],
        max_positions=a["max_positions"],
        token_dropout=bool(a.get("token_dropout", False)),
        # fair-esm decides this from the state dict, not from the arguments.
        emb_layer_norm_before=any(k.startswith("emb_layer_norm_before") for k in state),
    )


def _config_from_release_cfg(cfg: object, name: str) -> ModelConfig:
    """ESM-2 releases: ``cfg["model"]`` holds the fairseq arguments (a Namespace or a dict)."""
    model = cfg.get("model") if isinstance(cfg, dict) else None
    fields = vars(model) if isinstance(model, argparse.Namespace) else model
    if not isinstance(fields, dict):
        raise CheckpointError(f"'cfg' holds no model arguments (got {type(model).__name__})")
    try:
        config = esm2(name, fields["encoder_layers"], fields["encoder_embed_dim"],
                      fields["encoder_attention_heads"])
    except KeyError as exc:
        raise CheckpointError(f"ESM-2 release cfg lacks {exc.args[0]!r}") from None
    return config.replace(token_dropout=bool(fields.get("token_dropout", False)))


def _strip_release_prefix(key: str) -> str:
    for prefix in RELEASE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def load_regression(path: str | os.PathLike, num_maps: int | None = None) -> tuple[Tensor, Tensor]:
    """Read a ``-contact-regression.pt`` file: ``{"model": {weight (1, l*h), bias (1,)}}``."""
    data = safe_torch_load(path)
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or any(k not in state for k in REGRESSION_KEYS):
        raise CheckpointError(f"{path} holds no {list(REGRESSION_KEYS)}")
    return _check_regression(state[REGRESSION_KEYS[0]], state[REGRESSION_KEYS[1]], num_maps, path)


def _check_regression(weight, bias, num_maps, where) -> tuple[Tensor, Tensor]:
    expect_w = (1, num_maps) if num_maps else (1, weight.shape[-1])
    if tuple(weight.shape) != expect_w or tuple(bias.shape) != (1,):
        raise CheckpointError(
            f"{where}: regression weight {tuple(weight.shape)} / bias {tuple(bias.shape)}, "
            f"expected {expect_w} / (1,) for this model's layers x heads"
        )
    return weight.float(), bias.float()


def read_release(path: str | os.PathLike, regression: str | os.PathLike | None = None) -> Checkpoint:
    """Read a fair-esm release checkpoint and its contact regression.

    The regression file is ``regression`` if given, else ``<stem>-contact-regression.pt``
    beside the checkpoint, else absent (``Checkpoint.regression`` is None).
    """
    path = Path(path)
    data = safe_torch_load(path)
    if not isinstance(data, dict) or "model" not in data:
        raise CheckpointError(f"{path} is not a fair-esm release file (no 'model' entry)")
    state = {_strip_release_prefix(k): v for k, v in data["model"].items()}
    name = path.name.removesuffix(".pt")
    if "args" in data:
        config = _config_from_release_args(data["args"], state, name)
    elif "cfg" in data:
        config = _config_from_release_cfg(data["cfg"], name)
    else:
        raise CheckpointError(f"{path} has neither an 'args' nor a 'cfg' record, so its shape is unknown")
    if config.position_embedding == "learned" and "embed_tokens.weight" in state:
        # fair-esm zeroes the <mask> embedding at load (token dropout); tied to the LM head.
        state["embed_tokens.weight"][ALPHABET.mask_idx].zero_()
    reg = None
    if all(k in state for k in REGRESSION_KEYS):
        reg = tuple(state[k] for k in REGRESSION_KEYS)
    for k in REGRESSION_KEYS:
        state.pop(k, None)
    if regression is None:
        beside = path.with_name(f"{name}-contact-regression.pt")
        regression = beside if beside.exists() else None
    if regression is not None:
        reg = load_regression(regression, config.num_maps)
    elif reg is not None:
        reg = _check_regression(*reg, config.num_maps, path)
    return Checkpoint(config, state, reg, str(path))


# ----------------------------------------------------------------------------- HuggingFace


def _config_from_hf(cfg: dict, where: Path) -> ModelConfig:
    if cfg.get("model_type") != "esm":
        raise CheckpointError(f"{where}: model_type {cfg.get('model_type')!r}, expected 'esm'")
    position = cfg.get("position_embedding_type", "absolute")
    if position not in ("absolute", "rotary"):
        raise CheckpointError(
            f"{where}: position_embedding_type {position!r} is not 'absolute' (ESM-1b) or 'rotary' (ESM-2)"
        )
    vocab = cfg.get("vocab_list")
    if vocab is not None and tuple(vocab) != ALPHABET.tokens:
        raise CheckpointError(f"{where}: vocab_list differs from the ESM-1b alphabet")
    for key, want in (("pad_token_id", ALPHABET.padding_idx), ("mask_token_id", ALPHABET.mask_idx)):
        if cfg.get(key, want) != want:
            raise CheckpointError(f"{where}: {key} is {cfg[key]}, the ESM alphabet has {want}")
    try:
        return ModelConfig(
            name=cfg.get("_name_or_path") or where.name,
            num_layers=cfg["num_hidden_layers"],
            embed_dim=cfg["hidden_size"],
            num_heads=cfg["num_attention_heads"],
            ffn_dim=cfg["intermediate_size"],
            # HF counts the rows of the position table; fair-esm the positions past the pad.
            max_positions=cfg["max_position_embeddings"] - ALPHABET.padding_idx - 1,
            vocab_size=cfg.get("vocab_size", len(ALPHABET)),
            emb_layer_norm_before=bool(cfg.get("emb_layer_norm_before", False)),
            token_dropout=bool(cfg.get("token_dropout", False)),
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            position_embedding="learned" if position == "absolute" else "rotary",
        )
    except KeyError as exc:
        raise CheckpointError(f"{where}: config.json lacks {exc.args[0]!r}") from None


def _read_hf_weights(folder: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    for index_name, loader in (("model.safetensors.index.json", load_file),
                               ("pytorch_model.bin.index.json", safe_torch_load)):
        index = folder / index_name
        if index.exists():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, Tensor] = {}
            for shard in shards:
                state.update(loader(folder / shard))
            return state
    if (folder / "model.safetensors").exists():
        return load_file(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").exists():
        return safe_torch_load(folder / "pytorch_model.bin")
    raise CheckpointError(
        f"{folder} has config.json but no model.safetensors, pytorch_model.bin or shard index"
    )


def rename(state: dict[str, Tensor], table, ignored=()) -> tuple[dict[str, Tensor], list[str]]:
    """Apply a rename table; returns the renamed state and the keys no rule matched."""
    out, unmatched = {}, []
    for key, value in state.items():
        if any(re.search(p, key) for p in ignored):
            continue
        for pattern, repl in table:
            if re.search(pattern, key):
                out[re.sub(pattern, repl, key)] = value
                break
        else:
            unmatched.append(key)
    return out, unmatched


def _apply_legacy(key: str) -> str:
    for pattern, repl in HF_LEGACY:
        key = re.sub(pattern, repl, key)
    return key


def read_huggingface(folder: str | os.PathLike, regression: str | os.PathLike | None = None) -> Checkpoint:
    """Read a HuggingFace ``EsmForMaskedLM`` folder (its contact head included)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise CheckpointError(f"{folder} has no config.json: not a HuggingFace model folder")
    config = _config_from_hf(json.loads((folder / "config.json").read_text()), folder)
    state = {_apply_legacy(k): v for k, v in _read_hf_weights(folder).items()}
    # transformers 5 keeps one rotary table for all layers, and saves it under either name.
    shared_inv_freq = state.pop("esm.rotary_embeddings.inv_freq", None)
    shared_inv_freq = state.pop("esm.encoder.layer.*.attention.self.rotary_embeddings.inv_freq", shared_inv_freq)
    state, unmatched = rename(state, HF_RENAMES, HF_IGNORED)
    if shared_inv_freq is not None:
        for i in range(config.num_layers):
            state.setdefault(f"layers.{i}.self_attn.rot_emb.inv_freq", shared_inv_freq)
    if unmatched:
        raise CheckpointError(f"{folder}: unexpected key(s) {sorted(unmatched)}")
    reg = None
    if regression is not None:
        reg = load_regression(regression, config.num_maps)
    elif all(k in state for k in REGRESSION_KEYS):
        reg = _check_regression(*(state[k] for k in REGRESSION_KEYS), config.num_maps, folder)
    for k in REGRESSION_KEYS:
        state.pop(k, None)
    return Checkpoint(config, state, reg, str(folder))


# ----------------------------------------------------------------------------- named releases


def cache_dir() -> Path:
    """Where named models are kept: ``$CONTACTS_CACHE``, else ``~/.cache/contacts``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "contacts"


def download(url: str, dest: Path, *, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` atomically (a temporary file, then a rename), with a progress bar."""
    from tqdm.auto import tqdm

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


def read_checkpoint(source: str | os.PathLike, regression: str | os.PathLike | None = None) -> Checkpoint:
    """Read any supported source: a release ``.pt`` file, a HuggingFace folder or a release name."""
    path = Path(source)
    if path.is_dir():
        return read_huggingface(path, regression)
    if path.is_file():
        return read_release(path, regression)
    if str(source) in RELEASES:
        model_path, regression_path = fetch_release(str(source))
        return read_release(model_path, regression or regression_path)
    raise FileNotFoundError(
        f"{source!r} is neither a checkpoint file, a HuggingFace model folder, nor a known "
        f"release name ({', '.join(sorted(RELEASES))})"
    )
