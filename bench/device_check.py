"""The device check: conformance, reduced-precision error, speed and memory on a GPU (or the CPU);
the categorical Jacobian's cost and reduced-precision error (section ``jacobian``).

One command, no arguments needed::

    python bench/device_check.py                            # where a GPU is (after bench/device_prepare.sh)
    python bench/device_check.py --out docs/device_cpu      # the CPU fallback, from a normal checkout

On a GPU machine with no network it installs this package and fair-esm from the wheels that
``bench/device_prepare.sh`` put into the kit folder (``pip install --no-index``; ``--kit``, by
default ``.device_kit`` when this package or fair-esm cannot be imported) and reads the sequences
from there; nothing else from outside the repository. Without CUDA it runs the same
checks on the CPU, on fewer and shorter cases (``--cases``).

What it measures, on random weights in the full ESM-1b shape (33 layers x 20 heads x 1280),
written in the release layout and read back by both this package and fair-esm:

1. conformance on the device, float32 both: logits, attention maps and contacts, max abs diff;
2. reduced precision: for float16 and bfloat16 (weights and activations; softmax, APC and the
   regression in float32), contacts against float32 on real sequences: max abs diff and the
   overlap of the top-L long-range and top-L/5 pairs with float32's (fair-esm's ``.half()`` beside);
3. speed and memory: contacts at several lengths, a batch of mixed lengths and a 3000-residue
   sequence, against fair-esm's ``return_contacts=True`` in float32 and float16, best of three
   after a warm-up, peak memory above the weights (``torch.cuda.max_memory_allocated``);
   plain forward passes (no maps) for the floor;
4. ``contacts predict`` throughput on a few hundred real sequences, by ``--max-tokens``;
5. the no-wait rule: on CUDA, a contact pass under ``torch.cuda.set_sync_debug_mode("error")``;
6. proteome throughput (issue 27): ``contacts predict`` against its own library's sequences/s on
   the same sequences in float16 and bfloat16 (start-up subtracted: the command on one record);
   the contact pass at L = 1022 (``--proteome-length``) in bfloat16 and float16, fused
   (``contacts.features.contact_term`` compiled) and unfused, against the plain forward pass,
   with the fused pass's difference from the unfused one and its compile time; and the model
   FLOPs utilisation of the contact pass (matmul FLOPs counted analytically, :func:`contact_flops`,
   over the device's dense bf16 peak, :data:`BF16_DENSE_PEAK`) at L = 1022 and on the first
   (longest) batch of the sequences at the throughput's token budget.

Writes ``device_check.json`` and ``device_check.md`` into ``--out`` (default ``$OUT`` when set,
else ``bench/out``), section by section, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import copy
import glob
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AMINO = "ACDEFGHIKLMNPQRSTVWY"
LONG_RANGE = 24
#: Dense (no sparsity) bf16 tensor-core peak, TFLOP/s, from the vendors' data sheets, by a part of the
#: name torch reports; the first match counts (PCIe before the SXM parts that share a prefix).
BF16_DENSE_PEAK = (("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("GH200", 989.4),
                   ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0))


def install_kit(kit: Path, target: Path) -> None:
    """Install the kit's wheels without the network, into ``target``, ahead of everything else."""
    wheels = sorted(glob.glob(str(kit / "*.whl")))
    if not wheels:
        raise SystemExit(f"no wheels in {kit}: run bench/device_prepare.sh first")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(target), *wheels], check=True)
    sys.path.insert(0, str(target))


def read_sequences(path: Path) -> list[tuple[str, str]]:
    records, name, parts = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(parts)))
            name, parts = line[1:].split()[0], []
        elif line.strip():
            parts.append(line.strip())
    if name is not None:
        records.append((name, "".join(parts)))
    return records


def random_sequences(lengths, seed=0) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(AMINO), n)) for n in lengths]


class Report:
    """Sections of results, written to JSON and markdown after each one."""

    def __init__(self, out: Path, header: dict):
        self.out = out
        self.data = {"header": header, "sections": {}}
        out.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, value) -> None:
        self.data["sections"][name] = value
        self.write()

    def write(self) -> None:
        (self.out / "device_check.json").write_text(json.dumps(self.data, indent=1))
        (self.out / "device_check.md").write_text(to_markdown(self.data))


def fmt(x, spec=".2e"):
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return format(x, spec)


def to_markdown(data: dict) -> str:
    h = data["header"]
    lines = [f"## Device check: {h['device_name']}", "",
             f"{h['date']}; torch {h['torch']}, Python {h['python']}, contacts {h['contacts']}, "
             f"fair-esm {h['fair_esm']}; model: random weights, shape {h['shape']}, release layout. "
             "Made by `python bench/device_check.py`"
             + (" (after `bash bench/device_prepare.sh`, from its kit, on a machine without network)"
                if h.get("kit", not h["device_name"].startswith("CPU")) else "")
             + f" in {h['seconds_total']:.0f} s, model creation included.", ""]
    if h.get("fair_esm_half"):
        lines += [f"fair-esm float16: {h['fair_esm_half']}.", ""]
    s = data["sections"]
    if "conformance" in s:
        c = s["conformance"]
        lines += ["**Conformance, float32, this package against fair-esm on the device** "
                  f"({c['sequences']} sequences, lengths {c['lengths']}):", "",
                  "| output | max abs diff |", "| --- | --- |"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in c["max_abs_diff"].items()]
        if "sync_free_contact_pass" in c:
            lines += ["", f"Contact pass under `torch.cuda.set_sync_debug_mode('error')`: "
                      f"{c['sync_free_contact_pass']}."]
        lines.append("")
    if "precision" in s:
        p = s["precision"]
        lines += [f"**Reduced precision against float32**, contacts on {p['sequences']} real sequences "
                  f"(lengths {p['min_length']}-{p['max_length']}); overlaps are the share of float32's top pairs "
                  "that the reduced run also ranks in its top (mean, worst sequence):", "",
                  "| run | max abs diff | mean abs diff | top-L long-range overlap | top-L/5 long-range overlap |",
                  "| --- | --- | --- | --- | --- |"]
        for name, r in p["runs"].items():
            if "error" in r:
                lines.append(f"| {name} | {r['error']} | | | |")
                continue
            lines.append(f"| {name} | {r['max_abs_diff']:.3f} | {r['mean_abs_diff']:.1e} | "
                         f"{r['top_L_overlap_mean']:.3f} (worst {r['top_L_overlap_min']:.3f}) | "
                         f"{r['top_L5_overlap_mean']:.3f} (worst {r['top_L5_overlap_min']:.3f}) |")
        lines.append("")
    if "speed" in s:
        sp = s["speed"]
        impls = sp["impls"]
        lines += [f"**Speed and memory** (best of {sp['repeats']} after a warm-up; seconds, and peak memory "
                  f"above the weights in MiB{' from torch.cuda.max_memory_allocated' if sp['cuda'] else ''}; "
                  "ratio = time / fair-esm float32 contacts):", "",
                  "| case | " + " | ".join(impls) + " |", "| --- |" + " --- |" * len(impls)]
        for case, row in sp["cases"].items():
            cells = []
            ref = row.get("fair-esm fp32 contacts", {}).get("seconds")
            for impl in impls:
                r = row.get(impl)
                if r is None:
                    cells.append("")
                elif "error" in r:
                    cells.append(r["error"])
                else:
                    ratio = f", {r['seconds'] / ref:.2f}x" if ref else ""
                    mem = f", {r['peak_mib']:.0f} MiB" if r.get("peak_mib") is not None else ""
                    cells.append(f"{r['seconds']:.3f} s{ratio}{mem}")
            lines.append(f"| {case} | " + " | ".join(cells) + " |")
        lines.append("")
    if "jacobian" in s:
        j = s["jacobian"]
        lines += ["**The categorical Jacobian** (`model.jacobian_contacts`, center=\"iajb\", 20 L forward passes; "
                  "outside: the share of the time not in the forward passes):", "",
                  "| L | dtype | forward passes | seconds | passes / s | outside |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['L']} | {r['dtype']} | {r['passes']} | {r['seconds']:.2f} | {r['passes'] / r['seconds']:.0f} | "
                  f"{r['outside_share']:.1%} |" for r in j["speed"]]
        lines += ["", f"Against float32 on real sequences (lengths {j['lengths']}; random weights, "
                  "so the maps are noise and only the numbers' stability is measured): largest change of a score "
                  "over float32's largest, and the share of float32's top-L pairs (separation >= 6) kept:", "",
                  "| dtype | largest change | top-L overlap (mean, worst) |", "| --- | --- | --- |"]
        lines += [f"| {name} | {r['max_change']:.2%} | {r['top_L_overlap_mean']:.3f}, {r['top_L_overlap_min']:.3f} |"
                  for name, r in j["precision"].items()]
        lines.append("")
    if "throughput" in s:
        t = s["throughput"]
        lines += [f"**`contacts predict` throughput**, {t['sequences']} sequences from the shared alignments "
                  f"(lengths {t['min_length']}-{t['max_length']}, mean {t['mean_length']:.0f}), .npy outputs:", "",
                  "| --max-tokens | --dtype | seconds | sequences / s |", "| --- | --- | --- | --- |"]
        for row in t["runs"]:
            lines.append(f"| {row['max_tokens']} | {row['dtype']} | {row['seconds']:.2f} | {row['per_second']:.1f} |")
        if "cli" in t:
            c = t["cli"]
            lines += ["", f"The command itself (`{c['command']}`), model loading included: exit {c['exit']}, "
                      f"{c['seconds']:.1f} s."]
            if c["exit"] != 0:
                lines += ["", "```", c["stderr_tail"], "```"]
        lines.append("")
    if "proteome" in s:
        pr = s["proteome"]
        peak = pr.get("peak_tflops")
        lines += ["**The contact pass against the forward pass** (best of the repeats after a warm-up; fused: "
                  "`contacts.features.contact_term` compiled by torch.compile; ratio = time / plain forward pass "
                  "(logits); TFLOP/s over the matmul FLOPs the model needs, `contact_flops`; MFU against "
                  + (f"{peak:g} TFLOP/s, this device's dense bf16 peak" if peak else "no peak: not a known GPU")
                  + "):", "",
                  "| case | forward | unfused | fused | fused vs unfused, max abs diff | first fused call |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for case, row in pr["passes"].items():
            cells = [case, f"{row['forward']['seconds']:.4f} s"]
            for key in ("unfused", "fused"):
                r = row[key]
                mfu = f", MFU {r['mfu']:.1%}" if "mfu" in r else ""
                cells.append(f"{r['seconds']:.4f} s, {r['ratio_to_forward']:.2f}x, {r['tflops']:.3g} TFLOP/s{mfu}")
            if not row["fused"].get("compiled", True):
                cells[-1] += " (not compiled: torch.compile failed, the uncompiled term ran)"
            cells += [f"{row['fused_vs_unfused_max_abs_diff']:.1e}", f"{row['fused']['first_call_seconds']:.1f} s"]
            lines.append("| " + " | ".join(cells) + " |")
        if "command" in pr:
            c = pr["command"]
            lines += ["", f"**`contacts predict` against its library**, {c['sequences']} sequences, --max-tokens "
                      f"{c['max_tokens']}, sequences/s (command: its time on them minus its time on the first alone):",
                      "", "| dtype | outputs | library | command | ratio |", "| --- | --- | --- | --- | --- |"]
            for r in c["runs"]:
                command = "n/a (within the start-up's noise) | " if r["ratio"] is None else (
                    f"{r['command_per_second']:.1f} | {r['ratio']:.2f}x")
                lines.append(f"| {r['dtype']} | {r['outputs']} | {r['library_per_second']:.1f} | {command} |")
            lines += ["", "Start-up (the command on one record, model loading and hashing included): "
                      + ", ".join(f"{r['startup_seconds']:.1f} s ({r['dtype']})" for r in c["runs"]
                                  if r["outputs"] == ".npy + RR") + "."]
        lines.append("")
    if data.get("errors"):
        lines += ["**Sections that failed:**", ""] + [f"- {k}: {v}" for k, v in data["errors"].items()] + [""]
    return "\n".join(lines)


def write_doc(doc: Path, data: dict) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from docs_section import write_section

    name = data["header"]["device_name"]
    slug = "cpu" if name.startswith("CPU") else re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    write_section(doc, f"device-{slug}", to_markdown(data))


# ----------------------------------------------------------------------------- helpers


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(fn, device, repeats):
    """Best time of ``repeats`` calls after one warm-up, and the peak memory above what was held before."""
    import torch

    fn()
    sync(device)
    times, peak = [], None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
        if device.type == "cuda":
            peak = max(peak or 0, (torch.cuda.max_memory_allocated() - before) / 2**20)
    return {"seconds": min(times), "peak_mib": peak}


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a device by its name (:data:`BF16_DENSE_PEAK`), None when not in the table."""
    return next((peak for part, peak in BF16_DENSE_PEAK if part in device_name), None)


def contact_flops(cfg, lengths, layers: int, used_layers: int) -> float:
    """Matmul FLOPs of a contact pass over sequences of these lengths (no padding): per sequence of t tokens
    (L residues + 2) and per layer run, the four projections 8 t e^2, the feed-forward 4 t e f, QK^T and the
    weighted values 4 t^2 e; per layer the regression reads, the APC outer products 2 h L^2. Softmax, masks
    and sums are elementwise and not counted; neither is the second QK^T the fused pass computes beside the
    fused attention kernel (work the model does not need)."""
    e, f, h = cfg.embed_dim, cfg.ffn_dim, cfg.num_heads
    total = 0.0
    for n in lengths:
        t = n + 2
        total += layers * (8 * t * e * e + 4 * t * e * f + 4 * t * t * e) + used_layers * 2 * h * n * n
    return total


def top_pairs(probs, k):
    import numpy as np

    n = probs.shape[0]
    i, j = np.triu_indices(n, LONG_RANGE)
    scores = probs[i, j]
    order = np.argsort(-scores, kind="stable")[:k]
    return set(zip(i[order].tolist(), j[order].tolist()))


def overlap(reference, other, k):
    if k == 0:
        return 1.0
    a, b = top_pairs(reference, k), top_pairs(other, k)
    return len(a & b) / max(len(a), 1)


def fair_esm_contacts(model, alphabet, seqs, device):
    import torch

    convert = alphabet.get_batch_converter()
    _, _, tokens = convert([(str(i), s) for i, s in enumerate(seqs)])
    with torch.inference_mode():
        out = model(tokens.to(device), return_contacts=True)["contacts"].float().cpu().numpy()
    return [out[i, : len(s), : len(s)] for i, s in enumerate(seqs)]


# ----------------------------------------------------------------------------- sections


def conformance(ours, theirs, alphabet, seqs, device):
    import numpy as np
    import torch

    diffs = {"logits": 0.0, "attention maps": 0.0, "contacts (one batch, padded)": 0.0}
    for seq in seqs:
        tokens = ours._pad(ours._encode([seq]))
        with torch.inference_mode():
            mine = ours.model(tokens, need_weights=True)
            ref = theirs(tokens, need_head_weights=True)
        diffs["logits"] = max(diffs["logits"], float((mine.logits - ref["logits"]).abs().max()))
        diffs["attention maps"] = max(diffs["attention maps"],
                                      float((mine.attentions - ref["attentions"]).abs().max()))
        del mine, ref
    got = ours.predict_contacts(seqs, max_tokens=10**9)
    ref = fair_esm_contacts(theirs, alphabet, seqs, device)
    diffs["contacts (one batch, padded)"] = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
    result = {"sequences": len(seqs), "lengths": [len(s) for s in seqs], "max_abs_diff": diffs}
    if device.type == "cuda":
        # The contact pass must not wait for the device until its result is read.
        ids = [ours.alphabet.ids(ours.alphabet.tokenize(s)) for s in seqs]
        tokens = ours._pad(ids)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            probs = ours._contacts(tokens, ragged=len({len(x) for x in ids}) > 1)
            verdict = "no synchronisation"
        except RuntimeError as exc:
            verdict = f"synchronised: {str(exc).splitlines()[0]}"
        finally:
            torch.cuda.set_sync_debug_mode("default")
        del probs
        result["sync_free_contact_pass"] = verdict
    return result


def precision(runs: dict, references: dict, seqs) -> dict:
    """``runs``: name -> (predict, reference name); each run's contacts against its reference's."""
    import numpy as np

    table = {}
    for name, (predict, against) in runs.items():
        try:
            got = predict(seqs)
        except Exception as exc:  # noqa: BLE001 - a dtype the device lacks is a result, not a crash
            table[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"}
            continue
        refs = references[against]
        diffs = [np.abs(g - r) for g, r in zip(got, refs)]
        top_l = [overlap(r, g, len(s)) for r, g, s in zip(refs, got, seqs)]
        top_l5 = [overlap(r, g, len(s) // 5) for r, g, s in zip(refs, got, seqs)]
        table[name] = {"against": against, "max_abs_diff": float(max(d.max() for d in diffs)),
                       "mean_abs_diff": float(np.mean([d.mean() for d in diffs])),
                       "top_L_overlap_mean": float(np.mean(top_l)), "top_L_overlap_min": float(np.min(top_l)),
                       "top_L5_overlap_mean": float(np.mean(top_l5)), "top_L5_overlap_min": float(np.min(top_l5))}
    return {"sequences": len(seqs), "min_length": min(map(len, seqs)), "max_length": max(map(len, seqs)),
            "runs": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kit", type=Path, help="folder made by bench/device_prepare.sh (wheels + sequences)")
    parser.add_argument("--out", type=Path, help="where to write device_check.{json,md} (default $OUT or bench/out)")
    parser.add_argument("--shape", choices=["full", "narrow"], default="full",
                        help="full: ESM-1b's 33 x 20 x 1280; narrow: 33 x 20 x 80, a quick trial of the script")
    parser.add_argument("--cases", help="comma-separated speed cases (default: 128,512,1022,mixed,3000 on "
                        "CUDA; 128,512 on the CPU)")
    parser.add_argument("--precision-sequences", type=int, help="real sequences for the precision table "
                        "(default 40 on CUDA, 8 on the CPU)")
    parser.add_argument("--throughput-sequences", type=int, help="sequences for predict throughput "
                        "(default 300 on CUDA, 0 = skip, on the CPU)")
    parser.add_argument("--sequences", type=Path, help="folder with structures.fasta and alignments.fasta "
                        "(default: the kit; without one, made from ../shared into bench/out/kit)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--proteome-length", type=int, help="L of the contact pass against the forward pass "
                        "(default 1022 on CUDA, 64 on the CPU)")
    parser.add_argument("--jacobian-lengths", help="comma-separated L of the Jacobian's speed cases (default "
                        "128,256 on CUDA, 12 on the CPU; its precision cases are real sequences of up to the longest)")
    parser.add_argument("--skip", default="", help="sections to leave out: conformance,precision,speed,jacobian,"
                        "throughput,proteome")
    parser.add_argument("--doc", type=Path, help="also write the table into this markdown file's section for "
                        "the device (e.g. docs/benchmarks.md), leaving its other sections as they are")
    parser.add_argument("--render", type=Path, metavar="JSON", help="measure nothing: write the tables of a "
                        "device_check.json made elsewhere (e.g. on a GPU machine) into --doc")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.render:
        if not args.doc:
            parser.error("--render needs --doc")
        write_doc(args.doc, json.loads(args.render.read_text()))
        return

    kit = args.kit
    if kit is None and (REPO / ".device_kit").is_dir() and not all(
            importlib.util.find_spec(name) for name in ("contacts", "esm")):
        kit = REPO / ".device_kit"  # a bare GPU machine: what device_prepare.sh packed is all there is
    site = None
    if kit is not None:
        site = tempfile.mkdtemp(prefix="device-check-site-")
        install_kit(kit, Path(site))
    import numpy as np
    import torch

    import contacts
    from contacts.encoder.config import PRESETS
    from contacts.runners.predict import predict_to_dir

    sys.path.insert(0, str(REPO / "tests"))
    import esm
    from reference import load_fair_esm, write_release

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32 for the conformance figures
    torch.backends.cudnn.allow_tf32 = False
    out = args.out or Path(os.environ.get("OUT") or REPO / "bench" / "out")
    cases = (args.cases or ("128,512,1022,mixed,3000" if cuda else "128,512")).split(",")
    n_precision = args.precision_sequences or (40 if cuda else 8)
    n_throughput = args.throughput_sequences if args.throughput_sequences is not None else (300 if cuda else 0)
    skip = set(filter(None, args.skip.split(",")))

    header = {"date": time.strftime("%Y-%m-%d"), "device_name": torch.cuda.get_device_name() if cuda else
              f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
              "torch": torch.__version__, "python": platform.python_version(),
              "contacts": getattr(contacts, "__version__", "?"), "fair_esm": getattr(esm, "__version__", "?"),
              "shape": args.shape, "kit": kit is not None, "seconds_total": 0.0}
    report = Report(out, header)
    errors = report.data.setdefault("errors", {})

    def section(name, fn):
        if name in skip:
            return
        t0 = time.perf_counter()
        try:
            value = fn()
            value["seconds"] = time.perf_counter() - t0
            report.add(name, value)
        except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others
            errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        header["seconds_total"] = time.perf_counter() - start
        report.write()
        print(f"[{time.perf_counter() - start:6.1f} s] {name} done", flush=True)

    # Real sequences: the kit's, or the shared structures' and alignments' when run beside ../shared.
    seq_dir = args.sequences or kit or REPO / "bench" / "out" / "kit"
    if not (seq_dir / "structures.fasta").exists():
        env = dict(os.environ, PYTHON=os.environ.get("PYTHON", sys.executable))
        subprocess.run(["bash", str(REPO / "bench" / "device_prepare.sh"), "--sequences-only", str(seq_dir)],
                       check=True, env=env)
    structure_seqs = [s for _, s in read_sequences(seq_dir / "structures.fasta")]
    msa_records = read_sequences(seq_dir / "alignments.fasta")

    # The model: random weights in the release layout, read back by both implementations.
    cfg = PRESETS["esm1b_t33_650M_UR50S" if args.shape == "full" else "narrow_t33"]
    workdir = Path(tempfile.mkdtemp(prefix="device-check-"))
    t0 = time.perf_counter()
    path = write_release(workdir / "model", cfg, seed=0)
    ours = contacts.load_model(path, device=device)
    theirs, alphabet = load_fair_esm(path)
    theirs = theirs.to(device)
    header["model_seconds"] = time.perf_counter() - t0
    print(f"[{time.perf_counter() - start:6.1f} s] model written and loaded", flush=True)

    section("conformance", lambda: conformance(ours, theirs, alphabet, structure_seqs[:3], device))

    def build_reduced():
        models = {}
        for name, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
            models[name] = contacts.Predictor(copy.deepcopy(ours.model), ours.regression, device=device, dtype=dtype)
        return models

    reduced = build_reduced()
    fair_half, fair_half_name = None, None
    if cuda:
        # fair-esm users write model.half(); for ESM-1b that fails in fair-esm 2.0.0 (its token-dropout
        # rescaling turns the embeddings back into float32 before a float16 LayerNorm), so where it does,
        # autocast on the float32 model is the float16 run that works, and the table says which ran.
        half = copy.deepcopy(theirs).half()
        try:
            fair_esm_contacts(half, alphabet, ["MKTAYIAKQR"], device)
            fair_half, fair_half_name = half, "fair-esm .half()"
        except RuntimeError as exc:
            del half
            header["fair_esm_half"] = f"model.half() fails: {str(exc).splitlines()[0]}; float16 autocast used instead"

            class Autocast(torch.nn.Module):
                def __init__(self, model):
                    super().__init__()
                    self.model = model

                def forward(self, *a, **k):
                    with torch.autocast("cuda", dtype=torch.float16):
                        return self.model(*a, **k)

            fair_half, fair_half_name = Autocast(theirs), "fair-esm fp16 autocast"

    def precision_section():
        step = max(1, len(structure_seqs) // n_precision)
        seqs = sorted(structure_seqs, key=len)[::step][:n_precision]
        references = {"contacts fp32": ours.predict_contacts(seqs, max_tokens=4096),
                      "fair-esm fp32": fair_esm_contacts(theirs, alphabet, seqs, device)}
        runs = {f"contacts {name}": ((lambda m: lambda s: m.predict_contacts(s, max_tokens=4096))(model),
                                     "contacts fp32")
                for name, model in reduced.items()}
        if fair_half is not None:
            runs[fair_half_name] = (lambda s: fair_esm_contacts(fair_half, alphabet, s, device), "fair-esm fp32")
        return precision(runs, references, seqs)

    section("precision", precision_section)

    def speed_section():
        impls = {
            "contacts fp32": lambda s: ours.predict_contacts(s, max_tokens=10**9),
            "contacts bf16": lambda s: reduced["bfloat16"].predict_contacts(s, max_tokens=10**9),
            "contacts fp16": lambda s: reduced["float16"].predict_contacts(s, max_tokens=10**9),
            "fair-esm fp32 contacts": lambda s: fair_esm_contacts(theirs, alphabet, s, device),
        }
        if fair_half is not None:
            impls[f"{fair_half_name} contacts"] = lambda s: fair_esm_contacts(fair_half, alphabet, s, device)

        def forward(model):
            def run(s):
                tokens = model._pad(model._encode(s))
                with torch.inference_mode():
                    return model.model(tokens, padded=len({len(x) for x in s}) > 1).logits[0, 0, 0].item()
            return run

        def fair_forward(model):
            convert = alphabet.get_batch_converter()

            def run(s):
                with torch.inference_mode():
                    return model(convert([(str(i), x) for i, x in enumerate(s)])[2].to(device))["logits"][0, 0, 0].item()
            return run

        impls["contacts fp32 forward"] = forward(ours)
        impls["contacts bf16 forward"] = forward(reduced["bfloat16"])
        impls["fair-esm fp32 forward"] = fair_forward(theirs)
        if not cuda:  # the CPU table times the half type CPU users take, bfloat16
            impls.pop("contacts fp16")
        rows = {}
        for case in cases:
            if case == "mixed":
                seqs = random_sequences((64, 100, 150, 200, 256, 300, 400, 512))
                label = "batch of 8, lengths 64-512"
            else:
                seqs = random_sequences((int(case),))
                label = f"L = {case}"
            row = rows.setdefault(label, {})
            for impl, fn in impls.items():
                too_long = max(map(len, seqs)) > cfg.max_residues
                if too_long and ("fair-esm" in impl or "forward" in impl):
                    row[impl] = {"error": f"n/a (> {cfg.max_residues})"}
                    continue
                try:
                    row[impl] = measure(lambda fn=fn, seqs=seqs: fn(seqs), device, args.repeats)
                except torch.OutOfMemoryError:
                    row[impl] = {"error": "out of memory"}
                    torch.cuda.empty_cache()
                print(f"  {label} {impl}: {row[impl]}", flush=True)
        return {"cuda": cuda, "repeats": args.repeats, "impls": list(impls), "cases": rows,
                "weights_mib": sum(p.numel() * p.element_size() for p in ours.model.parameters()) / 2**20}

    section("speed", speed_section)

    def jacobian_section():
        """The categorical Jacobian: seconds and the share outside the forward passes by length and dtype, then
        float16 and bfloat16 against float32 on real sequences (bench/jacobian_bench.py's measures)."""
        sys.path.insert(0, str(REPO / "bench"))
        from jacobian_bench import timed, top_overlap

        lengths = [int(x) for x in (args.jacobian_lengths or ("128,256" if cuda else "12")).split(",")]
        dtypes = {"float32": ours, **({} if not cuda else reduced), "bfloat16": reduced["bfloat16"]}
        speed = []
        for length in lengths:
            seq = random_sequences((length,), seed=1)[0]
            for name, model in dtypes.items():
                model.jacobian_contacts(seq[:8])  # warm-up
                _, record = timed(model, lambda model=model, seq=seq: model.jacobian_contacts(seq))
                speed.append({"L": length, "dtype": name, **record})
                print(f"  jacobian L = {length} {name}: {record['seconds']:.2f} s", flush=True)
        real = sorted((s for s in structure_seqs if len(s) <= max(lengths)), key=len)
        seqs = real[-3:] if real else [s[: max(lengths)] for s in structure_seqs[:1]]
        exact = [ours.jacobian_contacts(s) for s in seqs]
        table = {}
        for name in ("float16", "bfloat16"):
            got = [reduced[name].jacobian_contacts(s) for s in seqs]
            overlaps = [top_overlap(e, g, len(s), 6) for e, g, s in zip(exact, got, seqs)]
            table[name] = {"max_change": max(float(np.abs(g - e).max() / np.abs(e).max()) for e, g in zip(exact, got)),
                           "top_L_overlap_mean": float(np.mean(overlaps)), "top_L_overlap_min": float(np.min(overlaps))}
        return {"speed": speed, "precision": table, "sequences": len(seqs), "lengths": [len(s) for s in seqs]}

    section("jacobian", jacobian_section)

    def throughput_section():
        from contacts.io.fasta import FastaRecord

        records = [FastaRecord(name, "", seq) for name, seq in msa_records[:n_throughput]]
        lengths = [len(r.sequence) for r in records]
        runs = []
        for max_tokens in (4096, 8192, 16384, 32768, 65536):
            folder = workdir / f"predict-{max_tokens}"
            sync(device)
            t0 = time.perf_counter()
            predict_to_dir(ours, records, folder, formats=("npy",), progress=False, max_tokens=max_tokens)
            seconds = time.perf_counter() - t0
            runs.append({"max_tokens": max_tokens, "dtype": "float32", "seconds": seconds,
                         "per_second": len(records) / seconds})
            print(f"  predict --max-tokens {max_tokens}: {len(records) / seconds:.1f} seq/s", flush=True)
        best = max(runs, key=lambda r: r["per_second"])
        for dtype, model in reduced.items():
            sync(device)
            t0 = time.perf_counter()
            predict_to_dir(model, records, workdir / f"predict-{dtype}", formats=("npy",), progress=False,
                           max_tokens=best["max_tokens"])
            seconds = time.perf_counter() - t0
            runs.append({"max_tokens": best["max_tokens"], "dtype": dtype, "seconds": seconds,
                         "per_second": len(records) / seconds})
        result = {"sequences": len(records), "min_length": min(lengths), "max_length": max(lengths),
                  "mean_length": float(np.mean(lengths)), "runs": runs,
                  "best_max_tokens": best["max_tokens"]}
        fasta = workdir / "throughput.fasta"
        fasta.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in records))
        options = ["--device", device.type, "--max-tokens", str(best["max_tokens"])]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")])))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "contacts.cli", "predict", "--model", str(path), *options,
                               str(fasta), "-o", str(workdir / "cli")], capture_output=True, text=True, env=env)
        result["cli"] = {"command": " ".join(["contacts predict --model MODEL.pt", *options, "SEQS.fasta -o OUT/"]),
                         "exit": proc.returncode, "seconds": time.perf_counter() - t0,
                         "stderr_tail": proc.stderr[-300:].strip()}
        return result

    if n_throughput:
        section("throughput", throughput_section)

    def proteome_section():
        from contacts import features
        from contacts.features import FUSED_ENV
        from contacts.io.fasta import FastaRecord
        from contacts.predictor import token_batches

        result = {"device": header["device_name"], "peak_tflops": peak_tflops(header["device_name"]) if cuda else None}
        regression = ours._accumulator()
        layers, used = regression.last_layer, len(regression.layers)  # blocks run, blocks whose maps are read
        # The contact pass against the plain forward pass, fused and not, at L = proteome_length.
        length = args.proteome_length or (1022 if cuda else 64)
        batch_seqs = [r[1] for r in msa_records[: max(n_throughput, 8)]]
        best_tokens = (report.data["sections"].get("throughput") or {}).get("best_max_tokens") or (65536 if cuda else 512)
        first = next(iter(token_batches([len(s) for s in batch_seqs], best_tokens)))
        cases = {f"L = {length}": random_sequences((length,)), f"first batch of {len(first)} at {best_tokens} tokens":
                 [batch_seqs[i] for i in first]}
        passes = {}
        for name in ("bfloat16", "float16"):
            model = reduced[name]
            for case, seqs in cases.items():
                ids = [model.alphabet.ids(model.alphabet.tokenize(s)) for s in seqs]
                tokens = model._pad(ids)
                ragged = len({len(x) for x in ids}) > 1
                row = {"flops": contact_flops(cfg, [len(s) for s in seqs], layers, used)}
                with torch.inference_mode():
                    row["forward"] = measure(lambda m=model, t=tokens, r=ragged: m.model(t, padded=r).logits,
                                             device, args.repeats)
                    probs = {}
                    for fused in (False, True):
                        model.fused_contacts = fused
                        t0 = time.perf_counter()
                        probs[fused] = model._contacts(tokens, ragged=ragged).float().cpu()
                        first_call = time.perf_counter() - t0
                        timing = measure(lambda m=model, t=tokens, r=ragged: m._contacts(t, ragged=r), device,
                                         args.repeats)
                        key = "fused" if fused else "unfused"
                        row[key] = {**timing, "first_call_seconds": first_call,
                                    "ratio_to_forward": timing["seconds"] / row["forward"]["seconds"],
                                    "tflops": row["flops"] / timing["seconds"] / 1e12}
                        if result["peak_tflops"]:
                            row[key]["mfu"] = row[key]["tflops"] / result["peak_tflops"]
                        if fused:  # a compiler that failed falls back, with a warning, to the same numbers unfused
                            row[key]["compiled"] = features._compiled.get("fn") not in (None, features.contact_term)
                    model.fused_contacts = None
                row["fused_vs_unfused_max_abs_diff"] = float((probs[True] - probs[False]).abs().max())
                passes[f"{name} {case}"] = row
                print(f"  {name} {case}: forward {row['forward']['seconds']:.4f} s, unfused "
                      f"{row['unfused']['seconds']:.4f} s, fused {row['fused']['seconds']:.4f} s", flush=True)
        result["passes"] = passes
        # The command against its library, sequences/s, on the throughput's sequences.
        if n_throughput:
            records = [FastaRecord(name, "", seq) for name, seq in msa_records[:n_throughput]]
            fasta, one = workdir / "proteome.fasta", workdir / "proteome-one.fasta"
            fasta.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in records))
            one.write_text(f">{records[0].id}\n{records[0].sequence}\n")
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")])))
            env.pop(FUSED_ENV, None)

            def command(inputs, dtype, extra, out):
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "contacts.cli", "predict", "--model", str(path),
                                       "--device", device.type, "--dtype", dtype, "--max-tokens", str(best_tokens),
                                       "--no-progress", *extra, str(inputs), "-o", str(out)],
                                      capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    raise RuntimeError(f"contacts predict exited {proc.returncode}: {proc.stderr[-300:]}")
                return time.perf_counter() - t0

            runs = []
            for dtype, sets in (("float16", ((".npy + RR", []), (".npy", ["--no-rr"]))),
                                ("bfloat16", ((".npy + RR", []),))):
                model = reduced[dtype]
                sequences = [r.sequence for r in records]
                list(model.iter_contacts(sequences[:8], max_tokens=best_tokens))  # warm-up (compiles the fused pass)
                sync(device)
                t0 = time.perf_counter()
                count = sum(1 for _ in model.iter_contacts(sequences, max_tokens=best_tokens))
                library = count / (time.perf_counter() - t0)
                startup = command(one, dtype, [], workdir / f"proteome-one-{dtype}")
                for label, extra in sets:
                    total = command(fasta, dtype, extra, workdir / f"proteome-{dtype}-{len(extra)}")
                    # A handful of sequences (the CPU fallback) can take less than the start-up's noise.
                    per_second = len(records) / (total - startup) if total > startup else None
                    runs.append({"dtype": dtype, "outputs": label, "library_per_second": library,
                                 "command_seconds": total, "startup_seconds": startup,
                                 "command_per_second": per_second,
                                 "ratio": None if per_second is None else per_second / library})
                    print(f"  predict {dtype} {label}: {per_second or 0:.1f} seq/s against the library's "
                          f"{library:.1f}", flush=True)
            result["command"] = {"sequences": len(records), "max_tokens": best_tokens, "runs": runs}
        return result

    section("proteome", proteome_section)
    header["seconds_total"] = time.perf_counter() - start
    report.write()
    if args.doc:
        write_doc(args.doc, report.data)
    print((out / "device_check.md").read_text())


if __name__ == "__main__":
    main()
