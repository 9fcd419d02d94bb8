"""The numbers the field agrees on, in one place: contact definition, separation bands, batching.

The library, the command line's defaults and the docs all read them from here.
This module imports nothing, so anything may import it.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- contacts (Rao et al. 2021, CASP)

#: Contact distance (Å) between the contact atoms of two residues.
CONTACT_CUTOFF = 8.0
#: Atom whose distance defines a contact: CB (imputed from the backbone, or CA for glycine).
CONTACT_ATOM = "CB"
#: Atoms kept per residue, in this order along axis 1 of ``Structure.coords``.
BACKBONE_ATOMS = ("N", "CA", "C", "CB")

# ----------------------------------------------------------------------------- separation bands

#: Smallest separation ``j - i`` scored: closer pairs are trivially in contact.
MIN_SEPARATION = 6
SHORT = (6, 12)
MEDIUM = (12, 24)
LONG = (24, None)
ALL = (6, None)
#: Separation ranges ``(min, max exclusive or None)``.
RANGES: dict[str, tuple[int, int | None]] = {"short": SHORT, "medium": MEDIUM, "long": LONG, "all": ALL}
#: k as a fraction of L: name -> divisor.
TOP_K: dict[str, int] = {"P@L": 1, "P@L/2": 2, "P@L/5": 5}

# ----------------------------------------------------------------------------- probes and head analysis

#: Inverse L1 strength of the released ESM-1b contact regression (Rao et al. 2021).
RAO_C = 0.15
#: Attention above this counts as confident (Vig et al. 2021).
VIG_THRESHOLD = 0.3

# ----------------------------------------------------------------------------- batching and windows

#: Token budget of one batch: batch size x longest sequence (with <cls> and <eos>).
MAX_TOKENS = 4096
#: A batch closes when the next sequence is shorter than this share of its longest.
MIN_FILL = 0.8
#: Residues one ESM-1b forward pass takes (1024 positions less <cls> and <eos>);
#: the default window for longer sequences is the model's own limit.
ESM1B_MAX_RESIDUES = 1022
#: Default overlap of consecutive windows, as a share of the window.
WINDOW_OVERLAP = 0.5

# ----------------------------------------------------------------------------- resource limits (issue 26)

#: Residues one record may have: a sequence, a structure's chain, a contact map (L x L), an RR file's index.
#: Why this many: the longest known protein, titin, has 35,991 residues (isoform IC), so no real record is
#: refused; and an L x L map at the limit takes 6.4 GB as float32 (12.8 GB as the float64 of evaluation), so
#: a record past it (a 60,000-residue one: 14.4 GB, a stray RR index of 1,000,000: 4 TB) is refused before
#: anything is allocated rather than discovered by the allocator.
MAX_RESIDUES = 40_000


# ----------------------------------------------------------------------------- variant effects (Meier et al. 2021)

#: Zero-shot scores: one masked pass per mutated position, or one pass on the wild type.
VARIANT_METHODS = ("masked_marginal", "wt_marginal")


# ----------------------------------------------------------------------------- categorical Jacobian (Zhang et al. 2024)

#: How a contact map is made: the attention maps through the contact regression (or a probe),
#: or the categorical Jacobian of the masked LM (no regression).
CONTACT_METHODS = ("regression", "jacobian")
#: Centrings of the (i, a, j, b) Jacobian: over all four axes (the paper's), or each 20 x 20 block only.
JACOBIAN_CENTERS = ("iajb", "ab")
#: Host memory the "iajb" centring may hold (every position's responses, 1,600 L^2 bytes in
#: float32) to run each substitution once; beyond it the passes run twice. 2 GiB holds one
#: whole ESM-1b window (L = 1022: 1.67 GB).
JACOBIAN_HOLD_BYTES = 2 * 1024**3


def default_overlap(window: int) -> int:
    """Residues shared by consecutive windows when none is named: ``window // 2``."""
    return int(window * WINDOW_OVERLAP)
