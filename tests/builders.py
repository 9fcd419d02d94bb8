"""Hand-built structures for tests: ideal backbones with chosen torsions, wrapped as a Structure."""

from __future__ import annotations

import numpy as np

from contacts.io.structures import Structure


def _place(a, b, c, bond, angle, torsion):
    """Next atom from three previous ones (natural extension reference frame)."""
    bc = (c - b) / np.linalg.norm(c - b)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.stack([bc, np.cross(n, bc), n], axis=1)
    d = bond * np.array([-np.cos(angle), np.sin(angle) * np.cos(torsion), np.sin(angle) * np.sin(torsion)])
    return c + m @ d


def backbone(n_res: int, phi: float, psi: float) -> np.ndarray:
    """N, CA, C of a chain with constant backbone torsions (degrees), ideal bonds, shape=(n_res, 3, 3)."""
    phi, psi, omega = np.radians([phi, psi, 180.0])
    atoms = [np.array([-0.527, 1.359, 0.0]), np.zeros(3), np.array([1.525, 0.0, 0.0])]  # N-CA-C about 111 degrees
    for _ in range(n_res - 1):
        atoms.append(_place(atoms[-3], atoms[-2], atoms[-1], 1.329, np.radians(116.2), psi))  # N
        atoms.append(_place(atoms[-3], atoms[-2], atoms[-1], 1.458, np.radians(121.7), omega))  # CA
        atoms.append(_place(atoms[-3], atoms[-2], atoms[-1], 1.525, np.radians(111.2), phi))  # C
    return np.array(atoms).reshape(n_res, 3, 3)


def ideal_helix(n_res: int) -> np.ndarray:
    """Backbone of an alpha helix: phi -57, psi -47, shape=(n_res, 3, 3)."""
    return backbone(n_res, -57.0, -47.0)


def chain(coords_nca_c: np.ndarray, sequence: str) -> Structure:
    """A one-chain Structure from N, CA, C coordinates (no CB)."""
    n = len(sequence)
    coords = np.full((n, 4, 3), np.nan, dtype=np.float32)
    coords[:, :3] = coords_nca_c
    return Structure(sequence=sequence, coords=coords, atom_mask=~np.isnan(coords[..., 0]),
                     res_ids=np.arange(1, n + 1), ins_codes=np.array([""] * n), res_names=np.array(["ALA"] * n),
                     chain="A")
