"""What ``contacts analyze-heads`` saves by reading each protein once: one pass against three, same run.

Random weights in a model's shape (default ``esm2_t12_35M_UR50D``: 12 layers x 20
heads x 480), the structures of a manifest split (default the 20 train structures of
``../shared/structures``), labels read once. Alternately, ``--repeats`` times:

1. ``three passes``: :func:`probes.attention.attention_properties`,
   :func:`probes.probing.layer_probes` and :func:`probes.heads.head_scores` one
   after the other, each running the model over every protein (what the command
   did before);
2. ``one pass``: :func:`probes.head_analysis.analyze_heads`, the three from one
   forward pass per protein (what the command does), with its own breakdown
   (forward, each analysis, the probing fits).

Both give the same numbers (checked here on every repeat, and pinned by
``tests/probes/test_head_analysis.py``); the record holds each repeat's seconds, the
medians, and ``one / three`` from the medians. Timings are wall-clock on a machine
that may be shared: the record holds the load average before and after.

    python bench/analyze_heads_bench.py                              # 35M shape, 20 train structures
    python bench/analyze_heads_bench.py --preset small --limit 4     # a quick look

Prints a JSON record (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from contacts import Predictor  # noqa: E402
from probes.attention import attention_properties  # noqa: E402
from probes.head_analysis import analyze_heads  # noqa: E402
from probes.heads import head_scores  # noqa: E402
from probes.probing import default_contact_layers, layer_probes  # noqa: E402
from probes.proteins import load_proteins  # noqa: E402


def three_passes(model, proteins, contact_layers, folds):
    return (attention_properties(model, proteins), head_scores(model, proteins),
            layer_probes(model, proteins, contact_layers=contact_layers, folds=folds))


def same(a, b) -> bool:
    """Every array of the three results equal, NaN where NaN."""
    pairs = [(a[0].arrays(), b.properties.arrays()), (a[1].per_protein, b.scores.per_protein),
             ({"on": a[1].attention_mass}, {"on": b.scores.attention_mass}),
             ({"p": a[2].contact_precision, **a[2].scores}, {"p": b.probing.contact_precision, **b.probing.scores})]
    return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f") for k in x)
               for x, y in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", default=str(REPO.parent / "shared" / "structures"))
    parser.add_argument("--split", default="train", help="manifest split; 'all' for every row")
    parser.add_argument("--limit", type=int, help="only the first N structures of the split")
    parser.add_argument("--preset", default="esm2_t12_35M_UR50D", help="model shape (random weights)")
    parser.add_argument("--contact-layers", default="auto",
                        help="depths of the contact probe: auto (as the command: every layer up to 12, else 8), "
                             "or 1,6,12")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default=None, help="default cuda when available, else cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--out", type=Path, help="also write the JSON record here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    model = Predictor.random(args.preset, device=args.device)
    n = model.config.num_layers
    depths = default_contact_layers(n) if args.contact_layers == "auto" else \
        [int(x) for x in args.contact_layers.split(",")]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proteins = load_proteins(args.structures, None if args.split == "all" else args.split,
                                 max_residues=model.config.max_residues)
    proteins = proteins[: args.limit] if args.limit else proteins
    labels = time.perf_counter() - start

    three, one, breakdown, identical = [], [], [], True
    for _ in range(args.repeats):
        np.random.seed(0)  # the contact probes' liblinear fits draw from numpy's global RNG
        tick = time.perf_counter()
        separate = three_passes(model, proteins, depths, args.folds)
        three.append(time.perf_counter() - tick)
        np.random.seed(0)
        tick = time.perf_counter()
        together = analyze_heads(model, proteins, contact_layers=depths, folds=args.folds)
        one.append(time.perf_counter() - tick)
        breakdown.append({k: round(v, 2) for k, v in together.seconds.items()})
        identical &= same(separate, together)

    record = {
        "preset": args.preset, "device": str(model.device), "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if model.device.type == "cuda" else None,
        "proteins": len(proteins), "residues": sum(len(p.sequence) for p in proteins),
        "longest": max(len(p.sequence) for p in proteins), "contact_layers": depths, "folds": args.folds,
        "labels_s": round(labels, 2),
        "three_passes_s": [round(t, 2) for t in three], "one_pass_s": [round(t, 2) for t in one],
        "one_pass_breakdown_s": breakdown,
        "median_three_s": round(statistics.median(three), 2), "median_one_s": round(statistics.median(one), 2),
        "one_over_three": round(statistics.median(one) / statistics.median(three), 3),
        "identical": bool(identical),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "torch": torch.__version__,
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
