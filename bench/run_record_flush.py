"""The cost of one run-record flush in a proteome-sized run (issue 27): a record of ``--items`` items, ``--changed``
of them marked done since the last flush (as ``contacts predict``'s writer does every 256 records or 5 s).

    python bench/run_record_flush.py                 # 20,000 items, 256 changed, median of 10 flushes
    python bench/run_record_flush.py --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from contacts.runners.runfolder import RunFolder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--changed", type=int, default=256)
    parser.add_argument("--flushes", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    items = [{"id": f"r{i}", "sequence_sha256": f"{i:064x}", "length": 139, "file": f"r{i}"}
             for i in range(args.items)]
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        run = RunFolder(Path(folder), "predict", {"model": {"source": "random:small"}, "options": {}},
                        flush_every=10**9, flush_seconds=3600).open()
        try:
            run.start(items, done=lambda item: None)
            for k in range(args.flushes):
                changed = range(k * args.changed, (k + 1) * args.changed)
                run.mark_done({f"r{i % args.items}": [f"r{i % args.items}.npy"] for i in changed})
                start = time.perf_counter()
                run.flush()
                seconds.append(time.perf_counter() - start)
        finally:
            run.close()
    result = {"items": args.items, "changed": args.changed, "median_ms": 1e3 * statistics.median(seconds)}
    print(json.dumps(result) if args.json else
          f"one flush of a {args.items:,}-item run record, {args.changed} items changed: "
          f"{result['median_ms']:.1f} ms (median of {args.flushes})")


if __name__ == "__main__":
    main()
