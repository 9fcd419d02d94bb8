"""Regenerate docs/attention.md and its figures: a worked attention analysis on the shared structures.

Runs what ``contacts analyze-heads`` runs (:func:`probes.head_analysis.analyze_heads`,
:func:`probes.attention_report.write_report`) with a
random-weight model (default ``random:small``: its numbers show the machinery,
not biology) on every structure of ``../shared/structures``, keeps a few figures
in ``docs/attention/`` and writes ``docs/attention.md`` around the numbers.
With ``--bench JSON`` (written by ``bench/attention_bench.py --out``) the
measured cost is quoted too.

Run from the repository root (a few minutes on 2 CPU threads, most of it the contact probes)::

    CONTACTS_SHARED=../shared python bench/make_attention_doc.py --bench out/attention_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from docs_section import marked_sections  # noqa: E402

import contacts  # noqa: E402
from contacts.analysis.annotations import ADDITIVES, DSSP_TO_THREE  # noqa: E402
from probes.attention import MIN_ATTENDED  # noqa: E402
from probes.attention_report import write_report  # noqa: E402
from probes.head_analysis import analyze_heads  # noqa: E402
from probes.proteins import load_proteins  # noqa: E402

KEPT = ("attention_heads_contact.png", "attention_heads_helix.png", "attention_heads_binding_site.png",
        "attention_layers_contact.png", "attention_layers_binding_site.png", "attention_blosum62.png",
        "probing_by_layer.png", "attention_entropy.png")


def fmt(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.3f}"


def table(rows: list[list[str]], header: list[str], align: str) -> list[str]:
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + \
        ["| " + " | ".join(r) + " |" for r in rows]


def load_text(bench: dict) -> str:
    """The load average the bench recorded at its start and end, or that it recorded none (older records)."""
    load = bench.get("load_average")
    if not load:
        return "the record gives no load average"
    return (f"load average {', '.join(f'{x:.1f}' for x in load['start'])} at the start, "
            f"{', '.join(f'{x:.1f}' for x in load['end'])} at the end")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=os.environ.get("CONTACTS_SHARED", REPO.parent / "shared"), type=Path)
    parser.add_argument("--model", default="random:small")
    parser.add_argument("--split", default=None, help="manifest split (default: every structure)")
    parser.add_argument("--contact-layers", default=None, help="e.g. 1,3,6 (default every layer)")
    parser.add_argument("--bench", type=Path, help="JSON from bench/attention_bench.py --out")
    parser.add_argument("--out", default=REPO / "docs", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    structures = args.shared / "structures"
    model = contacts.load_model(args.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proteins = load_proteins(structures, args.split, max_residues=model.config.max_residues)
    depths = None if args.contact_layers is None else [int(x) for x in args.contact_layers.split(",")]
    analysis = analyze_heads(model, proteins, contact_layers=depths)
    result, probing = analysis.properties, analysis.probing
    result.model = args.model
    figures = args.out / "attention"
    figures.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_report(result, tmp, probing=probing)
        for name in KEPT:
            shutil.copy(Path(tmp) / name, figures / name)
        summary = json.loads(paths["summary_json"].read_text())

    layers, heads = result.shape
    n_sites = sum(int(np.nansum(p.residues["binding_site"])) for p in proteins)
    with_sites = sum(1 for p in proteins if np.nansum(p.residues["binding_site"]) > 0)
    props = summary["properties"]
    rows = []
    for name in ("contact", "helix", "strand", "turn", "binding_site"):
        rec = props[name]
        best = rec["top_heads"][0] if rec["top_heads"] else None
        rows.append([f"`{name}`", fmt(rec["background"]), f"{rec['heads_above_background']} / {rec['heads_ranked']}",
                     f"{best['layer']}, {best['head']}" if best else "-",
                     f"{best['proportion']:.3f}" if best else "-"])
    aa_rows = []
    for a in "ACGHPW":
        rec = props[a]
        best = rec["top_heads"][0] if rec["top_heads"] else None
        aa_rows.append([f"`{a}`", fmt(rec["background"]), f"{best['layer']}, {best['head']}" if best else "-",
                        f"{best['proportion']:.3f}" if best else "-"])
    probe_rows = []
    for name, (xs, ys, base) in probing.curves().items():
        ys = np.asarray(ys, dtype=float)
        best = str(int(xs[int(np.nanargmax(ys))])) if np.isfinite(ys).any() else "-"
        probe_rows.append([f"`{name}`", probing.metrics.get(name, ""), fmt(base),
                           ", ".join(f"{int(x)}: {fmt(y)}" for x, y in zip(xs, ys)), best])

    bench_lines = ["Not measured in this run (pass `--bench`)."]
    if args.bench and args.bench.is_file():
        b = json.loads(args.bench.read_text())
        bench_lines = [
            f"`python bench/attention_bench.py --preset {b['preset']} --threads {b['threads']} --out "
            f"{args.bench.resolve().relative_to(REPO) if args.bench.resolve().is_relative_to(REPO) else args.bench}` "
            f"(run once): random weights in the `{b['preset']}` shape on {b['device']} "
            f"({b['threads']} threads{', ' + b['gpu'] if b.get('gpu') else ''}), {b['proteins']} structures "
            f"({b['residues']} residues, longest {b['longest']}), all {b['properties']} properties:",
            "",
            *table([[f"{b['forward_only_s']}", f"{b['analysis_pass_s']}",
                     f"{b['inside_analysis_pass']['forward']}", f"{b['inside_analysis_pass']['analysis']}",
                     f"{b['ratio_internal']}", f"{b['ratio_external']}", f"{b['labels_s']}"]],
                   ["forward only (s)", "analysis pass (s)", "of which forward", "of which sums",
                    "sums / forward", "(pass - forward) / forward", "labels (s)"],
                   ["---:"] * 7),
            "",
            "The issue's bound is 0.5 (sums / forward). The internal ratio compares the two parts of one pass, "
            "layer by layer; the external one compares two passes timed apart, so a change in the machine's "
            f"load between them moves it ({load_text(b)}). Labels (reading the files, P-SEA, binding sites) do "
            "not depend on the model and are counted apart.",
        ]

    shared = "`../shared/structures`" + (f" (split `{args.split}`)" if args.split else "")
    lines = [
        "# What the attention heads attend to (Vig et al. 2021)",
        "",
        "<!-- generated by bench/make_attention_doc.py; edit the script, not this file -->",
        "",
        "`contacts analyze-heads` measures, for every head of the model, what share of its confident "
        "attention falls on residue pairs with a structural or chemical property, against how common "
        "the property is; it also probes each layer's embeddings with a linear classifier. This is the "
        "analysis of Vig et al., *BERTology Meets Biology: Interpreting Attention in Protein Language Models* "
        "(ICLR 2021), done for ESM models from PDB structures, one layer's maps at a time.",
        "",
        "## Definitions and their sources",
        "",
        "For a property f of a pair (query i attends to key j), over all proteins and pairs,",
        "",
        "    p_alpha(f) = sum f(i, j) 1[a_ij > theta] / sum 1[a_ij > theta]          (count-based, `proportion`)",
        "    weighted   = sum f(i, j) a_ij 1[a_ij > theta_w] / sum a_ij 1[a_ij > theta_w]   (`weighted`)",
        "",
        "with theta = 0.3 and theta_w = 0 by default, each head's raw softmax map (not symmetrized), "
        "`<cls>`/`<eos>` rows and columns removed, and pairs whose label is unknown left out of both sums. "
        "The **background** of f is its rate over the same labelled pairs: a head that attends at random "
        "scores it.",
        "",
        *table([
            ["`contact`", "i and j closer than 8 Å (CB, imputed from N, CA, C; the package's `contact_map`) "
             "and \\|i - j\\| >= 6", "Vig et al. 4.1; `ContactMapFeature` (symmetric)"],
            ["`helix`, `strand`, `turn`", "three-state secondary structure of residue j (attention *to*)",
             "Vig et al. 4.2; `SecStructFeature(include_to=True)`"],
            ["`binding_site`", f"residue j has a heavy atom within 4 Å of a non-polymer, non-water entity not in "
             f"the {len(ADDITIVES)}-name additive/ion list (`contacts.analysis.annotations.ADDITIVES`)",
             "Vig et al. 4.3 (BioLiP sites); `BindingSiteFeature`"],
            ["`A` ... `Y`", "residue j is that amino acid", "Vig et al. 4.4; `AminoAcidFeature(include_to=True)`"],
            ["`mean_distance`", "sum a_ij \\|i - j\\| / sum a_ij (all weights)", "Clark et al. 2019"],
            ["`entropy`", "entropy of each residue's full attention row (specials included), mean over residues",
             "Clark et al. 2019"],
        ], ["property", "f(i, j) = 1 when", "source"], ["---", "---", "---"]),
        "",
        "- **Secondary structure.** DSSP, as Vig et al., where `mkdssp` is on the PATH (Debian package `dssp`; "
        "eight states mapped to three as NetSurfP/TAPE's Q3, the labels Vig et al. used: "
        + ", ".join(f"{k if k.strip() else 'blank'}->{v}" for k, v in DSSP_TO_THREE.items())
        + "), otherwise biotite's `annotate_sse` (P-SEA, from CA positions: a->helix, b->strand, c->turn); "
        "`--sse dssp` or `--sse psea` chooses, and the report and the run record name the one used. Both see "
        "the chain alone; DSSP gives no state to a residue without N, CA, C and O. How far the two agree: "
        "[DSSP against P-SEA](#dssp-against-p-sea-on-the-shared-structures), below. "
        f"This run used **{result.sse_method}**. The third state is turn, bend *or* coil, as in Q3; "
        "provis split DSSP's blank off as a fourth state that P-SEA cannot tell apart.",
        "- **Binding sites.** A chain whose model holds no ligand gets unknown labels (a crystal without a "
        "ligand says nothing about binding), so only chains with a ligand count, as in Vig et al.'s BioLiP "
        "set. Metals (ZN, MG, CA, ...) count as ligands; pass `--additives` to change the list.",
        "- **Per layer.** `layer_share[f]` is the share of the model's (weighted) attention to f held by each "
        "layer (sums to 1); `layer_mean[f]` is provis's \"Layer Avg.\" bar, the mean of the layer's heads' p_alpha.",
        "- **Amino acids vs BLOSUM62.** Each amino acid gets the vector of its p_alpha over all heads; "
        "`aa_similarity` is the Pearson correlation between two amino acids' vectors, and "
        "`blosum_correlation` the Pearson correlation of those 190 off-diagonal values with BLOSUM62 "
        "(biotite's `SubstitutionMatrix.std_protein_matrix()`).",
        f"- **Rankings** leave out heads with fewer than {MIN_ATTENDED} confident weights on labelled pairs "
        "(a share of a handful of weights is noise; provis leaves out heads with attention mass under 100); "
        "those heads are grey in the heatmaps.",
        "",
        "What was checked against the reference code (salesforce/provis, `protein_attention/`): "
        "`attention_analysis/compute_edge_features.py` (attention with `<CLS>`/`<SEP>` rows and columns cut, "
        "weights below `--min-attn` zeroed, then feature-weighted sums over heads and their weight totals: "
        "our `weighted` with theta_w = min-attn); `attention_analysis/features.py` (secondary structure, amino "
        "acid and binding site are properties of the attended-to residue; the contact map is symmetric); "
        "`attention_analysis/report_edge_features.py` (per-head share of attention, heads with total under 100 "
        "masked, the per-layer bar as the mean over the layer's heads); "
        "`attention_analysis/report_aa_correlations.py` (Pearson correlations of amino acids' per-head vectors, "
        "diagonal left out, then their Pearson correlation with BLOSUM62 over the lower triangle); "
        "`probing/report.py` (probing scores by layer: F1 per secondary-structure state, precision at L/20 "
        "for binding sites, at L/5 for contacts from the attention of layers up to l). Where we differ: "
        "provis's code computes the weighted version (with min-attn = theta), the paper's formula and our "
        "`proportion` count indicators; our probes report accuracy (secondary structure, binding sites, with F1 "
        "of the binding class) and long-range P@L (contacts), the package's usual numbers, each beside its "
        "majority-class or random baseline.",
        "",
        "**Probing classifiers** (Vig et al. 4.4): for each layer's residue embeddings, a scikit-learn "
        "logistic regression (standardized features, L2) predicts the three secondary-structure states and "
        "binding residues; for contacts, the package's L1 contact probe on the symmetrized, APC-corrected "
        "maps of the heads of layers 1..l. All are cross-validated with folds of whole proteins (`GroupKFold`): "
        "no protein is on both sides of a fold.",
        "",
        "## How to read the figures",
        "",
        "- `attention_heads_<f>.png`: layers (rows, 1 at the bottom) x heads. White is the background rate, "
        "blue above it, red below; the black line on the colour bar marks the background. A head that "
        "specializes in f is a dark blue cell; grey cells have too little confident attention to rank.",
        "- `attention_layers_<f>.png`: the share of all attention to f that each layer holds; the dotted line "
        "is the uniform share. Vig et al. find contacts and binding sites peaking in deep layers, amino-acid "
        "identity in early ones.",
        "- `probing_by_layer.png`: each probe's cross-validated score by layer, its baseline dashed in the same "
        "colour. A curve above its baseline means the layer's embeddings hold the property linearly.",
        "- `attention_blosum62.png`: one point per amino-acid pair: BLOSUM62 score (jittered) against the "
        "similarity of the two amino acids' attention profiles. A rising cloud means heads treat "
        "substitutable residues alike.",
        "- `attention_mean_distance.png`, `attention_entropy.png`: Clark et al.'s summaries per head: how far "
        "a head looks, and how broadly.",
        "",
        f"## A worked run: `{args.model}` on {shared}",
        "",
        f"Random weights: these numbers show what the output looks like, not what ESM learned. "
        f"{len(result.proteins)} chains ({sum(result.lengths)} residues), {layers} layers x {heads} heads; "
        f"{with_sites} chains hold a ligand ({n_sites} binding residues).",
        "",
        "```",
        f"contacts analyze-heads --model {args.model} --structures ../shared/structures --split {args.split or 'all'}"
        + (f" --contact-layers {args.contact_layers}" if args.contact_layers else "") + " -o out/heads",
        "```",
        "",
        *table(rows, ["property", "background", "heads above background / ranked", "best head (layer, head)",
                      "its p_alpha"], ["---", "---:", "---:", "---:", "---:"]),
        "",
        *table(aa_rows, ["amino acid", "background", "best head", "its p_alpha"], ["---", "---:", "---:", "---:"]),
        "",
        "Amino-acid attention similarity vs BLOSUM62: Pearson r = "
        + (f"{result.blosum_correlation:.2g}" if np.isfinite(result.blosum_correlation) else "-")
        + " (random weights: no relation expected; Vig et al. report a positive one for trained models).",
        "",
        *table(probe_rows, ["probe", "metric", "baseline", "layer: score", "best layer"],
               ["---", "---", "---:", "---", "---:"]),
        "",
        "![contact heatmap](attention/attention_heads_contact.png)",
        "![helix heatmap](attention/attention_heads_helix.png)",
        "![binding-site heatmap](attention/attention_heads_binding_site.png)",
        "![contact by layer](attention/attention_layers_contact.png)",
        "![binding sites by layer](attention/attention_layers_binding_site.png)",
        "![probing by layer](attention/probing_by_layer.png)",
        "![BLOSUM62](attention/attention_blosum62.png)",
        "![entropy](attention/attention_entropy.png)",
        "",
        "## With ESM-1b",
        "",
        "```",
        "contacts analyze-heads --model esm1b_t33_650M_UR50S --structures ../shared/structures --split train \\",
        "    -o out/esm1b_heads --contact-layers auto",
        "```",
        "",
        "or from Python:",
        "",
        "```python",
        "import contacts, probes",
        "model = contacts.load_model(\"esm1b_t33_650M_UR50S\")          # or an ESM-2 name / file",
        "analysis = probes.analyze_heads(model, \"../shared/structures\", split=\"train\")  # one pass per protein",
        "analysis.properties.top_heads(\"contact\", 5)                 # layer 1-based, head 0-based",
        "probes.attention_report.write_report(analysis.properties, \"out/esm1b_heads\", probing=analysis.probing)",
        "probes.heads.write_report(analysis.scores, \"out/esm1b_heads\")  # per-head P@L: summary.md",
        "```",
        "",
        "The probes hold every layer's residue embeddings (layers x residues x 1280 float32: about 0.85 GB for "
        "the 20 train structures) and the contact probe's pair features (pairs x heads of the deepest layer "
        "asked for); `--contact-layers auto` fits 8 depths for a 33-layer model. `--no-probing` skips them.",
        "",
        "## Cost",
        "",
        "The model runs once per protein for the properties, the probes and the per-head P@L of `summary.md` "
        "together (`probes.analyze_heads`): each layer's maps go to the three as they are made "
        "(`Predictor.iter_attention`), and nothing quadratic is kept beyond that layer's maps and the protein's "
        "label matrices. The property sums cost two matrix products per layer with those label matrices, on the "
        "model's device.",
        "",
        *bench_lines,
        "",
    ]
    # Sections other scripts write into this page (bench/sse_agreement.py) are kept as they are.
    page = args.out / "attention.md"
    kept = "".join(f"\n{block}\n" for block in marked_sections(page))
    page.write_text("\n".join(lines) + kept)
    print(f"wrote {args.out / 'attention.md'} and {len(KEPT)} figures in {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
