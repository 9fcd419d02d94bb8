"""bench/sse_agreement.py: its table from chains' labels, and a section that bench/make_attention_doc.py keeps."""

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import sse_agreement as bench  # noqa: E402
from docs_section import marked_sections, write_section  # noqa: E402


def chain(name, split, dssp, psea):
    return {"name": name, "chain": "A", "split": split, "residues": len(dssp),
            "dssp": np.array(dssp.split(",")), "psea": np.array(psea.split(","))}


def test_the_table_pools_chains_by_split_and_names_the_lowest():
    chains = [
        chain("a.pdb", "train", "helix,helix,helix,turn,turn", "helix,helix,turn,turn,turn"),   # 4 of 5
        chain("b.pdb", "test", "strand,strand,turn,helix,", "turn,strand,turn,helix,helix"),     # 3 of 4
    ]
    section, summary = bench.render({"chains": chains, "seconds": {"dssp": 2.0, "psea": 0.1}, "load": 1.5},
                                    "python bench/sse_agreement.py")
    assert summary["all"]["residues"] == 9 and summary["all"]["agreement"] == 7 / 9
    assert summary["all"]["lowest_chain"] == "b.pdb" and summary["all"]["lowest"] == 0.75
    assert summary["train"]["agreement"] == 0.8 and summary["test"]["agreement"] == 0.75
    assert "valid" not in summary
    assert "| all | 2 | 9 | 0.778 |" in section and "0.750 (b.pdb) |" in section
    # both disagreements end an element: a's third residue (P-SEA's helix ends before it), b's first
    assert "the two disagree, 100% are the first or last residue" in section
    assert "DSSP 2.0 s, P-SEA 0.1 s" in section and "load 1.5 at the start" in section


def test_a_page_rewritten_around_its_sections_keeps_them(tmp_path):
    page = tmp_path / "attention.md"
    page.write_text("# old text\n")
    write_section(page, "sse-agreement", "## DSSP against P-SEA\n\n| table |")
    kept = marked_sections(page)
    assert kept == ["<!-- begin sse-agreement -->\n## DSSP against P-SEA\n\n| table |\n<!-- end sse-agreement -->"]
    page.write_text("# new text\n" + "".join(f"\n{block}\n" for block in kept))  # what make_attention_doc does
    write_section(page, "sse-agreement", "## DSSP against P-SEA\n\n| new table |")
    text = page.read_text()
    assert text.startswith("# new text\n") and "| new table |" in text and "| table |" not in text
    assert marked_sections(tmp_path / "absent.md") == []
