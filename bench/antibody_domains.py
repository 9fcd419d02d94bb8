"""Find the antibody variable domains among the shared structures and write them as a domain table.

Every protein chain of every structure file is searched for an immunoglobulin variable
domain by its conserved anchors (Kabat positions in brackets, the positions the
masked-recovery test masks):

* heavy (VH): the first Cys near the start (C22), the Trp of ``W[VIFL][RK]Q`` after it
  (W36), the Cys of the last ``[YF][YFH]C`` before the J motif (C92), and the Trp of the J
  motif ``WGxG`` (W103);
* light (VL): the first Cys (C23), the Trp of ``W[YFL][QLR]Q`` (W35), the Cys of
  ``[YF][YFH]C`` (C88), and the Phe of the J motif ``FGxG`` (F98).

A domain runs from the chain's first observed residue to the end of the J region: 10
residues past the J motif's Trp (heavy, ``WGQGTxVTVSS``) or 9 past its Phe (light,
``FGxGTKLEIK``). Author numbering is not used to find anything (some files number
Kabat, others sequentially); the table records the first and last residues in it.

Whole structures are held out (``TEST``), so identical chains of one file (1igy's A/C
and B/D) never straddle the split.

Run: ``python bench/antibody_domains.py`` (writes ``data/antibody_domains.tsv`` and the
package's copy ``contacts/data/antibody_domains.tsv``; ``--check`` only compares).
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

import biotite.structure as struc

from contacts.io.domains import Domain, write_domains
from contacts.io.manifest import structure_files, structure_name
from contacts.io.structures import load_structure, read_atoms

ROOT = Path(__file__).resolve().parents[1]
TABLES = (ROOT / "data" / "antibody_domains.tsv", ROOT / "contacts" / "data" / "antibody_domains.tsv")
#: Structures whose domains are held out for testing (each one Fab).
TEST = ("1ncb", "5TPN")
MOTIFS = {
    "H": {"j": r"WG.G", "w": r"W[VIFL][RK]Q", "tail": 10, "kabat": ("C22", "W36", "C92", "W103")},
    "L": {"j": r"FG.G", "w": r"W[YFL][QLR]Q", "tail": 9, "kabat": ("C23", "W35", "C88", "F98")},
}


def anchors(sequence: str, kind: str) -> list[int] | None:
    """0-based positions of the four conserved anchors of a ``kind`` ('H'/'L') domain, or None."""
    motif = MOTIFS[kind]
    cys1 = sequence.find("C", 15, 30)
    if cys1 < 0:
        return None
    trp = re.compile(motif["w"]).search(sequence, cys1 + 8, cys1 + 26)
    j = re.compile(motif["j"]).search(sequence, 80, 135)
    if trp is None or j is None:
        return None
    cys2 = [m.start() + 2 for m in re.finditer(r"[YF][YFH]C", sequence[: j.start()]) if m.start() > trp.start()]
    if not cys2 or j.start() + motif["tail"] >= len(sequence):
        return None
    return [cys1, trp.start(), cys2[-1], j.start()]


def find_domains(folder: Path) -> list[Domain]:
    domains = []
    for path in structure_files(folder):
        atoms = read_atoms(path)
        chains = list(dict.fromkeys(atoms[struc.filter_amino_acids(atoms)].chain_id.tolist()))
        for chain in chains:
            try:
                structure = load_structure(path, chain=chain)
            except ValueError:
                continue
            seq = structure.sequence
            for kind in ("H", "L"):
                found = anchors(seq, kind)
                if found is None:
                    continue
                end = found[3] + MOTIFS[kind]["tail"]
                label = [f"{r}{c}".strip() for r, c in zip(structure.res_ids, structure.ins_codes)]
                stem = structure_name(path)
                domains.append(Domain(
                    name=f"{stem}_{chain}_V{kind}", file=path.name, chain=chain, first=label[0], last=label[end],
                    split="test" if stem in TEST else "train",
                    extra={"pdb_id": stem.upper(), "kind": kind, "length": str(end + 1),
                           "conserved": ",".join(f"{k}:{p + 1}" for k, p in zip(MOTIFS[kind]["kabat"], found))},
                ))
                break
    return domains


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--structures", type=Path, default=ROOT.parent / "shared" / "structures")
    parser.add_argument("--check", action="store_true", help="compare with the committed tables, write nothing")
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domains = find_domains(args.structures)
    tmp = Path(TABLES[0].parent / ".antibody_domains.check.tsv")
    write_domains(tmp, domains)
    text = tmp.read_text()
    tmp.unlink()
    if args.check:
        stale = [str(t) for t in TABLES if not t.is_file() or t.read_text() != text]
        print(f"{len(domains)} domains; " + (f"stale: {', '.join(stale)}" if stale else "the tables agree"))
        return 1 if stale else 0
    for table in TABLES:
        table.parent.mkdir(parents=True, exist_ok=True)
        write_domains(table, domains)
    print(f"wrote {len(domains)} domains to {', '.join(str(t.relative_to(ROOT)) for t in TABLES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
