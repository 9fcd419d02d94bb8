"""Random-weight checkpoints written in the released layouts, and the reference models that read them.

Layer norms and biases are perturbed away from their (1, 0) initial values so
that a loader or encoder that drops one of them gives different numbers.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from contacts.encoder.alphabet import ALPHABET
from contacts.encoder.config import PRESETS, ModelConfig

RELEASE_NAME = "esm1b_t33_650M_UR50S"
ESM2_RELEASE_NAME = "esm2_t6_8M_UR50D"  # fair-esm picks its ESM-2 loader by this name prefix


def release_name(cfg: ModelConfig) -> str:
    return ESM2_RELEASE_NAME if cfg.position_embedding == "rotary" else RELEASE_NAME


def _perturb_(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim == 1 and "norm" in name.lower() and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            elif p.ndim == 1:
                p.copy_(0.2 * noise)
            else:
                # Weights scaled by fan-in so attention is peaked but not saturated.
                p.copy_(noise * 1.5 / p.shape[-1] ** 0.5)


def release_args(cfg: ModelConfig) -> argparse.Namespace:
    """fairseq-style arguments as stored in the ESM-1b release file."""
    return argparse.Namespace(
        arch="roberta_large",
        encoder_layers=cfg.num_layers,
        encoder_embed_dim=cfg.embed_dim,
        encoder_ffn_embed_dim=cfg.ffn_dim,
        encoder_attention_heads=cfg.num_heads,
        max_positions=cfg.max_positions,
        token_dropout=cfg.token_dropout,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        final_bias=True,
        task="masked_lm",
        criterion="masked_lm",
    )


def fair_esm_model(cfg: ModelConfig, seed: int = 0, dtype: torch.dtype = torch.float32):
    """A fair-esm ProteinBertModel (or ESM2, for rotary configs) with perturbed random weights.

    The weights are the same whatever ``dtype``: drawn in float32, then stored in it.
    """
    import esm

    if cfg.position_embedding == "rotary":
        model = esm.ESM2(num_layers=cfg.num_layers, embed_dim=cfg.embed_dim,
                         attention_heads=cfg.num_heads, alphabet="ESM-1b",
                         token_dropout=cfg.token_dropout)
        _perturb_(model, seed)
        return model.eval()

    args = argparse.Namespace(
        arch="roberta_large",
        layers=cfg.num_layers,
        embed_dim=cfg.embed_dim,
        ffn_embed_dim=cfg.ffn_dim,
        attention_heads=cfg.num_heads,
        max_positions=cfg.max_positions,
        token_dropout=cfg.token_dropout,
        emb_layer_norm_before=cfg.emb_layer_norm_before,
    )
    # Built without initializing (every parameter is drawn below; ESM-1b has no buffers): at the
    # ESM-1b shape, fair-esm's own initialization alone takes 10 s.
    with torch.device("meta"):
        model = esm.ProteinBertModel(args, esm.Alphabet.from_architecture("roberta_large"))
    model = model.to_empty(device="cpu").to(dtype)
    model.lm_head.weight = model.embed_tokens.weight  # to_empty unties them
    _perturb_(model, seed)
    return model.eval()


def write_release(folder: Path, cfg: ModelConfig, seed: int = 0, *, regression: bool = True) -> Path:
    """Write ``esm1b_t33_650M_UR50S.pt`` (+ ``-contact-regression.pt``) in the release layout."""
    model = fair_esm_model(cfg, seed)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("contact_head."):
            continue
        prefix = "encoder." if key.startswith("lm_head.") else "encoder.sentence_encoder."
        state[prefix + key] = value.clone()
    # The release ties the LM head to the token embeddings: one storage, two keys.
    state["encoder.lm_head.weight"] = state["encoder.sentence_encoder.embed_tokens.weight"]
    folder.mkdir(parents=True, exist_ok=True)
    name = release_name(cfg)
    path = folder / f"{name}.pt"
    if cfg.position_embedding == "rotary":
        model_args = argparse.Namespace(
            arch="esm2", encoder_layers=cfg.num_layers, encoder_embed_dim=cfg.embed_dim,
            encoder_attention_heads=cfg.num_heads, token_dropout=cfg.token_dropout)
        torch.save({"cfg": {"model": model_args}, "model": state}, path)
    else:
        torch.save({"args": release_args(cfg), "model": state}, path)
    if regression:
        reg = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("contact_head.")}
        torch.save({"model": reg}, folder / f"{name}-contact-regression.pt")
    return path


def load_fair_esm(path: Path):
    """fair-esm's own loader on a release file (its torch.load needs Namespace allow-listed)."""
    import esm

    with torch.serialization.safe_globals([argparse.Namespace]):
        model, alphabet = esm.pretrained.load_model_and_alphabet_local(path)
    return model.eval(), alphabet


def predictor_sharing(model, cfg: ModelConfig, dtype=None):
    """This package's Predictor on a fair-esm model's own tensors: no file, no copy.

    For shapes too large to write and read back in a test (the ESM-1b shape); the
    loader itself is tested on release files. ``model`` is :func:`fair_esm_model`'s
    for ``cfg``; fair-esm's parameter names are the package's (a release file only
    prefixes them).
    """
    from contacts.encoder.checkpoints import Checkpoint
    from contacts.io.regression import REGRESSION_KEYS
    from contacts.predictor.core import Predictor, build_model

    state = dict(model.state_dict())
    regression = tuple(state.pop(k) for k in REGRESSION_KEYS)
    return Predictor(build_model(Checkpoint(cfg, state, regression, "fair-esm, in memory")), regression,
                     device="cpu", dtype=dtype)


@contextmanager
def fair_esm_softmax(keep: Callable[[torch.Tensor], None] | None = None) -> Iterator[None]:
    """fair-esm's attention softmax in the scores' own dtype, optionally handing each result to ``keep``.

    fair-esm takes the softmax in float32 whatever the model's dtype
    (``esm.multihead_attention.utils_softmax`` passes ``dtype=torch.float32``), so a
    float64 fair-esm still rounds every attention weight to float32. Inside this
    context it does not; ``keep`` receives each layer's weights, shape=(b * h, t, t).
    """
    import esm.multihead_attention as mha

    original = mha.utils_softmax

    def softmax(x, dim: int, onnx_trace: bool = False):
        out = F.softmax(x, dim=dim)
        if keep is not None:
            keep(out)
        return out

    mha.utils_softmax = softmax
    try:
        yield
    finally:
        mha.utils_softmax = original


def hf_config(cfg: ModelConfig):
    from transformers import EsmConfig

    return EsmConfig(
        vocab_size=len(ALPHABET),
        hidden_size=cfg.embed_dim,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.ffn_dim,
        max_position_embeddings=cfg.max_positions + ALPHABET.padding_idx + 1,
        position_embedding_type="absolute" if cfg.position_embedding == "learned" else "rotary",
        emb_layer_norm_before=cfg.emb_layer_norm_before,
        token_dropout=cfg.token_dropout,
        layer_norm_eps=cfg.layer_norm_eps,
        pad_token_id=ALPHABET.padding_idx,
        mask_token_id=ALPHABET.mask_idx,
        vocab_list=list(ALPHABET.tokens),
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        hidden_act="gelu",
    )


def write_huggingface(folder: Path, cfg: ModelConfig, seed: int = 0, *, safetensors: bool = True) -> Path:
    """Write an ``EsmForMaskedLM`` folder (config.json + model.safetensors or pytorch_model.bin)."""
    from transformers import EsmForMaskedLM

    torch.manual_seed(seed)
    model = EsmForMaskedLM(hf_config(cfg))
    _perturb_(model, seed)
    model.tie_weights()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if not safetensors:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        (folder / "model.safetensors").unlink()
        torch.save(state, folder / "pytorch_model.bin")
    return folder


def hub_cache(home: Path, repo_id: str, seed: int = 3, *, safetensors: bool = True, branch: str = "main") -> Path:
    """An ESM of the ``tiny`` shape in huggingface_hub's cache layout under ``home`` (what ``HF_HOME`` names):
    ``hub/models--owner--name/{snapshots/<commit>/..., refs/<branch>}``; returns the snapshot folder."""
    repo = home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}{seed}{safetensors}".encode()).hexdigest()
    snapshot = write_huggingface(repo / "snapshots" / commit, PRESETS["tiny"], seed=seed, safetensors=safetensors)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


def load_huggingface(folder: Path):
    from transformers import EsmForMaskedLM

    return EsmForMaskedLM.from_pretrained(folder, attn_implementation="eager").eval()


def assert_matches_transformers(ours, ref, sequences, atol: float = 1e-4) -> None:
    """Logits of one padded batch and each sequence's contacts: this package against transformers."""
    import numpy as np

    tokens = ALPHABET.batch_encode(sequences)
    mask = tokens.ne(ALPHABET.padding_idx).long()
    with torch.no_grad():
        expected = ref(tokens, attention_mask=mask)
        expected_contacts = ref.esm.predict_contacts(tokens, mask)
        got = ours.model(tokens)
    np.testing.assert_allclose(got.logits.numpy(), expected.logits.numpy(), atol=atol, rtol=0)
    for i, probs in enumerate(ours.predict_contacts(sequences)):
        n = len(probs)
        np.testing.assert_allclose(np.asarray(probs), expected_contacts[i, :n, :n].numpy(), atol=atol, rtol=0)
