"""The package's import structure: no import circles, and imports at module top.

Both checks read the source (``ast``), not the running interpreter, so they see every module
of ``optimizer/`` whether or not a test imports it. Imports under ``if TYPE_CHECKING:`` are
for the type checker only and never run, so they form no circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "optimizer"

LAZY_IMPORTS_ALLOWED = ("backends/", "distances/osm.py")
"""Where a function may import: optional solver packages and osmium load only when used."""


def module_name(path: Path) -> str:
    """``optimizer/distances/base.py`` -> ``optimizer.distances.base`` (a package: its name)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at import time: the body, and ``if``/``try`` blocks in it (not
    ``if TYPE_CHECKING:``), never function or class bodies' functions."""
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _module_level(node.body)
                yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _module_level(block)
            for handler in node.handlers:
                yield from _module_level(handler.body)
        elif isinstance(node, ast.ClassDef):
            yield from _module_level(node.body)
        else:
            yield node


def runtime_imports(path: Path, known: set[str]) -> set[str]:
    """The ``optimizer`` modules that importing ``path`` imports (at import time)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # ``from pkg import mod`` imports the module pkg.mod when there is one
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    found.discard(here)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the optimizer modules it imports at import time."""
    paths = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    known = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        graph[name] = runtime_imports(path, known)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle is not None:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle is not None:
                return cycle
    return None


def function_imports(path: Path) -> list[str]:
    """``line: import ...`` for every import statement inside a function body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(set(found), key=lambda s: int(s.split(":")[0]))


def test_the_cycle_finder_finds_a_circle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_sees_imports_at_module_top() -> None:
    graph = import_graph()
    assert "optimizer.distances.base" in graph["optimizer.distances.network"]
    assert "optimizer.deliverables.write" in graph["optimizer.pipeline"]


def test_optimizer_has_no_import_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_no_imports_inside_functions() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if not str(path.relative_to(PACKAGE)).startswith(LAZY_IMPORTS_ALLOWED)
        and (found := function_imports(path))
    }
    assert not offenders, "imports inside functions:\n" + "\n".join(
        f"  optimizer/{name}: {'; '.join(lines)}" for name, lines in offenders.items()
    )


def test_tests_and_benchmarks_import_the_project_at_module_top() -> None:
    # an import of the project inside a function usually hides a circle or a stale path
    root = PACKAGE.parent
    offenders = {
        str(path.relative_to(root)): found
        for folder in ("tests", "benchmarks")
        for path in sorted((root / folder).rglob("*.py"))
        if (found := [f for f in function_imports(path) if " optimizer" in f])
    }
    assert not offenders, "project imports inside functions:\n" + "\n".join(
        f"{name}: {lines}" for name, lines in offenders.items()
    )
