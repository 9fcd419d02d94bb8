"""What every encoder family offers the layers above it: one small typed protocol.

A family (ESM in :mod:`~contacts.encoder.model`, BERT in :mod:`~contacts.encoder.bert`,
RoBERTa in :mod:`~contacts.encoder.roberta`, the T5 encoder in :mod:`~contacts.encoder.t5`)
is one module holding a frozen config, an ``nn.Module`` that meets :class:`Encoder`, and
the reader of its files. :mod:`contacts.encoder.families` picks the family of a file or
name; nothing above ``contacts/encoder/`` knows which one it holds.

Why native modules rather than transformers' classes at run time: each family is one
readable file written to give transformers' numbers (the conformance tests compare
logits and attention maps with transformers' own class, eager attention, to 1e-5), so
that

* the contact pass runs the blocks **one at a time**, asking for the softmax maps of
  only the layers the regression reads and using the fused kernel
  (``F.scaled_dot_product_attention``) everywhere else; transformers returns either
  no maps or every layer's at once (``output_attentions=True`` holds ``layers x heads
  x L x L`` floats, 0.5 GB for AntiBERTy at L = 510), and its per-layer modules change
  signature between releases;
* transformers stays a test dependency: loading a model imports nothing beyond torch
  and safetensors, and checkpoints are read by the package's safe loader.

The token layout is the same for every family: ``prefix`` specials (``<cls>``,
``[CLS]``, ``<s>``; none for a T5 encoder), one token per residue, one end token
(``<eos>``, ``[SEP]``, ``</s>``), then padding.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from einops import rearrange
from safetensors.torch import load_file
from torch import Tensor

from ..io.safe_load import SHOWN, CheckpointError, check_tensors, safe_torch_load
from ..io.text import read_json
from .alphabet import Alphabet

log = logging.getLogger("contacts")

__all__ = [
    "Checkpoint",
    "Encoder",
    "EncoderConfig",
    "EncoderOutput",
    "EncoderStack",
    "HeadSink",
    "LayerHeadSink",
    "NoLanguageModelHeadError",
    "drop",
    "head_sink",
    "load_strict",
    "read_hf_config",
    "read_hf_weights",
    "rename",
]


#: Inside a block: ``sink(head, weights)``, weights of one head, shape=(b, t, t).
HeadSink = Callable[[int, Tensor], None]
#: What ``iter_layers(heads_to=...)`` calls: ``sink(layer, head, weights)`` (1-based layer, 0-based head).
LayerHeadSink = Callable[[int, int, Tensor], None]


def head_sink(heads_to: LayerHeadSink, layer: int, pair_keep: Tensor | None) -> HeadSink:
    """A block's sink: calls ``heads_to(layer, head, weights)`` with padded rows and columns zeroed."""
    def sink(head: int, weights: Tensor) -> None:
        heads_to(layer, head, weights if pair_keep is None else weights * pair_keep)
    return sink


class NoLanguageModelHeadError(ValueError):
    """Logits were asked of an encoder that has no language-model head (a T5 encoder)."""


@dataclass
class EncoderOutput:
    """What one forward pass returns.

    Attributes
    ----------
    logits : Tensor, shape=(b, t, vocab), or None
        None where the model has no language-model head.
    representations : dict[int, Tensor], each shape=(b, t, e)
        Hidden states by layer (0 = embeddings; the last layer's is the encoder's
        output, with its final LayerNorm where the family has one).
    attentions : Tensor, shape=(b, l, h, t, t), or None
        Softmax attention of every head, padded rows and columns zeroed.
    """

    logits: Tensor | None
    representations: dict[int, Tensor] = field(default_factory=dict)
    attentions: Tensor | None = None


@runtime_checkable
class EncoderConfig(Protocol):
    """The shape the layers above the encoder read: a frozen dataclass of each family meets it."""

    name: str
    num_layers: int
    num_heads: int
    embed_dim: int

    @property
    def max_residues(self) -> int:
        """Residues one forward pass takes (the default window of long sequences)."""

    @property
    def num_maps(self) -> int:
        """Attention maps per forward pass: layers x heads."""


@runtime_checkable
class Encoder(Protocol):
    """A family's model, as the predictor uses it.

    Attributes
    ----------
    cfg : EncoderConfig
    alphabet : Alphabet
        Residue letters -> ids, the specials and where they sit.
    has_lm_head : bool
        Whether :meth:`forward` returns logits (masked-LM families) or None.
    streams_heads : bool, optional
        Whether :meth:`iter_layers` takes ``heads_to=`` (a callable ``(layer, head,
        weights)``) and hands it each map one head at a time, so that a consumer never
        holds a layer's maps at once (the contact pass uses it where offered).
    gives_scores : bool, optional
        Whether :meth:`iter_layers` takes ``scores=True`` and then yields each named
        layer's scaled scores before the softmax (padded keys ``-inf``) instead of its maps,
        for the fused contact pass (:func:`contacts.features.contact_term`).
    """

    cfg: EncoderConfig
    alphabet: Alphabet
    has_lm_head: bool

    def iter_layers(
        self,
        tokens: Tensor,
        *,
        need_weights: bool | Collection[int] = False,
        num_layers: int | None = None,
        padded: bool | None = None,
    ) -> Iterator[tuple[int, Tensor, Tensor | None, Tensor]]:
        """Run the blocks one at a time, yielding ``(layer, hidden, weights, padding_mask)``.

        ``layer`` is 1-based; ``weights``, shape=(b, h, t, t), the softmax maps of
        that block (padded rows and columns zeroed) for the layers ``need_weights``
        names (all for True), None for the others, which run the fused kernel.
        """

    def forward(
        self, tokens: Tensor, repr_layers: Iterable[int] = (), need_weights: bool = False, *,
        padded: bool | None = None,
    ) -> EncoderOutput:
        """Logits (where there is a head), chosen representations and, if asked, every map."""

    def __call__(self, tokens: Tensor, repr_layers: Iterable[int] = (), need_weights: bool = False, *,
                 padded: bool | None = None) -> EncoderOutput: ...


class EncoderStack(torch.nn.Module):
    """The block loop a family module shares: ``iter_layers`` (one block at a time, maps where asked,
    optionally streamed head by head) and ``forward``, around the family's own parts.

    A subclass defines ``cfg``, ``layers`` (blocks called as ``layer(x, context, need_weights,
    heads_to)`` and returning ``(x, weights or None)``), :meth:`embed`, and where it differs
    :meth:`attention_context` (what every block's attention takes: the padding mask here),
    :meth:`final` (the last hidden state's norm) and :meth:`head` (logits, or None).
    """

    streams_heads = True

    def embed(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """``(x, padding_mask)`` before the first block, shapes (b, t, e) and (b, t)."""
        raise NotImplementedError

    def attention_context(self, padding_mask: Tensor | None, x: Tensor):
        """What each block's attention takes: the padding mask (None when nothing is padded)."""
        return padding_mask

    def final(self, x: Tensor) -> Tensor:
        """The last block's output as the encoder returns it (a family's final norm; none here)."""
        return x

    def head(self, x: Tensor) -> Tensor | None:
        """Logits from the final hidden state, None without a language-model head."""
        lm_head = getattr(self, "lm_head", None)
        return lm_head(x) if lm_head is not None else None

    def iter_layers(
        self,
        tokens: Tensor,
        *,
        need_weights: bool | Collection[int] = False,
        num_layers: int | None = None,
        padded: bool | None = None,
        heads_to: LayerHeadSink | None = None,
    ) -> Iterator[tuple[int, Tensor, Tensor | None, Tensor]]:
        """Run the blocks one at a time (see :class:`Encoder`).

        With ``heads_to``, the layers ``need_weights`` names hand their maps to it one
        head at a time, ``heads_to(layer, head, weights)`` with ``weights`` of shape
        (b, t, t) (padded rows and columns zeroed), and yield None for them.
        """
        x, padding_mask = self.embed(tokens)
        yield from self._blocks(x, padding_mask, need_weights, num_layers, padded, heads_to)

    def _blocks(self, x, padding_mask, need_weights, num_layers=None, padded=None, heads_to=None):
        if padded is None:
            padded = bool(padding_mask.any())
        context = self.attention_context(padding_mask if padded else None, x)
        pair_keep = None
        if need_weights and padded:
            keep = (~padding_mask).type_as(x)
            pair_keep = rearrange(keep, "b i -> b 1 i 1") * rearrange(keep, "b j -> b 1 1 j")
        for i, layer in enumerate(self.layers[:num_layers]):
            need = need_weights if isinstance(need_weights, bool) else (i + 1) in need_weights
            sink = None
            if need and heads_to is not None:
                sink = head_sink(heads_to, i + 1, None if pair_keep is None else pair_keep[:, 0])
                need = False
            x, weights = layer(x, context, need, sink)
            if need and pair_keep is not None:
                weights = weights * pair_keep
            yield i + 1, x, weights, padding_mask
            weights = None  # the consumer is done with this layer's maps before the next block makes its own

    def forward(
        self,
        tokens: Tensor,
        repr_layers: Iterable[int] = (),
        need_weights: bool = False,
        *,
        padded: bool | None = None,
    ) -> EncoderOutput:
        """Logits (None without a head), the hidden states of ``repr_layers`` (0 = embeddings, ``num_layers``
        = the encoder's output) and, if asked, every map."""
        repr_layers = set(repr_layers)
        n = self.cfg.num_layers
        bad = [r for r in repr_layers if not 0 <= r <= n]
        if bad:
            raise ValueError(f"repr_layers {bad} outside 0..{n}")
        x, padding_mask = self.embed(tokens)
        reps = {0: x} if 0 in repr_layers else {}
        attentions = []
        for layer, hidden, weights, _ in self._blocks(x, padding_mask, need_weights, padded=padded):
            x = hidden
            if layer in repr_layers and layer != n:
                reps[layer] = x
            if need_weights:
                attentions.append(weights)
        x = self.final(x)
        if n in repr_layers:
            reps[n] = x
        return EncoderOutput(logits=self.head(x), representations=reps,
                             attentions=torch.stack(attentions, dim=1) if need_weights else None)


@dataclass
class Checkpoint:
    """A checkpoint read from disk, translated to its family's parameter names.

    Attributes
    ----------
    config : EncoderConfig
        The family's config; its type says which module to build.
    state : dict[str, Tensor]
        Weights under the family module's names.
    regression : tuple of Tensor, shapes=((1, l * h), (1,)), or None
    source : str
    dropped : dict[str, str]
        Keys of the file that were left out on purpose, each with the reason.
    """

    config: Any
    state: dict[str, Tensor]
    regression: tuple[Tensor, Tensor] | None
    source: str
    dropped: dict[str, str] = field(default_factory=dict)


def read_hf_config(folder: Path) -> dict:
    """``config.json`` of a transformers model folder: a JSON object (UTF-8 text, :func:`contacts.io.text.read_json`)."""
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder} has no config.json: not a HuggingFace model folder")
    return check_config_values(read_json(path, dict, "config.json", error=CheckpointError), path)


#: ``config.json`` entries of every family read here, by the type each must have where present.
_COUNTS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "max_position_embeddings",
           "vocab_size", "num_layers", "d_model", "num_heads", "d_kv", "d_ff", "n_positions", "type_vocab_size",
           "relative_attention_num_buckets", "relative_attention_max_distance")
_IDS = ("pad_token_id", "mask_token_id")
_EPSILONS = ("layer_norm_eps", "layer_norm_epsilon")
_NAMES = ("model_type", "hidden_act", "feed_forward_proj", "position_embedding_type", "_name_or_path")


def check_config_values(cfg: dict, path: Path) -> dict:
    """Refuse, in one line naming the field, a ``config.json`` value of the wrong kind (a count that is not a
    positive integer, an id below 0, an epsilon that is not a positive number, a name that is not a string)."""
    for key in _COUNTS + _IDS:
        value = cfg.get(key)
        low = 0 if key in _IDS else 1
        if value is not None and (type(value) is not int or value < low):
            raise CheckpointError(f"{path}: {key} is {value!r}; it must be an integer of at least {low}")
    for key in _EPSILONS:
        value = cfg.get(key)
        if value is not None and (type(value) not in (int, float) or not 0 < value < 1):
            raise CheckpointError(f"{path}: {key} is {value!r}; it must be a number between 0 and 1")
    for key in _NAMES:
        value = cfg.get(key)
        if value is not None and not isinstance(value, str):
            raise CheckpointError(f"{path}: {key} is {value!r}; it must be a string")
    return cfg


def read_json_file(path: Path, what: str, expect: type = dict):
    """A JSON file of a model folder (a vocabulary, a tokenizer, a shard index), refused in one line when broken."""
    return read_json(path, expect, what, error=CheckpointError)


def _safetensors(path: Path) -> dict[str, Tensor]:
    """A safetensors file; a truncated or foreign one refused as such (the library's own errors are not ours)."""
    try:
        return load_file(path)
    except Exception as exc:  # SafetensorError, and OSError or ValueError on a broken header
        if isinstance(exc, OSError) and type(exc).__module__ == "builtins" and exc.errno is not None:
            raise
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt: {detail})") from None


def _torch_state(path: Path) -> dict[str, Tensor]:
    return check_tensors(safe_torch_load(path), str(path), finite=False)


def read_hf_weights(folder: Path) -> dict[str, Tensor]:
    """The state dict of a transformers folder: safetensors first, else ``.bin`` read with ``weights_only``."""
    for index_name, loader in (("model.safetensors.index.json", _safetensors),
                               ("pytorch_model.bin.index.json", _torch_state)):
        index = folder / index_name
        if index.exists():
            table = read_json_file(index, f"the shard index {index_name}").get("weight_map")
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise CheckpointError(f"{index}: 'weight_map' must map weight names to shard file names")
            state: dict[str, Tensor] = {}
            for shard in sorted(set(table.values())):
                if Path(shard).name != shard:
                    raise CheckpointError(f"{index}: shard {shard!r} is not a file name inside the folder")
                state.update(loader(folder / shard))
            return state
    if (folder / "model.safetensors").exists():
        return _safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").exists():
        return _torch_state(folder / "pytorch_model.bin")
    raise CheckpointError(
        f"{folder} has config.json but no model.safetensors, pytorch_model.bin or shard index"
    )


def rename(state: dict[str, Tensor], table, ignored=()) -> tuple[dict[str, Tensor], list[str]]:
    """Apply a rename table (first match wins); returns the renamed state and the keys no rule matched."""
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


def drop(state: dict[str, Tensor], reasons: Mapping[str, str]) -> dict[str, str]:
    """Remove the keys matching each pattern of ``reasons`` from ``state``; returns key -> reason."""
    dropped = {}
    for key in list(state):
        for pattern, reason in reasons.items():
            if re.search(pattern, key):
                dropped[key] = reason
                del state[key]
                break
    return dropped


def _some(items: list[str]) -> str:
    """``['a', 'b']``, the first :data:`~contacts.io.safe_load.SHOWN` of them and how many more."""
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"{items[:SHOWN]}{more}"


def load_strict(model: torch.nn.Module, state: Mapping[str, Tensor], source: str,
                *, optional: Collection[str] = ()) -> torch.nn.Module:
    """Load ``state`` into a module built on the meta device, refusing any missing, unexpected or misshapen key.

    ``optional`` names the module's keys a file may lack (their values must have
    been set in the module already, not on the meta device).

    Raises
    ------
    CheckpointError
        On one line: the missing and unexpected keys and the shapes that differ (the first
        few of each, with how many more), a floating weight given as integers, a value that
        is not a tensor, or a weight holding NaN or infinity.
    """
    state = check_tensors(state, source)
    reference = model.state_dict()
    expected = {k: v.shape for k, v in reference.items()}
    missing = sorted(expected.keys() - state.keys() - set(optional))
    unexpected = sorted(state.keys() - expected.keys())
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, model {tuple(expected[k])}"
        for k in sorted(expected.keys() & state.keys())
        if state[k].shape != expected[k]
    ]
    dtypes = [f"{k}: file {state[k].dtype}, model {reference[k].dtype}" for k in sorted(expected.keys() & state.keys())
              if reference[k].is_floating_point() and not state[k].is_floating_point()]
    if missing or unexpected or shapes or dtypes:
        parts = [f"{what} {_some(found)}" for what, found in (("missing key(s)", missing),
                                                               ("unexpected key(s)", unexpected),
                                                               ("shape mismatch", shapes),
                                                               ("not floating point", dtypes)) if found]
        raise CheckpointError(f"{source} does not match {getattr(model, 'cfg', None) and model.cfg.name}: "
                              + "; ".join(parts))
    model.load_state_dict(dict(state), strict=False, assign=True)
    return model
