"""The Potts baseline on a GPU, and how its gap filter moves precision: one script, two machines.

The GPU machine has no ``../shared`` and no biotite, so the work is split:

    python bench/potts_device.py prepare .device_kit    # here, beside ../shared: alignments + labels
    python bench/potts_device.py run .device_kit        # there (or here with --device cpu): fits and scores
    python bench/potts_device.py render RESULT.json --doc docs/evaluation.md   # here: the table

``prepare`` writes ``KIT/potts/NAME.npz`` for each structure + alignment pair of
``../shared``: the encoded alignment (``uint8``, insertions removed), the contact labels of the
structure's observed residues, and where each query position sits on the structure
(``align_to_structure``), so ``run`` scores with this package's own labels and
``metrics.precision_table`` without reading a structure.

``run`` fits :func:`contacts.analysis.coevolution.potts_contacts` on ``--device`` (default
cuda when there is one) for every alignment and every ``--settings`` gap filter
(``COLUMNS:SEQUENCES`` fractions; ``0.5:0.5`` is the default, ``1:1`` keeps everything as plmDCA
and CCMpred do), and records long-range P@L and P@L/5, the fit's time, its iterations and how it
stopped. On a CUDA device it also fits the first ``--compare`` alignments on the CPU and reports
how far the two score maps are apart. The JSON goes to ``--out`` (default ``$OUT`` or bench/out).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from docs_section import write_section  # noqa: E402

from contacts.analysis import coevolution, metrics  # noqa: E402

try:  # biotite: only `prepare` reads structures, and the GPU machine has no biotite
    from contacts.analysis.evaluation import structure_name
    from contacts.analysis.labels import align_to_structure, contact_map
    from contacts.io.structures import load_structure
except ImportError:
    structure_name = align_to_structure = contact_map = load_structure = None

SECTION = "potts-device"
SETTINGS = ("0.5:0.5", "0.7:0.5", "0.8:0.8", "1:1")


def prepare(kit: Path, shared: Path) -> None:
    if load_structure is None:
        raise SystemExit("prepare reads structures with biotite, which is not installed here")
    structures, msas = shared / "structures", shared / "msas"
    with open(structures / "MANIFEST.tsv", newline="") as handle:
        chains = {r["file"]: r for r in csv.DictReader(handle, delimiter="\t")}
    with open(msas / "MSAS.tsv", newline="") as handle:
        pairs = [r for r in csv.DictReader(handle, delimiter="\t") if r["matching_structure_file"]]
    out = kit / "potts"
    out.mkdir(parents=True, exist_ok=True)
    for pair in pairs:
        file = pair["matching_structure_file"]
        structure = load_structure(structures / file, chains[file]["chain"])
        alignment = coevolution.read_alignment(msas / pair["file"])
        np.savez_compressed(out / f"{structure_name(file)}.npz", msa=coevolution.encode(alignment),
                            labels=contact_map(structure).astype(np.float32),
                            index=align_to_structure(alignment[0][1].replace("-", "X"), structure),
                            split=chains[file]["split"])
    print(f"{out}: {len(pairs)} alignments with labels", file=sys.stderr)


def long_range(scores: np.ndarray, index: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Long-range P@L and P@L/5 of query-coordinate scores on the structure (as evaluation.place_prediction)."""
    placed = np.full(labels.shape, np.nan)
    ok = np.flatnonzero(index >= 0)
    placed[np.ix_(index[ok], index[ok])] = scores[np.ix_(ok, ok)]
    long = metrics.precision_table(placed, labels)["long"]
    return float(long["P@L"]), float(long["P@L/5"])


def top_long(scores: np.ndarray, k: int) -> set[int]:
    """The k best-scored pairs at separation >= 24, as positions in triu order."""
    i, j = np.triu_indices(len(scores), 24)
    return set(np.argsort(-scores[i, j])[:k].tolist())


class _Fits(logging.Handler):
    """Keeps the fit's closing log line (iterations, evaluations, why it stopped)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.last = ""

    def emit(self, record):
        if record.getMessage().startswith("potts fit"):
            self.last = record.getMessage()


def run(kit: Path, out: Path, device: str, settings: list[str], compare: int, proteins: list[str] | None = None) -> Path:
    files = sorted((f for f in (kit / "potts").glob("*.npz") if not proteins or f.stem in proteins),
                   key=lambda f: np.load(f)["msa"].size)
    if not files:
        raise SystemExit(f"no alignments in {kit / 'potts'}: run `python bench/potts_device.py prepare {kit}` "
                         "beside ../shared first")
    dev = torch.device(device)
    fits = _Fits()
    logging.getLogger(coevolution.__name__).addHandler(fits)
    logging.getLogger(coevolution.__name__).setLevel(logging.INFO)
    head = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "settings": settings,
            "date": time.strftime("%Y-%m-%d")}
    rows, result = [], out / f"potts_device_{dev.type}.json"
    for number, file in enumerate(files, 1):
        data = np.load(file)
        msa, labels, index = data["msa"], data["labels"], data["index"]
        row = {"name": file.stem, "split": str(data["split"]), "N": msa.shape[0], "length": msa.shape[1]}
        for setting in settings:
            columns, sequences = (float(v) for v in setting.split(":"))
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            start = time.perf_counter()
            scores = coevolution.potts_contacts(msa, max_column_gaps=columns, max_sequence_gaps=sequences, device=dev)
            seconds = time.perf_counter() - start
            kept_rows, kept_columns = coevolution.gap_filter(msa, columns, sequences)
            p_l, p_l5 = long_range(scores, index, labels)
            row[setting] = {"P@L": p_l, "P@L/5": p_l5, "s": seconds, "columns": int(kept_columns.sum()),
                            "sequences": int(kept_rows.sum()), "fit": fits.last}
            if setting == settings[0] and dev.type == "cuda" and number <= compare:
                start = time.perf_counter()
                on_cpu = coevolution.potts_contacts(msa, max_column_gaps=columns, max_sequence_gaps=sequences)
                top = len(labels)
                row["cpu"] = {"s": time.perf_counter() - start, "max_abs_diff": float(np.abs(on_cpu - scores).max()),
                              "top_L_long_overlap": len(top_long(on_cpu, top) & top_long(scores, top)) / top,
                              "P@L": long_range(on_cpu, index, labels)[0]}
        rows.append(row)
        out.mkdir(parents=True, exist_ok=True)
        result.write_text(json.dumps({**head, "rows": rows}, indent=1))  # after each, so a cut-off run keeps them
        print(f"[{number}/{len(files)}] {file.stem:<10} N={msa.shape[0]:>5} L={msa.shape[1]:>3}  "
              + "  ".join(f"{s} {row[s]['P@L']:.3f} ({row[s]['s']:.1f} s)" for s in settings), flush=True)
    print(f"wrote {result}")
    return result


def render(result: dict) -> str:
    settings, rows = result["settings"], result["rows"]
    label = {s: f"columns <= {float(s.split(':')[0]):.0%} gaps, sequences <= {float(s.split(':')[1]):.0%}"
             + (" (the default)" if s == coevolution_default() else "") for s in settings}
    mean = {s: float(np.mean([r[s]["P@L"] for r in rows])) for s in settings}
    best = max(settings, key=lambda s: (round(mean[s], 3), s == coevolution_default()))
    lines = [
        f"## The Potts fit on {result['device']}, and the gap filter",
        "",
        f"`potts_contacts(msa, device=...)` on the {len(rows)} shared structure + alignment pairs, torch "
        f"{result['torch']}, {result['date']}; long-range P@L and P@L/5 with this package's labels and metric, "
        "and the time of each fit (weights, fit and scores); L is the query's length in the alignment. Made by "
        "`bench/potts_device.py` (`prepare` beside `../shared`, `run` on the device, `render` here).",
        "",
        f"The best mean long-range P@L, {mean[best]:.3f}, came from {label[best]}; keeping every column and "
        f"sequence, as plmDCA and CCMpred do, scored {mean[settings[-1]]:.3f}. Single proteins move either way "
        "with the filter, by more than the means do.",
        "",
        "| gap filter | P@L | P@L/5 | P@L train+valid | P@L test | total s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in settings:
        fit = [r[s] for r in rows]
        dev = [r[s]["P@L"] for r in rows if r["split"] != "test"]
        test = [r[s]["P@L"] for r in rows if r["split"] == "test"]
        lines.append(f"| {label[s]} | {np.mean([f['P@L'] for f in fit]):.3f} | {np.mean([f['P@L/5'] for f in fit]):.3f} | "
                     f"{np.mean(dev):.3f} | {np.mean(test) if test else float('nan'):.3f} | {sum(f['s'] for f in fit):.0f} |")
    short = {s: "/".join(f"{float(v):.0%}" for v in s.split(":")) for s in settings}
    lines += ["", "| protein | split | N | L | " + " | ".join(f"{short[s]} P@L | {short[s]} s" for s in settings) + " |",
              "| --- | --- | ---: | ---: | " + " | ".join("---: | ---:" for _ in settings) + " |"]
    for r in sorted(rows, key=lambda r: r["name"]):
        lines.append(f"| {r['name']} | {r['split']} | {r['N']} | {r['length']} | "
                     + " | ".join(f"{r[s]['P@L']:.3f} | {r[s]['s']:.1f}" for s in settings) + " |")
    compared = [r for r in rows if "cpu" in r]
    if compared:
        lines += ["", f"Against the same fit on the CPU ({len(compared)} alignments, first filter): largest score "
                  f"difference {max(r['cpu']['max_abs_diff'] for r in compared):.2g}, top-L long-range overlap "
                  f"{min(r['cpu']['top_L_long_overlap'] for r in compared):.3f} at worst; P@L "
                  + ", ".join(f"{r['name']} {r['cpu']['P@L']:.3f} (CPU) / {r[settings[0]]['P@L']:.3f}" for r in compared)
                  + ". Elsewhere rounding can still swap near-tied pairs: a protein's P@L here may differ from the "
                  "CPU table above by a pair or two."]
    return "\n".join(lines)


def coevolution_default() -> str:
    return f"{coevolution.MAX_COLUMN_GAPS:g}:{coevolution.MAX_SEQUENCE_GAPS:g}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="write KIT/potts/*.npz from ../shared")
    p.add_argument("kit", type=Path)
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("CONTACTS_SHARED", REPO.parent / "shared")))
    r = commands.add_parser("run", help="fit and score every alignment of the kit")
    r.add_argument("kit", type=Path)
    r.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    r.add_argument("--settings", nargs="+", default=list(SETTINGS), help="COLUMNS:SEQUENCES gap fractions")
    r.add_argument("--compare", type=int, default=3, help="alignments also fitted on the CPU (cuda only)")
    r.add_argument("--proteins", nargs="+", help="only these (e.g. 3jrv_1_A)")
    r.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", REPO / "bench" / "out")))
    d = commands.add_parser("render", help="print (or write into --doc) the tables of a run's JSON")
    d.add_argument("result", type=Path)
    d.add_argument("--doc", type=Path)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.kit, args.shared)
    elif args.command == "run":
        run(args.kit, args.out, args.device, args.settings, args.compare, args.proteins)
    else:
        text = render(json.loads(args.result.read_text()))
        if args.doc:
            write_section(args.doc, SECTION, text)
            print(f"wrote section {SECTION} of {args.doc}")
        else:
            print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
