"""Masked-LM fine-tuning: the masking recipe, the schedule, learning, checkpoints, the command."""

import argparse
import json
import math
import warnings

import numpy as np
import pytest
import torch
from reference import load_fair_esm, write_release

import contacts
from contacts.cli.finetune import add_arguments, run
from contacts.encoder.alphabet import ALPHABET, STANDARD_AMINO_ACIDS, InvalidSequenceError
from contacts.encoder.checkpoints import RELEASE_PREFIXES, to_release_state
from contacts.encoder.config import PRESETS
from contacts.io.fasta import read_fasta
from contacts.runners.finetune import (
    IGNORE_INDEX,
    FinetuneConfig,
    accumulate_gradients,
    finetune,
    learning_rate,
    mask_tokens,
    perplexity,
)

pytestmark = pytest.mark.usefixtures("one_thread")

SEQS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", "GSHMDEXKL", "MKVLAAGHWEEKLLRACDEFGHIKLMNPQRSTVWY"]


def _sigmas(observed, p, n):
    """How many binomial standard errors an observed fraction lies from p."""
    return abs(observed - p) / math.sqrt(p * (1 - p) / n)


def test_masking_statistics_follow_the_recipe():
    cfg = FinetuneConfig()
    gen = torch.Generator().manual_seed(0)
    letters = np.array(list(STANDARD_AMINO_ACIDS) + ["X"])
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(letters, size=n)) for n in rng.integers(5, 300, size=64)]
    tokens = ALPHABET.batch_encode(seqs)
    specials = torch.isin(tokens, torch.tensor([ALPHABET.cls_idx, ALPHABET.eos_idx, ALPHABET.padding_idx]))
    residues = ~specials
    standard = torch.isin(tokens, torch.tensor(ALPHABET.amino_acid_idx))
    aa_ids = set(ALPHABET.amino_acid_idx)
    n_res = n_sel = n_mask = n_rand = n_keep = 0
    replacements_of_l = set()
    for _ in range(100):
        inputs, targets = mask_tokens(tokens, cfg, gen)
        selected = targets != IGNORE_INDEX
        assert not (selected & specials).any()
        assert torch.equal(targets[selected], tokens[selected])
        assert torch.equal(inputs[~selected], tokens[~selected])
        masked = selected & (inputs == ALPHABET.mask_idx)
        randomized = selected & ~masked & (inputs != tokens)
        assert set(inputs[randomized].tolist()) <= aa_ids  # only standard amino acids come in
        replacements_of_l |= set(inputs[randomized & (tokens == ALPHABET.index("L"))].tolist())
        n_res += int(residues.sum())
        n_sel += int(selected.sum())
        n_mask += int(masked.sum())
        n_rand += int(randomized.sum())
        n_keep += int((selected & (inputs == tokens)).sum())
    assert n_mask + n_rand + n_keep == n_sel
    # Per-row counts are exact up to rounding, so the binomial error bounds them generously.
    assert _sigmas(n_sel / n_res, cfg.select_prob, n_res) < 4
    keep_prob = 1 - cfg.mask_prob - cfg.random_prob
    # A replacement allowed to equal its original would count as kept: 9.5% randomized,
    # 10.5% kept, about 6 standard errors off at this many draws.
    for count, p in ((n_mask, cfg.mask_prob), (n_rand, cfg.random_prob), (n_keep, keep_prob)):
        assert _sigmas(count / n_sel, p, n_sel) < 4, (count, n_sel, p)
    assert replacements_of_l == aa_ids - {ALPHABET.index("L")}
    assert standard.any() and (tokens == ALPHABET.index("X")).any()


def test_selection_count_is_the_rounded_fraction_of_each_row():
    cfg = FinetuneConfig()
    tokens = ALPHABET.batch_encode(["A" * 100, "A" * 7])
    gen = torch.Generator().manual_seed(1)
    counts = torch.stack([(mask_tokens(tokens, cfg, gen)[1] != IGNORE_INDEX).sum(1) for _ in range(200)])
    for row, n in enumerate((100, 7)):
        expected = cfg.select_prob * n
        assert set(counts[:, row].tolist()) <= {math.floor(expected), math.ceil(expected)}
        assert abs(counts[:, row].float().mean() - expected) < 4 * 0.5 / math.sqrt(200)


def test_schedule_warms_up_linearly_then_decays_as_inverse_sqrt():
    cfg = FinetuneConfig(steps=1_000_000)
    assert (cfg.learning_rate, cfg.betas, cfg.weight_decay, cfg.warmup_updates) == (1e-4, (0.9, 0.999), 0.0, 16_000)
    peak, warm = cfg.learning_rate, cfg.warmup_updates
    assert learning_rate(0, cfg) == 0
    assert learning_rate(warm // 2, cfg) == pytest.approx(peak / 2)
    assert learning_rate(warm, cfg) == pytest.approx(peak)
    assert learning_rate(4 * warm, cfg) == pytest.approx(peak / 2)
    steps = np.arange(0, 8 * warm, 997)
    lrs = np.array([learning_rate(int(s), cfg) for s in steps])
    assert (np.diff(lrs[steps <= warm]) > 0).all() and (np.diff(lrs[steps >= warm]) < 0).all()
    with pytest.raises(ValueError, match="warmup_updates must be >= 1, got 0"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        FinetuneConfig(warmup_updates=0)
    with pytest.raises(ValueError, match="mask_prob 0.8 and random_prob 0.3"):
        FinetuneConfig(random_prob=0.3)


def test_loss_falls_on_real_sequences(msas_dir, tmp_path):
    train = [r.sequence for r in read_fasta(msas_dir / "some_proteins.fasta")]
    valid = [r.sequence for r in read_fasta(msas_dir / "few_proteins.fasta")]
    model = contacts.load_model(write_release(tmp_path, PRESETS["tiny"], seed=0), device="cpu")
    cfg = FinetuneConfig(steps=40, max_tokens=1024, learning_rate=1e-2, warmup_updates=5,
                         valid_every=20, max_residues=128)
    before = perplexity(model, valid, cfg)
    assert perplexity(model, valid, cfg) == before  # fixed masks: comparable across steps
    result = finetune(model, train, cfg, valid=valid)
    history = result.history
    assert [h["step"] for h in history] == list(range(1, 41))
    assert [h["lr"] for h in history] == [learning_rate(s, cfg) for s in range(1, 41)]
    after = history[-1]["valid_perplexity"]
    assert after == pytest.approx(perplexity(model, valid, cfg))
    assert after < 0.5 * before, (before, after)
    first, last = (np.mean([h["loss"] for h in part]) for part in (history[:5], history[-5:]))
    assert last < 0.85 * first, (first, last)
    assert not model.model.training and result.checkpoints == []


def test_accumulated_batches_give_the_gradient_of_one_large_batch():
    # Every residue selected and masked: the masks no longer depend on the draws.
    cfg = FinetuneConfig(select_prob=1.0, mask_prob=1.0, random_prob=0.0)
    model = contacts.Predictor.random("tiny", device="cpu").model.train()
    parts = [ALPHABET.batch_encode(SEQS[:1]), ALPHABET.batch_encode(SEQS[1:])]
    grads = []
    for batches in ([ALPHABET.batch_encode(SEQS)], parts):
        model.zero_grad(set_to_none=True)
        loss, count = accumulate_gradients(model, batches, cfg, torch.Generator().manual_seed(0))
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
        assert count == sum(len(ALPHABET.tokenize(s)) for s in SEQS)
    for name, grad in grads[0].items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(grads[1][name], grad, atol=1e-6, rtol=1e-5)


def test_release_renaming_is_the_inverse_of_the_readers():
    state = contacts.Predictor.random("tiny", device="cpu").model.state_dict()
    release = to_release_state(state)
    assert "encoder.lm_head.weight" in release and "encoder.sentence_encoder.layers.0.fc1.weight" in release
    stripped = {}
    for key, value in release.items():
        prefix = next(p for p in RELEASE_PREFIXES if key.startswith(p))
        stripped[key[len(prefix):]] = value
    assert stripped.keys() == state.keys()
    assert all(stripped[k] is state[k] for k in state)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A release checkpoint fine-tuned for 3 updates: (the model in memory, its checkpoint, the original)."""
    base = write_release(tmp_path_factory.mktemp("base"), PRESETS["tiny"], seed=2)
    model = contacts.load_model(base, device="cpu")
    original = {k: v.clone() for k, v in model.model.state_dict().items()}
    cfg = FinetuneConfig(steps=3, max_tokens=256, learning_rate=1e-2, warmup_updates=1, save_every=2)
    result = finetune(model, SEQS * 4, cfg, outdir=tmp_path_factory.mktemp("run"))
    return model, result, original


def loads_back_here_and_in_fair_esm(checkpoint, model):
    """Load a written checkpoint with this package and with fair-esm; both give ``model``'s logits."""
    tokens = ALPHABET.batch_encode([*SEQS, "MKV<mask>LLAGHW"])
    with torch.no_grad():
        expected = model.model(tokens).logits
        here = contacts.load_model(checkpoint, device="cpu")
        np.testing.assert_allclose(here.model(tokens).logits, expected, atol=1e-5, rtol=0)
        ref, _ = load_fair_esm(checkpoint)
        np.testing.assert_allclose(ref(tokens)["logits"], expected, atol=1e-5, rtol=0)
    return here, ref


def test_checkpoints_load_back_here_and_in_fair_esm(trained):
    model, result, original = trained
    assert [p.name for p in result.checkpoints] == ["checkpoint_000002.pt", "checkpoint_000003.pt"]
    last = result.checkpoints[-1]
    changed = [k for k, v in model.model.state_dict().items() if not torch.equal(v, original[k])]
    assert "layers.0.fc1.weight" in changed and "embed_tokens.weight" in changed
    here, _ = loads_back_here_and_in_fair_esm(last, model)
    np.testing.assert_allclose(here.predict_contacts(SEQS[0]), model.predict_contacts(SEQS[0]), atol=1e-6)
    assert here.model.lm_head.weight is here.model.embed_tokens.weight


def test_fine_tuning_refuses_half_precision_and_bad_sequences():
    half = contacts.Predictor.random("tiny", device="cpu", dtype="bfloat16")
    with pytest.raises(ValueError, match="needs float32 weights; this model holds torch.bfloat16"):
        finetune(half, SEQS)
    model = contacts.Predictor.random("tiny", device="cpu")
    with pytest.raises(InvalidSequenceError, match=r"sequence 1: <mask> at residue 3 \(plain residues only here\)"):
        finetune(model, ["MKT", "MK<mask>"])


def test_esm2_checkpoints_use_the_esm2_release_layout(tmp_path):
    base = write_release(tmp_path / "base", PRESETS["tiny_esm2"], seed=3)
    model = contacts.load_model(base, device="cpu")
    cfg = FinetuneConfig(steps=2, max_tokens=256, learning_rate=1e-2, warmup_updates=1, save_every=2)
    result = finetune(model, SEQS * 4, cfg, outdir=tmp_path / "run")
    [last] = result.checkpoints
    assert last.name == "esm2_checkpoint_000002.pt"
    assert "cfg" in torch.load(last, weights_only=False)
    _, ref = loads_back_here_and_in_fair_esm(last, model)
    assert type(ref).__name__ == "ESM2"


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_warmup_scales_to_the_run_and_warns_when_it_cannot_end():
    assert FinetuneConfig(steps=1000).warmup_updates == 100  # 10% of a run shorter than 160,000 updates
    assert FinetuneConfig(steps=20).warmup_updates == 2
    assert FinetuneConfig(steps=200_000).warmup_updates == 16_000
    short = FinetuneConfig(steps=20)
    assert learning_rate(20, short) == pytest.approx(short.learning_rate * (2 / 20) ** 0.5)
    with pytest.warns(UserWarning, match=r"warmup of 16000 updates is at least the run's 20 steps: "
                                         r"the learning rate ends at 1.25e-07"):
        FinetuneConfig(steps=20, warmup_updates=16_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FinetuneConfig(steps=20, warmup_updates=19)


def test_command_end_to_end(tmp_path, capsys):
    base = write_release(tmp_path / "base", PRESETS["tiny"], seed=4)
    train, valid = tmp_path / "train.fasta", tmp_path / "valid.fasta"
    train.write_text("".join(f">t{i}\n{s}\n" for i, s in enumerate(SEQS * 3)))
    valid.write_text(f">v0\n{SEQS[0][::-1]}\n")
    out = tmp_path / "run"
    args = _parse(["--model", str(base), "--fasta", str(train), "--valid", str(valid), "-o", str(out),
                   "--steps", "4", "--max-tokens", "128", "--accumulate", "2", "--warmup", "2",
                   "--valid-every", "2", "--save-every", "2", "--seed", "7", "--device", "cpu",
                   "--no-progress"])
    assert run(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint_000002-contact-regression.pt", "checkpoint_000002.pt",
        "checkpoint_000004-contact-regression.pt", "checkpoint_000004.pt", "contacts-run.json", "history.json",
    ]
    record = json.loads((out / "contacts-run.json").read_text())
    assert record["command"] == "finetune" and record["options"]["warmup_updates"] == 2
    assert record["model"]["weights_sha256"] == contacts.runners.provenance.sha256_file(base)
    log = json.loads((out / "history.json").read_text())
    assert log["config"]["accumulate"] == 2 and log["config"]["seed"] == 7
    assert [("valid_perplexity" in h) for h in log["history"]] == [False, True, False, True]
    ppl = log["history"][-1]["valid_perplexity"]
    assert f"validation perplexity {ppl:.3f}" in capsys.readouterr().out
    reloaded = contacts.load_model(out / "checkpoint_000004.pt", device="cpu")
    assert perplexity(reloaded, [SEQS[0][::-1]]) == pytest.approx(ppl, rel=1e-5)

    train.write_text(">good\nMKT\n>bad one\nMKJ\n>gapped\nMK-T.J\n")
    with pytest.raises(InvalidSequenceError, match=r"2 invalid sequences:\n  bad: character 'J' at residue 3\n"
                                                   r"  gapped: gap '-' at residue 3 .*; gap '.' at residue 5 .*; "
                                                   r"character 'J' at residue 6"):
        run(args)


def test_a_model_of_another_family_is_refused_before_training():
    model = contacts.Predictor.random("tiny_bert")
    with pytest.raises(contacts.CheckpointError, match="tiny_bert is not an ESM model"):
        contacts.runners.finetune.finetune(model, ["MKTAYIAKQR"])
