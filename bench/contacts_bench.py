"""Contact prediction: time and peak memory of fair-esm, transformers and this package.

All three run on the same random weights in the ESM-1b shape (``--shape full``:
33 layers x 20 heads x 1280; ``--shape narrow``: 33 x 20 with a 80-d embedding,
for quick runs) and the same random sequences; their contact maps are checked to
agree. Each measurement runs in a fresh subprocess: wall time of one call after a
short warm-up, and peak resident memory above what the process held just before
the call (sampled every 2 ms), so the loaded model itself is not counted.

    python bench/contacts_bench.py --shape full --out docs/benchmarks.md
    python bench/contacts_bench.py --shape narrow            # a quick look

Writes a markdown table (and prints it).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from docs_section import write_section

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

AMINO = list("ACDEFGHIKLMNPQRSTVWY")
BATCH8 = (64, 100, 150, 200, 256, 300, 400, 512)


def sequences(spec: str) -> list[str]:
    rng = np.random.default_rng(0)
    lengths = BATCH8 if spec == "batch8" else (int(spec),)
    return ["".join(rng.choice(AMINO, n)) for n in lengths]


class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak - start`` is the figure."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")

    def rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self.page

    def __enter__(self):
        gc.collect()
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


# ----------------------------------------------------------------------------- workers


def _run_ours(ckpt: Path, seqs: list[str]):
    import contacts

    model = contacts.load_model(ckpt, device="cpu")
    model.predict_contacts("MKTAYIAKQRQISFVKSHFS")
    return lambda: model.predict_contacts(seqs)


def _run_fair_esm(ckpt: Path, seqs: list[str]):
    import torch
    from reference import load_fair_esm

    model, alphabet = load_fair_esm(ckpt)
    convert = alphabet.get_batch_converter()

    def run():
        _, _, tokens = convert([(str(i), s) for i, s in enumerate(seqs)])
        with torch.no_grad():
            out = model(tokens, return_contacts=True)["contacts"]
        return [out[i, : len(s), : len(s)].numpy() for i, s in enumerate(seqs)]

    with torch.no_grad():
        model(convert([("w", "MKTAYIAKQRQISFVKSHFS")])[2], return_contacts=True)
    return run


def _run_transformers(ckpt: Path, seqs: list[str]):
    import torch
    from transformers import EsmForMaskedLM

    from contacts.alphabet import ALPHABET

    model = EsmForMaskedLM.from_pretrained(ckpt.parent / "hf", attn_implementation="eager").eval()

    def run():
        tokens = ALPHABET.batch_encode(seqs)
        with torch.no_grad():
            out = model.esm.predict_contacts(tokens, tokens.ne(ALPHABET.padding_idx).long())
        return [out[i, : len(s), : len(s)].numpy() for i, s in enumerate(seqs)]

    run_warm = ALPHABET.batch_encode(["MKTAYIAKQRQISFVKSHFS"])
    with torch.no_grad():
        model.esm.predict_contacts(run_warm, torch.ones_like(run_warm))
    return run


WORKERS = {"contacts": _run_ours, "fair-esm": _run_fair_esm, "transformers": _run_transformers}


def worker(impl: str, ckpt: Path, spec: str, save: Path | None, repeats: int) -> None:
    import torch

    torch.set_grad_enabled(False)
    seqs = sequences(spec)
    run = WORKERS[impl](ckpt, seqs)
    times, peaks = [], []
    for _ in range(repeats):
        with PeakRSS() as mem:
            start = time.perf_counter()
            out = run()
            times.append(time.perf_counter() - start)
        peaks.append(mem.peak - mem.start)
    if save is not None:
        np.savez(save, *[np.asarray(o, np.float32) for o in out])
    # The fastest call (the least disturbed by the machine), the largest memory peak.
    print(json.dumps({"seconds": min(times), "peak_bytes": max(peaks)}))


# ----------------------------------------------------------------------------- driver


def make_checkpoints(shape: str, folder: Path) -> Path:
    """A release checkpoint with random weights, and the same weights as a HuggingFace folder."""
    from reference import hf_config, write_release
    from transformers import EsmForMaskedLM

    from contacts.checkpoints import HF_RENAMES, rename, safe_torch_load
    from contacts.config import PRESETS

    cfg = PRESETS["esm1b_t33_650M_UR50S" if shape == "full" else "narrow_t33"]
    path = write_release(folder, cfg, seed=0)
    ours = {k.replace("encoder.sentence_encoder.", "").replace("encoder.", ""): v
            for k, v in safe_torch_load(path)["model"].items()}
    ours.update(safe_torch_load(path.with_name(path.stem + "-contact-regression.pt"))["model"])
    hf = EsmForMaskedLM(hf_config(cfg))
    state = {}
    for key in hf.state_dict():
        renamed, unmatched = rename({key: None}, HF_RENAMES)
        if not unmatched:
            state[key] = ours[next(iter(renamed))]
    hf.load_state_dict(state, strict=False)
    hf.save_pretrained(folder / "hf")
    return path


def measure(impl, ckpt, spec, save=None, repeats=1) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--ckpt", str(ckpt), "--spec", spec,
           "--repeats", str(repeats)]
    if save:
        cmd += ["--save", str(save)]
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'tests'}")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode == -9:
        return {"error": "killed: out of memory"}
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if "Error" in ln or "error" in ln]
        return {"error": lines[-1] if lines else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agreement(files: dict[str, Path]) -> str:
    ref = np.load(files["fair-esm"])
    worst = {}
    for impl, f in files.items():
        if impl != "fair-esm":
            got = np.load(f)
            worst[impl] = max(float(np.nanmax(np.abs(got[k] - ref[k]))) for k in ref.files)
    return ", ".join(f"{k} {v:.1e}" for k, v in worst.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["full", "narrow"], default="narrow")
    parser.add_argument("--specs", nargs="*", default=["128", "256", "512", "1022", "batch8"])
    parser.add_argument("--long", nargs="*", default=["2000", "3000"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=1,
                        help="calls per measurement: the fastest time and the largest peak are kept")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--ckpt", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "make":
        return print(make_checkpoints(args.shape, args.ckpt))
    if args.worker:
        return worker(args.worker, args.ckpt, args.spec, args.save, args.repeats)

    import platform

    import torch

    gib = 1024**3
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"writing random {args.shape} checkpoints ...", file=sys.stderr)
        # In a subprocess, so this process does not keep the weights' memory.
        env = dict(os.environ, PYTHONPATH=f"{REPO}:{REPO / 'tests'}")
        made = subprocess.run([sys.executable, __file__, "--worker", "make", "--shape", args.shape,
                               "--ckpt", str(tmp)], capture_output=True, text=True, env=env, check=True)
        ckpt = Path(made.stdout.strip().splitlines()[-1])
        for spec in args.specs:
            results, files = {}, {}
            for impl in ("fair-esm", "transformers", "contacts"):
                files[impl] = tmp / f"{impl}-{spec}.npz"
                results[impl] = measure(impl, ckpt, spec, files[impl], args.repeats)
                print(spec, impl, results[impl], file=sys.stderr)
            ok = all("error" not in r for r in results.values())
            rows.append((spec, results, agreement(files) if ok else "n/a"))
        for spec in args.long:
            result = measure("contacts", ckpt, spec, repeats=args.repeats)
            print(spec, "contacts", result, file=sys.stderr)
            rows.append((spec, {"contacts": result}, "windows (1022, overlap 511)"))

    def cell(r, key):
        if r is None:
            return "-"
        if "error" in r:
            return f"failed: {r['error'][:60]}"
        return f"{r['seconds']:.2f} s" if key == "seconds" else f"{r['peak_bytes'] / gib:.2f} GiB"

    def ratio(results, key):
        a, b = results.get("contacts"), results.get("fair-esm")
        if not a or not b or "error" in a or "error" in b or not b[key]:
            return "-"
        return f"{a[key] / b[key]:.2f}x"

    lines = [
        f"Shape: `{args.shape}` (random weights). Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads.",
        f"Time: the fastest of {args.repeats} call(s) after a warm-up. Memory: the largest peak of "
        "resident memory above the loaded model (sampled every 2 ms). Each cell is a fresh process.",
        "",
        "| input | fair-esm time | transformers time | contacts time | time ratio (contacts / fair-esm) "
        "| fair-esm mem | transformers mem | contacts mem | mem ratio | max abs diff vs fair-esm |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for spec, results, agree in rows:
        name = "batch of 8 (64-512)" if spec == "batch8" else f"L = {spec}"
        lines.append(
            f"| {name} | {cell(results.get('fair-esm'), 'seconds')} | {cell(results.get('transformers'), 'seconds')} "
            f"| {cell(results.get('contacts'), 'seconds')} | {ratio(results, 'seconds')} "
            f"| {cell(results.get('fair-esm'), 'mem')} | {cell(results.get('transformers'), 'mem')} "
            f"| {cell(results.get('contacts'), 'mem')} | {ratio(results, 'peak_bytes')} | {agree} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        command = "python bench/contacts_bench.py " + " ".join(sys.argv[1:])
        write_section(args.out, "cpu-contacts",
                      f"## Contacts on the CPU: fair-esm, transformers and this package\n\nMade by:\n\n"
                      f"```\n{command}\n```\n\n{table}")


if __name__ == "__main__":
    main()
