"""Throughput of ``predict`` on Ray with 1 and 2 local workers, against one process.

All runs predict the same random sequences with the same random-weight model and the
same token budget, each into a fresh folder, and must give byte-identical files. One
process is timed twice: with one torch thread (what each Ray worker gets, so the ratio
shows Ray's overhead) and with all cores (the single-machine command's default). The
Ray timings are wall time of :func:`contacts.distributed.predict_on_ray` on a local
cluster started once beforehand (its start is reported on its own); they include
starting the actors and loading a model replica in each.

    python bench/ray_throughput.py                       # 64 sequences, random:narrow_t33
    python bench/ray_throughput.py --out docs/scale-out.md
    python bench/ray_throughput.py --memory               # memory per worker instead

Prints one markdown line (and, with ``--out``, writes it under the marker line, newest first).
``--memory`` measures, instead, what one worker holds: the weights of the ESM-1b shape
(counted from its config, nothing allocated) and the peak resident memory above the
loaded model while predicting batches of 1022-residue sequences at several
``--max-tokens``, on the ``narrow_t33`` shape: it has ESM-1b's 33 x 20 attention maps,
which dominate activations, without its 2.6 GB of weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contacts import distributed  # noqa: E402
from contacts.batch import predict_to_dir  # noqa: E402
from contacts.io import FastaRecord  # noqa: E402

AMINO = list("ACDEFGHIKLMNPQRSTVWY")
MARKER = "<!-- ray_throughput lines -->"


def records(n: int, lo: int, hi: int, seed: int = 0) -> list[FastaRecord]:
    rng = np.random.default_rng(seed)
    return [FastaRecord(f"s{k}", f"s{k}", "".join(rng.choice(AMINO, int(rng.integers(lo, hi + 1)))))
            for k in range(n)]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def single_process(model_name: str, recs, outdir: Path, threads: int, max_tokens: int) -> float:
    import torch

    from contacts.predictor import load_model

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = load_model(model_name, device="cpu")
        start = time.perf_counter()
        predict_to_dir(model, recs, outdir, progress=False, max_tokens=max_tokens)
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(before)


def memory_line() -> str:
    import torch
    from contacts_bench import PeakRSS

    from contacts.config import PRESETS
    from contacts.model import ESM1b
    from contacts.predictor import Predictor

    cfg = PRESETS["esm1b_t33_650M_UR50S"]
    with torch.device("meta"):
        params = sum(p.numel() for p in ESM1b(cfg).parameters())
    torch.set_num_threads(os.cpu_count())
    model = Predictor.random("narrow_t33", device="cpu")
    length = model.config.max_residues
    rng = np.random.default_rng(0)
    model.predict_contacts("".join(rng.choice(AMINO, 50)))
    peaks = {}
    for max_tokens in (1024, 2048, 4096):
        seqs = ["".join(rng.choice(AMINO, length)) for _ in range(max_tokens // (length + 2))]
        with PeakRSS() as rss:
            model.predict_contacts(seqs, max_tokens=max_tokens)
        peaks[max_tokens] = rss.peak - rss.start
    activations = ", ".join(f"--max-tokens {t}: {b / 2**30:.2f} GiB" for t, b in peaks.items())
    return (f"- memory per worker: {cfg.name} weights {params / 1e6:.0f}M parameters = "
            f"{params * 4 / 2**30:.2f} GiB float32, {params * 2 / 2**30:.2f} GiB float16/bfloat16 (counted); "
            f"peak above the loaded model, CPU float32, batches of {length}-residue sequences "
            f"({model.config.num_layers} x {model.config.num_heads} maps): {activations}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random:narrow_t33",
                        help="model source (default random:narrow_t33: ESM-1b's 33 x 20 maps, 80-d)")
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--min-length", type=int, default=50)
    parser.add_argument("--max-length", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--out", type=Path, help="markdown file to append the line to")
    parser.add_argument("--memory", action="store_true", help="measure memory per worker instead")
    args = parser.parse_args(argv)
    if args.memory:
        return _emit(memory_line(), args.out)

    recs = records(args.sequences, args.min_length, args.max_length)
    cores = os.cpu_count()
    root = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    ray = distributed.import_ray(local=True)
    try:
        seconds = {}
        seconds["1 process, 1 thread"] = single_process(args.model, recs, root / "p1", 1, args.max_tokens)
        seconds[f"1 process, {cores} threads"] = single_process(args.model, recs, root / "pn", cores,
                                                                 args.max_tokens)
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=distributed.LOCAL_OBJECT_STORE_BYTES,
                 _temp_dir=str(root / "ray"), log_to_driver=False)
        cluster_start = time.perf_counter() - start
        try:
            for workers in (1, 2):
                start = time.perf_counter()
                report = distributed.predict_on_ray(args.model, recs, root / f"ray{workers}", workers=workers,
                                                    device="cpu", max_tokens=args.max_tokens, progress=False)
                seconds[f"Ray, {workers} worker{'s' * (workers > 1)}"] = time.perf_counter() - start
                if report.missing or len(report.written) != len(recs):
                    raise RuntimeError(f"Ray run with {workers} worker(s) left {len(report.missing)} missing")
        finally:
            ray.shutdown()
        reference = files(root / "p1")
        identical = all(files(root / f"ray{w}") == reference for w in (1, 2))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rates = ", ".join(f"{name}: {args.sequences / s:.1f} seq/s" for name, s in seconds.items())
    line = (f"- {args.model}, {args.sequences} sequences of {args.min_length}-{args.max_length} residues, "
            f"--max-tokens {args.max_tokens}, {platform.machine()} with {cores} cores: {rates} "
            f"(local cluster start {cluster_start:.1f} s, not included; Ray files byte-identical to "
            f"1 process, 1 thread: {'yes' if identical else 'NO'})")
    _emit(line, args.out)
    return 0 if identical else 1


def _emit(line: str, out: Path | None) -> int:
    print(line)
    if out:
        text = out.read_text() if out.exists() else ""
        if MARKER not in text:
            text = text.rstrip("\n") + f"\n\n{MARKER}\n"
        out.write_text(text.replace(MARKER, f"{MARKER}\n{line}", 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
