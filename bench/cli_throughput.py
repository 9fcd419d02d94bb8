"""`contacts predict` against its own library, in one run, on the CPU (issue 27).

The sequences: the first 300 records of the alignments in ``../shared/msas`` (files in name
order, records in file order), gaps removed: 41,592 residues, mean length 139. The ESM-1b
shape (``random:esm1b_t33_650M_UR50S``) takes the first 24 of them.

For each model shape and each output set (``.npy`` only, ``.npy`` + RR, ``.npy`` + RR +
``--html``, ``.npy`` + RR + ``--png``) it times, each in a fresh process with the same environment:

- the library: :meth:`Predictor.iter_contacts` over the sequences, after loading the model;
- the command: ``contacts predict`` on the sequences minus the same command on the first of
  them alone (its fixed start-up: interpreter, imports, model building, the first batch);

and reports the command's time beyond start-up over the library's. The start-up itself is
reported per model. With ``--before REF`` the same measurements run, interleaved, on the
code of git commit REF (exported to a temporary folder), for a before/after table; output
sets that code lacks are marked n/a. ``bench/rr_speed.py`` runs beside them (write_rr pairs
per second, both codes), and so does ``bench/run_record_flush.py`` (one flush of a 20,000-item
run record), and the command is profiled (cProfile, every thread, this code):
the share of its time inside the model and the functions that take the rest.

    python bench/cli_throughput.py                                  # this checkout only
    python bench/cli_throughput.py --before main --doc docs/benchmarks.md
    python bench/cli_throughput.py --render bench/out/cli_throughput.json --doc docs/benchmarks.md  # table again

``--repeats`` rounds (``--long-repeats`` for the ESM-1b shape) time the library and every output set
once each, interleaved; each round's ratio is that round's command beyond that round's start-up over
that round's library, and the table gives the median of the rounds' ratios (and of their times). Writes ``bench/out/cli_throughput.json``
and, with ``--doc``, the section ``cli-throughput`` of that markdown file.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOMOLOGS = 300
ESM1B_SEQUENCES = 24
MODELS = (("random:small", HOMOLOGS), ("random:tiny", HOMOLOGS), ("random:esm1b_t33_650M_UR50S", ESM1B_SEQUENCES))
OUTPUT_SETS = {".npy": ["--no-rr"], ".npy + RR": [], ".npy + RR + --html": ["--html"], ".npy + RR + --png": ["--png"]}
PROFILED = ("random:small", ".npy + RR")


def homologs(msas: Path, count: int) -> list[tuple[str, str]]:
    """The first ``count`` records of ``msas/*.a3m`` (files sorted by name), gaps removed, upper case."""
    records = []
    for path in sorted(msas.glob("*.a3m")):
        name = None
        for line in path.read_text().splitlines():
            if line.startswith(">"):
                name = f"{path.stem}_{len(records)}"
            elif name is not None and line.strip():
                records.append((name, line.strip().replace("-", "").replace(".", "").upper()))
                name = None
                if len(records) == count:
                    return records
    raise SystemExit(f"{msas} holds {len(records)} records; {count} wanted")


def write_fasta(path: Path, records) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    return path


def code_tree(ref: str, into: Path) -> Path:
    """The package as it was at git commit ``ref``, exported (not checked out) into ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


THREADS = {"n": 1}


def env_for(root: Path) -> dict:
    threads = str(THREADS["n"])
    return {**os.environ, "PYTHONPATH": str(root), "CONTACTS_DEBUG": "", "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads}


def run(command: list[str], root: Path) -> tuple[float, str]:
    """Run ``command`` with the package of ``root``: from a folder with no package in it, since ``python -m``
    puts the working folder ahead of ``PYTHONPATH``."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env_for(root), cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return seconds, proc.stdout


def check_root(root: Path) -> None:
    """The measured processes import the package of ``root``, not another one on the path."""
    _, stdout = run([sys.executable, "-c", "import contacts; print(contacts.__file__)"], root)
    if not Path(stdout.strip()).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"the processes measured for {root} import {stdout.strip()}")


def command_seconds(root: Path, model: str, fasta: Path, options: list[str], out: Path) -> float:
    seconds, _ = run([sys.executable, "-m", "contacts", "predict", "--model", model, str(fasta), "-o", str(out),
                      "--no-progress", *options], root)
    return seconds


def library_seconds(root: Path, model: str, fasta: Path) -> float:
    _, stdout = run([sys.executable, __file__, "--library", model, str(fasta)], root)
    return json.loads(stdout.splitlines()[-1])["seconds"]


def supports(root: Path, options: list[str]) -> bool:
    """Whether the command of that code takes these options (``--no-rr`` is new)."""
    text = (root / "contacts" / "cli" / "predict.py").read_text()
    return all(f'"{option}"' in text for option in options)


# ----------------------------------------------------------------------------- in the measured process


def library_main(model_name: str, fasta: Path) -> None:
    """Load the model, then time ``iter_contacts`` over every record of ``fasta``; print JSON."""
    import contacts
    from contacts.io.fasta import read_fasta

    sequences = [r.sequence for r in read_fasta(fasta)]
    model = contacts.load_model(model_name, device="cpu")
    start = time.perf_counter()
    count = sum(1 for _ in model.iter_contacts(sequences))
    print(json.dumps({"seconds": time.perf_counter() - start, "sequences": count}))


def profile_main(model_name: str, fasta: Path, out: Path, options: list[str]) -> None:
    """``contacts predict`` in this process under cProfile, every thread it starts included; print JSON.

    ``model_seconds`` is the time inside :meth:`Predictor._contacts` (the forward pass and the
    contact sum) and, where the code has it, :meth:`Predictor._to_host` (the copy of the maps).
    """
    from contacts.cli.main import main

    profiles = []
    real_run = threading.Thread.run

    def profiled_run(thread):
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.runcall(real_run, thread)

    threading.Thread.run = profiled_run
    main_profile = cProfile.Profile()
    start = time.perf_counter()
    main_profile.runcall(main, ["predict", "--model", model_name, str(fasta), "-o", str(out), "--no-progress",
                                *options])
    wall = time.perf_counter() - start
    threading.Thread.run = real_run
    stats = pstats.Stats(main_profile)
    for profile in profiles:
        stats.add(profile)
    model = sum(cumulative for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items()
                if file.endswith(os.path.join("predictor", "core.py")) and name in ("_contacts", "_to_host"))
    text = io.StringIO()
    stats.stream = text
    stats.sort_stats("tottime").print_stats(12)
    top = [line for line in text.getvalue().splitlines() if line.strip()]
    start_row = next(i for i, line in enumerate(top) if line.lstrip().startswith("ncalls"))
    print(json.dumps({"wall_seconds": wall, "model_seconds": model, "threads": 1 + len(profiles),
                      "top": top[start_row:]}))


# ----------------------------------------------------------------------------- the table


def measure(roots: dict[str, Path], fastas: dict[int, tuple[Path, Path]], models, repeats: dict[str, int],
            work: Path) -> dict:
    """Every measurement of a model, interleaved: each round times the library and every output set once, for
    each code in turn, so that a slow stretch of this shared machine (they last minutes) falls on all of them
    alike rather than on one measurement's repeats.

    Each figure is the median of its rounds, and the ratio the median of the rounds' own ratios (a round's
    command beyond its own start-up, over its own library). Not the fastest whole run minus the fastest
    start-up: on this machine those come from different rounds (start-ups 2.3-3.1 s beside a library of
    1.8 s in one run), and their difference was worse than every round's own."""
    results = {"library": {}, "command": {}, "startup": {}, "rounds": {}}
    for model, count in models:
        many, one = fastas[count]
        library: dict[str, list[float]] = {}
        timed: dict[tuple[str, str], dict[str, list[float]]] = {}
        for k in range(repeats[model]):
            for label, root in roots.items():
                library.setdefault(label, []).append(library_seconds(root, model, many))
                print(f"  round {k + 1}: {label} library {model}: {library[label][-1]:.2f} s", flush=True)
            for set_name, options in OUTPUT_SETS.items():
                if "--png" in options and k > 0:  # matplotlib's large, steady time per record: one round
                    continue
                for label, root in roots.items():
                    if not supports(root, options):
                        continue
                    out = work / f"{label}-{model.replace(':', '_')}-{k}-{set_name.replace(' ', '')}"
                    total = command_seconds(root, model, many, options, out / "many")
                    single = command_seconds(root, model, one, options, out / "one")
                    row = timed.setdefault((label, set_name), {"total": [], "startup": []})
                    row["total"].append(total)
                    row["startup"].append(single)
                    # this round's own ratio: the spread says how far the machine lets one figure be trusted
                    results["rounds"].setdefault(f"{label}|{model}|{set_name}", []).append(
                        (total - single) / library[label][-1])
                    print(f"  round {k + 1}: {label} command {model} {set_name}: {total:.2f} s - start-up "
                          f"{single:.2f} s", flush=True)
        for label in roots:
            results["library"][f"{label}|{model}"] = statistics.median(library[label])
            for set_name in OUTPUT_SETS:
                row = timed.get((label, set_name))
                results["command"][f"{label}|{model}|{set_name}"] = None if row is None else {
                    "total": statistics.median(row["total"]), "startup": statistics.median(row["startup"]),
                    "beyond": statistics.median(t - s for t, s in zip(row["total"], row["startup"])),
                    "ratio": statistics.median(results["rounds"][f"{label}|{model}|{set_name}"])}
            # the start-up: the command on one record, every output set's rounds
            results["startup"][f"{label}|{model}"] = statistics.median(
                s for (other, _), row in timed.items() if other == label for s in row["startup"])
    return results


def script_per_root(roots: dict[str, Path], script: str, *options: str) -> dict:
    """The JSON that ``bench/SCRIPT --json`` prints, run with each code."""
    return {label: json.loads(run([sys.executable, str(REPO / "bench" / script), "--json", *options], root)[1])
            for label, root in roots.items()}


def profile(model: str, fasta: Path, out: Path) -> dict:
    _, stdout = run([sys.executable, __file__, "--profile", model, str(fasta), str(out)], REPO)
    return json.loads(stdout.splitlines()[-1])


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def command_line(h: dict) -> str:
    """The command that made the figures of header ``h``, every option that was not its default included."""
    options = [("--before", h.get("before"), None), ("--repeats", h["repeats"], 4),
               ("--long-repeats", h.get("long_repeats"), 2), ("--threads", h["threads"], 1),
               ("--doc", h.get("doc"), None)]
    return " ".join(["python bench/cli_throughput.py"] + [f"{flag} {value}" for flag, value, default in options
                                                          if value is not None and value != default])


def to_markdown(data: dict) -> str:
    h = data["header"]
    labels, models = h["labels"], h["models"]
    res = data["results"]
    before = "before" in labels
    lines = ["## `contacts predict` against its own library (CPU)", "",
             f"Made by `{command_line(h)}` on {h['date']}: {h['machine']}, torch {h['torch']}, "
             f"{h['threads']} torch threads; load average {h['load_start']} at the start, {h['load_end']} at the "
             f"end (2 cores, shared). Sequences: the first {HOMOLOGS} records of `../shared/msas` (files in name "
             f"order), gaps removed: {h['residues']:,} residues, mean length {h['mean_length']:.0f}; the ESM-1b "
             f"shape takes the first {ESM1B_SEQUENCES} ({h['residues_esm1b']:,} residues). Library: "
             "`iter_contacts` over them after loading the model. Command: `contacts predict` on them minus the same "
             "command on the first record alone (its start-up), each in a fresh process; "
             f"{h['repeats']} rounds ({h.get('long_repeats', h['repeats'])} for the ESM-1b shape; the `--png` set: "
             "one), each round timing the library and every output set once, interleaved. Each round's ratio: that "
             "round's command beyond its own start-up over that round's library; ratio: the median of them "
             "(times: the medians of the rounds)"
             + (f"; before: commit {h['before']}" if before else "")
             + ".", ""]
    head = "| model | sequences | outputs | library |"
    rule = "| --- | --- | --- | --- |"
    for label in labels:
        head += f" command ({label}) | ratio ({label}) |"
        rule += " --- | --- |"
    head += f" each round's ratio ({labels[-1]}) |"
    rule += " --- |"
    lines += [head, rule]
    for model, count in models:
        for set_name in OUTPUT_SETS:
            library = res["library"][f"{labels[-1]}|{model}"]
            cells = [model.removeprefix("random:"), str(count), set_name, f"{library:.2f} s"]
            for label in labels:
                row = res["command"][f"{label}|{model}|{set_name}"]
                if row is None:
                    cells += ["n/a (no such option)", ""]
                else:
                    cells += [f"{row['beyond']:.2f} s", f"{row['ratio']:.2f}x"]
            cells.append(", ".join(f"{r:.2f}" for r in res["rounds"][f"{labels[-1]}|{model}|{set_name}"]))
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Start-up (the command on one record, the median over every output set's rounds): "
              + "; ".join(f"{model.removeprefix('random:')} " + ", ".join(
                  f"{res['startup'][f'{label}|{model}']:.2f} s ({label})" for label in labels) for model, _ in models)
              + ".", ""]
    if before:
        library_lines = [f"{model.removeprefix('random:')} {res['library'][f'before|{model}']:.2f} s before, "
                         f"{res['library'][f'after|{model}']:.2f} s after" for model, _ in models]
        lines += ["Library time with each code (the table's library column is the code after): "
                  + "; ".join(library_lines) + ".", ""]
    rr = data["rr_speed"]
    lines += ["`write_rr` on a random L = 300 float32 map (`bench/rr_speed.py`, 44,850 pairs): "
              + "; ".join(f"{label} {rr[label]['us_per_pair']:.3f} µs per pair ({rr[label]['pairs_per_second']:.3g} "
                          "pairs/s)" for label in labels)
              + (f": {rr['before']['us_per_pair'] / rr['after']['us_per_pair']:.1f}x faster" if before else "")
              + ".", ""]
    flush = data.get("flush_speed")
    if flush:
        size = flush[labels[-1]]
        lines += [f"One run-record flush of a {size['items']:,}-item run after {size['changed']} items changed "
                  "(`bench/run_record_flush.py`, median of 10; `contacts predict` flushes every 256 records or 5 s "
                  "from its writer thread): " + "; ".join(f"{label} {flush[label]['median_ms']:.1f} ms"
                                                         for label in labels) + ".", ""]
    prof = data["profile"]
    share = 1 - prof["model_seconds"] / prof["wall_seconds"]
    lines += [f"Profile of the command after the change (`contacts predict --model {PROFILED[0]}`, "
              f"{PROFILED[1]}, {HOMOLOGS} sequences, in-process under cProfile, {prof['threads']} threads): "
              f"{prof['wall_seconds']:.2f} s, of which {prof['model_seconds']:.2f} s inside the model "
              "(`Predictor._contacts`, and `_to_host`, the copy of the maps), so "
              f"{share:.0%} outside it (start-up included; the profiler slows Python code more than the "
              "model's kernels). Functions by own time, every thread:", "", "```",
              *prof["top"], "```"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="REF", help="also measure the code of this git commit")
    parser.add_argument("--repeats", type=int, default=4, help="rounds for random:small and random:tiny")
    parser.add_argument("--long-repeats", type=int, default=2, help="rounds for the ESM-1b shape (each of its "
                        "runs takes a minute or more: the machine's slow stretches weigh less on it)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every measured process "
                        "(default 1: on a shared machine more threads spin against other work, and the figures "
                        "say more about the load than about the code)")
    parser.add_argument("--msas", type=Path, default=REPO.parent / "shared" / "msas")
    parser.add_argument("--doc", type=Path, help="write the table into this markdown file's cli-throughput section")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--library", nargs=2, metavar=("MODEL", "FASTA"), help=argparse.SUPPRESS)
    parser.add_argument("--models", help="comma-separated subset of the model shapes (a quick look; the doc "
                        "wants all): " + ",".join(m for m, _ in MODELS))
    parser.add_argument("--profile", nargs=3, metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--render", type=Path, metavar="JSON", help="measure nothing: write the table of a "
                        "JSON this script saved (its --out), into --doc if given")
    args = parser.parse_args()
    if args.render:
        data = json.loads(args.render.read_text())
        # a JSON from before "doc" was kept: its command line named it
        data["header"].setdefault("doc", data["header"].get("command", "").partition("--doc ")[2] or None)
        publish(data, args.doc)
        return
    if args.library:
        library_main(args.library[0], Path(args.library[1]))
        return
    if args.profile:
        model, fasta, out = args.profile
        profile_main(model, Path(fasta), Path(out), OUTPUT_SETS[PROFILED[1]])
        return
    models = [(m, n) for m, n in MODELS if not args.models or m in args.models.split(",")]
    THREADS["n"] = args.threads

    import torch

    start_load = load()
    work = Path(tempfile.mkdtemp(prefix="cli-throughput-"))
    roots = {"after": REPO}
    if args.before:  # named by its commit in the doc (a branch such as main moves)
        args.before = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.before],
                                     capture_output=True, text=True, check=True).stdout.strip()
        roots = {"before": code_tree(args.before, work / "before"), "after": REPO}
    for root in roots.values():
        check_root(root)
    records = homologs(args.msas, HOMOLOGS)
    fastas = {HOMOLOGS: (write_fasta(work / "homologs.fasta", records), write_fasta(work / "one.fasta", records[:1])),
              ESM1B_SEQUENCES: (write_fasta(work / "esm1b.fasta", records[:ESM1B_SEQUENCES]),
                                write_fasta(work / "one.fasta", records[:1]))}
    print(f"{len(records)} sequences, {sum(len(s) for _, s in records)} residues; load {start_load}", flush=True)
    repeats = {model: args.repeats if count == HOMOLOGS else args.long_repeats for model, count in models}
    results = measure(roots, fastas, models, repeats, work)
    data = {
        "header": {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                   "torch": torch.__version__, "threads": args.threads, "labels": list(roots), "models": models,
                   "before": args.before, "repeats": args.repeats, "long_repeats": args.long_repeats,
                   "load_start": start_load,
                   "residues": sum(len(s) for _, s in records),
                   "mean_length": sum(len(s) for _, s in records) / len(records),
                   "residues_esm1b": sum(len(s) for _, s in records[:ESM1B_SEQUENCES]),
                   "doc": str(args.doc) if args.doc else None},
        "results": results,
        "rr_speed": script_per_root(roots, "rr_speed.py", "--repeats", str(max(30, 5 * args.repeats))),
        # one run-record flush of a 20,000-item run, 256 items changed
        "flush_speed": script_per_root(roots, "run_record_flush.py"),
        "profile": profile(PROFILED[0], fastas[HOMOLOGS][0], work / "profiled"),
    }
    data["header"]["load_end"] = load()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cli_throughput.json").write_text(json.dumps(data, indent=1))
    publish(data, args.doc)


def publish(data: dict, doc: Path | None) -> None:
    """Print the table; with ``doc``, write it into that markdown file's cli-throughput section."""
    text = to_markdown(data)
    print(text)
    if doc:
        sys.path.insert(0, str(REPO / "bench"))
        from docs_section import write_section

        write_section(doc, "cli-throughput", text)


if __name__ == "__main__":
    main()
