"""Regenerate the figures of docs/: a contact map, a precision plot and a 3D-viewer screenshot.

All three show the Potts (pseudo-likelihood) baseline of :mod:`contacts.coevolution`
on a real structure + alignment pair of ``../shared`` (default 4bmw_1_A), scored
against that structure: a prediction with real signal, unlike a random-weight model.
The screenshot is the HTML of :func:`contacts.viewer.show_contacts` rendered in
headless Chromium with a local 3Dmol.js (as ``tests/test_browser.py`` does).

Run from the repository root (about 90 s on 2 CPU threads, most of it the Potts fit)::

    CONTACTS_SHARED=../shared python bench/make_figures.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JS = REPO / ".ci" / "node" / "node_modules" / "3dmol" / "build" / "3Dmol-min.js"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=10000",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protein", default="4bmw_1_A", help="a structure + alignment pair of ../shared")
    parser.add_argument("--shared", default=os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"), type=Path)
    parser.add_argument("--out", default=REPO / "docs", type=Path)
    parser.add_argument("--js", default=os.environ.get("CONTACTS_3DMOL_JS", DEFAULT_JS), type=Path,
                        help="local 3Dmol-min.js (npm install --prefix .ci/node 3dmol)")
    parser.add_argument("--chromium", default=os.environ.get("CONTACTS_CHROMIUM") or shutil.which("chromium"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    import contacts
    from contacts.coevolution import potts_contacts, read_alignment
    from contacts.plots import plot_contact_map, plot_precision
    from contacts.viewer import show_contacts

    torch.set_num_threads(args.threads)
    structure = contacts.load_structure(args.shared / "structures" / f"{args.protein}.pdb")
    msa = read_alignment(args.shared / "msas" / f"{args.protein}.a3m")
    if msa[0][1].replace("-", "") != structure.sequence:
        raise SystemExit(f"the alignment's query is not the sequence of {structure!r}")
    labels = contacts.contact_map(structure)
    scores = potts_contacts(msa)
    # Potts scores are not probabilities: scale to [0, 1] for the colormap (the ranking is unchanged)
    shown = (scores - scores.min()) / (scores.max() - scores.min())
    table = contacts.metrics.precision_table(scores, labels)
    caption = (f"{args.protein} (L={len(structure)}): Potts baseline, long-range P@L "
               f"{table['long']['P@L']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)

    fig = plot_contact_map(shown, labels, title=caption, label="Potts score (scaled to 0-1)")
    fig.savefig(args.out / "contact_map.png", dpi=110)
    fig = plot_precision({"Potts": scores}, labels, title=f"{args.protein}: precision of the top-k pairs")
    fig.savefig(args.out / "precision.png", dpi=90)

    if args.chromium is None or not args.js.is_file():
        print(f"no screenshot: chromium={args.chromium}, js={args.js} (see .ci/run)", file=sys.stderr)
    else:
        # raw scores: cylinder width and opacity then span the drawn pairs, weakest to strongest
        view = show_contacts(structure, scores, range="long", js=args.js, width=720, height=540)
        view.zoom(1.6)  # the fit includes a long disordered tail: come closer to the domain
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "view.html"
            view.write_html(str(page))
            subprocess.run(
                [args.chromium, *CHROMIUM_FLAGS, "--window-size=720,540", f"--user-data-dir={tmp}/profile",
                 f"--screenshot={args.out / 'screenshot_viewer.png'}", page.as_uri()],
                check=True, capture_output=True, timeout=180,
            )
        hits = sum(c["pair"][3] == "hit" for c in view.contact_cylinders)
        print(f"screenshot: top-{len(view.contact_cylinders)} long-range pairs, {hits} in contact")
    print(caption)
    for rng, row in table.items():
        print(f"  {rng:>6s}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
