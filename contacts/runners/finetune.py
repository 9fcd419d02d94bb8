"""Fine-tuning with ESM-1b's masked-LM recipe, and checkpoints in the release layout.

The recipe of the ESM-1b model card (Rives et al. 2021), each part configurable
in :class:`FinetuneConfig`:

* 15% of the residues of each sequence are selected (``<cls>``, ``<eos>`` and
  ``<pad>`` never are); of those 80% become ``<mask>``, 10% a different random
  standard amino acid and 10% stay as they are; the loss is the cross-entropy
  over the selected positions only;
* sequences longer than the model's window are randomly cropped to 1022 residues
  (1023 tokens with ``<cls>``; ``<eos>`` is appended after the crop);
* Adam (betas 0.9, 0.999), learning rate 1e-4, no weight decay, linear warmup over
  16,000 updates then inverse-square-root decay (runs shorter than 160,000 updates
  warm up over 10% of their updates instead: :func:`~contacts.runners.finetune_config.default_warmup`).

The encoder applies token dropout in training exactly as at inference (masked
embeddings zeroed, the rest rescaled), as fair-esm does. Training runs on the
:class:`~contacts.predictor.Predictor`'s own ``model`` in place, with gradients;
the Predictor's inference methods are not used for it.

>>> result = finetune(model, train, valid=valid, outdir="run")       # doctest: +SKIP
>>> contacts.load_model(result.checkpoints[-1])                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..encoder.alphabet import ALPHABET
from ..encoder.checkpoints import check_release_model, release_record, write_release
from ..encoder.config import ModelConfig
from ..encoder.sequences import InvalidSequenceError, check_sequences
from ..io.fasta import read_fasta
from ..io.files import atomic_write
from ..io.progress import progress as progress_bar
from ..predictor import Predictor, token_batches
from .finetune_config import FinetuneConfig

IGNORE_INDEX = -100
"""Target of the positions that carry no loss (``F.cross_entropy``'s ignore index)."""

# Validation draws its masks and crops from this seed every time, so perplexities compare.
_VALID_SEED = 12345


@dataclass
class FinetuneResult:
    """What a run did: one record per update (``step``, ``lr``, ``loss``, ``tokens``, and
    ``valid_perplexity`` where validated) and the checkpoints written, in order."""

    history: list[dict] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------- the recipe


def learning_rate(step: int, cfg: FinetuneConfig) -> float:
    """The learning rate of update ``step`` (1-based; 0 gives 0): linear warmup, then 1/sqrt decay.

    >>> cfg = FinetuneConfig(learning_rate=1e-4, warmup_updates=100)
    >>> [learning_rate(s, cfg) for s in (0, 50, 100, 400)]
    [0.0, 5e-05, 0.0001, 5e-05]
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step <= cfg.warmup_updates:
        return cfg.learning_rate * step / cfg.warmup_updates
    return cfg.learning_rate * math.sqrt(cfg.warmup_updates / step)


_AA_IDS = torch.tensor(ALPHABET.amino_acid_idx)
# Each token's rank among the 20 standard amino acids, -1 for every other token.
_AA_RANK = torch.full((len(ALPHABET),), -1, dtype=torch.long)
_AA_RANK[_AA_IDS] = torch.arange(len(_AA_IDS))


def mask_tokens(
    tokens: Tensor, cfg: FinetuneConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Corrupt a batch for masked-LM training.

    Each row has ``n`` residues (tokens other than ``<cls>``, ``<eos>``, ``<pad>``);
    ``select_prob * n`` of them are selected at random, the fraction rounded up or
    down at random so that the expected count is exact (as fairseq does). Each
    selected residue independently becomes ``<mask>`` (``mask_prob``), a different
    standard amino acid drawn uniformly (``random_prob``), or stays.

    Parameters
    ----------
    tokens : Tensor, shape=(b, t), dtype=int64
    generator : torch.Generator
        A CPU generator; all draws come from it.

    Returns
    -------
    inputs : Tensor, shape=(b, t), dtype=int64
    targets : Tensor, shape=(b, t), dtype=int64
        The original token at selected positions, ``IGNORE_INDEX`` elsewhere.
    """
    tokens = tokens.cpu()
    specials = torch.tensor([ALPHABET.cls_idx, ALPHABET.eos_idx, ALPHABET.padding_idx])
    candidate = ~torch.isin(tokens, specials)
    counts = candidate.sum(1)
    wanted = (cfg.select_prob * counts + torch.rand(counts.shape, generator=generator)).floor().long()
    wanted = torch.minimum(wanted, counts)
    # A random order of each row's residues: the first `wanted` of them are selected.
    keys = torch.rand(tokens.shape, generator=generator).masked_fill(~candidate, 2.0)
    rank = keys.argsort(1).argsort(1)
    selected = candidate & (rank < wanted[:, None])

    draw = torch.rand(tokens.shape, generator=generator)
    to_mask = selected & (draw < cfg.mask_prob)
    to_random = selected & (draw >= cfg.mask_prob) & (draw < cfg.mask_prob + cfg.random_prob)
    # A uniform draw among the standard amino acids other than the original one.
    own = _AA_RANK[tokens]
    choices = torch.where(own >= 0, len(_AA_IDS) - 1, len(_AA_IDS))
    pick = (torch.rand(tokens.shape, generator=generator) * choices).long()
    pick = pick + ((own >= 0) & (pick >= own)).long()
    replacement = _AA_IDS[pick]

    inputs = tokens.clone()
    inputs[to_mask] = ALPHABET.mask_idx
    inputs[to_random] = replacement[to_random]
    targets = torch.where(selected, tokens, torch.full_like(tokens, IGNORE_INDEX))
    return inputs, targets


def _encode_residues(sequences: Sequence[str], names: Sequence[str] | None = None) -> list[list[int]]:
    # training sequences are plain residues: the shared check, <mask> refused
    return [[ALPHABET.index(r) for r in ALPHABET.tokenize(seq)]
            for seq in check_sequences(sequences, names, mask=False, stacklevel=4)]


def _crop_and_pad(residue_ids: Sequence[list[int]], crop: int, generator: torch.Generator) -> Tensor:
    rows = []
    for ids in residue_ids:
        if len(ids) > crop:
            start = int(torch.randint(len(ids) - crop + 1, (1,), generator=generator))
            ids = ids[start : start + crop]
        rows.append([ALPHABET.cls_idx, *ids, ALPHABET.eos_idx])
    return ALPHABET.pad(rows)


def training_batches(
    residue_ids: Sequence[list[int]], crop: int, max_tokens: int, generator: torch.Generator
) -> Iterator[Tensor]:
    """Endless epochs of padded batches, shape=(b, t): sequences grouped by length under
    ``max_tokens`` (as :func:`~contacts.predictor.token_batches`), the batches shuffled
    each epoch, long sequences cropped at a new random start each time."""
    lengths = [min(len(ids), crop) + 2 for ids in residue_ids]
    batches = list(token_batches(lengths, max_tokens))
    while True:
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield _crop_and_pad([residue_ids[i] for i in batches[b]], crop, generator)


def masked_lm_loss(
    model: torch.nn.Module, tokens: Tensor, cfg: FinetuneConfig, generator: torch.Generator
) -> tuple[Tensor, int]:
    """Summed cross-entropy over the selected positions of one batch, and their count."""
    inputs, targets = mask_tokens(tokens, cfg, generator)
    device = next(model.parameters()).device
    logits = model(inputs.to(device)).logits
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.to(device).flatten(),
                           ignore_index=IGNORE_INDEX, reduction="sum")
    return loss, int((targets != IGNORE_INDEX).sum())


def accumulate_gradients(
    model: torch.nn.Module, batches: Sequence[Tensor], cfg: FinetuneConfig, generator: torch.Generator
) -> tuple[float, int]:
    """Backpropagate the summed loss of several batches, then divide the gradients once by
    all their selected positions, so that K batches give the gradient of one K times larger.

    Returns
    -------
    loss_sum : float
        Summed cross-entropy over the selected positions.
    count : int
        Selected positions (0 leaves the gradients undivided).
    """
    loss_sum, count = 0.0, 0
    for tokens in batches:
        loss, n = masked_lm_loss(model, tokens, cfg, generator)
        loss.backward()
        loss_sum, count = loss_sum + float(loss.detach()), count + n
    if count:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.div_(count)
    return loss_sum, count


@torch.no_grad()
def perplexity(
    predictor: Predictor, sequences: Sequence[str], cfg: FinetuneConfig = FinetuneConfig()
) -> float:
    """Masked-LM perplexity: ``exp`` of the mean cross-entropy over the selected positions.

    Masks and crops come from a fixed seed, so two calls on the same model agree and
    calls on different models (or steps) see the same corrupted inputs.
    """
    model = predictor.model
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(_VALID_SEED)
    ids = _encode_residues(sequences)
    crop = _crop_length(predictor.config, cfg)
    total, count = 0.0, 0
    try:
        for batch in token_batches([min(len(x), crop) + 2 for x in ids], cfg.max_tokens):
            tokens = _crop_and_pad([ids[i] for i in batch], crop, generator)
            loss, n = masked_lm_loss(model, tokens, cfg, generator)
            total, count = total + float(loss), count + n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("the validation sequences are too short for any residue to be selected")
    return math.exp(total / count)


def _crop_length(config: ModelConfig, cfg: FinetuneConfig) -> int:
    limit = config.max_residues
    if cfg.max_residues is not None and cfg.max_residues > limit:
        raise ValueError(f"max_residues {cfg.max_residues} exceeds {config.name}'s {limit} residues")
    return cfg.max_residues or limit


# ----------------------------------------------------------------------------- checkpoints


def checkpoint_name(config: ModelConfig, step: int) -> str:
    """File name of a fine-tuning checkpoint; fair-esm reads files named ``esm2*`` as ESM-2."""
    prefix = "esm2_" if config.position_embedding == "rotary" else ""
    return f"{prefix}checkpoint_{step:06d}.pt"


def checkpoint_steps(config: FinetuneConfig) -> list[int]:
    """The updates after which :func:`finetune` writes a checkpoint: every ``save_every``, and the last."""
    return sorted({*range(config.save_every, config.steps + 1, config.save_every), config.steps})


def regression_name(checkpoint: str) -> str:
    """The contact-regression file written beside a checkpoint (fair-esm's naming)."""
    return f"{Path(checkpoint).stem}-contact-regression.pt"


def save_release(predictor: Predictor, path: str | os.PathLike) -> Path:
    """Write the predictor's model (and its contact regression) as fair-esm release files.

    See :func:`contacts.encoder.checkpoints.write_release`.
    """
    return write_release(path, predictor.model, predictor.regression)


# ----------------------------------------------------------------------------- training


def _zero_mask_embedding(model) -> None:
    # Both ESM-1b release readers zero the <mask> row at load (token dropout makes its
    # input unused); keeping it at zero makes a saved checkpoint load back to this model.
    if model.cfg.position_embedding == "learned":
        with torch.no_grad():
            model.embed_tokens.weight[ALPHABET.mask_idx].zero_()


def finetune(
    predictor: Predictor,
    train: Sequence[str],
    config: FinetuneConfig = FinetuneConfig(),
    *,
    valid: Sequence[str] | None = None,
    outdir: str | os.PathLike | None = None,
    progress: bool = False,
    on_checkpoint: Callable[[Path, list[str]], object] | None = None,
) -> FinetuneResult:
    """Train the predictor's model in place with the masked-LM recipe.

    Parameters
    ----------
    predictor : Predictor
        Float32 weights; its ``model`` is updated and left in eval mode.
    train : sequence of str
        Training sequences (residues only, no ``<mask>``).
    config : FinetuneConfig
    valid : sequence of str, optional
        Held-out sequences: their perplexity (:func:`perplexity`) is recorded every
        ``valid_every`` updates and after the last.
    outdir : path, optional
        Where to write ``checkpoint_<step>.pt`` (release layout, :func:`save_release`)
        every ``save_every`` updates and after the last, and ``history.json``.
    progress : bool
        Show a progress bar with the loss.
    on_checkpoint : callable, optional
        Called with each checkpoint's path and the names of the files written for it
        (the checkpoint, its regression where the model has one) once they and
        ``history.json`` are on disk.

    Returns
    -------
    FinetuneResult
    """
    check_release_model(predictor.model)
    if predictor.dtype != torch.float32:
        raise ValueError(f"fine-tuning needs float32 weights; this model holds {predictor.dtype}")
    if not train:
        raise ValueError("no training sequences")
    ids = _encode_residues(train)
    if valid is not None:
        _encode_residues(valid)
    crop = _crop_length(predictor.config, config)
    outdir = Path(outdir) if outdir is not None else None
    if outdir is not None:
        release_record(predictor.config)  # refuse before training, not at the first save

    model = predictor.model
    generator = torch.Generator().manual_seed(config.seed)
    batches = training_batches(ids, crop, config.max_tokens, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0, betas=config.betas, eps=config.eps,
                                 weight_decay=config.weight_decay)
    result = FinetuneResult()
    _zero_mask_embedding(model)
    model.train()
    try:
        with torch.enable_grad(), progress_bar(total=config.steps, unit="update", desc="finetune",
                                               enable=progress) as bar:
            for step in range(1, config.steps + 1):
                optimizer.zero_grad(set_to_none=True)
                micro = [next(batches) for _ in range(config.accumulate)]
                loss_sum, count = accumulate_gradients(model, micro, config, generator)
                lr = learning_rate(step, config)
                if count:
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.step()
                    _zero_mask_embedding(model)
                record = {"step": step, "lr": lr, "loss": loss_sum / max(count, 1), "tokens": count}
                last = step == config.steps
                if valid is not None and (step % config.valid_every == 0 or last):
                    record["valid_perplexity"] = perplexity(predictor, valid, config)
                result.history.append(record)
                if outdir is not None and (step % config.save_every == 0 or last):
                    path = save_release(predictor, outdir / checkpoint_name(predictor.config, step))
                    result.checkpoints.append(path)
                    with atomic_write(outdir / "history.json") as fh:
                        json.dump({"config": asdict(config), "history": result.history}, fh, indent=1)
                    if on_checkpoint is not None:
                        on_checkpoint(path, [path.name] + ([regression_name(path.name)] if predictor.regression
                                                           else []))
                if hasattr(bar, "set_postfix"):  # a bar on a terminal; log lines carry counts only
                    bar.set_postfix({k: f"{record[k]:.3f}" for k in ("loss", "valid_perplexity") if k in record})
                bar.update(1)
    finally:
        model.eval()
    return result


def read_sequences(path: str | os.PathLike) -> list[str]:
    """The sequences of a FASTA file, each checked to be a trainable protein sequence.

    Every problem of every record is reported at once, named by record (empty
    records, each bad character and gap with its position, ``<mask>``), by the check
    every door shares (:func:`contacts.encoder.sequences.check_sequences`); a trailing
    ``*`` is removed with a note.
    """
    records = read_fasta(path)
    try:
        return check_sequences([r.sequence for r in records], [r.id for r in records], mask=False, stacklevel=3)
    except InvalidSequenceError as exc:
        raise InvalidSequenceError(f"{path}: {exc}") from None
