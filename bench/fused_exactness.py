"""The fused contact pass (compiled) against the unfused one, on the CPU, on real sequences (issue 27).

For each model shape and dtype: the largest difference between the fused and the unfused
contact probabilities of the same model, and of each against the unfused float32 pass (what
half precision itself moves). Random weights (``Predictor.random``), the first 16 of the
homologs ``bench/cli_throughput.py`` reads; one torch thread; prints one line per case.

    python bench/fused_exactness.py            # about a minute and a half of compiling, then seconds
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from cli_throughput import homologs  # noqa: E402 (the bench folder is not a package)

import contacts  # noqa: E402
from contacts import features  # noqa: E402


def largest(a, b) -> float:
    return max(float(np.abs(x.astype(np.float64) - y).max()) for x, y in zip(a, b))


def main() -> None:
    torch.set_num_threads(1)
    sequences = [s for _, s in homologs(REPO.parent / "shared" / "msas", 16)]
    for preset in ("small", "narrow_t33"):
        reference = None
        for dtype in ("float32", "float16", "bfloat16", "float64"):
            model = contacts.Predictor.random(preset, seed=0, device="cpu", dtype=dtype)
            model.fused_contacts = False
            unfused = model.predict_contacts(sequences)
            model.fused_contacts = True
            fused = model.predict_contacts(sequences)
            if features._compiled.get("fn") in (None, features.contact_term):
                raise SystemExit("torch.compile failed here: the fused figures would be the uncompiled term's")
            reference = unfused if reference is None else reference
            print(f"{preset} {dtype}: fused vs unfused {largest(fused, unfused):.2e}; against the unfused float32 "
                  f"pass: unfused {largest(unfused, reference):.2e}, fused {largest(fused, reference):.2e}", flush=True)


if __name__ == "__main__":
    main()
