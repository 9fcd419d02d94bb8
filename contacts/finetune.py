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
  16,000 updates then inverse-square-root decay.

The encoder applies token dropout in training exactly as at inference (masked
embeddings zeroed, the rest rescaled), as fair-esm does. Training runs on the
:class:`~contacts.predictor.Predictor`'s own ``model`` in place, with gradients;
the Predictor's inference methods are not used for it.

>>> result = finetune(model, train, valid=valid, outdir="run")       # doctest: +SKIP
>>> contacts.load_model(result.checkpoints[-1])                       # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .alphabet import ALPHABET, MASK, InvalidSequenceError
from .checkpoints import CheckpointError, to_release_state
from .config import ModelConfig
from .io import atomic_write
from .predictor import DEFAULT_MAX_TOKENS, Predictor, token_batches

IGNORE_INDEX = -100
"""Target of the positions that carry no loss (``F.cross_entropy``'s ignore index)."""

# Validation draws its masks and crops from this seed every time, so perplexities compare.
_VALID_SEED = 12345

# fair-esm and this package's release reader build every ESM-1b LayerNorm with this eps.
RELEASE_LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class FinetuneConfig:
    """The masked-LM recipe and the run's length, batches and checkpoints.

    Attributes
    ----------
    steps : int
        Optimizer updates.
    max_tokens : int
        Token budget of one batch (batch size x longest sequence, specials included).
    accumulate : int
        Batches whose gradients are summed into one update.
    learning_rate, betas, eps, weight_decay : Adam's settings (the card's by default).
    warmup_updates : int
        Linear warmup from 0 to ``learning_rate``; then ``learning_rate *
        sqrt(warmup_updates / step)``.
    select_prob, mask_prob, random_prob : float
        Fraction of residues selected for the loss; of those, the fractions
        replaced by ``<mask>`` and by a different random standard amino acid (the
        rest stay unchanged).
    max_residues : int, optional
        Crop length; default the model's limit (1022 for ESM-1b).
    valid_every, save_every : int
        Updates between validations (with a validation set) and checkpoints; a last
        checkpoint and validation always follow the last update.
    seed : int
        Seeds batch order, crops and masks; validation masks use a fixed seed of
        their own, so that perplexities at different steps are comparable.
    """

    steps: int = 1000
    max_tokens: int = DEFAULT_MAX_TOKENS
    accumulate: int = 1
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    warmup_updates: int = 16_000
    select_prob: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    max_residues: int | None = None
    valid_every: int = 1000
    save_every: int = 1000
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "max_tokens", "accumulate", "warmup_updates", "valid_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.select_prob <= 1:
            raise ValueError(f"select_prob must be in (0, 1], got {self.select_prob}")
        if self.mask_prob < 0 or self.random_prob < 0 or self.mask_prob + self.random_prob > 1:
            raise ValueError(
                f"mask_prob {self.mask_prob} and random_prob {self.random_prob} must be >= 0 "
                "and sum to at most 1"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.max_residues is not None and self.max_residues < 1:
            raise ValueError(f"max_residues must be >= 1, got {self.max_residues}")


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
    encoded = []
    for i, seq in enumerate(sequences):
        name = f"sequence {i}" if names is None else names[i]
        try:
            residues = ALPHABET.tokenize(seq)
        except InvalidSequenceError as exc:
            raise InvalidSequenceError(f"{name}: {exc}") from None
        if MASK in residues:
            raise InvalidSequenceError(f"{name} holds {MASK}; training sequences must be plain residues")
        encoded.append([ALPHABET.index(r) for r in residues])
    return encoded


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


def release_record(config: ModelConfig) -> dict:
    """The shape record of a release file: ESM-1b's fairseq ``args``, or ESM-2's ``cfg``.

    The inverse of the readers in :mod:`contacts.checkpoints`.
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


def checkpoint_name(config: ModelConfig, step: int) -> str:
    """File name of a fine-tuning checkpoint; fair-esm reads files named ``esm2*`` as ESM-2."""
    prefix = "esm2_" if config.position_embedding == "rotary" else ""
    return f"{prefix}checkpoint_{step:06d}.pt"


def save_release(predictor: Predictor, path: str | os.PathLike) -> Path:
    """Write the model as a fair-esm release file, and its contact regression beside it.

    ``path`` gets ``{"args": Namespace, "model": state}`` (ESM-2: ``{"cfg": {"model":
    Namespace}, ...}``) with the LM head tied to the token embeddings; ``<stem>-contact-regression.pt`` is written when the model has a
    regression (fair-esm's local loader requires it). Both files are written atomically.
    They load with :func:`contacts.load_model` and ``esm.pretrained.load_model_and_alphabet_local``.
    """
    path = Path(path)
    # fair-esm picks its reader by the file's stem: names starting "esm2" go to ESM-2's.
    esm2 = predictor.config.position_embedding == "rotary"
    if path.suffix != ".pt" or path.stem.startswith("esm2") != esm2:
        raise ValueError(
            f"{path.name!r}: a release file name ends in .pt and "
            + ("starts with 'esm2' (an ESM-2 model)" if esm2 else "does not start with 'esm2'")
        )
    model = predictor.model
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    # One storage under both keys, as the release ties them.
    state["lm_head.weight"] = state["embed_tokens.weight"]
    data = {**release_record(predictor.config), "model": to_release_state(state)}
    with atomic_write(path, "wb") as fh:
        torch.save(data, fh)
    if predictor.regression is not None:
        with atomic_write(path.with_name(f"{path.stem}-contact-regression.pt"), "wb") as fh:
            torch.save({"model": predictor.regression_state()}, fh)
    return path


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

    Returns
    -------
    FinetuneResult
    """
    from tqdm.auto import tqdm

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
        with torch.enable_grad(), tqdm(total=config.steps, unit="update", desc="finetune",
                                       disable=not progress) as bar:
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
                    result.checkpoints.append(save_release(predictor, outdir / checkpoint_name(predictor.config, step)))
                    with atomic_write(outdir / "history.json") as fh:
                        json.dump({"config": asdict(config), "history": result.history}, fh, indent=1)
                bar.set_postfix({k: f"{record[k]:.3f}" for k in ("loss", "valid_perplexity") if k in record})
                bar.update(1)
    finally:
        model.eval()
    return result


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``contacts finetune``."""
    defaults = FinetuneConfig()
    parser.description = (
        "Fine-tune with ESM-1b's masked-LM recipe (15% selected: 80% <mask>, 10% random, "
        "10% unchanged; Adam, warmup then 1/sqrt decay). Checkpoints are written in the "
        "fair-esm release layout."
    )
    from .cli import add_model_arguments

    add_model_arguments(parser, regression=False)
    parser.add_argument("--fasta", required=True, metavar="FILE", help="training sequences (FASTA, .gz allowed)")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                        help="folder for checkpoint_<step>.pt files and history.json")
    parser.add_argument("--valid", metavar="FILE", help="held-out FASTA for validation perplexity")
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help=f"optimizer updates (default {defaults.steps})")
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens,
                        help=f"token budget per batch (default {defaults.max_tokens})")
    parser.add_argument("--accumulate", type=int, default=defaults.accumulate,
                        help="batches summed into one update (default 1)")
    parser.add_argument("--lr", type=float, default=defaults.learning_rate,
                        help=f"peak learning rate (default {defaults.learning_rate})")
    parser.add_argument("--warmup", type=int, default=defaults.warmup_updates,
                        help=f"warmup updates (default {defaults.warmup_updates})")
    parser.add_argument("--max-residues", type=int, help="crop length (default: the model's limit, 1022)")
    parser.add_argument("--valid-every", type=int, default=defaults.valid_every,
                        help=f"updates between validations (default {defaults.valid_every})")
    parser.add_argument("--save-every", type=int, default=defaults.save_every,
                        help=f"updates between checkpoints (default {defaults.save_every})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of batches, crops and masks")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _sequences(path: str) -> list[str]:
    from .io import read_fasta

    records = read_fasta(path)
    sequences = [r.sequence for r in records]
    # Checked here as well as in finetune() so that errors name the record, not its index.
    _encode_residues(sequences, [f"{path}, record {r.id!r}" for r in records])
    return sequences


def run(args: argparse.Namespace) -> int:
    """``contacts finetune``: read the FASTA files, train, write checkpoints; prints a summary."""
    from .predictor import load_model

    config = FinetuneConfig(
        steps=args.steps, max_tokens=args.max_tokens, accumulate=args.accumulate,
        learning_rate=args.lr, warmup_updates=args.warmup, max_residues=args.max_residues,
        valid_every=args.valid_every, save_every=args.save_every, seed=args.seed,
    )
    train = _sequences(args.fasta)
    valid = _sequences(args.valid) if args.valid else None
    model = load_model(args.model, device=args.device)
    result = finetune(model, train, config, valid=valid, outdir=args.output, progress=not args.no_progress)
    last = result.history[-1]
    summary = f"{config.steps} updates, last loss {last['loss']:.4f}"
    if "valid_perplexity" in last:
        summary += f", validation perplexity {last['valid_perplexity']:.3f}"
    print(f"{summary} -> {result.checkpoints[-1]}")
    return 0
