"""The loaded model users hold: contacts, attention maps, embeddings, fill-mask.

>>> model = contacts.load_model("esm1b_t33_650M_UR50S")          # doctest: +SKIP
>>> probs = model.predict_contacts("MKTAYIAKQRQISFVKSHFSRQ")     # doctest: +SKIP
>>> probs.shape                                                  # doctest: +SKIP
(22, 22)
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ..constants import JACOBIAN_HOLD_BYTES, MAX_TOKENS, default_overlap
from ..encoder.alphabet import InvalidSequenceError, SequenceTooLongError
from ..encoder.families import PRESETS, build, build_model, read_checkpoint
from ..encoder.family import Encoder, EncoderConfig, NoLanguageModelHeadError
from ..encoder.sequences import check_sequences
from ..features import ContactAccumulator, fused_default
from ..io.hashing import sha256_tensors
from ..io.regression import REGRESSION_KEYS, check_trained_for, read_regression
from .batching import token_batches, windows
from .jacobian import jacobian_contacts
from .variants import score_variants

RANDOM_PREFIX = "random:"


class MissingRegressionError(RuntimeError):
    """Contacts were asked of a model loaded without contact-regression weights."""


__all__ = ["MissingRegressionError", "NoLanguageModelHeadError", "Predictor", "auto_dtype", "build_model", "check_device",
           "load_model", "token_batches", "windows"]


def load_model(
    source: str | os.PathLike,
    *,
    regression: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
) -> Predictor:
    """Load a protein language model: ESM from a release ``.pt`` or name, any family from a folder or Hub id.

    Parameters
    ----------
    source : str or path
        ``esm1b_t33_650M_UR50S.pt`` (its ``-contact-regression.pt`` is looked for
        beside it); a transformers folder of ``model_type`` ``esm`` (its contact head
        is the regression), ``bert`` (ProtBert, IgBert, AntiBERTy layouts), ``roberta``
        or ``t5`` (the encoder, as ProtT5's ``T5EncoderModel``); a release name such as
        ``"esm1b_t33_650M_UR50S"`` (cached in ``$CONTACTS_CACHE``, downloaded if absent);
        a HuggingFace Hub id such as ``"facebook/esm2_t33_650M_UR50D"`` or
        ``"Rostlab/prot_bert"`` (through huggingface_hub: its cache, ``HF_HOME``,
        ``HF_HUB_OFFLINE``); or ``"antiberty"``, the trained AntiBERTy that the
        ``antiberty`` package ships. Only ESM releases come with a contact regression;
        for the others train one (``contacts train-probe``) and pass it as ``regression``.
    regression : path, optional
        A contact-regression file to use instead of the one found with the model.
    device : str or torch.device, optional
        Default: ``"cuda"`` when available, else ``"cpu"``.
    dtype : torch.dtype or str, optional
        ``float32`` (default), ``float16`` or ``bfloat16`` for the weights and activations,
        or ``"auto"``: float16 on a CUDA GPU that has tensor cores, float32 elsewhere
        (:func:`auto_dtype`; :attr:`Predictor.dtype` holds the choice).
        Softmax, the APC sums and the regression stay in float32; contacts then move by
        up to about 0.001 (float16) or 0.01 (bfloat16) from float32's on real sequences
        (``docs/benchmarks.md``, made by ``bench/device_check.py``). ``float64`` keeps
        everything in float64, softmax and sums included, and returns float64 contacts
        and attention maps: for checking exactness, not for speed.
    revision : str, optional
        Branch, tag or commit of a Hub id.

    ``"random:PRESET"`` (e.g. ``"random:tiny"``, ``"random:esm1b_t33_650M_UR50S"``) gives
    a model of that shape with random weights (:meth:`Predictor.random`), for trying
    the tools where no weights are at hand; its numbers mean nothing.
    """
    check_device(device)
    if str(source).startswith(RANDOM_PREFIX):
        preset = str(source)[len(RANDOM_PREFIX):]
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r} in {source!r}; presets: {sorted(PRESETS)}")
        model = Predictor.random(preset, device=device, dtype=dtype)
        if regression is not None:
            model.use_regression_file(regression)
        return model
    checkpoint = read_checkpoint(source, regression, revision=revision)
    if checkpoint.regression is None:
        warnings.warn(
            f"no contact-regression weights found for {source}: predict_contacts() will refuse "
            "to run (pass regression=PATH to load them, or train a probe with contacts train-probe)",
            stacklevel=2,
        )
    model = Predictor(build_model(checkpoint), checkpoint.regression, device=device, dtype=dtype)
    if regression is not None:
        check_trained_for(read_regression(regression).metadata, model.identity(lazy=True), str(regression))
    return model


def auto_dtype(device: str | torch.device) -> torch.dtype:
    """What ``dtype="auto"`` means on ``device``: float16 on a CUDA GPU with tensor cores
    (compute capability 7.0 or newer), float32 everywhere else.

    float16 rather than bfloat16: with the softmax, APC and regression in float32 it moves
    contacts about ten times less (``docs/benchmarks.md``, device check) at the same speed.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.get_device_capability(device) >= (7, 0):
        return torch.float16
    return torch.float32


def _resolve_dtype(dtype, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        allowed = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
                   "float64": torch.float64}
        if dtype == "auto":
            return auto_dtype(device)
        if dtype not in allowed:
            raise ValueError(f"dtype {dtype!r} is not one of {sorted(allowed)} or 'auto'")
        return allowed[dtype]
    return dtype


def _float32_sha256(model: torch.nn.Module) -> str:
    return sha256_tensors({k: v.detach().float().cpu() for k, v in model.state_dict().items()})


def check_device(device: str | torch.device | None) -> torch.device | None:
    """``device`` as a torch.device, refused with a ValueError when misspelt or absent on this machine.

    >>> check_device("gpu")
    Traceback (most recent call last):
    ValueError: unknown device 'gpu'; choose cpu, cuda, cuda:N or mps
    """
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {str(device)!r}; choose cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            raise ValueError(f"this torch build ({torch.__version__}) has no CUDA support; choose cpu")
        if not torch.cuda.is_available():
            raise ValueError("no CUDA GPU is visible to this process; choose cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"GPU {dev.index} does not exist: this machine has {torch.cuda.device_count()} "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("the mps device (Apple GPU) is not available here; choose cpu")
    elif dev.type not in ("cpu", "cuda", "mps", "meta"):
        raise ValueError(f"device {str(device)!r} is not supported; choose cpu, cuda, cuda:N or mps")
    return dev


class Predictor:
    """An encoder of any family with its contact regression (if any), ready for sequences.

    Every output is laid on the residues: the family's special tokens (``<cls>``,
    ``[CLS]``, ``<s>``, ``</s>``, ...) never appear in one; layers are 1-based and
    heads 0-based for every family.

    Parameters
    ----------
    model : Encoder
        A family's module (:class:`contacts.encoder.family.Encoder`).
    regression : tuple of Tensor, shapes=((1, l * h), (1,)), or None
    """

    #: Take the fused contact pass (:func:`contacts.features.contact_term`, compiled) where the
    #: encoder gives its scores (ESM): None follows :func:`contacts.features.fused_default`
    #: (``$CONTACTS_FUSED``; on CUDA by default).
    fused_contacts: bool | None = None

    def __init__(self, model: Encoder, regression=None, *, device=None, dtype=None):
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        self._weights_sha256: str | None = None
        if self.dtype != torch.float32 and all(p.dtype == torch.float32 for p in model.parameters()):
            # the cast below loses bits: the weights are named by their float32 values, hashed first
            self._weights_sha256 = _float32_sha256(model)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.config: EncoderConfig = model.cfg
        self.alphabet = model.alphabet
        # Specials before the residues (0 for a T5 encoder, 1 for the others); one end token after.
        self._lead = len(self.alphabet.prefix)
        self.regression = None
        self._contact_sum: ContactAccumulator | None = None
        if regression is not None:
            self.set_regression(*regression)

    @classmethod
    def random(cls, config: str | EncoderConfig = "tiny", *, seed: int = 0, device=None, dtype=None) -> Predictor:
        """A model with random weights (and a random regression), for tests and tutorials.

        Weights are drawn with a fan-in scale large enough that attention is peaked
        rather than uniform, and layer norms are perturbed from (1, 0), so the maps
        (and the numbers derived from them) are not degenerate. They mean nothing.
        """
        cfg = PRESETS[config] if isinstance(config, str) else config
        gen = torch.Generator().manual_seed(seed)
        model = build(cfg)
        with torch.no_grad():
            for name, p in model.named_parameters():
                noise = torch.randn(p.shape, generator=gen)
                if p.ndim >= 2:
                    p.copy_(noise * 1.5 / p.shape[-1] ** 0.5)
                elif "norm" in name and name.endswith("weight"):
                    p.copy_(1 + 0.2 * noise)
                else:
                    p.copy_(0.2 * noise)
        weight = torch.randn(1, cfg.num_maps, generator=gen) / cfg.num_maps**0.5
        return cls(model, (weight, torch.randn(1, generator=gen)), device=device, dtype=dtype)

    def set_regression(self, weight: Tensor, bias: Tensor) -> None:
        """Use these contact-regression coefficients, shapes (1, l * h) and (1,)."""
        weight = torch.as_tensor(weight, dtype=torch.float32).reshape(1, -1)
        bias = torch.as_tensor(bias, dtype=torch.float32).reshape(1)
        if weight.shape[1] != self.config.num_maps:
            raise ValueError(
                f"regression has {weight.shape[1]} coefficients; this model has "
                f"{self.config.num_layers} x {self.config.num_heads} = {self.config.num_maps} maps"
            )
        self.regression = (weight, bias)
        self._contact_sum = None

    @property
    def has_lm_head(self) -> bool:
        """Whether the model predicts tokens (logits, fill-mask, variant scores); a T5 encoder does not."""
        return self.model.has_lm_head

    def _require_lm_head(self, what: str) -> None:
        if not self.model.has_lm_head:
            raise NoLanguageModelHeadError(
                f"{self.config.name} has no language-model head (an encoder only), so it has no {what}"
            )

    def use_regression_file(self, path: str | os.PathLike) -> None:
        """Use the contact regression (or probe) in this file, refused in one line where it was trained for another model."""
        regression = read_regression(path, self.config.num_maps)
        check_trained_for(regression.metadata, self.identity(lazy=True), str(path))
        self.set_regression(*regression.float32())

    def weights_sha256(self) -> str:
        """SHA-256 over the weights as float32 (names, shapes, bytes): the same for every dtype it runs in.

        Computed once (hashing takes about a second per GB of weights), then kept; a
        model cast to float16 or bfloat16 at construction was hashed before the cast.
        """
        if self._weights_sha256 is None:
            self._weights_sha256 = _float32_sha256(self.model)
        return self._weights_sha256

    def identity(self, *, lazy: bool = False) -> dict:
        """What a probe file records of the model it was trained for: name, weights hash, layers x heads.

        With ``lazy=True`` the hash is a callable, computed only when a check needs it.
        """
        return {"name": self.config.name, "weights_sha256": self.weights_sha256 if lazy else self.weights_sha256(),
                "num_layers": self.config.num_layers, "num_heads": self.config.num_heads}

    def regression_state(self) -> dict[str, Tensor]:
        """The regression in fair-esm's key layout."""
        if self.regression is None:
            raise MissingRegressionError("this model has no contact-regression weights")
        return dict(zip(REGRESSION_KEYS, self.regression))

    # ------------------------------------------------------------------ tokens

    def _residues(self, sequences: Sequence[str]) -> list[list[str]]:
        """Residue tokens of each sequence, after the input check every door and every family shares
        (:func:`contacts.encoder.sequences.check_sequences`: every problem of every sequence in one error);
        what only this family's vocabulary refuses (a mask token it lacks) is named by the sequence's index."""
        out = []
        for i, sequence in enumerate(check_sequences(list(sequences), stacklevel=4)):
            try:
                out.append(self.alphabet.tokenize(sequence))
            except InvalidSequenceError as exc:
                raise InvalidSequenceError(f"sequence {i}: {exc}") from None
        return out

    def _encode(self, sequences: Sequence[str]) -> list[list[int]]:
        """Token ids of whole sequences (no windows): each must fit one forward pass."""
        encoded = []
        for i, residues in enumerate(self._residues(sequences)):
            if len(residues) > self.config.max_residues:
                raise SequenceTooLongError(
                    f"sequence {i} has {len(residues)} residues; {self.config.name} takes at most "
                    f"{self.config.max_residues} per forward pass"
                )
            encoded.append(self.alphabet.ids(residues))
        return encoded

    def _pad(self, encoded: Sequence[list[int]]) -> Tensor:
        """A padded batch on the model's device; on a GPU, copied from pinned memory without waiting."""
        tokens = self.alphabet.pad(encoded)
        if self.device.type == "cuda":
            return tokens.pin_memory().to(self.device, non_blocking=True)
        return tokens.to(self.device)

    def _to_host(self, values: Tensor) -> tuple[Tensor, torch.cuda.Event | None]:
        """Start copying a result to the host: (host tensor, event to wait on before reading it).

        On a GPU the copy goes into pinned memory without waiting (the event marks its end);
        elsewhere it is done on return (no event).
        """
        if self.device.type != "cuda":
            return values.cpu(), None
        host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
        host.copy_(values, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return host, ready

    def _batched(self, sequences, max_tokens) -> Iterator[tuple[list[int], list[list[int]], Tensor]]:
        encoded = self._encode(sequences)
        for idx in token_batches([len(e) for e in encoded], max_tokens):
            yield idx, [encoded[i] for i in idx], self._pad([encoded[i] for i in idx])

    # ------------------------------------------------------------------ contacts

    def _accumulator(self) -> ContactAccumulator:
        if self._contact_sum is None:
            weight, bias = self.regression
            self._contact_sum = ContactAccumulator(weight, bias, self.config.num_heads)
        return self._contact_sum.fresh()

    @torch.inference_mode()
    def _contacts(self, tokens: Tensor, *, ragged: bool | None = None) -> Tensor:
        """Contact probabilities of a padded batch, accumulated layer by layer; shape=(b, t-2, t-2).

        Only the layers with a non-zero regression coefficient return their maps (the
        others run the fused attention kernel), the pass stops after the last of them,
        and nothing waits for the device until the caller reads the result. ``ragged``
        says whether the batch's lengths differ (known on the host; read off the
        device when not given).
        """
        acc = self._accumulator()
        eos = self.alphabet.eos_idx
        if getattr(self.model, "streams_heads", False):
            # One head's map at a time (the encoder hands them over as it makes them): memory-bounded
            # already, so these families take no fused pass.
            def add_head(layer: int, head: int, weights: Tensor) -> None:
                acc.add_head(layer, head, weights, tokens, eos, eos_inside=ragged, lead=self._lead)

            for _ in self.model.iter_layers(tokens, need_weights=acc.layers, num_layers=acc.last_layer,
                                            padded=ragged, heads_to=add_head):
                pass
        elif getattr(self.model, "gives_scores", False) and self._fused(tokens.device):
            # Each layer's scores: softmax, APC and the head sum in one compiled pass, no float32 maps.
            layers = self.model.iter_layers(
                tokens, need_weights=acc.layers, num_layers=acc.last_layer, padded=ragged, scores=True
            )
            for layer, _, scores, _ in layers:
                acc.add_scores(layer, scores, tokens, self.alphabet.padding_idx, eos, lead=self._lead)
                del scores
        else:
            layers = self.model.iter_layers(
                tokens, need_weights=acc.layers, num_layers=acc.last_layer, padded=ragged
            )
            for layer, _, weights, _ in layers:
                acc.add(layer, weights, tokens, eos, eos_inside=ragged, lead=self._lead)
                del weights  # before the next block makes its own
        return acc.probabilities(tokens.shape[0], tokens.shape[1] - 1 - self._lead, device=tokens.device)

    def _fused(self, device: torch.device) -> bool:
        """Whether this pass takes the fused contact pass (:attr:`fused_contacts`, else its default)."""
        return fused_default(device) if self.fused_contacts is None else self.fused_contacts

    def predict_contacts(
        self,
        sequences: str | Sequence[str],
        *,
        max_tokens: int = MAX_TOKENS,
        window: int | None = None,
        overlap: int | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Contact probabilities from the attention maps and the contact regression.

        Maps are turned into contacts one layer at a time, and the pass stops after
        the last layer with a non-zero coefficient: never all maps at once.
        Sequences longer than ``window`` are cut into overlapping windows (see
        :func:`windows`); where one window covers the sequence, nothing changes.

        Parameters
        ----------
        sequences : str or sequence of str
        max_tokens : int
            Token budget of one batch (batch size x longest sequence).
        window : int, optional
            Residues per window; default the model's limit (1022 for ESM-1b).
        overlap : int, optional
            Residues shared by consecutive windows; default ``window // 2``.

        Returns
        -------
        probs : ndarray, shape=(L, L), dtype=float32 (float64 for a float64 model), or a list of them
            For windowed sequences, the mean over the windows that hold both
            residues of a pair, and NaN for pairs that no window holds (only pairs
            more than ``overlap`` apart can be NaN).
        """
        single = isinstance(sequences, str)
        seqs = [sequences] if single else list(sequences)
        out: list[np.ndarray | None] = [None] * len(seqs)
        for i, probs in self.iter_contacts(seqs, max_tokens=max_tokens, window=window, overlap=overlap):
            out[i] = probs
        return out[0] if single else out

    def iter_contacts(
        self,
        sequences: Sequence[str],
        *,
        max_tokens: int = MAX_TOKENS,
        window: int | None = None,
        overlap: int | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Like :meth:`predict_contacts`, yielding ``(index, probs)`` as each sequence completes.

        Sequences are validated before any work starts, then run longest first.
        """
        if self.regression is None:
            raise MissingRegressionError(
                f"{self.config.name} was loaded without contact-regression weights; pass "
                "regression=PATH to load_model (a release's *-contact-regression.pt, or a probe "
                "trained for this model with contacts train-probe)"
            )
        limit = self.config.max_residues
        window = limit if window is None else window
        if not 1 <= window <= limit:
            raise ValueError(f"window {window} is outside 1..{limit} residues")
        overlap = default_overlap(window) if overlap is None else overlap
        residues = self._residues(sequences)
        jobs = [(i, lo, hi) for i, r in enumerate(residues) for lo, hi in windows(len(r), window, overlap)]
        ids = [self.alphabet.ids(residues[i][lo:hi]) for i, lo, hi in jobs]
        remaining = Counter(i for i, _, _ in jobs)
        sums: dict[int, np.ndarray] = {}
        counts: dict[int, np.ndarray] = {}

        def finished(batch, host, ready):
            if ready is not None:
                ready.synchronize()
            probs = host.numpy()
            for row, j in zip(probs, batch):
                i, lo, hi = jobs[j]
                part = row[: hi - lo, : hi - lo]
                if remaining[i] == 1 and i not in sums:
                    yield i, np.ascontiguousarray(part)
                    continue
                n = len(residues[i])
                total = sums.setdefault(i, np.zeros((n, n), probs.dtype))
                count = counts.setdefault(i, np.zeros((n, n), probs.dtype))
                total[lo:hi, lo:hi] += part
                count[lo:hi, lo:hi] += 1
                remaining[i] -= 1
                if remaining[i] == 0:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        yield i, np.where(count > 0, sums.pop(i) / count, probs.dtype.type(np.nan))
                    del counts[i]

        # On a GPU the next batch is queued before this one's maps are read, so the device
        # never waits for the host to take them (or for whoever consumes them).
        in_flight = []
        for batch in token_batches([len(x) for x in ids], max_tokens):
            ragged = len({len(ids[j]) for j in batch}) > 1
            in_flight.append((batch, *self._to_host(self._contacts(self._pad([ids[j] for j in batch]), ragged=ragged))))
            if len(in_flight) > (self.device.type == "cuda"):
                yield from finished(*in_flight.pop(0))
        while in_flight:
            yield from finished(*in_flight.pop(0))

    def jacobian_contacts(
        self,
        sequences: str | Sequence[str],
        *,
        center: str = "iajb",
        apc: bool = True,
        max_tokens: int = MAX_TOKENS,
        window: int | None = None,
        overlap: int | None = None,
        hold_bytes: int = JACOBIAN_HOLD_BYTES,
        progress: bool = False,
    ) -> np.ndarray | list[np.ndarray]:
        """Contact scores from the categorical Jacobian of the masked LM: no regression, no probe.

        Every residue is replaced by each of the 20 standard amino acids (``20 L`` forward
        passes on the fused kernel, batched by ``max_tokens``); the response of the logits
        at every position, centred (``center="iajb"``: over all four axes, as Zhang et al.,
        PNAS 2024; ``"ab"``: each 20 x 20 block), is scored by its Frobenius norm, then
        symmetrized, the diagonal zeroed, APC-corrected. See
        :func:`contacts.predictor.jacobian.jacobian_contacts` for the parameters and
        :mod:`contacts.predictor.jacobian` for the definition, memory and cost.

        Returns
        -------
        scores : ndarray, shape=(L, L), dtype=float32, or a list of them
            Not probabilities: higher is more likely in contact.
        """
        return jacobian_contacts(self, sequences, center=center, apc=apc, max_tokens=max_tokens, window=window,
                                 overlap=overlap, hold_bytes=hold_bytes, progress=progress)

    # ------------------------------------------------------------------ attention, embeddings

    def _layer_numbers(self, layers, *, allow_zero: bool) -> list[int]:
        n = self.config.num_layers
        lo = 0 if allow_zero else 1
        out = []
        for layer in [layers] if isinstance(layers, int) else layers:
            number = layer + n + 1 if layer < 0 else layer
            if not lo <= number <= n:
                raise ValueError(f"layer {layer} is outside {lo}..{n} (or -{n}..-1)")
            out.append(number)
        return out

    @torch.inference_mode()
    def attention_maps(self, sequence: str, layers: int | Sequence[int] | None = None) -> np.ndarray:
        """Softmax attention of every head, special tokens removed.

        Parameters
        ----------
        layers : int or sequence of int, optional
            1-based layer numbers (negative counts from the end); default all.

        Returns
        -------
        maps : ndarray, shape=(n_layers, heads, L, L), dtype=float32 (float64 for a float64 model)
        """
        wanted = self._layer_numbers(
            range(1, self.config.num_layers + 1) if layers is None else layers, allow_zero=False
        )
        tokens = self._pad(self._encode([sequence]))
        found = {}
        # Every layer up to the last one wanted computes its maps the same way, so a
        # layer's maps do not depend on which other layers were asked for.
        layers = self.model.iter_layers(tokens, need_weights=True, num_layers=max(wanted), padded=False)
        for layer, _, weights, _ in layers:
            if layer in wanted:
                maps = weights[0, :, self._lead:-1, self._lead:-1]
                found[layer] = maps.to(torch.promote_types(maps.dtype, torch.float32)).cpu().numpy()
        return np.stack([found[layer] for layer in wanted])

    @torch.inference_mode()
    def iter_attention(self, sequence: str, num_layers: int | None = None) -> Iterator[tuple[int, Tensor, Tensor]]:
        """One layer's raw attention and hidden state at a time, as the blocks run.

        For analyses that must never hold every layer's maps (the attention
        properties of :mod:`probes.attention`); :meth:`attention_maps` stacks them.

        Parameters
        ----------
        sequence : str, length L
        num_layers : int, optional
            Stop after this many layers; default all.

        Yields
        ------
        layer : int
            1-based layer number.
        attention : Tensor, shape=(heads, L + 2, L + 2), dtype=float32
            Softmax weights of every head, on :attr:`device`, laid out as
            ``[start special, residues, end special]`` for every family (each row
            sums to 1): row and column 0 hold the ``<cls>`` / ``[CLS]`` / ``<s>``
            token's weights, or zeros where the family has none (a T5 encoder).
        hidden : Tensor, shape=(L, e), dtype=float32
            Residue states after the block (special tokens dropped; the last layer's
            before the final LayerNorm).
        """
        tokens = self._pad(self._encode([sequence]))
        missing = 1 - self._lead  # the zero row and column standing in for an absent start token
        for layer, x, weights, _ in self.model.iter_layers(tokens, need_weights=True, num_layers=num_layers):
            attention = weights[0].float()
            if missing:
                attention = torch.nn.functional.pad(attention, (missing, 0, missing, 0))
            yield layer, attention, x[0, self._lead:-1].float()

    @torch.inference_mode()
    def embed(
        self,
        sequences: str | Sequence[str],
        layers: int | Sequence[int] = -1,
        pool: str | None = None,
        *,
        max_tokens: int = MAX_TOKENS,
    ):
        """Per-residue or per-sequence representations.

        Parameters
        ----------
        layers : int or sequence of int
            0 = embeddings, -1 / ``num_layers`` = final (layer-normed) output.
        pool : None or "mean"
            ``"mean"`` averages over residues (special tokens excluded).

        Returns
        -------
        For one sequence: with one int layer an ndarray, shape=(L, e), or (e,) pooled;
        with a sequence of layers a dict keyed by the layers as asked (``layers=[1, -1]``
        gives keys 1 and -1). For a list of sequences: pooled, one ndarray of
        shape=(n, e) (a dict of them for several layers), ready to stack features
        from; not pooled, a list of per-sequence results (their lengths differ).
        """
        if pool not in (None, "mean"):
            raise ValueError(f"pool must be None or 'mean', got {pool!r}")
        numbers = self._layer_numbers(layers, allow_zero=True)
        asked = [layers] if isinstance(layers, int) else list(layers)
        single = isinstance(sequences, str)
        seqs = [sequences] if single else list(sequences)
        out: list = [None] * len(seqs)
        for idx, encoded, tokens in self._batched(seqs, max_tokens):
            ragged = len({len(ids) for ids in encoded}) > 1
            reps = self.model(tokens, repr_layers=numbers, padded=ragged).representations
            if pool:
                # Mean over residues on the device; one transfer per batch.
                keep = torch.zeros(tokens.shape, dtype=torch.float32)
                for b, ids in enumerate(encoded):
                    keep[b, self._lead : len(ids) - 1] = 1 / (len(ids) - 1 - self._lead)
                keep = keep.to(self.device, non_blocking=True)
                host = {n: torch.einsum("bt,bte->be", keep, reps[n].float()).cpu() for n in numbers}
            else:
                host = {n: reps[n].float().cpu() for n in numbers}
            for b, (i, ids) in enumerate(zip(idx, encoded)):
                per_layer = {}
                for layer, number in zip(asked, numbers):
                    r = host[number][b] if pool else host[number][b, self._lead : len(ids) - 1]
                    per_layer[layer] = r.numpy()
                out[i] = per_layer[layers] if isinstance(layers, int) else per_layer
        if single:
            return out[0]
        if pool and isinstance(layers, int):
            return np.stack(out) if out else np.empty((0, self.config.embed_dim), dtype=np.float32)
        if pool:
            return {layer: np.stack([o[layer] for o in out]) for layer in asked}
        return out

    # ------------------------------------------------------------------ masked LM

    @torch.inference_mode()
    def iter_logits(
        self, sequences: Sequence[str], *, max_tokens: int = MAX_TOKENS, amino_acids: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Language-model logits of many sequences in batches of at most ``max_tokens`` tokens, as each batch completes.

        The passes run the fused attention kernel (no maps are made). This is the
        door for many-sequence scans (every substitution of a protein): sequences
        are validated up front, then run longest first.

        Parameters
        ----------
        sequences : sequence of str
        max_tokens : int
            Token budget of one batch (batch size x longest sequence, specials included).
        amino_acids : bool
            Only the 20 standard amino acids' columns, in ``ACDEFGHIKLMNPQRSTVWY`` order
            (the same columns for every family); default the model's whole vocabulary
            (:attr:`alphabet` ``.tokens`` order).

        Yields
        ------
        index : int
        logits : ndarray, shape=(L, vocab) or (L, 20), dtype=float32
            One row per residue; the special tokens' rows are dropped.
        """
        self._require_lm_head("logits")
        columns = torch.tensor(self.alphabet.amino_acid_idx, device=self.device) if amino_acids else None
        for idx, encoded, tokens in self._batched(list(sequences), max_tokens):
            ragged = len({len(ids) for ids in encoded}) > 1
            logits = self.model(tokens, padded=ragged).logits
            if columns is not None:
                logits = logits.index_select(-1, columns)
            host = logits.float().cpu().numpy()
            for row, (i, ids) in zip(host, zip(idx, encoded)):
                yield i, np.ascontiguousarray(row[self._lead : len(ids) - 1])

    def logits(
        self, sequences: str | Sequence[str], *, max_tokens: int = MAX_TOKENS, amino_acids: bool = False
    ) -> np.ndarray | list[np.ndarray]:
        """Language-model logits, one row per residue (specials dropped), of one sequence or a list.

        See :meth:`iter_logits` for the batching and the columns.

        Returns
        -------
        logits : ndarray, shape=(L, vocab) or (L, 20), dtype=float32, or a list of them

        Raises
        ------
        NoLanguageModelHeadError
            The model has no language-model head (a T5 encoder).
        """
        single = isinstance(sequences, str)
        seqs = [sequences] if single else list(sequences)
        out: list[np.ndarray | None] = [None] * len(seqs)
        for i, row in self.iter_logits(seqs, max_tokens=max_tokens, amino_acids=amino_acids):
            out[i] = row
        return out[0] if single else out

    def fill_mask(self, text: str, top_k: int = 5, *, amino_acids_only: bool = False):
        """Predict the tokens behind each ``<mask>``, as the transformers fill-mask pipeline does.

        Parameters
        ----------
        text : str
            A sequence with at least one ``<mask>``.
        top_k : int
            Predictions per mask.
        amino_acids_only : bool
            Rank only the 20 standard amino acids (their probabilities renormalized);
            by default the full vocabulary is ranked.

        Returns
        -------
        list of dict (one mask) or list of lists (several): ``sequence`` (the residues
        with that mask filled, written as a sequence is: no spaces), ``score``, ``token`` (the model's id),
        ``token_str`` (the residue letter, or the special token as the model writes it).
        Unlike the transformers pipeline, a predicted special token (or another mask)
        stays in ``sequence`` rather than being dropped, so positions never shift.
        """
        self._require_lm_head("fill-mask")
        text = check_sequences([text], stacklevel=3)[0]
        residues = self.alphabet.tokenize(text)
        mask = "<mask>"
        positions = [i for i, t in enumerate(residues) if t == mask]
        if not positions:
            raise ValueError(f"no {mask} in the sequence")
        candidates = (
            list(self.alphabet.amino_acid_idx) if amino_acids_only else list(range(len(self.alphabet)))
        )
        if not 1 <= top_k <= len(candidates):
            raise ValueError(f"top_k must be in 1..{len(candidates)}, got {top_k}")
        logits = torch.from_numpy(self.logits(text))
        display = self.alphabet.display
        results = []
        for pos in positions:
            probs = logits[pos, candidates].double().softmax(-1)
            scores, order = probs.topk(top_k)
            preds = []
            for score, j in zip(scores.tolist(), order.tolist()):
                token = candidates[j]
                filled = list(residues)
                filled[pos] = display[token]
                preds.append({
                    "sequence": "".join(filled),
                    "score": score,
                    "token": token,
                    "token_str": display[token],
                })
            results.append(preds)
        return results[0] if len(results) == 1 else results

    # ------------------------------------------------------------------ variant effects

    def score_variants(self, sequence: str, mutations: str | Sequence[str],
                       method: str = "masked_marginal", **options) -> float | np.ndarray:
        """Log-odds of mutant against wild type per mutation (``A42G``, ``A42G:L50P``).

        See :func:`contacts.predictor.variants.score_variants` for methods, options and errors.
        """
        return score_variants(self, sequence, mutations, method, **options)
