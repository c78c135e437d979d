#!/usr/bin/env python3
"""Check vocabfree's import graph: no cycles between modules, and the one-way rules of ARCHITECTURE.md.

``python scripts/check_imports.py src`` prints each problem on one line and exits 1 if there is any. Imports
inside functions count too: a lazy import still ties two modules together. Importing a module's own parent
package (``vocabfree.serve.app`` importing ``vocabfree.serve.errors`` loads ``vocabfree.serve``) does not.

Written by hand (about 80 lines over ``ast`` and ``graphlib``) because import linters (import-linter,
pydeps) are not among the packages this project can install.
"""

from __future__ import annotations

import ast
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

# (importer prefix, imported prefix, why): ARCHITECTURE.md's "Never" list.
FORBIDDEN = [
    ("vocabfree.models", "vocabfree.classify", "a backend knows no task"),
    ("vocabfree.models", "vocabfree.caption", "a backend knows no task"),
    ("vocabfree.models", "vocabfree.vqa", "a backend knows no task"),
    ("vocabfree.database", "vocabfree.classify", "a database serves any task"),
    ("vocabfree.database", "vocabfree.caption", "a database serves any task"),
    ("vocabfree.vocabulary", "vocabfree.models", "words are pure text"),
    ("vocabfree.classify", "vocabfree.jobs", "a task works on what it is handed"),
    ("vocabfree.caption", "vocabfree.jobs", "a task works on what it is handed"),
    ("vocabfree.vqa", "vocabfree.jobs", "a task works on what it is handed"),
]
FACES = ("vocabfree.cli", "vocabfree.serve")


def module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name and not name.startswith(t + "."))
    return found


def problems(root: Path) -> list[str]:
    known = module_names(root)
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    found = []
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            for importer, imported, why in FORBIDDEN:
                if (name + ".").startswith(importer + ".") and (target + ".").startswith(imported + "."):
                    found.append(f"{name} imports {target}: {importer} must not import {imported} ({why})")
            if not name.startswith(FACES) and target.startswith(FACES):
                found.append(f"{name} imports {target}: only the CLI and the service may use the faces")
    remaining = dict(graph)
    while True:  # report every cycle, one at a time, by cutting one edge of each found
        try:
            TopologicalSorter(remaining).prepare()
            break
        except CycleError as exc:
            cycle = exc.args[1]
            found.append("import cycle: " + " -> ".join(reversed(cycle)))
            remaining[cycle[1]] = remaining[cycle[1]] - {cycle[0]}
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "src")
    found = problems(root)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
