"""ConKit's precision on the files ``bench/sparse_rule.py --write DIR`` keeps, beside this package's.

Run with a Python that has ConKit (see tests/io/data/make_conkit_files.py)::

    /tmp/conkit-venv/bin/python bench/conkit_precision.py DIR

For each ``<name>.rr``: ConKit reads it (``casp``), drops pairs closer than 6 in
sequence (``remove_neighbors(min_distance=6)``), keeps the top L
(``slice_map(1.0, seq_len=L)``), matches it against ``<name>.reference.rr``
(``match_naive``: listed pairs in the reference are true positives, others false)
and reports ``precision``; printed beside ``ours.tsv``.
"""

import sys
from pathlib import Path

import conkit.io


def main(folder: Path) -> int:
    rows = [line.split("\t") for line in (folder / "ours.tsv").read_text().splitlines()[1:]]
    print("| protein | L | ConKit: listed pairs taken | ConKit: precision | contacts: n@L | contacts: P@L |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    worst = 0.0
    for name, length, ours, count in rows:
        prediction = conkit.io.read(str(folder / f"{name}.rr"), "casp").top_map
        reference = conkit.io.read(str(folder / f"{name}.reference.rr"), "casp").top_map
        prediction.remove_neighbors(min_distance=6, inplace=True)
        prediction.slice_map(1.0, seq_len=int(length), inplace=True)
        matched = prediction.match_naive(reference, inplace=True)
        theirs = matched.precision
        worst = max(worst, abs(theirs - float(ours)))
        print(f"| {name} | {length} | {len(matched)} | {theirs:.4f} | {count} | {float(ours):.4f} |")
    print(f"\nlargest difference: {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
