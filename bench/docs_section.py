"""Write a benchmark's table into its own marked section of a markdown file, leaving the rest as it is.

A section lies between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``; a file without that section
gets it appended. So several scripts (the CPU benchmark, the device check on each card) can share
``docs/benchmarks.md``, and rerunning one replaces only its own numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

SECTION = re.compile(r"<!-- begin ([a-z0-9][a-z0-9-]*) -->.*?<!-- end \1 -->", re.S)


def marked_sections(path: str | Path) -> list[str]:
    """The marked sections of a file, whole: for a script that rewrites the rest of it and keeps these."""
    path = Path(path)
    return [m.group(0) for m in SECTION.finditer(path.read_text())] if path.exists() else []


def write_section(path: str | Path, name: str, text: str) -> None:
    path = Path(path)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"section name {name!r} must be lowercase letters, digits and '-'")
    block = f"<!-- begin {name} -->\n{text.strip()}\n<!-- end {name} -->"
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"<!-- begin {name} -->.*?<!-- end {name} -->", re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else f"{old.rstrip()}\n\n{block}\n".lstrip()
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(new)
    tmp.replace(path)
