"""Issue 26's fuzz-style suite: broken and hostile variants of real files, through every reader and command.

The cases live in ``broken_cases.py`` (one :class:`~broken_cases.Case` each); this module runs
them, checks each outcome (the package's own error naming the file and the rule, the
documented warning, or a byte-order mark read as the file without it), and checks that
``docs/broken-files.md`` shows each case as it ran (``bench/broken_files_table.py`` writes it).
"""

from __future__ import annotations

import os
import re

import pytest
from broken_cases import REPO, SHARED, Case, catalogue, row, run_case

from contacts.io.text import FileFormatError

DOC = REPO / "docs" / "broken-files.md"
CASES = catalogue()
#: What a reader must never let out: Python's own errors from inside a parser.
RAW = (KeyError, IndexError, UnicodeError, AttributeError, TypeError, AssertionError)


def _param(case: Case):
    marks = [pytest.mark.xfail(reason=case.xfail, strict=True, run=not case.hangs)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def doc_rows() -> set[str]:
    return {line for line in DOC.read_text().splitlines() if line.startswith("| `")}


def test_case_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_broken_file(case: Case, tmp_path, doc_rows):
    if not SHARED.is_dir():
        pytest.skip(f"real structures and alignments not found at {SHARED}: set CONTACTS_SHARED")
    if case.needs_user and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 leaves a file readable to root, so 'permission denied' cannot happen")
    folder = tmp_path / "case"
    outcome = run_case(case, folder)
    assert outcome.kind == case.expect, f"{case.id}: {outcome.kind} {outcome.name}: {outcome.message}"
    if case.expect == "error":
        exc = outcome.exc
        assert not isinstance(exc, RAW) or isinstance(exc, FileFormatError), f"{case.id}: raw {exc!r}"
        assert isinstance(exc, case.error or FileFormatError), f"{case.id}: {exc!r}"
        assert "\n" not in str(exc).strip(), f"{case.id}: more than one line: {exc}"
        named = getattr(exc, "filename", None) or str(exc)
        assert str(folder) in str(named), f"{case.id}: the message does not name the file: {exc}"
    elif case.expect == "warning":
        assert len(outcome.warnings) == 1, outcome.warnings
        assert outcome.name == case.error.__name__ and str(folder) in outcome.message
    elif case.expect == "exit 1":
        command = case.door.split()[case.door.split().index("contacts") + 1]
        first, *block = outcome.message.split("\n")
        assert first.startswith(f"contacts {command}: error: "), outcome.message
        if case.block:  # the records' problems under the line (they name the record, not the file)
            assert first.endswith(":") and block and all(line.startswith(" ") for line in block), outcome.message
        else:
            assert not block, f"{case.id}: more than one line: {outcome.message}"
            assert str(folder) in first, f"{case.id}: the line does not name the file: {first}"
    elif case.expect == "accepted":
        good = run_case(Case(case.id, case.door, case.good, case.read), tmp_path / "good")
        assert good.kind == "accepted" and case.same(outcome.value, good.value)
    for output in case.leaves_nothing:
        assert not (folder / output).exists(), f"{case.id}: the refusal left {output} behind"
    for fragment in case.says:
        assert fragment in outcome.message, f"{case.id}: {fragment!r} not in {outcome.message!r}"
    assert row(case, outcome, folder) in doc_rows, f"docs/broken-files.md is stale: rerun bench/broken_files_table.py\n" \
                                                   f"{row(case, outcome, folder)}"


def test_the_doc_lists_every_case_once_and_counts_them():
    text = DOC.read_text()
    listed = re.findall(r"^\| `([^`]+)` \|", text, re.M)
    assert sorted(listed) == sorted(c.id for c in CASES)
    assert f"{len(CASES)} cases" in text
