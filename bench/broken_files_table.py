"""Run issue 26's broken-file cases and write their table (case, door, outcome) into docs/broken-files.md.

The cases are ``tests/io/broken_cases.py``'s catalogue, the same the suite runs
(``tests/io/test_broken_files.py``, which also checks that each row here is what it saw).
Each case is built in a fresh temporary folder from the real files of ``../shared``
(``$CONTACTS_SHARED``). Cases that need a user other than root (no read permission) are
shown as skipped when run as root.

    PYTHONPATH=$PWD python bench/broken_files_table.py [--output docs/broken-files.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the checkout first: with tests/ on the path, tests/probes would otherwise be taken for the probes package
sys.path[:0] = [str(REPO), str(REPO / "tests" / "io"), str(REPO / "tests")]

from broken_cases import SHARED, catalogue, row, run_case  # noqa: E402
from docs_section import write_section  # noqa: E402

SECTION = "broken-files-table"


def table() -> str:
    cases = catalogue()
    rows, skipped, hung = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for number, case in enumerate(cases):
            if case.needs_user and os.geteuid() == 0:
                skipped += 1
                rows.append(f"| `{case.id}` | {case.door} | not run here (as root, chmod 000 leaves a file readable) |")
                continue
            if case.hangs:
                hung += 1
                rows.append(f"| `{case.id}` | {case.door} | **not refused yet**, not run here (the work would start): "
                            f"{case.xfail} |")
                continue
            folder = Path(tmp) / f"{number}" / "case"
            rows.append(row(case, run_case(case, folder), folder))
    head = (f"{len(cases)} cases ({len(cases) - skipped - hung} run by this table; {skipped} need a user other than "
            f"root; {hung} not refused yet and not run), "
            "written by `bench/broken_files_table.py` from the suite's catalogue "
            "(`tests/io/broken_cases.py`). Paths are relative to each case's folder.")
    return "\n".join([head, "", "| case | door | outcome |", "|---|---|---|", *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "broken-files.md")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        parser.error(f"the real files are not at {SHARED}: set CONTACTS_SHARED")
    write_section(args.output, SECTION, table())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
