"""Score the coevolution baselines (MI-APC, Potts, and pydca's plmDCA when installed) on the shared pairs.

Per protein and mean long-range P@L and P@L/5 with this package's labels and
``metrics.precision_table``, and each method's run time, measured in the same run:

    CONTACTS_SHARED=../shared python bench/coevolution_baselines.py [--pydca-python /tmp/pydca-venv/bin/python]

pydca 1.23 does not install on Python 3.11 with its pins; in a scratch venv:
``python3 -m venv /tmp/pydca-venv``, ``pip install numpy numba biopython scipy matplotlib
requests wheel setuptools``, then ``pip install --no-deps --no-build-isolation pydca==1.23``.
It runs as ``PlmDCA(fasta, 'protein', seqid=0.8, max_iterations=500, num_threads=THREADS)``
and ``compute_sorted_FN_APC()`` in a subprocess (its time is measured inside it, as ours is,
from the encoded alignment to the score map). Without pydca the script prints the plmDCA
numbers recorded in ``docs/evaluation.md`` with their date.

Proteins run smallest first (N L^2); ``--pydca-budget`` stops starting plmDCA once that
many seconds of it have run (on 2 shared cores plmDCA took 75 minutes on the 19 smallest;
all 21 would take about 1.5 hours). ``--results``
saves the per-protein records as JSON, after each protein; ``--from-results A.json B.json`` writes
the table from saved runs instead of computing (a protein in several files takes its whole record
from the last one, so each Potts and plmDCA pair still comes from one run). The table goes between
the markers of its section in ``docs/evaluation.md``; other sections of that file are kept.

The pairs are the rows of ``msas/MSAS.tsv`` with a ``matching_structure_file``; each
structure is read with the chain from ``structures/MANIFEST.tsv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contacts.analysis import metrics  # noqa: E402
from contacts.analysis.coevolution import (  # noqa: E402
    encode,
    gap_filter,
    mutual_information,
    potts_contacts,
    read_alignment,
    sequence_weights,
)
from contacts.analysis.evaluation import place_prediction, structure_name  # noqa: E402
from contacts.analysis.labels import contact_map  # noqa: E402
from contacts.io.files import atomic_write  # noqa: E402
from contacts.io.structures import load_structure  # noqa: E402

BEGIN = "<!-- coevolution baselines: written by bench/coevolution_baselines.py -->"
END = "<!-- end of coevolution baselines -->"
METHODS = ("mi", "potts", "plmdca")
LABEL = {"mi": "MI-APC", "potts": "Potts", "plmdca": "plmDCA"}

PYDCA_RUN = """
import sys, time, numpy as np
from pydca.plmdca import plmdca
fasta, out, length, threads, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
start = time.perf_counter()
model = plmdca.PlmDCA(fasta, 'protein', seqid=0.8, max_iterations=iterations, num_threads=threads)
scores = model.compute_sorted_FN_APC()
seconds = time.perf_counter() - start
table = np.zeros((length, length))
for (i, j), s in scores:
    table[i, j] = table[j, i] = s
np.save(out, table)
print(seconds)
"""


def pydca_available(python: str | None) -> bool:
    if not python:
        return False
    try:
        return subprocess.run([python, "-c", "import pydca.plmdca"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_pydca(python: str, alignment: list[tuple[str, str]], threads: int, iterations: int) -> tuple[np.ndarray, float]:
    """plmDCA scores (L, L) and its own run time, from an aligned FASTA (one row per line, insertions removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        fasta, out = Path(tmp) / "msa.fasta", Path(tmp) / "scores.npy"
        fasta.write_text("".join(f">{name or i}\n{row.upper()}\n" for i, (name, row) in enumerate(alignment)))
        length = len(alignment[0][1])
        done = subprocess.run([python, "-c", PYDCA_RUN, str(fasta), str(out), str(length), str(threads), str(iterations)],
                              capture_output=True, text=True, check=True)
        return np.load(out), float(done.stdout.strip().splitlines()[-1])


def long_range(scores: np.ndarray, alignment, structure, labels) -> tuple[float, float]:
    long = metrics.precision_table(place_prediction(scores, alignment[0][1], structure), labels)["long"]
    return float(long["P@L"]), float(long["P@L/5"])


def commit() -> str:
    """The checked-out commit, with ``+changes`` when the working tree differs from it; "" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def compute(args) -> list[dict]:
    structures, msas = args.shared / "structures", args.shared / "msas"
    with open(structures / "MANIFEST.tsv", newline="") as handle:
        chains = {r["file"]: r for r in csv.DictReader(handle, delimiter="\t")}
    with open(msas / "MSAS.tsv", newline="") as handle:
        pairs = [r for r in csv.DictReader(handle, delimiter="\t") if r["matching_structure_file"]]
    if args.proteins:
        pairs = [p for p in pairs if structure_name(p["matching_structure_file"]) in args.proteins]
    pairs.sort(key=lambda p: int(p["n_sequences"]) * int(p["query_length_ungapped"]) ** 2)
    use_pydca = pydca_available(args.pydca_python)
    print(f"pydca: {'running ' + args.pydca_python if use_pydca else 'not installed'}", flush=True)
    rows, pydca_seconds = [], 0.0
    run = {"date": datetime.date.today().isoformat(), "commit": commit()}
    for number, pair in enumerate(pairs, 1):
        file = pair["matching_structure_file"]
        structure = load_structure(structures / file, chains[file]["chain"])
        labels = contact_map(structure)
        i, j = np.triu_indices(len(labels), 24)
        alignment = read_alignment(msas / pair["file"])
        msa = encode(alignment)
        kept_rows, kept_columns = gap_filter(msa)
        row = {"name": structure_name(file), "split": chains[file]["split"], "L": len(structure), "N": msa.shape[0],
               "Neff": float(sequence_weights(msa[kept_rows][:, kept_columns]).sum()),
               "columns_kept": int(kept_columns.sum()), "sequences_kept": int(kept_rows.sum()),
               "random": float(np.nanmean(labels[i, j])), **run}
        for method in ("mi", "potts"):
            start = time.perf_counter()
            scores = mutual_information(msa) if method == "mi" else potts_contacts(msa)
            row[f"{method} s"] = time.perf_counter() - start
            row[f"{method} P@L"], row[f"{method} P@L/5"] = long_range(scores, alignment, structure, labels)
        if use_pydca and (args.pydca_budget is None or pydca_seconds < args.pydca_budget):
            scores, seconds = run_pydca(args.pydca_python, alignment, args.threads, args.pydca_iterations)
            pydca_seconds += seconds
            row["plmdca s"] = seconds
            row["plmdca P@L"], row["plmdca P@L/5"] = long_range(scores, alignment, structure, labels)
        rows.append(row)
        if args.results:  # after every protein, so an interrupted run keeps what it measured
            args.results.write_text(json.dumps(rows, indent=1))
        shown = "  ".join(f"{LABEL[m]} {row[f'{m} P@L']:.3f} {row[f'{m} P@L/5']:.3f} ({row[f'{m} s']:.0f} s)"
                          for m in METHODS if f"{m} s" in row)
        print(f"[{number}/{len(pairs)}] {row['name']:<10} L={row['L']:>3} N={row['N']:>5}  {shown}", flush=True)
    return rows


def recorded_plmdca(path: Path) -> tuple[dict, str]:
    """plmDCA numbers in an earlier docs/evaluation.md table: {protein: (P@L, P@L/5, s)}, and their date."""
    if not path.is_file():
        return {}, ""
    text = path.read_text()
    date = re.search(r"plmDCA \(pydca 1\.23\) measured on (\d{4}-\d{2}-\d{2})", text)
    header, found = None, {}
    for line in text.splitlines():
        cells = [c.strip(" *") for c in line.strip().strip("|").split("|")]
        if "plmDCA P@L" in cells:
            header = cells
        elif header and len(cells) == len(header) and cells[0] not in ("", "mean") and not cells[0].startswith("-"):
            entry = dict(zip(header, cells))
            if entry.get("plmDCA P@L", "") not in ("", "-"):
                found[entry["protein"]] = tuple(float(entry[k]) for k in ("plmDCA P@L", "plmDCA P@L/5", "plmDCA s"))
    return found, date.group(1) if date else "an unrecorded date"


def mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def seconds(rows: list[dict], method: str) -> float:
    return sum(r[f"{method} s"] for r in rows)


def sources(rows: list[dict], files: dict[str, Path]) -> str:
    """Which saved run each protein's record was taken from."""
    by_file: dict[Path, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["name"]):
        by_file.setdefault(files[r["name"]], []).append(r)
    parts = []
    for path, group in by_file.items():
        first = group[0]  # one run: the same date and commit on every record
        made = ", ".join(x for x in (first.get("date", ""), f"commit {first['commit']}" if first.get("commit") else "") if x)
        parts.append(f"`{path.name}`{f' ({made})' if made else ''}: {', '.join(r['name'] for r in group)}")
    return "Records by run (each protein's Potts and plmDCA times come from the same run): " + "; ".join(parts) + "."


def table(rows: list[dict], args) -> str:
    rows = sorted(rows, key=lambda r: r["name"])
    both = [r for r in rows if "plmdca s" in r]
    dates = sorted({r.get("date") or datetime.date.today().isoformat() for r in both})
    measured = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    ratio = seconds(both, "potts") / seconds(both, "plmdca") if both else None
    lines = [
        BEGIN,
        "## Coevolution baselines on the shared structures",
        "",
        f"Long-range (separation >= 24) precision of alignment-based predictors on the {len(rows)} structure + "
        "alignment pairs of `../shared` (trRosetta alignments from CherryML; the three `.small.a3m` ones hold only "
        "about 120-160 sequences). Contacts: CB (imputed from N, CA, C) closer than 8 Å; L = observed residues; "
        "each protein weighs the same in the mean (as Rao et al. report). The same labels and "
        "`metrics.precision_table` score every method.",
        "",
        "Both of this package's baselines use the same sequences and columns: columns with more than 50 % gaps are "
        "left out (GREMLIN's gap cutoff; their pairs rank last), then sequences with more than 50 % gaps over the kept "
        "columns; sequences are reweighted at 80 % identity.",
        "",
        "- **MI-APC** (`mutual_information`): mutual information between columns, APC.",
        "- **Potts** (`potts_contacts`, defaults): pseudo-likelihood on all sequences, L2 0.2 (L - 1) per coupling "
        "block and 10 on the fields (CCMpred), L-BFGS to convergence (relative decrease under 1e-4 over 5 iterations, "
        "at most 300), APC of the Frobenius norms of the zero-sum-gauge 20 x 20 blocks; float32 torch.",
        "- **plmDCA**: pydca 1.23 `PlmDCA(..., 'protein', seqid=0.8, max_iterations=500)`, FN-APC scores "
        f"(its C++ L-BFGS, {args.threads} OpenMP threads), on the alignment as read by this package (insertions "
        "removed), in the same run as ours.",
        "",
    ]
    if both:
        lines += [
            f"On the {len(both)} proteins where plmDCA ran: **Potts P@L {mean(both, 'potts P@L'):.3f}, P@L/5 "
            f"{mean(both, 'potts P@L/5'):.3f} against plmDCA's {mean(both, 'plmdca P@L'):.3f}, "
            f"{mean(both, 'plmdca P@L/5'):.3f}**, in {seconds(both, 'potts'):.0f} s against "
            f"{seconds(both, 'plmdca'):.0f} s ({ratio:.2f} "
            "of plmDCA's time).",
            "",
        ]
    missing = [name for name in args.all_names if name not in {r["name"] for r in rows}]
    if missing:
        lines += [f"Not measured in this run (out of time on the shared machine): {', '.join(sorted(missing))}.", ""]
    lines += [
        f"Mean over the {len(rows)} proteins measured: **MI-APC P@L {mean(rows, 'mi P@L'):.3f}, P@L/5 {mean(rows, 'mi P@L/5'):.3f}; "
        f"Potts P@L {mean(rows, 'potts P@L'):.3f}, P@L/5 {mean(rows, 'potts P@L/5'):.3f}**; a random ranking would "
        f"score {mean(rows, 'random'):.3f} (the mean fraction of long-range pairs in contact).",
        "",
        "For scale (different proteins, so not comparable number for number): Rao et al. (2021) report Gremlin at "
        "39.3 long-range P@L on their trRosetta test set, and ESM-1b at 41.1.",
        "",
        "| protein | split | L | N | Neff (80 %) | MI P@L | MI P@L/5 | Potts P@L | Potts P@L/5 | plmDCA P@L | "
        "plmDCA P@L/5 | MI s | Potts s | plmDCA s | Potts / plmDCA time |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cell(r, key, digits):
        return f"{r[key]:.{digits}f}" if key in r else "-"

    for r in rows:
        lines.append(
            f"| {r['name']} | {r['split']} | {r['L']} | {r['N']} | {r['Neff']:.0f} | "
            + " | ".join(cell(r, f"{m} {k}", 3) for m in METHODS for k in ("P@L", "P@L/5"))
            + " | " + " | ".join(cell(r, f"{m} s", 0) for m in METHODS)
            + (f" | {r['potts s'] / r['plmdca s']:.2f} |" if "plmdca s" in r else " | - |")
        )
    lines.append(
        f"| **mean** | | | | | **{mean(rows, 'mi P@L'):.3f}** | **{mean(rows, 'mi P@L/5'):.3f}** | "
        f"**{mean(rows, 'potts P@L'):.3f}** | **{mean(rows, 'potts P@L/5'):.3f}** | "
        + (f"**{mean(both, 'plmdca P@L'):.3f}** | **{mean(both, 'plmdca P@L/5'):.3f}** | " if both else "- | - | ")
        + f"{seconds(rows, 'mi'):.0f} | {seconds(rows, 'potts'):.0f} | "
        + (f"{seconds(both, 'plmdca'):.0f} | {ratio:.2f} |" if both else "- | - |")
    )
    lines += [
        "",
        "The plmDCA mean is over the proteins it ran on; the time row sums each column. "
        + (f"plmDCA (pydca 1.23) measured on {measured}. " if both else "")
        + f"Run times in seconds on {args.threads} CPU threads ({platform.machine()}, torch {torch.__version__}) "
        "of a machine shared with other jobs (2 cores for 5 engineers), so they are noisy; each pair of Potts and "
        "plmDCA times was measured one after the other in the same run.",
        "",
        *([args.note, ""] if args.note else []),
        *([sources(rows, args.sources), ""] if len(set(args.sources.values())) > 1 else []),
        "Reproduce (from the repository root, with the shared data beside it; pydca in a scratch venv as the "
        "script's docstring says):",
        "",
        "```",
        "CONTACTS_SHARED=../shared python bench/coevolution_baselines.py --pydca-python /tmp/pydca-venv/bin/python",
        "```",
        "",
        "The same numbers through the command line, one baseline at a time:",
        "",
        "```",
        "contacts evaluate --structures ../shared/structures --msa ../shared/msas --method potts --skip-missing",
        "```",
        END,
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this script's section of the file, keep every other section."""
    text = path.read_text() if path.is_file() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    elif text.startswith("# Coevolution baselines on the shared structures"):  # the file this script used to write whole
        text = "# Evaluation\n\n" + section + "\n"
    else:
        text = (text.rstrip() + "\n\n" if text.strip() else "# Evaluation\n\n") + section + "\n"
    with atomic_write(path) as handle:
        handle.write(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"), type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--proteins", nargs="*", help="only these (structure names, e.g. 2ox5_1_A)")
    parser.add_argument("--pydca-python", default=os.environ.get("PYDCA_PYTHON", "/tmp/pydca-venv/bin/python"),
                        help="a Python with pydca 1.23 installed (default: %(default)s)")
    parser.add_argument("--pydca-iterations", type=int, default=500)
    parser.add_argument("--pydca-budget", type=float, help="seconds of plmDCA after which no more are started")
    parser.add_argument("--results", type=Path, help="save the per-protein records here (JSON)")
    parser.add_argument("--from-results", type=Path, nargs="+", help="write the table from saved records")
    parser.add_argument("--note", default="", help="a paragraph on how this table's runs were made")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "evaluation.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    args.all_names = []
    if (args.shared / "msas" / "MSAS.tsv").is_file():
        with open(args.shared / "msas" / "MSAS.tsv", newline="") as handle:
            args.all_names = [structure_name(r["matching_structure_file"])
                              for r in csv.DictReader(handle, delimiter="\t") if r["matching_structure_file"]]
    args.sources = {}
    if args.from_results:  # a protein measured again in a later file replaces its whole record (one run's pair)
        records = {}
        for path in args.from_results:
            for r in json.loads(path.read_text()):
                records[r["name"]], args.sources[r["name"]] = r, path
        rows = list(records.values())
    else:
        rows = compute(args)
    if not any("plmdca s" in r for r in rows):
        recorded, date = recorded_plmdca(args.output)
        if recorded:
            print(f"pydca not run: plmDCA numbers recorded in {args.output.name} on {date}:")
            for name, (p_l, p_l5, seconds) in sorted(recorded.items()):
                ours = next((r for r in rows if r["name"] == name), None)
                mine = f"  Potts {ours['potts P@L']:.3f} {ours['potts P@L/5']:.3f}" if ours else ""
                print(f"  {name:<10} plmDCA {p_l:.3f} {p_l5:.3f} ({seconds:.0f} s){mine}")
            return 0
    if args.proteins and not args.from_results:
        return 0  # a subset: print only, the docs table covers every pair
    write_section(args.output, table(rows, args))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
