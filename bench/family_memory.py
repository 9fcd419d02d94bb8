"""Peak memory of the contact pass against transformers' ``output_attentions=True`` on the same BERT model.

Two models: AntiBERTy (the ``antiberty`` package's trained weights) at L = 510, and a
ProtBert-shaped BERT (30 layers x 16 heads, hidden 1024; random weights) at L = 1022.
For each, four calls run, each in a fresh process that first loads the model:

* ``transformers``: ``BertForMaskedLM(..., output_attentions=True)``, eager attention
  (every layer's maps are returned, ``layers x heads x t x t`` floats);
* ``transformers plain``: the same forward without attentions;
* ``contacts``: ``Predictor.predict_contacts`` with a regression over every map (no
  layer or head skipped: the worst case);
* ``contacts logits``: ``Predictor.logits`` (the fused forward).

What is measured: after one warm-up call on 32 residues (so that neither side counts
libraries, kernels and thread pools loaded on first use), the peak resident memory of
the process during the call, less its resident memory just before (both from ``/proc/self/status``: ``VmHWM`` is reset
through ``/proc/self/clear_refs`` before the call, after ``malloc_trim`` has returned
freed memory). This sees every allocation torch makes on the CPU, and nothing of the
weights, which are loaded before. The ratio is the contact pass's peak over
transformers' with attentions, the issue's target being <= 0.1; a second ratio
compares what asking for attention costs over each plain forward.

Run: ``python bench/family_memory.py`` (writes the ``family-memory`` section of
``docs/benchmarks.md``; ``--no-doc`` only prints).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
DOC = ROOT / "docs" / "benchmarks.md"
CASES = {"antiberty": 510, "protbert_shape": 1022}
CALLS = ("transformers", "transformers plain", "contacts", "contacts logits")
SEQUENCE = (
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALR"
    "PDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVG"
    "IGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRL"
    "TMLLLQLPHIGQVQAGVWPAACRESAQAVLKAASGL"
)


def status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def worker(case: str, call: str, length: int) -> dict:
    """Load the model, then measure one call's peak extra memory (run in its own process)."""
    import torch  # noqa: PLC0415 (the worker process only)
    import transformers  # noqa: PLC0415

    import contacts  # noqa: PLC0415

    torch.set_num_threads(2)
    sequence = (SEQUENCE * 4)[:length]
    warm = (SEQUENCE * 4)[:32]
    if call.startswith("transformers"):
        # the shape is all that matters here: no weights of ours are built
        cfg = (contacts.encoder.families.read_checkpoint("antiberty").config if case == "antiberty"
               else contacts.encoder.families.PRESETS[case])
        alphabet = cfg.alphabet()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = (contacts.load_model("antiberty", device="cpu") if case == "antiberty"
                    else contacts.Predictor.random(case, device="cpu"))
        cfg, alphabet = ours.config, ours.alphabet
        gen = torch.Generator().manual_seed(0)
        ours.set_regression(torch.randn(1, cfg.num_maps, generator=gen).abs() + 0.01, torch.zeros(1))
    tokens = torch.tensor([alphabet.encode(sequence)])
    if call.startswith("transformers"):
        config = transformers.BertConfig(
            vocab_size=cfg.vocab_size, hidden_size=cfg.embed_dim, num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads, intermediate_size=cfg.ffn_dim, max_position_embeddings=cfg.max_positions,
            layer_norm_eps=cfg.layer_norm_eps, pad_token_id=alphabet.padding_idx)
        config._attn_implementation = "eager"
        with torch.device("meta"):
            reference = transformers.BertForMaskedLM(config)
        # memory does not depend on the values: the weights are left uninitialized (then zeroed)
        reference.to_empty(device="cpu")
        with torch.no_grad():
            for p in reference.parameters():
                p.zero_()
            for name, buffer in reference.named_buffers():  # position ids 0..n-1, token types 0
                buffer.copy_(torch.arange(buffer.shape[-1]).expand_as(buffer) if "position" in name else 0)
        reference.eval()
        attentions = call == "transformers"

        def run(ids=tokens):
            with torch.inference_mode():
                return reference(input_ids=ids, output_attentions=attentions).logits.sum().item()

        run(torch.tensor([alphabet.encode(warm)]))
    elif call == "contacts":
        def run(text=sequence):
            return float(ours.predict_contacts(text).sum())

        run(warm)
    else:
        def run(text=sequence):
            return float(ours.logits(text).sum())

        run(warm)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = status("VmRSS")
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    peak = status("VmHWM")
    return {"case": case, "call": call, "length": length, "extra_bytes": peak - before, "seconds": seconds}


def measure(case: str, call: str, length: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, __file__, "--worker", case, call, str(length)], capture_output=True,
                         text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{case} / {call} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(rows: list[dict], seconds: float) -> str:
    mib = 2**20
    load = os.getloadavg()[0]
    lines = [
        "### Contact pass memory on BERT-family models (bench/family_memory.py)",
        "",
        f"Peak resident memory during one call above the memory before it (weights loaded), each call in a fresh "
        f"process; {platform.machine()}, 2 threads, load average {load:.1f} at the end, {seconds:.0f} s in all. "
        "`contacts` is `predict_contacts` with a regression over every map (each head's map is made and "
        "reduced one at a time); `transformers` is `BertForMaskedLM(output_attentions=True)`, eager.",
        "",
        "| model | L | contacts (MiB) | transformers, output_attentions (MiB) | ratio | contacts less its plain forward "
        "/ transformers' attention cost |",
        "|---|---|---|---|---|---|",
    ]
    for case, length in CASES.items():
        got = {r["call"]: r["extra_bytes"] for r in rows if r["case"] == case}
        ratio = got["contacts"] / got["transformers"]
        cost = (got["contacts"] - got["contacts logits"]) / max(got["transformers"] - got["transformers plain"], 1)
        name = "AntiBERTy (trained)" if case == "antiberty" else "ProtBert-shaped (random, 30 x 16, 1024 wide)"
        lines.append(f"| {name} | {length} | {got['contacts'] / mib:.0f} | {got['transformers'] / mib:.0f} | "
                     f"{ratio:.3f}x | {cost:.3f}x |")
    lines += ["", "Plain forwards (no maps): " + "; ".join(
        f"{r['case']} {r['call']} {r['extra_bytes'] / mib:.0f} MiB" for r in rows if r["call"].endswith(("plain", "logits")))
        + "."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "CALL", "LENGTH"), help=argparse.SUPPRESS)
    parser.add_argument("--no-doc", action="store_true", help="print the table, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    if args.worker:
        case, call, length = args.worker
        print(json.dumps(worker(case, call, int(length))))
        return 0
    start = time.perf_counter()
    rows = [measure(case, call, length) for case, length in CASES.items() for call in CALLS]
    text = render(rows, time.perf_counter() - start)
    print(text)
    if not args.no_doc:
        from docs_section import write_section  # noqa: PLC0415 (a sibling script)

        write_section(DOC, "family-memory", text)
        print(f"wrote the family-memory section of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
