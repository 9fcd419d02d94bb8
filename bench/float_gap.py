"""How far this package's contacts are from fair-esm's, by length, in float32 and in float64.

Both read one release file with random weights in the ESM-1b shape (written by
``tests/reference.py``'s ``write_release``, seed 0) and run the same random sequence
of each length (seed 0, as ``bench/contacts_bench.py``). For each length and dtype:
the largest |difference| of the contact probabilities and of the logits.

- **float32**: fair-esm's ``return_contacts=True`` (all maps, then its contact head; run as
  those two calls, which frees memory and changes no bit: :func:`fair_esm_contacts`)
  against :meth:`contacts.Predictor.predict_contacts` (the streaming sum), as users run them.
- **float64**: both models in float64. fair-esm takes its attention softmax in float32
  whatever the model's dtype; here it runs in float64 (``reference.fair_esm_softmax``),
  and its contact head is applied one layer at a time to the maps its softmax returns
  (fair-esm's own ``symmetrize``, ``apc`` and regression weights; a sum of per-layer
  dot products instead of one over all 660 maps): at L = 1022 its whole-head path in
  float64 would hold some 33 GiB. ``--check-streamed L`` runs both fair-esm paths at
  one length and reports how far apart they are.

If the float64 differences sit at float64's rounding (~1e-16 on probabilities), the
float32 differences are float32's rounding too: the two implementations sum in other
orders, and nothing else differs. Each implementation runs in its own subprocess.

    python bench/float_gap.py --out docs/benchmarks.md --readme README.md
    python bench/float_gap.py --preset small --lengths 64 300       # a quick look

Writes a markdown table (and prints it); with ``--out`` into its section of that file,
with ``--readme`` the one-sentence summary into its section of the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))
from docs_section import write_section  # noqa: E402

AMINO = list("ACDEFGHIKLMNPQRSTVWY")
LENGTHS = (64, 128, 300, 512, 1022)
SECTION = "float-gap"


def sequence(length: int) -> str:
    """The random sequence of this length that ``bench/contacts_bench.py`` uses."""
    return "".join(np.random.default_rng(0).choice(AMINO, length))


# ----------------------------------------------------------------------------- workers


class Saver:
    """``saver["contacts_64"] = array``: written to ``PATH-64.npz`` once both parts of that length are in."""

    def __init__(self, path: Path):
        self.path, self.parts = path, {}

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        part, length = key.rsplit("_", 1)
        self.parts.setdefault(length, {})[part] = value
        if len(self.parts[length]) == 2:
            np.savez(f"{self.path}-{length}.npz", **self.parts.pop(length))


def fair_esm_streamed(model, tokens):
    """fair-esm in its own dtype, softmax included; its contact head applied layer by layer.

    Returns ``(contacts, logits)``; one sequence, no padding (so cutting ``<cls>`` and
    ``<eos>`` is all the head's masking does).
    """
    import torch
    from esm.modules import apc, symmetrize
    from reference import fair_esm_softmax

    heads = model.args.attention_heads
    weight = model.contact_head.regression.weight.view(-1, heads)  # (layers, heads), layer-major
    logit, layer = 0, 0

    def keep(weights):  # (1 * heads, t, t), one layer
        nonlocal logit, layer
        maps = apc(symmetrize(weights[None, :, 1:-1, 1:-1]))
        logit = logit + torch.einsum("bhij,h->bij", maps, weight[layer])
        layer += 1

    # Without head weights fair-esm hands attention to torch's F.multi_head_attention_forward; this
    # keeps it on its own path (the one return_contacts=True takes), which calls the softmax above.
    for block in model.layers:
        block.self_attn.enable_torch_version = False
    with torch.no_grad(), fair_esm_softmax(keep):
        logits = model(tokens)["logits"]
    assert layer == len(model.layers), f"the softmax ran {layer} times for {len(model.layers)} layers"
    contacts = torch.sigmoid(logit + model.contact_head.regression.bias)
    return contacts[0], logits[0]


def fair_esm_contacts(model, tokens):
    """What fair-esm's ``return_contacts=True`` computes, to the bit: its forward with all maps, then its
    contact head on the maps it returned. In two calls, so that the forward's per-layer list of maps is
    gone before the head makes its copies: at L = 1022 in float32 that is 2.6 GiB less at the peak.

    Returns ``(contacts, logits)`` of the first sequence.
    """
    result = model(tokens, need_head_weights=True)
    logits, attentions = result["logits"][0], result.pop("attentions")
    del result
    return model.contact_head(tokens, attentions)[0], logits


def worker(impl: str, ckpt: Path, dtype: str, lengths: list[int], save: Path, threads: int) -> None:
    """Each length's contacts and logits into ``save`` with ``-L.npz`` appended, as soon as they are made.

    Leaves torch's thread count and gradient mode as it found them (tests run it in their process).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            _work(impl, ckpt, dtype, lengths, Saver(save))
    finally:
        torch.set_num_threads(previous)


def _work(impl: str, ckpt: Path, dtype: str, lengths: list[int], out: Saver) -> None:
    import torch

    if impl == "contacts":
        import contacts

        model = contacts.load_model(ckpt, device="cpu", dtype=dtype)
        for length in lengths:
            seq = sequence(length)
            tokens = model._pad(model._encode([seq]))
            out[f"contacts_{length}"] = np.asarray(model.predict_contacts(seq), np.float64)
            out[f"logits_{length}"] = model.model(tokens).logits[0].double().numpy()
    else:
        from reference import load_fair_esm

        model, alphabet = load_fair_esm(ckpt)
        model = model.to(getattr(torch, dtype))
        convert = alphabet.get_batch_converter()
        for length in lengths:
            tokens = convert([("x", sequence(length))])[2]
            if impl == "fair-esm" and dtype == "float32":
                contacts_, logits = fair_esm_contacts(model, tokens)
            elif impl == "fair-esm":
                contacts_, logits = fair_esm_streamed(model, tokens)
            else:  # its own contact head over all maps; softmax in float32 ("-native") or the model's dtype
                from reference import fair_esm_softmax

                with nullcontext() if impl == "fair-esm-native" else fair_esm_softmax():
                    result = model(tokens, return_contacts=True)
                contacts_, logits = result["contacts"][0], result["logits"][0]
            out[f"contacts_{length}"] = contacts_.double().numpy()
            out[f"logits_{length}"] = logits.double().numpy()


# ----------------------------------------------------------------------------- driver


def run_worker(impl, ckpt, dtype, lengths, folder: Path, threads: int) -> dict[str, np.ndarray | str]:
    """The worker's arrays by ``contacts_L`` / ``logits_L``; a length it did not finish maps ``error_L`` to why."""
    save = folder / f"{impl}-{dtype}"
    cmd = [sys.executable, __file__, "--worker", impl, "--ckpt", str(ckpt), "--dtype", dtype,
           "--threads", str(threads), "--save", str(save), "--lengths", *map(str, lengths)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print(f"{impl} {dtype}: {time.perf_counter() - start:.0f} s, exit {proc.returncode}", file=sys.stderr)
    why = "killed (out of memory?)" if proc.returncode in (-9, 137) else f"exit {proc.returncode}"
    if proc.returncode not in (0, -9, 137):
        print(proc.stderr[-3000:], file=sys.stderr)
    out: dict[str, np.ndarray | str] = {}
    for length in lengths:
        path = Path(f"{save}-{length}.npz")
        if path.is_file():
            with np.load(path) as data:
                out.update({f"{part}_{length}": data[part] for part in data.files})
        else:
            out[f"error_{length}"] = why
    return out


def write_checkpoint(preset: str, folder: Path) -> Path:
    """The release file, written in a subprocess so this process never holds the weights."""
    code = ("import sys; from pathlib import Path; from reference import write_release; "
            "from contacts.encoder.config import PRESETS; "
            f"print(write_release(Path(sys.argv[1]), PRESETS[{preset!r}], seed=0))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    made = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env,
                          check=True)
    return Path(made.stdout.strip().splitlines()[-1])


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)))


def compare(ref: dict, ours: dict, length: int) -> dict:
    """Largest |difference| of contacts and logits at one length, or why there is none."""
    errors = [f"{who}: {run[f'error_{length}']}" for who, run in (("fair-esm", ref), ("contacts", ours))
              if f"error_{length}" in run]
    if errors:
        return {"error": "; ".join(errors)}
    return {part: max_diff(ours[f"{part}_{length}"], ref[f"{part}_{length}"]) for part in ("contacts", "logits")}


def measure(ckpt: Path, lengths: list[int], threads: int, folder: Path, check: int | None) -> dict:
    runs = {(impl, dtype): run_worker(impl, ckpt, dtype, lengths, folder, threads)
            for dtype in ("float32", "float64") for impl in ("fair-esm", "contacts")}
    rows = []
    for length in lengths:
        row = {"length": length}
        for dtype in ("float32", "float64"):
            row[dtype] = compare(runs["fair-esm", dtype], runs["contacts", dtype], length)
        rows.append(row)
    result = {"rows": rows}
    if check is not None:
        whole = run_worker("fair-esm-whole", ckpt, "float64", [check], folder, threads)
        streamed = run_worker("fair-esm", ckpt, "float64", [check], folder, threads)
        native = run_worker("fair-esm-native", ckpt, "float64", [check], folder, threads)
        ours = run_worker("contacts", ckpt, "float64", [check], folder, threads)
        result["check"] = {"length": check, "contacts": compare(whole, streamed, check).get("contacts"),
                           "native_softmax": compare(native, ours, check).get("contacts")}
    return result


def render(result: dict, preset: str, command: str) -> tuple[str, str]:
    """The benchmark section and the README's sentence."""
    import torch

    from contacts.encoder.config import PRESETS

    cfg = PRESETS[preset]
    maps_gib = cfg.num_layers * cfg.num_heads * (cfg.max_residues + 2) ** 2 * 8 / 1024**3
    rows = result["rows"]
    lines = [
        "## Contacts against fair-esm's, float32 and float64",
        "",
        "Made by:",
        "",
        f"```\n{command}\n```",
        "",
        f"Random weights in the `{preset}` shape, one random sequence per length; the largest "
        f"|difference| between this package and fair-esm 2.0.0 on the same release file. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}.",
        "",
        "| L | float32: contacts | float32: logits | float64: contacts | float64: logits |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    def cells(result: dict) -> str:
        if "error" in result:
            return f"not measured: {result['error']} | -"
        return f"{result['contacts']:.1e} | {result['logits']:.1e}"

    for r in rows:
        lines.append(f"| {r['length']} | {cells(r['float32'])} | {cells(r['float64'])} |")
    measured = {dtype: [r for r in rows if "error" not in r[dtype]] for dtype in ("float32", "float64")}
    worst32 = max(r["float32"]["contacts"] for r in measured["float32"])
    worst64 = max(r["float64"]["contacts"] for r in measured["float64"])
    lines += [
        "",
        f"In float64 the contacts agree to {worst64:.0e} (float64 keeps 2^29 times finer steps than float32); "
        f"in float32 they differ by up to {worst32:.1e}. The float32 difference is therefore rounding: the two "
        "compute the same functions in other orders and kernels (the streaming contact sum adds one layer at a "
        "time and forms no symmetrized or APC-corrected map; the encoder runs batch-first where fair-esm runs "
        "time-first, and uses torch's GELU where fair-esm writes it out with erf), and nothing else differs. "
        "`tests/conformance/test_float64.py` holds the float64 agreement under 1e-12 on a small model and on "
        "the ESM-1b shape.",
        "",
        "In the float64 runs fair-esm's softmax runs in float64 (fair-esm 2.0.0 takes it in float32 whatever "
        "the model's dtype), and its contact head is applied "
        "one layer at a time to the maps that softmax returns (its own `symmetrize`, `apc` and regression "
        f"weights): its whole-head path holds all {cfg.num_maps} maps several times over, and one copy is "
        f"{maps_gib:.1f} GiB at L = {cfg.max_residues} in float64.",
    ]
    if "check" in result and None not in result["check"].values():
        c = result["check"]
        lines[-1] += (f" At L = {c['length']} (`--check-streamed`) the layer-by-layer head and fair-esm's whole "
                      f"head (both float64) differ by {c['contacts']:.1e}; fair-esm in float64 with its own "
                      f"float32 softmax differs from this package's float64 contacts by {c['native_softmax']:.1e}.")
    by_length = ", ".join(f"{r['float32']['contacts']:.1e} at L = {r['length']}" for r in measured["float32"])
    missing = [str(r["length"]) for r in rows if "error" in r["float32"]]
    if missing:
        by_length += f" (L = {', '.join(missing)} not measured)"
    sentence = (f"On the same weights (random, in the `{preset}` shape), this package's float32 contacts differ "
                f"from fair-esm's by at most {by_length}: float32 rounding, since in float64 the two agree to "
                f"{worst64:.0e} ([benchmarks](docs/benchmarks.md), `bench/float_gap.py`).")
    return "\n".join(lines), sentence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="esm1b_t33_650M_UR50S", help="model shape (contacts.encoder.config)")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--ckpt", type=Path, help="a release file to use instead of writing one")
    parser.add_argument("--check-streamed", type=int, metavar="L",
                        help="also run fair-esm's whole contact head in float64 at this length")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="markdown file to write the table into (its own section)")
    parser.add_argument("--readme", type=Path, help="markdown file to write the summary sentence into")
    parser.add_argument("--json", type=Path, help="also write the measured figures here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.ckpt, args.dtype, args.lengths, args.save, args.threads)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = args.ckpt
        if ckpt is None:
            print(f"writing a random {args.preset} release file ...", file=sys.stderr)
            ckpt = write_checkpoint(args.preset, tmp)
        result = measure(ckpt, args.lengths, args.threads, tmp, args.check_streamed)
    command = "python bench/float_gap.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]))
    section, sentence = render(result, args.preset, command)
    print(section)
    print(sentence)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.out:
        write_section(args.out, SECTION, section)
    if args.readme:
        write_section(args.readme, SECTION, sentence)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
