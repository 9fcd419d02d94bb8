#!/usr/bin/env bash
# Fill the device kit: everything bench/device_check.py needs on a GPU machine that has no network
# and no ../shared. Run here, on a networked machine beside ../shared, from any folder:
#
#     bash bench/device_prepare.sh                       # -> .device_kit/ (git-ignored)
#     bash bench/device_prepare.sh --sequences-only DIR  # only the two FASTA files
#
# The kit holds: this package's wheel; fair-esm 2.0.0 (pure Python, no dependencies needed there);
# lazy_loader (tiny; the GPU image has it, but the kit does not rely on that); structures.fasta (the
# chains of ../shared/structures, for the precision table) and alignments.fasta (300 homologs drawn
# from ../shared/msas with a fixed seed, for the throughput of `contacts predict`), and potts/ (the shared
# structure + alignment pairs, encoded, with their labels: bench/potts_device.py). Everything else
# that importing the package needs on that path (torch, numpy, einops, scikit-learn, scipy, tqdm,
# safetensors, matplotlib) is on the GPU image; biotite and py3Dmol are not imported by the contact
# path (an import-linter contract keeps it so). Then, on the GPU machine:
#
#     python bench/device_check.py          # (--kit .device_kit is the default where the package is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
# The Python that has this package's dependencies: $PYTHON, else the checkout's .venv, else python3.
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
SHARED=${CONTACTS_SHARED:-../shared}

sequences() {
  local out=$1
  mkdir -p "$out"
  "$PYTHON" - "$SHARED" "$out" <<'PY'
import random
import sys
from pathlib import Path

from contacts.io.manifest import read_manifest
from contacts.io.structures import load_structure

shared, out = Path(sys.argv[1]), Path(sys.argv[2])
standard = set("ACDEFGHIKLMNPQRSTVWY")
if not (shared / "structures").is_dir():
    raise SystemExit(f"no structures in {shared}: set CONTACTS_SHARED to the shared data folder")
rows = read_manifest(shared / "structures" / "MANIFEST.tsv"
                     if (shared / "structures" / "MANIFEST.tsv").exists()
                     else next((shared / "structures").glob("MANIFEST*")))
lines = []
for name, row in rows.items():
    structure = load_structure(shared / "structures" / name, chain=row["chain"])
    seq = structure.sequence
    if set(seq) <= standard and 20 <= len(seq) <= 1022:
        lines.append(f">{Path(name).stem}_{row['chain']} split={row['split']}\n{seq}\n")
(out / "structures.fasta").write_text("".join(lines))

homologs = []
for a3m in sorted((shared / "msas").glob("*.a3m")):
    name = None
    for line in a3m.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0] if len(line) > 1 else ""
        elif name is not None:
            seq = line.strip().replace("-", "").replace(".", "").upper()
            if set(seq) <= standard and 30 <= len(seq) <= 1022:
                homologs.append((f"{a3m.stem}_{len(homologs)}", seq))
            name = None
random.Random(0).shuffle(homologs)
(out / "alignments.fasta").write_text("".join(f">{n}\n{s}\n" for n, s in homologs[:300]))
print(f"{out}: {len(lines)} structure chains, {min(300, len(homologs))} homologs", file=sys.stderr)
PY
}

if [ "${1:-}" = "--sequences-only" ]; then
  sequences "${2:?folder}"
  exit 0
fi

KIT=${1:-.device_kit}
rm -rf "$KIT"
mkdir -p "$KIT"
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$KIT" .
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$KIT" fair-esm==2.0.0 lazy_loader==0.4
sequences "$KIT"
"$PYTHON" bench/potts_device.py prepare "$KIT" --shared "$SHARED"  # alignments + labels for the Potts fit
ls -la "$KIT"
du -sh "$KIT"
