#!/usr/bin/env bash
# What ships is what runs: build the wheel, install it (not editable) into a fresh environment, and run
# `contacts evaluate` from outside the checkout on a folder without a MANIFEST.tsv, so that the chain and
# split can only come from the manifest packaged inside the wheel.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${CONTACTS_SHARED:-$repo/../shared}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python -m pip wheel -q --no-deps -w "$work/dist" "$repo"
python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q torch==2.13.0
"$work/venv/bin/python" -m pip install -q "$work"/dist/*.whl

mkdir "$work/structures"
cp "$shared/structures/6anz_1_B.pdb" "$work/structures/"
cd "$work"
# the installed package, not the checkout
"$work/venv/bin/python" - <<'PY'
import contacts, contacts.io.manifest as manifest
assert "site-packages" in contacts.__file__, contacts.__file__
assert manifest.PACKAGE_MANIFEST.is_file(), manifest.PACKAGE_MANIFEST
import contacts.io.domains as domains
assert len(domains.read_domains("antibody_domains")) == 12  # --domains antibody_domains, from the wheel
print(f"wheel: {contacts.__file__}; packaged manifest {manifest.PACKAGE_MANIFEST.name} found")
# the explorer's script and style are package data: a page written from the wheel carries them
import numpy as np
from contacts.viz.explorer import explore
page = explore(None, np.random.default_rng(0).random((30, 30)), sequence="M" * 30).to_html()
assert "contactsExplorer" in page and ".cx-tooltip" in page, "explorer.js / explorer.css missing from the wheel"
print("explorer page written from the wheel's explorer.js and explorer.css")
PY
# --split valid selects 6anz_1_B only through the packaged manifest (the folder has none)
"$work/venv/bin/contacts" evaluate --structures "$work/structures" --split valid \
    --msa "$shared/msas" --method mi --output "$work/evaluation"
test -s "$work/evaluation.json"
echo "wheel check passed"
