"""Regenerate the ConKit-written fixtures beside this script.

Run with a Python that has ConKit (0.13.3 wrote the committed files)::

    python3 -m venv /tmp/conkit-venv
    /tmp/conkit-venv/bin/pip install numpy scipy joblib biopython
    /tmp/conkit-venv/bin/pip install --no-deps conkit
    /tmp/conkit-venv/bin/python tests/io/data/make_conkit_files.py

Files written (the inputs are seeded random numbers, not real predictions):

- ``conkit_one_model.rr``: CASP RR as ``conkit.io.write(..., 'casp')`` writes it:
  header, ``MODEL  1``, the sequence, ``i j lb ub score`` lines, ``ENDMDL``, ``END``.
- ``conkit_two_models.rr``: the same with two MODEL blocks (different pairs),
  several REMARK and METHOD records.
- ``conkit_rescaled.rr``: raw scores above 1, which ConKit's writer rescales to [0, 1].
- ``conkit_ccmpred.mat``: the same map as ``conkit_one_model.rr`` through
  ConKit's CCMpred writer (a tab-separated L x L matrix).
- ``<name>.expected.tsv``: every contact of each file as ConKit reads it back
  (``model i j lb ub score``), which the tests compare :func:`contacts.io.rr.read_rr` with.
"""

from pathlib import Path

import conkit
import conkit.io
import numpy as np
from conkit.core import Contact, ContactFile, ContactMap, Sequence

HERE = Path(__file__).parent
SEQUENCE = "".join(np.random.default_rng(7).choice(list("ACDEFGHIKLMNPQRSTVWY"), 63))


def contact_map(model_id, seed, n_pairs, scale=1.0):
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(len(SEQUENCE), 1)
    take = rng.choice(len(i), n_pairs, replace=False)
    cmap = ContactMap(str(model_id))
    cmap.sequence = Sequence("seq", SEQUENCE)
    for t in take:
        cmap.add(Contact(int(i[t]) + 1, int(j[t]) + 1, float(rng.random() * scale), distance_bound=(0, 8)))
    cmap.sort("raw_score", reverse=True, inplace=True)
    return cmap


def contact_file(maps, remarks=(), methods=()):
    hierarchy = ContactFile("conkit")
    hierarchy.target = "T0999"
    hierarchy.author = "1234-5678-9000"
    hierarchy.remark = list(remarks)
    hierarchy.method = list(methods)
    for cmap in maps:
        hierarchy.add(cmap)
    return hierarchy


def expected(path):
    rows = ["model\ti\tj\tlb\tub\tscore"]
    for cmap in conkit.io.read(str(path), "casp"):
        for c in cmap:
            rows.append(f"{cmap.id}\t{c.res1_seq}\t{c.res2_seq}\t{c.lower_bound}\t{c.upper_bound}\t{c.raw_score!r}")
    path.with_suffix(".expected.tsv").write_text("\n".join(rows) + "\n")


def main():
    files = {
        "conkit_one_model.rr": contact_file([contact_map(1, 1, 40)], remarks=["written by ConKit " + conkit.__version__]),
        "conkit_two_models.rr": contact_file([contact_map(1, 2, 30), contact_map(2, 3, 25)],
                                             remarks=["first", "second"], methods=["random", "scores"]),
        "conkit_rescaled.rr": contact_file([contact_map(1, 4, 20, scale=7.5)]),
    }
    for name, hierarchy in files.items():
        conkit.io.write(str(HERE / name), "casp", hierarchy)
        expected(HERE / name)
    # every pair listed, so the matrix is L x L (ConKit sizes it by the largest index)
    dense = ContactMap("1")
    rng = np.random.default_rng(5)
    for i in range(1, len(SEQUENCE) + 1):
        for j in range(i + 1, len(SEQUENCE) + 1):
            dense.add(Contact(i, j, float(rng.random())))
    conkit.io.write(str(HERE / "conkit_ccmpred.mat"), "ccmpred", dense)
    (HERE / "conkit_ccmpred.sequence").write_text(SEQUENCE + "\n")


if __name__ == "__main__":
    main()
