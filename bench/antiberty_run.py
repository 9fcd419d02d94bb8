"""The AntiBERTy worked run: masked recovery, a contact probe on antibody variable domains, head analysis.

Everything runs as a user types it (``python -m contacts ...``) on the domains of
``data/antibody_domains.tsv`` (``--domains antibody_domains``) in ``../shared/structures``:

1. masked recovery: each conserved anchor of each domain masked alone (the Kabat
   sites the table lists), and every position of every domain masked once; top-1
   accuracy over the 20 amino acids;
2. ``contacts train-probe --model antiberty --domains antibody_domains --split train``,
   then ``contacts evaluate --probe ... --split test``: P@L by separation range on the
   held-out structures, beside the random rate (the share of contacts among the
   labelled pairs of that range in the same domains: the precision of a random ranking);
3. ``contacts analyze-heads --model antiberty --domains antibody_domains --split all``:
   the heads it ranks first for contacts, and its figures (copied to ``docs/models/``).

The section ``antiberty-run`` of ``docs/models.md`` is written from these numbers.

Run: ``python bench/antiberty_run.py [--structures ../shared/structures] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import contacts
from contacts.analysis.labels import contact_map
from contacts.constants import RANGES
from contacts.io.domains import read_domains
from contacts.io.structures import cut_residues

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "models.md"
FIGURES = ROOT / "docs" / "models"
TABLE = "antibody_domains"


def run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "contacts", *argv], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"contacts {argv[0]} failed:\n{out.stderr}")
    return out


def domain_chains(structures: Path, split: str | None = None):
    for domain in read_domains(TABLE, split):
        chain = contacts.load_structure(structures / domain.file, chain=domain.chain)
        yield domain, cut_residues(chain, domain.first, domain.last)


def masked_recovery(model, structures: Path) -> dict:
    """Top-1 recovery at the conserved anchors and at every position, each masked alone."""
    aa = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    sites, every = [], []
    for domain, cut in domain_chains(structures):
        seq = cut.sequence
        anchors = {int(s.split(":")[1]) - 1: s.split(":")[0] for s in domain.extra["conserved"].split(",")}
        masked = [seq[:i] + "<mask>" + seq[i + 1:] for i in range(len(seq))]
        logits = model.logits(masked, amino_acids=True)
        for i, row in enumerate(logits):
            probs = np.exp(row[i] - row[i].max())
            probs /= probs.sum()
            hit = aa[int(np.argmax(row[i]))] == seq[i]
            every.append(hit)
            if i in anchors:
                p_true = float(probs[list(aa).index(seq[i])]) if seq[i] in aa else 0.0
                sites.append({"domain": domain.name, "site": anchors[i], "top1": bool(hit), "p": p_true})
    return {"sites": sites, "sites_top1": sum(s["top1"] for s in sites), "n_sites": len(sites),
            "every_top1": float(np.mean(every)), "n_positions": len(every)}


def random_rates(structures: Path, split: str) -> dict[str, float]:
    """The precision of a random ranking per range: each domain's share of contacts among its labelled pairs
    of that range, averaged over domains as P@L is (each protein weighs the same)."""
    return {name: float(np.mean([rate for rate in rates if rate == rate]))
            for name, rates in zip(RANGES, zip(*(contact_rates(cut) for _, cut in domain_chains(structures, split))))}


def contact_rates(structure) -> list[float]:
    """Share of contacts among the labelled pairs of each range of :data:`RANGES` (NaN for an empty range)."""
    labels = contact_map(structure)
    i, j = np.triu_indices(len(labels), 1)
    sep, value = j - i, labels[i, j]
    rates = []
    for lo, hi in RANGES.values():
        keep = (sep >= lo) & ((sep < hi) if hi else True) & ~np.isnan(value)
        rates.append(float(np.mean(value[keep] > 0.5)) if keep.any() else float("nan"))
    return rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=Path, default=ROOT.parent / "shared" / "structures")
    parser.add_argument("--out", type=Path, help="keep the runs' outputs here (default: a temporary folder)")
    parser.add_argument("--no-doc", action="store_true", help="print the numbers, leave docs/models.md alone")
    parser.add_argument("--reuse", action="store_true",
                        help="keep what an earlier run left in --out (recovery, probe, evaluation, head analysis)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="antiberty-run-"))
    out.mkdir(parents=True, exist_ok=True)
    structures = str(args.structures)
    seconds = {}

    start = time.perf_counter()
    saved = out / "recovery.json"
    if args.reuse and saved.is_file():
        recovery = json.loads(saved.read_text())
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = contacts.load_model("antiberty", device="cpu")
        recovery = masked_recovery(model, args.structures)
        saved.write_text(json.dumps(recovery, indent=1))
        seconds["masked recovery"] = time.perf_counter() - start

    start = time.perf_counter()
    probe = out / "antiberty-probe.pt"
    if not (args.reuse and (out / "evaluation.json").is_file()):
        run("train-probe", "--model", "antiberty", "--structures", structures, "--domains", TABLE, "--split",
            "train", "-o", str(probe), "--no-progress")
        run("evaluate", "--model", "antiberty", "--probe", str(probe), "--structures", structures, "--domains",
            TABLE, "--split", "test", "--output", str(out / "evaluation"), "--no-progress")
        seconds["train-probe + evaluate"] = time.perf_counter() - start
    evaluation = json.loads((out / "evaluation.json").read_text())
    rates = random_rates(args.structures, "test")

    start = time.perf_counter()
    heads_dir = out / "heads"
    if not (args.reuse and (heads_dir / "attention_summary.json").is_file()):
        run("analyze-heads", "--model", "antiberty", "--structures", structures, "--domains", TABLE, "--split",
            "all", "-o", str(heads_dir), "--no-progress")
        seconds["analyze-heads"] = time.perf_counter() - start
    summary = json.loads((heads_dir / "attention_summary.json").read_text())

    result = {"recovery": recovery, "evaluation_mean": evaluation.get("mean"), "random": rates,
              "proteins": [r["name"] for r in evaluation.get("proteins", evaluation.get("records", []))],
              "contact_heads": summary["properties"]["contact"], "seconds": seconds}
    (out / "antiberty_run.json").write_text(json.dumps(result, indent=1, default=str))
    text = render(result, evaluation, heads_dir)
    print(text)
    if not args.no_doc:
        FIGURES.mkdir(parents=True, exist_ok=True)
        for name in ("heads_attention_on_contacts.png", "heads_long_P@L.png"):
            for found in heads_dir.rglob(name):
                shutil.copyfile(found, FIGURES / f"antiberty_{name.replace('@', 'at_')}")
        write_section(DOC, "antiberty-run", text)
        print(f"wrote the antiberty-run section of {DOC.relative_to(ROOT)}")
    return 0


def _mean(evaluation: dict, band: str, metric: str = "P@L"):
    """A mean from the evaluation JSON, whatever its nesting (``{band: {metric: x}}`` or flat keys)."""
    mean = evaluation.get("mean") or {}
    if isinstance(mean.get(band), dict):
        return mean[band].get(metric)
    return mean.get(f"{band}_{metric}", mean.get(f"{metric}_{band}"))


def render(result: dict, evaluation: dict, heads_dir: Path) -> str:
    rec = result["recovery"]
    rates = result["random"]
    rows = ["| range | probe P@L | random | ratio |", "|---|---|---|---|"]
    for band in ("short", "medium", "long"):
        got = _mean(evaluation, band)
        rows.append(f"| {band} ({RANGES[band][0]}{'-' + str(RANGES[band][1] - 1) if RANGES[band][1] else '+'}) | "
                    f"{got:.3f} | {rates[band]:.3f} | {got / rates[band]:.2f}x |" if got is not None else
                    f"| {band} | n/a | {rates[band]:.3f} | |")
    heads = result["contact_heads"]
    top = heads["top_heads"][:5]
    top_text = ", ".join(f"layer {h['layer']} head {h['head']} ({h['proportion']:.2f})" for h in top) \
        if top and isinstance(top[0], dict) else json.dumps(top)
    missed = [f"{s['domain']} {s['site']} (p {s['p']:.2f})" for s in rec["sites"] if not s["top1"]]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return "\n".join([
        "Made by `python bench/antiberty_run.py` "
        f"({platform.processor() or platform.machine()}, torch {contacts.predictor.core.torch.__version__}, "
        f"load average {load:.1f} at the end; "
        + (", ".join(f"{k} {v:.0f} s" for k, v in result["seconds"].items()) or "steps reused") + ").",
        "",
        f"**Masked recovery** (each position masked alone, top-1 over the 20 amino acids): "
        f"{rec['sites_top1']} of {rec['n_sites']} conserved anchors (heavy C22, W36, C92, W103; light C23, W35, "
        f"C88, F98) come back top-1"
        + (f" (missed: {'; '.join(missed)})" if missed else "")
        + f"; masking every position once, {100 * rec['every_top1']:.1f}% of {rec['n_positions']} residues.",
        "",
        "**Contact probe** trained on the 8 `train` domains (`contacts train-probe --model antiberty --domains "
        "antibody_domains --split train`), scored on the 4 held-out `test` domains of 1NCB and 5TPN "
        "(`contacts evaluate --probe ... --split test`), beside the random rate (the share of contacts "
        "among the labelled pairs of that range in the same domains):",
        "",
        *rows,
        "",
        f"**Heads** `contacts analyze-heads` ranks first for attention on contacts (share of confident attention "
        f"on contacts, background {heads['background']:.3f}): {top_text}.",
        "",
        "![AntiBERTy: attention on contacts per head](models/antiberty_heads_attention_on_contacts.png)",
    ])


if __name__ == "__main__":
    sys.exit(main())
