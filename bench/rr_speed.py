"""Pairs per second of :func:`contacts.io.rr.write_rr` on a random float32 contact map.

The map is symmetric, L x L float32, drawn with a fixed seed; every pair ``i < j`` is
written (``min_separation=1``), as ``contacts predict`` writes them apart from its
separation of 6. Time: the fastest of ``--repeats`` calls after one warm-up, each into a
new file of a temporary folder, as ``contacts predict`` writes them (renaming a file over
an existing one can cost several milliseconds more: some filesystems flush it first).

    python bench/rr_speed.py                      # L = 300, the figure of issue 27
    PYTHONPATH=/path/to/an/older/checkout python bench/rr_speed.py   # the same figure for older code

Prints one line: L, pairs, seconds per file, microseconds per pair, pairs per second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if not os.environ.get("PYTHONPATH"):  # run from a checkout: this one's package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contacts.io.rr import write_rr  # noqa: E402


def random_map(length: int, seed: int = 0) -> np.ndarray:
    """A symmetric float32 map of sigmoid-like probabilities (every value distinct in practice)."""
    rng = np.random.default_rng(seed)
    p = rng.random((length, length), dtype=np.float32)
    return np.triu(p, 1) + np.triu(p, 1).T


def measure(length: int = 300, repeats: int = 5) -> dict:
    probs = random_map(length)
    sequence = "A" * length
    pairs = length * (length - 1) // 2
    with tempfile.TemporaryDirectory() as tmp:
        write_rr(Path(tmp) / "warm-up.rr", probs, sequence, "T")
        times = []
        for k in range(repeats):
            path = Path(tmp) / f"{k}.rr"
            start = time.perf_counter()
            write_rr(path, probs, sequence, "T")
            times.append(time.perf_counter() - start)
        size = path.stat().st_size
    best = min(times)
    return {"length": length, "pairs": pairs, "seconds": best, "us_per_pair": best / pairs * 1e6,
            "pairs_per_second": pairs / best, "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    r = measure(args.length, args.repeats)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"L = {r['length']}: {r['pairs']} pairs in {r['seconds'] * 1e3:.1f} ms: {r['us_per_pair']:.3f} us "
              f"per pair, {r['pairs_per_second']:.3g} pairs/s, {r['bytes']} bytes")


if __name__ == "__main__":
    main()
