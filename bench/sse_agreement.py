"""DSSP against P-SEA on the shared structures: per-residue agreement in three states, into docs/attention.md.

For every chain of the package manifest (``contacts/data/structures.tsv``, checked
against ``data/structures.tsv``) found under ``--shared``/structures, both methods of
:func:`contacts.analysis.annotations.secondary_structure` label its residues; the
residues both label are compared (:func:`contacts.analysis.annotations.sse_agreement`):
pooled over all chains, by split, and chain by chain. Needs ``mkdssp`` (Debian package
``dssp``).

    python bench/sse_agreement.py --doc docs/attention.md

Writes its own section of the doc (``<!-- begin sse-agreement -->``), which
``bench/make_attention_doc.py`` keeps when it rewrites the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))
from docs_section import write_section  # noqa: E402

from contacts.analysis.annotations import SSE_STATES, secondary_structure, sse_agreement  # noqa: E402
from contacts.io.manifest import PACKAGE_MANIFEST, read_manifest  # noqa: E402
from contacts.io.structures import load_structure  # noqa: E402

SECTION = "sse-agreement"


def measure(shared: Path) -> dict:
    """Both methods on every manifest chain present under ``shared``/structures."""
    chains, seconds, load = [], {"dssp": 0.0, "psea": 0.0}, os.getloadavg()[0]
    for name, row in read_manifest(PACKAGE_MANIFEST).items():
        path = shared / "structures" / name
        if not path.is_file():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # biotite's notes on files without author fields
            structure = load_structure(path, chain=row["chain"])
            labels = {}
            for method in ("dssp", "psea"):
                start = time.perf_counter()
                labels[method] = secondary_structure(structure, method)
                seconds[method] += time.perf_counter() - start
        chains.append({"name": name, "chain": row["chain"], "split": row["split"], "residues": len(structure),
                       "dssp": labels["dssp"], "psea": labels["psea"]})
    if not chains:
        raise SystemExit(f"no manifest structures under {shared / 'structures'}")
    return {"chains": chains, "seconds": seconds, "load": load}


def pooled(chains: list[dict]) -> dict:
    return sse_agreement(np.concatenate([c["dssp"] for c in chains]), np.concatenate([c["psea"] for c in chains]))


def near_an_end(chains: list[dict]) -> float:
    """Share of the disagreeing residues that end an element (first or last of a run) in either assignment."""
    near, total = 0, 0
    for c in chains:
        a, b = c["dssp"], c["psea"]
        change = np.zeros(len(a), dtype=bool)
        for x in (a, b):
            step = x[1:] != x[:-1]
            change[1:] |= step
            change[:-1] |= step
        differ = (a != b) & (a != "") & (b != "")
        near += int((differ & change).sum())
        total += int(differ.sum())
    return near / total if total else float("nan")


def render(measured: dict, command: str) -> tuple[str, dict]:
    chains = measured["chains"]
    for c in chains:
        c["agreement"] = sse_agreement(c["dssp"], c["psea"])["agreement"]
    everything = pooled(chains)
    groups = [("all", chains)] + [(split, [c for c in chains if c["split"] == split])
                                  for split in ("train", "valid", "test")]
    groups.append(("train + valid (the test's chains)", [c for c in chains if c["split"] in ("train", "valid")]))
    rows = []
    summary = {}
    for label, group in groups:
        if not group:
            continue
        g = pooled(group)
        per_chain = sorted(group, key=lambda c: c["agreement"])
        worst = per_chain[0]
        summary[label] = {"chains": len(group), "residues": g["residues"], "agreement": g["agreement"],
                          "chance": g["chance"], "kappa": g["kappa"], "lowest": worst["agreement"],
                          "lowest_chain": worst["name"]}
        rows.append(f"| {label} | {len(group)} | {g['residues']} | {g['agreement']:.3f} | {g['chance']:.3f} "
                    f"| {g['kappa']:.3f} | {float(np.median([c['agreement'] for c in group])):.3f} "
                    f"| {worst['agreement']:.3f} ({worst['name']}) |")
    edges = near_an_end(chains)
    confusion = everything["confusion"]
    share = confusion / confusion.sum()
    states = list(SSE_STATES)
    unknown = {m: int(sum((c[m] == "").sum() for c in chains)) for m in ("dssp", "psea")}
    total = sum(c["residues"] for c in chains)
    lines = [
        "## DSSP against P-SEA on the shared structures",
        "",
        "Made by:",
        "",
        f"```\n{command}\n```",
        "",
        f"Both methods on the {len(chains)} chains of the package manifest ({total} residues), per residue in "
        "three states; agreement counts the residues both label. Chance is the agreement two independent "
        "assignments with the same state frequencies would reach; kappa is Cohen's, (agreement - chance) / "
        "(1 - chance).",
        "",
        "| chains | n | residues | agreement | chance | kappa | median chain | lowest chain |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        "Share of all compared residues, DSSP's state (rows) against P-SEA's (columns):",
        "",
        "| DSSP \\ P-SEA | " + " | ".join(states) + " | DSSP total |",
        "| --- | " + " | ".join("---:" for _ in states) + " | ---: |",
        *[f"| {a} | " + " | ".join(f"{share[i, j]:.3f}" for j in range(len(states)))
          + f" | {share[i].sum():.3f} |" for i, a in enumerate(states)],
        "| P-SEA total | " + " | ".join(f"{share[:, j].sum():.3f}" for j in range(len(states))) + " | 1 |",
        "",
        f"Unlabelled residues: DSSP {unknown['dssp']} (no N, CA, C or O), P-SEA {unknown['psea']} (no CA). "
        f"Time for all chains: DSSP {measured['seconds']['dssp']:.1f} s, P-SEA {measured['seconds']['psea']:.1f} s "
        f"(DSSP reads each file again, for all atoms, and runs `mkdssp` once per chain; {os.cpu_count()} CPUs, "
        f"load {measured['load']:.1f} at the start).",
        "",
        f"Of the residues where the two disagree, {edges:.0%} are the first or last residue of an element in "
        "either assignment (where DSSP's hydrogen bonds and P-SEA's CA distances and angles draw the line "
        "differently); the rest lie inside stretches of three or more residues the two name differently "
        "(an element one method sees and the other does not). "
        "`tests/analysis/test_dssp.py` holds the train and valid chains above floors set under these figures.",
    ]
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CONTACTS_SHARED", REPO.parent / "shared")))
    parser.add_argument("--doc", type=Path, help="markdown file to write the section into (docs/attention.md)")
    parser.add_argument("--json", type=Path, help="also write the summary figures here")
    args = parser.parse_args(argv)
    if shutil.which("mkdssp") is None:
        raise SystemExit("mkdssp not found: install the Debian package 'dssp'")
    command = "python bench/sse_agreement.py " + " ".join(argv if argv is not None else sys.argv[1:])
    section, summary = render(measure(args.shared), command.strip())
    print(section)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    if args.doc:
        write_section(args.doc, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
