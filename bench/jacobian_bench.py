"""The categorical Jacobian: its cost by length, AntiBERTy's contacts beside its attention probe, reduced precision.

Three sections, each saved to ``--results`` (JSON) after every case, so a run cut short keeps
what it measured:

1. ``cost``: ``model.jacobian_contacts`` on random sequences by length, for the ESM-1b shape
   (random weights, ``random:esm1b_t33_650M_UR50S``) and AntiBERTy (its trained weights):
   forward passes, batches, seconds per protein, and the share of the time spent outside the
   model's forward passes (timed by hooks on the encoder module, the GPU synchronised);
2. ``antiberty``: the Jacobian of AntiBERTy on the 12 antibody variable domains of
   ``data/antibody_domains.tsv`` (``../shared/structures``), P@L by separation range with this
   package's labels and metrics, beside the random rate of each domain and, on the 4 held-out
   ``test`` domains, the attention probe trained on the 8 ``train`` ones (as
   ``bench/antiberty_run.py`` trains and scores it: ``contacts train-probe``, ``contacts
   evaluate``). The same block norms also give the paper's notebook order (APC before
   symmetrizing), measured against the package's (symmetrize, then APC);
3. ``precision``: AntiBERTy's Jacobian in bfloat16 and float16 against float32 on the
   shortest domains (those the ``antiberty`` section saved first: no float32 run again): the
   largest change of a score (relative to float32's largest), the overlap of the top-L pairs,
   and P@L.

    python bench/jacobian_bench.py --results bench/out/jacobian.json          # all (hours on 2 CPU threads)
    python bench/jacobian_bench.py --sections cost --cost esm1b:16,32 antiberty:32,64,128
    python bench/jacobian_bench.py --from-results bench/out/jacobian.json     # the doc from saved results

``--from-results A.json B.json`` writes the section ``jacobian-bench`` of ``docs/evaluation.md``
from saved runs instead of computing (a case measured in several files takes the record of
the last one). The block norms of every domain are saved beside the results
(``<results>.arrays/``) for the precision section and for anyone who wants to look again.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from antiberty_run import TABLE, contact_rates  # noqa: E402
from antiberty_run import run as run_cli  # noqa: E402
from coevolution_baselines import commit  # noqa: E402
from docs_section import write_section  # noqa: E402

import contacts  # noqa: E402
from contacts.analysis import metrics  # noqa: E402
from contacts.analysis.evaluation import domain_targets, place_prediction  # noqa: E402
from contacts.analysis.labels import contact_map  # noqa: E402
from contacts.constants import RANGES  # noqa: E402
from contacts.io.domains import read_domains  # noqa: E402
from contacts.predictor.jacobian import held_bytes, jacobian_norms, jacobian_scores  # noqa: E402

DOC = REPO / "docs" / "evaluation.md"
SECTION = "jacobian-bench"
BANDS = ("short", "medium", "long")
MODELS = {"esm1b": "random:esm1b_t33_650M_UR50S", "antiberty": "antiberty"}
AMINO = list("ACDEFGHIKLMNPQRSTVWY")


# ----------------------------------------------------------------------------- measuring


class ForwardTimer:
    """Seconds, passes (sequences) and batches of the encoder's forward calls while in the ``with`` block.

    Hooks on the encoder module time each call; on a GPU they synchronise before and after it,
    so that the time is the device's work and not the launch (the synchronising costs a little).
    """

    def __init__(self, predictor):
        self.module = predictor.model
        self.cuda = predictor.device.type == "cuda"
        self.seconds = 0.0
        self.passes = self.batches = 0

    def _sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def _before(self, module, args):
        self._sync()
        self._start = time.perf_counter()

    def _after(self, module, args, output):
        self._sync()
        self.seconds += time.perf_counter() - self._start
        self.passes += int(args[0].shape[0])
        self.batches += 1

    def __enter__(self):
        self._hooks = [self.module.register_forward_pre_hook(self._before),
                       self.module.register_forward_hook(self._after)]
        return self

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()


def timed(predictor, fn):
    """``fn()``, with its wall time and what the forward passes took of it."""
    with ForwardTimer(predictor) as timer:
        start = time.perf_counter()
        value = fn()
        if timer.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    return value, {"seconds": seconds, "forward_seconds": timer.seconds, "passes": timer.passes,
                   "batches": timer.batches, "outside_share": 1 - timer.seconds / seconds}


def top_overlap(reference: np.ndarray, other: np.ndarray, k: int, min_separation: int) -> float:
    """Share of ``reference``'s top-k pairs (separation >= ``min_separation``) that ``other`` also ranks in its top k."""
    i, j = np.triu_indices(len(reference), min_separation)

    def top(scores):
        order = np.argsort(-scores[i, j], kind="stable")[:k]
        return set(zip(i[order].tolist(), j[order].tolist()))

    return len(top(reference) & top(other)) / max(1, min(k, len(i)))


def notebook_order(norms: np.ndarray) -> np.ndarray:
    """The paper's notebook: diagonal zeroed, APC on the unsymmetrized norms, diagonal zeroed, then ``(x + x^T) / 2``."""
    x = norms.astype(np.float64).copy()
    np.fill_diagonal(x, 0)
    x = x - x.sum(0, keepdims=True) * x.sum(1, keepdims=True) / x.sum()
    np.fill_diagonal(x, 0)
    return (x + x.T) / 2


def precision_by_band(scores: np.ndarray, sequence: str, structure) -> dict[str, float]:
    table = metrics.precision_table(place_prediction(scores, sequence, structure), contact_map(structure))
    return {band: float(table[band]["P@L"]) for band in BANDS}


def stamp() -> dict:
    # BENCH_COMMIT: the commit a copied tree was taken from (a long run from a snapshot has no git of its own)
    return {"date": datetime.date.today().isoformat(), "commit": os.environ.get("BENCH_COMMIT") or commit(),
            "threads": torch.get_num_threads(),
            "load": round(os.getloadavg()[0], 1), "machine": platform.machine(), "torch": torch.__version__}


def load(name: str, device: str, dtype: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no contact regression: the Jacobian needs none
        return contacts.load_model(MODELS.get(name, name), device=device, dtype=dtype)


class Results:
    """Records by key, written after each one (a later record of the same key replaces the earlier)."""

    def __init__(self, path: Path | None, records: list[dict] | None = None):
        self.path = path
        self.records = {self.key(r): r for r in records or []}

    @staticmethod
    def key(record: dict) -> str:
        return "/".join(str(record.get(k, "")) for k in ("section", "model", "name", "L", "center", "dtype"))

    def add(self, record: dict) -> None:
        self.records[self.key(record)] = record
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.part")
            tmp.write_text(json.dumps(list(self.records.values()), indent=1))
            tmp.replace(self.path)

    def section(self, name: str) -> list[dict]:
        return [r for r in self.records.values() if r["section"] == name]


# ----------------------------------------------------------------------------- sections


def cost(results: Results, cases: list[str], device: str) -> None:
    """``MODEL:L1,L2,...``: seconds, passes and the share outside the forward passes, per random sequence."""
    rng = np.random.default_rng(0)
    for case in cases:
        name, _, lengths = case.rpartition(":")
        model = load(name, device)
        model.jacobian_contacts("MKTAYIAK")  # warm-up
        for length in map(int, lengths.split(",")):
            sequence = "".join(rng.choice(AMINO, length))
            _, record = timed(model, partial(model.jacobian_contacts, sequence))
            record.update(section="cost", model=name, L=length, device=device,
                          held_mb=held_bytes(length) / 1e6, **stamp())
            results.add(record)
            print(f"cost {name} L={length}: {record['passes']} passes in {record['batches']} batches, "
                  f"{record['seconds']:.1f} s, {100 * record['outside_share']:.1f}% outside the forward passes",
                  flush=True)


def antiberty(results: Results, structures: Path, centers: list[str], arrays: Path, workdir: Path,
              device: str, limit: int | None = None, redo: bool = False) -> None:
    """The Jacobian on every domain (each centring; test domains first; those already in ``results`` skipped
    unless ``redo``), then the attention probe on the test ones."""
    model = load("antiberty", device)
    arrays.mkdir(parents=True, exist_ok=True)
    targets = sorted(domain_targets(structures, TABLE), key=lambda t: (t.split != "test", t.name))[:limit]
    done = {(r["name"], r["center"]) for r in results.section("antiberty")}
    for center in centers:
        for target in targets:
            if not redo and (target.name, center) in done:
                continue  # measured by an earlier run into the same --results: a run cut short resumes
            structure = target.load()
            sequence = structure.full_sequence or structure.sequence
            norms, record = timed(model, partial(jacobian_norms, model, list(sequence), center=center))
            norms = norms.cpu().numpy()
            np.save(arrays / f"{target.name}.{center}.npy", norms)
            ours = jacobian_scores(torch.from_numpy(norms)).numpy()
            theirs = notebook_order(norms)
            rates = dict(zip(RANGES, contact_rates(structure)))
            record.update(
                section="antiberty", model="antiberty", name=target.name, split=target.split, L=len(structure),
                sequence_length=len(sequence), center=center, device=device,
                jacobian=precision_by_band(ours, sequence, structure),
                notebook=precision_by_band(theirs, sequence, structure),
                random={band: rates[band] for band in BANDS},
                orders_max_diff=float(np.abs(ours - theirs).max()), scores_max=float(np.abs(ours).max()),
                orders_top_overlap=top_overlap(ours, theirs, len(sequence), 6), **stamp())
            results.add(record)
            shown = "  ".join(f"{b} {record['jacobian'][b]:.3f} ({record['random'][b]:.3f})" for b in BANDS)
            print(f"antiberty {center} {target.name} L={len(sequence)}: {record['seconds']:.0f} s, "
                  f"{100 * record['outside_share']:.1f}% outside; P@L {shown}", flush=True)
    workdir.mkdir(parents=True, exist_ok=True)
    probe = workdir / "antiberty-probe.pt"
    evaluation = workdir / "probe-evaluation"
    run_cli("train-probe", "--model", "antiberty", "--structures", str(structures), "--domains", TABLE,
            "--split", "train", "-o", str(probe), "--no-progress")
    run_cli("evaluate", "--model", "antiberty", "--probe", str(probe), "--structures", str(structures),
            "--domains", TABLE, "--split", "test", "--output", str(evaluation), "--no-progress")
    for protein in json.loads(evaluation.with_suffix(".json").read_text())["proteins"]:
        results.add({"section": "probe", "model": "antiberty", "name": protein["name"], "split": protein["split"],
                     "L": protein["L"], "probe": {band: protein[f"{band} P@L"] for band in BANDS}, **stamp()})


def precision(results: Results, structures: Path, arrays: Path, count: int, dtypes: list[str], device: str) -> None:
    """Each dtype's Jacobian against float32's on the ``count`` shortest domains whose float32 norms the AntiBERTy
    section saved (``arrays``), then the shortest others (their float32 norms computed here)."""
    reference = load("antiberty", device)
    targets, seen = [], set()
    for target in sorted(domain_targets(structures, TABLE),
                         key=lambda t: (not (arrays / f"{t.name}.iajb.npy").is_file(), len(t.load()), t.name)):
        structure = target.load()
        sequence = structure.full_sequence or structure.sequence
        if sequence not in seen and len(targets) < count:  # chains of one antibody repeat a sequence
            targets.append(target)
            seen.add(sequence)
    for dtype in dtypes:
        model = contacts.Predictor(copy.deepcopy(reference.model), None, device=device, dtype=dtype)
        for target in targets:
            structure = target.load()
            sequence = structure.full_sequence or structure.sequence
            saved = arrays / f"{target.name}.iajb.npy"
            exact = np.load(saved) if saved.is_file() else jacobian_norms(reference, list(sequence)).cpu().numpy()
            norms, record = timed(model, partial(jacobian_norms, model, list(sequence)))
            exact = jacobian_scores(torch.from_numpy(exact)).numpy()
            got = jacobian_scores(norms.cpu()).numpy()
            record.update(
                section="precision", model="antiberty", name=target.name, L=len(structure), dtype=dtype,
                device=device, max_diff=float(np.abs(got - exact).max()), scores_max=float(np.abs(exact).max()),
                top_L_overlap=top_overlap(exact, got, len(sequence), 6),
                top_L_long_overlap=top_overlap(exact, got, len(sequence), 24),
                jacobian=precision_by_band(got, sequence, structure),
                float32=precision_by_band(exact, sequence, structure), **stamp())
            results.add(record)
            print(f"precision {dtype} {target.name}: max change {record['max_diff']:.3g} of "
                  f"{record['scores_max']:.3g}, top-L overlap {record['top_L_overlap']:.3f}, "
                  f"{record['seconds']:.0f} s", flush=True)


# ----------------------------------------------------------------------------- the doc


def _mean(rows: list[dict], field: str, band: str) -> float:
    return float(np.mean([r[field][band] for r in rows]))


def _bands(rows: list[dict], field: str) -> str:
    return " | ".join(f"{_mean(rows, field, b):.3f}" for b in BANDS)


def _runs(rows: list[dict]) -> str:
    dates = sorted({r["date"] for r in rows})
    loads = [r["load"] for r in rows]
    commits = sorted({r["commit"] for r in rows if r.get("commit")})
    return (f"{dates[0] if len(dates) == 1 else f'{dates[0]} to {dates[-1]}'}, {rows[0]['machine']}, "
            f"torch {rows[0]['torch']}, {' or '.join(sorted({str(r['threads']) for r in rows}))} threads, "
            f"{rows[0]['device']}, load average "
            f"{min(loads):.1f}-{max(loads):.1f}" + (f", commit {', '.join(commits)}" if commits else ""))


def render(results: Results) -> str:
    lines = ["Made by `python bench/jacobian_bench.py` (`--from-results` rewrites this section from saved runs)."]
    rows = sorted(results.section("cost"), key=lambda r: (r["model"], r["L"]))
    if rows:
        lines += [
            "", f"**Cost** of `model.jacobian_contacts(sequence)` on random sequences ({_runs(rows)}); "
            "`outside` is the share of the time not spent in the model's forward passes (centring, norms, "
            "batch assembly, copies):", "",
            "| model | L | forward passes | batches | seconds | ms / pass | outside | held (MB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *(f"| {MODELS.get(r['model'], r['model'])} | {r['L']} | {r['passes']} | {r['batches']} | "
              f"{r['seconds']:.1f} | {1000 * r['seconds'] / r['passes']:.1f} | {100 * r['outside_share']:.1f}% | "
              f"{r['held_mb']:.1f} |" for r in rows),
        ]
    jac = sorted(results.section("antiberty"), key=lambda r: (r["split"] != "test", r["name"]))
    probes = {r["name"]: r for r in results.section("probe")}
    domains = len(read_domains(TABLE))
    for center in sorted({r["center"] for r in jac}, key=lambda c: c != "iajb"):
        rows = [r for r in jac if r["center"] == center]
        test = [r for r in rows if r["name"] in probes]
        lines += [
            "", f"**AntiBERTy, center=\"{center}\"**: P@L by separation range on the antibody variable domains "
            f"(`data/antibody_domains.tsv`; {_runs(rows)}). Random: the share of contacts among the labelled pairs "
            "of the range (the precision of a random ranking); probe: the attention probe trained on the 8 `train` "
            "domains, scored on the 4 `test` ones (`bench/antiberty_run.py`'s split).", "",
            "| domain | split | L | Jacobian short | medium | long | probe short | medium | long | random short "
            "| medium | long | seconds | outside |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            probe = (" | ".join(f"{probes[r['name']]['probe'][b]:.3f}" for b in BANDS)
                     if r["name"] in probes else "- | - | -")
            lines.append(f"| {r['name']} | {r['split']} | {r['L']} | "
                         + " | ".join(f"{r['jacobian'][b]:.3f}" for b in BANDS) + f" | {probe} | "
                         + " | ".join(f"{r['random'][b]:.3f}" for b in BANDS)
                         + f" | {r['seconds']:.0f} | {100 * r['outside_share']:.1f}% |")
        if test:
            lines.append(f"| **mean, {len(test)} test** | | | {_bands(test, 'jacobian')} | "
                         f"{_bands([probes[r['name']] for r in test], 'probe')} | {_bands(test, 'random')} | | |")
        measured = f"all {len(rows)}" if len(rows) == domains else f"{len(rows)} of {domains} measured"
        lines.append(f"| **mean, {measured}** | | | {_bands(rows, 'jacobian')} | - | - | - | "
                     f"{_bands(rows, 'random')} | {sum(r['seconds'] for r in rows):.0f} | "
                     f"{100 * np.mean([r['outside_share'] for r in rows]):.1f}% |")
        lines += [
            "", f"The notebook's order (APC on the unsymmetrized norms, then symmetrized) on the same norms: mean P@L "
            f"short/medium/long {_bands(rows, 'notebook').replace(' | ', ' / ')} against the package's "
            f"{_bands(rows, 'jacobian').replace(' | ', ' / ')}; the scores differ by at most "
            f"{max(r['orders_max_diff'] / r['scores_max'] for r in rows):.1%} of the largest score, and the top-L pairs "
            f"(separation >= 6) agree to {np.mean([r['orders_top_overlap'] for r in rows]):.1%} on average "
            f"(worst {min(r['orders_top_overlap'] for r in rows):.1%}).",
        ]
    rows = sorted(results.section("precision"), key=lambda r: (r["dtype"], r["L"], r["name"]))
    if rows:
        lines += [
            "", f"**Reduced precision**: AntiBERTy's Jacobian (center=\"iajb\") with the weights and activations in "
            f"bfloat16 or float16 (centring and norms in float64 as always) against float32 on the same domains "
            f"({_runs(rows)}); change: the largest change of a score over float32's largest score; overlap: the "
            "share of float32's top-L pairs (separation >= 6, and >= 24) that the reduced run also ranks top-L:", "",
            "| dtype | domain | L | largest change | top-L overlap | long-range top-L overlap | P@L medium "
            "(float32) | P@L long (float32) | seconds |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *(f"| {r['dtype']} | {r['name']} | {r['L']} | {r['max_diff'] / r['scores_max']:.2%} | "
              f"{r['top_L_overlap']:.3f} | {r['top_L_long_overlap']:.3f} | {r['jacobian']['medium']:.3f} "
              f"({r['float32']['medium']:.3f}) | {r['jacobian']['long']:.3f} ({r['float32']['long']:.3f}) | "
              f"{r['seconds']:.0f} |" for r in rows),
        ]
        if "float16" not in {r["dtype"] for r in rows} and all(r["device"] == "cpu" for r in rows):
            lines += ["", "float16 is not in the table: this run left it out, since on a CPU without float16 matrix "
                      "instructions torch runs float16 passes several times slower than float32. "
                      "`bench/device_check.py` (section `jacobian`) measures both half types against float32 on "
                      "the ESM-1b shape: on a GPU, and on the CPU at L = 12 (docs/benchmarks.md, device-cpu)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="cost,antiberty,precision")
    parser.add_argument("--cost", nargs="+", default=["esm1b:16,32", "antiberty:32,64,128"],
                        help="MODEL:L1,L2 cases (esm1b: random ESM-1b shape; antiberty; or any load_model source)")
    parser.add_argument("--centers", default="iajb,ab", help="centrings of the AntiBERTy section ('' for none: "
                        "only the probe)")
    parser.add_argument("--redo", action="store_true", help="measure again the domains already in --results "
                        "(by default a rerun into the same file resumes: it skips them)")
    parser.add_argument("--limit", type=int, help="only the first N domains of the AntiBERTy section (a trial)")
    parser.add_argument("--precision-domains", type=int, default=2)
    parser.add_argument("--dtypes", default="bfloat16,float16")
    parser.add_argument("--structures", type=Path, default=REPO.parent / "shared" / "structures")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "out" / "jacobian.json")
    parser.add_argument("--arrays", type=Path, help="folder of the block norms (default: <results>.arrays; name "
                        "another run's to compare reduced precision against its float32 norms)")
    parser.add_argument("--from-results", type=Path, nargs="+", help="write the doc from saved records")
    parser.add_argument("--output", type=Path, default=DOC, help="the markdown file of the section (default %(default)s)")
    parser.add_argument("--no-doc", action="store_true", help="leave the doc alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.from_results:
        results = Results(None, [r for path in args.from_results for r in json.loads(path.read_text())])
    else:
        previous = json.loads(args.results.read_text()) if args.results.is_file() else []
        results = Results(args.results, previous)
        arrays = args.arrays or args.results.with_suffix(".arrays")
        workdir = args.results.with_suffix(".work")
        sections = args.sections.split(",")
        if "cost" in sections:
            cost(results, args.cost, args.device)
        if "antiberty" in sections:
            antiberty(results, args.structures, [c for c in args.centers.split(",") if c], arrays, workdir,
                      args.device, args.limit, args.redo)
        if "precision" in sections:
            precision(results, args.structures, arrays, args.precision_domains, args.dtypes.split(","), args.device)
    text = render(results)
    print(text)
    if not args.no_doc:
        write_section(args.output, SECTION, text)
        print(f"wrote the {SECTION} section of {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
