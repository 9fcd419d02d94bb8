"""Attention analysis: what the per-head property sums cost beyond the forward passes.

Random weights in a model's shape (default the full ESM-1b: 33 layers x 20 heads x
1280), the structures of a manifest split (default the 20 train structures of
``../shared/structures``). Two timed passes over the same proteins:

1. ``forward``: the model alone, streaming one layer's attention at a time
   (:meth:`contacts.Predictor.iter_attention`, the path the analysis reads), nothing done with it;
2. ``analysis``: :func:`probes.attention.attention_properties` with every property,
   which times its own forward and its sums separately (``seconds``).

The issue's bound is ``analysis / forward <= 0.5``. Both ratios are reported:
the internal one (sums / forward within pass 2) and the external one
((pass 2 - labels - pass 1) / pass 1). Labels (reading structures, P-SEA, binding
sites) are timed apart: they do not depend on the model.

    python bench/attention_bench.py                       # ESM-1b shape, 20 train structures
    python bench/attention_bench.py --limit 3 --preset small   # a quick look

Prints a JSON record (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contacts import Predictor  # noqa: E402
from probes.attention import attention_properties  # noqa: E402
from probes.proteins import DEFAULT_PROPERTIES, load_proteins  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", default=str(REPO.parent / "shared" / "structures"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, help="only the first N structures of the split")
    parser.add_argument("--preset", default="esm1b_t33_650M_UR50S", help="model shape (random weights)")
    parser.add_argument("--device", default=None, help="default cuda when available, else cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="also write the JSON record here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    load_start = os.getloadavg()
    start = time.perf_counter()
    proteins = load_proteins(args.structures, args.split)
    if args.limit:
        proteins = proteins[: args.limit]
    labels = time.perf_counter() - start
    model = Predictor.random(args.preset, device=args.device)
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)

    # warm-up on the shortest protein (kernels, allocator), not timed
    shortest = min(proteins, key=lambda p: len(p.sequence))
    for _ in model.iter_attention(shortest.sequence):
        pass
    sync()

    start = time.perf_counter()
    for protein in proteins:
        for _ in model.iter_attention(protein.sequence):
            pass
    sync()
    forward = time.perf_counter() - start

    start = time.perf_counter()
    result = attention_properties(model, proteins, DEFAULT_PROPERTIES)
    sync()
    analysis_pass = time.perf_counter() - start

    inner = result.seconds
    record = {
        "preset": args.preset,
        "device": str(model.device),
        "gpu": torch.cuda.get_device_name() if model.device.type == "cuda" else None,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "proteins": len(proteins),
        "residues": sum(len(p.sequence) for p in proteins),
        "longest": max(len(p.sequence) for p in proteins),
        "properties": len(DEFAULT_PROPERTIES),
        "labels_s": round(labels, 2),
        "forward_only_s": round(forward, 2),
        "analysis_pass_s": round(analysis_pass, 2),
        "inside_analysis_pass": {k: round(v, 2) for k, v in inner.items()},
        "ratio_internal": round(inner["analysis"] / inner["forward"], 3),
        "ratio_external": round((analysis_pass - forward) / forward, 3),
        "bound": 0.5,
        "load_average": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]},
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
