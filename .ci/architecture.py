"""Count what the layer rules forbid: import cycles among the project's modules, and imports inside
functions other than optional heavy dependencies. Prints the counts; exits 1 if either is not zero.

Run from the repository root: ``python .ci/architecture.py``.
"""

import ast
import sys
from pathlib import Path

import grimp

PACKAGES = ("contacts", "probes")
#: Imported where they are used, never at module level: heavy and optional for most paths
#: (traitlets comes with anywidget, the notebook widget of contacts.viz.explorer).
OPTIONAL_HEAVY = ("py3Dmol", "matplotlib", "ray", "transformers", "anywidget", "traitlets")


def import_cycles() -> list[tuple[str, str]]:
    graph = grimp.build_graph(*PACKAGES)
    own = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    return [(a, b) for a in own for b in graph.find_modules_directly_imported_by(a)
            if b in own and graph.chain_exists(importer=b, imported=a)]


def function_imports(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, module) of every import inside a function or class body."""
    found = []
    for path in sorted(p for package in PACKAGES for p in (root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        names = [a.name for a in inner.names]
                    elif isinstance(inner, ast.ImportFrom):
                        names = ["." * inner.level + (inner.module or "")]
                    else:
                        continue
                    found += [(str(path.relative_to(root)), inner.lineno, name) for name in names]
    return found


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    cycles = import_cycles()
    inner = function_imports(root)
    own = [f for f in inner if f[2].startswith((".", *PACKAGES))]
    other = [f for f in inner if f not in own and not f[2].split(".")[0] in OPTIONAL_HEAVY]
    print(f"import cycles among {', '.join(PACKAGES)}: {len(cycles)}")
    print(f"imports inside functions of the project's own modules: {len(own)}")
    print(f"imports inside functions of other than {', '.join(OPTIONAL_HEAVY)}: {len(other)}")
    for a, b in cycles:
        print(f"  cycle: {a} <-> {b}")
    for path, line, name in own + other:
        print(f"  {path}:{line}: import {name}")
    return 1 if cycles or own or other else 0


if __name__ == "__main__":
    sys.exit(main())
