"""End to end: train a contact probe and analyse heads on the 20 `train` structures.

With a random-weight model the scores mean nothing; the run, its time, its
memory and the files it writes are real. Each stage's wall time and the
process's peak RSS after it go to ``<out>/bench.json``.

    PYTHONPATH=. python bench/probe_end_to_end.py --structures ../shared/structures -o out/probe_bench
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--structures", default=str(Path(__file__).resolve().parents[2] / "shared" / "structures"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--preset", default="esm1b_t33_650M_UR50S")
    parser.add_argument("--C", type=float, default=0.15)
    parser.add_argument("--fit-negative-fraction", type=float, default=1.0,
                        help="keep this share of non-contacts for the final fit (reweighted)")
    parser.add_argument("--select-C", type=float, nargs="*", default=None,
                        help="cross-validate these C values over proteins first")
    parser.add_argument("--cv-negative-fraction", type=float, default=0.1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-heads", action="store_true")
    parser.add_argument("-o", "--out", default="out/probe_bench")
    args = parser.parse_args(argv)

    from contacts import Predictor
    from probes.heads import head_scores, write_report
    from probes.pairs import collect_pairs
    from probes.probe import ContactProbe, select_features, use_probe
    from probes.proteins import load_proteins
    from probes.selection import fit_probe, select_C

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(torch.get_num_threads())
    stages: dict[str, dict] = {}
    t_all = time.perf_counter()

    def stage(name, start):
        stages[name] = {"seconds": round(time.perf_counter() - start, 1), "peak_rss_mb": round(peak_rss_mb())}
        print(f"[{name}] {stages[name]}", file=sys.stderr, flush=True)

    t = time.perf_counter()
    proteins = load_proteins(args.structures, args.split, properties=())
    stage("load_structures", t)

    t = time.perf_counter()
    predictor = Predictor.random(args.preset, seed=0, device="cpu")
    stage("random_model", t)

    t = time.perf_counter()
    pairs = collect_pairs(predictor, proteins, progress=True)
    stage("pair_features", t)

    selection = None
    C = args.C
    if args.select_C:
        t = time.perf_counter()
        selection = select_C(pairs, args.select_C, n_splits=args.folds,
                             train_negative_fraction=args.cv_negative_fraction, progress=True)
        C = selection.best_C
        stage("select_C", t)

    t = time.perf_counter()
    probe = fit_probe(pairs, C, negative_fraction=args.fit_negative_fraction)
    stage("fit", t)

    t = time.perf_counter()
    path = probe.save(out / "probe.pt", metadata={"model": f"random:{args.preset}", "split": args.split})
    loaded = ContactProbe.load(path)
    # The predictor, given the probe, predicts the contacts the probe gives on the pair features.
    use_probe(predictor, loaded)
    index = int(np.argmin(pairs.lengths))
    rows = pairs.protein_rows(index)
    contacts = predictor.predict_contacts(proteins[index].sequence)
    full = loaded.heads_ is None or len(loaded.heads_) == pairs.X.shape[1]
    X = pairs.X[rows] if full else select_features(pairs.X[rows], loaded.heads_, pairs.num_heads)
    expected = loaded.predict_proba(X)[:, 1]
    gap = float(np.abs(contacts[pairs.i[rows], pairs.j[rows]] - expected).max())
    stage("save_load_predict", t)

    report = None
    if not args.skip_heads:
        t = time.perf_counter()
        scores = head_scores(predictor, proteins, progress=True)
        report = {k: str(v) for k, v in write_report(scores, out / "report", probe=loaded).items()}
        stage("head_analysis", t)

    result = {
        "model": f"Predictor.random({args.preset!r}, seed=0)",
        "config": {"layers": predictor.config.num_layers, "heads": predictor.config.num_heads,
                   "embed_dim": predictor.config.embed_dim},
        "split": args.split,
        "proteins": len(proteins),
        "residues": int(sum(pairs.lengths)),
        "pairs": pairs.summary() | {"proteins": None, "lengths": None},
        "pair_matrix_mb": round(pairs.X.nbytes / 2**20),
        "C": C,
        "selection": None if selection is None else selection.records(),
        "probe": {"nonzero": int(np.count_nonzero(loaded.coef_)), "last_layer": loaded.last_layer,
                  "fit_negative_fraction": probe.metadata_["negative_fraction"],
                  "fit_pairs": probe.metadata_["n_pairs"]},
        "predict_vs_probe_max_abs_diff": gap,
        "report_files": report,
        "stages": stages,
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    warnings.simplefilter("default")
    sys.exit(main())
