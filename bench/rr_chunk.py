"""How many pairs ``write_rr`` formats per numpy call (``contacts.io.rr._CHUNK``): alone, and beside the model.

Alone: process time per pair of :func:`contacts.io.rr.write_rr` on random symmetric float32
maps of L = 139 (the mean of the homologs), 300 and 1022, median of ``--repeats``.

Beside the model: :func:`contacts.runners.predict.predict_to_dir` (``.npy`` + RR) over the 300
homologs of ``bench/cli_throughput.py`` with ``random:small`` on one torch thread, over
:meth:`Predictor.iter_contacts` alone timed in the same round; every chunk size once a round, in
alternating order, median of ``--rounds``. Each numpy call over a chunk lets go of the GIL and
takes it back, and the model's thread waits for it at times: fewer, larger calls make fewer hand-overs.

    python bench/rr_chunk.py                        # 4096, 16384, 65536
    python bench/rr_chunk.py --chunks 4096,16384 --rounds 12
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from cli_throughput import HOMOLOGS, REPO, homologs  # noqa: E402

import contacts  # noqa: E402
from contacts.io import rr  # noqa: E402
from contacts.io.fasta import FastaRecord  # noqa: E402
from contacts.runners.predict import predict_to_dir  # noqa: E402


def alone(chunks: list[int], repeats: int, folder: Path) -> dict[int, dict[int, float]]:
    """Nanoseconds of process time per pair, by L and chunk."""
    rng = np.random.default_rng(0)
    result = {}
    for length in (139, 300, 1022):
        probs = rng.random((length, length), dtype=np.float32)
        probs = (probs + probs.T) / 2
        calls = max(1, 300_000 // length**2)
        times: dict[int, list[float]] = {}
        for _ in range(repeats):
            for chunk in chunks:
                rr._CHUNK = chunk
                start = time.process_time()
                for _ in range(calls):
                    rr.write_rr(folder / "map.rr", probs, "A" * length, "T")
                times.setdefault(chunk, []).append((time.process_time() - start) / calls / (length * (length - 1) / 2))
        result[length] = {chunk: statistics.median(t) * 1e9 for chunk, t in times.items()}
    return result


def beside_model(chunks: list[int], rounds: int, folder: Path, msas: Path) -> dict[int, list[float]]:
    """Each round's ``predict_to_dir`` time over that round's library time, by chunk."""
    torch.set_num_threads(1)
    pairs = homologs(msas, HOMOLOGS)
    records = [FastaRecord(name, name, seq) for name, seq in pairs]
    sequences = [seq for _, seq in pairs]
    model = contacts.load_model("random:small", device="cpu")
    ratios: dict[int, list[float]] = {}
    for k in range(rounds):
        start = time.perf_counter()
        sum(1 for _ in model.iter_contacts(sequences))
        library = time.perf_counter() - start
        for chunk in chunks if k % 2 == 0 else chunks[::-1]:
            rr._CHUNK = chunk
            out = Path(tempfile.mkdtemp(dir=folder))
            start = time.perf_counter()
            predict_to_dir(model, records, out / "run", formats=("npy", "rr"), progress=False)
            ratios.setdefault(chunk, []).append((time.perf_counter() - start) / library)
            shutil.rmtree(out)
        print(f"  round {k + 1}: library {library:.2f} s; "
              + ", ".join(f"{c}: {ratios[c][-1]:.2f}x" for c in chunks), flush=True)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", default="4096,16384,65536")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--msas", type=Path, default=REPO.parent / "shared" / "msas")
    args = parser.parse_args()
    chunks = [int(c) for c in args.chunks.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="rr-chunk-"))
    try:
        for length, row in alone(chunks, args.repeats, folder).items():
            print(f"alone, L = {length}: " + ", ".join(f"{c}: {ns:.0f} ns a pair" for c, ns in row.items()), flush=True)
        ratios = beside_model(chunks, args.rounds, folder, args.msas)
        print("beside the model, median of the rounds: "
              + ", ".join(f"{c}: {statistics.median(r):.3f}x" for c, r in ratios.items())
              + f" (os.cpu_count() = {os.cpu_count()})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
