"""The sparse rule on real chains: an RR file of its best L/5 pairs, scored at k = L before and after.

For each structure + alignment pair of the shared folder (the first ``--proteins``
of ``msas/MSAS.tsv`` with a matching structure), MI-APC scores are written as a CASP
RR file holding only the best L/5 pairs (separation >= 6), then scored at k = L
(all ranges, separation >= 6) two ways:

- before: unlisted pairs read as 0, so they fill the empty top-k places in (i, j)
  order and the denominator stays k (``read_rr(...).to_matrix(fill=0.0)``);
- now: unlisted pairs are not predicted (NaN), precision is over the pairs taken
  and their number is reported (what ``contacts evaluate`` does).

    CONTACTS_SHARED=../shared python bench/sparse_rule.py [--proteins 8] [--write DIR]

With ``--write DIR`` the files are kept for a cross-check with ConKit
(``bench/conkit_precision.py``, run with a Python that has ConKit): ``<name>.rr``
(the prediction, pairs with unknown labels left out, since ConKit counts any pair
absent from its reference as a false positive), ``<name>.reference.rr`` (the true
contacts) and ``ours.tsv`` (this package's P@L and pairs taken on them).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contacts.analysis import metrics  # noqa: E402
from contacts.analysis.coevolution import encode, mutual_information, sequence_weights  # noqa: E402
from contacts.analysis.evaluation import place_prediction  # noqa: E402
from contacts.analysis.labels import contact_map  # noqa: E402
from contacts.io.a3m import read_alignment  # noqa: E402
from contacts.io.manifest import structure_name  # noqa: E402
from contacts.io.rr import read_rr, write_rr  # noqa: E402
from contacts.io.structures import load_structure  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"), type=Path)
    parser.add_argument("--proteins", type=int, default=8)
    parser.add_argument("--write", type=Path, help="keep the RR files here for bench/conkit_precision.py")
    args = parser.parse_args(argv)
    structures, msas = args.shared / "structures", args.shared / "msas"
    with open(structures / "MANIFEST.tsv", newline="") as handle:
        chains = {r["file"]: r for r in csv.DictReader(handle, delimiter="\t")}
    with open(msas / "MSAS.tsv", newline="") as handle:
        pairs = [r for r in csv.DictReader(handle, delimiter="\t") if r["matching_structure_file"]][: args.proteins]
    print("| protein | L | pairs listed (L/5) | before: P@L | now: P@L | now: pairs taken | before: P@L/5 | now: P@L/5 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ours = ["name\tL\tP@L\tn@L"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.write or tmp
        Path(tmp).mkdir(parents=True, exist_ok=True)
        for pair in pairs:
            file = pair["matching_structure_file"]
            structure = load_structure(structures / file, chains[file]["chain"])
            labels = contact_map(structure)
            alignment = read_alignment(msas / pair["file"])
            msa = encode(alignment)
            query = alignment[0][1].replace("-", "X")
            scores = mutual_information(msa, sequence_weights(msa))
            placed = place_prediction(scores, query, structure)  # on the observed residues
            n = len(structure)
            probs = (placed - np.nanmin(placed)) / (np.nanmax(placed) - np.nanmin(placed))  # RR wants [0, 1]
            if args.write:  # ConKit knows no "unknown label": list only pairs the structure decides
                probs[np.isnan(labels)] = np.nan
                true = np.where(labels == 1, 1.0, np.nan)
                write_rr(Path(tmp) / f"{structure_name(file)}.reference.rr", true, structure.sequence,
                         structure_name(file), min_separation=1)
            rr_path = write_rr(Path(tmp) / f"{structure_name(file)}.rr", probs, structure.sequence,
                               structure_name(file), min_separation=metrics.MIN_SEPARATION, max_pairs=n // 5)
            rr = read_rr(rr_path)
            before = metrics.precision_table(rr.to_matrix(fill=0.0), labels, with_auc=False)["all"]
            now = metrics.precision_table(rr.to_matrix(fill=np.nan), labels, with_auc=False, counts=True)["all"]
            print(f"| {structure_name(file)} | {n} | {len(rr.i)} | {before['P@L']:.3f} | {now['P@L']:.3f} | "
                  f"{now['n@L']} | {before['P@L/5']:.3f} | {now['P@L/5']:.3f} |", flush=True)
            ours.append(f"{structure_name(file)}\t{n}\t{now['P@L']!r}\t{now['n@L']}")
        if args.write:
            (Path(tmp) / "ours.tsv").write_text("\n".join(ours) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
