"""Release and HuggingFace files -> config + state dict: rename tables, safe load, download.

Two layouts are read:

* the fair-esm release (``esm1b_t33_650M_UR50S.pt``): ``{"args": Namespace, "model": state}``
  with fairseq names (``encoder_layers``, ``encoder.sentence_encoder.layers.0...``), and
  its ``-contact-regression.pt`` beside it;
* a HuggingFace ``EsmForMaskedLM`` folder: ``config.json`` plus ``model.safetensors``
  (or ``pytorch_model.bin``, or shards with an index), contact head included;
  a Hub id (``facebook/esm2_t33_650M_UR50D``) is such a folder in huggingface_hub's
  cache (:func:`contacts.encoder.hub.fetch_hub`).

Checkpoints are untrusted files: pickles are read with ``weights_only=True`` and
only :class:`argparse.Namespace` (the release's ``args``) is allow-listed.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import torch
from torch import Tensor

from ..io.files import atomic_write
from ..io.regression import REGRESSION_KEYS, check_regression, read_regression, write_regression
from ..io.safe_load import CheckpointError, check_tensors, safe_torch_load
from .alphabet import ALPHABET
from .config import ModelConfig, esm2
from .family import Checkpoint, load_strict, read_hf_config, read_hf_weights, rename
from .model import ESMEncoder, RotaryEmbedding

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


def to_release_state(model_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our names -> release names: the inverse of the prefix strip in :func:`read_release`.

    ``lm_head.*`` goes under ``encoder.``, everything else under
    ``encoder.sentence_encoder.``. Tensors are not copied, so a tied LM head stays
    one storage under two keys, as in the release. The contact regression is not
    part of the model state; it goes in its own file.
    """
    sentence, head = RELEASE_PREFIXES
    bad = [k for k in model_state if k.startswith("contact_head.")]
    if bad:
        raise CheckpointError(f"{bad} belong in the -contact-regression.pt file, not the model state")
    return {(head if k.startswith("lm_head.") else sentence) + k: v for k, v in model_state.items()}


def read_release(path: str | os.PathLike, regression: str | os.PathLike | None = None) -> Checkpoint:
    """Read a fair-esm release checkpoint and its contact regression.

    The regression file is ``regression`` if given, else ``<stem>-contact-regression.pt``
    beside the checkpoint, else absent (``Checkpoint.regression`` is None).
    """
    path = Path(path)
    data = safe_torch_load(path)
    if not isinstance(data, dict) or "model" not in data:
        raise CheckpointError(f"{path} is not a fair-esm release file (no 'model' entry)")
    model = check_tensors(data["model"], str(path), what="'model' entry", finite=False)
    if not all(isinstance(k, str) for k in model):
        raise CheckpointError(f"{path}: the 'model' entry's keys must be weight names (strings)")
    state = {_strip_release_prefix(k): v for k, v in model.items()}
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
        reg = read_regression(regression, config.num_maps).float32()
    elif reg is not None:
        reg = check_regression(*reg, config.num_maps, str(path))
    return Checkpoint(config, state, reg, str(path))


# ----------------------------------------------------------------------------- release, writing

#: LayerNorm eps of every release reader (fair-esm builds each LayerNorm with it).
RELEASE_LAYER_NORM_EPS = 1e-5


def check_release_model(model: torch.nn.Module) -> None:
    """Refuse, in one line, a model the release layout (and ESM's masked-LM recipe) cannot hold: any non-ESM family."""
    if not isinstance(model, ESMEncoder):
        raise CheckpointError(
            f"{model.cfg.name} is not an ESM model: fine-tuning follows ESM's masked-LM recipe and writes "
            "fair-esm release checkpoints, which hold ESM-1b and ESM-2 only"
        )


def release_record(config: ModelConfig) -> dict:
    """The shape record of a release file: ESM-1b's fairseq ``args``, or ESM-2's ``cfg``.

    The inverse of :func:`read_release`'s readers of ``args`` and ``cfg``.
    """
    if config.layer_norm_eps != RELEASE_LAYER_NORM_EPS:
        raise CheckpointError(
            f"layer_norm_eps {config.layer_norm_eps} cannot be stored in the release layout, "
            f"whose readers build every LayerNorm with eps {RELEASE_LAYER_NORM_EPS}"
        )
    if config.position_embedding == "rotary":
        return {"cfg": {"model": argparse.Namespace(
            arch="esm2",
            encoder_layers=config.num_layers,
            encoder_embed_dim=config.embed_dim,
            encoder_attention_heads=config.num_heads,
            token_dropout=config.token_dropout,
        )}}
    return {"args": argparse.Namespace(
        arch="roberta_large",
        encoder_layers=config.num_layers,
        encoder_embed_dim=config.embed_dim,
        encoder_ffn_embed_dim=config.ffn_dim,
        encoder_attention_heads=config.num_heads,
        max_positions=config.max_positions,
        token_dropout=config.token_dropout,
    )}


def write_release(
    path: str | os.PathLike, model: torch.nn.Module, regression: tuple[Tensor, Tensor] | None = None
) -> Path:
    """Write a model as a fair-esm release file, and its contact regression beside it.

    ``path`` gets ``{"args": Namespace, "model": state}`` (ESM-2: ``{"cfg": {"model":
    Namespace}, ...}``) with the LM head tied to the token embeddings;
    ``<stem>-contact-regression.pt`` is written when a regression is given (fair-esm's
    local loader requires it). Both files are written atomically. They load with
    :func:`read_release` and ``esm.pretrained.load_model_and_alphabet_local``.

    Parameters
    ----------
    path : str or PathLike
        Ends in ``.pt``; starts with ``esm2`` exactly when the model is an ESM-2
        (fair-esm picks its reader by the file's stem).
    model : ESMEncoder
    regression : (weight, bias), shapes=((1, l * h), (1,)), optional
    """
    path = Path(path)
    config = model.cfg
    # fair-esm picks its reader by the file's stem: names starting "esm2" go to ESM-2's.
    esm2 = config.position_embedding == "rotary"
    if path.suffix != ".pt" or path.stem.startswith("esm2") != esm2:
        raise ValueError(
            f"{path.name!r}: a release file name ends in .pt and "
            + ("starts with 'esm2' (an ESM-2 model)" if esm2 else "does not start with 'esm2'")
        )
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    # One storage under both keys, as the release ties them.
    state["lm_head.weight"] = state["embed_tokens.weight"]
    data = {**release_record(config), "model": to_release_state(state)}
    with atomic_write(path, "wb") as fh:
        torch.save(data, fh)
    if regression is not None:
        write_regression(path.with_name(f"{path.stem}-contact-regression.pt"), *regression)
    return path


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


def _apply_legacy(key: str) -> str:
    for pattern, repl in HF_LEGACY:
        key = re.sub(pattern, repl, key)
    return key


def read_huggingface(folder: str | os.PathLike, regression: str | os.PathLike | None = None) -> Checkpoint:
    """Read a HuggingFace ``EsmForMaskedLM`` folder (its contact head included)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise CheckpointError(f"{folder} has no config.json: not a HuggingFace model folder")
    config = _config_from_hf(read_hf_config(folder), folder)
    state = {_apply_legacy(k): v for k, v in read_hf_weights(folder).items()}
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
        reg = read_regression(regression, config.num_maps).float32()
    elif all(k in state for k in REGRESSION_KEYS):
        reg = check_regression(*(state[k] for k in REGRESSION_KEYS), config.num_maps, str(folder))
    for k in REGRESSION_KEYS:
        state.pop(k, None)
    return Checkpoint(config, state, reg, str(folder))


# ----------------------------------------------------------------------------- the module


def build_esm(checkpoint: Checkpoint) -> ESMEncoder:
    """An :class:`ESMEncoder` holding the checkpoint's weights, checked key by key and shape by shape."""
    with torch.device("meta"):
        model = ESMEncoder(checkpoint.config)
    state = dict(checkpoint.state)
    for key, value in model.state_dict().items():
        if key.endswith("rot_emb.inv_freq") and key not in state:
            # Files without the rotary table: the value it is always initialized to.
            state[key] = RotaryEmbedding.default_inv_freq(2 * value.shape[0])
    tied = state.pop("lm_head.weight", None)
    if tied is not None and "embed_tokens.weight" in state:
        emb = state["embed_tokens.weight"]
        rows = [i for i in range(len(emb)) if i != ALPHABET.mask_idx]
        if tied.shape != emb.shape or not torch.equal(tied[rows], emb[rows]):
            raise CheckpointError(
                f"{checkpoint.source}: lm_head weight differs from embed_tokens; "
                "ESM ties them and untied heads are not supported"
            )
        # fair-esm loads the LM head's copy last, so the tied weight is that copy.
        state["embed_tokens.weight"] = tied
    if "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    load_strict(model, state, checkpoint.source, optional=["lm_head.weight"])
    model.lm_head.weight = model.embed_tokens.weight
    return model.eval()
