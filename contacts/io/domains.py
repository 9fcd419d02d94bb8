"""Domain tables: which residues of which chain of which structure file (tab-separated, one row per domain).

A domain table names parts of chains where a structure manifest names whole files
(:mod:`contacts.io.manifest`, one row per file): several chains of one file, each
cut to a residue range. The commands that read structures take one with
``--domains TSV`` (``train-probe``, ``analyze-heads``, ``evaluate``).

Columns (extra ones are kept)::

    name     a unique name of the domain (outputs are named by it), e.g. 1ncb_H_VH
    file     the structure file, relative to the structures folder
    chain    author chain id
    first    first residue, author numbering (with an insertion code if any: 82A)
    last     last residue, author numbering, inclusive
    split    train / valid / test (or empty)

The package ships ``antibody_domains`` (``contacts/data/antibody_domains.tsv``,
copied from ``data/antibody_domains.tsv``): the heavy and light variable domains of
the antibody chains of the shared structures.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .files import atomic_write
from .text import FileFormatError, read_table

__all__ = ["DOMAIN_COLUMNS", "PACKAGE_DOMAINS", "Domain", "DomainTableError", "domain_table", "read_domains",
           "write_domains"]

DOMAIN_COLUMNS = ("name", "file", "chain", "first", "last", "split")
#: Domain tables the package ships, by name (package data).
PACKAGE_DOMAINS = {"antibody_domains": Path(str(resources.files("contacts") / "data" / "antibody_domains.tsv"))}


class DomainTableError(FileFormatError):
    """A domain table without the columns or rows it needs."""


@dataclass(frozen=True)
class Domain:
    """One row of a domain table: ``first``..``last`` (author numbering) of ``chain`` in ``file``."""

    name: str
    file: str
    chain: str
    first: str
    last: str
    split: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


def domain_table(source: str | os.PathLike) -> Path:
    """The file of a domain table: a path, or the name of one the package ships (``antibody_domains``)."""
    path = Path(source)
    if path.is_file():
        return path
    if str(source) in PACKAGE_DOMAINS:
        return PACKAGE_DOMAINS[str(source)]
    raise FileNotFoundError(f"domain table {str(source)!r}: no such file, and not one the package ships "
                            f"({', '.join(sorted(PACKAGE_DOMAINS))})")


def read_domains(source: str | os.PathLike, split: str | None = None) -> list[Domain]:
    """The rows of a domain table (a path or a shipped name), in file order; only ``split``'s where given.

    Raises
    ------
    DomainTableError
        A column missing, a name given twice, an empty range, or no row of ``split``.
    """
    path = domain_table(source)
    _, rows = read_table(path, delimiter="\t", required=DOMAIN_COLUMNS, what="domain table", error=DomainTableError)
    if not rows:
        raise DomainTableError(f"domain table {path} has a header but no rows", path=path)
    domains, seen = [], set()
    for number, row in rows:
        if row["name"] in seen:
            raise DomainTableError(f"domain table {path}, line {number}: the name {row['name']!r} is given twice")
        if not row["first"] or not row["last"]:
            raise DomainTableError(f"domain table {path}, line {number}: {row['name']!r} has no residue range")
        seen.add(row["name"])
        domains.append(Domain(row["name"], row["file"], row["chain"], row["first"], row["last"], row["split"] or "",
                              {k: v for k, v in row.items() if k not in DOMAIN_COLUMNS}))
    if split is not None:
        splits = sorted({d.split for d in domains})
        domains = [d for d in domains if d.split == split]
        if not domains:
            raise DomainTableError(f"split {split!r} is not in {path}; it has {splits}")
    return domains


def write_domains(path: str | os.PathLike, domains: Iterable[Domain]) -> Path:
    """Write domains as a table (columns of :data:`DOMAIN_COLUMNS`, then the first row's extras), atomically."""
    domains = list(domains)
    if not domains:
        raise DomainTableError(f"no domains to write to {path}")
    extras = list(domains[0].extra)
    path = Path(path)
    with atomic_write(path, "w") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow([*DOMAIN_COLUMNS, *extras])
        for d in domains:
            if list(d.extra) != extras:
                raise DomainTableError(f"domain {d.name!r} has columns {list(d.extra)}, the first row {extras}")
            values = [d.name, d.file, d.chain, d.first, d.last, d.split, *d.extra.values()]
            if any(ch in str(v) for v in values for ch in "\t\n\r"):
                raise DomainTableError(f"domain {d.name!r}: a value holds a tab or a line break")
            writer.writerow(values)
    return path
